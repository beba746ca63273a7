from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anygpt_desktop.engine.assistant import Assistant, AssistantSettings
from anygpt_desktop.engine.decode_loop import DecodeSettings


@pytest.fixture(scope="session")
def loaded_assistant_factory(tiny_models: Path, tmp_path_factory):
    """Builds assistants on the session's tiny kit (each with its own output folder)."""

    def make(seed: int | None = 0, **decode) -> Assistant:
        out = tmp_path_factory.mktemp("outputs")
        defaults = dict(max_text_tokens=12, max_speech_units=60, max_music_units=40)
        defaults.update(decode)
        settings = AssistantSettings(seed=seed, output_dir=out, decode=DecodeSettings(**defaults))
        assistant = Assistant(tiny_models, settings=settings)
        assistant.load()
        return assistant

    return make


@pytest.fixture
def voice_like() -> np.ndarray:
    """2 s of a modulated harmonic tone at 16 kHz (enough to encode; not real speech)."""
    sr = 16000
    t = np.arange(2 * sr) / sr
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)
