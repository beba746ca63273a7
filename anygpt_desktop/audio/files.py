"""Audio files in and out: load any common file as float32 mono at a target rate, save float32 WAV atomically.

Reading uses soundfile (libsndfile): WAV, FLAC, OGG/Vorbis (and Opus where libsndfile has it), plus MP3 when the installed
libsndfile is 1.1 or newer (``MP3_SUPPORTED`` says whether this system can; the soundfile wheels bundle 1.2, so it usually can).
Integer PCM is scaled by 1/32768 (16-bit), exactly as the reference's ``torchaudio.load`` does.

Channel rule (reference-behaviour §4.1, §4.3, §6):
* ``"first"`` (the default): keep channel 0, as the reference does for **speech instructions**.
* ``"mean"``: average the channels, as the reference does for **voice prompts** (exactly 2 channels there; 3+ channels fail
  in the reference, here they are averaged too) and **music** (all channels averaged).

Resampling (``resample``):
* ``"soxr"`` (the default): libsoxr "HQ" (linear phase, 20-bit quality, passband to ~91% of the new Nyquist).
* ``"sinc"``: the reference speech path's own algorithm (windowed-sinc, Hann window, 6 zero crossings, rolloff 0.99,
  filter built in float32, output length ceil(T·new/orig)), re-implemented in NumPy; it reproduces the kit's
  ``resample_output_16k.npy`` to ~1e-7. Use it where bit-level parity with the reference's speech units matters.

Measured on the kit (``resample_input_22050.npy`` → 16 kHz, 1 s of speech, peak 0.54; see tests/audio/test_files.py):
soxr HQ differs from the reference output by **max abs 0.148, RMS 0.0082 (−20 dB relative)**; the difference is the two
anti-aliasing filters, not an error: it lies almost entirely above 6 kHz (torchaudio passes up to 7.92 kHz, soxr rolls off
from ~7.3 kHz). Band-limited to 6 kHz the two agree to max abs 3.9e-4 (difference energy −64 dB relative to the
signal's). The sinc path differs by max abs 6e-8.

Input checks (all raise ``AudioInputError`` subclasses with a message for the user):
* a path that is not a readable file (missing, a folder, a dangling link, a link loop...) → ``AudioFileNotFoundError``
  saying which (:func:`anygpt_desktop.input_files.path_problem`); unreadable/corrupt/unknown format, or NaN/inf
  samples → ``UnsupportedAudioError``;
* 0 samples → ``EmptyAudioError``;
* silent (every sample below ``SILENCE_PEAK_DBFS`` = −60 dBFS peak, all-zero included) → ``SilentAudioError`` by default,
  because encoding silence yields meaningless speech units; ``allow_silent=True`` returns it with ``silent=True`` instead;
* clipped (a run of ≥3 samples at full scale, or any sample beyond ±1.0 in a float file) → never an error, only the
  ``clipped`` flag and a log warning;
* longer than ``max_seconds`` (``SPEECH_INPUT_MAX_SECONDS`` = 60 s is the app's limit for a spoken input: 3,000 speech
  units, which with the reply budget is what the model's 4,096-token context holds; ``None`` = no cap) →
  ``AudioTooLongError`` naming the limit; ``on_too_long="truncate"`` keeps the first ``max_seconds`` (only that much
  is read). The length comes from the header, so a 2-hour file is refused without being decoded;
* more than ``MAX_CHANNELS`` channels or a rate above ``MAX_SAMPLE_RATE`` → ``UnsupportedAudioError`` naming the limit.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

from anygpt_desktop.audio.errors import (
    AudioFileNotFoundError,
    AudioInputError,
    AudioTooLongError,
    EmptyAudioError,
    SilentAudioError,
    UnsupportedAudioError,
)

log = logging.getLogger(__name__)

ChannelRule = Literal["first", "mean"]
ResampleMethod = Literal["soxr", "sinc"]

SPEECH_INPUT_MAX_SECONDS = 60.0
MAX_CHANNELS = 32
MAX_SAMPLE_RATE = 384_000
SILENCE_PEAK_DBFS = -60.0
CLIP_LEVEL = 0.999
CLIP_RUN = 3
MP3_SUPPORTED = "MP3" in sf.available_formats()
LIBSNDFILE_VERSION = sf.__libsndfile_version__

__all__ = [
    "AudioInputError",
    "LoadedAudio",
    "MP3_SUPPORTED",
    "SPEECH_INPUT_MAX_SECONDS",
    "load_audio",
    "probe_audio",
    "read_audio",
    "resample",
    "save_wav",
    "supported_extensions",
]


@dataclass(frozen=True)
class LoadedAudio:
    """A loaded file: the samples and what was noticed on the way."""

    wav: np.ndarray  # float32 mono [T] at sample_rate
    sample_rate: int
    source_sample_rate: int
    source_channels: int
    source_format: str  # e.g. "WAV/PCM_16"
    duration_s: float  # of ``wav``
    peak_dbfs: float  # of the source samples (before resampling)
    clipped: bool
    silent: bool
    truncated: bool


def supported_extensions() -> tuple[str, ...]:
    """File name endings this system can read (``.mp3`` only where libsndfile supports MP3)."""
    exts = [".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif"]
    if MP3_SUPPORTED:
        exts.append(".mp3")
    return tuple(exts)


def read_audio(
    path: str | os.PathLike[str],
    target_sr: int,
    *,
    channel_rule: ChannelRule = "first",
    max_seconds: float | None = None,
    on_too_long: Literal["error", "truncate"] = "error",
    allow_silent: bool = False,
    method: ResampleMethod = "soxr",
) -> LoadedAudio:
    """Load ``path`` as float32 mono at ``target_sr`` with the checks listed in the module docstring."""
    if target_sr <= 0:
        raise ValueError(f"target_sr must be positive, got {target_sr}")
    if channel_rule not in ("first", "mean"):
        raise ValueError(f"channel_rule must be 'first' or 'mean', got {channel_rule!r}")
    p = Path(path)
    name = p.name
    info = probe_audio(p)
    source_format = f"{info.format}/{info.subtype}"

    frames = -1
    truncated = False
    if max_seconds is not None:
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        limit = int(round(max_seconds * info.samplerate))
        if info.frames > limit:
            if on_too_long == "error":
                raise AudioTooLongError(
                    f"'{name}' is {_duration_text(info.frames / info.samplerate)} long; the limit is "
                    f"{_duration_text(max_seconds)} for this input. Trim the recording and try again."
                )
            frames, truncated = limit, True
    try:
        data, sr = sf.read(str(p), frames=frames, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError, MemoryError) as exc:
        raise UnsupportedAudioError(f"'{name}' is damaged and could not be decoded ({source_format}). Details: {exc}") from exc

    if data.shape[0] == 0:
        raise EmptyAudioError(f"'{name}' contains no sound at all (0 samples).")
    if not np.isfinite(data).all():
        raise UnsupportedAudioError(f"'{name}' contains invalid samples (NaN or infinity); it is damaged.")
    if truncated:
        log.warning("%s: longer than %.0f s, only the first %.0f s are used", name, max_seconds, max_seconds)

    peak = float(np.abs(data).max())
    peak_dbfs = 20.0 * math.log10(peak) if peak > 0 else -math.inf
    silent = peak_dbfs < SILENCE_PEAK_DBFS
    if silent and not allow_silent:
        raise SilentAudioError(f"'{name}' is silent (peak {peak_dbfs:.0f} dBFS): there is nothing to hear in it.")
    clipped = is_clipped(data)
    if clipped:
        log.warning("%s: the recording is clipped (distorted at full scale); results may suffer", name)

    mono = data[:, 0] if channel_rule == "first" else data.mean(axis=1, dtype=np.float32)
    wav = resample(np.ascontiguousarray(mono), sr, target_sr, method=method)
    return LoadedAudio(
        wav=wav,
        sample_rate=target_sr,
        source_sample_rate=int(sr),
        source_channels=int(data.shape[1]),
        source_format=source_format,
        duration_s=len(wav) / target_sr,
        peak_dbfs=peak_dbfs,
        clipped=clipped,
        silent=silent,
        truncated=truncated,
    )


def probe_audio(path: str | os.PathLike[str]) -> sf._SoundFileInfo:
    """Check that ``path`` is an audio file this system can read, from its header only; returns soundfile's info.

    Raises ``AudioFileNotFoundError`` (the path is not a readable file, said precisely) or ``UnsupportedAudioError``.
    """
    from anygpt_desktop.path_checks import path_problem

    p = Path(path)
    name = p.name
    problem = path_problem(p, "audio file")
    if problem is not None:
        raise AudioFileNotFoundError(problem[0].upper() + problem[1:] + ".")
    if p.suffix.lower() == ".mp3" and not MP3_SUPPORTED:
        raise UnsupportedAudioError(
            f"'{name}' is an MP3 file, and this system's libsndfile ({LIBSNDFILE_VERSION}) cannot read MP3. "
            "Convert it to WAV, FLAC or OGG, or update the soundfile package."
        )
    if p.stat().st_size == 0:
        raise EmptyAudioError(f"'{name}' is empty (0 bytes): there is no sound in it.")
    try:
        info = sf.info(str(p))
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as exc:
        raise UnsupportedAudioError(
            f"'{name}' could not be read as audio: it is corrupt or not in a supported format "
            f"({', '.join(e.lstrip('.').upper() for e in supported_extensions())}). Details: {exc}"
        ) from exc
    if info.samplerate <= 0 or info.channels <= 0:
        raise UnsupportedAudioError(f"'{name}' has an invalid header ({info.samplerate} Hz, {info.channels} channels).")
    if info.channels > MAX_CHANNELS:
        raise UnsupportedAudioError(f"'{name}' has {info.channels} channels; the limit is {MAX_CHANNELS}.")
    if info.samplerate > MAX_SAMPLE_RATE:
        raise UnsupportedAudioError(
            f"'{name}' is sampled at {info.samplerate} Hz; the limit is {MAX_SAMPLE_RATE} Hz."
        )
    return info


def _duration_text(seconds: float) -> str:
    """``75.0`` → ``"1 min 15 s"``, ``30`` → ``"30 s"``, ``7200`` → ``"2 h 0 min"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def load_audio(
    path: str | os.PathLike[str],
    target_sr: int,
    *,
    channel_rule: ChannelRule = "first",
    max_seconds: float | None = None,
    on_too_long: Literal["error", "truncate"] = "error",
    allow_silent: bool = False,
    method: ResampleMethod = "soxr",
) -> np.ndarray:
    """``read_audio(...).wav``: float32 mono samples at ``target_sr`` (flags are logged; use ``read_audio`` to see them)."""
    return read_audio(
        path,
        target_sr,
        channel_rule=channel_rule,
        max_seconds=max_seconds,
        on_too_long=on_too_long,
        allow_silent=allow_silent,
        method=method,
    ).wav


