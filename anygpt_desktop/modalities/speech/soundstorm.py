"""SoundStorm as AnyGPT vendors it (reference-behaviour §4.2-4.3, §11.4): fills SpeechTokenizer RVQ levels 1..7 from level 0.

Loads ``soundstorm/speechtokenizer_soundstorm_mls.pt`` unchanged: module names mirror the file's keys (the vendored
conv-module split ``conv.net1`` / ``conv.ds_conv`` / ``conv.net2``). Attention uses ``scaled_dot_product_attention``;
the only loops are over levels and MaskGIT iterations, never over frames.

``generate`` reproduces the reference exactly, random draws included: its only draws are the Gumbel uniforms at
acoustic level 0, one ``[B, L*7, 1024]`` float32 tensor per sampling iteration, taken from torch's default CPU
generator in iteration order (also when the model runs on a GPU, so a seed gives the same units on every device).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from anygpt_desktop.modalities.speech.errors import CheckpointError, SpeechInputError
from anygpt_desktop.modalities.speech.speechtokenizer import load_state_dict_strict, read_state_dict

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SoundStormConfig:
    """Hyper-parameters; the released model is the default (``load_soundstorm`` in AnyGPT's voice_clone.py)."""

    dim: int = 1024
    depth: int = 12
    heads: int = 8
    dim_head: int = 128
    ff_mult: int = 4
    conv_expansion: int = 2
    conv_kernel: int = 31
    codebook_size: int = 1024
    num_quantizers: int = 7
    num_semantic_token_ids: int = 1024

    @property
    def mask_id(self) -> int:
        return self.codebook_size

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Tensor], heads: int | None = None) -> "SoundStormConfig":
        """Infer the dimensions from a state dict.

        The file cannot tell heads from head width (only their product); unless ``heads`` is given, a product of
        1024 means the released 8 x 128, anything else the tiny-kit convention of 16-wide heads.
        """
        try:
            num_sem, dim = state["semantic_token_emb.weight"].shape
            nq, _, codebook = state["net.to_logits.2.weight"].shape
            inner = state["net.conformer.layers.0.attn.fn.to_q.weight"].shape[0]
            ff = state["net.conformer.layers.0.ff1.fn.fn.net.0.weight"].shape[0]
            conv_inner, _, kernel = state["net.conformer.layers.0.conv.ds_conv.conv.weight"].shape
        except KeyError as exc:
            raise CheckpointError(f"not a SoundStorm checkpoint (missing {exc.args[0]})") from exc
        depth = len({k.split(".")[3] for k in state if k.startswith("net.conformer.layers.")})
        if heads is None:
            heads = 8 if inner == 1024 else max(1, inner // 16)
        if inner % heads:
            raise CheckpointError(f"SoundStorm attention width {inner} is not divisible by {heads} heads")
        return cls(
            dim=int(dim), depth=depth, heads=heads, dim_head=int(inner) // heads, ff_mult=int(ff) // int(dim),
            conv_expansion=int(conv_inner) // int(dim), conv_kernel=int(kernel), codebook_size=int(codebook),
            num_quantizers=int(nq), num_semantic_token_ids=int(num_sem),
        )


# --------------------------------------------------------------------------------------------------- conformer


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim * mult), nn.SiLU(), nn.Identity(), nn.Linear(dim * mult, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class PreNorm(nn.Module):
    """LayerNorm then ``fn``; keys ``norm.*`` and ``fn.*``."""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: Tensor, **kwargs: object) -> Tensor:
        return self.fn(self.norm(x), **kwargs)


class HalfStep(nn.Module):
    """Macaron half step: ``0.5 * fn(x)`` (key prefix ``fn.``)."""

    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x) * 0.5


def rotate_half(x: Tensor) -> Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Attention(nn.Module):
    """Multi-head self attention with rotary positions on the full head width and a key-padding mask."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        inner = heads * dim_head
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def forward(self, x: Tensor, mask: Tensor | None, rotary: Tensor) -> Tensor:
        b, n, _ = x.shape
        q = self.to_q(x)
        k, v = self.to_kv(x).chunk(2, dim=-1)
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        cos, sin = rotary.cos(), rotary.sin()
        q = (q.float() * cos + rotate_half(q.float()) * sin).to(v.dtype)
        k = (k.float() * cos + rotate_half(k.float()) * sin).to(v.dtype)
        attn_mask = None if mask is None else mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class ChanLayerNorm(nn.Module):
    """Channel LayerNorm over dim 1 of ``[B, C, N]``, no bias, biased variance, eps 1e-6 (fp32) / 1e-4."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(1, dim, 1))

    def forward(self, x: Tensor) -> Tensor:
        eps = 1e-6 if x.dtype == torch.float32 else 1e-4
        var = torch.var(x, dim=1, unbiased=False, keepdim=True)
        mean = torch.mean(x, dim=1, keepdim=True)
        return (x - mean) * var.clamp(min=eps).rsqrt() * self.gamma


