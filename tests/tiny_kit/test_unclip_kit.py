"""The tiny stable-diffusion-2-1-unclip folder: loads as StableUnCLIPImg2ImgPipeline, draws from a 1024-d embedding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from anygpt_desktop.tiny_kit import make_tiny
from anygpt_desktop.tiny_kit.unclip import TINY_IMAGE_SIZE, write_tiny_unclip

MANIFEST_PROVIDERS = ("unet", "vae", "text_encoder", "image_normalizer")


@pytest.fixture(scope="module")
def unclip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_tiny(tmp_path_factory.mktemp("unclip_kit"), seed=0, components=["unclip"])
    return root / "stable-diffusion-2-1-unclip"


def test_layout_and_real_scheduler_configs(unclip_dir: Path) -> None:
    index = json.loads((unclip_dir / "model_index.json").read_text(encoding="utf-8"))
    assert index["_class_name"] == "StableUnCLIPImg2ImgPipeline"
    for component in index:
        if not component.startswith("_"):
            assert (unclip_dir / component).is_dir(), component
    sched = json.loads((unclip_dir / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
    assert sched["_class_name"] == "PNDMScheduler" and sched["prediction_type"] == "v_prediction"
    unet = json.loads((unclip_dir / "unet" / "config.json").read_text(encoding="utf-8"))
    assert unet["class_embed_type"] == "projection" and unet["projection_class_embeddings_input_dim"] == 2048
    norm = json.loads((unclip_dir / "image_normalizer" / "config.json").read_text(encoding="utf-8"))
    assert norm["embedding_dim"] == 1024


def test_text_encoder_file_uses_released_names(unclip_dir: Path) -> None:
    from safetensors.torch import load_file

    keys = load_file(str(unclip_dir / "text_encoder" / "model.safetensors")).keys()
    assert all(k.startswith("text_model.") for k in keys)


def test_pipeline_draws_an_image_from_an_image_embedding(unclip_dir: Path) -> None:
    from diffusers import StableUnCLIPImg2ImgPipeline

    pipe = StableUnCLIPImg2ImgPipeline.from_pretrained(unclip_dir)
    embeds = torch.randn(1, 1024, generator=torch.Generator().manual_seed(0))
    image = pipe(
        image_embeds=embeds, guidance_scale=10, noise_level=0, num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
    ).images[0]
    assert image.size == (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE) and image.mode == "RGB"
    assert np.asarray(image).std() > 1.0  # not a constant picture


def test_same_seed_same_bytes(tmp_path: Path, unclip_dir: Path) -> None:
    again = write_tiny_unclip(tmp_path, seed=0)
    files = sorted(p.relative_to(unclip_dir) for p in unclip_dir.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (again / rel).read_bytes() == (unclip_dir / rel).read_bytes(), rel


@pytest.mark.parametrize("component", MANIFEST_PROVIDERS)
def test_full_size_manifests_match(reference_dir: Path, component: str) -> None:
    from anygpt_desktop.modalities.image import unclip_manifest
    from anygpt_desktop.verify.manifests_family import compare

    manifest = json.loads((reference_dir / "manifests" / f"unclip_{component}.json").read_text(encoding="utf-8"))
    provider = getattr(unclip_manifest, f"{component}_state_spec")
    assert compare(manifest["keys"], provider(manifest)) == []
