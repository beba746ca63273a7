"""The real ``Assistant`` with test hooks chosen by markers in the request text, built inside the engine process.

``[hold]``: after the first streamed event, wait until the turn is cancelled (the engine is busy mid-turn), then go on
(the real assistant then stops between tokens). ``[deaf]``: after the first streamed event, ignore Stop (an engine
stuck in native code). ``[raise]``: a bug after the first streamed event. ``[segfault]``: the process crashes.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Iterator

from anygpt_desktop.engine.assistant import Assistant
from anygpt_desktop.engine.events import Event, SpeechChunk, TextDelta, TranscriptDelta
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.cancel import TaskState

HOLD_LIMIT_S = 600.0
DOUBLES = "engine_doubles:build"  # tests/engine_process is on sys.path, which the spawned engine inherits


def tiny_settings(out: Path):  # type: ignore[no-untyped-def]
    """Short replies on the tiny kit."""
    from anygpt_desktop.engine.assistant import AssistantSettings
    from anygpt_desktop.engine.decode_loop import DecodeSettings

    return AssistantSettings(seed=0, device="cpu", output_dir=out,
                             decode=DecodeSettings(max_text_tokens=12, max_speech_units=60, max_music_units=40))


class ScriptedAssistant(Assistant):
    def turn(self, request: TurnRequest, state: TaskState | None = None, forced_ids=None) -> Iterator[Event]:  # type: ignore[override]
        state = state or TaskState()
        text = request.text
        if "[segfault]" in text:
            os.kill(os.getpid(), signal.SIGSEGV)
        armed = any(m in text for m in ("[hold]", "[deaf]", "[raise]"))
        for event in super().turn(request, state, forced_ids):
            yield event
            if armed and isinstance(event, (TextDelta, TranscriptDelta, SpeechChunk)):
                armed = False
                if "[raise]" in text:
                    raise RuntimeError("a bug in the engine")
                if "[deaf]" in text:
                    threading.Event().wait(HOLD_LIMIT_S)
                else:
                    waited = 0.0
                    while not state.cancelled() and waited < HOLD_LIMIT_S:
                        threading.Event().wait(0.01)
                        waited += 0.01


def build(models_dir: str, device: str | None) -> ScriptedAssistant:
    return ScriptedAssistant(Path(models_dir), device=device)
