"""When to start playing an utterance that is still being produced, so that it never has to stop (a jitter buffer).

Speech is synthesised while the model is still talking, and production can be slower than real time (a CPU, a small
GPU, a long reply). Started at the first chunk, such a reply would play for a while, run dry, and stutter. The
:class:`PlayoutPlanner` holds it back just long enough instead: from the chunks seen so far it estimates the production
rate ``r`` (audio seconds produced per wall second) and predicts when each remaining chunk will arrive; playback
starting at ``s`` plays chunk *k* at ``s + E[k-1]`` (``E`` the audio produced up to a chunk's end), so the earliest
safe start is ``max_k(arrival[k] - E[k-1])``. With ``r >= 1`` the next chunk is the tightest (start at once when it
comes within a chunk's length); with ``r < 1`` the last one is::

    start >= t_last + (T - P) / r - (T - c)     (T total length, P produced so far, c the chunk length)

Choices (conservative, because a stutter is worse than a short wait):

- **Total length**: unknown until the speech span ends, so the planner assumes the longest possible reply,
  ``max_total_s`` (30 s: the decode loop's 1500 speech units at 50 Hz), unless told the length (``set_total``). A short
  reply produced slower than real time therefore plays once it is complete (``end`` starts playback at once),
  never with a gap.
- **Rate**: measured between chunk arrivals (the first chunk's delay holds the prompt's processing, not the rate), the
  lower of the whole-utterance and the recent (last 4 intervals) rate, times ``rate_safety``. With a single chunk there
  is no measurement yet: the planner uses the rate measured in the previous utterance (``prior_rate``) or, if there is
  none, waits for the second chunk.
- **Chunk length**: the chunks to come are assumed as long as the longest seen, at least ``chunk_hint_s``.
- ``margin_s`` is added to the start for scheduling jitter.

Qt-free and clock-free: times are passed in (seconds on any monotonic clock), so tests drive it with a fake clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MAX_SPEECH_SECONDS = 30.0  # DecodeSettings.max_speech_units (1500) at 50 units per second
RECENT_INTERVALS = 4


@dataclass
class PlayoutPlanner:
    """Plans the start of one utterance's playback from its chunks' arrival times. Not thread-safe (the player locks)."""

    max_total_s: float = MAX_SPEECH_SECONDS
    margin_s: float = 0.05
    chunk_hint_s: float = 0.5  # the synthesis' chunk length (25 frames), until larger chunks are seen
    rate_safety: float = 0.95
    prior_rate: float | None = None  # audio s per wall s measured before (e.g. the previous utterance)
    total_s: float | None = None  # the utterance's length, when known
    ended: bool = False  # every chunk has arrived
    _arrivals: list[float] = field(default_factory=list)  # wall time of each chunk
    _ends: list[float] = field(default_factory=list)  # audio seconds produced up to the end of each chunk

    def reset(self) -> None:
        """A new utterance; the rate measured in this one becomes the prior for the next."""
        rate = self.measured_rate()
        if rate is not None:
            self.prior_rate = rate
        self.total_s = None
        self.ended = False
        self._arrivals.clear()
        self._ends.clear()

    def add_chunk(self, seconds: float, now: float) -> None:
        """A chunk of ``seconds`` of audio arrived at wall time ``now``."""
        if seconds <= 0:
            return
        produced = self._ends[-1] if self._ends else 0.0
        self._arrivals.append(now)
        self._ends.append(produced + seconds)

    def set_total(self, seconds: float) -> None:
        """The utterance's total length is known (e.g. from the number of speech units)."""
        self.total_s = seconds

    def end(self) -> None:
        """No more chunks: whatever is buffered is the whole utterance."""
        self.ended = True

    @property
    def produced_s(self) -> float:
        return self._ends[-1] if self._ends else 0.0

    def measured_rate(self) -> float | None:
        """Audio seconds per wall second between chunk arrivals: the lower of the overall and the recent rate."""
        if len(self._arrivals) < 2:
            return None
        rates = []
        for first in (0, max(0, len(self._arrivals) - 1 - RECENT_INTERVALS)):
            wall = self._arrivals[-1] - self._arrivals[first]
            audio = self._ends[-1] - self._ends[first]
            rates.append(audio / wall if wall > 0 else math.inf)
        return min(rates)

    def rate_estimate(self) -> float | None:
        """The rate the plan assumes (conservative), or None before anything can be said."""
        rate = self.measured_rate()
        if rate is None:
            rate = self.prior_rate
        return None if rate is None else rate * self.rate_safety

    def start_time(self) -> float:
        """The earliest wall time at which playback can start and not run dry (``inf``: wait for another chunk)."""
        if not self._arrivals:
            return math.inf
        if self.ended:
            return self._arrivals[-1]
        produced = self._ends[-1]
        total = max(self.total_s if self.total_s is not None else self.max_total_s, produced)
        remaining = total - produced
        if remaining <= 0:
            return self._arrivals[-1]
        rate = self.rate_estimate()
        if rate is None or rate <= 0:
            return math.inf
        last = self._arrivals[-1]
        # the chunks to come are assumed as long as the longest so far or the hint (the first one is often shorter);
        # a longer assumed chunk only tightens both bounds, so this is on the safe side
        chunk = min(max(self._longest_chunk(), self.chunk_hint_s), remaining)
        next_chunk = last + chunk / rate - produced  # the next chunk must come before the buffer runs out
        last_chunk = last + remaining / rate - (total - chunk)  # ... and so must the last one
        return max(last, next_chunk, last_chunk) + self.margin_s

    def _longest_chunk(self) -> float:
        return max(b - a for a, b in zip([0.0, *self._ends[:-1]], self._ends))

    def should_start(self, now: float) -> bool:
        """Start playing at ``now``?"""
        return now >= self.start_time()


def earliest_safe_start(arrivals: list[float], seconds: list[float]) -> float:
    """The analytic answer for a known schedule: the earliest start with no gap, ``max_k(arrival[k] - E[k-1])``."""
    start, produced = -math.inf, 0.0
    for t, s in zip(arrivals, seconds):
        start = max(start, t - produced)
        produced += s
    return start
