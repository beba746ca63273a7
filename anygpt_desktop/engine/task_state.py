"""The cancel/progress contract every long job takes (Orange3's TaskState habit): no threads, no Qt."""

from __future__ import annotations

import threading
from typing import Callable


class Cancelled(Exception):
    """Raised inside a job when its state was cancelled."""


class TaskState:
    """Passed into long jobs: ``cancelled()`` is polled between steps, ``progress(x)`` reports 0..1."""

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
