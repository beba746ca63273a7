from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from anygpt_desktop.layout import SOUNDSTORM_CKPT, SPEECHTOKENIZER_CKPT, SPEECHTOKENIZER_CONFIG, ModelPaths
from anygpt_desktop.modalities.speech.soundstorm import load_soundstorm
from anygpt_desktop.modalities.speech.speechtokenizer import load_speechtokenizer
from anygpt_desktop.tiny_kit.speech import write_tiny_soundstorm, write_tiny_speechtokenizer

FILES = [SPEECHTOKENIZER_CKPT, SPEECHTOKENIZER_CONFIG, SOUNDSTORM_CKPT]


def _write(root: Path, seed: int) -> dict[str, str]:
    write_tiny_speechtokenizer(root, seed)
    write_tiny_soundstorm(root, seed)
    return {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in FILES}


def test_speech_writers_are_deterministic(tmp_path: Path) -> None:
    state = torch.random.get_rng_state()
    a, b, c = _write(tmp_path / "a", 0), _write(tmp_path / "b", 0), _write(tmp_path / "c", 1)
    assert a == b
    assert a[SPEECHTOKENIZER_CKPT] != c[SPEECHTOKENIZER_CKPT] and a[SOUNDSTORM_CKPT] != c[SOUNDSTORM_CKPT]
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched


def test_tiny_speech_kit_loads_in_released_format(tmp_path: Path) -> None:
    _write(tmp_path, 0)
    paths = ModelPaths(tmp_path)
    raw = torch.load(paths.speechtokenizer_ckpt, weights_only=True)
    assert "encoder.model.0.conv.conv.weight_g" in raw and "encoder.model.0.conv.conv.weight" not in raw
    assert raw["quantizer.vq.layers.7._codebook.embed"].shape == (1024, 32)
    tokenizer = load_speechtokenizer(paths.speechtokenizer_config, paths.speechtokenizer_ckpt)
    soundstorm = load_soundstorm(paths.soundstorm_ckpt)
    assert (tokenizer.hop_length, tokenizer.sample_rate) == (320, 16000)
    assert (soundstorm.cfg.codebook_size, soundstorm.cfg.num_quantizers, soundstorm.cfg.heads) == (1024, 7, 2)
    t = torch.arange(32000) / 16000
    codes = tokenizer.encode((0.3 * torch.sin(2 * torch.pi * (200 + 300 * t) * t))[None, None])
    assert codes.shape == (8, 1, 100)
    assert all(len(set(codes[i, 0].tolist())) > 3 for i in range(8))
