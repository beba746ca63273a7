"""Fakes for the audio tests: PortAudio-like streams driven by the test, and speech-like test signals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest


class FakeStream:
    """Stands in for sounddevice.InputStream/OutputStream; the test drives the callback."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.samplerate = kwargs["samplerate"]
        self.channels = kwargs["channels"]
        self.started = False
        self.closed = False
        self.aborted = 0
        self.start_count = 0

    def start(self) -> None:
        self.started = True
        self.start_count += 1

    def stop(self) -> None:
        self.started = False

    def abort(self) -> None:
        self.started = False
        self.aborted += 1

    def close(self) -> None:
        self.closed = True

    # input side
    def push(self, block: np.ndarray) -> None:
        data = np.asarray(block, dtype=np.float32).reshape(-1, 1)
        self.kwargs["callback"](data, len(data), None, None)

    # output side
    def pull(self, frames: int) -> np.ndarray:
        out = np.full((frames, self.channels), np.nan, dtype=np.float32)  # the callback must overwrite every sample
        self.kwargs["callback"](out, frames, None, None)
        return out

    def vanish(self) -> None:
        """The device disappears: PortAudio ends the stream and calls finished_callback."""
        self.started = False
        self.kwargs["finished_callback"]()


class FakeFactory:
    """A stream factory recording what it made; ``refuse`` lists sample rates it rejects like PortAudio would."""

    def __init__(self, refuse: tuple[int, ...] = ()) -> None:
        self.refuse = refuse
        self.streams: list[FakeStream] = []
        self.attempts: list[int] = []

    def __call__(self, **kwargs: Any) -> FakeStream:
        self.attempts.append(kwargs["samplerate"])
        if kwargs["samplerate"] in self.refuse:
            raise RuntimeError(f"Invalid sample rate [PaErrorCode -9997] {kwargs['samplerate']}")
        stream = FakeStream(**kwargs)
        self.streams.append(stream)
        return stream

    @property
    def stream(self) -> FakeStream:
        return self.streams[-1]


@pytest.fixture
def fake_factory() -> FakeFactory:
    return FakeFactory()


@pytest.fixture
def make_factory() -> type[FakeFactory]:
    """The FakeFactory class, e.g. ``make_factory(refuse=(16000,))`` (conftest modules are not importable by name)."""
    return FakeFactory


def speech_like(seconds: float, sr: int = 16000, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A voiced-speech-like signal: a gliding harmonic series (f0 ~ 110-170 Hz, 1/k spectrum), syllable-rate (4 Hz)
    amplitude modulation that never drops to zero, formant-ish emphasis, and a little noise. float32, peak ~0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f = f0 + 30.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f) / sr
    x = np.zeros_like(t)
    for k in range(1, 25):
        if k * 170 > sr / 2:
            break
        formant = 1.0 + 2.0 * np.exp(-(((k * f0) - 600) / 250) ** 2) + 1.2 * np.exp(-(((k * f0) - 1800) / 400) ** 2)
        x += formant / k * np.sin(k * phase)
    x *= 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t) ** 2
    x = x / np.abs(x).max() * 0.5 + 0.01 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def quiet(seconds: float, sr: int = 16000, seed: int = 1, level: float = 0.001) -> np.ndarray:
    """Near-silence: faint white noise (about -60 dBFS)."""
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def tone(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[int(np.argmax(spec))])


@pytest.fixture
def signals() -> Any:
    """The signal helpers above, for test modules (conftest functions are not importable by name)."""

    class _S:
        pass

    s = _S()
    s.speech_like = speech_like
    s.quiet = quiet
    s.tone = tone
    s.dominant_frequency = dominant_frequency
    return s
