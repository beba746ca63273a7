"""The window's keyboard: Space is push-to-talk outside text boxes, Esc stops, Enter presses a focused button, Ctrl+V
in the text box pastes an image. Installed on the application, so it sees keys wherever the focus is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QAbstractButton, QApplication, QLineEdit, QPlainTextEdit, QTextEdit

if TYPE_CHECKING:
    from anygpt_desktop.app.main_window import MainWindow


class KeyFilter(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.space_held = False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        et = event.type()
        if et not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) or not isinstance(event, QKeyEvent):
            return False
        if QApplication.activeModalWidget() is not None:
            return False
        w = self.window
        focus = QApplication.focusWidget()
        key = event.key()
        if key == Qt.Key.Key_Escape and et == QEvent.Type.KeyPress:
            w.stop()
            return True
        if et == QEvent.Type.KeyPress and focus is w.input and event.matches(QKeySequence.StandardKey.Paste):
            return w.drops.paste_image()
        typing = isinstance(focus, (QLineEdit, QPlainTextEdit, QTextEdit))
        if key == Qt.Key.Key_Space and not typing and w.mic_button.isEnabled():
            if event.isAutoRepeat():
                return True
            if et == QEvent.Type.KeyPress and not self.space_held:
                self.space_held = True
                w.voice.press()
            elif et == QEvent.Type.KeyRelease and self.space_held:
                self.space_held = False
                w.voice.release()
            return True
        if (key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and et == QEvent.Type.KeyPress
                and isinstance(focus, QAbstractButton) and focus.window() is w):
            focus.click()
            return True
        return False
