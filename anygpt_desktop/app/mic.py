"""Microphone input for the window: push-to-talk (hold) and hands-free (VAD), with a live level.

The microphone delivers chunks in PortAudio's thread into a queue; a 30 ms QTimer drains it on the GUI thread (cheap:
a copy and, hands-free, webrtcvad on a few frames). Errors (no microphone, unplugged mid-recording) become
``sig_error_occurred`` with the audio package's readable message; audio recorded so far is kept.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from anygpt_desktop.audio.capture import Microphone, rms_dbfs
from anygpt_desktop.audio.errors import AudioError
from anygpt_desktop.audio.vad import Endpointer, SpeechEnded, SpeechStarted, VadConfig

logger = logging.getLogger(__name__)

MicFactory = Callable[[], Any]  # returns an object with start/stop/read_available (like Microphone)
RELEASE_TAIL_MS = 300  # keep recording this long after the key is released (the last word trails it)
MIN_UTTERANCE_S = 0.25


class MicController(QObject):
    sig_recording_started = Signal()
    sig_recording_stopped = Signal()
    sig_utterance_ready = Signal(object)  # float32 16 kHz mono
    sig_speech_started = Signal()  # hands-free: the user started speaking (barge-in)
    sig_level_changed = Signal(float)  # dBFS
    sig_error_occurred = Signal(str)

    def __init__(self, mic_factory: MicFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._factory = mic_factory or (lambda: Microphone())
        self._mic: Any = None
        self._chunks: list[np.ndarray] = []
        self._ptt = False
        self._releasing = False
        self._vad: Endpointer | None = None
        self.vad_config = VadConfig()
        self._timer = QTimer(self)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._poll)

    @property
    def recording(self) -> bool:
        return self._ptt

    @property
    def hands_free(self) -> bool:
        return self._vad is not None

    # -- push-to-talk ----------------------------------------------------------------------------------------------

    def press(self) -> None:
        """Start a push-to-talk utterance."""
        if self._ptt or self.hands_free:
            return
        self._releasing = False
        if self._open():
            self._chunks = []
            self._ptt = True
            self.sig_recording_started.emit()

    def release(self) -> None:
        """End it after a short tail; emits ``sig_utterance_ready`` (unless it was too short)."""
        if self._ptt and not self._releasing:
            self._releasing = True
            QTimer.singleShot(RELEASE_TAIL_MS, self._finish_ptt)

    def cancel(self) -> None:
        """Drop a push-to-talk recording in progress."""
        if self._ptt:
            self._ptt = False
            self._close()
            self.sig_recording_stopped.emit()

    def _finish_ptt(self) -> None:
        if not self._ptt:
            return
        self._poll()
        self._ptt = False
        self._close()
        self.sig_recording_stopped.emit()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        self._chunks = []
        if len(audio) < MIN_UTTERANCE_S * 16000:
            self.sig_error_occurred.emit("That was too short to hear anything: hold the key (or button) while you speak.")
            return
        self.sig_utterance_ready.emit(audio.astype(np.float32))

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
            if not self._open():
                self._vad = None
                return False
            return True
        self._vad = None
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
            self.sig_error_occurred.emit(str(exc))
            if self._ptt:
                self._finish_keep(exc)
            else:
                self.set_hands_free(False)
            return
        if not chunks:
            return
        self.sig_level_changed.emit(rms_dbfs(chunks[-1]))
        if self._ptt:
            self._chunks.extend(chunks)
        elif self._vad is not None:
            for chunk in chunks:
                for ev in self._vad.feed_audio(chunk):
                    if isinstance(ev, SpeechStarted):
                        self.sig_speech_started.emit()
                    elif isinstance(ev, SpeechEnded) and ev.duration_s >= MIN_UTTERANCE_S:
                        self.sig_utterance_ready.emit(ev.utterance)

    def _finish_keep(self, exc: BaseException) -> None:
        """The microphone failed mid push-to-talk: send what was recorded."""
        logger.info("microphone failed while recording: %s", exc)
        self._releasing = True
        self._mic = None
        self._timer.stop()
        self._finish_ptt()
