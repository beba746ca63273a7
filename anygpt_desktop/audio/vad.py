"""Turn a microphone stream into utterances: a webrtcvad endpointer (hands-free) and a push-to-talk gate.

Both are pure logic, driven only by the audio fed to them (time = samples fed, never the wall clock), so they are
deterministic and testable. Input is 16 kHz mono in 30 ms frames (480 samples); ``feed_audio`` accepts chunks of any
length (float32 in [-1, 1] or int16) and splits them. Output is a list of events per call:
``SpeechStarted`` when an utterance begins and ``SpeechEnded`` with the utterance as float32 16 kHz samples.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FRAME_MS = 30
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 480

EndReason = Literal["silence", "max_length", "released", "flushed"]


@dataclass(frozen=True)
class SpeechStarted:
    """An utterance began; ``start_s`` is where its audio (pre-roll included) starts in the fed stream."""

    start_s: float


@dataclass(frozen=True)
class SpeechEnded:
    """An utterance ended; ``utterance`` is float32 16 kHz mono audio from ``start_s`` to ``end_s`` of the fed stream."""

    utterance: np.ndarray
    start_s: float
    end_s: float
    reason: EndReason

    @property
    def duration_s(self) -> float:
        return len(self.utterance) / SAMPLE_RATE


VadEvent = SpeechStarted | SpeechEnded


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float32 [-1, 1] (or int16 as is) → int16."""
    a = np.asarray(samples)
    if a.dtype == np.int16:
        return a
    return (np.clip(a.astype(np.float32), -1.0, 1.0) * 32767.0).round().astype(np.int16)


def frame_dbfs(frame: np.ndarray) -> float:
    """RMS level of an int16 frame in dBFS (−100 for digital silence)."""
    ms = float(np.mean(np.square(frame, dtype=np.float64))) / (32768.0 * 32768.0)
    return 10.0 * np.log10(ms) if ms > 1e-10 else -100.0


class _FrameFeeder:
    """Splits chunks of any length into 30 ms int16 frames and counts the samples fed (the clock)."""

    def __init__(self) -> None:
        self._rest = np.zeros(0, dtype=np.int16)
        self._frames_fed = 0

    @property
    def time_s(self) -> float:
        """Seconds of audio consumed as whole frames so far."""
        return self._frames_fed * FRAME_SAMPLES / SAMPLE_RATE

    def feed_audio(self, chunk: np.ndarray) -> list[VadEvent]:
        """Feed 16 kHz mono audio of any length; returns the events of every complete frame in it."""
        data = to_int16(np.asarray(chunk).reshape(-1))
        if len(self._rest):
            data = np.concatenate([self._rest, data])
        n = len(data) // FRAME_SAMPLES
        events: list[VadEvent] = []
        for i in range(n):
            events.extend(self.feed(data[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]))
        self._rest = data[n * FRAME_SAMPLES :].copy()
        return events

    def feed(self, frame: np.ndarray | bytes) -> list[VadEvent]:
        """Feed exactly one 30 ms frame (480 int16 samples, raw bytes, or float32)."""
        if isinstance(frame, (bytes, bytearray, memoryview)):
            arr = np.frombuffer(bytes(frame), dtype=np.int16)
        else:
            arr = to_int16(np.asarray(frame).reshape(-1))
        if len(arr) != FRAME_SAMPLES:
            raise ValueError(f"a frame must hold {FRAME_SAMPLES} samples (30 ms at 16 kHz), got {len(arr)}")
        events = self._on_frame(arr)
        self._frames_fed += 1
        return events

    def _on_frame(self, frame: np.ndarray) -> list[VadEvent]:
        raise NotImplementedError


@dataclass(frozen=True)
class VadConfig:
    """Hands-free endpointing settings (defaults suit conversational speech)."""

    aggressiveness: int = 2  # webrtcvad 0 (least) .. 3 (most eager to call audio non-speech)
    energy_floor_dbfs: float = -55.0  # frames quieter than this (RMS) are never speech: webrtcvad alone
    # calls faint steady noise "speech" for seconds after an utterance, which would keep it from ending
    start_window_frames: int = 10  # M: look at the last 300 ms ...
    start_voiced_frames: int = 6  # N: ... and start when at least this many are voiced
    end_silence_ms: int = 700  # end after this much non-speech ...
    end_voiced_ratio: float = 0.1  # ... i.e. at most this share of voiced frames in it (noise makes stray voiced frames)
    pre_roll_ms: int = 300  # audio kept from before the start window (the first syllable)
    tail_ms: int = 150  # trailing silence kept after the last voiced frame
    max_utterance_s: float = 30.0  # an utterance is cut (reason "max_length") at this length

    def __post_init__(self) -> None:
        if not 0 <= self.aggressiveness <= 3:
            raise ValueError(f"aggressiveness must be 0..3, got {self.aggressiveness}")
        if not 1 <= self.start_voiced_frames <= self.start_window_frames:
            raise ValueError("need 1 <= start_voiced_frames <= start_window_frames")
        if self.end_silence_ms < FRAME_MS or self.pre_roll_ms < 0 or not 0 <= self.tail_ms <= self.end_silence_ms:
            raise ValueError("need end_silence_ms >= 30, pre_roll_ms >= 0 and 0 <= tail_ms <= end_silence_ms")
        if self.max_utterance_s <= 0:
            raise ValueError("max_utterance_s must be positive")
        if not 0.0 <= self.end_voiced_ratio < 0.5:
            raise ValueError("end_voiced_ratio must be in [0, 0.5)")


