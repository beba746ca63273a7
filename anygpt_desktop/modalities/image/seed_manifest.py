"""Full-size SEED state specs (keys, shapes, dtypes) built on the ``meta`` device, for the ``manifests`` check."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from anygpt_desktop.modalities.image.seed_model import EvaConfig, EvaViT, SeedConfig, SeedQuantizer

StateSpec = dict[str, tuple[tuple[int, ...], str]]


def state_spec(module: nn.Module) -> StateSpec:
    """``{key: (shape, dtype name)}`` of a module's persistent state dict."""
    return {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in module.state_dict().items()}


def _seed_config(manifest: dict[str, Any]) -> SeedConfig:
    bert = manifest.get("bert_config_assumed") or {}
    defaults = SeedConfig()
    return SeedConfig(
        hidden=bert.get("hidden_size", defaults.hidden),
        layers=bert.get("num_hidden_layers", defaults.layers),
        heads=bert.get("num_attention_heads", defaults.heads),
        intermediate=bert.get("intermediate_size", defaults.intermediate),
        max_positions=bert.get("max_position_embeddings", defaults.max_positions),
        qformer_ln_eps=bert.get("layer_norm_eps", defaults.qformer_ln_eps),
    )


def seed_quantizer_state_spec(manifest: dict[str, Any]) -> StateSpec:
    """What our loader requires from the released ``seed_quantizer.pt``."""
    with torch.device("meta"):
        model = SeedQuantizer(_seed_config(manifest))
    return state_spec(model)


def eva_vit_g_state_spec(manifest: dict[str, Any]) -> StateSpec:
    """What our loader requires from the released ``eva_vit_g.pth`` (keys without ``visual_encoder.``)."""
    del manifest  # the released ViT-g has one size
    with torch.device("meta"):
        model = EvaViT(EvaConfig())
    return state_spec(model)
