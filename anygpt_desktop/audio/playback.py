"""Streaming playback: play float32 chunks as they are produced, interrupt at once, report position and the end.

One ``StreamingPlayer`` keeps one output stream open (made by a stream factory, default ``sounddevice.OutputStream``,
called with ``samplerate, blocksize, device, channels, dtype, latency, callback, finished_callback``; tests inject a fake).
An utterance: ``feed(chunk, sr)`` any number of times, then ``end()``. Playback starts as soon as it will not run dry:
a :class:`~anygpt_desktop.audio.jitter_buffer.PlayoutPlanner` (the jitter buffer) measures how fast the chunks come and
holds a reply that is produced slower than real time back until the rest will arrive in time (``end()`` starts it at
once; with ``jitter_buffer=False`` playback starts with the first chunk). While held back the stream plays silence;
``start_delay_s`` is how long it waited, ``underruns`` how often the reply ran dry anyway and ``silence_s`` the total
silence inside it.

``finished`` is set when the last sample has been handed to the device (or at once by ``stop()``, the interrupt,
which also aborts the stream so buffered sound is dropped too). The stream opens at the first chunk's rate; a device
that refuses it gets its default rate, and chunks at any other rate are resampled (soxr streaming, HQ).
``position_s`` counts the seconds of the utterance handed to the device (it leads the speaker by the output latency).
``on_finished(interrupted)`` may run on PortAudio's thread: keep it short (set a flag, post a Qt signal).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import soxr

from anygpt_desktop.audio.devices import (
    DeviceSpec,
    list_output_devices,
    load_sounddevice,
    open_stream_at_first_rate,
    resolve_device,
)
from anygpt_desktop.audio.errors import PlaybackError
from anygpt_desktop.audio.jitter_buffer import MAX_SPEECH_SECONDS, PlayoutPlanner

log = logging.getLogger(__name__)

StreamFactory = Callable[..., Any]

__all__ = ["PlaybackError", "StreamingPlayer", "list_output_devices"]


class StreamingPlayer:
    """Plays one utterance at a time from chunks that may still be arriving. Thread-safe."""

    def __init__(
        self,
        device: DeviceSpec = None,
        *,
        stream_factory: StreamFactory | None = None,
        channels: int = 1,
        block_ms: int = 20,
        device_rate: int | None = None,
        latency: float | str = "high",
        on_finished: Callable[[bool], None] | None = None,
        jitter_buffer: bool = True,
        max_utterance_s: float = MAX_SPEECH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device = device
        self.latency = latency
        self.channels = channels
        self.block_ms = block_ms
        self._factory = stream_factory
        self._device_rate = device_rate
        self._on_finished = on_finished
        self._clock = clock
        self._planner = PlayoutPlanner(max_total_s=max_utterance_s) if jitter_buffer else None
        self._holding = False  # the utterance has chunks but waits for the planner's start
        self._first_chunk_at = 0.0
        self._starved = False  # the queue ran dry inside the utterance (an underrun in progress)
        self._lock = threading.RLock()
        self._stream: Any = None
        self._active = False  # the stream is started
        self.stream_rate = 0
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._head = 0  # samples of _chunks[0] already played
        self._resampler: soxr.ResampleStream | None = None
        self._resampler_rate = 0
        self._ended = False
        self._played = 0  # samples (at stream_rate) of this utterance handed to the device
        self.underruns = 0  # times this utterance ran dry before its end
        self.silence_s = 0.0  # seconds of silence inside this utterance (underruns)
        self.start_delay_s = 0.0  # seconds from the first chunk to the start of playback (the jitter buffer's wait)
        self.interrupted = False
        self.error: PlaybackError | None = None
        self.finished = threading.Event()
        self.finished.set()  # idle counts as finished

    # -- control (any thread) ----------------------------------------------------------------------------------------

    def feed(self, chunk: np.ndarray, sample_rate: int) -> None:
        """Queue float32 mono ``chunk`` at ``sample_rate``; starts playback (a new utterance if the last one finished)."""
        data = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        with self._lock:
            if self.error is not None:
                raise self.error
            if self.finished.is_set():
                self._new_utterance()
            elif self._ended:
                raise RuntimeError("feed() after end(): wait for finished or call stop() first")
            if self._stream is None:
                self._open(sample_rate)
            data = self._convert(data, sample_rate)
            if data.size:
                self._chunks.append(data)
                self._starved = False
                if self._planner is not None:
                    now = self._clock()
                    if self._planner.produced_s == 0:  # the utterance's first chunk: the planner decides the start
                        self._first_chunk_at = now
                        self._holding = True
                    self._planner.add_chunk(data.size / self.stream_rate, now)
            start, stream = not self._active, self._stream
            self._active = True
        if start:  # outside the lock: PortAudio may run the callback (which takes the lock) while starting
            try:
                stream.start()
            except Exception as exc:
                with self._lock:
                    self._active = False
                    self._chunks.clear()
                    self._ended = True
                    self._finish(interrupted=True)
                raise PlaybackError(f"Playback could not start on the sound output device: {exc}") from exc

    def end(self) -> None:
        """No more chunks for this utterance; ``finished`` is set once everything queued has played."""
        with self._lock:
            if self.finished.is_set() or self._ended:
                return
            if self._resampler is not None:
                tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
                if tail.size:
                    self._chunks.append(np.asarray(tail, np.float32))
                self._resampler = None
            self._ended = True
            if self._planner is not None:
                self._planner.end()
            if not self._chunks:
                self._finish(interrupted=False)

    def stop(self) -> None:
        """Interrupt: silence at once, drop everything queued, set ``finished`` (with ``interrupted`` True)."""
        with self._lock:
            was_playing = not self.finished.is_set()
            self._chunks.clear()
            self._head = 0
            self._resampler = None
            self._ended = True
            stream, active = self._stream, self._active
            self._active = False
            if was_playing:
                self._finish(interrupted=True)
        if stream is not None and active:
            try:
                stream.abort()  # drops the sound already buffered in the device, unlike stop()
            except Exception as exc:
                log.info("aborting the output stream failed: %s", exc)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the utterance finished (True) or ``timeout`` passed (False)."""
        return self.finished.wait(timeout)

    def close(self) -> None:
        """Stop and release the output device."""
        self.stop()
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception as exc:
                log.info("closing the output stream failed: %s", exc)

    def __enter__(self) -> StreamingPlayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def position_s(self) -> float:
        """Seconds of the current (or last) utterance handed to the device."""
        return self._played / self.stream_rate if self.stream_rate else 0.0

    @property
    def buffered_s(self) -> float:
        """Seconds queued and not yet played."""
        with self._lock:
            n = sum(len(c) for c in self._chunks) - self._head
        return n / self.stream_rate if self.stream_rate else 0.0

    @property
    def playing(self) -> bool:
        return not self.finished.is_set()

    # -- audio thread -------------------------------------------------------------------------------------------------

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        try:
            with self._lock:
                if self._holding and not self._start_now():
                    outdata.fill(0.0)  # the jitter buffer waits: the reply would run dry if it started now
                    return
                filled = 0
                while filled < frames and self._chunks:
                    head = self._chunks[0]
                    n = min(frames - filled, len(head) - self._head)
                    outdata[filled : filled + n, :] = head[self._head : self._head + n, None]
                    filled += n
                    self._head += n
                    if self._head >= len(head):
                        self._chunks.popleft()
                        self._head = 0
                outdata[filled:, :] = 0.0
                if self.finished.is_set():
                    return
                self._played += filled
                if not self._chunks:
                    if self._ended:
                        self._finish(interrupted=False)
                    elif filled < frames:
                        self.silence_s += (frames - filled) / self.stream_rate
                        if not self._starved:
                            self.underruns += 1
                            self._starved = True
                            log.info("playback ran dry after %.2f s of the utterance", self.position_s)
        except Exception:  # never let an exception into PortAudio's thread
            log.exception("error in the playback callback")
            outdata.fill(0.0)

    def _stream_finished(self) -> None:
        with self._lock:
            if not self._active:
                return  # stopped or aborted by us
            self._active = False
            self.error = PlaybackError(
                "The sound output device stopped while playing (was it unplugged?). Choose another output device in "
                "the settings or reconnect it."
            )
            log.warning("%s", self.error)
            self._chunks.clear()
            self._ended = True
            self._finish(interrupted=True)

    # -- helpers (called with the lock held) --------------------------------------------------------------------------

    def _start_now(self) -> bool:
        """Called while holding: has the planner's start time come (or has the utterance ended)?"""
        now = self._clock()
        if self.finished.is_set():
            return False
        if not self._ended and not (self._planner is not None and self._planner.should_start(now)):
            return False
        self._holding = False
        self.start_delay_s = max(0.0, now - self._first_chunk_at)
        log.info("playback starts %.2f s after the first chunk (jitter buffer)", self.start_delay_s)
        return True

    def _new_utterance(self) -> None:
        if self._planner is not None:
            self._planner.reset()  # keeps the production rate measured so far as the next utterance's prior
        self._holding = False
        self._starved = False
        self.silence_s = 0.0
        self.start_delay_s = 0.0
        self._chunks.clear()
        self._head = 0
        self._resampler = None
        self._ended = False
        self._played = 0
        self.underruns = 0
        self.interrupted = False
        self.finished.clear()

    def _finish(self, interrupted: bool) -> None:
        self.interrupted = interrupted
        self.finished.set()
        if self._on_finished is not None:
            try:
                self._on_finished(interrupted)
            except Exception:
                log.exception("error in the on_finished handler")

    def _convert(self, data: np.ndarray, rate: int) -> np.ndarray:
        if rate == self.stream_rate:
            return data
        if self._resampler is None or self._resampler_rate != rate:
            if self._resampler is not None:  # the rate changed mid-utterance: flush the old resampler first
                tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
                if tail.size:
                    self._chunks.append(np.asarray(tail, np.float32))
            self._resampler = soxr.ResampleStream(rate, self.stream_rate, 1, dtype="float32", quality="HQ")
            self._resampler_rate = rate
        return np.asarray(self._resampler.resample_chunk(data), dtype=np.float32)

    def _open(self, first_rate: int) -> None:
        if self._factory is not None:
            factory: StreamFactory = self._factory
            pa_error: type[BaseException] = Exception
            fallback = self._device_rate
        else:
            sd = load_sounddevice()
            info = resolve_device(self.device, "output")
            factory, pa_error = sd.OutputStream, sd.PortAudioError
            fallback = int(self._device_rate or info.get("default_samplerate") or 48000)
        rates = [first_rate] + ([fallback] if fallback and fallback != first_rate else [])
        try:
            self._stream, self.stream_rate = open_stream_at_first_rate(
                factory, rates, pa_error, "output device", self.block_ms,
                device=self.device, channels=self.channels, latency=self.latency,
                callback=self._callback, finished_callback=self._stream_finished,
            )
        except pa_error as exc:
            self._finish(interrupted=True)
            raise PlaybackError(f"The sound output device could not be opened: {exc}") from exc
        log.info("playing on %s at %s Hz", self.device or "default output", self.stream_rate)
