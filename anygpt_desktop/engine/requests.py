"""What the GUI and the CLIs hand to the engine for one turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anygpt_desktop.protocol.kinds import Modality

OUTPUT_MODALITIES: tuple[Modality, ...] = ("text", "speech", "image", "music")  # the choices a user has, in UI order


@dataclass
class TurnRequest:
    """One user turn: any mix of typed text, a spoken utterance, images and music.

    ``speech`` is a float32 mono waveform at 16 kHz (from the microphone); ``speech_files`` are recordings on disk.
    ``output_modality`` is what the user wants back ("text", "speech", "image", "music"); None lets the model choose
    (the chat model answers a spoken instruction with speech).
    """

    text: str = ""
    speech: np.ndarray | None = None
    speech_files: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    music: list[Path] = field(default_factory=list)
    voice_prompt: Path | None = None
    output_modality: Modality | None = None

    def is_empty(self) -> bool:
        return not (self.text.strip() or self.speech is not None or self.speech_files or self.images or self.music)
