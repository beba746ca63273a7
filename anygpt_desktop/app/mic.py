"""Microphone input for the window: push-to-talk (hold or toggle) with pre-roll, and hands-free (VAD), with a live level.

While the app runs the microphone stream stays open (``start_monitoring``) and every chunk passes through a
:class:`PushToTalk` gate whose ring buffer holds the last ``pre_roll_ms``, so the first syllable, spoken just before
the key went down, is kept. Without monitoring (no microphone at start, or it failed) a key press opens the stream on
demand, without pre-roll. The microphone delivers chunks in PortAudio's thread into a queue; a 30 ms QTimer drains it on
the GUI thread (cheap: a copy and, hands-free, webrtcvad on a few frames). Errors (no microphone, unplugged
mid-recording) become ``sig_error_occurred`` with the audio package's readable message; audio recorded so far is kept.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from anygpt_desktop.audio.capture import Microphone, rms_dbfs
from anygpt_desktop.audio.errors import AudioError
from anygpt_desktop.audio.vad import Endpointer, PushToTalk, SpeechEnded, SpeechStarted, VadConfig

logger = logging.getLogger(__name__)

MicFactory = Callable[[], Any]  # returns an object with start/stop/read_available (like Microphone)
RELEASE_TAIL_MS = 300  # keep recording this long after the key is released (the last word trails it)
MIN_UTTERANCE_S = 0.25  # a press shorter than this (pre-roll and tail not counted) is a mistake
FINISH_GRACE_MS = 1500  # if no audio arrives after a release, end the utterance anyway after the tail plus this


class MicController(QObject):
    sig_recording_started = Signal()
    sig_recording_stopped = Signal()
    sig_utterance_ready = Signal(object)  # float32 16 kHz mono
    sig_speech_started = Signal()  # hands-free: the user started speaking (barge-in)
    sig_level_changed = Signal(float)  # dBFS
    sig_error_occurred = Signal(str)
    sig_hands_free_changed = Signal(bool)  # hands-free switched off by a microphone failure

    def __init__(self, mic_factory: MicFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._factory = mic_factory or self._default_microphone
        self.device: str | None = None  # PortAudio device name; None = the system default
        self.pre_roll_ms = 300
        self.vad_config = VadConfig()
        self._mic: Any = None
        self._monitoring = False
        self._gate = PushToTalk(release_delay_ms=RELEASE_TAIL_MS, pre_roll_ms=self.pre_roll_ms)
        self._press_s = 0.0
        self._held_s = 0.0
        self._releasing = False
        self._vad: Endpointer | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._poll)
        self._grace = QTimer(self)
        self._grace.setSingleShot(True)
        self._grace.timeout.connect(self._force_finish)

    def _default_microphone(self) -> Microphone:
        return Microphone(self.device or None)

    @property
    def recording(self) -> bool:
        return self._gate.recording

    @property
    def recorded_s(self) -> float:
        """Seconds of audio since the push-to-talk press (0 when not recording)."""
        return self._gate.time_s - self._press_s if self.recording else 0.0

    @property
    def hands_free(self) -> bool:
        return self._vad is not None

    @property
    def monitoring(self) -> bool:
        """The stream is kept open between utterances (pre-roll available)."""
        return self._monitoring and self._mic is not None

    # -- the always-open stream ------------------------------------------------------------------------------------

    def start_monitoring(self) -> bool:
        """Open the microphone and keep it open; False (with ``sig_error_occurred``) when there is none."""
        if self.monitoring:
            return True
        if self._mic is None and not self._open():
            return False
        self._monitoring = True
        return True

    def stop_monitoring(self) -> None:
        self._monitoring = False
        if not self.recording and not self.hands_free:
            self._close()

    def configure(self, *, device: str | None, vad_config: VadConfig, pre_roll_ms: int) -> None:
        """New device, VAD or pre-roll settings; an open stream is reopened (a recording in progress is dropped)."""
        was_monitoring, was_hands_free = self._monitoring, self.hands_free
        self.cancel()
        self._vad = None
        self._monitoring = False
        self._close()
        self.device, self.vad_config, self.pre_roll_ms = device or None, vad_config, int(pre_roll_ms)
        self._gate = PushToTalk(release_delay_ms=RELEASE_TAIL_MS, pre_roll_ms=self.pre_roll_ms)
        if was_monitoring:
            self.start_monitoring()
        if was_hands_free and not self.set_hands_free(True):
            self.sig_hands_free_changed.emit(False)

    # -- push-to-talk ----------------------------------------------------------------------------------------------

    def press(self) -> None:
        """Start a push-to-talk utterance (with the pre-roll when the stream was already open)."""
        if self.hands_free:
            return
        if self.recording and self._releasing:  # pressed again during the tail: the same utterance goes on
            self._releasing = False
            self._grace.stop()
            self._gate.press()
            return
        if self.recording:
            return
        if self._mic is None:
            self._gate = PushToTalk(release_delay_ms=RELEASE_TAIL_MS, pre_roll_ms=self.pre_roll_ms)
            if not self._open():
                return
        self._poll()  # audio queued before the press belongs to the pre-roll
        if self._mic is None:  # it failed while draining
            return
        self._releasing = False
        self._gate.press()
        self._press_s = self._gate.time_s
        self.sig_recording_started.emit()

    def release(self) -> None:
        """End it after a short tail; emits ``sig_utterance_ready`` (unless it was too short)."""
        if not self.recording or self._releasing:
            return
        self._poll()
        if not self.recording:
            return
        self._held_s = self._gate.time_s - self._press_s
        self._releasing = True
        for ev in self._gate.release():
            self._on_gate_event(ev)
        if self.recording:
            self._grace.start(RELEASE_TAIL_MS + FINISH_GRACE_MS)

    def toggle(self) -> None:
        """Toggle mode: the first click starts recording, the next one ends it."""
        if self.recording and not self._releasing:
            self.release()
        else:
            self.press()

    def cancel(self) -> None:
        """Drop a push-to-talk recording in progress."""
        if self.recording:
            self._gate.cancel()
            self._releasing = False
            self._grace.stop()
            if not self._monitoring and not self.hands_free:
                self._close()
            self.sig_recording_stopped.emit()

    def _on_gate_event(self, ev: Any) -> None:
        if isinstance(ev, SpeechEnded):
            self._finish(ev.utterance, ev.reason)

    def _force_finish(self) -> None:
        """No audio came after the release (a stalled device): send what was recorded."""
        for ev in self._gate.flush():
            self._on_gate_event(ev)

    def _finish(self, audio: np.ndarray, reason: str) -> None:
        held = self._held_s if self._releasing else self._gate.time_s - self._press_s
        self._grace.stop()
        self._releasing = False
        if not self._monitoring and not self.hands_free:
            self._close()
        self.sig_recording_stopped.emit()
        logger.debug("push-to-talk utterance ended (%s): held %.2f s, %.2f s of audio", reason, held, len(audio) / 16000)
        if held < MIN_UTTERANCE_S or len(audio) == 0:
            self.sig_error_occurred.emit("That was too short to hear anything: hold the key (or button) while you speak.")
            return
        self.sig_utterance_ready.emit(np.asarray(audio, np.float32))

    # -- hands-free ------------------------------------------------------------------------------------------------

    def set_hands_free(self, on: bool) -> bool:
        """Switch hands-free listening; returns whether it is on."""
        if on == self.hands_free:
            return on
        if on:
            self.cancel()
            try:
                self._vad = Endpointer(self.vad_config)
            except Exception as exc:  # webrtcvad missing
                self.sig_error_occurred.emit(f"Hands-free mode is unavailable: {exc}")
                return False
            if self._mic is None and not self._open():
                self._vad = None
                return False
            return True
        self._vad = None
        if not self._monitoring:
            self._close()
        return False

    # -- common ----------------------------------------------------------------------------------------------------

    def _open(self) -> bool:
        try:
            self._mic = self._factory()
            self._mic.start()
        except AudioError as exc:
            self._mic = None
            self.sig_error_occurred.emit(str(exc))
            return False
        self._timer.start()
        return True

    def _close(self) -> None:
        self._timer.stop()
        if self._mic is not None:
            try:
                self._mic.stop()
            except AudioError as exc:
                logger.info("stopping the microphone: %s", exc)
            self._mic = None
        self.sig_level_changed.emit(-100.0)

    def _poll(self) -> None:
        if self._mic is None:
            return
        try:
            chunks = self._mic.read_available()
        except AudioError as exc:
            self._failed(exc)
            return
        if not chunks:
            return
        self.sig_level_changed.emit(rms_dbfs(chunks[-1]))
        for chunk in chunks:
            if self._vad is not None:
                for ev in self._vad.feed_audio(chunk):
                    if isinstance(ev, SpeechStarted):
                        self.sig_speech_started.emit()
                    elif isinstance(ev, SpeechEnded) and ev.duration_s >= MIN_UTTERANCE_S:
                        self.sig_utterance_ready.emit(ev.utterance)
            else:
                for ev in self._gate.feed_audio(chunk):  # idle: only fills the pre-roll ring
                    self._on_gate_event(ev)

    def _failed(self, exc: BaseException) -> None:
        """The microphone failed: say so, send what a push-to-talk recording got, and close it."""
        logger.info("microphone failed: %s", exc)
        self.sig_error_occurred.emit(str(exc))
        self._monitoring = False
        self._timer.stop()
        self._mic = None
        if self.recording:
            for ev in self._gate.flush():
                self._on_gate_event(ev)
        if self._vad is not None:
            self._vad = None
            self.sig_hands_free_changed.emit(False)
        self.sig_level_changed.emit(-100.0)
