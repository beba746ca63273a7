"""The input area under the conversation: the attachment line and the row with microphone, text box and buttons."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QVBoxLayout, QWidget

from anygpt_desktop.app.settings import TalkMode
from anygpt_desktop.app.widgets import button
from anygpt_desktop.session.kinds import Attachment, OutputModality

MODALITIES = [("Auto", "auto"), ("Text", "text"), ("Speech", "speech"), ("Image", "image"), ("Music", "music")]
TALK_MODES = [("Hold", "hold"), ("Click on/off", "toggle")]
ATTACHMENT_NAMES = {"image": "🖼", "music": "🎵 music", "voice": "🗣 voice", "speech": "🎤 question"}


class Composer(QWidget):
    """Widgets only; the window connects them."""

    def __init__(self, talk_mode: TalkMode, modality: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        attach_row = QHBoxLayout()
        self.attach_label = QLabel("")
        self.attach_label.setAccessibleName("Attachments")
        self.clear_attach_button = button("Remove attachments", "Remove all attached files")
        self.clear_attach_button.setVisible(False)
        attach_row.addWidget(self.attach_label, 1)
        attach_row.addWidget(self.clear_attach_button)
        self.mic_button = button("Hold to talk", "Microphone: hold to talk (or hold Space)", "mic")
        self.mic_button.setAutoRepeat(False)
        self.talk_mode = QComboBox()
        for label, value in TALK_MODES:
            self.talk_mode.addItem(label, value)
        self.talk_mode.setAccessibleName("Talk mode")
        self.talk_mode.setToolTip("Hold the button (or Space) while you speak, or click once to start and once to stop")
        self.talk_mode.setCurrentIndex(max(0, self.talk_mode.findData(talk_mode)))
        self.level = QProgressBar()
        self.level.setRange(0, 60)
        self.level.setOrientation(Qt.Orientation.Vertical)
        self.level.setTextVisible(False)
        self.level.setFixedSize(8, 28)
        self.level.setAccessibleName("Input level")
        self.input = QLineEdit()
        self.input.setPlaceholderText("Type a message…")
        self.input.setToolTip("Enter sends, Esc stops the reply, Ctrl+V pastes an image")
        self.input.setAccessibleName("Message text")
        self.attach_button = button("Attach…", "Attach an image or audio file", "attach")
        self.modality = QComboBox()
        for label, value in MODALITIES:
            self.modality.addItem(label, value)
        self.modality.setAccessibleName("Reply as")
        self.modality.setToolTip("What the reply should be")
        self.modality.setCurrentIndex(max(0, self.modality.findData(modality)))
        self.hands_free = QCheckBox("Hands-free")
        self.hands_free.setAccessibleName("Hands-free listening")
        self.send_button = button("Send", "Send the message", "send")
        self.stop_button = button("Stop", "Stop speaking and generating (Esc)", "stop")
        self.stop_button.setEnabled(False)
        row = QHBoxLayout()
        for w in (self.mic_button, self.talk_mode, self.level):
            row.addWidget(w)
        row.addWidget(self.input, 1)
        for w in (self.attach_button, self.modality, self.hands_free, self.send_button, self.stop_button):
            row.addWidget(w)
        lay.addLayout(attach_row)
        lay.addLayout(row)

    @property
    def output_modality(self) -> OutputModality | None:
        """The chosen reply modality; None for "Auto"."""
        value = self.modality.currentData()
        return None if value == "auto" else value

    @property
    def talk(self) -> TalkMode:
        return self.talk_mode.currentData()

    @property
    def toggle_talk(self) -> bool:
        return self.talk == "toggle"

    def set_ready(self, ready: bool, hands_free: bool) -> None:
        self.send_button.setEnabled(ready)
        self.mic_button.setEnabled(ready and not hands_free)
        self.hands_free.setEnabled(ready)

    def show_attachments(self, attachments: Sequence[Attachment]) -> None:
        text = "  ".join(f"{ATTACHMENT_NAMES[a.kind.value]} {a.path.name}" for a in attachments)
        self.attach_label.setText(f"Attached: {text}" if text else "")
        self.clear_attach_button.setVisible(bool(attachments))

    def show_recording(self, on: bool) -> None:
        if self.toggle_talk:
            self.mic_button.setText("● Click to stop" if on else "Click to talk")
            self.mic_button.setAccessibleName("Microphone: click to start talking, click again to stop (or press Space)")
        else:
            self.mic_button.setText("● Recording…" if on else "Hold to talk")
            self.mic_button.setAccessibleName("Microphone: hold to talk (or hold Space)")
        self.mic_button.setToolTip(self.mic_button.accessibleName())
        self.mic_button.setDown(on and not self.toggle_talk)

    def show_hands_free(self, on: bool, ready: bool) -> None:
        self.hands_free.blockSignals(True)
        self.hands_free.setChecked(on)
        self.hands_free.blockSignals(False)
        self.mic_button.setEnabled(not on and ready)
        self.talk_mode.setEnabled(not on)

    def show_level(self, dbfs: float) -> None:
        self.level.setValue(int(max(0.0, dbfs + 60.0)))
