"""A stand-in for ``anygpt_desktop.engine.assistant.Assistant`` with exactly its interface, for GUI tests and demos.

It yields every event kind quickly and deterministically: a transcript when there is speech input, the reply text
word by word, speech chunks (16 kHz float32 sine), an image (PNG) when asked to draw, music (WAV) when asked for music,
then ``TurnDone``. ``delay_s`` sleeps between events (a slow model); cancellation is honoured between events.
``hold`` (a ``threading.Event``) parks the turn after ``hold_after`` reply words until the test sets it, so a test can act
"while the turn runs" without depending on the machine's speed; ``notice`` is posted in every turn (like the engine's
notice for an unusable default voice).
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
from PIL import Image

from anygpt_desktop.engine.events import (
    Event,
    ImageReady,
    MusicReady,
    Notice,
    SpeechChunk,
    TextDelta,
    TranscriptDelta,
    TurnDone,
    TurnFailed,
)
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.cancel import TaskState


class FakeLoadError(Exception):
    pass


class FakeAssistant:
    """Same constructor and methods as the real Assistant; tunable through class attributes or keyword arguments."""

    def __init__(
        self,
        models_dir: Path,
        device: str | None = None,
        *,
        delay_s: float = 0.0,
        speech_chunks: int = 3,
        fail_load: str | None = None,
        out_dir: Path | None = None,
        mark_final: bool = True,
        hold: threading.Event | None = None,
        hold_after: int = 1,
        notice: str | None = None,
        fail_turn: str | None = None,
        engine_lost: bool = False,
    ) -> None:
        self.fail_turn = fail_turn  # every turn fails with this reason after its first word
        self.engine_lost = engine_lost  # ... as an engine that died would (the window then offers a restart)
        self.hold = hold
        self.hold_after = hold_after
        self.notice = notice
        self.models_dir = Path(models_dir)
        self.device = device or "cpu"
        self.delay_s = delay_s
        self.speech_chunks = speech_chunks
        self.mark_final = mark_final  # the real engine never sets SpeechChunk.final
        self.fail_load = fail_load
        self.out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="anygpt-fake-"))
        self.loaded = False
        self.settings: object = None  # the app hands its AssistantSettings here, like the real Assistant's
        self.requests: list[TurnRequest] = []
        self._history: list[dict[str, str]] = []
        self._count = 0

    def load(self, state: TaskState) -> None:
        for i in range(5):
            state.check()
            state.progress((i + 1) / 5, f"loading part {i + 1} of 5")
            time.sleep(self.delay_s)
        if self.fail_load:
            raise FakeLoadError(self.fail_load)
        self.loaded = True

    def _wait(self, state: TaskState) -> bool:
        if self.delay_s:
            time.sleep(self.delay_s)
        return state.cancelled()

    def turn(self, request: TurnRequest, state: TaskState) -> Iterator[Event]:
        if not self.loaded:
            raise RuntimeError("load() first")
        self.requests.append(request)
        self._count += 1
        start = time.perf_counter()
        transcript = ""
        reply = ""
        if request.speech is not None or request.speech_files:
            for word in ("hello", " there"):
                if self._wait(state):
                    yield TurnFailed("Stopped.", cancelled=True)
                    return
                transcript += word
                yield TranscriptDelta(word)
        said = request.text.strip() or transcript
        if self.notice:
            yield Notice(self.notice)
        words = f"You said: {said}".split(" ")
        for i, word in enumerate(words):
            if self._wait(state):
                yield TurnFailed("Stopped.", cancelled=True)
                return
            piece = word if i == 0 else " " + word
            reply += piece
            yield TextDelta(piece)
            if self.fail_turn:
                yield TurnFailed(self.fail_turn, engine_lost=self.engine_lost)
                return
            if i + 1 == self.hold_after and self.hold is not None and not self.hold.wait(60):
                raise RuntimeError("the test never released the held turn")
        want = request.output_modality
        lowered = said.lower()
        if want == "speech" or (want is None and (request.speech is not None or "say" in lowered)):
            t = np.arange(1600, dtype=np.float32) / 16000
            for i in range(self.speech_chunks):
                if self._wait(state):
                    yield TurnFailed("Stopped.", cancelled=True)
                    return
                yield SpeechChunk((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000, i, self.mark_final and i == self.speech_chunks - 1)
        if want == "image" or "draw" in lowered:
            if self._wait(state):
                yield TurnFailed("Stopped.", cancelled=True)
                return
            path = self.out_dir / f"image_{self._count}.png"
            Image.new("RGB", (64, 48), (30, 120, 200)).save(path)
            yield ImageReady(path, 64, 48)
        if want == "music" or "music" in lowered:
            if self._wait(state):
                yield TurnFailed("Stopped.", cancelled=True)
                return
            path = self.out_dir / f"music_{self._count}.wav"
            sr = 32000
            t = np.arange(sr // 2, dtype=np.float32) / sr
            sf.write(path, (0.1 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), sr)
            yield MusicReady(path, sr, 0.5)
        total = time.perf_counter() - start
        self._history.append({"user": said, "assistant": reply})
        yield TurnDone(reply, transcript, {"total": total, "llm": total / 2, "tokens_per_s": 42.0}, {"tokens": len(words)})

    def clear(self) -> None:
        self._history.clear()

    def history_json(self) -> dict:
        return {"fake": True, "turns": list(self._history)}

    def restore(self, data: dict) -> None:
        self._history = list(data.get("turns", []))
