"""Next-token sampling with HF's semantics (repetition penalty, temperature, top-k, top-p), one step at a time."""

from __future__ import annotations

import torch

from anygpt_desktop.engine.decode_settings import SamplingParams

__all__ = ["SamplingParams", "apply_repetition_penalty", "choose", "filtered_logits"]


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """HF's rule: for every id already in the sequence, divide a positive logit by ``penalty``, multiply a negative.

    ``seen`` is a bool ``[V]`` mask; a ``torch.where`` (not boolean indexing) keeps it free of host syncs.
    """
    if penalty == 1.0:
        return logits
    penalised = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, penalised, logits)


def filtered_logits(
    logits: torch.Tensor, params: SamplingParams, allowed: torch.Tensor | None, seen: torch.Tensor | None
) -> torch.Tensor:
    """The float ``[V]`` logits that one id is chosen from: the grammar's mask and the repetition penalty applied, and
    when sampling also temperature, top-k and top-p (excluded ids are ``-inf``). Greedy decoding takes the argmax of
    the result; sampling draws from its softmax. The vLLM logits processor returns exactly this to vLLM's sampler."""
    logits = logits.float()
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    if seen is not None:
        logits = apply_repetition_penalty(logits, seen, params.repetition_penalty)
    if not params.do_sample:
        return logits
    if params.temperature != 1.0:
        logits = logits / max(params.temperature, 1e-5)
    if params.top_k and params.top_k < logits.numel():
        kth = torch.topk(logits, params.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=False)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        remove = cumulative <= (1 - params.top_p)
        remove[-1] = False
        logits = logits.masked_fill(remove.scatter(0, order, remove), float("-inf"))
    return logits


def choose(
    logits: torch.Tensor,
    params: SamplingParams,
    allowed: torch.Tensor | None,
    seen: torch.Tensor | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One id from a ``[V]`` float logits vector, as a 0-d long tensor on the logits' device (no host sync: the
    caller makes the one device-to-host copy it needs). ``allowed`` masks the ids the grammar permits."""
    logits = filtered_logits(logits, params, allowed, seen)
    if not params.do_sample:
        return torch.argmax(logits)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[0]
