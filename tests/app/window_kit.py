"""Fakes for the window's tests: an output stream that plays nothing, a microphone that hums, the player on them."""

from __future__ import annotations

from typing import Any

import numpy as np


class FakeStream:
    """An output stream that accepts everything and plays nothing (no sound card here)."""

    started = 0
    aborted = 0

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def start(self) -> None:
        FakeStream.started += 1

    def stop(self) -> None:
        pass

    def abort(self) -> None:
        FakeStream.aborted += 1

    def close(self) -> None:
        pass


class FakeMic:
    """A microphone that delivers a voiced buzz (a 130 Hz tone rich in harmonics, which the voice detector takes for
    speech) in 30 ms chunks whenever it is polled; with ``FakeMic.speaking = False`` a plain hum that is not speech."""

    speaking = True

    def __init__(self) -> None:
        self.running = False
        self._n = 0

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def _chunk(self) -> np.ndarray:
        t = (self._n + np.arange(480)) / 16000
        self._n += 480
        if not FakeMic.speaking:
            return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        buzz = sum(np.sin(2 * np.pi * 130 * k * t) / k for k in range(1, 30))
        return (0.1 * buzz * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)

    def read_available(self) -> list[np.ndarray]:
        return [self._chunk(), self._chunk()] if self.running else []


def make_player(device: Any = None, on_finished: Any = None) -> Any:
    from anygpt_desktop.audio.playback import StreamingPlayer

    return StreamingPlayer(device, stream_factory=FakeStream, on_finished=on_finished)
