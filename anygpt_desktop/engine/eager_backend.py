"""The eager Hugging Face :class:`~anygpt_desktop.engine.llm_backend.DecodeBackend`: one forward per call on a
growing ``DynamicCache``, reused across turns up to the longest common prefix with the next prompt."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Sequence

import torch

if TYPE_CHECKING:
    from anygpt_desktop.engine.llm import LoadedLLM


def _cache_argument_name() -> str:
    """transformers 5 calls the KV cache ``cache``; 4.x called it ``past_key_values``."""
    from transformers import LlamaForCausalLM

    return "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"


_CACHE_ARG = _cache_argument_name()


def common_prefix_length(cached: Sequence[int], prompt: Sequence[int]) -> int:
    """How many leading ids ``cached`` and ``prompt`` share."""
    n = 0
    for a, b in zip(cached, prompt):
        if a != b:
            break
        n += 1
    return n


class EagerBackend:
    """The model's forward pass with a ``DynamicCache``; implements :class:`DecodeBackend`."""

    def __init__(self, llm: LoadedLLM) -> None:
        self.llm = llm
        self.device = llm.device
        self.vocab_size = llm.vocab_size
        self._cache: Any = None
        self._ids: list[int | torch.Tensor] = []  # ids in the cache; sampled ones stay tensors until asked for

    def cached_ids(self) -> list[int]:
        self._ids = [int(i) for i in self._ids]
        return list(self._ids)  # type: ignore[arg-type]

    def reset(self) -> None:
        self._cache = None
        self._ids = []

    def prefill(self, prompt_ids: Sequence[int]) -> tuple[torch.Tensor, int]:
        from transformers import DynamicCache

        prompt_ids = list(prompt_ids)
        common = min(common_prefix_length(self.cached_ids(), prompt_ids), len(prompt_ids) - 1)
        if self._cache is None or common == 0:
            self._cache = DynamicCache()
            common = 0
        else:
            extra = self._cache.get_seq_length() - common
            if extra > 0:
                self._cache.crop(-extra)
        self._ids = []
        try:
            logits = self._forward(torch.tensor([prompt_ids[common:]], dtype=torch.long, device=self.device))
        except BaseException:
            self.reset()  # a half-written cache never serves a turn
            raise
        self._ids = list(prompt_ids)
        return logits, common

    def step(self, token: int | torch.Tensor) -> torch.Tensor:
        if isinstance(token, torch.Tensor):
            x = token.reshape(1, 1).to(device=self.device, dtype=torch.long)
        else:
            x = torch.tensor([[token]], dtype=torch.long, device=self.device)
        try:
            logits = self._forward(x)
        except BaseException:
            self.reset()  # a half-updated cache must not serve the next turn
            raise
        self._ids.append(token)
        return logits

    @torch.inference_mode()
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.llm.model(input_ids=x, **{_CACHE_ARG: self._cache}, use_cache=True, logits_to_keep=1)
        self._cache = getattr(out, _CACHE_ARG)
        return out.logits[0, -1]
