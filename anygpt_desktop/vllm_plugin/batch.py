"""The AnyGPT output grammar and per-span sampling for a batch of vLLM requests, without importing vLLM.

vLLM keeps its running requests in a persistent batch: row ``i`` of the logits belongs to whichever request sits at
index ``i``; requests are added, removed and moved between indices as the batch changes. :class:`DecodingBatch` mirrors
that bookkeeping and, for every row whose request is an AnyGPT turn (its extra arguments carry ``anygpt_decode``),
turns the row into what the app's own decode loop would choose from:

* a grammar-imposed id (a span's opening, a full span's end, the end of the turn): only that id stays finite;
* greedy span settings: only the argmax of the masked, repetition-penalised logits stays finite;
* sampled span settings: :func:`~anygpt_desktop.engine.sampling.filtered_logits` (mask, repetition penalty over the
  prompt and everything generated, temperature, top-k, top-p), which vLLM's sampler, run with neutral settings
  (temperature 1, no top-k/top-p, no penalties), then draws from.

Rows of other requests are left as they are. The vLLM adapter is :mod:`anygpt_desktop.vllm_plugin.processor`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch

from anygpt_desktop.engine.decode_settings import DecodeSettings
from anygpt_desktop.engine.output_grammar import OutputGrammar
from anygpt_desktop.engine.sampling import filtered_logits
from anygpt_desktop.engine.vllm_args import decode_settings_from_extra_args

logger = logging.getLogger(__name__)


@dataclass
class RequestDecoding:
    """One AnyGPT request: its settings, prompt and live list of generated ids (vLLM appends to it in place), and
    the grammar state replayed from those ids. Tensors are built at the first row, on the logits' device."""

    settings: DecodeSettings
    prompt_ids: Sequence[int]
    output_ids: Sequence[int]
    grammar: OutputGrammar | None = None
    seen: torch.Tensor | None = None
    consumed: int = 0  # output ids replayed into the grammar and the seen set so far
    ended_with: int | None = field(default=None)  # the id that ended the turn (forced again if vLLM goes on)

    def _start(self, vocab_size: int, device: torch.device) -> None:
        self.grammar = OutputGrammar(vocab_size, device, self.settings)
        self.seen = torch.zeros(vocab_size, dtype=torch.bool, device=device)
        prompt = [i for i in self.prompt_ids if 0 <= i < vocab_size]
        if prompt:
            self.seen[torch.tensor(prompt, dtype=torch.long, device=device)] = True

    def _catch_up(self) -> None:
        assert self.grammar is not None and self.seen is not None
        while self.consumed < len(self.output_ids):
            token = int(self.output_ids[self.consumed])
            self.consumed += 1
            if 0 <= token < self.seen.numel():
                self.seen[token] = True
            if self.ended_with is None and self.grammar.advance(token):
                self.ended_with = token

    def process(self, row: torch.Tensor) -> torch.Tensor:
        """The row (``[V]`` logits of this request's next id) as the distribution the next id is drawn from."""
        if self.grammar is None:
            self._start(row.numel(), row.device)
        self._catch_up()
        assert self.grammar is not None
        forced = self.ended_with if self.ended_with is not None else self.grammar.forced_id()
        if forced is not None:
            return _only(row, torch.tensor(forced, device=row.device))
        params = self.settings.params_for(self.grammar.span)
        logits = filtered_logits(row, params, self.grammar.allowed_mask(), self.seen)
        if not params.do_sample:
            return _only(row, torch.argmax(logits))
        return logits.to(row.dtype)


def _only(row: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``row`` with every id but ``index`` (a 0-d long tensor) at ``-inf`` and that one at 0 (no host sync)."""
    out = torch.full_like(row, float("-inf"))
    return out.index_fill_(0, index.view(1), 0.0)


class DecodingBatch:
    """The AnyGPT requests of vLLM's persistent batch, by batch index."""

    def __init__(self) -> None:
        self.requests: dict[int, RequestDecoding] = {}

    @staticmethod
    def settings_of(extra_args: Mapping[str, Any] | None) -> DecodeSettings | None:
        """The request's AnyGPT settings (None: not an AnyGPT turn); malformed ones raise ``DecodeArgsError``."""
        return decode_settings_from_extra_args(extra_args)

    def remove(self, index: int) -> None:
        self.requests.pop(index, None)

    def add(self, index: int, extra_args: Mapping[str, Any] | None, prompt_ids: Sequence[int] | None,
            output_ids: Sequence[int]) -> None:
        """A request now at ``index`` (replacing whatever was there); ``output_ids`` is vLLM's live list."""
        settings = self.settings_of(extra_args)
        if settings is None:
            self.requests.pop(index, None)
            return
        self.requests[index] = RequestDecoding(settings, list(prompt_ids or ()), output_ids)

    def move(self, source: int, target: int, swap: bool) -> None:
        """The request at ``source`` moves to ``target`` (``swap``: and the one at ``target`` to ``source``)."""
        a, b = self.requests.pop(source, None), self.requests.pop(target, None)
        if a is not None:
            self.requests[target] = a
        if swap and b is not None:
            self.requests[source] = b

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """Rewrite the rows of AnyGPT requests in ``logits`` (``[batch, V]``) in place; returns it."""
        for index, request in self.requests.items():
            if index < logits.shape[0]:
                logits[index] = request.process(logits[index])
        return logits
