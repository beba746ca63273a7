"""AnyGPT inside a vLLM server: the logits processor that runs the app's output grammar and per-span sampling.

``AnyGPTLogitsProcessor`` is imported on first use (it needs vLLM); :mod:`.batch` holds the logic and needs none.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AnyGPTLogitsProcessor"]


def __getattr__(name: str) -> Any:
    if name == "AnyGPTLogitsProcessor":
        from anygpt_desktop.vllm_plugin.processor import AnyGPTLogitsProcessor

        return AnyGPTLogitsProcessor
    raise AttributeError(name)
