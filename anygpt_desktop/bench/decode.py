"""``anygpt-desktop bench decode``: tokens/s and peak memory of the LLM decode step, side by side.

Three ways to run the same model: ``eager (HF)`` (the Hugging Face forward with a growing ``DynamicCache``, today's
loop), ``static eager`` (the static-cache forward without compilation) and ``compiled`` (the same step through
``torch.compile``; CUDA graphs on a GPU). Each precision given with ``--precision`` (bf16/fp16/int8/int4, through the
weight quantiser where this build has one) gets its own row block. The model is the tiny kit by default or the
released LLaMA-2-7B shape with random weights (``--full-size``; ``--llm-layers N`` keeps a CPU run tractable), built
on the meta device and materialised once in the target dtype. Ids are greedy over the grammar-free vocabulary: the
figures measure the forward pass and the argmax, one host copy per token.
"""

from __future__ import annotations

import argparse
import gc
import logging
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from anygpt_desktop.engine.llm import LoadedLLM, load_llm, pick_device, pick_dtype

logger = logging.getLogger(__name__)

PROMPT_TOKENS = 64
NEW_TOKENS = 64


def _cache_argument_name() -> str:
    """transformers 5 calls the KV cache ``cache``; 4.x called it ``past_key_values``."""
    import inspect

    from transformers import LlamaForCausalLM

    return "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"


class HFEagerBackend:
    """The baseline as a ``DecodeBackend``: the HF model's own forward with a growing ``DynamicCache``, cropped to
    the longest common prefix between turns (what the decode loop has always done)."""

    def __init__(self, llm: LoadedLLM) -> None:
        self.llm = llm
        self.device = llm.device
        self.vocab_size = llm.vocab_size
        self._cache_arg = _cache_argument_name()
        self._cache = None
        self._ids: list[int] = []

    def cached_ids(self) -> list[int]:
        return list(self._ids)

    def reset(self) -> None:
        self._cache = None
        self._ids = []

    @torch.inference_mode()
    def _forward(self, ids: torch.Tensor) -> torch.Tensor:
        out = self.llm.model(input_ids=ids, **{self._cache_arg: self._cache}, use_cache=True, logits_to_keep=1)
        self._cache = getattr(out, self._cache_arg)
        return out.logits[0, -1]

    def prefill(self, prompt_ids: Sequence[int]) -> tuple[torch.Tensor, int]:
        from transformers import DynamicCache

        prompt = [int(i) for i in prompt_ids]
        reused = 0
        for a, b in zip(self._ids, prompt):
            if a != b:
                break
            reused += 1
        reused = min(reused, len(prompt) - 1)
        if self._cache is None or reused == 0:
            self._cache, reused = DynamicCache(), 0
        elif self._cache.get_seq_length() > reused:
            self._cache.crop(reused - self._cache.get_seq_length())  # a negative count removes that many
        self._ids = []
        try:
            logits = self._forward(torch.tensor([prompt[reused:]], dtype=torch.long, device=self.device))
        except BaseException:
            self.reset()
            raise
        self._ids = prompt
        return logits, reused

    def step(self, token: int | torch.Tensor) -> torch.Tensor:
        if isinstance(token, torch.Tensor):
            ids = token.reshape(1, 1).to(self.device)
            value = int(ids)  # the baseline keeps its ids on the host
        else:
            value = int(token)
            ids = torch.tensor([[value]], dtype=torch.long, device=self.device)
        try:
            logits = self._forward(ids)
        except BaseException:
            self.reset()
            raise
        self._ids.append(value)
        return logits


@dataclass
class DecodeFigures:
    label: str
    tokens_per_second: float
    prefill_seconds: float
    peak_bytes: int
    note: str = ""
    weight_bytes: int = 0  # read once per token: the memory-bandwidth floor of a step


def weight_bytes_per_token(model: torch.nn.Module) -> int:
    """Bytes of parameters and buffers a decode step reads: everything but the embedding table (one row read)."""
    embedding = model.get_input_embeddings().weight
    seen, total = set(), 0
    for t in [*model.parameters(), *model.buffers()]:
        if t.data_ptr() in seen or t is embedding or t.device.type == "meta":
            continue
        seen.add(t.data_ptr())
        total += t.numel() * t.element_size()
    return total


def _peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(backend: object, prompt: Sequence[int], new_tokens: int, device: torch.device) -> tuple[float, float]:
    """(tokens/s of the greedy steps, prefill seconds) for one turn from an empty cache."""
    backend.reset()
    _sync(device)
    t0 = time.perf_counter()
    logits, _ = backend.prefill(prompt)
    _sync(device)
    t1 = time.perf_counter()
    for _ in range(new_tokens):
        token = torch.argmax(logits)
        int(token)  # the one device-to-host copy per token that the stream needs
        logits = backend.step(token)
    _sync(device)
    t2 = time.perf_counter()
    return new_tokens / (t2 - t1), t1 - t0


