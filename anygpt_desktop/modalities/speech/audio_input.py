"""Minimal audio-file reading for the speech models (soundfile + the reference-compatible 16 kHz resampler).

Channel rules of the reference (spec §4.1, §4.3): speech *input* keeps channel 0; a *voice prompt* averages exactly
two channels (3+ channels were unsupported there; here they are averaged too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from anygpt_desktop.modalities.speech.errors import SpeechInputError
from anygpt_desktop.modalities.speech.resample import resample_sinc

SAMPLE_RATE = 16000


def read_audio_file(path: Path | str) -> tuple[np.ndarray, int]:
    """``(samples [channels, T] float32 in [-1, 1], sample_rate)``; PCM is scaled like torchaudio (int16 / 32768)."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise SpeechInputError(f"audio file not found: {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises its own error types for corrupt/unsupported files
        raise SpeechInputError(f"cannot read audio file {path.name}: {exc}") from exc
    if data.shape[0] == 0:
        raise SpeechInputError(f"audio file {path.name} contains no samples")
    return np.ascontiguousarray(data.T), int(sr)


def to_model_input(
    audio: np.ndarray, sample_rate: int, channels: Literal["first", "mean"] = "first"
) -> torch.Tensor:
    """``[channels, T]`` or ``[T]`` samples at any rate -> ``[1, 1, T16k]`` float32 tensor for the SpeechTokenizer."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] == 0:
        raise SpeechInputError("audio must be a non-empty [channels, samples] array")
    if not np.isfinite(x).all():
        raise SpeechInputError("audio contains NaN or infinite samples")
    mono = x[0] if channels == "first" else x.mean(axis=0)
    wav = resample_sinc(mono, sample_rate, SAMPLE_RATE)
    return wav[None, None]
