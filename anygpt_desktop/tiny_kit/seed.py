"""Tiny SEED files in the released layout: ``seed-tokenizer-2/seed_quantizer.pt`` and ``eva_vit_g/eva_vit_g.pth``.

Widths and depths are shrunk; the token space is real (224x224 input, 32 queries, 8192x32 codebook, 1024-d
``image_embeds``). Every size is recoverable from the tensors, as with the released files. The codebook is drawn
around the actual encoder outputs so that different images give different ids.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from anygpt_desktop.layout import EVA_VIT_G, SEED_QUANTIZER
from anygpt_desktop.modalities.image.seed_model import EvaConfig, EvaViT, SeedConfig, SeedQuantizer

logger = logging.getLogger(__name__)

TINY_EVA = EvaConfig(width=64, depth=2, heads=4, mlp_hidden=279, patch=14, image_size=224)
TINY_SEED = SeedConfig(vision_width=64, hidden=96, layers=2, intermediate=192, decoder_mlp=384)
# Text-branch tensors the released file carries beyond what the model uses (the loader lists and ignores them).
# name in the file -> the used tensor whose shape it shares.
_EXTRA_TEXT_FFN = {
    "intermediate.dense.weight": "intermediate_query.dense.weight",
    "intermediate.dense.bias": "intermediate_query.dense.bias",
    "output.dense.weight": "output_query.dense.weight",
    "output.dense.bias": "output_query.dense.bias",
}


def _perturb(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Non-trivial LayerNorms and small random embeddings (fresh modules have ones/zeros)."""
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm):
            for param in (module.weight, module.bias):
                param.data.add_(torch.randn(param.shape, generator=gen) * 0.1)
    for name, param in model.named_parameters():
        if name.split(".")[-1] in ("query_tokens", "pos_embed", "pos_embed_image", "cls_token", "q_bias", "v_bias"):
            param.data.copy_(torch.randn(param.shape, generator=gen) * 0.02)


def _init_linear(model: torch.nn.Module, gen: torch.Generator) -> None:
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
            fan_in = module.weight[0].numel()
            module.weight.data.copy_(torch.randn(module.weight.shape, generator=gen) / fan_in**0.5)
            if module.bias is not None:
                module.bias.data.copy_(torch.randn(module.bias.shape, generator=gen) * 0.02)


@torch.no_grad()
def build_tiny_seed(seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The two state dicts (quantizer with extras, EVA ViT), deterministic for ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    eva, quantizer = EvaViT(TINY_EVA), SeedQuantizer(TINY_SEED)
    for model in (eva, quantizer):
        _init_linear(model, gen)
        _perturb(model, gen)
    # Codebook ~ N(mean, std) of the pre-VQ outputs on noise images, so ids spread over the codebook.
    noise = torch.rand((4, 3, 224, 224), generator=gen) * 4 - 2
    task = quantizer.encode_task(quantizer.query_features(quantizer.vision_norm(eva(noise)))).reshape(-1, 32)
    mean, std = task.mean(0), task.std(0).clamp_min(1e-3)
    quantizer.quantize.embedding.weight.copy_(mean + std * torch.randn((8192, 32), generator=gen))

    q_state = dict(quantizer.state_dict())
    for i in range(TINY_SEED.layers):
        prefix = f"Qformer.bert.encoder.layer.{i}."
        for extra, like in _EXTRA_TEXT_FFN.items():
            q_state[prefix + extra] = torch.randn(q_state[prefix + like].shape, generator=gen) * 0.02
    eva_state = {k: v.clone() for k, v in eva.state_dict().items()}
    return q_state, eva_state


def write_tiny_seed(root: Path, seed: int) -> None:
    """Write both files under the models ``root``."""
    q_state, eva_state = build_tiny_seed(seed)
    for rel, state in ((SEED_QUANTIZER, q_state), (EVA_VIT_G, eva_state)):
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        logger.debug("wrote %s (%d tensors)", path, len(state))
