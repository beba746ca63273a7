"""The desktop app's side of ``serve``: :class:`RemoteServerAssistant`, the app's ``AssistantLike`` over WebSocket.

It imports nothing of the models (no torch): the server runs them. The conversation's last good state is kept here
(from the ``History`` the server sends before each turn's end), so a lost connection is a failed turn with the
conversation intact; the next call reconnects and restores it into a fresh server session. Audio capture and playback
stay in the app: speech goes up as an array in the request, and comes back as ``SpeechChunk`` arrays.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

from platformdirs import user_data_dir
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from anygpt_desktop.cancel import Cancelled, TaskState
from anygpt_desktop.engine.events import Event, Notice, TurnDone, TurnFailed
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.engine_process import protocol as p
from anygpt_desktop.serve.files import InputFileUnreadable, ReceivedFiles, upload_inputs

logger = logging.getLogger(__name__)

POLL_S = 0.05


class ServerError(RuntimeError):
    """The server could not be reached or refused us; the message is in the user's terms."""


@dataclass
class ClientOptions:
    connect_timeout_s: float = 30.0
    answer_timeout_s: float = 120.0  # load / clear / restore answers
    cancel_timeout_s: float = 10.0  # Stop unanswered this long: the connection is dropped (the server cancels)
    max_message_bytes: int = 64 * 2**20  # replies carry speech chunks


def describe_close(exc: BaseException) -> str:
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None and rcvd.code == 1009:
        return f"the request is too big for the server ({rcvd.reason})"
    if rcvd is not None and rcvd.reason:
        return f"the server closed the connection: {rcvd.reason} (code {rcvd.code})"
    return "the connection to the server was lost"


