"""The GUI's side: :class:`EngineProcess` owns one spawned engine; :class:`RemoteAssistant` is the assistant the GUI
uses (the ``AssistantLike`` interface of ``app/worker.py``), restarting the engine when it died.

Every method runs in the caller's thread (the GUI's worker thread; one caller at a time, ``shutdown`` from any) and waits on the channel with short timeouts, so a
cancel set from another thread is seen within ``POLL_S``. The conversation's last good state is kept here
(``history_json`` works while the engine is dead): after a crash the next call starts a fresh engine, loads the
models and restores that conversation before the turn runs.
"""

from __future__ import annotations

import copy
import logging
import multiprocessing
import signal
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

from anygpt_desktop.cancel import Cancelled, TaskState
from anygpt_desktop.engine.events import Event, Notice, TurnDone, TurnFailed
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.engine_process import protocol as p
from anygpt_desktop.engine_process.child import DEFAULT_ASSISTANT_FACTORY, EngineConfig, child_main
from anygpt_desktop.engine_process.transport import PipeTransport, TransportClosed

logger = logging.getLogger(__name__)

POLL_S = 0.05


class EngineError(RuntimeError):
    """The engine could not do what was asked; the message is in the user's terms."""


class EngineDied(EngineError):
    """The engine process is gone (crashed, killed, or stopped answering)."""


@dataclass
class EngineOptions:
    """Tunables of the engine process (seconds)."""

    cancel_timeout_s: float = 5.0  # Stop unanswered this long: the engine is killed and restarted
    # A dead engine is noticed at once (its end of the pipe closes); these only bound a live engine that hangs. The first
    # answers include importing torch and the engine, which takes minutes on a busy 2-core machine.
    start_timeout_s: float = 600.0  # a spawned engine says hello within this
    answer_timeout_s: float = 600.0  # configure / clear / restore
    shutdown_timeout_s: float = 10.0  # join, then terminate, then kill
    assistant_factory: str = DEFAULT_ASSISTANT_FACTORY
    nice: int = 10  # the engine yields the CPU to the GUI and the audio callback (see docs/benchmarks.md, bench gui)


def describe_exit(exitcode: int | None) -> str:
    """How a process ended, in words."""
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = {"SIGKILL": "killed; often the system ran out of memory", "SIGSEGV": "a crash in native code",
                "SIGABRT": "aborted", "SIGBUS": "a crash in native code"}.get(name, "")
        return f"{name}: {hint}" if hint else name
    return f"exit code {exitcode}"


