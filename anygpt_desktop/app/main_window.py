"""The main window: history sidebar, conversation view, input row (text, mic, attachments), status bar."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QIcon, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from anygpt_desktop.app.audio_out import AudioOut
from anygpt_desktop.app.conversation import AudioRow, ConversationView, TurnWidget
from anygpt_desktop.app.gpu_status import device_text
from anygpt_desktop.app.mic import MicController
from anygpt_desktop.app.settings import MIC_KEYS, RELOAD_KEYS, AppSettings, with_demo_limits
from anygpt_desktop.app.theme import apply_theme
from anygpt_desktop.app.worker import AssistantFactory, EngineClient
from anygpt_desktop.audio.files import save_wav
from anygpt_desktop.audio.vad import VadConfig
from anygpt_desktop.engine.events import TurnDone
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.storage.history import HistoryError, HistoryStore

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
MODALITIES = [("Auto", "auto"), ("Text", "text"), ("Speech", "speech"), ("Image", "image"), ("Music", "music")]
TALK_MODES = [("Hold", "hold"), ("Click on/off", "toggle")]
GPU_REFRESH_MS = 2000
RESOURCES = Path(__file__).resolve().parents[2] / "resources"


@dataclass
class Attachment:
    path: Path
    kind: str  # "image" | "music" | "voice"


@dataclass
class PendingTurn:
    """What the window collects for one assistant turn until it is stored."""

    widget: TurnWidget
    user_widget: TurnWidget
    request: TurnRequest
    user_media: list[tuple[str, Path]] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    music: list[Path] = field(default_factory=list)
    speech_chunks: list[np.ndarray] = field(default_factory=list)
    speech_rate: int = 16000
    speech_path: Path | None = None
    started: float = field(default_factory=time.perf_counter)
    first_audio: float | None = None


def icon(name: str) -> QIcon:
    path = RESOURCES / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


class MainWindow(QMainWindow):
    """The app's window. ``engine_factory`` builds the Assistant in the worker thread."""

    sig_turn_stored = Signal(int)  # conversation id (for tests and the self-test)

    def __init__(
        self,
        engine_factory: AssistantFactory,
        *,
        history: HistoryStore | None = None,
        settings: AppSettings | None = None,
        audio_out: AudioOut | None = None,
        mic: MicController | None = None,
        device_label: str = "",
        models_dir: Path | None = None,
        demo: bool = False,
    ) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.history = history or HistoryStore()
        self.audio_out = audio_out or AudioOut()
        self.audio_out.setParent(self)
        self.mic = mic or MicController()
        self.mic.setParent(self)
        self.models_dir = models_dir
        self.demo = demo
        self.engine = EngineClient(engine_factory, self)
        self.conversation_id: int | None = None
        self.attachments: list[Attachment] = []
        self.pending: dict[int, PendingTurn] = {}
        self.model_state = "starting"
        self._space_held = False
        self._tmp = Path(tempfile.mkdtemp(prefix="anygpt-desktop-"))
        self._playing_row: AudioRow | None = None
        self._closed = False
        self.model_device = ""  # where the loaded models run ("cuda:0", "cpu"), empty before loading
        self.model_dtype = ""

        self.setWindowTitle("AnyGPT Desktop" + (" — demo (tiny random models)" if demo else ""))
        self.setWindowIcon(icon("anygpt"))
        self.setAcceptDrops(True)
        self.resize(1100, 760)
        self._build_ui()
        self._build_menus()
        self._connect()
        self.set_theme(self.settings.get("theme"))
        self.device_label.setText(device_label or "device: auto")
        self.refresh_conversations()
        QApplication.instance().installEventFilter(self)  # type: ignore[union-attr]
        self._apply_audio_settings()
        self.mic.start_monitoring()  # the stream stays open: push-to-talk keeps the pre-roll
        self.engine.configure(self._engine_values())
        self.engine.load()
        self._set_model_state("loading", "Loading models…")

    # ------------------------------------------------------------------------------------------------- building

    def _build_ui(self) -> None:
        splitter = QSplitter()
        # sidebar
        side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.setContentsMargins(6, 6, 6, 6)
        title = QLabel("Conversations")
        title.setObjectName("turn_role")
        self.conv_list = QListWidget()
        self.conv_list.setAccessibleName("Conversation list")
        self.conv_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conv_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        title.setBuddy(self.conv_list)
        buttons = QHBoxLayout()
        self.new_button = self._button("New", "Start a new conversation", "new")
        self.rename_button = self._button("Rename", "Rename the selected conversation")
        self.delete_button = self._button("Delete", "Delete the selected conversation")
        for b in (self.new_button, self.rename_button, self.delete_button):
            buttons.addWidget(b)
        side_lay.addWidget(title)
        side_lay.addWidget(self.conv_list, 1)
        side_lay.addLayout(buttons)
        splitter.addWidget(side)
        # main column
        main = QWidget()
        lay = QVBoxLayout(main)
        lay.setContentsMargins(6, 6, 6, 6)
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setAccessibleName("Message")
        self.banner.setVisible(False)
        self.view = ConversationView()
        self.attach_row = QHBoxLayout()
        self.attach_label = QLabel("")
        self.attach_label.setAccessibleName("Attachments")
        self.clear_attach_button = self._button("Remove attachments", "Remove all attached files")
        self.clear_attach_button.setVisible(False)
        self.attach_row.addWidget(self.attach_label, 1)
        self.attach_row.addWidget(self.clear_attach_button)
        input_row = QHBoxLayout()
        self.mic_button = self._button("Hold to talk", "Microphone: hold to talk (or hold Space)", "mic")
        self.mic_button.setAutoRepeat(False)
        self.talk_mode = QComboBox()
        for label, value in TALK_MODES:
            self.talk_mode.addItem(label, value)
        self.talk_mode.setAccessibleName("Talk mode")
        self.talk_mode.setToolTip("Hold the button (or Space) while you speak, or click once to start and once to stop")
        self.talk_mode.setCurrentIndex(max(0, self.talk_mode.findData(self.settings.get("talk_mode"))))
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
        self.attach_button = self._button("Attach…", "Attach an image or audio file", "attach")
        self.modality = QComboBox()
        for label, value in MODALITIES:
            self.modality.addItem(label, value)
        self.modality.setAccessibleName("Reply as")
        self.modality.setToolTip("What the reply should be")
        idx = self.modality.findData(self.settings.get("output_modality"))
        self.modality.setCurrentIndex(max(0, idx))
        self.hands_free = QCheckBox("Hands-free")
        self.hands_free.setAccessibleName("Hands-free listening")
        self.send_button = self._button("Send", "Send the message", "send")
        self.stop_button = self._button("Stop", "Stop speaking and generating (Esc)", "stop")
        self.stop_button.setEnabled(False)
        for w in (self.mic_button, self.talk_mode, self.level):
            input_row.addWidget(w)
        input_row.addWidget(self.input, 1)
        for w in (self.attach_button, self.modality, self.hands_free, self.send_button, self.stop_button):
            input_row.addWidget(w)
        lay.addWidget(self.banner)
        lay.addWidget(self.view, 1)
        lay.addLayout(self.attach_row)
        lay.addLayout(input_row)
        splitter.addWidget(main)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([230, 870])
        self.setCentralWidget(splitter)
        # status bar
        self.model_label = QLabel()
        self.model_label.setAccessibleName("Model state")
        self.load_progress = QProgressBar()
        self.load_progress.setRange(0, 100)
        self.load_progress.setMaximumWidth(160)
        self.load_progress.setAccessibleName("Loading progress")
        self.cancel_load_button = self._button("Cancel loading", "Cancel loading the models")
        self.device_label = QLabel()
        self.device_label.setAccessibleName("Device")
        self.stats_label = QLabel("")
        self.stats_label.setAccessibleName("Last turn")
        sb = self.statusBar()
        sb.addPermanentWidget(self.model_label)
        sb.addPermanentWidget(self.load_progress)
        sb.addPermanentWidget(self.cancel_load_button)
        sb.addPermanentWidget(self.stats_label)
        sb.addPermanentWidget(self.device_label)
        self.setTabOrder(self.input, self.send_button)

    def _button(self, text: str, accessible: str, icon_name: str = "") -> QPushButton:
        b = QPushButton(text)
        b.setAccessibleName(accessible)
        b.setToolTip(accessible)
        if icon_name:
            b.setIcon(icon(icon_name))
        return b

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self._action(m, "&New conversation", QKeySequence.StandardKey.New, self.new_conversation)
        self._action(m, "&Attach file…", "Ctrl+O", self.pick_files)
        self._action(m, "Export as &Markdown…", "Ctrl+E", lambda: self.export("md"))
        self._action(m, "Export as &HTML…", "Ctrl+Shift+E", lambda: self.export("html"))
        m.addSeparator()
        self._action(m, "&Settings…", "Ctrl+,", self.open_settings)
        m.addSeparator()
        self._action(m, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        v = self.menuBar().addMenu("&View")
        self.dark_action = self._action(v, "&Dark theme", "Ctrl+Shift+D", lambda: self.set_theme(
            "dark" if self.dark_action.isChecked() else "light"))
        self.dark_action.setCheckable(True)
        self._action(v, "Focus the message box", "Ctrl+L", self.input.setFocus)
        self._action(v, "Focus the conversation list", "Ctrl+K", self.conv_list.setFocus)
        mm = self.menuBar().addMenu("&Models")
        self._action(mm, "&Model manager…", "Ctrl+M", self.open_model_manager)
        self._action(mm, "&Reload models", "Ctrl+R", self.reload_models)
        h = self.menuBar().addMenu("&Help")
        self._action(h, "&Keyboard shortcuts", QKeySequence.StandardKey.HelpContents, self.show_shortcuts)

    def _action(self, menu: Any, text: str, shortcut: Any, slot: Any) -> QAction:
        act = QAction(text, self)
        act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)
        self.addAction(act)
        return act

    def _connect(self) -> None:
        w = self.engine.worker
        w.sig_model_progress.connect(self._on_load_progress)
        w.sig_model_loaded.connect(self._on_loaded)
        w.sig_model_device.connect(self._on_model_device)
        w.sig_model_failed.connect(self._on_load_failed)
        w.sig_turn_started.connect(self._on_turn_started)
        w.sig_transcript_updated.connect(self._on_transcript)
        w.sig_text_updated.connect(self._on_text)
        w.sig_speech_chunk_ready.connect(self._on_speech_chunk)
        w.sig_speech_saved.connect(self._on_speech_saved)
        w.sig_image_ready.connect(self._on_image)
        w.sig_music_ready.connect(self._on_music)
        w.sig_notice_posted.connect(lambda tid, msg: self.statusBar().showMessage(msg, 8000))
        w.sig_turn_finished.connect(self._on_turn_finished)
        w.sig_turn_failed.connect(self._on_turn_failed)
        w.sig_history_saved.connect(self._on_history_saved)
        w.sig_history_restored.connect(lambda ok, msg: None if ok else self.show_banner(msg))
        self.send_button.clicked.connect(self.send)
        self.input.returnPressed.connect(self.send)
        self.stop_button.clicked.connect(self.stop)
        self.attach_button.clicked.connect(self.pick_files)
        self.clear_attach_button.clicked.connect(self.clear_attachments)
        self.new_button.clicked.connect(self.new_conversation)
        self.rename_button.clicked.connect(self.rename_conversation)
        self.delete_button.clicked.connect(self.delete_conversation)
        self.conv_list.itemActivated.connect(self._on_conv_activated)
        self.conv_list.itemClicked.connect(self._on_conv_activated)
        self.cancel_load_button.clicked.connect(self.engine.cancel_load)
        self.modality.currentIndexChanged.connect(
            lambda _i: self.settings.set("output_modality", self.modality.currentData()))
        self.mic_button.pressed.connect(self._on_mic_pressed)
        self.mic_button.released.connect(self._on_mic_released)
        self.talk_mode.currentIndexChanged.connect(self._on_talk_mode)
        self.mic.sig_hands_free_changed.connect(self._sync_hands_free)
        self.mic.sig_recording_started.connect(lambda: self._set_recording(True))
        self.mic.sig_recording_stopped.connect(lambda: self._set_recording(False))
        self.mic.sig_utterance_ready.connect(self.send_speech)
        self.mic.sig_speech_started.connect(self._on_barge_in)
        self.mic.sig_level_changed.connect(lambda db: self.level.setValue(int(max(0.0, db + 60.0))))
        self.mic.sig_error_occurred.connect(lambda msg: self.statusBar().showMessage(msg, 10000))
        self.hands_free.toggled.connect(self._on_hands_free)
        self.audio_out.sig_playback_failed.connect(lambda msg: self.statusBar().showMessage(msg, 10000))
        self.audio_out.sig_playback_finished.connect(self._on_playback_finished)
        self._pos_timer = QTimer(self)
        self._pos_timer.setInterval(100)
        self._pos_timer.timeout.connect(self._update_audio_position)
        self._gpu_timer = QTimer(self)
        self._gpu_timer.setInterval(GPU_REFRESH_MS)
        self._gpu_timer.timeout.connect(self._update_device_label)

    # ------------------------------------------------------------------------------------------------- model state

    def _set_model_state(self, state: str, text: str) -> None:
        self.model_state = state
        self.model_label.setText(text)
        loading = state == "loading"
        self.load_progress.setVisible(loading)
        self.cancel_load_button.setVisible(loading)
        ready = state == "ready"
        self.send_button.setEnabled(ready)
        self.mic_button.setEnabled(ready)
        self.hands_free.setEnabled(ready)

    def _on_load_progress(self, fraction: float, message: str) -> None:
        self.load_progress.setValue(int(fraction * 100))
        if message:
            self.model_label.setText(f"Loading: {message}")

    def _on_loaded(self, seconds: float) -> None:
        self._set_model_state("ready", f"Models ready ({seconds:.1f} s)" + (" — demo" if self.demo else ""))
        self.hide_banner()
        if self.conversation_id is not None:
            self.engine.restore(self.history.engine_state(self.conversation_id))

    def _on_load_failed(self, reason: str, cancelled: bool) -> None:
        self._set_model_state("failed", "Loading cancelled" if cancelled else "Models not loaded")
        self.show_banner(
            ("Loading was cancelled. " if cancelled else f"The models could not be loaded: {reason}\n")
            + "Open Models → Model manager (Ctrl+M) to download or choose them, then Models → Reload (Ctrl+R)."
        )

    def reload_models(self) -> None:
        if self.model_state == "loading":
            return
        self.load_progress.setValue(0)
        self._set_model_state("loading", "Loading models…")
        self.engine.load()

    def show_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(True)

    def hide_banner(self) -> None:
        self.banner.setVisible(False)

    # ------------------------------------------------------------------------------------------------- sending

    def send(self) -> None:
        """Send the typed text and the attachments."""
        text = self.input.text().strip()
        if not text and not self.attachments:
            return
        self._submit(TurnRequest(text=text), transcript_pending=False)
        self.input.clear()

    def send_speech(self, audio: np.ndarray) -> None:
        """Send a recorded utterance (push-to-talk or hands-free), with any attachments."""
        self._submit(TurnRequest(text=self.input.text().strip(), speech=np.asarray(audio, np.float32)), True)
        self.input.clear()

    def _submit(self, request: TurnRequest, transcript_pending: bool) -> int | None:
        if self.model_state != "ready":
            self.statusBar().showMessage("The models are not loaded yet.", 5000)
            return None
        request.images = [a.path for a in self.attachments if a.kind == "image"]
        request.music = [a.path for a in self.attachments if a.kind == "music"]
        voice = [a.path for a in self.attachments if a.kind == "voice"]
        request.voice_prompt = voice[-1] if voice else None
        mod = self.modality.currentData()
        request.output_modality = None if mod == "auto" else mod
        if self.conversation_id is None:
            title = request.text[:48] or ("Voice conversation" if request.speech is not None else "New conversation")
            self.conversation_id = self.history.create(title).id
            self.settings.set("last_conversation", self.conversation_id)
            self.refresh_conversations()
        user = self.view.add_turn("user")
        user.set_text(request.text)
        media: list[tuple[str, Path]] = []
        for a in self.attachments:
            if a.kind == "image":
                user.add_image(a.path)
            else:
                user.add_audio(a.path, "Music input" if a.kind == "music" else "Reply voice")
            media.append((a.kind, a.path))
        speech_file = None
        if request.speech is not None:
            speech_file = save_wav(self._tmp / f"said_{time.time_ns()}.wav", request.speech, 16000)
            media.append(("speech", speech_file))
            user.set_state("(listening…)" if transcript_pending else "")
        self.clear_attachments()
        tid = self.engine.submit(request)
        assistant = self.view.add_turn("assistant")
        assistant.set_state("thinking…")
        self.pending[tid] = PendingTurn(assistant, user, request, media)
        self.stop_button.setEnabled(True)
        return tid

    def stop(self) -> None:
        """Esc / Stop: silence playback and stop generation at once (the turn is kept as far as it got)."""
        self.audio_out.stop()
        self.engine.cancel()
        self.mic.cancel()

    # ------------------------------------------------------------------------------------------------- engine events

    def _on_turn_started(self, tid: int) -> None:
        p = self.pending.get(tid)
        if p:
            p.started = time.perf_counter()
            p.widget.set_state("replying…")

    def _on_transcript(self, tid: int, delta: str) -> None:
        p = self.pending.get(tid)
        if p:
            p.user_widget.append_transcript(delta)

    def _on_text(self, tid: int, delta: str) -> None:
        p = self.pending.get(tid)
        if p:
            p.widget.append_text(delta)

    def _on_speech_chunk(self, tid: int, audio: np.ndarray, sr: int, final: bool) -> None:
        p = self.pending.get(tid)
        if p is None:
            return
        if p.first_audio is None:
            p.first_audio = time.perf_counter() - p.started
            p.widget.set_state("🔊 speaking…")
        p.speech_chunks.append(np.asarray(audio, np.float32))
        p.speech_rate = sr
        self.audio_out.feed(audio, sr, what=f"speech:{tid}")
        if final:
            self.audio_out.end()

    def _on_speech_saved(self, tid: int, path: str, seconds: float) -> None:
        p = self.pending.get(tid)
        if p:
            p.speech_path = Path(path)
        self._end_speech(tid)

    def _end_speech(self, tid: int) -> None:
        """No more chunks will come for this turn's spoken reply: let the player finish (the engine's chunks need
        not carry ``final``)."""
        if self.audio_out.current == f"speech:{tid}":
            self.audio_out.end()

    def _on_image(self, tid: int, path: str, width: int, height: int) -> None:
        p = self.pending.get(tid)
        if p:
            p.images.append(Path(path))
            p.widget.add_image(Path(path))

    def _on_music(self, tid: int, path: str, seconds: float) -> None:
        p = self.pending.get(tid)
        if p:
            p.music.append(Path(path))
            self._wire_row(p.widget.add_audio(Path(path), "Music", seconds))

    def _on_turn_finished(self, tid: int, done: TurnDone) -> None:
        self._end_speech(tid)
        p = self.pending.get(tid)
        if p is None:
            return
        p.widget.set_text(p.widget.text or done.reply_text)  # shows the last streamed words at once
        if done.transcript:
            p.user_widget.set_transcript(done.transcript)
        timings = dict(done.timings)
        if p.first_audio is not None:
            timings.setdefault("first_audio", p.first_audio)
        p.widget.set_timings(timings)
        p.widget.set_state("")
        self._update_stats(timings)
        self._store(tid, interrupted=False, timings=timings)

    def _on_turn_failed(self, tid: int, reason: str, cancelled: bool) -> None:
        self._end_speech(tid)
        p = self.pending.get(tid)
        if p is None:
            return
        p.widget.set_text(p.widget.text)
        p.widget.set_state("(interrupted)" if cancelled else f"(failed: {reason})")
        if not cancelled:
            self.statusBar().showMessage(reason, 10000)
        self._store(tid, interrupted=True, timings={})

    def _store(self, tid: int, interrupted: bool, timings: dict[str, float]) -> None:
        p = self.pending.pop(tid)
        if p.speech_chunks and p.speech_path is None:
            p.speech_path = save_wav(self._tmp / f"reply-{tid}.wav", np.concatenate(p.speech_chunks), p.speech_rate)
        if p.speech_path is not None:
            seconds = sum(len(c) for c in p.speech_chunks) / p.speech_rate if p.speech_chunks else 0.0
            self._wire_row(p.widget.add_audio(p.speech_path, "Spoken reply", seconds, show_name=False))
        p.user_widget.set_state("")
        if not self.pending:
            self.stop_button.setEnabled(self.audio_out.playing)
        if self.conversation_id is None:
            return
        try:
            self.history.append_turn(
                self.conversation_id, "user", p.request.text, transcript=p.user_widget.transcript, media=p.user_media)
            media = [("image", i) for i in p.images] + [("music", m) for m in p.music]
            if p.speech_path is not None:
                media.append(("speech", p.speech_path))
            self.history.append_turn(
                self.conversation_id, "assistant", p.widget.text, media=media, timings=timings, interrupted=interrupted)
        except HistoryError as exc:
            self.statusBar().showMessage(f"This turn could not be saved: {exc}", 10000)
            return
        self.refresh_conversations()
        self.sig_turn_stored.emit(self.conversation_id)

    def _on_history_saved(self, tid: int, data: object) -> None:
        if self.conversation_id is not None and isinstance(data, dict):
            try:
                self.history.save_engine_state(self.conversation_id, data)
            except HistoryError as exc:
                logger.warning("engine state not saved: %s", exc)

    def _update_stats(self, timings: dict[str, float]) -> None:
        parts = []
        rate = timings.get("tokens_per_second", timings.get("tokens_per_s"))
        if rate is not None:
            parts.append(f"{rate:.1f} tok/s")
        for key, value in timings.items():
            if not key.startswith("tokens"):
                parts.append(f"{key} {value * 1000:.0f} ms")
        self.stats_label.setText("Last turn: " + ", ".join(parts) if parts else "")

    # ------------------------------------------------------------------------------------------------- audio

    def _wire_row(self, row: AudioRow) -> None:
        row.sig_play_requested.connect(lambda path, r=row: self._play_row(r))
        row.sig_stop_requested.connect(self.audio_out.stop)

    def _play_row(self, row: AudioRow) -> None:
        if self._playing_row is not None:
            self._playing_row.set_playing(False)
        if self.audio_out.play_file(row.path):
            self._playing_row = row
            row.set_playing(True)
            self.stop_button.setEnabled(True)
            self._pos_timer.start()

    def _update_audio_position(self) -> None:
        if self._playing_row is not None:
            self._playing_row.set_position(self.audio_out.position_s)

    def _on_playback_finished(self, what: str, interrupted: bool) -> None:
        if self._playing_row is not None and str(self._playing_row.path) == what:
            self._playing_row.set_playing(False)
            self._playing_row = None
            self._pos_timer.stop()
        if not self.pending:
            self.stop_button.setEnabled(False)

    @property
    def toggle_talk(self) -> bool:
        return self.talk_mode.currentData() == "toggle"

    def _on_mic_pressed(self) -> None:
        if self.toggle_talk:
            self.mic.toggle()
        else:
            self.mic.press()

    def _on_mic_released(self) -> None:
        if not self.toggle_talk:
            self.mic.release()

    def _on_talk_mode(self, _index: int) -> None:
        self.settings.set("talk_mode", self.talk_mode.currentData())
        if self.mic.recording:
            self.mic.release()
        self._set_recording(False)

    def _set_recording(self, on: bool) -> None:
        if self.toggle_talk:
            self.mic_button.setText("● Click to stop" if on else "Click to talk")
            self.mic_button.setAccessibleName("Microphone: click to start talking, click again to stop (or press Space)")
        else:
            self.mic_button.setText("● Recording…" if on else "Hold to talk")
            self.mic_button.setAccessibleName("Microphone: hold to talk (or hold Space)")
        self.mic_button.setToolTip(self.mic_button.accessibleName())
        self.mic_button.setDown(on and not self.toggle_talk)
        if on:
            self.audio_out.stop()

    def _sync_hands_free(self, on: bool) -> None:
        self.hands_free.blockSignals(True)
        self.hands_free.setChecked(on)
        self.hands_free.blockSignals(False)
        self.mic_button.setEnabled(not on and self.model_state == "ready")
        self.talk_mode.setEnabled(not on)

    def _on_barge_in(self) -> None:
        """Hands-free: the user started speaking, so the assistant stops at once."""
        if self.audio_out.playing or self.engine.busy:
            self.stop()

    def _on_hands_free(self, on: bool) -> None:
        actual = self.mic.set_hands_free(on)
        self._sync_hands_free(actual)
        self.statusBar().showMessage("Listening hands-free…" if actual else "Hands-free off", 4000)

    # ------------------------------------------------------------------------------------------------- attachments

    def add_attachment(self, path: Path, kind: str) -> None:
        self.attachments.append(Attachment(Path(path), kind))
        self._show_attachments()

    def clear_attachments(self) -> None:
        self.attachments = []
        self._show_attachments()

    def _show_attachments(self) -> None:
        names = {"image": "🖼", "music": "🎵 music", "voice": "🗣 voice"}
        text = "  ".join(f"{names[a.kind]} {a.path.name}" for a in self.attachments)
        self.attach_label.setText(f"Attached: {text}" if text else "")
        self.clear_attach_button.setVisible(bool(self.attachments))

    def add_file(self, path: Path) -> bool:
        """Attach a dropped/picked file; audio asks whether it is music input or the reply voice."""
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            self.add_attachment(path, "image")
            return True
        if suffix in AUDIO_SUFFIXES:
            role = self.ask_audio_role(path)
            if role:
                self.add_attachment(path, role)
                return bool(role)
            return False
        self.statusBar().showMessage(
            f"{path.name}: only images (JPEG, PNG, WebP, BMP, GIF) and audio (WAV, FLAC, OGG, MP3) can be added.", 8000)
        return False

    def ask_audio_role(self, path: Path) -> str | None:
        """Ask whether an audio file is music input or the voice for the reply; None if the user cancels."""
        box = QMessageBox(self)
        box.setWindowTitle("Use this audio as…")
        box.setText(f"How should {path.name} be used?")
        music = box.addButton("Music input", QMessageBox.ButtonRole.AcceptRole)
        voice = box.addButton("Reply voice", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "music" if clicked is music else "voice" if clicked is voice else None

    def pick_files(self) -> None:
        exts = " ".join(f"*{s}" for s in IMAGE_SUFFIXES + AUDIO_SUFFIXES)
        files, _ = QFileDialog.getOpenFileNames(self, "Attach files", str(Path.home()), f"Images and audio ({exts})")
        for f in files:
            self.add_file(Path(f))

    def paste_image(self) -> bool:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None or not mime.hasImage():
            return False
        image = QGuiApplication.clipboard().image()
        path = self._tmp / f"pasted_{time.time_ns()}.png"
        if image.isNull() or not image.save(str(path)):
            return False
        self.add_attachment(path, "image")
        return True

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        if any(Path(u.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES + AUDIO_SUFFIXES for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.add_file(Path(url.toLocalFile()))
        event.acceptProposedAction()

    # ------------------------------------------------------------------------------------------------- history

    def refresh_conversations(self) -> None:
        self.conv_list.blockSignals(True)
        self.conv_list.clear()
        for conv in self.history.conversations():
            item = QListWidgetItem(conv.title)
            item.setData(Qt.ItemDataRole.UserRole, conv.id)
            item.setToolTip(f"{conv.turn_count} turns, {time.strftime('%Y-%m-%d %H:%M', time.localtime(conv.updated))}")
            self.conv_list.addItem(item)
            if conv.id == self.conversation_id:
                item.setSelected(True)
                self.conv_list.setCurrentItem(item)
        self.conv_list.blockSignals(False)

    def _on_conv_activated(self, item: QListWidgetItem) -> None:
        self.open_conversation(int(item.data(Qt.ItemDataRole.UserRole)))

    def open_conversation(self, conv_id: int) -> None:
        """Show a stored conversation and restore the model's memory of it."""
        if conv_id == self.conversation_id and self.view.turns:
            return
        self.stop()
        self.pending.clear()
        self.view.clear()
        self.conversation_id = conv_id
        self.settings.set("last_conversation", conv_id)
        for turn in self.history.turns(conv_id):
            w = self.view.add_turn(turn.role)
            w.set_text(turn.text)
            w.set_transcript(turn.transcript)
            if turn.interrupted:
                w.set_state("(interrupted)")
            for m in turn.media:
                if m.kind == "image":
                    w.add_image(m.path)
                else:
                    label = {"music": "Music", "speech": "Spoken" if turn.role == "assistant" else "Recording",
                             "voice": "Reply voice"}[m.kind]
                    self._wire_row(w.add_audio(m.path, label, show_name=m.kind != "speech"))
            w.set_timings(turn.timings)
        self.refresh_conversations()
        if self.model_state == "ready":
            self.engine.restore(self.history.engine_state(conv_id))

    def new_conversation(self) -> None:
        self.stop()
        self.pending.clear()
        self.view.clear()
        self.conversation_id = None
        self.conv_list.clearSelection()
        self.engine.clear()
        self.input.setFocus()

    def _selected_id(self) -> int | None:
        item = self.conv_list.currentItem()
        return int(item.data(Qt.ItemDataRole.UserRole)) if item else self.conversation_id

    def rename_conversation(self) -> None:
        cid = self._selected_id()
        if cid is None:
            return
        title, ok = QInputDialog.getText(self, "Rename conversation", "Title:", text=self.history.get(cid).title)
        if ok and title.strip():
            self.history.rename(cid, title)
            self.refresh_conversations()

    def delete_conversation(self) -> None:
        cid = self._selected_id()
        if cid is None:
            return
        title = self.history.get(cid).title
        answer = QMessageBox.question(self, "Delete conversation", f"Delete “{title}” and its files?")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.history.delete(cid)
        if cid == self.conversation_id:
            self.new_conversation()
        self.refresh_conversations()

    def export(self, fmt: str) -> Path | None:
        if self.conversation_id is None:
            self.statusBar().showMessage("Nothing to export yet.", 5000)
            return None
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", self.settings.get("output_folder") or str(Path.home()))
        if not folder:
            return None
        try:
            fn = self.history.export_markdown if fmt == "md" else self.history.export_html
            out = fn(self.conversation_id, Path(folder))
        except HistoryError as exc:
            QMessageBox.warning(self, "Export", str(exc))
            return None
        self.statusBar().showMessage(f"Exported to {out}", 8000)
        return out

    # ------------------------------------------------------------------------------------------------- misc

    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, name)
        self.settings.set("theme", name)
        self.dark_action.setChecked(name == "dark")

    def open_settings(self) -> None:
        from anygpt_desktop.app.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self)
        dialog.sig_settings_applied.connect(self.apply_settings)
        dialog.open()
        self.settings_dialog = dialog

    def _engine_values(self) -> dict:
        """The stored settings, with short replies in demo mode unless the user chose limits (random tiny models
        would otherwise talk to the full 500-token limit before they speak)."""
        values = self.settings.values()
        return with_demo_limits(values) if self.demo else values

    def apply_settings(self, changed: list[str]) -> None:
        """Settings changed (the dialog stored them): hand them to the engine and the audio; say what needs a reload."""
        self.engine.configure(self._engine_values())
        if any(k in MIC_KEYS or k == "output_device" for k in changed):
            self._apply_audio_settings()
        if any(k in RELOAD_KEYS for k in changed) and self.model_state != "loading":
            self.show_banner("The device or precision changed: it applies after reloading the models "
                             "(Models → Reload models, Ctrl+R).")
        self.statusBar().showMessage("Settings saved.", 4000)

    def _apply_audio_settings(self) -> None:
        s = self.settings
        try:
            vad = VadConfig(aggressiveness=int(s.get("vad_aggressiveness")),
                            end_silence_ms=max(150, int(s.get("vad_end_silence_ms"))),
                            pre_roll_ms=int(s.get("pre_roll_ms")))
        except ValueError as exc:
            self.statusBar().showMessage(f"The speech settings are not usable ({exc}); the defaults are used.", 10000)
            vad = VadConfig()
        self.mic.configure(device=s.get("input_device") or None, vad_config=vad, pre_roll_ms=int(s.get("pre_roll_ms")))
        self.audio_out.set_device(s.get("output_device") or None)

    def _on_model_device(self, device: str, dtype: str) -> None:
        self.model_device, self.model_dtype = device, dtype
        self._update_device_label()
        if device.startswith("cuda"):
            self._gpu_timer.start()
        else:
            self._gpu_timer.stop()

    def _update_device_label(self) -> None:
        if self.model_device:
            self.device_label.setText(device_text(self.model_device, self.model_dtype))

    def restore_last_conversation(self) -> bool:
        """Reopen the conversation that was open when the app last closed (if it still exists)."""
        last = int(self.settings.get("last_conversation") or 0)
        if last and any(c.id == last for c in self.history.conversations()):
            self.open_conversation(last)
            return True
        return False

    def open_model_manager(self) -> None:
        from anygpt_desktop.app.model_manager import ModelManagerDialog

        dialog = ModelManagerDialog(self.models_dir, self.settings, self)
        dialog.sig_models_dir_chosen.connect(lambda p: setattr(self, "models_dir", Path(p)))
        dialog.open()
        self.model_manager = dialog

    def show_shortcuts(self) -> None:
        QMessageBox.information(
            self, "Keyboard shortcuts",
            "Hold Space (outside the text box): talk (in “Click to talk” mode: press once to start, once to stop)\n"
            "Enter: send\nEsc: stop speaking and generating\n"
            "Ctrl+N: new conversation\nCtrl+O: attach a file\nCtrl+V in the text box: paste an image\n"
            "Ctrl+L: message box\nCtrl+K: conversation list\nCtrl+E / Ctrl+Shift+E: export Markdown / HTML\n"
            "Ctrl+M: model manager\nCtrl+R: reload the models\nCtrl+,: settings\nCtrl+Shift+D: dark theme\nTab: move between controls; Enter/Space press buttons",
        )

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        """Space = push-to-talk outside text boxes; Esc = stop; Enter presses a focused button; Ctrl+V pastes images."""
        et = event.type()
        if et not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) or not isinstance(event, QKeyEvent):
            return False
        if not self.isActiveWindow() and QApplication.activeModalWidget() is not None:
            return False
        if QApplication.activeModalWidget() is not None:
            return False
        focus = QApplication.focusWidget()
        key = event.key()
        if key == Qt.Key.Key_Escape and et == QEvent.Type.KeyPress:
            self.stop()
            return True
        if et == QEvent.Type.KeyPress and focus is self.input and event.matches(QKeySequence.StandardKey.Paste):
            return self.paste_image()
        typing = isinstance(focus, (QLineEdit, QPlainTextEdit, QTextEdit))
        if key == Qt.Key.Key_Space and not typing and self.mic_button.isEnabled():
            if event.isAutoRepeat():
                return True
            if et == QEvent.Type.KeyPress and not self._space_held:
                self._space_held = True
                self._on_mic_pressed()
            elif et == QEvent.Type.KeyRelease and self._space_held:
                self._space_held = False
                self._on_mic_released()
            return True
        if (key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and et == QEvent.Type.KeyPress
                and isinstance(focus, QAbstractButton) and focus.window() is self):
            focus.click()
            return True
        return False

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._closed:
            super().closeEvent(event)
            return
        self._closed = True
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self._gpu_timer.stop()
        self.mic.set_hands_free(False)
        self.mic.cancel()
        self.mic.stop_monitoring()
        self.audio_out.close()
        self.engine.shutdown()
        super().closeEvent(event)
