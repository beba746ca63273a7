"""``anygpt-desktop serve``: the engine's turn protocol over WebSocket (the ``websockets`` asyncio server).

Each binary WebSocket message is one frame of ``engine_process/protocol.py``. A connection is a session with its own
conversation (see scheduler.py). Security: a bearer token checked at the handshake with ``hmac.compare_digest``
(401 otherwise); loopback only unless ``allow_remote`` and TLS; ``max_message_bytes`` (a larger message closes the
connection with code 1009 "message too big"); the handshake must finish within ``open_timeout_s`` and a session that
sends nothing for ``idle_timeout_s`` while no turn of it runs is closed (slow or forgotten connections do not pile up).
A client that disconnects mid-turn has its turn cancelled; the engine takes the next session's turn.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import itertools
import logging
import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Callable

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from anygpt_desktop.engine.events import TurnFailed
from anygpt_desktop.engine_process import protocol as p
from anygpt_desktop.engine.decode_settings import DecodeSettings
from anygpt_desktop.serve.files import FileRefused, SessionUploads, send_output_file
from anygpt_desktop.serve.scheduler import Conversation, TurnJob, TurnScheduler
from anygpt_desktop.serve.session_decoding import DecodingRefused, session_decode

logger = logging.getLogger(__name__)

IDLE_CLOSE_CODE = 1000
IDLE_CLOSE_REASON = "closed: no request for {s:.0f} s"


class ServeError(ValueError):
    """A configuration the server refuses to run with; the message says why in the operator's terms."""


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    token: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allow_remote: bool = False
    max_message_bytes: int = 16 * 2**20  # one request: 16 MiB holds ~4 minutes of 16 kHz float32 speech
    open_timeout_s: float = 10.0
    idle_timeout_s: float = 300.0


def read_token(path: Path) -> str:
    """The bearer token in ``path`` (first line, stripped); at least 16 characters."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip().splitlines()[0].strip()
    except (OSError, IndexError) as exc:
        raise ServeError(f"cannot read a token from {path}: {exc}") from None
    if len(token) < 16:
        raise ServeError(f"the token in {path} is too short (use at least 16 random characters, e.g. `openssl rand -hex 32`)")
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_options(options: ServeOptions) -> ssl.SSLContext | None:
    """Validate ``options``; the server's TLS context (None: plain ``ws://``)."""
    if not options.token:
        raise ServeError("a token is required (--token-file)")
    if (options.tls_cert is None) != (options.tls_key is None):
        raise ServeError("TLS needs both --tls-cert and --tls-key")
    context = None
    if options.tls_cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(str(options.tls_cert), str(options.tls_key))
        except (OSError, ssl.SSLError) as exc:
            raise ServeError(f"cannot load the TLS certificate/key: {exc}") from None
    if not is_loopback(options.host):
        if not options.allow_remote:
            raise ServeError(f"{options.host} is not a loopback address: serve on 127.0.0.1 behind a TLS reverse proxy, "
                             "or pass --allow-remote with --tls-cert/--tls-key")
        if context is None:
            raise ServeError("--allow-remote needs TLS (--tls-cert/--tls-key): the token and the conversation must not "
                             "cross the network in clear text")
    return context


@dataclass
class _Session:
    """What the server keeps for one connection."""

    conversation: Conversation
    uploads: SessionUploads
    decode: Any = None  # its own DecodeSettings (capped by the server's), from a Configure; None: the server's


def _with_files(emit: Callable[[p.Message], None]) -> Callable[[p.Message], None]:
    """``emit`` that sends a reply file's bytes before the event naming it (the client is on another machine)."""

    def emit_turn(message: p.Message) -> None:
        if isinstance(message, p.TurnEvent):
            message = p.TurnEvent(message.turn_id, send_output_file(message.event, emit))
        emit(message)

    return emit_turn


