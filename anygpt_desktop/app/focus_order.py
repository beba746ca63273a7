"""Tab order for the whole window, in visual order: the sidebar (top to bottom), then the main column (the models
banner, the conversation and its turns, the notices, the composer), then the status bar.

Widgets added later (a turn, an audio row, a notice, a chip) join Qt's focus chain at its end; ``FocusOrder`` puts them
back in place after each such change (coalesced, the next time the event loop runs).
"""

from __future__ import annotations

from typing import Iterable, Protocol

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget

from anygpt_desktop.session import events as ev

REORDER_EVENTS = (ev.ConversationShown, ev.UserTurnAdded, ev.ImageAdded, ev.MusicAdded, ev.TurnEnded,
                  ev.AttachmentsChanged)  # session events that add interactive widgets


class FocusPart(Protocol):
    def focus_widgets(self) -> list[QWidget]:
        """Its interactive widgets in visual order (hidden ones too: Tab skips them)."""
        ...


def chain(widgets: Iterable[QWidget]) -> None:
    """Make Tab visit ``widgets`` in this order."""
    order = list(widgets)
    for first, second in zip(order, order[1:]):
        QWidget.setTabOrder(first, second)


class FocusOrder(QObject):
    """Keeps the window's tab order: ``parts`` in visual order, each listing its own widgets."""

    def __init__(self, parent: QObject, parts: list[FocusPart]) -> None:
        super().__init__(parent)
        self.parts = parts
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.apply)
        self.apply()

    def widgets(self) -> list[QWidget]:
        return [w for part in self.parts for w in part.focus_widgets()]

    def apply(self) -> None:
        chain(self.widgets())

    def schedule(self) -> None:
        """Reorder soon (many changes in a row cost one pass)."""
        self._timer.start()
