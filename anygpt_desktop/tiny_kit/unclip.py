"""Tiny ``stable-diffusion-2-1-unclip/``: a small random ``StableUnCLIPImg2ImgPipeline`` folder in the released layout.

Kept from the release: ``model_index.json``, both scheduler configs verbatim (PNDM ``v_prediction``, DDPM
``squaredcos_cap_v2``), the image normalizer's 1024-d embedding (the SEED image embedding), the UNet's
``class_embed_type "projection"`` with a 2048-d input (1024 embedding + 1024 noise-level embedding), the VAE's 4 blocks
(×8) and scaling factor. Shrunk: UNet 2 blocks (32/64 channels, ``sample_size 8`` → 64×64 images), VAE 8–16 channels,
a 2-layer 32-wide CLIP text encoder with a small byte-level BPE vocabulary written here, and a 1-layer CLIP image
encoder (diffusers ≥0.2x reads the image encoder's dtype even when ``image_embeds`` are given, so it must exist).
Weights are ``safetensors`` under the released names (``text_model.*`` for the text encoder).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from anygpt_desktop.layout import UNCLIP
from anygpt_desktop.modalities.image import unclip_manifest as real

logger = logging.getLogger(__name__)

IMAGE_EMBED_DIM = 1024
TEXT_WIDTH = 32
TINY_IMAGE_SIZE = 64  # unet sample_size 8 × VAE factor 8

TINY_UNET_CONFIG: dict[str, Any] = {
    **real.UNET_CONFIG,
    "attention_head_dim": [2, 4],
    "block_out_channels": [32, 64],
    "cross_attention_dim": TEXT_WIDTH,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "sample_size": 8,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
}
TINY_VAE_CONFIG: dict[str, Any] = {
    **real.VAE_CONFIG,
    "block_out_channels": [8, 8, 16, 16],
    "layers_per_block": 1,
    "norm_num_groups": 4,
    "sample_size": TINY_IMAGE_SIZE,
}
TINY_TEXT_ENCODER_CONFIG: dict[str, Any] = {
    **real.TEXT_ENCODER_CONFIG,
    "hidden_size": TEXT_WIDTH,
    "intermediate_size": 64,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "projection_dim": TEXT_WIDTH,
    "torch_dtype": "float32",
}
TINY_IMAGE_ENCODER_CONFIG: dict[str, Any] = {
    "architectures": ["CLIPVisionModelWithProjection"],
    "hidden_act": "gelu",
    "hidden_size": 32,
    "image_size": 32,
    "intermediate_size": 64,
    "layer_norm_eps": 1e-05,
    "model_type": "clip_vision_model",
    "num_attention_heads": 2,
    "num_channels": 3,
    "num_hidden_layers": 1,
    "patch_size": 16,
    "projection_dim": IMAGE_EMBED_DIM,
    "torch_dtype": "float32",
}
FEATURE_EXTRACTOR_CONFIG: dict[str, Any] = {
    "crop_size": {"height": 32, "width": 32},
    "do_center_crop": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_processor_type": "CLIPImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"shortest_edge": 32},
}
TOKENIZER_CONFIG: dict[str, Any] = {
    "add_prefix_space": False,
    "bos_token": "<|startoftext|>",
    "do_lower_case": True,
    "eos_token": "<|endoftext|>",
    "errors": "replace",
    "model_max_length": 77,
    "pad_token": "!",
    "tokenizer_class": "CLIPTokenizer",
    "unk_token": "<|endoftext|>",
}
SPECIAL_TOKENS_MAP: dict[str, Any] = {
    "bos_token": "<|startoftext|>",
    "eos_token": "<|endoftext|>",
    "pad_token": "!",
    "unk_token": "<|endoftext|>",
}
# A few merges so that common words become single tokens; everything else falls back to bytes.
TINY_MERGES = (("t", "h"), ("th", "e</w>"), ("a", "n"), ("an", "d</w>"), ("c", "a"), ("ca", "t</w>"), ("o", "f</w>"))


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins for bytes used by byte-level BPE (printable Latin-1 kept, the rest moved past 255)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols, extra = {}, 0
    for b in range(256):
        if b in keep:
            symbols[b] = chr(b)
        else:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def clip_vocab() -> tuple[dict[str, int], str]:
    """``vocab.json`` content and ``merges.txt`` text of the tiny CLIP tokenizer."""
    pieces = _byte_symbols()
    tokens = pieces + [p + "</w>" for p in pieces] + ["".join(m) for m in TINY_MERGES]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    merges = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in TINY_MERGES)
    return {tok: i for i, tok in enumerate(tokens)}, merges


def _save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, str(path), metadata={"format": "pt"})


def _transformers_fields(config: dict[str, Any]) -> dict[str, Any]:
    skip = ("_name_or_path", "architectures", "model_type", "torch_dtype", "transformers_version")
    return {k: v for k, v in config.items() if k not in skip}


def write_tiny_unclip(root: Path, seed: int) -> Path:
    """Write ``root/stable-diffusion-2-1-unclip/`` and return it. Same seed, same bytes."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModelWithProjection

    out = Path(root) / UNCLIP
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "model_index.json", real.MODEL_INDEX)
    _write_json(out / "scheduler" / "scheduler_config.json", real.SCHEDULER_CONFIG)
    _write_json(out / "image_noising_scheduler" / "scheduler_config.json", real.IMAGE_NOISING_SCHEDULER_CONFIG)

    gen = torch.Generator().manual_seed(seed)
    _write_json(out / "image_normalizer" / "config.json", real.IMAGE_NORMALIZER_CONFIG)
    _save_weights(
        {
            "mean": torch.randn(1, IMAGE_EMBED_DIM, generator=gen) * 0.1,
            "std": 0.5 + torch.rand(1, IMAGE_EMBED_DIM, generator=gen),
        },
        out / "image_normalizer" / "diffusion_pytorch_model.safetensors",
    )

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config(real.model_fields(TINY_UNET_CONFIG))
    _write_json(out / "unet" / "config.json", TINY_UNET_CONFIG)
    _save_weights(unet.state_dict(), out / "unet" / "diffusion_pytorch_model.safetensors")

    torch.manual_seed(seed + 1)
    vae = AutoencoderKL.from_config(real.model_fields(TINY_VAE_CONFIG))
    _write_json(out / "vae" / "config.json", TINY_VAE_CONFIG)
    _save_weights(vae.state_dict(), out / "vae" / "diffusion_pytorch_model.safetensors")

    vocab, merges = clip_vocab()
    text_config = {**TINY_TEXT_ENCODER_CONFIG, "vocab_size": len(vocab)}
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(CLIPTextConfig(**_transformers_fields(text_config)))
    _write_json(out / "text_encoder" / "config.json", text_config)
    _save_weights(
        {real.released_text_encoder_key(k): v for k, v in text_encoder.state_dict().items()},
        out / "text_encoder" / "model.safetensors",
    )
    _write_json(out / "tokenizer" / "vocab.json", vocab)
    (out / "tokenizer" / "merges.txt").write_text(merges, encoding="utf-8")
    _write_json(out / "tokenizer" / "tokenizer_config.json", TOKENIZER_CONFIG)
    _write_json(out / "tokenizer" / "special_tokens_map.json", SPECIAL_TOKENS_MAP)

    torch.manual_seed(seed + 3)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**_transformers_fields(TINY_IMAGE_ENCODER_CONFIG)))
    _write_json(out / "image_encoder" / "config.json", TINY_IMAGE_ENCODER_CONFIG)
    _save_weights(image_encoder.state_dict(), out / "image_encoder" / "model.safetensors")
    _write_json(out / "feature_extractor" / "preprocessor_config.json", FEATURE_EXTRACTOR_CONFIG)
    logger.debug("tiny unCLIP written to %s", out)
    return out
