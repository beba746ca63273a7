"""The first-run guide: where the models go, what the download needs against the free disk, and the two ways on
(download now, with progress in the model manager, or try the demo first)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget,
)

from anygpt_desktop.app.model_manager import free_space, human_size
from anygpt_desktop.engine.model_manifest import load_manifest


def required_download_bytes() -> int:
    """What the required components take to download (the optional base model not counted)."""
    manifest = load_manifest()
    return sum(c.approx_bytes for c in manifest.components if c.required)


class FirstRunGuide(QDialog):
    """Emits what the user chose; the window acts on it (no model is touched here)."""

    sig_download_requested = Signal(str)  # the models folder
    sig_demo_requested = Signal()
    sig_server_requested = Signal()  # the models run on a team's server (Settings › Engine)

    def __init__(self, models_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to AnyGPT Desktop")
        self.setAccessibleName("First-run guide")
        self.needed = required_download_bytes()
        lay = QVBoxLayout(self)
        intro = QLabel(
            "AnyGPT Desktop runs the AnyGPT model on this computer: you talk or type, it answers in text, speech, "
            "pictures or music, and nothing leaves the computer. Its model files are downloaded once.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        lay.addWidget(QLabel("<b>1.</b> Where the models go:"))
        row = QHBoxLayout()
        self.folder = QLineEdit(str(models_dir))
        self.folder.setReadOnly(True)
        self.folder.setAccessibleName("Models folder")
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setAccessibleName("Choose the models folder")
        self.choose_button.clicked.connect(self.choose_folder)
        row.addWidget(self.folder, 1)
        row.addWidget(self.choose_button)
        lay.addLayout(row)
        lay.addWidget(QLabel("<b>2.</b> What the download needs:"))
        self.space_label = QLabel()
        self.space_label.setWordWrap(True)
        self.space_label.setAccessibleName("Download size and free space")
        lay.addWidget(self.space_label)
        lay.addWidget(QLabel("<b>3.</b> Start:"))
        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download now")
        self.download_button.setAccessibleName("Download the models now (progress in the model manager)")
        self.demo_button = QPushButton("Try the demo first")
        self.demo_button.setAccessibleName("Try the app with tiny random demo models")
        self.later_button = QPushButton("Later")
        self.later_button.setAccessibleName("Close the guide")
        for b in (self.download_button, self.demo_button, self.later_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        server_row = QHBoxLayout()
        server_note = QLabel("Or, in a team with an AnyGPT server, use it instead (nothing to download):")
        server_note.setWordWrap(True)
        self.server_button = QPushButton("Use a server…")
        self.server_button.setAccessibleName("Use a team's AnyGPT server instead of downloading (Settings › Engine)")
        server_row.addWidget(server_note, 1)
        server_row.addWidget(self.server_button)
        lay.addLayout(server_row)
        self.server_button.clicked.connect(self._server)
        self.download_button.clicked.connect(self._download)
        self.demo_button.clicked.connect(self._demo)
        self.later_button.clicked.connect(self.reject)
        self.later_button.setDefault(True)  # nothing starts by accident
        self.resize(560, 300)
        self.show_space()

    @property
    def models_dir(self) -> Path:
        return Path(self.folder.text())

    def show_space(self) -> None:
        free = free_space(self.models_dir)
        enough = free is None or free >= self.needed
        text = f"Download: about {human_size(self.needed)} · free space on that disk: {human_size(free)}."
        if not enough:
            text += " Not enough room: choose a folder on a disk with more free space."
        self.space_label.setText(text)
        self.download_button.setEnabled(enough)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the models", str(self.models_dir))
        if folder:
            self.folder.setText(folder)
            self.show_space()

    def _download(self) -> None:
        self.sig_download_requested.emit(str(self.models_dir))
        self.accept()

    def _demo(self) -> None:
        self.sig_demo_requested.emit()
        self.accept()

    def _server(self) -> None:
        self.sig_server_requested.emit()
        self.accept()
