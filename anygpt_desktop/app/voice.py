"""The window's sound: the microphone (push-to-talk, hands-free, level) and the player (streamed replies, audio rows).

:class:`VoiceControls` lives in the GUI thread; the microphone's and the player's signals (the player's come from the
audio thread) are connected to its methods, so Qt runs them in the GUI thread.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QStatusBar

from anygpt_desktop.app.audio_out import AudioOut
from anygpt_desktop.app.composer import Composer
from anygpt_desktop.app.conversation import AudioRow
from anygpt_desktop.app.mic import MicController
from anygpt_desktop.app.settings import AppSettings, vad_config
from anygpt_desktop.session.chat import ChatSession
from anygpt_desktop.session.kinds import ModelState, OutputModality


class VoiceControls(QObject):
    def __init__(
        self, mic: MicController, audio_out: AudioOut, composer: Composer, session: ChatSession, status: QStatusBar,
        settings: AppSettings, parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.mic, self.audio_out, self.composer, self.session, self.status = mic, audio_out, composer, session, status
        self.settings = settings
        self.playing_row: AudioRow | None = None
        self._pos_timer = QTimer(self)
        self._pos_timer.setInterval(100)
        self._pos_timer.timeout.connect(self._update_position)
        c = composer
        c.mic_button.pressed.connect(self.press)
        c.mic_button.released.connect(self.release)
        c.talk_mode.currentIndexChanged.connect(self._on_talk_mode)
        c.hands_free.toggled.connect(self._on_hands_free)
        mic.sig_hands_free_changed.connect(self._sync_hands_free)
        mic.sig_recording_started.connect(self._on_recording_started)
        mic.sig_recording_stopped.connect(self._on_recording_stopped)
        mic.sig_utterance_ready.connect(self._on_utterance)
        mic.sig_speech_started.connect(self._on_barge_in)
        mic.sig_level_changed.connect(self._on_level)
        mic.sig_error_occurred.connect(self._on_mic_error)
        audio_out.sig_playback_started.connect(self._on_playback_started)
        audio_out.sig_playback_failed.connect(self._on_playback_failed)
        audio_out.sig_playback_finished.connect(self._on_playback_finished)

    # -- microphone ------------------------------------------------------------------------------------------------

    def press(self) -> None:
        """The talk button or Space went down."""
        if self.composer.toggle_talk:
            self.mic.toggle()
        else:
            self.mic.press()

    def release(self) -> None:
        if not self.composer.toggle_talk:
            self.mic.release()

    @Slot(object)
    def _on_utterance(self, audio: np.ndarray) -> None:
        modality: OutputModality | None = self.composer.output_modality
        if self.session.send_speech(audio, self.composer.input.text(), modality) is not None:
            self.composer.input.clear()

    def _on_talk_mode(self, _index: int) -> None:
        self.settings.set("talk_mode", self.composer.talk_mode.currentData())
        if self.mic.recording:
            self.mic.release()
        self.composer.show_recording(False)

    @Slot()
    def _on_recording_started(self) -> None:
        self.composer.show_recording(True)
        self.audio_out.stop()

    @Slot()
    def _on_recording_stopped(self) -> None:
        self.composer.show_recording(False)

    @Slot(bool)
    def _sync_hands_free(self, on: bool) -> None:
        self.composer.show_hands_free(on, self.session.model_state is ModelState.READY)

    @Slot()
    def _on_barge_in(self) -> None:
        """Hands-free: the user started speaking, so the assistant stops at once."""
        self.session.barge_in(self.audio_out.playing)

    def _on_hands_free(self, on: bool) -> None:
        actual = self.mic.set_hands_free(on)
        self._sync_hands_free(actual)
        self.status.showMessage("Listening hands-free…" if actual else "Hands-free off", 4000)

    @Slot(float)
    def _on_level(self, dbfs: float) -> None:
        self.composer.show_level(dbfs)

    @Slot(str)
    def _on_mic_error(self, message: str) -> None:
        self.status.showMessage(message, 10000)

    def apply_settings(self) -> None:
        """The stored microphone, endpointing and output-device settings (the streams reopen)."""
        s = self.settings
        vad, problem = vad_config(s.values())
        if problem:
            self.status.showMessage(f"The speech settings are not usable ({problem}); the defaults are used.", 10000)
        self.mic.configure(device=s.get("input_device") or None, vad_config=vad, pre_roll_ms=int(s.get("pre_roll_ms")))
        self.audio_out.set_device(s.get("output_device") or None)

    # -- player ----------------------------------------------------------------------------------------------------

    def wire_row(self, row: AudioRow) -> None:
        row.sig_play_requested.connect(self._on_row_play)
        row.sig_stop_requested.connect(self.audio_out.stop)

    @Slot(str)
    def _on_row_play(self, _path: str) -> None:
        row = self.sender()
        if isinstance(row, AudioRow):
            self.play_row(row)

    def play_row(self, row: AudioRow) -> None:
        if self.playing_row is not None:
            self.playing_row.set_playing(False)
        if self.audio_out.play_file(row.path):
            self.playing_row = row
            row.set_playing(True)
            self.sync_stop_button()
            self._pos_timer.start()

    def _update_position(self) -> None:
        if self.playing_row is not None:
            self.playing_row.set_position(self.audio_out.position_s)

    def sync_stop_button(self) -> None:
        self.composer.stop_button.setEnabled(self.session.busy or self.audio_out.playing or self.playing_row is not None)

    @Slot(str)
    def _on_playback_started(self, _what: str) -> None:
        self.sync_stop_button()

    @Slot(str)
    def _on_playback_failed(self, message: str) -> None:
        self.status.showMessage(message, 10000)

    @Slot(str, bool)
    def _on_playback_finished(self, what: str, _interrupted: bool) -> None:
        if self.playing_row is not None and str(self.playing_row.path) == what:
            self.playing_row.set_playing(False)
            self.playing_row = None
            self._pos_timer.stop()
        self.composer.stop_button.setEnabled(self.session.busy)
