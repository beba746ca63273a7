from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from anygpt_desktop.modalities.speech.errors import CheckpointError, SpeechInputError
from anygpt_desktop.modalities.speech.manifest import soundstorm_state_spec, speechtokenizer_state_spec
from anygpt_desktop.modalities.speech.resample import resample_sinc
from anygpt_desktop.modalities.speech.speechtokenizer import load_speechtokenizer
from anygpt_desktop.verify.manifests_family import compare
from anygpt_desktop.verify.rvq_codes import compare_rvq_codes


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
    assert codes.shape == ref.shape and codes.shape[2] == -(-x.shape[-1] // 320)
    with torch.inference_mode():
        comparison = compare_rvq_codes(golden_tokenizer, golden_tokenizer.encoder_features(x), ref)
    assert comparison.passed, comparison.summary()
    # at most one frame where the reference's float32 rounding, not the distance, picked its code
    assert len({d.frame for d in comparison.near_ties}) <= 1, comparison.summary()
    if not comparison.near_ties:
        np.testing.assert_array_equal(codes.numpy(), ref)
    wav = golden_tokenizer.decode(torch.from_numpy(ref)).numpy()
    np.testing.assert_allclose(wav, np.load(folder / f"{case}_decoded.npy"), atol=2e-6, rtol=0)


def test_codes_do_not_depend_on_the_thread_count(reference_dir: Path, golden_tokenizer) -> None:
    """The exact (float64) nearest-code search gives the same codes at 1 thread and at several."""
    folder = reference_dir / "golden" / "speechtokenizer"
    x = torch.from_numpy(np.load(folder / "resampled_input_16k.npy"))[None, None]
    with torch.inference_mode():
        features = golden_tokenizer.encoder_features(x)
    book = golden_tokenizer.quantizer.codebook(0)
    residual = features[0].t().contiguous()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = book.nearest(residual)
        torch.set_num_threads(4)
        four = book.nearest(residual)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, four)
    direct = ((residual.double()[:, None, :] - book.embed.double()[None]) ** 2).sum(-1).argmin(-1)
    assert torch.equal(one, direct)  # the truly nearest code, as the direct form says


def test_a_near_tie_is_told_from_a_real_difference(reference_dir: Path, golden_tokenizer) -> None:
    folder = reference_dir / "golden" / "speechtokenizer"
    x = torch.from_numpy(np.load(folder / "voice_input_16k.npy"))[None, None]
    ref = np.load(folder / "voice_codes.npy").copy()
    with torch.inference_mode():
        features = golden_tokenizer.encoder_features(x)
    ref[0, 0, 5] = (ref[0, 0, 5] + 1) % 1024  # a far code: a real difference
    comparison = compare_rvq_codes(golden_tokenizer, features, ref)
    assert not comparison.passed and comparison.wrong[0].frame == 5 and comparison.wrong[0].layer == 0


def test_resampler_matches_reference(reference_dir: Path) -> None:
    folder = reference_dir / "golden" / "speechtokenizer"
    info = json.loads((folder / "expected.json").read_text(encoding="utf-8"))["resample"]
    data, rate = sf.read(reference_dir / info["file"], frames=info["input_samples"], dtype="float32", always_2d=True)
    assert rate == info["orig_sr"]
    out = resample_sinc(data[:, 0].copy(), rate, 16000).numpy()
    np.testing.assert_allclose(out, np.load(folder / "resample_output_16k.npy"), atol=1e-6, rtol=0)


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
