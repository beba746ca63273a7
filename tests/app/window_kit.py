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
    """A microphone that delivers a sine in 30 ms chunks whenever it is polled."""

    def __init__(self) -> None:
        self.running = False

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def read_available(self) -> list[np.ndarray]:
        t = np.arange(480, dtype=np.float32) / 16000
        return [0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32)] * 2 if self.running else []


def make_player(device: Any = None, on_finished: Any = None) -> Any:
    from anygpt_desktop.audio.playback import StreamingPlayer

    return StreamingPlayer(device, stream_factory=FakeStream, on_finished=on_finished)
