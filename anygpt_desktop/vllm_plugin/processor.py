"""The AnyGPT logits processor for vLLM's V1 engine: load it with
``vllm serve ... --logits-processors anygpt_desktop.vllm_plugin:AnyGPTLogitsProcessor``.

A thin adapter: vLLM's batch updates go to :class:`~anygpt_desktop.vllm_plugin.batch.DecodingBatch`, which applies
the output grammar and per-span sampling of every AnyGPT request (one carrying ``anygpt_decode`` in its extra
arguments; the app's ``--llm-url`` client sends it). This module is only imported inside vLLM's environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from anygpt_desktop.vllm_plugin.batch import DecodingBatch

if TYPE_CHECKING:
    from vllm import SamplingParams


class AnyGPTLogitsProcessor(LogitsProcessor):
    """Output grammar and per-span sampling for AnyGPT turns; other requests pass unchanged."""

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool) -> None:
        self.device = device
        self.batch = DecodingBatch()

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        """Malformed AnyGPT arguments are refused when the request arrives (vLLM answers HTTP 400)."""
        DecodingBatch.settings_of(sampling_params.extra_args)

    def is_argmax_invariant(self) -> bool:
        return False  # it masks ids and forces them: greedy decoding changes too

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if batch_update is None:
            return
        for index in batch_update.removed:
            self.batch.remove(index)
        for index, params, prompt_ids, output_ids in batch_update.added:
            self.batch.add(index, params.extra_args if params is not None else None, prompt_ids, output_ids)
        for source, target, direction in batch_update.moved:
            self.batch.move(source, target, swap=direction == MoveDirectionality.SWAP)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return self.batch.apply(logits)
