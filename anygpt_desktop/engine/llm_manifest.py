"""Key names, shapes and dtypes of the released AnyGPT-chat weights, from ``LlamaForCausalLM`` built on ``meta``.

The state-dict names of transformers 5 equal those of 4.34.1 that wrote the release (``model.embed_tokens.weight``,
``model.layers.N.{self_attn,mlp}.*``, ``model.norm.weight``, ``lm_head.weight``); the rotary ``inv_freq`` is a
non-persistent buffer in both, so it is not listed. Files written by transformers < 4.31 may also carry
``model.layers.N.self_attn.rotary_emb.inv_freq``, which the loader ignores.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from anygpt_desktop.protocol.vocab import BOS_ID, EOS_ID

# fnlp/AnyGPT-chat config.json (reference-behaviour §1.1), verbatim.
ANYGPT_CHAT_CONFIG: dict[str, Any] = {
    "_name_or_path": "fnlp/AnyGPT-chat",
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "bos_token_id": BOS_ID,
    "eos_token_id": EOS_ID,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 11008,
    "max_position_embeddings": 2048,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 32,
    "pad_token_id": 0,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
    "transformers_version": "4.34.1",
    "use_cache": True,
    "vocab_size": 53520,
}

_SKIP_FIELDS = ("_name_or_path", "architectures", "model_type", "transformers_version", "torch_dtype")


def llama_config(config: Mapping[str, Any] | None = None) -> Any:
    """A ``LlamaConfig`` from a config.json dict (default: AnyGPT-chat's)."""
    from transformers import LlamaConfig

    fields = {k: v for k, v in (config or ANYGPT_CHAT_CONFIG).items() if k not in _SKIP_FIELDS}
    return LlamaConfig(**fields)


def llama_state_spec(manifest: Mapping[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """``{key: (shape, dtype)}`` of the released file; the manifest's ``config_used`` wins when present."""
    from transformers import LlamaForCausalLM

    config = llama_config(manifest.get("config_used"))
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    return {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()}
