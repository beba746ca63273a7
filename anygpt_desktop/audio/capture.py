"""Microphone capture: float32 mono chunks at 16 kHz, delivered to a queue and/or a callback, with a live input level.

The PortAudio stream is made by a stream factory (default ``sounddevice.InputStream``), called with the keyword
arguments ``samplerate, blocksize, device, channels, dtype, latency, callback, finished_callback``; tests inject a fake one.
If the device refuses 16 kHz the device's own rate is used and resampled with soxr. Nothing raised in the audio thread
escapes: a failure (the device disappearing mid-recording, or no audio arriving for ``stall_timeout_s``) becomes a
``MicrophoneError`` that ``read()``/``check()`` raise and ``on_error`` receives; audio already delivered is kept.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import soxr

from anygpt_desktop.audio.devices import (
    DeviceSpec,
    list_input_devices,
    load_sounddevice,
    open_stream_at_first_rate,
    resolve_device,
)
from anygpt_desktop.audio.errors import MicrophoneError

log = logging.getLogger(__name__)

StreamFactory = Callable[..., Any]
SILENCE_DBFS = -100.0

__all__ = ["Microphone", "MicrophoneError", "list_input_devices", "rms_dbfs"]


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS of float samples in [-1, 1] (a full-scale sine is −3 dBFS); −100 for silence or no samples."""
    a = np.asarray(samples, dtype=np.float32)
    if a.size == 0:
        return SILENCE_DBFS
    rms = float(np.sqrt(np.mean(np.square(a, dtype=np.float64))))
    return max(SILENCE_DBFS, 20.0 * math.log10(rms)) if rms > 0 else SILENCE_DBFS


class _Failed:
    """Queue sentinel: the stream failed."""


