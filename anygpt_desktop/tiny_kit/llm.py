"""Tiny ``AnyGPT-chat/`` folder: a small random LLaMA with the real vocabulary and tokenizer files.

Layout as released (reference-behaviour §1.1): ``config.json`` (the real config with small widths), ``generation_config.json``,
``pytorch_model.bin`` (a plain ``torch.save`` state dict in the HF key order, loaded by transformers with
``weights_only=True``), ``tokenizer.model`` (LLaMA-2 SentencePiece), ``added_tokens.json``, ``tokenizer_config.json``
(byte-identical to the release) and ``special_tokens_map.json``.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from anygpt_desktop.layout import CHAT_LLM
from anygpt_desktop.engine.llm_manifest import ANYGPT_CHAT_CONFIG
from anygpt_desktop.protocol.vocab import BOS_ID, EOS_ID, UNK_ID
from anygpt_desktop.tiny_kit import added_tokens

logger = logging.getLogger(__name__)

TOKENIZER_MODEL = Path(__file__).resolve().parent / "data" / "llama2_tokenizer.model"

# The released AnyGPT-chat config.json, with the widths shrunk (hidden 64, 2 layers, 4 heads, MLP 128).
TINY_LLM_CONFIG: dict[str, Any] = {
    **ANYGPT_CHAT_CONFIG,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "num_key_value_heads": 4,
}
GENERATION_CONFIG: dict[str, Any] = {"bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": UNK_ID}


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def tiny_state_dict(config: dict[str, Any], seed: int) -> dict[str, torch.Tensor]:
    """Small random weights under the HF Llama key names, in the order ``LlamaForCausalLM`` lists them."""
    gen = torch.Generator().manual_seed(seed)
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    vocab, std = config["vocab_size"], config["initializer_range"]
    kv = hidden // config["num_attention_heads"] * config["num_key_value_heads"]

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * std

    state: dict[str, torch.Tensor] = {"model.embed_tokens.weight": normal(vocab, hidden)}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        state[p + "self_attn.q_proj.weight"] = normal(hidden, hidden)
        state[p + "self_attn.k_proj.weight"] = normal(kv, hidden)
        state[p + "self_attn.v_proj.weight"] = normal(kv, hidden)
        state[p + "self_attn.o_proj.weight"] = normal(hidden, hidden)
        state[p + "mlp.gate_proj.weight"] = normal(inter, hidden)
        state[p + "mlp.up_proj.weight"] = normal(inter, hidden)
        state[p + "mlp.down_proj.weight"] = normal(hidden, inter)
        state[p + "input_layernorm.weight"] = torch.ones(hidden)
        state[p + "post_attention_layernorm.weight"] = torch.ones(hidden)
    state["model.norm.weight"] = torch.ones(hidden)
    state["lm_head.weight"] = normal(vocab, hidden)
    return state


def write_tiny_llm(root: Path, seed: int) -> Path:
    """Write ``root/AnyGPT-chat/`` and return it. Same seed, same bytes."""
    out = Path(root) / CHAT_LLM
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "config.json", TINY_LLM_CONFIG)
    _write_json(out / "generation_config.json", GENERATION_CONFIG)
    torch.save(tiny_state_dict(TINY_LLM_CONFIG, seed), out / "pytorch_model.bin")
    shutil.copyfile(TOKENIZER_MODEL, out / "tokenizer.model")
    for name, text in (
        ("added_tokens.json", added_tokens.added_tokens_json()),
        ("tokenizer_config.json", added_tokens.tokenizer_config_json()),
        ("special_tokens_map.json", added_tokens.special_tokens_map_json()),
    ):
        (out / name).write_bytes(text.encode("utf-8"))
    logger.debug("tiny LLM written to %s", out)
    return out
