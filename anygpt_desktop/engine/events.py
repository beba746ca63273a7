"""Typed events the engine yields during a turn; the GUI turns them into Qt signals, the CLIs print/save them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np


@dataclass(frozen=True)
class TranscriptDelta:
    """More of what the model heard the user say (after ``<-Ins->``)."""

    text: str


@dataclass(frozen=True)
class TextDelta:
    """More of the reply text."""

    text: str


@dataclass(frozen=True)
class SpeechChunk:
    """A piece of the spoken reply, ready to play while the model keeps talking."""

    audio: np.ndarray  # float32 mono
    sample_rate: int
    index: int
    final: bool = False


@dataclass(frozen=True)
class SpeechReady:
    """The whole spoken reply, saved."""

    path: Path
    sample_rate: int
    seconds: float


@dataclass(frozen=True)
class ImageReady:
    path: Path
    width: int
    height: int


@dataclass(frozen=True)
class MusicReady:
    path: Path
    sample_rate: int
    seconds: float


@dataclass(frozen=True)
class Notice:
    """Something the user should know that does not stop the turn (a malformed span, a truncated input...)."""

    message: str


@dataclass(frozen=True)
class TurnDone:
    reply_text: str
    transcript: str
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, "first_audio", tokens/s ...
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TurnFailed:
    reason: str  # in the user's terms
    cancelled: bool = False
    engine_lost: bool = False  # the engine process died or the server connection broke: a restart is worth offering


Event = Union[TranscriptDelta, TextDelta, SpeechChunk, SpeechReady, ImageReady, MusicReady, Notice, TurnDone, TurnFailed]