class Microphone:
    """One recording session on one input device. ``start()``, then ``read()`` chunks (or get them via ``on_audio``)."""

    def __init__(
        self,
        device: DeviceSpec = None,
        *,
        sample_rate: int = 16000,
        block_ms: int = 30,
        on_audio: Callable[[np.ndarray], None] | None = None,
        on_error: Callable[[MicrophoneError], None] | None = None,
        stream_factory: StreamFactory | None = None,
        device_rate: int | None = None,
        max_queue_s: float = 60.0,
        stall_timeout_s: float = 3.0,
        latency: float | str = "high",
    ) -> None:
        self.device = device
        self.latency = latency
        self.sample_rate = sample_rate
        self.block_ms = block_ms
        self._on_audio = on_audio
        self._on_error = on_error
        self._factory = stream_factory
        self._device_rate = device_rate
        self._queue: queue.Queue[np.ndarray | _Failed] = queue.Queue(maxsize=max(1, int(max_queue_s * 1000 / block_ms)))
        self._stall_timeout_s = stall_timeout_s
        self._stream: Any = None
        self._resampler: soxr.ResampleStream | None = None
        self._stopping = False
        self._lock = threading.Lock()
        self._last_audio = 0.0
        self.stream_rate = sample_rate
        self.level_dbfs = SILENCE_DBFS
        self.overflows = 0
        self.dropped_chunks = 0
        self.error: MicrophoneError | None = None

    @property
    def running(self) -> bool:
        return self._stream is not None and self.error is None

    def __enter__(self) -> Microphone:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Open and start the input stream; ``MicrophoneError`` (or a subclass) says why it cannot."""
        if self._stream is not None:
            return
        factory, rates, pa_error = self._prepare()
        try:
            stream, rate = open_stream_at_first_rate(
                factory, rates, pa_error, "input device", self.block_ms,
                device=self.device, channels=1, latency=self.latency,
                callback=self._callback, finished_callback=self._finished,
            )
        except pa_error as exc:
            raise MicrophoneError(f"The microphone could not be opened: {exc}") from exc
        self.stream_rate = rate
        self._resampler = (
            soxr.ResampleStream(rate, self.sample_rate, 1, dtype="float32", quality="HQ")
            if rate != self.sample_rate
            else None
        )
        self._stopping = False
        self.error = None
        self._last_audio = time.monotonic()
        self._stream = stream
        try:
            stream.start()
        except pa_error as exc:
            self._stream = None
            self._close_quietly(stream)
            raise MicrophoneError(f"The microphone could not be started: {exc}") from exc
        log.info("recording from %s at %s Hz (delivering %s Hz)", self.device or "default input", rate, self.sample_rate)

    def stop(self) -> None:
        """Stop recording. Chunks already queued can still be read. Safe to call twice or after a failure."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._stopping = True
        try:
            stream.stop()
        except Exception as exc:  # a vanished device can fail to stop; we are closing anyway
            log.info("stopping the input stream failed: %s", exc)
        self._close_quietly(stream)

    def read(self, timeout: float | None = None) -> np.ndarray | None:
        """The next chunk (float32 mono at ``sample_rate``), or ``None`` after ``timeout`` seconds without one.

        Raises the ``MicrophoneError`` once the queue is drained if the device failed or stalled (a stall is only
        noticed when a timeout expires, so pass one).
        """
        try:
            item = self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            self.check()
            return None
        if isinstance(item, _Failed):
            assert self.error is not None
            raise self.error
        return item

    def read_available(self) -> list[np.ndarray]:
        """All chunks queued now (without waiting); raises like ``read`` when the device failed and nothing is left."""
        out = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Failed):
                if out:
                    self._queue.put(item)
                    break
                assert self.error is not None
                raise self.error
            out.append(item)
        if not out:
            self.check()
        return out

    def check(self) -> None:
        """Raise the ``MicrophoneError`` if the device failed, or if it delivered nothing for ``stall_timeout_s``."""
        if self.error is not None and self._queue.empty():
            raise self.error
        if self._stream is not None and self._stall_timeout_s > 0:
            if time.monotonic() - self._last_audio > self._stall_timeout_s:
                self._fail(
                    MicrophoneError(
                        f"The microphone has sent no sound for {self._stall_timeout_s:.0f} s; it may have been "
                        "disconnected or be in use by another program."
                    )
                )
                raise self.error  # type: ignore[misc]

    # -- audio thread ---------------------------------------------------------------------------------------------

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        try:
            if status and getattr(status, "input_overflow", False):
                self.overflows += 1
            mono = np.array(indata[:, 0] if indata.ndim == 2 else indata, dtype=np.float32)
            if self._resampler is not None:
                mono = self._resampler.resample_chunk(mono)
            self._last_audio = time.monotonic()
            if mono.size == 0:
                return
            self.level_dbfs = rms_dbfs(mono)
            self._put(mono)
            if self._on_audio is not None:
                self._on_audio(mono)
        except Exception:  # never let an exception into PortAudio's thread
            log.exception("error in the microphone callback")

    def _finished(self) -> None:
        if not self._stopping:
            self._fail(
                MicrophoneError(
                    "The microphone stopped while recording (was it unplugged?). What was recorded so far is kept; "
                    "choose another microphone in the settings or reconnect it."
                )
            )

    def _put(self, item: np.ndarray | _Failed) -> None:
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()  # nobody is reading: drop the oldest audio, keep the newest
                    self.dropped_chunks += 1
                except queue.Empty:
                    pass

    def _fail(self, error: MicrophoneError) -> None:
        with self._lock:
            if self.error is not None:
                return
            self.error = error
        log.warning("%s", error)
        self._put(_Failed())
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:
                log.exception("error in the on_error handler")

    # -- helpers ----------------------------------------------------------------------------------------------------

    def _prepare(self) -> tuple[StreamFactory, list[int], type[BaseException] | tuple[type[BaseException], ...]]:
        """The factory, the rates to try in order, and the exception type(s) that mean 'cannot open'."""
        if self._factory is not None:
            rates = [self.sample_rate] + ([self._device_rate] if self._device_rate not in (None, self.sample_rate) else [])
            return self._factory, rates, Exception
        sd = load_sounddevice()
        info = resolve_device(self.device, "input")
        device_rate = int(self._device_rate or info.get("default_samplerate") or self.sample_rate)
        rates = [self.sample_rate] + ([device_rate] if device_rate != self.sample_rate else [])
        return sd.InputStream, rates, sd.PortAudioError

    @staticmethod
    def _close_quietly(stream: Any) -> None:
        try:
            stream.close()
        except Exception as exc:
            log.info("closing the input stream failed: %s", exc)
