"""How frames travel between the GUI and the engine: one small interface, two implementations.

:class:`PipeTransport` wraps a ``multiprocessing`` connection (a socket pair under the ``spawn`` context, each frame
length-prefixed by the connection); :class:`SocketTransport` frames a connected stream socket itself (a little-endian
u32 length before each frame), so the same protocol can later run over TCP to a remote engine. Neither knows Qt.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
from multiprocessing.connection import Connection
from typing import Protocol

MAX_FRAME_BYTES = 512 * 2**20
_LENGTH = struct.Struct("<I")


class TransportClosed(ConnectionError):
    """The other side is gone (it exited, was killed, or closed its end)."""


class Transport(Protocol):
    """A bidirectional channel of whole frames. ``send`` may be called from several threads."""

    def send(self, frame: bytes) -> None: ...

    def receive(self, timeout: float | None = None) -> bytes | None:
        """The next frame; None if none arrived within ``timeout`` seconds (None: wait for ever)."""
        ...

    def close(self) -> None: ...


class PipeTransport:
    """A ``multiprocessing.connection.Connection`` (``Pipe(duplex=True)``) as a transport."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._send_lock = threading.Lock()

    def send(self, frame: bytes) -> None:
        try:
            with self._send_lock:
                self._conn.send_bytes(frame)
        except (OSError, EOFError, ValueError) as exc:
            raise TransportClosed(f"the connection is closed ({exc})") from exc

    def receive(self, timeout: float | None = None) -> bytes | None:
        try:
            if not self._conn.poll(timeout):
                return None
            return self._conn.recv_bytes(MAX_FRAME_BYTES)
        except (OSError, EOFError, ValueError) as exc:
            raise TransportClosed(f"the connection is closed ({type(exc).__name__})") from exc

    def close(self) -> None:
        self._conn.close()


class SocketTransport:
    """A connected stream socket (a socket pair now, TCP later) with u32 length-prefixed frames."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._send_lock = threading.Lock()
        self._buffer = bytearray()

    def send(self, frame: bytes) -> None:
        if len(frame) > MAX_FRAME_BYTES:
            raise ValueError(f"frame of {len(frame)} bytes is over the {MAX_FRAME_BYTES}-byte limit")
        try:
            with self._send_lock:
                self._sock.sendall(_LENGTH.pack(len(frame)) + frame)
        except OSError as exc:
            raise TransportClosed(f"the connection is closed ({exc})") from exc

    def _frame_in_buffer(self) -> bytes | None:
        if len(self._buffer) < _LENGTH.size:
            return None
        (length,) = _LENGTH.unpack_from(self._buffer)
        if length > MAX_FRAME_BYTES:
            raise TransportClosed(f"the peer announced a frame of {length} bytes (limit {MAX_FRAME_BYTES})")
        end = _LENGTH.size + length
        if len(self._buffer) < end:
            return None
        frame = bytes(self._buffer[_LENGTH.size : end])
        del self._buffer[:end]
        return frame

    def receive(self, timeout: float | None = None) -> bytes | None:
        """Not thread-safe: one reader."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            frame = self._frame_in_buffer()
            if frame is not None:
                return frame
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                readable, _, _ = select.select([self._sock], [], [], wait)
            except (OSError, ValueError) as exc:
                raise TransportClosed(f"the connection is closed ({exc})") from exc
            if not readable:
                return None
            try:
                block = self._sock.recv(1 << 20)
            except OSError as exc:
                raise TransportClosed(f"the connection is closed ({exc})") from exc
            if not block:
                raise TransportClosed("the peer closed the connection")
            self._buffer.extend(block)

    def close(self) -> None:
        self._sock.close()
