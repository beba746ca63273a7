"""The engine process's side: builds the real ``Assistant`` and serves it over a transport.

The main thread runs one command at a time (configure, load, turn, clear, restore) and streams every engine event to
the GUI as soon as the assistant yields it. A reader thread takes frames off the transport: a ``Cancel`` sets the
running turn's ``TaskState`` (the assistant polls it between tokens), everything else is queued for the main thread.
When the GUI's end of the channel closes (the GUI exited or was killed), the engine exits too: no orphan.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from anygpt_desktop.cancel import Cancelled, TaskState
from anygpt_desktop.engine.events import TurnDone, TurnFailed
from anygpt_desktop.engine_process import protocol as p
from anygpt_desktop.engine_process.transport import PipeTransport, Transport, TransportClosed
from anygpt_desktop.lazy import load_target

logger = logging.getLogger(__name__)

DEFAULT_ASSISTANT_FACTORY = "anygpt_desktop.engine_process.child:build_assistant"
_FATAL_MARKERS = ("CUDA error", "CUBLAS_STATUS", "CUDNN_STATUS", "device-side assert", "illegal memory access")


@dataclass
class EngineConfig:
    """How the engine process starts (plain values: it travels as JSON to the spawned process)."""

    models_dir: str
    device: str | None = None
    assistant_factory: str = DEFAULT_ASSISTANT_FACTORY  # "module:function" called as f(models_dir, device)
    nice: int = 0  # added to the engine's scheduling niceness (the GUI and the audio callback come first)
    log_level: int = logging.INFO

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "EngineConfig":
        return cls(**json.loads(text))


def build_assistant(models_dir: str, device: str | None) -> Any:
    """The real assistant of a models folder (the default factory)."""
    from anygpt_desktop.engine.assistant import Assistant

    return Assistant(Path(models_dir), device=device)


def _reason(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


class EngineServer:
    """Serves one assistant over ``transport`` until ``Shutdown`` or until the GUI's end closes."""

    def __init__(self, transport: Transport, config: EngineConfig) -> None:
        self.transport = transport
        self.config = config
        self.assistant: Any = None
        self.settings: Any = None  # AssistantSettings from the last Configure
        self._inbox: "queue.Queue[p.Message | None]" = queue.Queue()
        self._lock = threading.Lock()
        self._running: tuple[int, TaskState] | None = None  # (turn id or LOADING, its state)
        self._cancelled: set[int] = set()  # cancels that arrived before their turn started
        self._stopping = False

    # -- the reader thread -----------------------------------------------------------------------------------
    def _read(self) -> None:
        while True:
            try:
                frame = self.transport.receive(None)
            except TransportClosed:
                break
            if frame is None:
                continue
            try:
                msg = p.decode(frame)
            except p.ProtocolError as exc:
                logger.error("unreadable message from the GUI: %s", exc)
                self._send(p.Error(f"the engine could not read a message: {exc}"))
                continue
            if isinstance(msg, p.Cancel):
                self._cancel(msg.turn_id)
            elif isinstance(msg, p.Shutdown):
                self._stopping = True
                self._cancel_running()
                self._inbox.put(msg)
                return
            else:
                self._inbox.put(msg)
        if not self._stopping:
            logger.warning("the GUI's end of the channel closed; the engine exits")
            self._cancel_running()
            self._inbox.put(None)
            self._exit_soon()

    def _exit_soon(self, grace_s: float = 5.0) -> None:
        """The GUI is gone: let the main thread end by itself for a moment, then leave regardless (no orphan)."""

        def leave() -> None:
            time.sleep(grace_s)
            os._exit(0)

        threading.Thread(target=leave, name="engine-exit", daemon=True).start()

    def _cancel(self, turn_id: int) -> None:
        with self._lock:
            if self._running is not None and self._running[0] == turn_id:
                self._running[1].cancel()
            else:
                self._cancelled.add(turn_id)

    def _cancel_running(self) -> None:
        with self._lock:
            if self._running is not None:
                self._running[1].cancel()

    def _begin(self, turn_id: int, state: TaskState) -> None:
        with self._lock:
            self._running = (turn_id, state)
            if turn_id in self._cancelled:
                self._cancelled.discard(turn_id)
                state.cancel()

    def _end(self) -> None:
        with self._lock:
            self._running = None
            self._cancelled.clear()

    def _send(self, msg: p.Message) -> None:
        try:
            self.transport.send(p.encode(msg))
        except TransportClosed:
            self._stopping = True  # nobody listens any more

    # -- the main thread -------------------------------------------------------------------------------------
    def serve(self) -> None:
        reader = threading.Thread(target=self._read, name="engine-reader", daemon=True)
        reader.start()
        self._send(p.Hello(os.getpid()))
        while True:
            msg = self._inbox.get()
            if msg is None or isinstance(msg, p.Shutdown):
                break
            try:
                self._handle(msg)
            except p.ProtocolError as exc:
                logger.error("could not answer %s: %s", type(msg).__name__, exc)
                self._send(p.Error(f"the engine could not answer: {exc}"))
        logger.info("engine process %d ends", os.getpid())

    def _handle(self, msg: p.Message) -> None:
        if isinstance(msg, p.Configure):
            self._configure(msg.settings)
        elif isinstance(msg, p.Load):
            self._load()
        elif isinstance(msg, p.StartTurn):
            self._turn(msg.turn_id, msg.request)
        elif isinstance(msg, p.Clear):
            self._apply("clear", lambda a: a.clear())
        elif isinstance(msg, p.Restore):
            self._apply("restore", lambda a: a.restore(msg.data) if msg.data else a.clear())
        else:
            self._send(p.Error(f"the engine does not take {type(msg).__name__} messages"))

    def _configure(self, data: dict) -> None:
        from anygpt_desktop.engine.assistant import AssistantSettings

        try:
            self.settings = p.settings_from_json(AssistantSettings, data)
        except (p.ProtocolError, TypeError, ValueError) as exc:
            self._send(p.Ack("configure", False, f"the settings could not be used: {exc}"))
            return
        if self.assistant is not None:
            self.assistant.settings = self.settings
        self._send(p.Ack("configure", True, ""))

    def _load(self) -> None:
        state = TaskState(on_progress=lambda f, m: self._send(p.LoadProgress(f, m)))
        self._begin(p.LOADING, state)
        start = time.perf_counter()
        try:
            state.check()
            assistant = load_target(self.config.assistant_factory)(self.config.models_dir, self.config.device)
            if self.settings is not None:
                assistant.settings = self.settings
            assistant.load(state)
            state.check()
        except Cancelled:
            self._send(p.LoadFailed("Loading was cancelled.", True))
            return
        except Exception as exc:  # the reason goes to the GUI, the engine stays
            logger.debug("load failed:\n%s", traceback.format_exc())
            self._send(p.LoadFailed(_reason(exc), False))
            return
        finally:
            self._end()
        self.assistant = assistant
        llm = getattr(assistant, "llm", None)
        device, dtype = str(getattr(llm, "device", "cpu")), str(getattr(llm, "dtype", "")).replace("torch.", "")
        self._send(p.Ready(device, dtype, time.perf_counter() - start))

    def _turn(self, turn_id: int, request: Any) -> None:
        if self.assistant is None:
            self._send(p.TurnEvent(turn_id, TurnFailed("the models are not loaded yet")))
            return
        state = TaskState()
        self._begin(turn_id, state)
        final: TurnDone | TurnFailed | None = None
        try:
            for event in self.assistant.turn(request, state):
                if isinstance(event, (TurnDone, TurnFailed)):
                    final = event
                    break
                self._send(p.TurnEvent(turn_id, event))
                if self._stopping:
                    return
        except Cancelled:
            final = TurnFailed("stopped", cancelled=True)
        except Exception as exc:  # a failed turn, not a dead engine
            logger.exception("the turn failed inside the engine")
            final = TurnFailed(f"the engine failed during this turn ({type(exc).__name__}: {exc}); "
                               "the conversation is unchanged")
        finally:
            self._end()
        if final is None:
            final = TurnFailed("stopped", cancelled=True) if state.cancelled() else TurnFailed("the reply ended unexpectedly")
        self._send_history()
        self._send(p.TurnEvent(turn_id, final))
        if isinstance(final, TurnFailed) and any(m in final.reason for m in _FATAL_MARKERS):
            logger.error("the GPU is in an unusable state (%s); the engine exits so that a fresh one starts", final.reason)
            self._stopping = True
            self._inbox.put(None)

    def _send_history(self) -> None:
        try:
            self._send(p.History(self.assistant.history_json()))
        except (p.ProtocolError, Exception) as exc:  # the GUI keeps its last copy
            logger.exception("the conversation could not be sent: %s", exc)

    def _apply(self, what: str, action: Any) -> None:
        if self.assistant is None:
            self._send(p.Ack(what, False, "The models are not loaded yet."))
            return
        try:
            action(self.assistant)
        except Exception as exc:  # reported to the GUI
            logger.debug("%s failed:\n%s", what, traceback.format_exc())
            self._send(p.Ack(what, False, _reason(exc)))
            return
        self._send_history()
        self._send(p.Ack(what, True, ""))


