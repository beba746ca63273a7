"""Speech test fixtures: the speech part of the tiny kit, written once per session by our own writers."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def speech_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from anygpt_desktop.tiny_kit.speech import write_tiny_soundstorm, write_tiny_speechtokenizer

    root = tmp_path_factory.mktemp("tiny_speech")
    write_tiny_speechtokenizer(root, 0)
    write_tiny_soundstorm(root, 0)
    return root


@pytest.fixture(scope="session")
def tiny_speech(speech_models: Path):
    from anygpt_desktop.layout import ModelPaths
    from anygpt_desktop.modalities.speech.soundstorm import load_soundstorm
    from anygpt_desktop.modalities.speech.speechtokenizer import load_speechtokenizer

    paths = ModelPaths(speech_models)
    return load_speechtokenizer(paths.speechtokenizer_config, paths.speechtokenizer_ckpt), load_soundstorm(paths.soundstorm_ckpt)