SpeechClassifier = Callable[[bytes, int], bool]


def webrtc_classifier(aggressiveness: int) -> SpeechClassifier:
    """webrtcvad's ``Vad(aggressiveness).is_speech`` (package ``webrtcvad-wheels``)."""
    import webrtcvad

    return webrtcvad.Vad(aggressiveness).is_speech


def _frames(ms: float) -> int:
    return int(round(ms / FRAME_MS))


class Endpointer(_FrameFeeder):
    """Hands-free utterance detection.

    Idle: a ring buffer keeps the last ``start_window + pre_roll`` frames. When at least N of the last M frames are voiced,
    ``SpeechStarted`` is emitted and the utterance begins with the whole ring buffer. In speech: when the last
    ``end_silence_ms`` hold at most ``end_voiced_ratio`` voiced frames (and the newest frame is unvoiced) the utterance
    ends (``SpeechEnded``, keeping ``tail_ms`` after the last voiced frame); reaching ``max_utterance_s`` also ends it, and
    detection starts over. ``classifier`` defaults to webrtcvad; tests may inject their own.
    """

    def __init__(self, config: VadConfig | None = None, classifier: SpeechClassifier | None = None) -> None:
        super().__init__()
        self.config = config or VadConfig()
        self._classify = classifier or webrtc_classifier(self.config.aggressiveness)
        c = self.config
        self._end_frames = max(1, _frames(c.end_silence_ms))
        self._tail_frames = min(_frames(c.tail_ms), self._end_frames)
        self._max_frames = max(1, int(c.max_utterance_s * 1000 / FRAME_MS))
        self._ring: collections.deque[tuple[np.ndarray, bool]] = collections.deque(
            maxlen=c.start_window_frames + _frames(c.pre_roll_ms)
        )
        self._utt: list[np.ndarray] = []
        self._recent: collections.deque[bool] = collections.deque(maxlen=self._end_frames)
        self._last_voiced = 0  # index in _utt of the newest voiced frame
        self._start_frame = 0

    @property
    def in_speech(self) -> bool:
        return bool(self._utt)

    def reset(self) -> None:
        """Forget everything (an utterance in progress is dropped); the clock keeps running."""
        self._ring.clear()
        self._utt = []
        self._recent.clear()

    def flush(self) -> list[VadEvent]:
        """End an utterance in progress now (e.g. hands-free mode switched off); returns its ``SpeechEnded`` if any."""
        if not self._utt:
            return []
        return [self._end("flushed", keep=len(self._utt))]

    def _on_frame(self, frame: np.ndarray) -> list[VadEvent]:
        voiced = frame_dbfs(frame) >= self.config.energy_floor_dbfs and bool(self._classify(frame.tobytes(), SAMPLE_RATE))
        if not self._utt:
            self._ring.append((frame, voiced))
            window = list(self._ring)[-self.config.start_window_frames :]
            if sum(v for _, v in window) < self.config.start_voiced_frames:
                return []
            self._utt = [f for f, _ in self._ring]
            self._ring.clear()
            self._start_frame = self._frames_fed + 1 - len(self._utt)
            self._recent.clear()
            self._last_voiced = len(self._utt) - 1
            log.debug("speech started at %.2f s", self._start_frame * FRAME_MS / 1000)
            events: list[VadEvent] = [SpeechStarted(start_s=self._start_frame * FRAME_MS / 1000)]
            if len(self._utt) >= self._max_frames:
                events.append(self._end("max_length", keep=len(self._utt)))
            return events
        self._utt.append(frame)
        self._recent.append(voiced)
        if voiced:
            self._last_voiced = len(self._utt) - 1
        if (
            not voiced
            and len(self._recent) == self._end_frames
            and sum(self._recent) <= self.config.end_voiced_ratio * self._end_frames
        ):
            keep = self._last_voiced + 1 + self._tail_frames
            window_start = len(self._utt) - self._end_frames
            flags = list(self._recent)
            rest = [
                (self._utt[i], i >= window_start and flags[i - window_start]) for i in range(keep, len(self._utt))
            ]
            ended = self._end("silence", keep=keep)
            self._ring.extend(rest)  # the silence after the utterance is the pre-roll of the next one
            return [ended]
        if len(self._utt) >= self._max_frames:
            return [self._end("max_length", keep=len(self._utt))]
        return []

    def _end(self, reason: EndReason, keep: int) -> SpeechEnded:
        frames = self._utt[:keep]
        self._utt = []
        self._recent.clear()
        audio = (np.concatenate(frames).astype(np.float32) / 32768.0) if frames else np.zeros(0, np.float32)
        start_s = self._start_frame * FRAME_MS / 1000
        log.debug("speech ended (%s): %.2f s", reason, len(audio) / SAMPLE_RATE)
        return SpeechEnded(utterance=audio, start_s=start_s, end_s=start_s + len(audio) / SAMPLE_RATE, reason=reason)


