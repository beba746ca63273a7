"""The one long-lived worker thread that owns the Assistant; the GUI talks to it only through queued signals.

``EngineWorker`` (a QObject living in its own QThread) runs jobs one after another in that thread: load, turn, clear,
restore. The GUI calls :class:`EngineClient` methods, which never block: they post a job and return. Engine events come
back as ``sig_<thing>_<happened>`` signals (delivered in the GUI thread), each carrying the turn id so a view can
ignore stale events. ``EngineClient.cancel()`` sets the ``TaskState`` of the running turn (and of queued ones) from the
GUI thread; the engine polls it between steps.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Protocol

from PySide6.QtCore import QObject, QThread, Signal, Slot

from anygpt_desktop.engine.events import (
    Event,
    ImageReady,
    MusicReady,
    Notice,
    SpeechChunk,
    SpeechReady,
    TextDelta,
    TranscriptDelta,
    TurnDone,
    TurnFailed,
)
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.cancel import Cancelled, TaskState

if TYPE_CHECKING:
    from anygpt_desktop.engine.assistant import AssistantSettings

logger = logging.getLogger(__name__)


class AssistantLike(Protocol):
    """What the app needs from ``anygpt_desktop.engine.assistant.Assistant``."""

    settings: AssistantSettings | None  # read by load (device, precision) and by every turn (the rest)

    def load(self, state: TaskState) -> None: ...
    def turn(self, request: TurnRequest, state: TaskState) -> Iterator[Event]: ...
    def clear(self) -> None: ...
    def history_json(self) -> dict: ...
    def restore(self, data: dict) -> None: ...


AssistantFactory = Callable[[], AssistantLike]
"""Called in the worker thread to build the assistant (so construction cost never lands on the GUI thread)."""


JobKind = Literal["load", "turn", "clear", "restore", "configure"]


@dataclass
class _Job:
    kind: JobKind
    turn_id: int = 0
    request: TurnRequest | None = None
    state: TaskState | None = None
    data: dict | None = None


class EngineWorker(QObject):
    """Lives in the worker thread; every slot runs there."""

    sig_model_progress = Signal(float, str)
    sig_model_loaded = Signal(float)  # seconds it took
    sig_model_device = Signal(str, str)  # device ("cuda:0", "cpu"), dtype ("bfloat16"), after loading
    sig_model_failed = Signal(str, bool)  # reason, cancelled
    sig_turn_started = Signal(int)
    sig_transcript_updated = Signal(int, str)  # turn id, delta
    sig_text_updated = Signal(int, str)
    sig_speech_chunk_ready = Signal(int, object, int, bool)  # turn id, float32 audio, sample rate, final
    sig_speech_saved = Signal(int, str, float)  # turn id, path, seconds
    sig_image_ready = Signal(int, str, int, int)  # turn id, path, width, height
    sig_music_ready = Signal(int, str, float)  # turn id, path, seconds
    sig_notice_posted = Signal(int, str)
    sig_turn_finished = Signal(int, object)  # turn id, TurnDone
    sig_turn_failed = Signal(int, str, bool)  # turn id, reason, cancelled
    sig_engine_lost = Signal(int)  # turn id: its failure (next) came from a dead engine or a broken connection
    sig_history_saved = Signal(int, object)  # turn id, Assistant.history_json() after the turn
    sig_history_restored = Signal(bool, str)  # ok, message

    def __init__(self, factory: AssistantFactory) -> None:
        super().__init__()
        self._factory = factory
        self.assistant: AssistantLike | None = None
        self.settings: AssistantSettings | None = None  # given to every assistant (None: its own defaults)

    @Slot(object)
    def run_job(self, job: _Job) -> None:
        try:
            if job.kind == "load":
                self._load(job.state or TaskState())
            elif job.kind == "turn":
                self._turn(job)
            elif job.kind == "clear":
                if self.assistant is not None:
                    self.assistant.clear()
            elif job.kind == "restore":
                self._restore(job.data or {})
            elif job.kind == "configure":
                self._configure(job.data)
        except Exception:  # a bug must never kill the worker thread
            logger.exception("worker job %s failed", job.kind)

    def _load(self, state: TaskState) -> None:
        start = time.perf_counter()
        self._end_assistant()  # a reload frees the old models (and ends the old engine process) before loading anew
        try:
            state.check()
            assistant = self._factory()
            if self.settings is not None:
                assistant.settings = self.settings
            assistant.load(state)
        except Cancelled:
            self.sig_model_failed.emit("Loading was cancelled.", True)
            return
        except Exception as exc:
            logger.debug("load failed:\n%s", traceback.format_exc())
            self.sig_model_failed.emit(_reason(exc), False)
            return
        self.assistant = assistant
        llm = getattr(assistant, "llm", None)
        device, dtype = getattr(llm, "device", "cpu"), getattr(llm, "dtype", "")
        self.sig_model_device.emit(str(device), str(dtype).replace("torch.", ""))  # before "ready": never a stale label
        self.sig_model_loaded.emit(time.perf_counter() - start)

    def _end_assistant(self) -> None:
        old, self.assistant = self.assistant, None
        end = getattr(old, "shutdown", None)
        if callable(end):
            try:
                end()
            except Exception:
                logger.exception("ending the previous engine failed")

    def _configure(self, values: dict[str, Any] | None) -> None:
        """New settings (``AppSettings.values()``), made into the engine's ``AssistantSettings`` here (that import
        pulls in torch, which must not delay the window). Decoding, voice and output folder apply from the next turn;
        device and precision are read by ``load``, so they apply after a reload."""
        from anygpt_desktop.app.settings import assistant_settings

        settings = assistant_settings(values) if values is not None else None
        self.settings = settings
        if self.assistant is not None and settings is not None:
            self.assistant.settings = settings

    def _turn(self, job: _Job) -> None:
        state = job.state or TaskState()
        tid = job.turn_id
        if self.assistant is None:
            self.sig_turn_failed.emit(tid, "The models are not loaded yet.", False)
            return
        if state.cancelled():
            self.sig_turn_failed.emit(tid, "Stopped before it started.", True)
            return
        self.sig_turn_started.emit(tid)
        ended = False
        try:
            assert job.request is not None
            for event in self.assistant.turn(job.request, state):
                ended = self._emit(tid, event) or ended
                if ended:
                    break
        except Cancelled:
            self.sig_turn_failed.emit(tid, "Stopped.", True)
            ended = True
        except Exception as exc:
            logger.debug("turn failed:\n%s", traceback.format_exc())
            self.sig_turn_failed.emit(tid, _reason(exc), False)
            ended = True
        if not ended:
            cancelled = state.cancelled()
            self.sig_turn_failed.emit(tid, "Stopped." if cancelled else "The reply ended unexpectedly.", cancelled)
        try:
            self.sig_history_saved.emit(tid, self.assistant.history_json())
        except Exception:
            logger.exception("history_json failed")

    def _emit(self, tid: int, event: Event) -> bool:
        """Forward one event as a signal; True when it ends the turn."""
        if isinstance(event, TextDelta):
            self.sig_text_updated.emit(tid, event.text)
        elif isinstance(event, TranscriptDelta):
            self.sig_transcript_updated.emit(tid, event.text)
        elif isinstance(event, SpeechChunk):
            self.sig_speech_chunk_ready.emit(tid, event.audio, event.sample_rate, event.final)
        elif isinstance(event, SpeechReady):
            self.sig_speech_saved.emit(tid, str(event.path), event.seconds)
        elif isinstance(event, ImageReady):
            self.sig_image_ready.emit(tid, str(event.path), event.width, event.height)
        elif isinstance(event, MusicReady):
            self.sig_music_ready.emit(tid, str(event.path), event.seconds)
        elif isinstance(event, Notice):
            self.sig_notice_posted.emit(tid, event.message)
        elif isinstance(event, TurnDone):
            self.sig_turn_finished.emit(tid, event)
            return True
        elif isinstance(event, TurnFailed):
            if event.engine_lost:
                self.sig_engine_lost.emit(tid)
            self.sig_turn_failed.emit(tid, event.reason, event.cancelled)
            return True
        else:
            logger.warning("unknown engine event %r", event)
        return False

    def _restore(self, data: dict) -> None:
        if self.assistant is None:
            self.sig_history_restored.emit(False, "The models are not loaded yet.")
            return
        try:
            if data:
                self.assistant.restore(data)
            else:
                self.assistant.clear()
        except Exception as exc:
            self.sig_history_restored.emit(False, f"The model's memory of this conversation could not be restored: {_reason(exc)}")
            return
        self.sig_history_restored.emit(True, "")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


STILL_RUNNING: list[tuple[QThread, EngineWorker]] = []


class EngineClient(QObject):
    """The GUI-side handle: owns the worker thread, posts jobs, cancels. Every method returns at once."""

    _sig_post = Signal(object)

    def __init__(self, factory: AssistantFactory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("anygpt-engine")
        self.worker = EngineWorker(factory)
        self.worker.moveToThread(self.thread)
        self._sig_post.connect(self.worker.run_job)  # queued: the receiver lives in the worker thread
        self._states: dict[int, TaskState] = {}
        self._load_state: TaskState | None = None
        self._next_id = 0
        self.loaded = False
        # slots of this object (it lives in the GUI thread), so they run there, never in the worker thread
        self.worker.sig_model_loaded.connect(self._on_loaded)
        self.worker.sig_turn_finished.connect(self._on_turn_finished)
        self.worker.sig_turn_failed.connect(self._on_turn_failed)
        self.thread.start()

    @Slot(float)
    def _on_loaded(self, _seconds: float) -> None:
        self.loaded = True

    @Slot(int, object)
    def _on_turn_finished(self, tid: int, _done: object) -> None:
        self._states.pop(tid, None)

    @Slot(int, str, bool)
    def _on_turn_failed(self, tid: int, _reason: str, _cancelled: bool) -> None:
        self._states.pop(tid, None)

    def configure(self, values: dict[str, Any] | None) -> None:
        """Hand the engine new settings (``AppSettings.values()``; queued: a running turn finishes with the old ones)."""
        self._sig_post.emit(_Job("configure", data=dict(values) if values is not None else None))

    def load(self) -> None:
        self._load_state = TaskState(on_progress=self.worker.sig_model_progress.emit)  # emitted in the worker thread
        self._sig_post.emit(_Job("load", state=self._load_state))

    def cancel_load(self) -> None:
        if self._load_state is not None:
            self._load_state.cancel()

    def submit(self, request: TurnRequest) -> int:
        """Queue a turn; returns its id (signals carry it)."""
        self._next_id += 1
        state = TaskState()
        self._states[self._next_id] = state
        self._sig_post.emit(_Job("turn", turn_id=self._next_id, request=request, state=state))
        return self._next_id

    def cancel(self) -> None:
        """Stop the running turn and drop the queued ones (each still reports ``sig_turn_failed`` cancelled)."""
        for state in list(self._states.values()):
            state.cancel()

    @property
    def busy(self) -> bool:
        return bool(self._states)

    def clear(self) -> None:
        self._sig_post.emit(_Job("clear"))

    def restore(self, data: dict | None) -> None:
        self._sig_post.emit(_Job("restore", data=data or {}))

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything and stop the thread (called when the window closes); False if it is still busy.

        A thread still inside an uncancellable step is parked in ``STILL_RUNNING`` (destroying a running QThread
        aborts the process); ``run_gui`` then leaves with ``os._exit``.
        """
        self.cancel()
        self.cancel_load()
        self.thread.quit()
        stopped = self.thread.wait(timeout_ms)
        end_engine = getattr(getattr(self.worker, "assistant", None), "shutdown", None)
        if callable(end_engine):  # an engine process ends with the window (a stuck one is killed, freeing the thread)
            end_engine()
        if stopped or self.thread.wait(timeout_ms):
            return True
        logger.warning("the engine thread did not stop within %d ms", timeout_ms)
        self.thread.setParent(None)
        STILL_RUNNING.append((self.thread, self.worker))
        return False
