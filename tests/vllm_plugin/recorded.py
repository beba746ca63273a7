"""Recorded turns of the tiny LLM for the processor's tests, made once per test session (``replay.py`` is shared
with vLLM's environment). Not a conftest.py: ``tests/serve`` imports its own ``conftest`` by that name."""

from __future__ import annotations

import functools
from pathlib import Path

from replay import Case


@functools.lru_cache(maxsize=1)
def recorded_turns(tiny_models: Path) -> tuple[Case, ...]:
    """Every span type's turn on the tiny LLM, with the logits each id was chosen from."""
    from anygpt_desktop.engine.assistant import Assistant
    from anygpt_desktop.protocol.prompts import Conversation, interleaved_user_message
    from replay import record_cases

    assistant = Assistant(tiny_models, device="cpu")
    assistant.load()
    llm = assistant.llm
    prompt = llm.tokenizer.encode(Conversation().render(interleaved_user_message("play me something")))
    return tuple(record_cases(llm, prompt))
