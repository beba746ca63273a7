"""The one cancel/progress contract of the package (Orange3's TaskState habit): stdlib only, no threads, no Qt.

Every long job (decode, speech stream, unCLIP, downloads, benchmarks) takes a :class:`CancelToken` and raises
:class:`Cancelled` (or simply stops) when ``cancelled()`` turns true. :class:`TaskState` is the implementation the
app and the CLIs pass in.
"""

from __future__ import annotations

import threading
from typing import Callable, Protocol, runtime_checkable


class Cancelled(Exception):
    """Raised inside a job when its cancel token was cancelled."""


@runtime_checkable
class CancelToken(Protocol):
    """What a long job reads and reports: a cancelled flag polled between steps, and progress in [0, 1]."""

    def cancelled(self) -> bool: ...

    def progress(self, fraction: float, message: str = "") -> None: ...


class TaskState:
    """A thread-safe :class:`CancelToken`: ``cancel()`` from any thread, ``progress`` forwarded to a callback."""

    def __init__(self, on_progress: Callable[[float, str], None] | None = None) -> None:
        self._event = threading.Event()
        self._on_progress = on_progress
        self.last_progress = 0.0

    def cancel(self) -> None:
        self._event.set()

    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancelled."""
        if self._event.is_set():
            raise Cancelled()

    def progress(self, fraction: float, message: str = "") -> None:
        self.last_progress = max(0.0, min(1.0, fraction))
        if self._on_progress is not None:
            self._on_progress(self.last_progress, message)


def check(token: CancelToken | None) -> None:
    """Raise :class:`Cancelled` when ``token`` (may be None) was cancelled."""
    if token is not None and token.cancelled():
        raise Cancelled()
