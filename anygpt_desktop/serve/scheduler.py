"""One model set, many conversations: a fair queue of turns run one at a time by a single engine thread.

Design: the server holds ONE loaded assistant. Every client session owns its conversation as plain JSON
(``Assistant.history_json()``). To run a session's turn the engine thread restores that conversation into the assistant
(``restore`` / ``clear``), runs the turn, and keeps the new ``history_json()`` in the session. A session has at most one
turn queued or running, so a FIFO of turns is round robin between sessions. Cancelling a queued turn removes it;
cancelling the running one sets its ``TaskState`` (the assistant stops between tokens) and the slot goes to the next.
The conversation left in the assistant after a finished turn stays *resident*: when the same session's next turn comes
before any other session's, nothing is restored and the assistant's KV cache serves the conversation's prefix (one
user on a server decodes like the desktop). Another session's turn swaps its conversation in, which resets the KV cache;
that session's follow-up re-reads its context (prefix reuse across many sessions is vLLM's prefix cache).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from anygpt_desktop.cancel import Cancelled, TaskState
from anygpt_desktop.engine.events import TurnDone, TurnFailed
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.engine_process import protocol as p

logger = logging.getLogger(__name__)


@dataclass
class Conversation:
    """A session's conversation (JSON of ``Assistant.history_json``), guarded by the scheduler's lock."""

    data: dict = field(default_factory=dict)


@dataclass
class TurnJob:
    session_id: int
    turn_id: int
    request: TurnRequest
    conversation: Conversation
    emit: Callable[[p.Message], None]  # thread-safe; a no-op once the session is gone
    state: TaskState = field(default_factory=TaskState)
    decode: Any = None  # the session's DecodeSettings (capped by the server's); None: the server's own


class TurnScheduler:
    """Runs queued turns one at a time on ``assistant`` in its own thread (``start``/``stop``)."""

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant
        self._queue: collections.deque[TurnJob] = collections.deque()
        self._cond = threading.Condition()
        self._running: TurnJob | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="serve-engine", daemon=True)
        self.turns_done = 0
        self.restores = 0  # conversations swapped into the assistant (each one resets its KV cache)
        self._resident: tuple[int, dict] | None = None  # (session, history object) the assistant holds, cache intact

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            if self._running is not None:
                self._running.state.cancel()
            self._cond.notify_all()
        self._thread.join(timeout=30)

    def busy(self, session_id: int) -> bool:
        """The session has a turn queued or running."""
        with self._cond:
            return (self._running is not None and self._running.session_id == session_id) or any(
                j.session_id == session_id for j in self._queue)

    def submit(self, job: TurnJob) -> bool:
        """Queue ``job``; False when its session already has a turn queued or running."""
        with self._cond:
            if self._stopped:
                return False
            if (self._running is not None and self._running.session_id == job.session_id) or any(
                    j.session_id == job.session_id for j in self._queue):
                return False
            self._queue.append(job)
            self._cond.notify_all()
            return True

    def cancel(self, session_id: int, turn_id: int | None = None) -> None:
        """Cancel the session's turn (``turn_id`` None: any): dequeue it, or stop it between tokens if it runs."""
        with self._cond:
            for job in list(self._queue):
                if job.session_id == session_id and turn_id in (None, job.turn_id):
                    self._queue.remove(job)
                    job.emit(p.TurnEvent(job.turn_id, TurnFailed("stopped", cancelled=True)))
            if self._running is not None and self._running.session_id == session_id and turn_id in (None, self._running.turn_id):
                self._running.state.cancel()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                job = self._queue.popleft()
                self._running = job
            last: list[p.Message] = []
            try:
                last = self._turn(job)
            finally:
                with self._cond:  # free the session's slot before it hears the end (it may send its next turn at once)
                    self._running = None
                    self.turns_done += 1
                for message in last:
                    job.emit(message)

    def _turn(self, job: TurnJob) -> list[p.Message]:
        """Run ``job``, streaming its events; the closing messages (History, then the final event) are returned."""
        final: TurnDone | TurnFailed | None = None
        history: dict | None = None
        resident, self._resident = self._resident, None  # a turn that does not finish leaves nothing resident
        try:
            if resident is None or resident[0] != job.session_id or resident[1] is not job.conversation.data:
                self.restores += 1
                if job.conversation.data:
                    self.assistant.restore(job.conversation.data)
                else:
                    self.assistant.clear()
            with _decoding(self.assistant, job.decode):
                for event in self.assistant.turn(job.request, job.state):
                    if isinstance(event, (TurnDone, TurnFailed)):
                        final = event
                        break
                    job.emit(p.TurnEvent(job.turn_id, event))
            history = self.assistant.history_json()
        except Cancelled:
            final = TurnFailed("stopped", cancelled=True)
        except Exception as exc:  # a failed turn, the server stays
            logger.debug("turn failed:\n%s", traceback.format_exc())
            final = TurnFailed(f"the server's engine failed during this turn ({type(exc).__name__}: {exc}); "
                               "the conversation is unchanged")
        if final is None:
            final = TurnFailed("stopped", cancelled=True) if job.state.cancelled() else TurnFailed("the reply ended unexpectedly")
        if isinstance(final, TurnDone) and history is not None:
            job.conversation.data = history
            self._resident = (job.session_id, history)
        return [p.History(job.conversation.data), p.TurnEvent(job.turn_id, final)]


@contextlib.contextmanager
def _decoding(assistant: Any, decode: Any) -> Iterator[None]:
    """The session's decoding settings for one turn, the server's own afterwards."""
    settings = getattr(assistant, "settings", None)
    if decode is None or settings is None:
        yield
        return
    own = settings.decode
    settings.decode = decode
    try:
        yield
    finally:
        settings.decode = own
