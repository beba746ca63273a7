"""SEED tokenizer v2 networks (reference-behaviour §5.1): EVA ViT-g/14, the causal Q-Former with its VQ codebook, the de-tokeniser.

Module and parameter names follow the released checkpoints so that ``seed_quantizer.pt`` and ``eva_vit_g.pth`` load
unchanged. Sizes come from dataclass configs; ``eva_config_from_state`` and ``seed_config_from_state`` read them back
from a state dict, because the released files carry no config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

NUM_QUERIES = 32
CODEBOOK_SIZE = 8192
CODEBOOK_DIM = 32
IMAGE_EMBED_DIM = 1024


@dataclass(frozen=True)
class EvaConfig:
    """EVA ViT sizes; the defaults are the released ViT-g/14 (reference-behaviour §5.1)."""

    width: int = 1408
    depth: int = 39
    heads: int = 16
    mlp_hidden: int = 6144
    patch: int = 14
    image_size: int = 224
    ln_eps: float = 1e-6

    @property
    def grid(self) -> int:
        return self.image_size // self.patch


@dataclass(frozen=True)
class SeedConfig:
    """Q-Former, codebook and de-tokeniser sizes; the defaults are the released ``seed_quantizer.pt``."""

    vision_width: int = 1408
    hidden: int = 768
    layers: int = 12
    heads: int = 12
    intermediate: int = 3072
    cross_attention_freq: int = 2
    num_queries: int = NUM_QUERIES
    max_positions: int = 512
    qformer_ln_eps: float = 1e-12
    codebook_size: int = CODEBOOK_SIZE
    codebook_dim: int = CODEBOOK_DIM
    decoder_depth: int = 4
    decoder_heads: int = 12
    decoder_mlp: int = 3072
    down_dims: tuple[int, int, int] = (256, 128, 32)
    image_embed_dim: int = IMAGE_EMBED_DIM


def eva_heads_for_width(width: int) -> int:
    """Head count of an EVA ViT of this width: head dim 88 as released (1408 -> 16), else head dim 16 (tiny kits)."""
    if width % 88 == 0:
        return width // 88
    if width % 16 == 0:
        return width // 16
    raise ValueError(f"cannot infer the EVA head count for width {width}")


def _count(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    regex = re.compile(pattern)
    found = {int(m.group(1)) for k in state if (m := regex.match(k))}
    return max(found) + 1 if found else 0


def eva_config_from_state(state: Mapping[str, torch.Tensor]) -> EvaConfig:
    """Read the EVA ViT sizes from an ``eva_vit_g.pth`` state dict (keys without prefix)."""
    width = state["cls_token"].shape[-1]
    patch = state["patch_embed.proj.weight"].shape[-1]
    grid = int(round((state["pos_embed"].shape[1] - 1) ** 0.5))
    return EvaConfig(
        width=width,
        depth=_count(state, r"blocks\.(\d+)\.norm1\.weight$"),
        heads=eva_heads_for_width(width),
        mlp_hidden=state["blocks.0.mlp.fc1.weight"].shape[0],
        patch=patch,
        image_size=grid * patch,
    )


def seed_config_from_state(state: Mapping[str, torch.Tensor]) -> SeedConfig:
    """Read the Q-Former/codebook/de-tokeniser sizes from a ``seed_quantizer.pt`` state dict.

    Head counts are not stored; they are fixed by the reference (BERT-base's 12 and the decoder's hard-coded 12),
    so tiny kits keep 12 heads as well.
    """
    prefix = "Qformer.bert.encoder.layer."
    layers = _count(state, r"Qformer\.bert\.encoder\.layer\.(\d+)\.attention\.self\.query\.weight$")
    cross = sorted(
        int(m.group(1))
        for k in state
        if (m := re.match(r"Qformer\.bert\.encoder\.layer\.(\d+)\.crossattention\.self\.query\.weight$", k))
    )
    freq = cross[1] - cross[0] if len(cross) > 1 else max(layers, 1)
    if not cross or cross != list(range(0, layers, freq)):
        raise ValueError(f"unexpected cross-attention layers {cross} in a {layers}-layer Q-Former")
    hidden = state["query_tokens"].shape[-1]
    if hidden % 12:
        raise ValueError(f"Q-Former width {hidden} is not divisible by its 12 attention heads")
    return SeedConfig(
        vision_width=state["ln_vision.weight"].shape[0],
        hidden=hidden,
        layers=layers,
        intermediate=state[prefix + "0.intermediate_query.dense.weight"].shape[0],
        cross_attention_freq=freq,
        num_queries=state["query_tokens"].shape[1],
        max_positions=state["Qformer.bert.embeddings.position_ids"].shape[-1],
        codebook_size=state["quantize.embedding.weight"].shape[0],
        codebook_dim=state["quantize.embedding.weight"].shape[1],
        decoder_depth=_count(state, r"blocks_image\.(\d+)\.norm1\.weight$"),
        decoder_mlp=state["blocks_image.0.mlp.fc1.weight"].shape[0],
        down_dims=tuple(state[f"image_down.{i}.weight"].shape[0] for i in (0, 2, 4)),  # type: ignore[arg-type]
        image_embed_dim=state["distill_image_proj.weight"].shape[0],
    )


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[B, N, H*D] -> [B, H, N, D]."""
    b, n, _ = x.shape
    return x.view(b, n, heads, -1).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """[B, H, N, D] -> [B, N, H*D]."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


# ---------------------------------------------------------------------------------------------------------------- EVA


class EvaAttention(nn.Module):
    """Self-attention with a bias-free qkv projection plus separate q/v biases (the k bias is zero)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, width * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(width))
        self.v_bias = nn.Parameter(torch.zeros(width))
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))
        q, k, v = F.linear(x, self.qkv.weight, bias).chunk(3, dim=-1)
        out = F.scaled_dot_product_attention(_heads(q, self.heads), _heads(k, self.heads), _heads(v, self.heads))
        return self.proj(_merge(out))


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class EvaBlock(nn.Module):
    def __init__(self, cfg: EvaConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.width, eps=cfg.ln_eps)
        self.attn = EvaAttention(cfg.width, cfg.heads)
        self.norm2 = nn.LayerNorm(cfg.width, eps=cfg.ln_eps)
        self.mlp = Mlp(cfg.width, cfg.mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, cfg: EvaConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch, stride=cfg.patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class EvaViT(nn.Module):
    """EVA ViT: patch embedding, CLS token, absolute positions, pre-LN blocks, no final norm (all tokens out)."""

    def __init__(self, cfg: EvaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.grid * cfg.grid + 1, cfg.width))
        self.patch_embed = PatchEmbed(cfg)
        self.blocks = nn.ModuleList(EvaBlock(cfg) for _ in range(cfg.depth))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        size = self.cfg.image_size
        if pixels.shape[-2:] != (size, size):
            raise ValueError(f"EVA ViT expects {size}x{size} pixels, got {tuple(pixels.shape[-2:])}")
        x = self.patch_embed(pixels)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return x


