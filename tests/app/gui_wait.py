"""Waiting for a signal that another thread emits.

pytest-qt's ``waitSignal`` connects the signal to a plain Python method (not a QObject's), which Qt runs in the
emitting thread; it then stops its timer there ("Timers cannot be stopped from another thread"). ``wait_signal``
relays the signal through a QObject living in the GUI thread first.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from PySide6.QtCore import QObject, Signal


class _Relay(QObject):
    fired = Signal(list)

    def __init__(self, signal: Any) -> None:
        super().__init__()
        self._signal = signal
        signal.connect(self.on_signal)  # a method of a GUI-thread QObject: queued into the GUI thread

    def on_signal(self, *args: Any) -> None:
        self.fired.emit(list(args))

    def close(self) -> None:
        self._signal.disconnect(self.on_signal)


class Received:
    args: list[Any] = []


@contextmanager
def wait_signal(qtbot: Any, signal: Any, timeout: int = 5000) -> Iterator[Received]:
    """Like ``qtbot.waitSignal(signal)`` for a cross-thread signal; ``.args`` holds the arguments afterwards."""
    relay = _Relay(signal)
    got = Received()
    try:
        with qtbot.waitSignal(relay.fired, timeout=timeout) as blocker:
            yield got
        got.args = blocker.args[0]
    finally:
        relay.close()