class EngineProcess:
    """One spawned engine process and its channel. Not thread-safe: one caller at a time (``kill`` from any thread)."""

    def __init__(self, config: EngineConfig, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        ctx = multiprocessing.get_context("spawn")
        parent_end, child_end = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=child_main, args=(child_end, config.to_json()), name="anygpt-engine",
                                   daemon=True)
        self.process.start()
        child_end.close()  # only the child holds its end: its death reads as end-of-file here
        self.transport = PipeTransport(parent_end)
        self.closed = False
        logger.info("engine process %s started", self.process.pid)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def alive(self) -> bool:
        return not self.closed and self.process.is_alive()

    def send(self, message: p.Message) -> None:
        try:
            self.transport.send(p.encode(message))
        except TransportClosed as exc:
            raise EngineDied(self.death_reason()) from exc

    def receive(self, timeout: float) -> p.Message | None:
        """The next message, None after ``timeout``; :class:`EngineDied` when the engine is gone."""
        try:
            frame = self.transport.receive(timeout)
        except TransportClosed as exc:
            raise EngineDied(self.death_reason()) from exc
        if frame is None:
            if not self.process.is_alive():
                raise EngineDied(self.death_reason())
            return None
        try:
            message = p.decode(frame)
        except p.ProtocolError as exc:
            logger.error("unreadable message from the engine: %s", exc)
            return p.Error(str(exc))
        if isinstance(message, p.Error):
            logger.error("the engine reports: %s", message.message)
        return message

    def death_reason(self) -> str:
        self.process.join(timeout=2.0)
        return describe_exit(self.process.exitcode)

    def wait_hello(self) -> None:
        deadline = time.monotonic() + self.options.start_timeout_s
        while time.monotonic() < deadline:
            msg = self.receive(POLL_S * 4)
            if isinstance(msg, p.Hello):
                return
            if msg is not None:
                logger.warning("unexpected %s before hello", type(msg).__name__)
        self.kill()
        raise EngineDied(f"it did not start within {self.options.start_timeout_s:.0f} s")

    def kill(self) -> None:
        """End the process now (SIGKILL) and close the channel."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10.0)
        self._close_channel()

    def shutdown(self, timeout_s: float | None = None) -> None:
        """Ask the engine to exit; join, then terminate, then kill. Safe to call twice."""
        if self.closed:
            return
        timeout_s = self.options.shutdown_timeout_s if timeout_s is None else timeout_s
        try:
            self.transport.send(p.encode(p.Shutdown()))
        except TransportClosed:
            pass
        self.process.join(timeout_s)
        if self.process.is_alive():
            logger.warning("engine process %s did not exit; terminating it", self.pid)
            self.process.terminate()
            self.process.join(min(timeout_s, 5.0))
        if self.process.is_alive():
            logger.warning("engine process %s ignored SIGTERM; killing it", self.pid)
            self.process.kill()
            self.process.join(5.0)
        self._close_channel()

    def _close_channel(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()


def _shutdown_quietly(engine: EngineProcess) -> None:
    try:
        engine.shutdown()
    except Exception:  # called from finalizers
        logger.exception("engine shutdown failed")


class RemoteAssistant:
    """The assistant in an engine process, with the interface of ``engine.assistant.Assistant`` the app uses."""

    def __init__(self, models_dir: Path | str, device: str | None = None, settings: Any = None,
                 options: EngineOptions | None = None) -> None:
        self.models_dir = Path(models_dir)
        self.device = device
        self.options = options or EngineOptions()
        self.settings = settings  # the engine's AssistantSettings (None: the engine's defaults); sent when changed
        self.llm: SimpleNamespace | None = None  # device and dtype of the loaded model, as the worker reads them
        self.restarts = 0
        self._engine: EngineProcess | None = None
        self._finalizer: weakref.finalize | None = None
        self._sent_settings: dict | None = None
        self._history: dict = {}
        self._next_turn = 0
        self._loaded_once = False
        self._closing = False  # shutdown() was called: a turn cut short by it is "stopped", not a crash

    # -- engine lifecycle --------------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The engine process's id (None before ``load``)."""
        return self._engine.pid if self._engine is not None else None

    def engine_alive(self) -> bool:
        return self._engine is not None and self._engine.alive()

    def _start(self, state: TaskState) -> None:
        self._stop_engine()
        state.progress(0.0, "starting the engine")
        config = EngineConfig(str(self.models_dir), self.device, self.options.assistant_factory, self.options.nice,
                              logging.getLogger().getEffectiveLevel())
        engine = EngineProcess(config, self.options)
        self._engine = engine
        self._finalizer = weakref.finalize(self, _shutdown_quietly, engine)  # no orphan if this object is dropped
        self._sent_settings = None
        self.llm = None
        engine.wait_hello()

    def _stop_engine(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._engine is not None:
            _shutdown_quietly(self._engine)
            self._engine = None

    def _send_settings(self) -> None:
        if self.settings is None or self._engine is None:
            return
        data = p.settings_to_json(self.settings)
        if data == self._sent_settings:
            return
        self._engine.send(p.Configure(data))
        ack = self._wait_ack("configure")
        if not ack.ok:
            raise EngineError(ack.message)
        self._sent_settings = data

    def _wait_ack(self, what: str) -> p.Ack:
        assert self._engine is not None
        deadline = time.monotonic() + self.options.answer_timeout_s
        while time.monotonic() < deadline:
            msg = self._engine.receive(POLL_S)
            if isinstance(msg, p.Ack) and msg.what == what:
                return msg
            if isinstance(msg, p.History):
                self._history = msg.data
            elif isinstance(msg, p.Error):
                raise EngineError(msg.message)
            elif msg is not None:
                logger.debug("ignored %s while waiting for the %s answer", type(msg).__name__, what)
        self._engine.kill()
        raise EngineDied(f"it did not answer '{what}' within {self.options.answer_timeout_s:.0f} s")

    def load(self, state: TaskState | None = None) -> None:
        """Start a fresh engine and load the models, reporting the engine's progress to ``state``.

        Raises :class:`Cancelled` when ``state`` is cancelled, :class:`EngineError` with the reason otherwise.
        """
        self._closing = False
        self._load(state or TaskState())
        if self._history:
            self._restore_engine(self._history)

    def _load(self, state: TaskState) -> None:
        try:
            state.check()
            self._start(state)
            self._send_settings()
            assert self._engine is not None
            self._engine.send(p.Load())
            cancel_sent: float | None = None
            while True:
                if state.cancelled() and cancel_sent is None:
                    self._engine.send(p.Cancel(p.LOADING))
                    cancel_sent = time.monotonic()
                if cancel_sent is not None and time.monotonic() - cancel_sent > self.options.cancel_timeout_s:
                    self._stop_engine()
                    raise Cancelled()
                msg = self._engine.receive(POLL_S)
                if isinstance(msg, p.LoadProgress):
                    state.progress(msg.fraction, msg.message)
                elif isinstance(msg, p.Ready):
                    self.llm = SimpleNamespace(device=msg.device, dtype=msg.dtype)
                    self._loaded_once = True
                    return
                elif isinstance(msg, p.Error):
                    self._stop_engine()
                    raise EngineError(msg.message)
                elif isinstance(msg, p.LoadFailed):
                    self._stop_engine()
                    if msg.cancelled:
                        raise Cancelled()
                    raise EngineError(msg.reason)
        except EngineDied as exc:
            self._stop_engine()
            raise EngineError(f"the engine stopped while loading the models ({exc})") from None
        except BaseException:
            if self._engine is not None and not self.llm:
                self._stop_engine()
            raise

    def _restore_engine(self, data: dict) -> None:
        assert self._engine is not None
        self._engine.send(p.Restore(data) if data else p.Clear())
        ack = self._wait_ack("restore" if data else "clear")
        if not ack.ok:
            raise EngineError(ack.message)

    def restart(self, state: TaskState | None = None) -> None:
        """A fresh engine with the models loaded and the kept conversation restored."""
        self.restarts += 1
        self._load(state or TaskState())
        self._restore_engine(self._history)

    def shutdown(self) -> None:
        """End the engine process (asks, then terminates, then kills). May be called from any thread; a running turn
        then ends as stopped. A later ``load`` starts a new engine."""
        self._closing = True
        self._stop_engine()
        self.llm = None

    close = shutdown

    # -- conversation ------------------------------------------------------------------------------------------
    def history_json(self) -> dict:
        """The conversation after the last finished turn (kept here, so it survives the engine)."""
        return copy.deepcopy(self._history)

    def clear(self) -> None:
        self._history = {}
        self._call_if_alive(lambda: self._restore_engine({}))

    def restore(self, data: dict) -> None:
        self._history = copy.deepcopy(data or {})
        self._call_if_alive(lambda: self._restore_engine(self._history))

    def _call_if_alive(self, action: Callable[[], None]) -> None:
        """Run ``action`` on a live engine; a dead one gets the kept conversation when it restarts."""
        if not self.engine_alive():
            return
        try:
            action()
        except EngineDied as exc:
            logger.warning("the engine died (%s); it restarts with the conversation on the next turn", exc)
            self._stop_engine()

    # -- a turn ------------------------------------------------------------------------------------------------
    def turn(self, request: TurnRequest, state: TaskState | None = None) -> Iterator[Event]:
        """Run one turn in the engine, yielding its events as they arrive; always ends with TurnDone or TurnFailed."""
        yield from self._turn(request, state or TaskState())

    def _turn(self, request: TurnRequest, state: TaskState) -> Iterator[Event]:
        if not self._loaded_once or self._closing:
            yield TurnFailed("the models are not loaded yet")
            return
        if not self.engine_alive():
            try:
                self.restart(TaskState())
            except (EngineError, Cancelled) as exc:
                yield TurnFailed(f"the engine could not be restarted ({exc}); your conversation is kept", engine_lost=True)
                return
            yield Notice("the engine was restarted and your conversation restored")
        assert self._engine is not None
        engine = self._engine
        self._next_turn += 1
        tid = self._next_turn
        ended = False
        try:
            self._send_settings()
        except EngineDied:
            pass  # found out below, as a dead engine
        except (EngineError, p.ProtocolError) as exc:
            yield TurnFailed(f"the settings could not be used ({exc})")
            return
        try:
            engine.send(p.StartTurn(tid, request))
            cancel_sent: float | None = None
            while True:
                if state.cancelled() and cancel_sent is None:
                    engine.send(p.Cancel(tid))
                    cancel_sent = time.monotonic()
                if cancel_sent is not None and time.monotonic() - cancel_sent > self.options.cancel_timeout_s:
                    logger.warning("the engine did not stop within %.1f s; it is restarted", self.options.cancel_timeout_s)
                    self._stop_engine()
                    ended = True
                    yield TurnFailed("stopped (the engine did not respond and was restarted; your conversation is kept)",
                                     cancelled=True)
                    return
                msg = engine.receive(POLL_S)
                if isinstance(msg, p.History):
                    self._history = msg.data
                elif isinstance(msg, p.TurnEvent) and msg.turn_id == tid:
                    final = isinstance(msg.event, (TurnDone, TurnFailed))
                    ended = ended or final
                    yield msg.event
                    if final:
                        return
                elif isinstance(msg, p.Error):  # the engine could not read what we sent: it will not answer
                    raise EngineError(msg.message)
                elif msg is not None:
                    logger.debug("ignored %s during turn %d", type(msg).__name__, tid)
        except (EngineDied, EngineError, p.ProtocolError) as exc:
            reason = str(exc)
            died = isinstance(exc, EngineDied) or not engine.alive()
            if died or self._closing or isinstance(exc, EngineError):
                self._stop_engine()  # a fresh engine for the next turn (one that misread a message may be mid-turn)
            ended = True
            if self._closing:
                yield TurnFailed("stopped", cancelled=True)
            elif died:
                yield TurnFailed(f"the engine stopped unexpectedly ({reason}); your conversation is kept", engine_lost=True)
            else:
                yield TurnFailed(f"the engine could not run this turn ({reason}); your conversation is kept")
        finally:
            if not ended:  # the caller stopped listening mid-turn: stop the engine's turn and drain it
                self._abandon(engine, tid)

    def _abandon(self, engine: EngineProcess, tid: int) -> None:
        try:
            engine.send(p.Cancel(tid))
            deadline = time.monotonic() + self.options.cancel_timeout_s
            while time.monotonic() < deadline:
                msg = engine.receive(POLL_S)
                if isinstance(msg, p.History):
                    self._history = msg.data
                elif isinstance(msg, p.TurnEvent) and msg.turn_id == tid and isinstance(msg.event, (TurnDone, TurnFailed)):
                    return
        except EngineDied:
            pass
        self._stop_engine()
