"""``anygpt-desktop bench quant [--llm-layers N]``: int8/int4 error against bf16 on the full-width LLM.

The AnyGPT-chat architecture at full width (hidden 4096, MLP 11008, vocabulary 53520) with ``N`` decoder layers
(default 2; the CPU holds a few at a time) and random weights (normal, std 0.02, as the config's initializer) is run
in bf16 on a fixed prompt, then with its linear layers quantized by ``quantize_model``. Printed per precision:

* per decoder layer, the relative error ``|y_q - y| / |y|`` of the layer's output when it gets the bf16 model's input
  for that layer (so errors do not accumulate across layers);
* the KL divergence ``KL(p_bf16 || p_q)`` of the next-token distributions (mean and max over the prompt positions)
  and how often the argmax agrees.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from importlib import resources as pkg_resources
from typing import Any

import torch
import torch.nn.functional as F

from anygpt_desktop.engine.llm_manifest import ANYGPT_CHAT_CONFIG, llama_config
from anygpt_desktop.engine.quantize import quantize_model

logger = logging.getLogger(__name__)

PROMPT = "<-Ins-> What is the weather like in Paris in spring, and what should I pack for a week there?\n <-Res->"


@dataclass
class QuantError:
    precision: str
    layer_rel_error: list[float] = field(default_factory=list)
    kl_mean: float = 0.0
    kl_max: float = 0.0
    top1_agreement: float = 0.0


def random_llama(layers: int, seed: int = 0, config: dict[str, Any] | None = None) -> torch.nn.Module:
    """The chat LLM with ``layers`` decoder layers and random bf16 weights, on the CPU."""
    from transformers import LlamaForCausalLM

    cfg = llama_config({**(config or ANYGPT_CHAT_CONFIG), "num_hidden_layers": layers})
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg)
    model = model.to_empty(device="cpu").to(torch.bfloat16)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            else:
                p.copy_(torch.empty(p.shape).normal_(0.0, cfg.initializer_range, generator=gen))
    model.model.rotary_emb = type(model.model.rotary_emb)(config=cfg)
    return model.eval().requires_grad_(False)


def prompt_ids() -> torch.Tensor:
    from anygpt_desktop.protocol.text_tokenizer import AnyGPTTokenizer
    from anygpt_desktop.protocol.vocab import Vocabulary

    sp_model = pkg_resources.files("anygpt_desktop.tiny_kit").joinpath("data", "llama2_tokenizer.model")
    tokenizer = AnyGPTTokenizer(str(sp_model), Vocabulary.chat_layout())
    return torch.tensor([tokenizer.encode(PROMPT, add_bos=True)])


def _layer_io(model: torch.nn.Module, ids: torch.Tensor, feed: list[torch.Tensor] | None) -> tuple[list, list, torch.Tensor]:
    """Run ``model``; record each decoder layer's input and output. ``feed``: inputs to substitute per layer."""
    inputs: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []
    hooks = []
    for i, layer in enumerate(model.model.layers):
        def pre(mod, args, kwargs, i=i):
            hs = args[0] if args else kwargs["hidden_states"]
            inputs.append(hs.detach().clone())
            if feed is not None:
                if args:
                    args = (feed[i], *args[1:])
                else:
                    kwargs = {**kwargs, "hidden_states": feed[i]}
            return args, kwargs

        def post(mod, args, kwargs, out, i=i):
            outputs.append((out[0] if isinstance(out, tuple) else out).detach().float())

        hooks.append(layer.register_forward_pre_hook(pre, with_kwargs=True))
        hooks.append(layer.register_forward_hook(post, with_kwargs=True))
    try:
        logits = model(ids).logits.float()
    finally:
        for h in hooks:
            h.remove()
    return inputs, outputs, logits


@torch.no_grad()
def measure(
    layers: int = 2, precisions: tuple[str, ...] = ("int8", "int4"), seed: int = 0, config: dict[str, Any] | None = None
) -> list[QuantError]:
    """The errors of each precision against bf16 (``config``: a smaller architecture for tests)."""
    ids = prompt_ids()
    reference = random_llama(layers, seed, config)
    ref_in, ref_out, ref_logits = _layer_io(reference, ids, None)
    ref_logp = F.log_softmax(ref_logits[0], dim=-1)
    del reference  # each precision rebuilds the same weights from the seed: one model in memory at a time
    results = []
    for precision in precisions:
        model = quantize_model(random_llama(layers, seed, config), precision)  # type: ignore[arg-type]
        _, outs, _ = _layer_io(model, ids, ref_in)
        q_logits = model(ids).logits.float()
        q_logp = F.log_softmax(q_logits[0], dim=-1)
        kl = (ref_logp.exp() * (ref_logp - q_logp)).sum(-1)
        results.append(
            QuantError(
                precision,
                [float((o - r).norm() / r.norm()) for o, r in zip(outs, ref_out)],
                float(kl.mean()),
                float(kl.max()),
                float((q_logits.argmax(-1) == ref_logits.argmax(-1)).float().mean()),
            )
        )
        del model
    return results


def run(args: argparse.Namespace) -> int:
    layers = int(getattr(args, "llm_layers", None) or 2)
    wanted = tuple(p for p in (getattr(args, "precision", None) or []) if p in ("int8", "int4"))
    precisions = wanted or ("int8", "int4")
    print(f"quantization error vs bf16: AnyGPT-chat at full width, {layers} decoder layer(s), random weights (std 0.02)")
    for r in measure(layers, precisions):
        per_layer = ", ".join(f"{e:.4f}" for e in r.layer_rel_error)
        print(
            f"  {r.precision}: layer output rel. error [{per_layer}]; next-token KL mean {r.kl_mean:.2e} "
            f"max {r.kl_max:.2e} nats; argmax agreement {r.top1_agreement * 100:.1f} %"
        )
    return 0
