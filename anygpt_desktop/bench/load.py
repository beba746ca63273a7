"""``anygpt-desktop bench load --models DIR [--precision P] [--no-convert] [--tokens N]``: launch-to-ready of the LLM.

Times ``load_llm`` on the given models folder (e.g. one written by ``bench/fullsize_checkpoint.py``), then greedy
decodes ``--tokens`` tokens with the HF KV cache and prints tokens/s and the process's peak memory (``VmHWM``, and
the anonymous part, which excludes the memory-mapped checkpoint pages the kernel can drop). Run it once per
measurement: peak memory is per process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from anygpt_desktop.layout import resolve_models_dir


def _status_kib(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_text() -> str:
    import psutil

    hwm = _status_kib("VmHWM") * 1024 or psutil.Process().memory_info().rss
    anon = _status_kib("RssAnon") * 1024
    return f"peak RSS {hwm / 1e9:.2f} GB (anonymous now {anon / 1e9:.2f} GB)"


@torch.no_grad()
def greedy_tokens_per_s(model: torch.nn.Module, prompt: list[int], tokens: int, device: torch.device) -> float:
    from transformers import DynamicCache

    ids = torch.tensor([prompt], device=device)
    cache = DynamicCache()
    out = model(input_ids=ids, past_key_values=cache, use_cache=True)
    nxt = out.logits[:, -1:].argmax(-1)
    start = time.perf_counter()
    for _ in range(tokens):
        out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
        nxt = out.logits[:, -1:].argmax(-1)
    int(nxt)
    return tokens / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> int:
    from anygpt_desktop.engine.llm import load_llm

    root = resolve_models_dir(getattr(args, "models", None))
    folder = root / "AnyGPT-chat"
    precision = (getattr(args, "precision", None) or ["auto"])[0]  # bench takes a list (decode compares several)
    start = time.perf_counter()
    llm = load_llm(folder, getattr(args, "device", None), precision=precision, convert=not getattr(args, "no_convert", False))
    ready = time.perf_counter() - start
    print(f"load_llm({folder}, precision={precision}) -> {llm.precision} on {llm.device}: ready in {ready:.1f} s; {peak_rss_text()}")
    tokens = getattr(args, "tokens", None)
    tokens = 16 if tokens is None else int(tokens)
    if tokens > 0:
        prompt = llm.tokenizer.encode("<-Ins-> tell me about the weather today please\n <-Res->", add_bos=True)
        rate = greedy_tokens_per_s(llm.model, prompt, tokens, llm.device)
        print(f"greedy decode, {len(prompt)}-token prompt, {tokens} tokens: {rate:.2f} tokens/s; {peak_rss_text()}")
    return 0
