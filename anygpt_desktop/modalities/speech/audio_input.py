"""Arrays to SpeechTokenizer input (files are read by :mod:`anygpt_desktop.audio.files`).

Channel rules of the reference (reference-behaviour §4.1, §4.3): speech *input* keeps channel 0; a *voice prompt* averages exactly
two channels (3+ channels were unsupported there; here they are averaged too).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from anygpt_desktop.modalities.speech.errors import SpeechInputError
from anygpt_desktop.modalities.speech.resample import resample_sinc

SAMPLE_RATE = 16000


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
