"""Write a full-size AnyGPT-chat folder with random weights in the released on-disk format, shard by shard.

The format is what transformers writes for a sharded pickle checkpoint: ``pytorch_model-0000K-of-0000N.bin`` files
(each a ``torch.save`` of a state-dict slice in ``LlamaForCausalLM`` key order) and ``pytorch_model.bin.index.json``
(``{"metadata": {"total_size": bytes}, "weight_map": {key: file}}``), next to the real config.json and the tokenizer
files. Only one shard is ever held in memory (``shard_bytes``), so writing the 7B model needs about that much RAM.

``python -m anygpt_desktop.bench.fullsize_checkpoint DIR [--layers N] [--dtype float16] [--shard-gb 2]``
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Iterator

import torch

from anygpt_desktop.engine.llm_manifest import ANYGPT_CHAT_CONFIG

logger = logging.getLogger(__name__)

INDEX_NAME = "pytorch_model.bin.index.json"


def llama_tensor_shapes(config: dict[str, Any]) -> Iterator[tuple[str, tuple[int, ...]]]:
    """Every persistent tensor of ``LlamaForCausalLM`` (key, shape), in its state-dict order."""
    hidden, inter, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    kv = hidden // config["num_attention_heads"] * config["num_key_value_heads"]
    yield "model.embed_tokens.weight", (vocab, hidden)
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        yield p + "self_attn.q_proj.weight", (hidden, hidden)
        yield p + "self_attn.k_proj.weight", (kv, hidden)
        yield p + "self_attn.v_proj.weight", (kv, hidden)
        yield p + "self_attn.o_proj.weight", (hidden, hidden)
        yield p + "mlp.gate_proj.weight", (inter, hidden)
        yield p + "mlp.up_proj.weight", (inter, hidden)
        yield p + "mlp.down_proj.weight", (hidden, inter)
        yield p + "input_layernorm.weight", (hidden,)
        yield p + "post_attention_layernorm.weight", (hidden,)
    yield "model.norm.weight", (hidden,)
    yield "lm_head.weight", (vocab, hidden)


def write_random_llm(
    folder: Path | str,
    layers: int = 32,
    dtype: torch.dtype = torch.float16,
    shard_bytes: int = 2 * 1024**3,
    seed: int = 0,
) -> Path:
    """Write ``folder`` (config.json, tokenizer files, sharded ``.bin`` + index) and return it."""
    from anygpt_desktop.tiny_kit import llm as tiny_llm

    folder = Path(folder)
    if folder.name != "AnyGPT-chat":
        raise ValueError("the folder must be named AnyGPT-chat")
    # The tiny kit's writer supplies the tokenizer files; the config and weights are then replaced by full-size ones.
    tiny_llm.write_tiny_llm(folder.parent, seed=seed)
    (folder / "pytorch_model.bin").unlink(missing_ok=True)
    config = {**ANYGPT_CHAT_CONFIG, "num_hidden_layers": layers}
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    specs = list(llama_tensor_shapes(config))
    item = torch.empty((), dtype=dtype).element_size()
    groups: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for key, shape in specs:
        n = item * int(torch.Size(shape).numel())
        if groups[-1] and size + n > shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append((key, shape))
        size += n
    gen = torch.Generator().manual_seed(seed)
    weight_map: dict[str, str] = {}
    total = 0
    for k, group in enumerate(groups, 1):
        name = f"pytorch_model-{k:05d}-of-{len(groups):05d}.bin"
        shard: dict[str, torch.Tensor] = {}
        for key, shape in group:
            if key.endswith("norm.weight"):
                t = torch.ones(shape, dtype=dtype)
            else:
                t = torch.empty(shape, dtype=torch.float32).normal_(0.0, config["initializer_range"], generator=gen)
                t = t.to(dtype)
            shard[key] = t
            weight_map[key] = name
            total += t.numel() * t.element_size()
        torch.save(shard, folder / name)
        logger.info("wrote %s (%d tensors)", name, len(shard))
        del shard
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="models root; AnyGPT-chat/ is written inside it")
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    parser.add_argument("--shard-gb", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = write_random_llm(
        Path(args.dir) / "AnyGPT-chat", args.layers, getattr(torch, args.dtype), int(args.shard_gb * 1024**3), args.seed
    )
    logger.info("written: %s", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
