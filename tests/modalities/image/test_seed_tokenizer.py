"""SEED tokenizer: every stage against golden/seed, loader contract, unit-count errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from anygpt_desktop.modalities.image.image_input import open_image
from anygpt_desktop.modalities.image.seed_model import eva_heads_for_width, seed_config_from_state
from anygpt_desktop.modalities.image.seed_tokenizer import (
    ImageUnitsError,
    SeedCheckpointError,
    SeedTokenizer,
    llm_ids,
    preprocess,
    unit_string,
)


@pytest.fixture(scope="module")
def golden(reference_dir: Path) -> Path:
    return reference_dir / "golden" / "seed"


@pytest.fixture(scope="module")
def golden_tok(golden: Path) -> SeedTokenizer:
    return SeedTokenizer(golden / "seed_quantizer.pt", golden / "eva_vit_g.pth", device="cpu")


def test_preprocessing_is_exact(reference_dir: Path, golden: Path) -> None:
    image = open_image(reference_dir / "anygpt-data/static/infer/image/cat.jpg")
    ours = preprocess(image).numpy()
    assert ours.dtype == np.float32 and ours.shape == (1, 3, 224, 224)
    np.testing.assert_array_equal(ours, np.load(golden / "preprocessed.npy"))


def test_every_stage_matches_reference(golden: Path, golden_tok: SeedTokenizer) -> None:
    trace = golden_tok.trace(torch.from_numpy(np.load(golden / "preprocessed.npy")))
    for name in ("vit_ln_out", "qformer_out", "encode_task_out"):
        ref = np.load(golden / f"{name}.npy")
        got = getattr(trace, name).numpy()
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= 1e-4, name
    assert trace.ids.dtype == torch.int64
    np.testing.assert_array_equal(trace.ids.numpy(), np.load(golden / "ids.npy"))


def test_detokeniser_matches_reference(golden: Path, golden_tok: SeedTokenizer) -> None:
    cases = (("ids.npy", "image_embeds.npy"), ("decode_only_ids.npy", "decode_only_image_embeds.npy"))
    for ids_file, ref_file in cases:
        ref = np.load(golden / ref_file)
        got = golden_tok.image_embeds(torch.from_numpy(np.load(golden / ids_file))).numpy()
        assert got.shape == (1, 1024)
        assert np.abs(got - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


def test_unit_formatting_matches_reference(golden: Path) -> None:
    import json

    expected = json.loads((golden / "expected.json").read_text(encoding="utf-8"))
    assert unit_string(expected["ids"]) == expected["unit_string"]
    assert llm_ids(expected["ids"]) == expected["llm_ids"]


@pytest.mark.parametrize("count", [0, 31, 33])
def test_wrong_unit_count_is_refused(golden_tok: SeedTokenizer, count: int) -> None:
    with pytest.raises(ImageUnitsError, match="exactly 32 units"):
        golden_tok.image_embeds(list(range(count)))


@pytest.mark.parametrize("bad", [-1, 8192])
def test_out_of_range_ids_are_refused(golden_tok: SeedTokenizer, bad: int) -> None:
    with pytest.raises(ImageUnitsError, match="0..8191"):
        golden_tok.image_embeds([0] * 31 + [bad])


def test_missing_tensors_are_named(golden: Path, tmp_path: Path) -> None:
    state = torch.load(golden / "seed_quantizer.pt", weights_only=True)
    del state["distill_image_proj.bias"], state["pos_embed_image"]
    torch.save(state, tmp_path / "q.pt")
    tok = SeedTokenizer(tmp_path / "q.pt", golden / "eva_vit_g.pth", device="cpu")
    with pytest.raises(SeedCheckpointError, match="lacks 2 tensors.*pos_embed_image.*distill_image_proj.bias"):
        tok.image_embeds([0] * 32)


def test_extra_tensors_are_listed_and_ignored(
    golden: Path, golden_tok: SeedTokenizer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = torch.load(golden / "seed_quantizer.pt", weights_only=True)
    state["Qformer.cls.predictions.bias"] = torch.zeros(7)
    torch.save(state, tmp_path / "q.pt")
    tok = SeedTokenizer(tmp_path / "q.pt", golden / "eva_vit_g.pth", device="cpu")
    with caplog.at_level(logging.INFO):
        got = tok.image_embeds([5] * 32)
    assert "1 extra tensors ignored: Qformer.cls.predictions.bias" in caplog.text
    torch.testing.assert_close(got, golden_tok.image_embeds([5] * 32))


def test_fp16_eva_file_loads(golden: Path, golden_tok: SeedTokenizer, tmp_path: Path) -> None:
    state = torch.load(golden / "eva_vit_g.pth", weights_only=True)
    torch.save({k: v.half() for k, v in state.items()}, tmp_path / "eva16.pth")
    tok = SeedTokenizer(golden / "seed_quantizer.pt", tmp_path / "eva16.pth", device="cpu")
    pixels = torch.from_numpy(np.load(golden / "preprocessed.npy"))
    assert tok.eva.cls_token.dtype == torch.float32
    torch.testing.assert_close(tok.trace(pixels).vit_ln_out, golden_tok.trace(pixels).vit_ln_out, atol=0.05, rtol=0)


def test_unreadable_or_missing_files(golden: Path, tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SeedCheckpointError, match="not a plain weights file"):
        SeedTokenizer(tmp_path / "junk.pt", golden / "eva_vit_g.pth", device="cpu").image_embeds([0] * 32)
    with pytest.raises(SeedCheckpointError, match="not found"):
        SeedTokenizer(tmp_path / "none.pt", golden / "eva_vit_g.pth", device="cpu").image_embeds([0] * 32)


def test_release_then_reuse(golden: Path) -> None:
    tok = SeedTokenizer(golden / "seed_quantizer.pt", golden / "eva_vit_g.pth", device="cpu")
    first = tok.image_embeds([1] * 32)
    assert tok.loaded
    tok.release()
    assert not tok.loaded
    torch.testing.assert_close(tok.image_embeds([1] * 32), first)


def test_sizes_read_from_state(golden: Path) -> None:
    cfg = seed_config_from_state(torch.load(golden / "seed_quantizer.pt", weights_only=True))
    assert (cfg.hidden, cfg.layers, cfg.intermediate, cfg.vision_width) == (96, 2, 192, 64)
    assert (cfg.cross_attention_freq, cfg.codebook_size, cfg.decoder_depth, cfg.image_embed_dim) == (2, 8192, 4, 1024)
    assert eva_heads_for_width(1408) == 16 and eva_heads_for_width(64) == 4


def test_half_precision_path(golden: Path) -> None:
    """The CUDA configuration (fp16 weights, fp32 ln_vision and VQ distances), exercised on the CPU."""
    tok = SeedTokenizer(golden / "seed_quantizer.pt", golden / "eva_vit_g.pth", device="cpu", dtype=torch.float16)
    trace = tok.trace(torch.from_numpy(np.load(golden / "preprocessed.npy")))
    assert trace.vit_ln_out.dtype == torch.float16
    np.testing.assert_array_equal(trace.ids.numpy(), np.load(golden / "ids.npy"))
    embeds = tok.image_embeds(torch.from_numpy(np.load(golden / "ids.npy")))
    assert embeds.dtype == torch.float16
    assert np.abs(embeds.float().numpy() - np.load(golden / "image_embeds.npy")).max() < 2e-3
