"""The tiny SEED files: released layout and token space, sizes discoverable from the tensors, deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from anygpt_desktop.layout import ModelPaths
from anygpt_desktop.modalities.image.seed_model import eva_config_from_state, seed_config_from_state
from anygpt_desktop.modalities.image.seed_tokenizer import SeedTokenizer
from anygpt_desktop.tiny_kit import WRITERS
from anygpt_desktop.tiny_kit.seed import write_tiny_seed


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seed_kit")
    write_tiny_seed(root, 0)
    return root


def test_registered() -> None:
    assert WRITERS["seed"] == "anygpt_desktop.tiny_kit.seed:write_tiny_seed"


def test_files_and_real_token_space(kit: Path) -> None:
    paths = ModelPaths(kit)
    q = torch.load(paths.seed_quantizer, weights_only=True)
    eva = torch.load(paths.eva_vit_g, weights_only=True)
    assert q["quantize.embedding.weight"].shape == (8192, 32)
    assert q["query_tokens"].shape[1] == 32
    assert q["distill_image_proj.weight"].shape == (1024, 1024)
    assert q["Qformer.bert.embeddings.position_ids"].dtype == torch.int64
    assert not any(k.startswith("visual_encoder.") for k in q)
    assert [k for k in q if ".intermediate.dense." in k]  # text-branch extras, as in the released file
    cfg, ecfg = seed_config_from_state(q), eva_config_from_state(eva)
    assert ecfg.image_size == 224 and ecfg.patch == 14 and ecfg.width == cfg.vision_width
    assert cfg.hidden < 768 and ecfg.width < 1408 and ecfg.depth < 39


def test_deterministic(kit: Path, tmp_path: Path) -> None:
    write_tiny_seed(tmp_path, 0)
    for rel in ("seed-tokenizer-2/seed_quantizer.pt", "eva_vit_g/eva_vit_g.pth"):
        a = torch.load(kit / rel, weights_only=True)
        b = torch.load(tmp_path / rel, weights_only=True)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    write_tiny_seed(tmp_path / "other", 1)
    a = torch.load(kit / "seed-tokenizer-2/seed_quantizer.pt", weights_only=True)
    b = torch.load(tmp_path / "other/seed-tokenizer-2/seed_quantizer.pt", weights_only=True)
    assert not torch.equal(a["quantize.embedding.weight"], b["quantize.embedding.weight"])


def test_ids_vary_between_images(kit: Path) -> None:
    tok = SeedTokenizer.from_models_dir(kit, device="cpu")
    red = tok.encode(Image.new("RGB", (64, 64), (220, 20, 20)))
    photo = tok.encode(Path(__file__).resolve().parents[1] / "data" / "cat_small.jpg")
    assert len(red) == len(photo) == 32
    assert len(set(photo)) > 8 and red != photo
    assert tok.image_embeds(photo).shape == (1, 1024)
