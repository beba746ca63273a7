"""The seam between the decode loop and whatever runs the LLM's forward pass.

The loop (grammar, sampling, streaming, cancel) drives a :class:`DecodeBackend`; the eager Hugging Face model with a
growing cache (:class:`~anygpt_desktop.engine.eager_backend.EagerBackend`) and a compiled static-cache model are two
implementations, and tests compare their ids. ``DecodeLoop(llm, backend)`` drives any of them.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch


class DecodeBackend(Protocol):
    """One conversation's KV cache plus the forward pass. Logits are a ``[V]`` tensor on ``device``."""

    device: torch.device
    vocab_size: int

    def prefill(self, prompt_ids: Sequence[int]) -> tuple[torch.Tensor, int]:
        """Logits after ``prompt_ids``, reusing the longest common prefix with the cached ids; returns
        ``(logits, reused)`` where ``reused`` counts the prompt ids served by the cache. At least the last prompt id
        is always computed. On any exception the cache is reset (a half-written cache never serves a turn)."""
        ...

    def step(self, token: int | torch.Tensor) -> torch.Tensor:
        """Append one id (a Python int or a 0-d/1-element long tensor on ``device``) and return the next logits."""
        ...

    def cached_ids(self) -> list[int]:
        """The ids whose keys and values the cache holds, in order."""
        ...

    def reset(self) -> None:
        """Forget the cache (history cleared or restored, or after a failure)."""
        ...
