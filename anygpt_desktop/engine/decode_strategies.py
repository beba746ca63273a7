"""How the decode loop picks each id, separate from the loop: sampling with per-span parameters, or scripted ids.

A strategy sees the logits and the :class:`~anygpt_desktop.engine.output_grammar.OutputGrammar` and returns the next
id: a Python int (forced or scripted) or a 0-d long tensor on the device (sampled, not yet copied to the host), or
``None`` to end the turn. The loop makes the one device-to-host copy of the id that the stream needs.
(The reference's beam sampling is a whole-turn strategy: :mod:`anygpt_desktop.engine.beam_sampling`.)
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch

from anygpt_desktop.engine.decode_settings import DecodeSettings
from anygpt_desktop.engine.output_grammar import OutputGrammar
from anygpt_desktop.engine.sampling import choose


class TokenStrategy(Protocol):
    def next_id(self, logits: torch.Tensor, grammar: OutputGrammar) -> int | torch.Tensor | None:
        """The next id, or None when the turn should end here (like hitting the token limit)."""
        ...


class Sampler:
    """Sampling with the parameters of the span being generated (temperature, top-k/top-p, repetition penalty),
    from a seeded generator; grammar-imposed ids are taken as they are. Nothing here waits for the device."""

    def __init__(self, settings: DecodeSettings, prompt_ids: Sequence[int], vocab_size: int, device: torch.device) -> None:
        self.settings = settings
        self.generator: torch.Generator | None = None
        if settings.seed is not None:
            self.generator = torch.Generator(device=device).manual_seed(settings.seed)
        self.seen = torch.zeros(vocab_size, dtype=torch.bool, device=device)  # for the repetition penalty
        self.seen[torch.tensor(list(prompt_ids), dtype=torch.long, device=device)] = True

    def next_id(self, logits: torch.Tensor, grammar: OutputGrammar) -> int | torch.Tensor:
        token: int | torch.Tensor | None = grammar.forced_id()
        if token is None:
            token = choose(logits, self.settings.params_for(grammar.span), grammar.allowed_mask(), self.seen,
                           self.generator)
        if isinstance(token, torch.Tensor):
            self.seen.index_fill_(0, token.view(1), True)  # tensor indexing with a 0-d index would sync
        else:
            self.seen[token] = True
        return token


class ScriptedIds:
    """Given ids instead of sampling (tests, benchmarks): the model still runs on them and the grammar is still
    enforced. A grammar-imposed id that the script also has next is consumed; one it lacks is inserted; the turn ends
    when the script does (unless the grammar imposes more)."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.remaining = list(ids)

    def next_id(self, logits: torch.Tensor, grammar: OutputGrammar) -> int | None:
        forced = grammar.forced_id()
        if not self.remaining and forced is None:
            return None
        if forced is not None and (not self.remaining or self.remaining[0] != forced):
            return forced
        token = self.remaining.pop(0)
        if not grammar.allows(token):
            raise ValueError(f"forced id {token} is not allowed by the output grammar here")
        return token
