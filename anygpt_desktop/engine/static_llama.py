"""A LLaMA forward pass over a preallocated KV cache, built on the weight modules of a loaded HF ``LlamaForCausalLM``.

The design follows gpt-fast: the cache holds ``context`` positions from the start, a token at position ``p`` writes its
keys and values at ``p`` and attends to every cached position ``<= p`` (later positions, stale from an earlier turn,
are masked out), so a one-token step always has the same shapes and can be compiled once (CUDA graphs on a GPU).

Nothing is copied: the embedding, the projections, the norms, the MLPs and the head are the HF model's own modules,
called by reference, so weight-only quantised ``Linear`` replacements work unchanged. Rotary tables are computed once
by the HF model's own rotary module, so ``rope_theta`` and the config's RoPE scaling are exactly the HF values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# RoPE variants whose frequencies depend on the current sequence length cannot use one precomputed table.
_LENGTH_DEPENDENT_ROPE = ("dynamic", "longrope")


def kv_cache_bytes(config: object, context: int, dtype: torch.dtype) -> int:
    """Bytes of a static KV cache for ``config`` (an HF ``LlamaConfig``) holding ``context`` positions."""
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    itemsize = torch.empty((), dtype=dtype).element_size()
    return 2 * config.num_hidden_layers * kv_heads * head_dim * context * itemsize


def _rope_type(config: object) -> str:
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    return str(params.get("rope_type", params.get("type", "default")))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class StaticLlama(nn.Module):
    """``forward(ids [1, L], positions [L]) -> logits [V]`` of the last position, writing the KV cache at ``positions``.

    The cache buffers are allocated once (``context`` positions, the model's dtype and device). Callers own the
    bookkeeping of which positions are valid: position ``p`` only ever attends to positions ``0..p``.
    """

    def __init__(self, hf_model: nn.Module, context: int) -> None:
        super().__init__()
        config = hf_model.config
        rope = _rope_type(config)
        if any(kind in rope for kind in _LENGTH_DEPENDENT_ROPE):
            raise ValueError(f"the static cache does not support length-dependent RoPE ({rope!r})")
        inner = hf_model.model
        self.embed_tokens = inner.embed_tokens
        self.layers = inner.layers
        self.norm = inner.norm
        self.lm_head = hf_model.lm_head
        self.context = int(context)
        self.n_heads = config.num_attention_heads
        self.n_kv_heads = getattr(config, "num_key_value_heads", None) or self.n_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.n_heads
        self.scaling = self.head_dim**-0.5

        weight = self.embed_tokens.weight
        device, dtype = weight.device, weight.dtype
        with torch.no_grad():
            positions = torch.arange(self.context, device=device)[None]
            probe = torch.empty(1, 1, 1, device=device, dtype=dtype)
            cos, sin = inner.rotary_emb(probe, position_ids=positions)  # the HF model's own values, in its dtype
        self.register_buffer("rope_cos", cos[0].contiguous(), persistent=False)  # [context, head_dim]
        self.register_buffer("rope_sin", sin[0].contiguous(), persistent=False)
        shape = (len(self.layers), 1, self.n_kv_heads, self.context, self.head_dim)
        self.register_buffer("k_cache", torch.zeros(shape, device=device, dtype=dtype), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape, device=device, dtype=dtype), persistent=False)
        self.register_buffer("cache_positions", torch.arange(self.context, device=device), persistent=False)

    @property
    def cache_bytes(self) -> int:
        return self.k_cache.numel() * self.k_cache.element_size() * 2

    def forward(self, ids: torch.Tensor, positions: torch.Tensor, kv_len: int | None = None) -> torch.Tensor:
        """Logits ``[V]`` after ``ids`` placed at ``positions``; attention reads cache positions ``< kv_len``
        (default: the whole cache, the fixed shape of a compiled step; masked by position either way)."""
        kv_len = self.context if kv_len is None else kv_len
        seq = ids.shape[1]
        x = self.embed_tokens(ids)  # [1, L, H]
        cos = self.rope_cos[positions][None, None]  # [1, 1, L, D]
        sin = self.rope_sin[positions][None, None]
        mask = self.cache_positions[None, :kv_len] <= positions[:, None]  # [L, kv_len], True = may attend
        groups = self.n_heads // self.n_kv_heads
        for i, layer in enumerate(self.layers):
            attn = layer.self_attn
            h = layer.input_layernorm(x)
            q = attn.q_proj(h).view(1, seq, self.n_heads, self.head_dim).transpose(1, 2)
            k = attn.k_proj(h).view(1, seq, self.n_kv_heads, self.head_dim).transpose(1, 2)
            v = attn.v_proj(h).view(1, seq, self.n_kv_heads, self.head_dim).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            k_all = self.k_cache[i]
            v_all = self.v_cache[i]
            k_all.index_copy_(2, positions, k)
            v_all.index_copy_(2, positions, v)
            keys, values = k_all[:, :, :kv_len], v_all[:, :, :kv_len]
            if groups > 1:
                keys = keys.repeat_interleave(groups, dim=1)
                values = values.repeat_interleave(groups, dim=1)
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=self.scaling)
            x = x + attn.o_proj(out.transpose(1, 2).reshape(1, seq, self.n_heads * self.head_dim))
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return self.lm_head(self.norm(x[:, -1]))[0]
