"""Sound output for the window: the streaming speech player and file playback, as a QObject with signals.

Wraps :class:`anygpt_desktop.audio.playback.StreamingPlayer`. A missing or failing output device never raises into the
GUI: it becomes ``sig_playback_failed`` (the window shows it as an error notice) and the reply is still shown as text.

A spoken reply produced slower than real time is held back by the player's jitter buffer until it can play to the end
without a gap; ``last_playback`` keeps the figures of the last utterance (wait before it started, underruns, silence).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from anygpt_desktop.audio.errors import AudioError
from anygpt_desktop.audio.playback import StreamingPlayer

logger = logging.getLogger(__name__)

PlayerFactory = Callable[..., Any]


class AudioOut(QObject):
    """One output stream for everything the app plays; playing something new interrupts what was playing."""

    sig_playback_started = Signal(str)  # what: "speech" or a file path
    sig_playback_finished = Signal(str, bool)  # what, interrupted
    sig_playback_failed = Signal(str)  # a message for the user

    def __init__(self, device: Any = None, player_factory: PlayerFactory | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._device = device
        self._factory = player_factory or StreamingPlayer
        self._player: Any = None
        self.current: str = ""  # what is playing ("" when idle)
        self.failed_message = ""
        self.last_playback: dict[str, float] = {}  # start_delay_s, underruns, silence_s of the last utterance

    def set_device(self, device: Any) -> None:
        """Play on another output device from now on (what plays now stops)."""
        if device == self._device:
            return
        self.stop()
        self.close()
        self._device = device

    def _ensure(self) -> Any:
        if self._player is None:
            self._player = self._factory(self._device, on_finished=self._finished_in_audio_thread)
        return self._player

    def _finished_in_audio_thread(self, interrupted: bool) -> None:
        what, self.current = self.current, ""
        if what and self._player is not None:
            self.last_playback = self.playback_figures()
            if self.last_playback.get("underruns"):
                logger.info("playback of %s ran dry %d times (%.2f s of silence)", what,
                            self.last_playback["underruns"], self.last_playback["silence_s"])
        if what:
            self.sig_playback_finished.emit(what, interrupted)  # queued to the GUI thread by Qt

    @property
    def playing(self) -> bool:
        return self._player is not None and bool(self._player.playing)

    @property
    def position_s(self) -> float:
        return float(self._player.position_s) if self._player is not None else 0.0

    def playback_figures(self) -> dict[str, float]:
        """The current (or last) utterance: seconds held back before it started, underruns, seconds of silence."""
        p = self._player
        return {
            "start_delay_s": float(getattr(p, "start_delay_s", 0.0)),
            "underruns": int(getattr(p, "underruns", 0)),
            "silence_s": float(getattr(p, "silence_s", 0.0)),
        }

    def feed(self, chunk: np.ndarray, sample_rate: int, what: str = "speech") -> bool:
        """Queue a chunk of the utterance ``what`` (starting it if idle, interrupting anything else); False on failure."""
        try:
            player = self._ensure()
            if self.current and self.current != what:
                player.stop()
            if not self.current:
                self.current = what
                player.feed(chunk, sample_rate)
                self.sig_playback_started.emit(what)
            else:
                player.feed(chunk, sample_rate)
            return True
        except (AudioError, OSError, RuntimeError) as exc:  # OSError: a player that cannot open any device
            self.current = ""
            self._report(exc)
            return False

    def end(self) -> None:
        """No more chunks for the current utterance."""
        if self._player is not None:
            self._player.end()

    def play_file(self, path: Path | str) -> bool:
        """Play a WAV/FLAC/OGG file from the start (interrupting whatever plays)."""
        import soundfile as sf

        try:
            data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        except (OSError, RuntimeError) as exc:
            self._report(exc)
            return False
        self.stop()
        ok = self.feed(data.mean(axis=1), sr, what=str(path))
        if ok:
            self.end()
        return ok

    def stop(self) -> None:
        """Silence at once."""
        if self._player is not None:
            self._player.stop()
        self.current = ""

    def close(self) -> None:
        if self._player is not None:
            self._player.close()
            self._player = None

    def _report(self, exc: BaseException) -> None:
        msg = str(exc) or type(exc).__name__
        if msg != self.failed_message:
            logger.warning("playback: %s", msg)
        self.failed_message = msg
        self.sig_playback_failed.emit(msg)