class PushToTalk(_FrameFeeder):
    """Push-to-talk gate with the endpointer's output. Nothing between press and release is dropped.

    ``press()`` starts an utterance (with ``pre_roll_ms`` of the audio fed just before, 0 by default); ``release()``
    keeps recording for ``release_delay_ms`` more (the last word often trails the key) and then emits ``SpeechEnded``.
    Pressing again during that delay continues the same utterance. ``max_utterance_s`` cuts a stuck key; its default
    is the app's limit for a spoken input (``audio.files.SPEECH_INPUT_MAX_SECONDS``, 60 s).
    """

    def __init__(self, release_delay_ms: int = 400, pre_roll_ms: int = 0, max_utterance_s: float = 60.0) -> None:
        super().__init__()
        if release_delay_ms < 0 or pre_roll_ms < 0 or max_utterance_s <= 0:
            raise ValueError("release_delay_ms and pre_roll_ms must be >= 0, max_utterance_s > 0")
        self._delay_frames = _frames(release_delay_ms)
        self._max_frames = max(1, int(max_utterance_s * 1000 / FRAME_MS))
        self._ring: collections.deque[np.ndarray] = collections.deque(maxlen=max(1, _frames(pre_roll_ms)))
        self._keep_pre_roll = pre_roll_ms > 0
        self._utt: list[np.ndarray] | None = None
        self._start_frame = 0
        self._release_left: int | None = None

    @property
    def pressed(self) -> bool:
        return self._utt is not None and self._release_left is None

    @property
    def recording(self) -> bool:
        return self._utt is not None

    def press(self) -> list[VadEvent]:
        """Key/button down. Returns ``SpeechStarted`` (nothing when re-pressed during the release delay)."""
        if self._utt is not None:
            self._release_left = None
            return []
        self._utt = list(self._ring) if self._keep_pre_roll else []
        self._ring.clear()
        self._start_frame = self._frames_fed - len(self._utt)
        self._release_left = None
        return [SpeechStarted(start_s=self._start_frame * FRAME_MS / 1000)]

    def release(self) -> list[VadEvent]:
        """Key/button up: the utterance ends after ``release_delay_ms`` more audio (at once when the delay is 0)."""
        if self._utt is None or self._release_left is not None:
            return []
        self._release_left = self._delay_frames
        if self._release_left == 0:
            return [self._end("released")]
        return []

    def cancel(self) -> None:
        """Drop the utterance in progress without an event."""
        self._utt = None
        self._release_left = None

    def flush(self) -> list[VadEvent]:
        """End an utterance in progress now, ignoring any remaining release delay."""
        return [self._end("flushed")] if self._utt is not None else []

    def _on_frame(self, frame: np.ndarray) -> list[VadEvent]:
        if self._utt is None:
            self._ring.append(frame)
            return []
        self._utt.append(frame)
        if self._release_left is not None:
            self._release_left -= 1
            if self._release_left <= 0:
                return [self._end("released")]
        if len(self._utt) >= self._max_frames:
            return [self._end("max_length")]
        return []

    def _end(self, reason: EndReason) -> SpeechEnded:
        frames = self._utt or []
        self._utt = None
        self._release_left = None
        audio = (np.concatenate(frames).astype(np.float32) / 32768.0) if frames else np.zeros(0, np.float32)
        start_s = self._start_frame * FRAME_MS / 1000
        return SpeechEnded(utterance=audio, start_s=start_s, end_s=start_s + len(audio) / SAMPLE_RATE, reason=reason)
