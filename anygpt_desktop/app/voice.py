"""The window's sound: the microphone (push-to-talk, hands-free, level) and the player (streamed replies, audio rows).

:class:`VoiceControls` lives in the GUI thread; the microphone's and the player's signals (the player's come from the
audio thread) are connected to its methods, so Qt runs them in the GUI thread.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Slot

from anygpt_desktop.app.audio_out import AudioOut
from anygpt_desktop.app.composer import Composer
from anygpt_desktop.app.conversation import AudioRow
from anygpt_desktop.app.mic import MicController
from anygpt_desktop.app.notices import NoticeArea
from anygpt_desktop.app.settings import AppSettings, vad_config
from anygpt_desktop.audio.vad import Endpointer, SpeechStarted, VadConfig
from anygpt_desktop.session.chat import ChatSession
from anygpt_desktop.session.kinds import OutputModality

DEVICES_FIX = "Choose a speaker in Settings › Devices."
NO_SPEECH_NOTE = "No speech was heard, so nothing was sent. Hold the key (or the microphone) while you speak."


def has_speech(audio: np.ndarray, config: VadConfig | None = None) -> bool:
    """Whether the voice detector hears speech anywhere in a recording (16 kHz float32 mono)."""
    vad = Endpointer(config or VadConfig())
    events = vad.feed_audio(np.asarray(audio, np.float32))
    events += vad.flush()
    return any(isinstance(e, SpeechStarted) for e in events)


def playback_failure_text(message: str, from_play_button: bool, hands_free: bool) -> str:
    """What a playback failure means to the user: what did not happen, why, what still works, and the fix."""
    why = message.strip() or "the sound output device could not be opened"
    why = why if why.endswith((".", "!", "?")) else why + "."
    if from_play_button:
        return f"Play did nothing: {why} {DEVICES_FIX}"
    still = " Hands-free keeps listening." if hands_free else ""
    return f"Sound could not be played: {why} The reply is shown as text.{still} {DEVICES_FIX}"


class VoiceControls(QObject):
    """``sync`` re-derives the composer's state (the window's one state machine); ``open_devices`` opens Settings ›
    Devices, the fix offered with microphone and speaker errors."""

    def __init__(
        self, mic: MicController, audio_out: AudioOut, composer: Composer, session: ChatSession, notices: NoticeArea,
        settings: AppSettings, parent: QObject, *, sync: Callable[[], None], open_devices: Callable[[], None],
    ) -> None:
        super().__init__(parent)
        self.mic, self.audio_out, self.composer, self.session, self.notices = mic, audio_out, composer, session, notices
        self.settings = settings
        self.sync = sync
        self.open_devices = open_devices
        self.hearing = False  # hands-free heard the start of speech
        self.playing_row: AudioRow | None = None
        self._row_starting = False  # a row's Play is opening the player (its failure is that row's)
        self._hands_free_starting = False  # the Hands-free box was ticked (a microphone failure is why it cannot)
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
        self.hearing = False
        self.sync()
        if not self.mic.hands_free and not has_speech(audio, self.mic.vad_config):
            self.notices.show_info(NO_SPEECH_NOTE, 6.0)  # a press with no speech is never sent
            return
        modality: OutputModality | None = self.composer.output_modality
        if self.session.send_speech(audio, self.composer.input.text(), modality) is not None:
            self.composer.input.clear()

    def _on_talk_mode(self, _index: int) -> None:
        self.settings.set("talk_mode", self.composer.talk_mode.currentData())
        if self.mic.recording:
            self.mic.release()
        self.sync()

    @Slot()
    def _on_recording_started(self) -> None:
        self.audio_out.stop()
        self.sync()

    @Slot()
    def _on_recording_stopped(self) -> None:
        self.sync()

    @Slot(bool)
    def _sync_hands_free(self, on: bool) -> None:
        self.composer.set_hands_free_checked(on)
        if not on:
            self.hearing = False
        self.sync()

    @Slot()
    def _on_barge_in(self) -> None:
        """Hands-free: the user started speaking, so the assistant stops at once."""
        self.hearing = True
        self.session.barge_in(self.audio_out.playing)
        self.sync()

    def _on_hands_free(self, on: bool) -> None:
        self._hands_free_starting = on
        try:
            actual = self.mic.set_hands_free(on)
        finally:
            self._hands_free_starting = False
        self._sync_hands_free(actual)

    @Slot(float)
    def _on_level(self, dbfs: float) -> None:
        self.composer.show_level(dbfs)

    @Slot(str)
    def _on_mic_error(self, message: str) -> None:
        if message.startswith("That was too short"):
            self.notices.show_info(message, 6.0)
        else:
            what = "Hands-free cannot listen" if self._hands_free_starting else "The microphone is not available"
            self.notices.show_error(f"{what}: {message}", ("Settings › Devices", self.open_devices))

    def apply_settings(self) -> None:
        """The stored microphone, endpointing and output-device settings (the streams reopen)."""
        s = self.settings
        vad, problem = vad_config(s.values())
        if problem:
            self.notices.show_error(f"The speech settings are not usable ({problem}); the defaults are used.")
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
        self._row_starting = True
        try:
            started = self.audio_out.play_file(row.path)
        finally:
            self._row_starting = False
        if started:
            self.playing_row = row
            row.set_playing(True)
            self._pos_timer.start()
        self.sync()

    def _update_position(self) -> None:
        if self.playing_row is not None:
            self.playing_row.set_position(self.audio_out.position_s)

    @property
    def playing(self) -> bool:
        """Sound is playing (a spoken reply or a row's file)."""
        return bool(self.audio_out.current) or self.playing_row is not None

    def stopped(self) -> None:
        """Stop was pressed: nothing plays any more."""
        self._row_done()
        self.sync()

    def _row_done(self) -> None:
        if self.playing_row is not None:
            self.playing_row.set_playing(False)
            self.playing_row = None
            self._pos_timer.stop()

    @Slot(str)
    def _on_playback_started(self, _what: str) -> None:
        self.sync()

    @Slot(str)
    def _on_playback_failed(self, message: str) -> None:
        self.audio_out.stop()  # a failed start must not leave the player "playing"
        self._row_done()
        self.notices.show_error(playback_failure_text(message, self._row_starting, self.mic.hands_free),
                                ("Settings › Devices", self.open_devices))
        self.sync()

    @Slot(str, bool)
    def _on_playback_finished(self, what: str, _interrupted: bool) -> None:
        if self.playing_row is not None and str(self.playing_row.path) == what:
            self._row_done()
        self.sync()
