from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from anygpt_desktop.modalities.speech.errors import CheckpointError, SpeechInputError
from anygpt_desktop.modalities.speech.manifest import soundstorm_state_spec, speechtokenizer_state_spec
from anygpt_desktop.modalities.speech.resample import resample_sinc
from anygpt_desktop.modalities.speech.speechtokenizer import load_speechtokenizer
from anygpt_desktop.verify.manifests_family import compare


@pytest.fixture(scope="module")
def golden_tokenizer(reference_dir: Path):
    folder = reference_dir / "golden" / "speechtokenizer"
    return load_speechtokenizer(folder / "config.json", folder / "ckpt.dev")


@pytest.mark.parametrize("case", ["voice", "synthetic", "resampled"])
def test_golden_codes_and_decode(reference_dir: Path, golden_tokenizer, case: str) -> None:
    folder = reference_dir / "golden" / "speechtokenizer"
    x = torch.from_numpy(np.load(folder / f"{case}_input_16k.npy"))[None, None]
    codes = golden_tokenizer.encode(x)
    ref = np.load(folder / f"{case}_codes.npy")
    assert codes.shape[2] == -(-x.shape[-1] // 320)
    np.testing.assert_array_equal(codes.numpy(), ref)
    wav = golden_tokenizer.decode(torch.from_numpy(ref)).numpy()
    np.testing.assert_allclose(wav, np.load(folder / f"{case}_decoded.npy"), atol=1e-4, rtol=0)


def test_resampler_matches_reference(reference_dir: Path) -> None:
    folder = reference_dir / "golden" / "speechtokenizer"
    out = resample_sinc(np.load(folder / "resample_input_22050.npy"), 22050, 16000).numpy()
    np.testing.assert_allclose(out, np.load(folder / "resample_output_16k.npy"), atol=1e-5, rtol=0)


def test_full_size_state_specs_match_manifests(reference_dir: Path) -> None:
    for name, provider in [("speechtokenizer", speechtokenizer_state_spec), ("soundstorm", soundstorm_state_spec)]:
        manifest = json.loads((reference_dir / "manifests" / f"{name}.json").read_text())
        assert compare(manifest["keys"], provider(manifest)) == []


def test_loader_rejects_wrong_keys_and_corrupt_files(speech_models: Path, tmp_path: Path) -> None:
    cfg = speech_models / "speechtokenizer" / "config.json"
    state = torch.load(speech_models / "speechtokenizer" / "ckpt.dev", weights_only=True)
    state.pop("transform.bias")
    state["extra.weight"] = torch.zeros(1)
    bad = tmp_path / "bad.dev"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match="missing.*transform.bias.*unexpected.*extra.weight"):
        load_speechtokenizer(cfg, bad)
    corrupt = tmp_path / "corrupt.dev"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a plain weights file|damaged or incomplete"):
        load_speechtokenizer(cfg, corrupt)
    with pytest.raises(CheckpointError, match="not found"):
        load_speechtokenizer(cfg, tmp_path / "missing.dev")


def test_bad_inputs_get_clear_errors(tiny_speech) -> None:
    tokenizer, _ = tiny_speech
    with pytest.raises(SpeechInputError, match="empty"):
        tokenizer.encode(torch.zeros(1, 1, 0))
    with pytest.raises(SpeechInputError, match="shaped"):
        tokenizer.encode(torch.zeros(2, 16000))
    with pytest.raises(SpeechInputError, match="0..1023"):
        tokenizer.decode(torch.full((8, 1, 4), 1024))
    # very short input: fewer samples than the reflect padding needs, still one frame
    assert tokenizer.encode(torch.randn(1, 1, 5)).shape == (8, 1, 1)