class EngineServer:
    """Serves one loaded assistant to many WebSocket sessions."""

    def __init__(self, assistant: Any, options: ServeOptions) -> None:
        self.options = options
        self.ssl_context = check_options(options)
        self.scheduler = TurnScheduler(assistant)
        self.llm_device = str(getattr(getattr(assistant, "llm", None), "device", "cpu"))
        self.llm_dtype = str(getattr(getattr(assistant, "llm", None), "dtype", "")).replace("torch.", "")
        self._ids = itertools.count(1)
        self._expected = f"Bearer {options.token}".encode()
        self.sessions = 0
        self.uploads_root: Path | None = None  # the sessions' uploaded files, while serving
        self.server_decode = getattr(getattr(assistant, "settings", None), "decode", None) or DecodeSettings()

    # -- the handshake: bearer token -------------------------------------------------------------------------------
    def _authorize(self, connection: ServerConnection, request: Any) -> Any:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, self._expected):
            logger.warning("refused a connection from %s: missing or wrong token", connection.remote_address)
            return connection.respond(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required\n")
        return None

    # -- one session -------------------------------------------------------------------------------------------
    async def _session(self, ws: ServerConnection) -> None:
        sid = next(self._ids)
        self.sessions += 1
        loop = asyncio.get_running_loop()
        outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        session = _Session(Conversation(), SessionUploads(self.uploads_root))
        open_ = True

        def emit(message: p.Message) -> None:  # any thread
            if open_:
                loop.call_soon_threadsafe(outbox.put_nowait, p.encode(message))

        async def sender() -> None:
            try:
                while (frame := await outbox.get()) is not None:
                    await ws.send(frame)
            except ConnectionClosed:
                pass  # the receiving side notices and ends the session

        send_task = asyncio.create_task(sender())
        logger.info("session %d opened from %s", sid, ws.remote_address)
        emit(p.Hello(os.getpid()))
        try:
            while True:
                try:  # cancelling recv() loses no data (websockets documents it)
                    data = await asyncio.wait_for(ws.recv(), timeout=self.options.idle_timeout_s)
                except asyncio.TimeoutError:
                    if self.scheduler.busy(sid):
                        continue  # the session's turn is queued or running: the client is waiting, not idle
                    await ws.close(IDLE_CLOSE_CODE, IDLE_CLOSE_REASON.format(s=self.options.idle_timeout_s))
                    break
                if isinstance(data, str):
                    emit(p.Error("send binary engine frames, not text"))
                    continue
                try:
                    message = p.decode(data)
                except p.ProtocolError as exc:
                    emit(p.Error(f"the server could not read a message: {exc}"))
                    continue
                if isinstance(message, p.Shutdown):
                    break
                self._handle(sid, message, session, emit)
        except ConnectionClosed:
            pass
        finally:
            open_ = False
            self.scheduler.cancel(sid)  # a turn of a closed session stops between tokens; the slot goes on
            outbox.put_nowait(None)
            send_task.cancel()
            session.uploads.close()  # a turn of this session that still runs is stopping and reports to no one
            logger.info("session %d closed", sid)

    def _handle(self, sid: int, message: p.Message, session: _Session, emit: Callable[[p.Message], None]) -> None:
        conversation, uploads = session.conversation, session.uploads
        if isinstance(message, p.Load):  # the models are loaded when the server starts
            emit(p.Ready(self.llm_device, self.llm_dtype, 0.0))
        elif isinstance(message, p.FileData):
            try:
                uploads.store(message)
            except (FileRefused, OSError) as exc:
                uploads.refused = str(exc)  # the turn that names it fails with this reason
        elif isinstance(message, p.StartTurn):
            try:
                if uploads.refused:
                    raise FileRefused(uploads.refused)
                if not self.scheduler.busy(sid):
                    uploads.keep_only(message.request)  # the files of earlier turns are not needed again
                request = uploads.resolve(message.request)
            except FileRefused as exc:
                uploads.refused = ""
                emit(p.TurnEvent(message.turn_id, TurnFailed(str(exc))))
                return
            job = TurnJob(sid, message.turn_id, request, conversation, _with_files(emit), decode=session.decode)
            if not self.scheduler.submit(job):
                emit(p.TurnEvent(message.turn_id, TurnFailed("this session already has a turn running")))
        elif isinstance(message, p.Cancel):
            self.scheduler.cancel(sid, message.turn_id)
        elif isinstance(message, (p.Clear, p.Restore)):
            what = "clear" if isinstance(message, p.Clear) else "restore"
            if self.scheduler.busy(sid):
                emit(p.Ack(what, False, "a turn is running"))
                return
            conversation.data = dict(message.data) if isinstance(message, p.Restore) else {}
            emit(p.History(conversation.data))
            emit(p.Ack(what, True, ""))
        elif isinstance(message, p.Configure):
            try:
                session.decode = session_decode(message.settings, self.server_decode)
            except DecodingRefused as exc:
                emit(p.Ack("configure", False, str(exc)))
                return
            emit(p.Ack("configure", True, ""))
        else:
            emit(p.Error(f"the server does not take {type(message).__name__} messages"))

    # -- running -----------------------------------------------------------------------------------------------
    async def run(self, started: Callable[[str], None] | None = None, stop: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set (or for ever); ``started`` gets the URL once listening."""
        self.scheduler.start()
        self.uploads_root = Path(tempfile.mkdtemp(prefix="anygpt-serve-uploads-"))
        try:
            async with serve(self._session, self.options.host, self.options.port, ssl=self.ssl_context,
                             process_request=self._authorize, max_size=self.options.max_message_bytes,
                             open_timeout=self.options.open_timeout_s, ping_interval=20, ping_timeout=60,
                             compression=None) as server:
                port = server.sockets[0].getsockname()[1]
                url = f"{'wss' if self.ssl_context else 'ws'}://{self.options.host}:{port}"
                logger.info("serving the engine on %s", url)
                if started is not None:
                    started(url)
                await (stop.wait() if stop is not None else asyncio.Future())
        finally:
            self.scheduler.stop()
            shutil.rmtree(self.uploads_root, ignore_errors=True)
