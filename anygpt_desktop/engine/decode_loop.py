"""The LLM decode loop: token by token, grammar-constrained, streaming, cancellable, with a KV cache across turns.

Unlike the reference (one blocking ``generate`` to the token limit) this loop
* streams every id as soon as it is chosen, so speech can be synthesised while the model is still talking;
* switches sampling parameters when a span starts (the reference decoding configs, per modality);
* stops at the end of the turn (``<eos>``, ``</s>``, ``<eom>``) instead of running to the limit;
* only lets the model produce well-formed output: outside spans no unit tokens and no role markers; inside a span only
  that modality's units and, when allowed, its end tag; an image span is exactly 32 units; a music span keeps the
  codebook phase (position k holds codebook k mod 4) and ends on a whole frame;
* opens the requested output span itself when the model would otherwise end the turn without it (the reference's
  ``force_*_generation``), so even a weak or random model yields a playable reply;
* keeps the KV cache of the conversation and only computes the ids that differ from the cached prefix.

The pieces, in whisper's ``decoding.py`` shape: a :class:`~anygpt_desktop.engine.llm_backend.DecodeBackend` runs the
model (:class:`~anygpt_desktop.engine.eager_backend.EagerBackend`, or a compiled static-cache one), the
:class:`~anygpt_desktop.engine.output_grammar.OutputGrammar` filters the logits, and a
:class:`~anygpt_desktop.engine.decode_strategies.TokenStrategy` picks each id.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

from anygpt_desktop.cancel import CancelToken
from anygpt_desktop.engine.beam_sampling import beam_sample
from anygpt_desktop.engine.decode_settings import DecodeSettings
from anygpt_desktop.engine.decode_strategies import Sampler, TokenStrategy
from anygpt_desktop.engine.eager_backend import EagerBackend
from anygpt_desktop.engine.llm_backend import DecodeBackend
from anygpt_desktop.engine.output_grammar import OutputGrammar

if TYPE_CHECKING:
    from anygpt_desktop.engine.llm import LoadedLLM

logger = logging.getLogger(__name__)

__all__ = ["DecodeLoop", "DecodeSettings", "DecodeStats"]


@dataclass
class DecodeStats:
    new_tokens: int = 0
    computed_tokens: int = 0  # prompt ids not served by the cache + generated ids
    cached_tokens: int = 0
    seconds: float = 0.0
    prefill_seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


class DecodeLoop:
    """Drives one conversation's :class:`DecodeBackend`; ``run`` streams the ids of one assistant turn."""

    def __init__(self, llm: LoadedLLM, backend: DecodeBackend | None = None) -> None:
        self.llm = llm
        self.backend: DecodeBackend = backend if backend is not None else EagerBackend(llm)
        self.last_stats = DecodeStats()

    def reset(self) -> None:
        """Forget the KV cache (history cleared or restored)."""
        self.backend.reset()

    def run(
        self,
        prompt_ids: Sequence[int],
        settings: DecodeSettings,
        state: CancelToken | None = None,
        strategy: TokenStrategy | None = None,
    ) -> Iterator[int]:
        """Stream the ids of one turn. ``strategy`` picks each id (default: a :class:`Sampler` for ``settings``;
        :class:`~anygpt_desktop.engine.decode_strategies.ScriptedIds` for tests and benchmarks). ``settings.text_beams > 1`` on a sampled text-only turn runs
        the reference's beam sampling instead (no streaming)."""
        self.last_stats = DecodeStats()
        prompt_ids = list(prompt_ids)
        if settings.text_beams > 1 and settings.force_modality is None and strategy is None:
            yield from self._run_beams(prompt_ids, settings, state)
            return
        start = time.perf_counter()
        backend = self.backend
        grammar = OutputGrammar(backend.vocab_size, backend.device, settings)
        if strategy is None:
            strategy = Sampler(settings, prompt_ids, backend.vocab_size, backend.device)
        stats = self.last_stats
        try:
            logits, stats.cached_tokens = backend.prefill(prompt_ids)
            stats.computed_tokens += len(prompt_ids) - stats.cached_tokens
            stats.prefill_seconds = time.perf_counter() - start
            for _ in range(settings.max_new_tokens):
                if state is not None and state.cancelled():
                    break
                token = strategy.next_id(logits, grammar)
                if token is None:
                    break
                token_id = int(token)  # the one device-to-host copy per token: the stream needs the id
                stats.new_tokens += 1
                ended = grammar.advance(token_id)
                yield token_id
                if ended:
                    break
                logits = backend.step(token)
                stats.computed_tokens += 1
        except GeneratorExit:
            raise  # the consumer stopped early: the cache holds exactly the ids it computed
        except BaseException:
            backend.reset()  # a failed turn never leaves a half-written cache behind
            raise
        finally:
            stats.seconds = time.perf_counter() - start
        # the cache now also holds this turn's ids; the next prompt re-renders the reply, so only the prefix is reused

    def _run_beams(self, prompt_ids: list[int], settings: DecodeSettings, state: CancelToken | None) -> Iterator[int]:
        start = time.perf_counter()
        self.backend.reset()  # generate keeps its own cache
        new = beam_sample(self.llm, prompt_ids, settings, state)
        self.last_stats.new_tokens = len(new)
        self.last_stats.computed_tokens = len(prompt_ids) + len(new)
        self.last_stats.seconds = time.perf_counter() - start
        yield from new

