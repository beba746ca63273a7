"""The conversation view: a scrolling column of turn bubbles with text, transcripts, images and audio players."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor, QFontDatabase, QGuiApplication, QIcon, QPixmap, QTextCharFormat, QTextCursor, QTextDocument,
)
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

logger = logging.getLogger(__name__)

THUMB = 240


class ImageDialog(QDialog):
    """An image scaled to fit the dialog (small images are enlarged, up to 4×), with Save and Close."""

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.pixmap = QPixmap(str(path))
        self.setWindowTitle(path.name)
        self.setAccessibleName(f"Image {path.name}")
        layout = QVBoxLayout(self)
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setAccessibleName("Image, scaled to the window")
        self.label.setMinimumSize(64, 64)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        layout.addWidget(self.label, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        w, h = max(1, self.pixmap.width()), max(1, self.pixmap.height())
        scale = min(4.0, 720 / w, 600 / h)  # open at a comfortable size, keeping the aspect ratio
        self.resize(int(w * scale) + 24, int(h * scale) + 70)

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        if not self.pixmap.isNull():
            self.label.setPixmap(self.pixmap.scaled(self.label.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                    Qt.TransformationMode.SmoothTransformation))

    def save(self) -> None:
        save_copy(self, self.path, "Save image")


def save_copy(parent: QWidget, path: Path, title: str) -> Path | None:
    dest, _ = QFileDialog.getSaveFileName(parent, title, str(Path.home() / path.name))
    if not dest:
        return None
    try:
        shutil.copyfile(path, dest)
    except OSError as exc:
        QMessageBox.warning(parent, title, f"The file could not be saved: {exc.strerror or exc}")
        return None
    return Path(dest)


class ImageThumb(QToolButton):
    """A clickable thumbnail (Enter/Space/click enlarge it)."""

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        pix = QPixmap(str(path))
        if pix.isNull():
            self.setText(f"(unreadable image {path.name})")
        else:
            scaled = pix.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            self.setIcon(QIcon(scaled))
            self.setIconSize(scaled.size())
        self.setAutoRaise(True)
        self.setToolTip("Click to enlarge")
        self.setAccessibleName(f"Image {path.name}, press to enlarge")
        self.clicked.connect(self.enlarge)
        self.dialog: ImageDialog | None = None

    def enlarge(self) -> None:
        self.dialog = ImageDialog(self.path, self.window())
        self.dialog.open()


class AudioRow(QWidget):
    """A play/stop button, a progress bar and a label for an audio file (music, a recorded reply, a dropped voice)."""

    sig_play_requested = Signal(str)
    sig_stop_requested = Signal()

    def __init__(
        self, path: Path, label: str, seconds: float = 0.0, show_name: bool = True, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.path = path
        self.seconds = seconds
        self.playing = False
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.button = QPushButton("▶ Play")
        self.button.setAccessibleName(f"Play {label}")
        widest = max(self.button.fontMetrics().horizontalAdvance(t) for t in ("▶ Play", "■ Stop"))
        self.button.setFixedWidth(widest + 32)  # the same size playing or not
        self.button.clicked.connect(self._toggle)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress.setAccessibleName(f"{label} playback position")
        text = (f"{label}: {path.name}" if show_name else label) + (f" ({seconds:.1f} s)" if seconds else "")
        self.label = QLabel(text)
        self.save_button = QPushButton("Save…")
        self.save_button.setAccessibleName(f"Save {label}")
        self.save_button.clicked.connect(lambda: save_copy(self, self.path, f"Save {label}"))
        row.addWidget(self.button)
        row.addWidget(self.label)
        row.addWidget(self.progress, 1)
        row.addWidget(self.save_button)

    def _toggle(self) -> None:
        if self.playing:
            self.sig_stop_requested.emit()
        else:
            self.sig_play_requested.emit(str(self.path))

    def set_playing(self, playing: bool) -> None:
        self.playing = playing
        self.button.setText("■ Stop" if playing else "▶ Play")
        if not playing:
            self.progress.setValue(0)

    def set_position(self, seconds: float) -> None:
        if self.seconds > 0:
            self.progress.setValue(int(1000 * min(1.0, seconds / self.seconds)))


def markdown_document(text: str) -> QTextDocument:
    """``text`` as Markdown, its code (inline spans and blocks) set in the system's monospace font on a light tint."""
    doc = QTextDocument()
    doc.setMarkdown(text)
    code: list[tuple[int, int]] = []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.charFormat().fontFixedPitch() or "monospace" in (fragment.charFormat().fontFamilies() or []):
                code.append((fragment.position(), fragment.position() + fragment.length()))
            it += 1
        block = block.next()
    mono = QTextCharFormat()
    mono.setFontFamilies([QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family(), "monospace"])
    mono.setFontFixedPitch(True)
    mono.setBackground(QColor(127, 127, 127, 40))  # a tint that reads on the light and the dark theme
    cursor = QTextCursor(doc)
    for start, end in code:
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        cursor.mergeCharFormat(mono)
    return doc


