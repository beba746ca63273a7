"""The main window: renders the chat session's events and forwards the user's input to it, nothing else.

The conversation state, the turns in flight and every history write live in
:class:`~anygpt_desktop.session.chat.ChatSession`; the engine runs under it through
:class:`~anygpt_desktop.app.engine_adapter.QtEngine`. Every signal that may come from another thread (engine,
microphone, player) is connected to a method of this window, so Qt runs it in the GUI thread.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication, QListWidgetItem, QMainWindow, QSplitter, QVBoxLayout, QWidget,
)

from anygpt_desktop.app import dialogs
from anygpt_desktop.app.audio_out import AudioOut
from anygpt_desktop.app.composer import Composer
from anygpt_desktop.app.controls import Facts, derive
from anygpt_desktop.app.drop_zone import DropZone
from anygpt_desktop.app.conversation import ConversationView, TurnWidget
from anygpt_desktop.app.engine_adapter import QtEngine
from anygpt_desktop.app.focus_order import REORDER_EVENTS, FocusOrder
from anygpt_desktop.app.keys import KeyFilter
from anygpt_desktop.app.menus import build_menus
from anygpt_desktop.app.mic import MicController
from anygpt_desktop.app.model_source import ModelSource
from anygpt_desktop.app.models_banner import ModelsBanner, models_missing
from anygpt_desktop.app.notices import NoticeArea
from anygpt_desktop.app.settings import MIC_KEYS, AppSettings, Theme, reload_note, with_demo_limits
from anygpt_desktop.app.sidebar import Sidebar, conversation_matches
from anygpt_desktop.app.status_area import StatusArea
from anygpt_desktop.app.stored_turns import add_stored_turn
from anygpt_desktop.app.theme import apply_theme, colors
from anygpt_desktop.app.voice import VoiceControls
from anygpt_desktop.app.widgets import icon, recolor_icons
from anygpt_desktop.app.worker import AssistantFactory
from anygpt_desktop.session import events as ev
from anygpt_desktop.input_files import InputFileError, classify_attachment
from anygpt_desktop.session.chat import ChatSession
from anygpt_desktop.session.engine_port import EnginePort
from anygpt_desktop.session.kinds import Attachment, AttachmentKind, ModelState
from anygpt_desktop.storage.history import HistoryError, HistoryStore

logger = logging.getLogger(__name__)

MIN_WIDTH, MIN_HEIGHT = 760, 540


class MainWindow(QMainWindow):
    """The app's window. ``engine_factory`` builds the Assistant in the worker thread."""

    sig_turn_stored = Signal(int)  # conversation id (for tests and the self-test)

    def __init__(
        self, engine_factory: AssistantFactory, *, history: HistoryStore | None = None,
        settings: AppSettings | None = None, audio_out: AudioOut | None = None, mic: MicController | None = None,
        device_label: str = "", models_dir: Path | None = None, demo: bool = False, engine: EnginePort | None = None,
    ) -> None:
        """``engine``: another engine port instead of the worker thread over ``engine_factory`` (its updates must
        arrive in the GUI thread)."""
        super().__init__()
        self.settings = settings or AppSettings()
        self.audio_out = audio_out or AudioOut()
        self.audio_out.setParent(self)
        self.mic = mic or MicController()
        self.mic.setParent(self)
        self.models_dir = models_dir
        self.demo = demo
        self.models = ModelSource(self, engine_factory)
        self.engine: EnginePort = engine if engine is not None else QtEngine(self.models.make, self)
        self.session = ChatSession(self.engine, history or HistoryStore())
        self._turns: dict[int, tuple[TurnWidget, TurnWidget]] = {}  # turn id → (user bubble, reply bubble)
        self._closed = False
        self.setWindowTitle("AnyGPT Desktop" + (" — demo (tiny random models)" if demo else ""))
        self.setWindowIcon(icon("anygpt"))
        self.setAcceptDrops(True)
        self.resize(1100, 760)
        self.setMinimumSize(MIN_WIDTH, MIN_HEIGHT)
        self._build_ui()
        self.drops = DropZone(self)
        self.dark_action = build_menus(self)
        self._connect()
        self._renderers = self._make_renderers()
        self.session.subscribe(self._render)
        self.set_theme(self.settings.get("theme"))
        self.device_label.setText(device_label or "device: auto")
        self._refresh_conversations()
        self.keys = KeyFilter(self)
        QApplication.instance().installEventFilter(self.keys)  # type: ignore[union-attr]
        self.voice.apply_settings()
        self.mic.start_monitoring()  # the stream stays open: push-to-talk keeps the pre-roll
        self.session.configure(self._engine_values())
        self.session.reload_models()

    # -- state the tests and the app read ---------------------------------------------------------------------------
    @property
    def model_state(self) -> ModelState:
        return self.session.model_state

    @property
    def conversation_id(self) -> int | None:
        return self.session.conversation_id

    @property
    def attachments(self) -> list[Attachment]:
        return list(self.session.attachments)

    @property
    def pending(self) -> tuple[int, ...]:  # the ids of the turns in flight
        return self.session.pending_turns

    @property
    def history(self) -> HistoryStore:  # to read: every write goes through the session
        return self.session.history

    # -- building --------------------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        splitter = QSplitter()
        self.sidebar = Sidebar()
        self.sidebar.matches = lambda conv, query: conversation_matches(self.session.history, conv, query)
        self.conv_list = self.sidebar.conv_list
        splitter.addWidget(self.sidebar)
        main = QWidget()
        lay = QVBoxLayout(main)
        lay.setContentsMargins(6, 6, 6, 6)
        self.banner = ModelsBanner()
        self.view = ConversationView()
        self.notices = NoticeArea()
        self.composer = Composer(self.settings.get("talk_mode"), self.settings.get("output_modality"))
        c = self.composer
        self.input, self.send_button, self.stop_button, self.mic_button = c.input, c.send_button, c.stop_button, c.mic_button
        self.modality, self.hands_free, self.attach_button, self.talk_mode, self.level = (
            c.modality, c.hands_free, c.attach_button, c.talk_mode, c.level)
        lay.addWidget(self.banner)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.notices)
        lay.addWidget(self.composer)
        splitter.addWidget(main)
        splitter.setStretchFactor(0, 1), splitter.setStretchFactor(1, 4)  # the list shrinks too at the minimum size
        splitter.setSizes([230, 870])
        self.setCentralWidget(splitter)
        self.status = StatusArea(self.statusBar(), self, self.models.server_address)
        self.device_label = self.status.device_label

    def _connect(self) -> None:
        """Widget signals; the microphone's and the player's go to ``VoiceControls`` (methods only: GUI thread)."""
        self.voice = VoiceControls(self.mic, self.audio_out, self.composer, self.session, self.notices, self.settings,
                                   self, sync=self.sync_controls, open_devices=lambda: self.open_settings("devices"))
        self.send_button.clicked.connect(self.send)
        self.input.sig_submit.connect(self.send)
        self.composer.sig_detach.connect(self.session.detach)
        self.view.sig_edit_requested.connect(self.input.edit)
        self.view.sig_resend_requested.connect(self.resend)
        self.stop_button.clicked.connect(self.stop)
        self.attach_button.clicked.connect(self.pick_files)
        self.composer.clear_attach_button.clicked.connect(self.session.clear_attachments)
        self.sidebar.new_button.clicked.connect(self.new_conversation)
        self.sidebar.rename_button.clicked.connect(self.rename_conversation)
        self.sidebar.delete_button.clicked.connect(self.delete_conversation)
        self.conv_list.itemActivated.connect(self._on_conv_activated)
        self.conv_list.itemClicked.connect(self._on_conv_activated)
        self.status.cancel_load_button.clicked.connect(self.session.cancel_load)
        self.banner.download_button.clicked.connect(self.open_model_manager)
        self.banner.demo_button.clicked.connect(self.models.try_demo)
        self.banner.folder_button.clicked.connect(self.models.choose_folder)
        self.banner.reload_button.clicked.connect(self.reload_models)
        self.banner.server_button.clicked.connect(self.models.use_server)
        self.modality.currentIndexChanged.connect(lambda _i: self.settings.set("output_modality", self.modality.currentData()))
        self.focus_order = FocusOrder(self, [self.sidebar, self.banner, self.view, self.notices, self.composer, self.status])
        self.notices.sig_changed.connect(self.focus_order.schedule)

    # -- session events --------------------------------------------------------------------------------------------
    def _make_renderers(self) -> dict[type, Callable[[Any], None]]:
        return {
            ev.ModelStateChanged: self._show_model_state,
            ev.LoadProgressed: lambda e: self.status.show_progress(e.fraction, e.message),
            ev.DeviceChanged: lambda e: self.status.show_device(e.device, e.dtype),
            ev.AttachmentsChanged: lambda e: self.composer.show_attachments(e.attachments),
            ev.ConversationListChanged: lambda e: self._refresh_conversations(),
            ev.CurrentConversationChanged: self._show_current_conversation,
            ev.ConversationShown: self._show_conversation,
            ev.UserTurnAdded: self._show_user_turn,
            ev.TurnStarted: lambda e: self._reply(e.turn_id, lambda w: w.set_state("replying…")),
            ev.TranscriptUpdated: self._show_transcript,
            ev.ReplyTextUpdated: lambda e: self._reply(e.turn_id, lambda w: w.append_text(e.delta)),
            ev.SpeechChunkReady: self._play_chunk,
            ev.SpeechEnded: lambda e: self._end_speech(e.turn_id),
            ev.ImageAdded: lambda e: self._reply(e.turn_id, lambda w: w.add_image(e.path)),
            ev.MusicAdded: lambda e: self._reply(e.turn_id, lambda w: self.voice.wire_row(w.add_audio(e.path, "Music", e.seconds, show_name=False))),
            ev.TurnEnded: self._show_turn_ended,
            ev.TurnStored: lambda e: self.sig_turn_stored.emit(e.conversation_id),
            ev.BusyChanged: lambda e: self.sync_controls(),
            ev.StopRequested: lambda e: (self.audio_out.stop(), self.mic.cancel(), self.voice.stopped()),
            ev.StatusMessage: self._show_message,
            ev.BannerChanged: lambda e: self.banner.show_text(e.text),
        }

    def _render(self, event: ev.SessionEvent) -> None:
        self._renderers[type(event)](event)
        self.status.follow(event)  # the engine server's connection, when the models run on a server
        if isinstance(event, REORDER_EVENTS):
            self.focus_order.schedule()  # new turns, rows or chips join the tab order in place

    def _show_model_state(self, e: ev.ModelStateChanged) -> None:
        if e.state is ModelState.READY:
            text = f"Models ready ({e.seconds:.1f} s)" + (" — demo" if self.demo else "")
        elif e.state is ModelState.FAILED:
            text = "Loading cancelled" if e.cancelled else "Models not loaded"
            self.banner.show_load_failure(e.reason, e.cancelled, self.demo, self.status.address)
            self.models.guide_if_first_run(models_missing(e.reason) and not e.cancelled)
        else:
            text = "Loading models…"
        self.status.show_model_state(e.state, text)
        self.sync_controls()

    def sync_controls(self) -> None:
        """Every control's enabled state and the microphone's look, from the one state machine."""
        facts = Facts(self.session.model_state, self.session.busy, self.voice.playing, self.mic.recording,
                      self.mic.hands_free, self.voice.hearing)
        self.composer.apply(derive(facts))

    def _show_message(self, e: ev.StatusMessage) -> None:
        """A session message where the user looks: errors stay until dismissed, with the action that fixes them."""
        action = {"models": ("Model manager…", self.open_model_manager),
                  "devices": ("Settings › Devices", lambda: self.open_settings("devices")),
                  "restart_engine": ("Reconnect" if self.status.address else "Restart engine", self.reload_models),
                  }.get(e.action)
        self.notices.show_error(e.text, action) if e.error else self.notices.show_info(e.text, e.seconds, action)

    def _show_current_conversation(self, e: ev.CurrentConversationChanged) -> None:
        if e.conversation_id is not None:
            self.settings.set("last_conversation", e.conversation_id)
        self._refresh_conversations()

    def _show_conversation(self, e: ev.ConversationShown) -> None:
        self.view.clear()
        self._turns.clear()
        for turn in e.turns:
            for row in add_stored_turn(self.view, turn)[1]:
                self.voice.wire_row(row)
        if e.conversation_id is None:
            self.input.setFocus()

    def _show_user_turn(self, e: ev.UserTurnAdded) -> None:
        user = self.view.add_turn("user")
        user.set_text(e.text)
        for kind, path in e.media:
            if kind is AttachmentKind.IMAGE:
                user.add_image(path)
            else:
                self.voice.wire_row(user.add_audio(path, kind.label))
        user.set_state("transcribing…" if e.listening else "")
        reply = self.view.add_turn("assistant")
        reply.set_state("thinking…")
        self._turns[e.turn_id] = (user, reply)

    def _reply(self, tid: int, fn: Callable[[TurnWidget], Any]) -> None:
        if tid in self._turns:
            fn(self._turns[tid][1])

    def _show_transcript(self, e: ev.TranscriptUpdated) -> None:
        if e.turn_id in self._turns:
            self._turns[e.turn_id][0].append_transcript(e.delta)

    def _play_chunk(self, e: ev.SpeechChunkReady) -> None:
        if e.first:
            self._reply(e.turn_id, lambda w: w.set_state("speaking…"))
        self.audio_out.feed(e.audio, e.sample_rate, what=f"speech:{e.turn_id}")
        if e.final:
            self.audio_out.end()

    def _end_speech(self, tid: int) -> None:
        """No more chunks for this turn's spoken reply: let the player finish (chunks need not carry ``final``)."""
        if self.audio_out.current == f"speech:{tid}":
            self.audio_out.end()

    def _show_turn_ended(self, e: ev.TurnEnded) -> None:
        user, reply = self._turns.pop(e.turn_id, (None, None))
        if user is None or reply is None:
            return
        reply.set_text(e.reply_text)  # shows the last streamed words at once
        reply.render_markdown()
        if e.transcript:
            user.set_transcript(e.transcript)
        user.set_state("")
        if e.failed:
            reply.set_state("(interrupted)" if e.cancelled else f"(failed: {e.reason})")
        else:
            reply.set_timings(e.timings)
            reply.set_state("")
        if e.speech_path is not None:
            self.voice.wire_row(reply.add_audio(e.speech_path, "Spoken reply", e.speech_seconds, show_name=False))

    # -- intents ---------------------------------------------------------------------------------------------------
    def send(self) -> None:
        """Send the typed text and the attachments."""
        if self.session.send(self.input.text(), self.composer.output_modality) is not None:
            self.input.clear()  # only once it was sent: text typed before the models are ready stays

    def resend(self, text: str) -> None:
        self.session.send(text, self.composer.output_modality)

    def stop(self) -> None:
        """Esc / Stop: silence playback and stop generation at once (the turn is kept as far as it got)."""
        self.session.stop()

    def reload_models(self) -> None:
        self.session.reload_models()

    def new_conversation(self) -> None:
        self.session.new_conversation()

    def _on_conv_activated(self, item: QListWidgetItem) -> None:
        if (cid := item.data(Qt.ItemDataRole.UserRole)) is not None:  # not a date heading
            self.session.open_conversation(int(cid))

    def open_conversation(self, conv_id: int) -> None:
        self.session.open_conversation(conv_id)

    def restore_last_conversation(self) -> bool:
        """Reopen the conversation that was open when the app last closed (if it still exists)."""
        return self.session.restore_last(int(self.settings.get("last_conversation") or 0))

    def _refresh_conversations(self) -> None:
        self.sidebar.show_conversations(self.session.conversations(), self.session.conversation_id)

    def _selected_id(self) -> int | None:
        return self.sidebar.selected_id() or self.session.conversation_id

    def rename_conversation(self) -> None:
        cid = self._selected_id()
        if cid is not None:
            title = dialogs.ask_title(self, self._title(cid))
            if title is not None:
                self.session.rename_conversation(cid, title)

    def _title(self, cid: int) -> str:
        return next((c.title for c in self.session.conversations() if c.id == cid), "")

    def delete_conversation(self) -> None:
        cid = self._selected_id()
        if cid is not None and dialogs.confirm_delete(self, self._title(cid)):
            self.session.delete_conversation(cid)

    def export(self, fmt: str) -> Path | None:
        if self.session.conversation_id is None:
            self.notices.show_info("Nothing to export yet: this conversation has no turns.")
            return None
        if (folder := dialogs.ask_folder(self, self.settings.get("output_folder"))) is None:
            return None
        try:
            out = self.session.export("md" if fmt == "md" else "html", folder)
        except HistoryError as exc:
            self.notices.show_error(f"The conversation could not be exported: {exc}")
            return None
        self.notices.show_info(f"Exported to {out}", 8.0)
        return out

    # -- attachments -----------------------------------------------------------------------------------------------
    def add_file(self, path: Path) -> bool:
        """Attach a dropped/picked file (its content checked, not only its name); for audio the user says its use."""
        try:
            kind = classify_attachment(path)
        except InputFileError as exc:
            self.notices.show_error(f"{path.name} cannot be attached: {exc}")
            return False
        if kind == "image":
            self.session.attach(path, AttachmentKind.IMAGE)
            return True
        if (role := self.ask_audio_role(path)) is not None:
            self.session.attach(path, AttachmentKind(role))
        return role is not None

    def ask_audio_role(self, path: Path) -> AttachmentKind | None:
        return dialogs.ask_audio_role(self, path)

    def pick_files(self) -> None:
        for f in dialogs.pick_files(self):
            self.add_file(Path(f))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.drops.enter(event)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drops.set_active(False)

    def dropEvent(self, event: QDropEvent) -> None:
        self.drops.drop(event)

    # -- settings and other windows --------------------------------------------------------------------------------
    def set_theme(self, name: Theme) -> None:
        """Light, dark or system (follows the desktop); the icons are redrawn in the theme's ink."""
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, name)
        self.settings.set("theme", name)
        self.dark_action.setChecked(name == "dark")
        self.system_theme_action.setChecked(name == "system")
        recolor_icons([(self.mic_button, "mic"), (self.send_button, "send"), (self.attach_button, "attach"),
                       (self.sidebar.new_button, "new")], colors(name)["highlight"])

    def open_settings(self, tab: str = "") -> None:
        from anygpt_desktop.app.settings_dialog import SettingsDialog

        self.settings_dialog = SettingsDialog(self.settings, self, engine_override=self.models.command_line_engine())
        if tab:
            self.settings_dialog.show_tab(tab)
        self.settings_dialog.sig_settings_applied.connect(self.apply_settings)
        self.settings_dialog.open()

    def _engine_values(self) -> dict:
        """The stored settings, with short replies in demo mode unless the user chose limits (random tiny models
        would otherwise talk to the full 500-token limit before they speak)."""
        values = self.settings.values()
        return with_demo_limits(values) if self.demo else values

    def apply_settings(self, changed: list[str]) -> None:
        """Settings changed (the dialog stored them): hand them to the engine and the audio; say what needs a reload."""
        self.session.configure(self._engine_values())
        if any(k in MIC_KEYS or k == "output_device" for k in changed):
            self.voice.apply_settings()
        if (note := reload_note(changed)) and self.model_state is not ModelState.LOADING:
            self.banner.show_text(note)
        self.notices.show_info("Settings saved.", 4.0)

    def open_model_manager(self) -> None:
        self.models.open_manager()

    # -- keys and closing ------------------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed:
            self._closed = True
            app = QApplication.instance()
            if app is not None:
                app.removeEventFilter(self.keys)
            self.status.gpu_timer.stop()
            self.mic.set_hands_free(False)
            self.mic.cancel()
            self.mic.stop_monitoring()
            self.audio_out.close()
            self.session.close()  # stops the engine, removes the temporary folder
        super().closeEvent(event)