class RemoteServerAssistant:
    """The assistant of an ``anygpt-desktop serve`` server at ``url``, authenticated by ``token``."""

    def __init__(self, url: str, token: str, settings: Any = None, options: ClientOptions | None = None,
                 ssl_context: Any = None) -> None:
        self.url = url
        self.token = token
        self.options = options or ClientOptions()
        self.settings = settings  # the app's AssistantSettings: its decoding goes to the server, its output folder here
        self._sent_decode: dict | None = None  # the decoding settings this session's server has
        self.ssl_context = ssl_context
        self.llm: SimpleNamespace | None = None
        self._ws: ClientConnection | None = None
        self._lock = threading.Lock()
        self._history: dict = {}
        self._next_turn = 0
        self._closing = False

    # -- the connection ----------------------------------------------------------------------------------------
    def connected(self) -> bool:
        return self._ws is not None

    def _connect(self) -> ClientConnection:
        try:
            kwargs: dict[str, Any] = {}
            if self.url.startswith("wss://") and self.ssl_context is not None:
                kwargs["ssl"] = self.ssl_context
            ws = connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"},
                         open_timeout=self.options.connect_timeout_s, max_size=self.options.max_message_bytes,
                         compression=None, **kwargs)
            ws.__enter__()  # the connection lives beyond this call (closed by _drop), as a context manager would
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                raise ServerError("the server refused the token (check Settings › Engine)") from None
            raise ServerError(f"the server refused the connection (HTTP {status})") from None
        except InvalidURI:
            raise ServerError(f"not a server address: {self.url!r} (expected ws://host:port or wss://host:port)") from None
        except (OSError, TimeoutError) as exc:
            raise ServerError(f"cannot reach the server at {self.url} ({exc})") from None
        self._ws = ws
        hello = self._receive(self.options.connect_timeout_s)
        if not isinstance(hello, p.Hello):
            self._drop()
            raise ServerError("the server did not greet us as an AnyGPT engine")
        return ws

    def _drop(self) -> None:
        self._sent_decode = None  # a new session starts from the server's settings
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close()
            except Exception:  # already gone
                logger.debug("close failed", exc_info=True)

    def _send(self, message: p.Message) -> None:
        assert self._ws is not None
        self._ws.send(p.encode(message))

    def _receive(self, timeout: float) -> p.Message | None:
        """The next message; None after ``timeout``; ConnectionClosed when the connection is gone."""
        assert self._ws is not None
        try:
            data = self._ws.recv(timeout=timeout)
        except TimeoutError:
            return None
        if isinstance(data, str):
            logger.error("the server sent text: %.200s", data)
            return p.Error(data)
        try:
            message = p.decode(data)
        except p.ProtocolError as exc:
            logger.error("unreadable message from the server: %s", exc)
            return p.Error(str(exc))
        if isinstance(message, p.History):
            self._history = message.data
        elif isinstance(message, p.Error):
            logger.error("the server reports: %s", message.message)
        return message

    def _wait_for(self, kinds: tuple[type, ...], what: str) -> Any:
        deadline = time.monotonic() + self.options.answer_timeout_s
        while time.monotonic() < deadline:
            msg = self._receive(POLL_S * 4)
            if isinstance(msg, kinds):
                return msg
            if isinstance(msg, p.Error):
                raise ServerError(msg.message)
        self._drop()
        raise ServerError(f"the server did not answer '{what}' within {self.options.answer_timeout_s:.0f} s")

    def _ensure_session(self) -> None:
        """A connected session holding our conversation."""
        if self._ws is not None:
            return
        try:
            self._connect()
            self._send(p.Load())
            ready = self._wait_for((p.Ready,), "load")
            self.llm = SimpleNamespace(device=ready.device, dtype=ready.dtype)
            if self._history:
                self._send(p.Restore(self._history))
                ack = self._wait_for((p.Ack,), "restore")
                if not ack.ok:
                    raise ServerError(ack.message)
        except ConnectionClosed as exc:
            self._drop()
            raise ServerError(describe_close(exc)) from None

    # -- AssistantLike -----------------------------------------------------------------------------------------
    def load(self, state: TaskState | None = None) -> None:
        """Connect to the server (its models are loaded already); :class:`ServerError` with the reason otherwise."""
        state = state or TaskState()
        self._closing = False
        state.check()
        state.progress(0.0, f"connecting to {self.url}")
        with self._lock:
            self._drop()
            self._ensure_session()
        state.progress(1.0, "connected")

    def history_json(self) -> dict:
        return copy.deepcopy(self._history)

    def clear(self) -> None:
        self._history = {}
        self._tell_server(p.Clear(), "clear")

    def restore(self, data: dict) -> None:
        self._history = copy.deepcopy(data or {})
        self._tell_server(p.Restore(self._history) if self._history else p.Clear(), "restore" if self._history else "clear")

    def _tell_server(self, message: p.Message, what: str) -> None:
        """Update the server's copy if connected; otherwise the next session gets the kept conversation."""
        with self._lock:
            if self._ws is None:
                return
            try:
                self._send(message)
                self._wait_for((p.Ack,), what)
            except (ConnectionClosed, ServerError) as exc:
                logger.warning("the server connection was lost (%s); the conversation is restored on reconnect", exc)
                self._drop()

    def shutdown(self) -> None:
        self._closing = True
        self._drop()
        self.llm = None

    close = shutdown

    def _start_turn(self, tid: int, request: TurnRequest) -> None:
        """Send the turn on a live session; a session the server closed meanwhile (idle) is reopened once."""
        for attempt in (1, 2):
            self._ensure_session()
            try:
                self._send_decoding()
                sent = upload_inputs(request, tid, self._send)  # the server reads no files of its own machine
                self._send(p.StartTurn(tid, sent))
                return
            except ConnectionClosed as exc:
                self._drop()
                if attempt == 2:
                    raise ServerError(describe_close(exc)) from None

    def _send_decoding(self) -> None:
        """The app's decoding settings (sampling, lengths, beams: nothing else) when this session lacks them; the
        server caps them at its own limits. Its answer (an ``Ack``) comes before the turn's events."""
        decode = getattr(self.settings, "decode", None)
        if decode is None:
            return
        data = {"decode": p.settings_to_json(decode)}
        if data != self._sent_decode:
            self._send(p.Configure(data))
            self._sent_decode = data

    def _output_folder(self) -> Path:
        """Where reply files from the server are kept: the app's output folder, else the user's data folder."""
        folder = getattr(self.settings, "output_dir", None)
        if folder:
            return Path(folder)
        return Path(user_data_dir("anygpt-desktop", appauthor=False)) / "served-replies"

    def turn(self, request: TurnRequest, state: TaskState | None = None) -> Iterator[Event]:
        """One turn on the server, its events as they arrive; always ends with TurnDone or TurnFailed."""
        state = state or TaskState()
        with self._lock:
            yield from self._turn(request, state)

    def _turn(self, request: TurnRequest, state: TaskState) -> Iterator[Event]:
        if self._closing:
            yield TurnFailed("stopped", cancelled=True)
            return
        self._next_turn += 1
        tid = self._next_turn
        try:
            self._start_turn(tid, request)
        except (ServerError, Cancelled) as exc:
            yield TurnFailed(f"{exc}; your conversation is kept", engine_lost=isinstance(exc, ServerError))
            return
        except InputFileUnreadable as exc:
            yield TurnFailed(f"{exc}; your conversation is kept")
            return
        received = ReceivedFiles(self._output_folder())
        ended = False
        before = copy.deepcopy(self._history)
        try:
            cancel_sent: float | None = None
            while True:
                if state.cancelled() and cancel_sent is None:
                    self._send(p.Cancel(tid))
                    cancel_sent = time.monotonic()
                if cancel_sent is not None and time.monotonic() - cancel_sent > self.options.cancel_timeout_s:
                    self._drop()  # the server cancels the turn of a closed session
                    ended = True
                    yield TurnFailed("stopped (the server did not answer; reconnecting on the next turn)", cancelled=True)
                    return
                msg = self._receive(POLL_S)
                if isinstance(msg, p.FileData):
                    try:
                        received.keep(msg)  # a reply file, named by the event that follows
                    except OSError as exc:  # a full disk here must not look like a lost connection
                        yield Notice(f"a reply file could not be saved in {received.folder} ({exc.strerror or exc})")
                elif isinstance(msg, p.Ack) and msg.what == "configure" and not msg.ok:
                    logger.warning("the server keeps its own decoding settings: %s", msg.message)
                elif isinstance(msg, p.TurnEvent) and msg.turn_id == tid:
                    final = isinstance(msg.event, (TurnDone, TurnFailed))
                    ended = ended or final
                    yield received.localize(msg.event)
                    if final:
                        return
                elif isinstance(msg, p.Error):
                    raise ServerError(msg.message)
        except (ConnectionClosed, OSError) as exc:
            self._drop()
            self._history = before
            ended = True
            if self._closing:
                yield TurnFailed("stopped", cancelled=True)
            else:
                yield TurnFailed(f"{describe_close(exc)}; your conversation is kept and the next turn reconnects",
                                 engine_lost=True)
        except (ServerError, p.ProtocolError) as exc:
            self._drop()
            self._history = before
            ended = True
            yield TurnFailed(f"the server could not run this turn ({exc}); your conversation is kept")
        finally:
            if not ended:  # the caller stopped listening: drop the session, the server cancels its turn
                self._drop()