class TurnWidget(QFrame):
    """One bubble: role, transcript, text (streaming), media, speech state, timings on demand, and its actions (a
    reply: Copy, Ask again; the user's turn: Edit, which puts its text back into the message box)."""

    sig_edit_requested = Signal(str)
    sig_ask_again_requested = Signal()

    def __init__(self, role: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.setObjectName(f"turn_{role}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        who = "You" if role == "user" else "AnyGPT"
        self.setAccessibleName(f"{who} turn")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        head = QHBoxLayout()
        self.role_label = QLabel(who)
        self.role_label.setObjectName("turn_role")
        self.state_label = QLabel("")
        self.state_label.setObjectName("turn_meta")
        self.timings_button = QToolButton()
        self.timings_button.setText("Timings")
        self.timings_button.setCheckable(True)
        self.timings_button.setAccessibleName("Show timings of this turn")
        self.timings_button.setVisible(False)
        head.addWidget(self.role_label)
        head.addWidget(self.state_label)
        head.addStretch(1)
        self.action_buttons: list[QToolButton] = []
        actions = [("Copy", "Copy the reply's text", self.copy_text),
                   ("Ask again", "Send the same question again", self.sig_ask_again_requested.emit)] if role != "user" \
            else [("Edit", "Put this message back into the message box to change and send it",
                   lambda: self.sig_edit_requested.emit(self.text or self.transcript))]
        for text, name, slot in actions:
            b = QToolButton()
            b.setText(text)
            b.setAccessibleName(name)
            b.setToolTip(name)
            b.setAutoRaise(True)
            b.clicked.connect(slot)
            head.addWidget(b)
            self.action_buttons.append(b)
        head.addWidget(self.timings_button)
        lay.addLayout(head)
        self.transcript_label = self._text_label("Transcript")
        self.transcript_label.setStyleSheet("font-style: italic;")
        self.text_label = self._text_label("Text")
        self.timings_label = self._text_label("Timings")
        self.timings_label.setObjectName("turn_meta")
        self.timings_button.toggled.connect(self.timings_label.setVisible)
        self.media_layout = QVBoxLayout()
        lay.addWidget(self.transcript_label)
        lay.addWidget(self.text_label)
        lay.addLayout(self.media_layout)
        lay.addWidget(self.timings_label)
        self.transcript = ""
        self.text = ""
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(40)
        self._flush_timer.timeout.connect(self._flush_text)
        self.images: list[Path] = []
        self.audio_rows: list[AudioRow] = []
        self.markdown = False  # the reply is complete: its text is shown as rendered Markdown
        self.document: QTextDocument | None = None  # that rendering
        self._media_focus: list[QWidget] = []  # the media rows' controls, in order

    def focus_widgets(self) -> list[QWidget]:
        """Its header's buttons, its text, its media's controls, then the timings, in visual order."""
        return [*self.action_buttons, self.timings_button, self.transcript_label, self.text_label, *self._media_focus,
                self.timings_label]

    def _text_label(self, what: str) -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        label.setAccessibleName(what)
        label.setVisible(False)
        return label

    def copy_text(self) -> None:
        QGuiApplication.clipboard().setText(self.text)

    def append_transcript(self, delta: str) -> None:
        self.set_transcript(self.transcript + delta)

    def set_transcript(self, text: str) -> None:
        self.transcript = text
        self.transcript_label.setText(f"Heard: “{text}”")
        self.transcript_label.setVisible(bool(text))

    def append_text(self, delta: str) -> None:
        """Streamed text: ``self.text`` is current at once; the label is repainted at most every 40 ms."""
        self.text += delta
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def set_text(self, text: str) -> None:
        self.text = text
        self._flush_text()

    def _flush_text(self) -> None:
        self._flush_timer.stop()
        if self.markdown:
            self.document = markdown_document(self.text)
            self.text_label.setText(self.document.toHtml())
        else:
            self.text_label.setText(self.text)
        self.text_label.setVisible(bool(self.text))

    def render_markdown(self) -> None:
        """The reply is complete: show its Markdown (emphasis, lists, code in monospace) rendered; the source stays
        in ``text``, the rendering in ``document``."""
        if self.role == "assistant":
            self.markdown = True
            self.text_label.setTextFormat(Qt.TextFormat.RichText)
            self._flush_text()

    def set_state(self, text: str, limit: int = 72) -> None:
        """The reply's state beside its role ("(interrupted)", "(failed: …)"): shortened to ``limit`` characters so a
        long failure never widens the conversation (the notice and the tooltip carry the whole text)."""
        short = text if len(text) <= limit else text[: limit - 2].rstrip() + "…" + (")" if text.endswith(")") else "")
        self.state_label.setText(short)
        self.state_label.setToolTip(text if short != text else "")

    def add_image(self, path: Path) -> ImageThumb:
        self.images.append(path)
        thumb = ImageThumb(path)
        save = QPushButton("Save…")
        save.setAccessibleName(f"Save image {path.name}")
        save.clicked.connect(lambda: save_copy(self, path, "Save image"))
        row = QHBoxLayout()
        row.addWidget(thumb, 0, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom)
        row.addWidget(save, 0, Qt.AlignmentFlag.AlignBottom)
        row.addStretch(1)
        self.media_layout.addLayout(row)
        self._media_focus += [thumb, save]
        return thumb

    def add_audio(self, path: Path, label: str, seconds: float = 0.0, show_name: bool = True) -> AudioRow:
        row = AudioRow(path, label, seconds, show_name)
        self.audio_rows.append(row)
        self.media_layout.addWidget(row)
        self._media_focus += [row.button, row.save_button]
        return row

    def set_timings(self, timings: dict[str, float]) -> None:
        if not timings:
            return
        self.timings_label.setText(timings_text(timings))
        self.timings_button.setVisible(True)
        self.timings_button.setToolTip(self.timings_label.text())


def timings_text(timings: dict[str, float]) -> str:
    """'42.0 tok/s · total 120 ms · first audio 1.20 s' (a turn's figures, shown under its Timings toggle)."""
    parts = []
    rate = timings.get("tokens_per_second", timings.get("tokens_per_s"))
    if rate is not None:
        parts.append(f"{rate:.1f} tok/s")
    for key, value in timings.items():
        if not key.startswith("tokens"):
            name = key.replace("_", " ")
            parts.append(f"{name} {value * 1000:.0f} ms" if value < 1 else f"{name} {value:.2f} s")
    return " · ".join(parts)


class ConversationView(QScrollArea):
    """The column of turns; keeps the newest turn in view while the user has not scrolled up. Forwards the turns'
    actions: edit a message (its text) and ask a question again (the text of the user turn before the reply)."""

    sig_edit_requested = Signal(str)
    sig_resend_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setAccessibleName("Conversation")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._inner = QWidget()
        self._layout = QVBoxLayout(self._inner)
        self._layout.setSpacing(10)
        self._layout.addStretch(1)
        self.setWidget(self._inner)
        self.placeholder = QLabel("Say something (hold Space or the microphone button), type below, or drop an image or music file here.")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setObjectName("turn_meta")
        self._layout.insertWidget(0, self.placeholder)
        self.turns: list[TurnWidget] = []
        self._follow = True
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.verticalScrollBar().rangeChanged.connect(self._on_range)

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 24

    def _on_range(self, _lo: int, hi: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(hi)

    def _ask_again(self) -> None:
        """A reply's "Ask again": send the user's turn before it once more."""
        turn = self.sender()
        earlier = self.turns[: self.turns.index(turn)] if turn in self.turns else self.turns
        asked = next((t for t in reversed(earlier) if t.role == "user"), None)
        if asked is not None:
            self.sig_resend_requested.emit(asked.text or asked.transcript)

    def add_turn(self, role: str) -> TurnWidget:
        self.placeholder.setVisible(False)
        turn = TurnWidget(role)
        turn.sig_edit_requested.connect(self.sig_edit_requested)
        asked = next((t for t in reversed(self.turns) if t.role == "user"), None)
        if role != "user" and asked is not None:
            turn.sig_ask_again_requested.connect(self._ask_again)
        self._layout.insertWidget(self._layout.count() - 1, turn)
        self.turns.append(turn)
        self._follow = True
        QTimer.singleShot(0, lambda: self.verticalScrollBar().setValue(self.verticalScrollBar().maximum()))
        return turn

    def clear(self) -> None:
        for t in self.turns:
            self._layout.removeWidget(t)
            t.hide()
            t.deleteLater()  # parented until Qt deletes it in the GUI thread (its timer must not die elsewhere)
        self.turns = []
        self.placeholder.setVisible(True)

    def focus_widgets(self) -> list[QWidget]:
        return [self, *(w for t in self.turns for w in t.focus_widgets())]

    def for_each_audio_row(self, fn: Callable[[AudioRow], None]) -> None:
        for t in self.turns:
            for r in t.audio_rows:
                fn(r)

    def sizeHint(self) -> QSize:
        return QSize(640, 480)
