"""The playback part of ``bench turn``: the slowed synthesis and the replay of chunk arrivals through the player."""

import time

import numpy as np
import pytest
import torch

from anygpt_desktop.bench.turn import SlowSoundStorm, replay_playback


def test_replay_counts_the_gaps_without_and_none_with_the_jitter_buffer():
    rate = 16000
    chunks = [np.full(rate // 2, 0.2, np.float32) for _ in range(8)]  # 4 s of audio
    arrivals = [1.0 * k for k in range(8)]  # produced at 0.5x real time
    plain = replay_playback(arrivals, chunks, rate, jitter_buffer=False)
    assert plain.first_sound_s == 0.0
    assert plain.underruns == 7 and plain.silence_s == pytest.approx(3.5, abs=0.05)  # 0.5 s gap before each chunk
    buffered = replay_playback(arrivals, chunks, rate, jitter_buffer=True)
    assert buffered.underruns == 0 and buffered.silence_s == 0.0
    assert buffered.first_sound_s >= 7.0 - 3.5  # the last chunk (at 7 s) must come before 3.5 s have played
    assert buffered.ends_s == pytest.approx(buffered.first_sound_s + 4.0, abs=0.05)


class Storm:
    cfg = "the config"

    def generate(self, semantic, prompt=None, steps=1):
        return semantic * 2


def test_slow_soundstorm_takes_factor_times_the_audio_length():
    slow = SlowSoundStorm(Storm(), factor=2.0)
    assert slow.cfg == "the config"
    t0 = time.perf_counter()
    out = slow.generate(torch.ones(1, 5, dtype=torch.long), None, steps=3)  # 5 units = 0.1 s of speech
    assert time.perf_counter() - t0 >= 0.2 - 1e-3
    assert out.tolist() == [[2] * 5]