def random_llm(device: torch.device, dtype: torch.dtype, layers: int) -> LoadedLLM:
    """LLaMA-2-7B's AnyGPT shape with ``layers`` layers and random weights, built on meta and materialised once."""
    from importlib import resources as pkg_resources

    from transformers import LlamaConfig, LlamaForCausalLM

    from anygpt_desktop.engine.llm_manifest import ANYGPT_CHAT_CONFIG
    from anygpt_desktop.protocol.text_tokenizer import AnyGPTTokenizer
    from anygpt_desktop.protocol.vocab import Vocabulary

    skip = ("architectures", "model_type", "transformers_version", "torch_dtype")
    fields = {k: v for k, v in ANYGPT_CHAT_CONFIG.items() if not k.startswith("_") and k not in skip}
    config = LlamaConfig(**{**fields, "num_hidden_layers": layers})
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    model = model.to(dtype=dtype).to_empty(device=device)  # meta dtype change first: one allocation in the target dtype
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            else:
                p.normal_(0, 0.02, generator=gen)
    model.model.rotary_emb = type(model.model.rotary_emb)(config=config).to(device)  # buffers lost by to_empty
    model.eval()
    sp_model = pkg_resources.files("anygpt_desktop.tiny_kit").joinpath("data", "llama2_tokenizer.model")
    tokenizer = AnyGPTTokenizer(str(sp_model), Vocabulary.chat_layout())
    return LoadedLLM(model, tokenizer, device, dtype, Path("random-weights"))


def _quantizer():
    try:
        from anygpt_desktop.engine.quantize import quantize_model  # from the weights work; absent in some builds
    except ImportError:
        return None
    return quantize_model


def _build(args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> tuple[LoadedLLM, str]:
    if getattr(args, "full_size", False):
        layers = getattr(args, "llm_layers", None) or 32
        return random_llm(device, dtype, layers), f"full size, random weights ({layers} of 32 LLM layers)"
    models = getattr(args, "models", None)
    if not models:
        from anygpt_desktop.tiny_kit import make_tiny

        models = make_tiny(Path(tempfile.mkdtemp(prefix="anygpt-bench-")) / "tiny", seed=0)
    name = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}[dtype]
    return load_llm(Path(models) / "AnyGPT-chat", device=str(device), dtype=name), f"models in {models}"


def _run_precision(args: argparse.Namespace, device: torch.device, precision: str, modes: Sequence[str]) -> list[DecodeFigures]:
    from anygpt_desktop.engine.static_backend import StaticCacheBackend

    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, pick_dtype(device))
    if device.type != "cuda" and precision in ("int8", "int4"):
        dtype = torch.float32
    quantize = _quantizer()
    if precision in ("int8", "int4") and quantize is None:
        return [DecodeFigures(f"{precision} {m}", 0.0, 0.0, 0, "not available in this build") for m in modes]
    llm, what = _build(args, device, dtype)
    if precision in ("int8", "int4"):
        quantized = quantize(llm.model, precision)
        if quantized is not None:
            llm.model = quantized
    print(f"  {precision}: {what}; {device} {dtype}")
    prompt = [1] + [3 + (k * 7919) % 31000 for k in range(PROMPT_TOKENS - 1)]
    new_tokens = getattr(args, "tokens", None) or NEW_TOKENS
    context = getattr(args, "context", None) or 4096
    weights = weight_bytes_per_token(llm.model)
    rows = []
    for mode in modes:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        note = ""
        if mode == "eager (HF)":
            backend = HFEagerBackend(llm)
        else:
            backend = StaticCacheBackend(llm, context=context, compile=mode == "compiled")
            t0 = time.perf_counter()
            backend.warm_up()
            if mode == "compiled":
                note = f"compile {time.perf_counter() - t0:.1f} s"
                if backend.compile_error:
                    note = f"fell back to eager: {backend.compile_error[:60]}"
            note = f"{note}{'; ' if note else ''}KV cache {backend.cache_bytes / 2**20:.0f} MiB"
        measure(backend, prompt[:8], 4, device)  # allocations, lazy initialisation
        tps, prefill = measure(backend, prompt, new_tokens, device)
        rows.append(DecodeFigures(f"{precision} {mode}", tps, prefill, _peak_bytes(device), note, weights))
        del backend
        gc.collect()
    del llm
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def run(args: argparse.Namespace) -> int:
    device = pick_device(getattr(args, "device", None))
    precisions = getattr(args, "precision", None) or ["fp32" if device.type != "cuda" else "bf16"]
    modes = ["eager (HF)", "static eager", "compiled"]
    if getattr(args, "no_compile", False):
        modes = modes[:2]
    threads = torch.get_num_threads()
    print(f"bench decode: {device}, {threads} CPU threads; prompt {PROMPT_TOKENS} tokens, greedy steps timed")
    rows: list[DecodeFigures] = []
    for precision in precisions:
        rows.extend(_run_precision(args, device, precision, modes))
    memory = "peak GPU alloc" if device.type == "cuda" else "peak RSS"
    print(f"  {'variant':<24} {'tokens/s':>9} {'prefill s':>10} {memory:>15} {'weights GB/s':>13}  note")
    for r in rows:
        if r.note == "not available in this build":
            print(f"  {r.label:<24} {'-':>9} {'-':>10} {'-':>15} {'-':>13}  {r.note}")
            continue
        bandwidth = r.weight_bytes * r.tokens_per_second / 1e9
        print(
            f"  {r.label:<24} {r.tokens_per_second:9.1f} {r.prefill_seconds:10.3f} {r.peak_bytes / 2**30:11.2f} GiB"
            f" {bandwidth:13.1f}  {r.note}"
        )
    print("  (weights GB/s: the bytes a step must read, times tokens/s; compare with the device's memory bandwidth)")
    if device.type != "cuda":
        print("  (peak RSS is the process's high-water mark: it only grows from row to row)")
    return 0