def _release_named_semaphores() -> None:
    """Unlink the semaphores libraries made here (tqdm's lock): ``os._exit`` skips the finalizers that would."""
    try:
        from multiprocessing import util

        util._run_finalizers(0)  # the exit-time finalizers multiprocessing itself would run
    except Exception:  # best effort; the resource tracker cleans up otherwise
        logger.debug("finalizers failed", exc_info=True)


def child_main(conn: Any, config_json: str) -> None:
    """The spawned process's entry point: ``conn`` is its end of a ``multiprocessing`` pipe."""
    config = EngineConfig.from_json(config_json)
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s [engine %(process)d] %(name)s: %(message)s")
    if config.nice:
        try:
            os.nice(config.nice)
        except OSError as exc:
            logger.warning("could not lower the engine's priority: %s", exc)
    transport = PipeTransport(conn)
    code = 0
    try:
        EngineServer(transport, config).serve()
    except BaseException:  # logged; the GUI sees the exit code
        logger.exception("the engine failed")
        code = 1
    finally:
        transport.close()
        _release_named_semaphores()
        logging.shutdown()
    # Nothing is left to save (the GUI keeps the conversation; outputs are written and closed): skip the interpreter's
    # teardown, which waits for library threads and frees every tensor one by one.
    os._exit(code)
