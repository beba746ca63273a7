"""Messages the user sees where they look: a stack of notices between the conversation and the message box.

An error stays until the user dismisses it (or the same error is replaced); a confirmation fades after a few seconds.
Each notice says what happened in the user's terms and may carry one button that fixes it ("Open Settings › Devices").
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

MAX_NOTICES = 3


class Notice(QFrame):
    """One message: its text, an optional fixing action and a Dismiss button."""

    def __init__(
        self, text: str, error: bool, action: tuple[str, Callable[[], None]] | None, parent: QWidget,
        on_dismiss: Callable[[Notice], None],
    ) -> None:
        super().__init__(parent)
        self._on_dismiss = on_dismiss
        self.text = text
        self.error = error
        self.setObjectName("notice_error" if error else "notice_info")
        self.setAccessibleName(("Error: " if error else "Message: ") + text)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Error message" if error else "Message")
        row.addWidget(self.label, 1)
        self.action_button: QPushButton | None = None
        if action is not None:
            caption, fn = action
            self.action_button = QPushButton(caption)
            self.action_button.setAccessibleName(caption)
            self.action_button.clicked.connect(fn)
            self.action_button.clicked.connect(self.dismiss)
            row.addWidget(self.action_button)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setAccessibleName("Dismiss this message")
        self.dismiss_button.clicked.connect(self.dismiss)
        row.addWidget(self.dismiss_button)

    def dismiss(self) -> None:
        self._on_dismiss(self)
        self.hide()
        self.deleteLater()  # kept parented: Qt deletes it in the GUI thread, never a Python collection elsewhere


class NoticeArea(QWidget):
    """The stack of notices, newest at the bottom (next to the message box)."""

    sig_changed = Signal()  # a notice came or went (the window's tab order follows)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Messages")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.notices: list[Notice] = []

    def show_error(self, text: str, action: tuple[str, Callable[[], None]] | None = None) -> Notice:
        """An error that stays until dismissed."""
        return self._add(text, True, action, 0.0)

    def show_info(self, text: str, seconds: float = 5.0, action: tuple[str, Callable[[], None]] | None = None) -> Notice:
        """A confirmation or a gentle note that goes away by itself after ``seconds``."""
        return self._add(text, False, action, seconds)

    def focus_widgets(self) -> list[QWidget]:
        return [b for n in self.notices for b in (n.action_button, n.dismiss_button) if b is not None]

    def visible_texts(self) -> list[str]:
        return [n.text for n in self.notices if n.isVisible()]

    def clear(self) -> None:
        for n in list(self.notices):
            n.dismiss()

    def _add(self, text: str, error: bool, action: tuple[str, Callable[[], None]] | None, seconds: float) -> Notice:
        for old in [n for n in self.notices if n.text == text]:
            old.dismiss()  # the same message again replaces the old one
        notice = Notice(text, error, action, self, self._forget)
        self.notices.append(notice)
        self._layout.addWidget(notice)
        while len(self.notices) > MAX_NOTICES:
            self.notices[0].dismiss()
        if seconds > 0:
            QTimer.singleShot(int(seconds * 1000), notice, notice.dismiss)
        notice.show()
        self.sig_changed.emit()
        return notice

    def _forget(self, notice: Notice) -> None:
        if notice in self.notices:
            self.notices.remove(notice)
            self._layout.removeWidget(notice)
            self.sig_changed.emit()
