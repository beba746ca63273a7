"""AudioOut with the real StreamingPlayer on a fake output stream and a fake clock: a slow reply is held back, not
interrupted, and the figures of the last utterance are kept."""

from __future__ import annotations

from typing import Any

import numpy as np

from anygpt_desktop.app.audio_out import AudioOut
from anygpt_desktop.audio.playback import StreamingPlayer


class Stream:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...

    def pull(self, frames: int) -> np.ndarray:
        out = np.zeros((frames, 1), np.float32)
        self.kwargs["callback"](out, frames, None, None)
        return out


def test_a_reply_slower_than_real_time_waits_and_plays_without_a_gap(qapp: Any) -> None:
    now = [0.0]
    streams: list[Stream] = []

    def factory(device: Any, on_finished: Any) -> StreamingPlayer:
        def make(**kwargs: Any) -> Stream:
            streams.append(Stream(**kwargs))
            return streams[-1]

        return StreamingPlayer(device, stream_factory=make, on_finished=on_finished, clock=lambda: now[0])

    out = AudioOut(player_factory=factory)
    finished: list[tuple[str, bool]] = []
    out.sig_playback_finished.connect(lambda what, interrupted: finished.append((what, interrupted)))
    chunk = np.full(8000, 0.2, np.float32)  # 0.5 s, one every 0.8 s: 0.625x real time, 4 s in all
    arrivals = [0.8 * k for k in range(8)]
    heard, k = 0, 0
    while k < len(arrivals) or out.playing:
        if k < len(arrivals) and now[0] >= arrivals[k]:
            assert out.feed(chunk, 16000, what="speech:1")
            k += 1
            if k == len(arrivals):
                out.end()
        heard += int(streams[0].pull(320).any())
        now[0] += 0.02
        assert now[0] < 30
    figures = out.last_playback
    assert figures["underruns"] == 0 and figures["silence_s"] == 0.0
    assert figures["start_delay_s"] > 1.0  # held back: 4 s produced in 5.6 s cannot start at once
    assert heard == 200  # 4 s in 20 ms blocks, without a gap
    qapp.processEvents()
    assert finished == [("speech:1", False)]
    out.close()
