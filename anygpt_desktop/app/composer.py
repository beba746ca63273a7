"""The input area under the conversation: attachment chips, the large microphone with its state, the multi-line
message box, Send and Stop, and the labelled mode controls ("Talk:", "Reply as:")."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QVBoxLayout, QWidget,
)

from anygpt_desktop.app.controls import Controls, Phase
from anygpt_desktop.app.message_edit import MessageEdit
from anygpt_desktop.app.settings import TalkMode
from anygpt_desktop.app.widgets import button, icon
from anygpt_desktop.session.kinds import Attachment, OutputModality

MODALITIES = [("Auto", "auto"), ("Text", "text"), ("Speech", "speech"), ("Image", "image"), ("Music", "music")]
TALK_MODES = [("Hold to talk", "hold"), ("Click on/off", "toggle")]
CHIP_KINDS = {"image": "Image", "music": "Music", "voice": "Reply voice", "speech": "Spoken question"}

PHASE_TEXT = {
    Phase.LOADING: "Loading models…",
    Phase.NO_MODELS: "Models not ready",
    Phase.IDLE: "",  # the talk mode's own words (hold / click)
    Phase.LISTENING: "Listening…",
    Phase.HEARING: "Hearing you",
    Phase.THINKING: "Thinking…",
    Phase.SPEAKING: "Speaking (Esc interrupts)",
}


class AttachmentChip(QFrame):
    """One attached file: its kind, its name and a Remove button."""

    sig_remove = Signal(Path)

    def __init__(self, attachment: Attachment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.attachment = attachment
        self.setObjectName("chip")
        kind = CHIP_KINDS[attachment.kind.value]
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 2, 2, 2)
        self.label = QLabel(f"{kind}: {attachment.path.name}")
        self.label.setAccessibleName(f"Attached {kind.lower()}")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("chip_remove")
        self.remove_button.setAccessibleName(f"Remove {attachment.path.name}")
        self.remove_button.clicked.connect(lambda: self.sig_remove.emit(attachment.path))
        row.addWidget(self.label)
        row.addWidget(self.remove_button)


class Composer(QWidget):
    """Widgets only; the window connects them and applies :class:`~anygpt_desktop.app.controls.Controls`."""

    sig_detach = Signal(Path)

    def __init__(self, talk_mode: TalkMode, modality: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.phase = Phase.NO_MODELS
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.chips_row = QHBoxLayout()
        self.chips_row.addStretch(1)
        self.clear_attach_button = button("Remove all", "Remove all attached files")
        self.clear_attach_button.setVisible(False)
        self.chips_row.addWidget(self.clear_attach_button)
        self.chips: list[AttachmentChip] = []

        self.mic_button = QPushButton()
        self.mic_button.setObjectName("mic")
        self.mic_button.setIcon(icon("mic"))
        self.mic_button.setIconSize(QSize(28, 28))
        self.mic_button.setMinimumSize(64, 64)
        self.mic_button.setAutoRepeat(False)
        self.mic_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.phase_label = QLabel()
        self.phase_label.setObjectName("phase")
        self.phase_label.setWordWrap(True)
        self.phase_label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.phase_label.setFixedWidth(120)
        self.phase_label.setMinimumHeight(2 * self.phase_label.fontMetrics().lineSpacing() + 4)  # two lines, no overlap
        self.phase_label.setAccessibleName("Voice state")
        self.level = QProgressBar()
        self.level.setObjectName("level")
        self.level.setRange(0, 60)
        self.level.setTextVisible(False)
        self.level.setFixedSize(64, 6)
        self.level.setAccessibleName("Input level")
        mic_col = QVBoxLayout()
        mic_col.setSpacing(2)
        mic_col.addWidget(self.mic_button, 0, Qt.AlignmentFlag.AlignHCenter)
        mic_col.addWidget(self.level, 0, Qt.AlignmentFlag.AlignHCenter)
        mic_col.addWidget(self.phase_label, 0, Qt.AlignmentFlag.AlignHCenter)

        self.input = MessageEdit()
        self.input.setPlaceholderText("Type a message (Enter sends, Shift+Enter: new line)")
        self.input.setToolTip("Enter sends, Shift+Enter starts a new line, Esc stops the reply, Ctrl+V pastes an image")
        self.input.setAccessibleName("Message text")
        self.send_button = button("Send", "Send the message (Enter)", "send")
        self.stop_button = button("Stop", "Stop speaking and generating (Esc)", "stop")
        self.stop_button.setEnabled(False)
        actions = QVBoxLayout()
        actions.addWidget(self.send_button)
        actions.addWidget(self.stop_button)
        row = QHBoxLayout()
        row.setAlignment(Qt.AlignmentFlag.AlignTop)
        row.addLayout(mic_col)
        row.addWidget(self.input, 1)
        row.addLayout(actions)

        self.talk_mode = QComboBox()
        for label, value in TALK_MODES:
            self.talk_mode.addItem(label, value)
        self.talk_mode.setAccessibleName("Talk mode")
        self.talk_mode.setToolTip("Hold the button (or Space) while you speak, or click once to start and once to stop")
        self.talk_mode.setCurrentIndex(max(0, self.talk_mode.findData(talk_mode)))
        self.hands_free = QCheckBox("Hands-free")
        self.hands_free.setAccessibleName("Hands-free listening")
        self.hands_free.setToolTip("Listen all the time; a reply starts when you stop speaking, and speaking interrupts it")
        self.modality = QComboBox()
        for label, value in MODALITIES:
            self.modality.addItem(label, value)
        self.modality.setAccessibleName("Reply as")
        self.modality.setToolTip("What the reply should be")
        self.modality.setCurrentIndex(max(0, self.modality.findData(modality)))
        self.attach_button = button("Attach…", "Attach an image or audio file (Ctrl+O)", "attach")
        talk_label = QLabel("&Talk:")
        talk_label.setBuddy(self.talk_mode)
        reply_label = QLabel("&Reply as:")
        reply_label.setBuddy(self.modality)
        modes = QHBoxLayout()
        modes.addStretch(1)
        for w in (talk_label, self.talk_mode, self.hands_free):
            modes.addWidget(w)
        modes.addSpacing(16)
        for w in (reply_label, self.modality, self.attach_button):
            modes.addWidget(w)
        lay.addLayout(self.chips_row)
        lay.addLayout(row)
        lay.addLayout(modes)
        for first, second in zip(self.tab_order, self.tab_order[1:]):
            QWidget.setTabOrder(first, second)
        self.apply(Controls(Phase.LOADING, False, False, False, True, False))

    @property
    def tab_order(self) -> list[QWidget]:
        """The controls in visual order: the microphone first, then the message box and its buttons, then the modes."""
        return [self.mic_button, self.input, self.send_button, self.stop_button, self.talk_mode, self.hands_free,
                self.modality, self.attach_button]

    def focus_widgets(self) -> list[QWidget]:
        """The chips' Remove buttons (above), then the controls."""
        return [*(c.remove_button for c in self.chips), self.clear_attach_button, *self.tab_order]

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

    def apply(self, c: Controls) -> None:
        """Show the state machine's result: every enabled state and the microphone's look."""
        self.phase = c.phase
        self.send_button.setEnabled(c.send)
        self.mic_button.setEnabled(c.mic)
        self.hands_free.setEnabled(c.hands_free)
        self.talk_mode.setEnabled(c.talk_mode)
        self.stop_button.setEnabled(c.stop)
        self.stop_button.setDefault(c.phase is Phase.SPEAKING)
        recording = c.phase is Phase.HEARING and not self.hands_free.isChecked()
        if self.toggle_talk:
            idle_text, how = "Click to talk", " (click to stop)"
            name = "Microphone: click to start talking, click again to stop (or press Space)"
        else:
            idle_text, how = "Hold to talk", " (release to send)"
            name = "Microphone: hold to talk (or hold Space)"
        self.mic_button.setAccessibleName(name)
        self.mic_button.setToolTip(name)
        self.mic_button.setText("")
        self.mic_button.setProperty("phase", c.phase.value)
        self.mic_button.style().unpolish(self.mic_button)
        self.mic_button.style().polish(self.mic_button)
        self.mic_button.setDown(recording and not self.toggle_talk)
        self.phase_label.setText((PHASE_TEXT[c.phase] + (how if recording else "")) or idle_text)
        self.level.setVisible(c.phase in (Phase.LISTENING, Phase.HEARING))

    @property
    def mic_text(self) -> str:
        """What the microphone control says now (its state line)."""
        return self.phase_label.text()

    def show_attachments(self, attachments: Sequence[Attachment]) -> None:
        for chip in self.chips:
            self.chips_row.removeWidget(chip)
            chip.hide()
            chip.deleteLater()  # parented until Qt deletes it in the GUI thread
        self.chips = []
        for a in attachments:
            chip = AttachmentChip(a, self)
            chip.sig_remove.connect(self.sig_detach)
            self.chips_row.insertWidget(len(self.chips), chip)
            self.chips.append(chip)
        self.clear_attach_button.setVisible(len(attachments) > 1)

    def set_hands_free_checked(self, on: bool) -> None:
        self.hands_free.blockSignals(True)
        self.hands_free.setChecked(on)
        self.hands_free.blockSignals(False)

    def show_level(self, dbfs: float) -> None:
        self.level.setValue(int(max(0.0, dbfs + 60.0)))
