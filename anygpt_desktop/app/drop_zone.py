"""Files dropped on (or pasted into) the window become attachments; while a file is dragged over the window the
conversation is highlighted with a "Drop to attach" sign."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QLabel

from anygpt_desktop.session.chat import file_kind
from anygpt_desktop.session.kinds import AttachmentKind

if TYPE_CHECKING:
    from anygpt_desktop.app.main_window import MainWindow


class DropZone(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.sign = QLabel("Drop to attach: images, music, a spoken question or a reply voice", window.view)
        self.sign.setObjectName("drop_sign")
        self.sign.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.sign.setAccessibleName("Drop zone")
        self.sign.setVisible(False)
        self.active = False

    def set_active(self, on: bool) -> None:
        self.active = on
        if on:
            self.sign.setGeometry(self.window.view.rect().adjusted(8, 8, -8, -8))
            self.sign.raise_()
        self.sign.setVisible(on)

    def enter(self, event: QDragEnterEvent) -> None:
        if any(file_kind(Path(u.toLocalFile())) for u in event.mimeData().urls()):
            event.acceptProposedAction()
            self.set_active(True)

    def drop(self, event: QDropEvent) -> None:
        self.set_active(False)
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.window.add_file(Path(url.toLocalFile()))
        event.acceptProposedAction()

    def paste_image(self) -> bool:
        """Ctrl+V in the message box with an image on the clipboard: attach it."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None or not mime.hasImage():
            return False
        image = QGuiApplication.clipboard().image()
        path = self.window.session.tmp_dir / f"pasted_{time.time_ns()}.png"
        if image.isNull() or not image.save(str(path)):
            return False
        self.window.session.attach(path, AttachmentKind.IMAGE)
        return True
