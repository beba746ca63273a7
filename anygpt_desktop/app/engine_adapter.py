"""The Qt glue under the chat session: runs its :class:`~anygpt_desktop.session.engine_port.EnginePort` on the engine
worker thread (:class:`~anygpt_desktop.app.worker.EngineClient`) and hands every update to the session in the GUI thread.

Each worker signal is connected to a slot of this object, which lives in the GUI thread, so Qt queues the call there
(a lambda would run in the worker thread).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Slot

from anygpt_desktop.app.worker import AssistantFactory, EngineClient, EngineWorker
from anygpt_desktop.engine.events import Event, ImageReady, MusicReady, Notice, SpeechChunk, SpeechReady, TextDelta
from anygpt_desktop.engine.events import TranscriptDelta, TurnDone, TurnFailed
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.session import engine_port as up


class QtEngine(QObject):
    """An ``EnginePort`` over the worker thread; construct it in the GUI thread."""

    def __init__(self, factory: AssistantFactory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = EngineClient(factory, self)
        self._listener: Callable[[up.EngineUpdate], None] = lambda _u: None
        self._lost_turns: set[int] = set()  # turns whose failure (still to come) is a lost engine
        w = self.worker
        w.sig_model_progress.connect(self._on_progress)
        w.sig_model_device.connect(self._on_device)
        w.sig_model_loaded.connect(self._on_loaded)
        w.sig_model_failed.connect(self._on_load_failed)
        w.sig_turn_started.connect(self._on_turn_started)
        w.sig_transcript_updated.connect(self._on_transcript)
        w.sig_text_updated.connect(self._on_text)
        w.sig_speech_chunk_ready.connect(self._on_speech_chunk)
        w.sig_speech_saved.connect(self._on_speech_saved)
        w.sig_image_ready.connect(self._on_image)
        w.sig_music_ready.connect(self._on_music)
        w.sig_notice_posted.connect(self._on_notice)
        w.sig_turn_finished.connect(self._on_turn_finished)
        w.sig_engine_lost.connect(self._on_engine_lost)
        w.sig_turn_failed.connect(self._on_turn_failed)
        w.sig_history_saved.connect(self._on_history_saved)
        w.sig_history_restored.connect(self._on_history_restored)

    @property
    def worker(self) -> EngineWorker:
        return self.client.worker

    # -- EnginePort ------------------------------------------------------------------------------------------------

    def set_listener(self, listener: Callable[[up.EngineUpdate], None]) -> None:
        self._listener = listener

    def configure(self, values: dict[str, Any]) -> None:
        self.client.configure(values)

    def load(self) -> None:
        self.client.load()

    def cancel_load(self) -> None:
        self.client.cancel_load()

    def submit(self, request: TurnRequest) -> int:
        return self.client.submit(request)

    def cancel(self) -> None:
        self.client.cancel()

    def clear(self) -> None:
        self.client.clear()

    def restore(self, data: dict[str, Any] | None) -> None:
        self.client.restore(data)

    def shutdown(self) -> None:
        self.client.shutdown()

    @property
    def busy(self) -> bool:
        return self.client.busy

    # -- worker signals, delivered in the GUI thread ---------------------------------------------------------------

    def _turn(self, tid: int, event: Event) -> None:
        self._listener(up.TurnEvent(tid, event))

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        self._listener(up.LoadProgress(fraction, message))

    @Slot(str, str)
    def _on_device(self, device: str, dtype: str) -> None:
        self._listener(up.DeviceKnown(device, dtype))

    @Slot(float)
    def _on_loaded(self, seconds: float) -> None:
        self._listener(up.Loaded(seconds))

    @Slot(str, bool)
    def _on_load_failed(self, reason: str, cancelled: bool) -> None:
        self._listener(up.LoadFailed(reason, cancelled))

    @Slot(int)
    def _on_turn_started(self, tid: int) -> None:
        self._listener(up.TurnStarted(tid))

    @Slot(int, str)
    def _on_transcript(self, tid: int, delta: str) -> None:
        self._turn(tid, TranscriptDelta(delta))

    @Slot(int, str)
    def _on_text(self, tid: int, delta: str) -> None:
        self._turn(tid, TextDelta(delta))

    @Slot(int, object, int, bool)
    def _on_speech_chunk(self, tid: int, audio: Any, sample_rate: int, final: bool) -> None:
        self._turn(tid, SpeechChunk(audio, sample_rate, 0, final))

    @Slot(int, str, float)
    def _on_speech_saved(self, tid: int, path: str, seconds: float) -> None:
        self._turn(tid, SpeechReady(Path(path), 0, seconds))

    @Slot(int, str, int, int)
    def _on_image(self, tid: int, path: str, width: int, height: int) -> None:
        self._turn(tid, ImageReady(Path(path), width, height))

    @Slot(int, str, float)
    def _on_music(self, tid: int, path: str, seconds: float) -> None:
        self._turn(tid, MusicReady(Path(path), 0, seconds))

    @Slot(int, str)
    def _on_notice(self, tid: int, message: str) -> None:
        self._turn(tid, Notice(message))

    @Slot(int, object)
    def _on_turn_finished(self, tid: int, done: TurnDone) -> None:
        self._turn(tid, done)

    @Slot(int)
    def _on_engine_lost(self, tid: int) -> None:
        self._lost_turns.add(tid)

    @Slot(int, str, bool)
    def _on_turn_failed(self, tid: int, reason: str, cancelled: bool) -> None:
        lost = tid in self._lost_turns
        self._lost_turns.discard(tid)
        self._turn(tid, TurnFailed(reason, cancelled, engine_lost=lost))

    @Slot(int, object)
    def _on_history_saved(self, tid: int, data: object) -> None:
        if isinstance(data, dict):
            self._listener(up.HistorySnapshot(tid, data))

    @Slot(bool, str)
    def _on_history_restored(self, ok: bool, message: str) -> None:
        self._listener(up.HistoryRestored(ok, message))
