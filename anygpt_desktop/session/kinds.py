"""The small closed vocabularies of the session: model state, attachment kind, reply modality."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Literal

OutputModality = Literal["text", "speech", "image", "music"]
"""What the user wants back; ``None`` where one is expected lets the model choose ("Auto")."""


class ModelState(str, Enum):
    """Where the models are. A ``str`` enum, so ``ModelState.READY == "ready"``."""

    STARTING = "starting"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class AttachmentKind(str, Enum):
    """How an attached file is used in the next turn."""

    SPEECH = "speech"  # a recording that is the spoken question
    IMAGE = "image"  # an image the user asks about
    MUSIC = "music"  # music the user asks about
    VOICE = "voice"  # a recording whose voice speaks the reply

    @property
    def label(self) -> str:
        """How the user turn names the file."""
        return {"speech": "Spoken question", "image": "Image", "music": "Music input", "voice": "Reply voice"}[self.value]


@dataclass(frozen=True)
class Attachment:
    path: Path
    kind: AttachmentKind