class DepthwiseConv(nn.Module):
    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.pad = (kernel // 2, kernel // 2 - (kernel + 1) % 2)
        self.conv = nn.Conv1d(channels, channels, kernel, groups=channels)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        if mask is not None:
            x = x.masked_fill(~mask[:, None, :], 0.0)
        out = self.conv(F.pad(x, self.pad))
        if mask is not None:
            out = out.masked_fill(~mask[:, None, :], 0.0)
        return out


class _Transpose(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(1, 2)


class _GLU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        out, gate = x.chunk(2, dim=1)
        return out * gate.sigmoid()


class ConvModule(nn.Module):
    """LN -> 1x1 conv -> GLU (``net1``) -> depthwise conv (``ds_conv``) -> Swish -> ChanLN -> 1x1 conv (``net2``)."""

    def __init__(self, dim: int, expansion: int, kernel: int) -> None:
        super().__init__()
        inner = dim * expansion
        self.net1 = nn.Sequential(nn.LayerNorm(dim), _Transpose(), nn.Conv1d(dim, inner * 2, 1), _GLU())
        self.ds_conv = DepthwiseConv(inner, kernel)
        self.net2 = nn.Sequential(nn.SiLU(), ChanLayerNorm(inner), nn.Conv1d(inner, dim, 1), _Transpose())

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        return self.net2(self.ds_conv(self.net1(x), mask))


class ConformerBlock(nn.Module):
    def __init__(self, cfg: SoundStormConfig) -> None:
        super().__init__()
        self.ff1 = HalfStep(PreNorm(cfg.dim, FeedForward(cfg.dim, cfg.ff_mult)))
        self.attn = PreNorm(cfg.dim, Attention(cfg.dim, cfg.heads, cfg.dim_head))
        self.conv = ConvModule(cfg.dim, cfg.conv_expansion, cfg.conv_kernel)
        self.ff2 = HalfStep(PreNorm(cfg.dim, FeedForward(cfg.dim, cfg.ff_mult)))
        self.post_norm = nn.LayerNorm(cfg.dim)

    def forward(self, x: Tensor, mask: Tensor | None, rotary: Tensor) -> Tensor:
        x = self.ff1(x) + x
        x = self.attn(x, mask=mask, rotary=rotary) + x
        x = self.conv(x, mask) + x
        x = self.ff2(x) + x
        return self.post_norm(x)


class Conformer(nn.Module):
    def __init__(self, cfg: SoundStormConfig) -> None:
        super().__init__()
        self.dim_head = cfg.dim_head
        self.layers = nn.ModuleList([ConformerBlock(cfg) for _ in range(cfg.depth)])

    def rotary(self, n: int, device: torch.device) -> Tensor:
        """Rotary angles ``[n, dim_head]`` (theta 10000, ``cat(freqs, freqs)``), always float32."""
        inv_freq = 1.0 / (10000 ** (torch.arange(0, self.dim_head, 2, device=device).float() / self.dim_head))
        freqs = torch.outer(torch.arange(n, device=device).float(), inv_freq)
        return torch.cat((freqs, freqs), dim=-1)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        rotary = self.rotary(x.shape[1], x.device)
        for block in self.layers:
            x = block(x, mask, rotary)
        return x


class ConformerWrapper(nn.Module):
    """Token embedding summed over levels + conditioning -> conformer -> per-level logits ``[B, L*Q, codebook]``."""

    def __init__(self, cfg: SoundStormConfig) -> None:
        super().__init__()
        self.cfg = cfg
        q = cfg.num_quantizers
        self.code_embeds = nn.Embedding((cfg.codebook_size + 1) * q, cfg.dim)
        self.register_buffer("quantizer_offsets", torch.arange(q) * (cfg.codebook_size + 1), persistent=False)
        self.conformer = Conformer(cfg)
        self.heads = nn.Sequential(nn.Linear(cfg.dim, cfg.dim * q))
        self.to_logits = nn.Sequential(nn.LayerNorm(cfg.dim), nn.Identity(), _LevelLinear(q, cfg.dim, cfg.codebook_size))

    def forward(self, ids: Tensor, mask: Tensor | None, cond: Tensor) -> Tensor:
        """``ids[B, L*Q]`` frame-major (mask id = codebook_size), ``cond[B, L, D]`` -> logits ``[B, L*Q, codebook]``."""
        b, nq = ids.shape
        q = self.cfg.num_quantizers
        x = self.code_embeds(ids.view(b, nq // q, q) + self.quantizer_offsets).sum(dim=2)
        x = self.conformer(x + cond, mask)
        h = self.heads(x).view(b, nq // q, q, self.cfg.dim)
        return self.to_logits(h).reshape(b, nq, -1)


class _LevelLinear(nn.Module):
    """Per-level projection (the reference's EinMix): ``weight[Q, D, V]``, ``bias[1, 1, Q, V]``."""

    def __init__(self, q: int, dim: int, vocab: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(q, dim, vocab))
        self.bias = nn.Parameter(torch.zeros(1, 1, q, vocab))

    def forward(self, h: Tensor) -> Tensor:
        return torch.einsum("bnqd,qdv->bnqv", h, self.weight) + self.bias


# --------------------------------------------------------------------------------------------------- generation


def cosine_mask_counts(steps: int, length: Tensor) -> Tensor:
    """``floor(cos(linspace(0, 1, steps+1) * pi/2) * L)`` in float32 as the reference computes it: ``[steps+1, B]``."""
    probs = torch.cos(torch.linspace(0.0, 1.0, steps + 1) * math.pi / 2)
    return (probs[:, None] * length[None, :].float()).long()


def keep_top_k(logits: Tensor, keep_fraction: float) -> Tensor:
    """Keep the ``ceil((1 - keep_fraction) * V)`` largest logits per position, the rest ``-inf`` (reference ``top_k``)."""
    k = math.ceil((1 - keep_fraction) * logits.shape[-1])
    values, index = logits.topk(k, dim=-1)
    return torch.full_like(logits, float("-inf")).scatter_(-1, index, values)


def gumbel_argmax(logits: Tensor, temperature: float) -> Tensor:
    """``argmax(logits / max(T, 1e-10) + Gumbel)``; the uniforms come from the default CPU generator (float32)."""
    u = torch.zeros(logits.shape, dtype=torch.float32).uniform_(0, 1).to(logits.device)
    noise = -torch.log(-torch.log(u + 1e-10) + 1e-10)
    return (logits.float() / max(temperature, 1e-10) + noise).argmax(dim=-1)


class SoundStorm(nn.Module):
    """The SoundStorm wrapper: ``semantic_token_emb`` + ``net`` (a :class:`ConformerWrapper`)."""

    def __init__(self, cfg: SoundStormConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = ConformerWrapper(cfg)
        self.semantic_token_emb = nn.Embedding(cfg.num_semantic_token_ids, cfg.dim)

    @property
    def device(self) -> torch.device:
        return self.semantic_token_emb.weight.device

    def logits(self, ids: Tensor, cond_ids: Tensor, mask: Tensor | None = None) -> Tensor:
        """One network pass: ``ids[B, L*7]``, semantic ``cond_ids[B, L]`` -> float32 logits ``[B, L*7, 1024]``."""
        cond = self.semantic_token_emb(cond_ids.to(self.device).long())
        if mask is not None and bool(mask.all()):
            mask = None
        return self.net(ids.to(self.device).long(), mask, cond).float()

    @torch.inference_mode()
    def generate(
        self,
        semantic: Tensor,
        prompt: Tensor | None = None,
        steps: int = 8,
        num_full_sampling_levels: int = 1,
        topk_pres: float = 0.7,
        greedy: bool = True,
    ) -> Tensor:
        """Acoustic levels for ``semantic[B, N]`` (units 0..1023), optionally continuing ``prompt[B, Tp, 8]``.

        Returns int64 ``[B, N, 8]``: column 0 the semantic units, 1..7 the generated levels. AnyGPT calls it with
        ``steps=3``. Bit-compatible with the reference, quirks included (reference-behaviour §4.3, §11.4).
        """
        semantic = self._check_semantic(semantic)
        b, n = semantic.shape
        q_levels, mask_id, dev = self.cfg.num_quantizers, self.cfg.mask_id, self.device
        masked = torch.full((b, n, q_levels), mask_id, dtype=torch.long, device=dev)
        todo = torch.ones((b, n, q_levels), dtype=torch.bool, device=dev)
        cond_ids = semantic
        if prompt is not None:
            prompt = self._check_prompt(prompt, b)
            cond_ids = torch.cat([prompt[:, :, 0], semantic], dim=1)
            masked = torch.cat([prompt[:, :, 1:], masked], dim=1)
            todo = torch.cat([torch.zeros_like(prompt[:, :, 1:], dtype=torch.bool), todo], dim=1)
        length = cond_ids.shape[1]
        prompt_mask = todo.clone()
        cond = self.semantic_token_emb(cond_ids)
        schedule = cosine_mask_counts(steps, torch.full((b,), length))
        no_mask = torch.zeros((1, b), dtype=torch.long)
        for q in range(q_levels):
            counts = schedule if q < num_full_sampling_levels else no_mask
            for i, count in enumerate(counts):
                logits = self.net(masked.view(b, -1), None, cond).float()
                done = bool((count == 0).all())
                if greedy and (q >= num_full_sampling_levels or done):
                    sampled = logits.argmax(dim=-1)
                else:
                    logits = keep_top_k(logits, topk_pres)
                    sampled = gumbel_argmax(logits, i / steps)
                sampled3 = sampled.view(b, length, q_levels)
                if q >= num_full_sampling_levels:
                    masked[:, :, q:] = sampled3[:, :, q:]
                    todo[:, :, q] = False
                    continue
                masked = torch.where(todo, sampled3, masked)
                if done:
                    continue
                scores = 1 - logits.softmax(dim=-1).gather(2, sampled[..., None])[..., 0]
                rank = scores.argsort(dim=-1, descending=True).argsort(dim=-1)
                todo = (rank < count.to(dev)[:, None]).view(b, length, q_levels)
                todo[:, :, q + 1 :] = True
                todo &= prompt_mask
                masked = masked.masked_fill(todo, mask_id)
        return torch.cat([semantic[..., None], masked[:, -n:]], dim=-1).long()

    def _check_semantic(self, semantic: Tensor) -> Tensor:
        if not isinstance(semantic, Tensor):
            semantic = torch.as_tensor(semantic)
        if semantic.ndim == 1:
            semantic = semantic[None]
        if semantic.ndim != 2 or semantic.shape[1] == 0:
            raise SpeechInputError(f"speech units must be a non-empty [batch, frames] sequence, got {list(semantic.shape)}")
        if semantic.is_floating_point() and not torch.equal(semantic, semantic.round()):
            raise SpeechInputError("speech units must be whole numbers")
        semantic = semantic.long()
        if int(semantic.min()) < 0 or int(semantic.max()) >= self.cfg.num_semantic_token_ids:
            raise SpeechInputError(f"speech units must be in 0..{self.cfg.num_semantic_token_ids - 1}")
        return semantic.to(self.device)

    def _check_prompt(self, prompt: Tensor, batch: int) -> Tensor:
        q = self.cfg.num_quantizers + 1
        if prompt.ndim != 3 or prompt.shape[2] != q or prompt.shape[0] not in (1, batch):
            raise SpeechInputError(f"voice prompt codes must be shaped [batch, frames, {q}], got {list(prompt.shape)}")
        if int(prompt.min()) < 0 or int(prompt.max()) >= self.cfg.codebook_size:
            raise SpeechInputError(f"voice prompt codes must be in 0..{self.cfg.codebook_size - 1}")
        return prompt.long().to(self.device).expand(batch, -1, -1)


# --------------------------------------------------------------------------------------------------- loading


def load_soundstorm(
    path: Path | str,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    heads: int | None = None,
) -> SoundStorm:
    """Load a SoundStorm state dict strictly (dimensions inferred from it; see ``SoundStormConfig.from_state_dict``)."""
    state = read_state_dict(path, "SoundStorm checkpoint")
    cfg = SoundStormConfig.from_state_dict(state, heads=heads)
    with torch.device("meta"):
        model = SoundStorm(cfg)
    model = model.to_empty(device="cpu")
    model.net.quantizer_offsets = torch.arange(cfg.num_quantizers) * (cfg.codebook_size + 1)
    load_state_dict_strict(model, state, f"SoundStorm checkpoint {path}")
    model.eval().requires_grad_(False)
    model.to(device=device, dtype=dtype)
    logger.info("SoundStorm loaded from %s (dim %d, depth %d, %d heads)", path, cfg.dim, cfg.depth, cfg.heads)
    return model
