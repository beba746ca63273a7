"""The multi-line message box: Enter sends, Shift+Enter starts a new line; it grows with its text up to a few lines."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QPlainTextEdit, QSizePolicy, QWidget

MAX_LINES = 6


class MessageEdit(QPlainTextEdit):
    """A ``QPlainTextEdit`` with the few ``QLineEdit`` calls the window uses (``text``, ``setText``)."""

    sig_submit = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().contentsChanged.connect(self._fit_height)
        self._fit_height()

    def text(self) -> str:
        return self.toPlainText()

    def setText(self, text: str) -> None:  # the QLineEdit name
        self.setPlainText(text)
        self.moveCursor(self.textCursor().MoveOperation.End)

    def edit(self, text: str) -> None:
        """Put ``text`` here to be edited (a past message's Edit)."""
        self.setText(text)
        self.setFocus()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.AltModifier):
            self.sig_submit.emit()
            return
        if enter:  # Shift+Enter: a new line, never a paragraph separator
            self.insertPlainText("\n")
            return
        super().keyPressEvent(event)

    def _fit_height(self) -> None:
        line = self.fontMetrics().lineSpacing()
        lines = min(MAX_LINES, max(2, int(self.document().size().height())))
        margins = self.contentsMargins().top() + self.contentsMargins().bottom()
        self.setFixedHeight(lines * line + int(2 * self.document().documentMargin()) + margins + 2)
