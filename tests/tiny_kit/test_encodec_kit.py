"""The tiny encodec_32khz folder: real 32 kHz structure, released key names, useful (non-constant) codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from anygpt_desktop.tiny_kit import make_tiny
from anygpt_desktop.tiny_kit.encodec import write_tiny_encodec


@pytest.fixture(scope="module")
def encodec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny(tmp_path_factory.mktemp("encodec_kit"), seed=0, components=["encodec_32khz"]) / "encodec_32khz"


def test_config_keeps_the_real_token_space(encodec_dir: Path) -> None:
    config = json.loads((encodec_dir / "config.json").read_text(encoding="utf-8"))
    assert config["sampling_rate"] == 32000 and config["codebook_size"] == 2048
    assert config["target_bandwidths"] == [2.2] and config["upsampling_ratios"] == [8, 5, 4, 4]
    pre = json.loads((encodec_dir / "preprocessor_config.json").read_text(encoding="utf-8"))
    assert pre["feature_extractor_type"] == "EncodecFeatureExtractor" and pre["sampling_rate"] == 32000


def test_weights_use_the_released_weight_norm_names(encodec_dir: Path) -> None:
    from safetensors.torch import load_file

    state = load_file(str(encodec_dir / "model.safetensors"))
    assert "encoder.layers.0.conv.weight_g" in state and "encoder.layers.0.conv.weight_v" in state
    assert not any("parametrizations" in k for k in state)
    for layer in range(4):
        embed = state[f"quantizer.layers.{layer}.codebook.embed"]
        assert embed.shape == (2048, 16) and float(embed.abs().sum()) > 0


def test_loads_and_encodes_one_second_of_noise_to_varied_codes(encodec_dir: Path) -> None:
    from transformers import EncodecModel

    model, info = EncodecModel.from_pretrained(encodec_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    noise = torch.from_numpy(np.random.default_rng(3).standard_normal(32000).astype(np.float32) * 0.3)
    with torch.no_grad():
        codes = model.eval().encode(noise[None, None], torch.ones(1, 32000, dtype=torch.long)).audio_codes
    assert codes.shape == (1, 1, 4, 50)
    for layer in range(4):
        assert len(torch.unique(codes[0, 0, layer])) > 10


def test_same_seed_same_bytes(tmp_path: Path, encodec_dir: Path) -> None:
    again = write_tiny_encodec(tmp_path / "a", seed=0)
    for path in encodec_dir.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    other = write_tiny_encodec(tmp_path / "b", seed=5)
    assert (other / "model.safetensors").read_bytes() != (encodec_dir / "model.safetensors").read_bytes()