def is_clipped(data: np.ndarray) -> bool:
    """True when any sample exceeds ±1.0, or ``CLIP_RUN`` consecutive samples of a channel sit at full scale."""
    a = np.abs(data)
    if (a > 1.0).any():
        return True
    hot = a >= CLIP_LEVEL
    if hot.sum() < CLIP_RUN:
        return False
    hot = hot.reshape(hot.shape[0], -1)
    run = hot[: len(hot) - CLIP_RUN + 1].copy()
    for k in range(1, CLIP_RUN):
        run &= hot[k : len(hot) - CLIP_RUN + 1 + k]
    return bool(run.any())


def resample(wav: np.ndarray, orig_sr: int, target_sr: int, *, method: ResampleMethod = "soxr") -> np.ndarray:
    """Resample float32 mono ``wav`` [T] from ``orig_sr`` to ``target_sr`` (a copy is returned even when rates match)."""
    x = np.asarray(wav, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"resample expects a 1-D array, got shape {x.shape}")
    if orig_sr == target_sr or len(x) == 0:
        return x.copy()
    if method == "soxr":
        return np.asarray(soxr.resample(x, orig_sr, target_sr, quality="HQ"), dtype=np.float32)
    if method == "sinc":
        return _sinc_resample(x, int(orig_sr), int(target_sr))
    raise ValueError(f"unknown resampling method {method!r}")


