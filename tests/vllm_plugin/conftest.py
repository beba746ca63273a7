"""Recorded turns of the tiny LLM for the processor's tests (``replay.py`` is shared with vLLM's environment)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def recorded_cases(tiny_models: Path):  # type: ignore[no-untyped-def]
    """Every span type's turn on the tiny LLM, with the logits each id was chosen from."""
    from anygpt_desktop.engine.assistant import Assistant
    from anygpt_desktop.protocol.prompts import Conversation, interleaved_user_message
    from replay import record_cases

    assistant = Assistant(tiny_models, device="cpu")
    assistant.load()
    llm = assistant.llm
    prompt = llm.tokenizer.encode(Conversation().render(interleaved_user_message("play me something")))
    return record_cases(llm, prompt)
