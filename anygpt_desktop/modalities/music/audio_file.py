"""Reading a music file for the LLM: decode, mono, resample to 32 kHz, crop a segment.

The reference (reference-behaviour §6, ``read_modality.load_audio``) reads ``segment_s * file_rate`` frames at a random offset
``random.randint(0, max(0, total - segment))`` of the file, resamples to 32 kHz and averages channels. We crop from the
start by default (what the CLIs ask for with ``start_from_begin``); pass ``rng`` (a ``random.Random``) to draw the
offset exactly as the reference does. Resampling uses soxr (VHQ) instead of torchaudio's sinc kernel.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anygpt_desktop.audio.files import resample as audio_resample

from anygpt_desktop.modalities.music.errors import MusicFileError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 32000
DEFAULT_SEGMENT_S = 5.0  # the chat CLI's crop: 250 frames -> 1000 units
MIN_DURATION_S = 0.1  # less than 5 Encodec frames is not music
SILENCE_PEAK = 1e-4  # peak amplitude below which a crop counts as silent


@dataclass(frozen=True)
class MusicClip:
    """A mono 32 kHz crop of a music file."""

    samples: np.ndarray  # float32 [n]
    start_frame: int  # crop offset, in frames of the file's own rate
    file_rate: int
    file_frames: int

    @property
    def duration_s(self) -> float:
        return self.samples.size / SAMPLE_RATE


def resample(wav: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono or [frames, channels] float array with the reference's windowed-sinc filter (the music path
    used torchaudio's ``Resample`` defaults: Hann window, 6 zero crossings, roll-off 0.99)."""
    x = np.asarray(wav, dtype=np.float32)
    if rate_in == rate_out:
        return x
    if x.ndim == 1:
        return audio_resample(x, rate_in, rate_out, method="sinc")
    return np.stack([audio_resample(x[:, c], rate_in, rate_out, method="sinc") for c in range(x.shape[1])], axis=1)


def load_music_file(
    path: str | Path,
    segment_s: float | None = DEFAULT_SEGMENT_S,
    rng: random.Random | None = None,
    allow_silent: bool = False,
) -> MusicClip:
    """Read ``segment_s`` seconds of ``path`` (all of it when None) as mono float32 at 32 kHz.

    ``rng`` set: crop offset ``rng.randint(0, max(0, total - segment))`` like the reference; else from the start.
    Raises :class:`MusicFileError` for a missing, unreadable, empty, too short or (unless ``allow_silent``) silent file.
    """
    import soundfile as sf

    from anygpt_desktop.audio.errors import AudioInputError
    from anygpt_desktop.audio.files import probe_audio

    path = Path(path)
    try:
        info = probe_audio(path)  # says precisely what is wrong with the path or the header
    except AudioInputError as exc:
        raise MusicFileError(str(exc)) from exc
    total, rate = int(info.frames), int(info.samplerate)
    if total <= 0 or rate <= 0:
        raise MusicFileError(f"{path.name} holds no audio")
    if segment_s is not None and segment_s <= 0:
        raise MusicFileError(f"the music segment must be longer than 0 s, got {segment_s}")
    length = total if segment_s is None else min(total, int(round(segment_s * rate)))
    start = rng.randint(0, max(0, total - length)) if rng is not None else 0
    try:
        data, _ = sf.read(str(path), frames=length, start=start, dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises its own error types for corrupt files
        raise MusicFileError(f"cannot decode {path.name}: it is damaged ({exc})") from exc
    if data.shape[0] / rate < MIN_DURATION_S:
        raise MusicFileError(
            f"{path.name} is too short: {data.shape[0] / rate:.3f} s, at least {MIN_DURATION_S} s is needed"
        )
    data = resample(data, rate)
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if not np.all(np.isfinite(mono)):
        raise MusicFileError(f"{path.name} contains invalid samples (NaN or infinity)")
    if not allow_silent and float(np.max(np.abs(mono))) < SILENCE_PEAK:
        raise MusicFileError(f"{path.name} is silent in the selected {mono.size / SAMPLE_RATE:.1f} s")
    logger.debug("music %s: %d frames at %d Hz from frame %d -> %d samples", path.name, length, rate, start, mono.size)
    return MusicClip(samples=mono, start_frame=start, file_rate=rate, file_frames=total)