# ------------------------------------------------------------------------------------------------------------ Q-Former


class BertSelfAttention(nn.Module):
    """Attention projections named as in BERT; ``kv_width`` differs from the hidden size for cross-attention."""

    def __init__(self, hidden: int, kv_width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(kv_width, hidden)
        self.value = nn.Linear(kv_width, hidden)

    def forward(self, x: torch.Tensor, context: torch.Tensor, causal: bool) -> torch.Tensor:
        q, k, v = (_heads(t, self.heads) for t in (self.query(x), self.key(context), self.value(context)))
        return _merge(F.scaled_dot_product_attention(q, k, v, is_causal=causal))


class BertAddNorm(nn.Module):
    """``dense`` then residual add and post-LayerNorm (BERT's ``*Output`` modules)."""

    def __init__(self, inner: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(inner, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, hidden: int, kv_width: int, heads: int, eps: float) -> None:
        super().__init__()
        self.self = BertSelfAttention(hidden, kv_width, heads)
        self.output = BertAddNorm(hidden, hidden, eps)

    def forward(self, x: torch.Tensor, context: torch.Tensor, causal: bool = False) -> torch.Tensor:
        return self.output(self.self(x, context, causal), x)


class BertIntermediate(nn.Module):
    def __init__(self, hidden: int, inner: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class QFormerLayer(nn.Module):
    """Causal self-attention over the queries, cross-attention to the image on some layers, the query FFN."""

    def __init__(self, cfg: SeedConfig, cross: bool) -> None:
        super().__init__()
        eps = cfg.qformer_ln_eps
        self.attention = BertAttention(cfg.hidden, cfg.hidden, cfg.heads, eps)
        self.crossattention = BertAttention(cfg.hidden, cfg.vision_width, cfg.heads, eps) if cross else None
        self.intermediate_query = BertIntermediate(cfg.hidden, cfg.intermediate)
        self.output_query = BertAddNorm(cfg.intermediate, cfg.hidden, eps)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, x, causal=True)
        if self.crossattention is not None:
            x = self.crossattention(x, image)
        return self.output_query(self.intermediate_query(x), x)


class BertEmbeddings(nn.Module):
    """Only the LayerNorm is used for query tokens; ``position_ids`` is kept because the released file holds it."""

    def __init__(self, cfg: SeedConfig) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(cfg.hidden, eps=cfg.qformer_ln_eps)
        self.register_buffer("position_ids", torch.arange(cfg.max_positions).expand((1, -1)), persistent=True)


class BertEncoder(nn.Module):
    def __init__(self, cfg: SeedConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(
            QFormerLayer(cfg, cross=i % cfg.cross_attention_freq == 0) for i in range(cfg.layers)
        )


class QFormerBert(nn.Module):
    def __init__(self, cfg: SeedConfig) -> None:
        super().__init__()
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)

    def forward(self, queries: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        x = self.embeddings.LayerNorm(queries)
        for layer in self.encoder.layer:
            x = layer(x, image)
        return x


class QFormer(nn.Module):
    def __init__(self, cfg: SeedConfig) -> None:
        super().__init__()
        self.bert = QFormerBert(cfg)


# -------------------------------------------------------------------------------------------------------- de-tokeniser


class VitAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, width * 3)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_heads(t, self.heads) for t in self.qkv(x).chunk(3, dim=-1))
        return self.proj(_merge(F.scaled_dot_product_attention(q, k, v)))


class VitBlock(nn.Module):
    """Pre-LN transformer block (LN eps 1e-6, qkv bias, GELU MLP) used by the de-tokeniser."""

    def __init__(self, width: int, heads: int, mlp_hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = VitAttention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = Mlp(width, mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Codebook(nn.Module):
    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(size, dim)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Index of the closest code (squared L2, expanded as |z|^2 + |e|^2 - 2 z.e) for each vector of ``z``.

        Distances are computed in fp32 even for an fp16 model, so near-ties resolve as in the fp32 reference.
        """
        flat = z.reshape(-1, z.shape[-1]).float()
        codes = self.embedding.weight.float()
        dist = flat.pow(2).sum(1, keepdim=True) + codes.pow(2).sum(1) - 2 * flat @ codes.t()
        return dist.argmin(dim=1).view(z.shape[:-1])


class SeedQuantizer(nn.Module):
    """Everything in ``seed_quantizer.pt``: ln_vision, Q-Former, codebook, task layers and the image de-tokeniser.

    ``blocks``/``pos_embed`` (the reference's text-reconstruction branch) are defined so the file loads, but unused.
    """

    def __init__(self, cfg: SeedConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.query_tokens = nn.Parameter(torch.zeros(1, cfg.num_queries, h))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_queries, h))
        self.pos_embed_image = nn.Parameter(torch.zeros(1, cfg.num_queries, h))
        self.ln_vision = nn.LayerNorm(cfg.vision_width)  # eps 1e-5, computed in fp32
        self.Qformer = QFormer(cfg)
        self.quantize = Codebook(cfg.codebook_size, cfg.codebook_dim)
        self.encode_task_layer = nn.Sequential(nn.Linear(h, h), nn.Tanh(), nn.Linear(h, cfg.codebook_dim))
        self.decode_task_layer = nn.Sequential(
            nn.Linear(cfg.codebook_dim, cfg.codebook_dim), nn.Tanh(), nn.Linear(cfg.codebook_dim, h)
        )
        self.blocks = nn.ModuleList(VitBlock(h, cfg.decoder_heads, cfg.decoder_mlp) for _ in range(cfg.decoder_depth))
        self.blocks_image = nn.ModuleList(
            VitBlock(h, cfg.decoder_heads, cfg.decoder_mlp) for _ in range(cfg.decoder_depth)
        )
        d1, d2, d3 = cfg.down_dims
        self.image_down = nn.Sequential(
            nn.Linear(h, d1, bias=False),
            nn.ReLU(),
            nn.Linear(d1, d2, bias=False),
            nn.ReLU(),
            nn.Linear(d2, d3, bias=False),
        )
        self.distill_image_proj = nn.Linear(cfg.num_queries * d3, cfg.image_embed_dim)

    def vision_norm(self, vit_out: torch.Tensor) -> torch.Tensor:
        """``ln_vision`` in fp32, cast back to the input dtype."""
        w, b = self.ln_vision.weight.float(), self.ln_vision.bias.float()
        out = F.layer_norm(vit_out.float(), w.shape, w, b, self.ln_vision.eps)
        return out.to(vit_out.dtype)

    def query_features(self, image_features: torch.Tensor) -> torch.Tensor:
        """Q-Former ``last_hidden_state`` [B, 32, H] for ``ln_vision`` output [B, N, D_vit]."""
        image_features = image_features.to(self.query_tokens.dtype)
        queries = self.query_tokens.expand(image_features.shape[0], -1, -1)
        return self.Qformer.bert(queries, image_features)

    def encode_task(self, query_out: torch.Tensor) -> torch.Tensor:
        return self.encode_task_layer(query_out)

    def codes(self, task_out: torch.Tensor) -> torch.Tensor:
        return self.quantize.nearest(task_out)

    def image_embeds(self, ids: torch.Tensor) -> torch.Tensor:
        """De-tokenise ``ids`` [B, 32] into unCLIP ``image_embeds`` [B, 1024]."""
        x = self.decode_task_layer(self.quantize.embedding(ids)) + self.pos_embed_image
        for block in self.blocks_image:
            x = block(x)
        return self.distill_image_proj(self.image_down(x).flatten(1))
