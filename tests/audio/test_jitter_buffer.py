"""The playout planner (jitter buffer) against simulated producers on a fake clock, alone and inside the player."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from anygpt_desktop.audio.jitter_buffer import MAX_SPEECH_SECONDS, PlayoutPlanner, earliest_safe_start
from anygpt_desktop.audio.playback import StreamingPlayer

RATES = [0.5, 0.7, 0.9, 1.0, 1.2, 2.0, 3.0]  # audio seconds produced per wall second
CHUNKS = [0.1, 0.25, 0.5, 1.0]  # seconds of audio per chunk
TOTALS = [3.0, 12.0, 30.0]


@dataclass
class Schedule:
    """A producer at a constant rate: chunk k arrives ``first_delay + (E[k] - E[1]) / rate`` after the turn began."""

    arrivals: list[float]
    seconds: list[float]

    @classmethod
    def steady(cls, rate: float, chunk: float, total: float, first_delay: float = 0.7, first: float | None = None) -> Schedule:
        sizes = [first if first is not None else chunk]
        while sum(sizes) < total - 1e-9:
            sizes.append(min(chunk, total - sum(sizes)))
        ends = np.cumsum(sizes)
        arrivals = [first_delay + (e - ends[0]) / rate for e in ends]
        return cls(arrivals, sizes)

    def underruns(self, start: float) -> int:
        """Chunks that arrive after playback (started at ``start``) needed them."""
        produced, late = 0.0, 0
        for t, s in zip(self.arrivals, self.seconds):
            late += t > start + produced + 1e-9
            produced += s
        return late


def plan(schedule: Schedule, planner: PlayoutPlanner, total: float | None = None) -> float:
    """Feed the schedule to the planner as the player would (``end`` after the last chunk); return when playback
    starts: the planned time once it falls before the next arrival. The rate it measured becomes its prior."""
    planner.reset()
    if total is not None:
        planner.set_total(total)
    for k, (t, s) in enumerate(zip(schedule.arrivals, schedule.seconds)):
        planner.add_chunk(s, t)
        last = k == len(schedule.arrivals) - 1
        if last:
            planner.end()
        start = planner.start_time()
        if last or start < schedule.arrivals[k + 1]:
            return max(t, start)
    raise AssertionError("unreachable")


def with_prior(rate: float, **kwargs: Any) -> PlayoutPlanner:
    """A planner that has seen one earlier utterance produced at ``rate``."""
    planner = PlayoutPlanner(**kwargs)
    plan(Schedule.steady(rate, 0.5, 3.0), planner)
    return planner


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("chunk", CHUNKS)
def test_no_underrun_at_any_rate_chunk_size_or_length(rate: float, chunk: float) -> None:
    for total in TOTALS:
        for known in (total, None):
            # no prior, the right one, and a prior 5 % too optimistic (within rate_safety)
            for planner in (PlayoutPlanner(), with_prior(rate), with_prior(rate * 1.05)):
                schedule = Schedule.steady(rate, chunk, total, first=0.42 if chunk == 0.5 else None)
                start = plan(schedule, planner, known)
                assert schedule.underruns(start) == 0, (rate, chunk, total, known, start)
                assert start >= schedule.arrivals[0]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("chunk", CHUNKS)
def test_first_audio_is_no_later_than_needed(rate: float, chunk: float) -> None:
    """With the rate known (a prior) and no safety margins the planner starts exactly at the analytic earliest safe
    start; measuring the rate first costs at most one chunk interval."""
    exact = {"margin_s": 0.0, "rate_safety": 1.0, "chunk_hint_s": 0.0}
    for total in TOTALS:
        schedule = Schedule.steady(rate, chunk, total)
        needed = earliest_safe_start(schedule.arrivals, schedule.seconds)
        start = plan(schedule, with_prior(rate, **exact), total)
        assert start == pytest.approx(needed, abs=1e-6)
        cold = plan(schedule, PlayoutPlanner(**exact), total)
        interval = chunk / rate
        assert needed - 1e-6 <= cold <= needed + interval + 1e-6
        assert schedule.underruns(cold) == 0


@pytest.mark.parametrize("rate", [1.2, 2.0, 3.0])
def test_faster_than_real_time_starts_at_the_first_chunk(rate: float) -> None:
    schedule = Schedule.steady(rate, 0.5, 12.0, first=0.42)
    for known in (None, 12.0):
        start = plan(schedule, with_prior(rate), known)
        assert schedule.arrivals[0] < start <= schedule.arrivals[0] + 0.07  # the margin (and a chunk-size guess)
        assert schedule.underruns(start) == 0


@pytest.mark.parametrize("rate", [0.5, 0.7, 0.9])
def test_unknown_length_assumes_the_longest_reply(rate: float) -> None:
    """Length unknown: a short reply produced slower than real time starts when it is complete (never earlier than
    safe for the longest reply), a long one as soon as the longest reply would be safe."""
    exact = {"margin_s": 0.0, "rate_safety": 1.0, "chunk_hint_s": 0.0}
    for total in TOTALS:
        schedule = Schedule.steady(rate, 0.5, total)
        longest = Schedule.steady(rate, 0.5, MAX_SPEECH_SECONDS)
        bound = min(schedule.arrivals[-1], earliest_safe_start(longest.arrivals, longest.seconds))
        start = plan(schedule, with_prior(rate, **exact))
        assert start == pytest.approx(bound, abs=1e-6)
        assert schedule.underruns(start) == 0


def test_rate_is_measured_between_chunks_and_conservatively() -> None:
    planner = PlayoutPlanner()
    planner.add_chunk(0.5, 10.0)  # a slow first chunk (the prompt) says nothing about the rate
    assert planner.measured_rate() is None and planner.rate_estimate() is None
    assert planner.start_time() == math.inf  # no prior: wait for a measurement
    for k in range(1, 6):
        planner.add_chunk(0.5, 10.0 + 0.25 * k)  # 2x real time
    assert planner.measured_rate() == pytest.approx(2.0)
    planner.add_chunk(0.5, 10.0 + 1.25 + 1.0)  # the producer slows down: the recent rate counts
    overall, recent = 3.0 / 2.25, 2.0 / (0.75 + 1.0)  # the last 4 intervals: 2 s of audio in 1.75 s
    assert planner.measured_rate() == pytest.approx(min(overall, recent)) and recent < overall
    assert planner.rate_estimate() == pytest.approx(planner.measured_rate() * 0.95)
    planner.reset()
    assert planner.prior_rate == pytest.approx(recent) and planner.produced_s == 0  # for the next utterance


# -- inside the player: a fake clock, a fake output stream pulled block by block --------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def play_simulated(fake_factory: Any, rate: float, chunk: float, total: float, rounds: int = 2) -> list[StreamingPlayer]:
    """``rounds`` utterances from a producer at ``rate``; the device pulls 20 ms blocks on the fake clock."""
    clock = Clock()
    player = StreamingPlayer(stream_factory=fake_factory, clock=clock)
    sr, block = 16000, 320
    results = []
    for _ in range(rounds):
        schedule = Schedule.steady(rate, chunk, total, first=min(0.42, total))
        t0 = clock.now
        arrivals = [t0 + a for a in schedule.arrivals]
        k = 0
        first_sound = None
        while not player.finished.is_set() or k == 0:
            while k < len(arrivals) and arrivals[k] <= clock.now + 1e-9:
                player.feed(np.full(int(round(schedule.seconds[k] * sr)), 0.25, np.float32), sr)
                k += 1
                if k == len(arrivals):
                    player.end()
            if k:
                out = fake_factory.stream.pull(block)
                if first_sound is None and out.any():
                    first_sound = clock.now
            clock.now += block / sr
            assert clock.now < t0 + 200, "playback never finished"
        needed = t0 + earliest_safe_start(schedule.arrivals, schedule.seconds)
        results.append((player.underruns, player.silence_s, first_sound, needed, player.start_delay_s, t0 + schedule.arrivals[0]))
    player.close()
    return results


@pytest.mark.parametrize("rate", [0.5, 0.8, 1.0, 1.5, 3.0])
@pytest.mark.parametrize("chunk", [0.25, 0.5])
def test_player_never_runs_dry_inside_a_reply(fake_factory: Any, rate: float, chunk: float) -> None:
    for k, (underruns, silence, first_sound, needed, delay, first_chunk) in enumerate(
        play_simulated(fake_factory, rate, chunk, total=6.0)
    ):
        assert underruns == 0 and silence == 0.0, (k, underruns, silence)
        assert first_sound is not None and first_sound >= needed - 0.02
        assert delay == pytest.approx(first_sound - first_chunk, abs=0.03)
        if k == 1 and rate >= 1.5:  # the second reply knows the rate: it starts with its first chunk, as before
            assert first_sound <= first_chunk + 0.05 + 0.02


def test_player_without_jitter_buffer_counts_the_underruns_and_the_silence(fake_factory: Any) -> None:
    clock = Clock()
    player = StreamingPlayer(stream_factory=fake_factory, clock=clock, jitter_buffer=False)
    player.feed(np.full(1600, 0.3, np.float32), 16000)  # 0.1 s, then nothing for 0.2 s
    for _ in range(15):
        fake_factory.stream.pull(320)
    player.feed(np.full(1600, 0.3, np.float32), 16000)
    for _ in range(10):
        fake_factory.stream.pull(320)  # runs dry again
    assert player.underruns == 2
    assert player.silence_s == pytest.approx(0.2 + 0.1)
    player.end()
    fake_factory.stream.pull(320)
    assert player.finished.is_set() and player.silence_s == pytest.approx(0.3)  # the end is not silence inside


def test_end_starts_a_held_reply_at_once(fake_factory: Any) -> None:
    clock = Clock()
    player = StreamingPlayer(stream_factory=fake_factory, clock=clock)
    player.feed(np.full(8000, 0.3, np.float32), 16000)  # one chunk, no rate known yet: held
    assert not fake_factory.stream.pull(320).any() and player.position_s == 0 and player.playing
    clock.now = 0.4
    player.end()
    assert fake_factory.stream.pull(320)[:, 0] == pytest.approx(0.3)
    assert player.start_delay_s == pytest.approx(0.4)