def _sinc_resample(x: np.ndarray, orig: int, new: int, width: int = 6, rolloff: float = 0.99) -> np.ndarray:
    """Windowed-sinc polyphase resampling with the reference speech path's parameters (see the module docstring)."""
    g = math.gcd(orig, new)
    orig, new = orig // g, new // g
    base = np.float32(min(orig, new) * rolloff)
    half = int(math.ceil(width * orig / float(base)))
    # Tap positions (in input samples, divided by orig) for each of the ``new`` output phases.
    taps = np.arange(-half, half + orig, dtype=np.float32) / np.float32(orig)
    phase = -np.arange(new, dtype=np.float32)[:, None] / np.float32(new)
    t = (phase + taps[None, :]) * base
    t = np.clip(t, -width, width).astype(np.float32)
    window = np.cos(t * np.float32(math.pi / width / 2)) ** 2
    t = t * np.float32(math.pi)
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(t == 0, np.float32(1.0), np.sin(t) / t)
    kernels = (sinc * window * (base / np.float32(orig))).astype(np.float32)  # [new, K]
    padded = np.pad(x, (half, half + orig))
    frames = np.lib.stride_tricks.sliding_window_view(padded, kernels.shape[1])[::orig]  # [n_frames, K]
    out = (frames @ kernels.T).reshape(-1)
    return np.ascontiguousarray(out[: int(math.ceil(new * len(x) / orig))], dtype=np.float32)


def save_wav(path: str | os.PathLike[str], wav: np.ndarray, sr: int) -> Path:
    """Write ``wav`` ([T] mono or [T, C]) as a 32-bit float WAV, atomically (a temporary file renamed into place)."""
    data = np.asarray(wav, dtype=np.float32)
    if data.ndim not in (1, 2) or data.size == 0:
        raise ValueError(f"save_wav expects a non-empty [T] or [T, C] array, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("save_wav: the audio contains NaN or infinity")
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            sf.write(fh, data, sr, format="WAV", subtype="FLOAT")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
