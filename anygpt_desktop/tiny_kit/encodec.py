"""Tiny ``encodec_32khz/``: the real 32 kHz Encodec structure with small widths and random weights.

Kept from the release: 32 kHz mono, ``upsampling_ratios [8, 5, 4, 4]`` (50 frames/s), ``codebook_size 2048``,
``target_bandwidths [2.2]`` (4 codebooks), weight norm, reflect padding. Shrunk: ``num_filters 4``, ``hidden_size`` =
``codebook_dim`` 16 (as the golden tiny model). Weights go to ``model.safetensors`` under the released names
(``conv.weight_g`` / ``conv.weight_v``), so loading exercises the same name mapping as the real file.

Codebooks are calibrated on seeded noise: each codebook is drawn from a Gaussian fitted to the residual it quantises,
so nearest-neighbour search spreads over many codes (all-zero codebooks would emit one constant code).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from anygpt_desktop.layout import ENCODEC_32K
from anygpt_desktop.modalities.music.manifest import ENCODEC_32KHZ_CONFIG, build_config, to_released_names

logger = logging.getLogger(__name__)

TINY_ENCODEC_CONFIG: dict[str, Any] = {
    **ENCODEC_32KHZ_CONFIG,
    "codebook_dim": 16,
    "hidden_size": 16,
    "num_filters": 4,
}
PREPROCESSOR_CONFIG: dict[str, Any] = {
    "chunk_length_s": None,
    "feature_extractor_type": "EncodecFeatureExtractor",
    "feature_size": 1,
    "overlap": None,
    "padding_side": "right",
    "padding_value": 0.0,
    "return_attention_mask": True,
    "sampling_rate": 32000,
}
CALIBRATION_SECONDS = 4


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@torch.no_grad()
def _calibrate_codebooks(model: Any, gen: torch.Generator) -> None:
    """Fill every codebook from the statistics of the residual it sees on seeded noise."""
    rate = model.config.sampling_rate
    noise = torch.randn(1, 1, CALIBRATION_SECONDS * rate, generator=gen) * 0.1
    residual = model.encoder(noise)[0].T  # [frames, dim]
    for layer in model.quantizer.layers:
        codebook = layer.codebook
        mean, std = residual.mean(0), residual.std(0).clamp_min(1e-6)
        embed = mean + std * torch.randn(codebook.embed.shape, generator=gen)
        codebook.embed.copy_(embed)
        codebook.embed_avg.copy_(embed)
        codebook.cluster_size.fill_(1.0)
        codebook.inited.fill_(1.0)
        codes = torch.cdist(residual, embed).argmin(-1)
        residual = residual - embed[codes]


def tiny_encodec_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """Random tiny Encodec weights (with calibrated codebooks) under the released key names."""
    from transformers import EncodecModel

    torch.manual_seed(seed)
    model = EncodecModel(build_config(TINY_ENCODEC_CONFIG)).eval()
    _calibrate_codebooks(model, torch.Generator().manual_seed(seed + 1))
    return {k: v.detach().contiguous().clone() for k, v in to_released_names(model.state_dict()).items()}


def write_tiny_encodec(root: Path, seed: int) -> Path:
    """Write ``root/encodec_32khz/`` and return it. Same seed, same bytes."""
    from safetensors.torch import save_file

    out = Path(root) / ENCODEC_32K
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "config.json", TINY_ENCODEC_CONFIG)
    _write_json(out / "preprocessor_config.json", PREPROCESSOR_CONFIG)
    save_file(tiny_encodec_state_dict(seed), str(out / "model.safetensors"), metadata={"format": "pt"})
    logger.debug("tiny Encodec written to %s", out)
    return out
