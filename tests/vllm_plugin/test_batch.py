"""The vLLM logits processor's logic (no vLLM needed): on recorded turns of the tiny LLM, every row it returns is
exactly what the app's own grammar and sampling transforms give, through adds, removals, moves and swaps of a batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from anygpt_desktop.engine.vllm_args import DecodeArgsError
from anygpt_desktop.protocol.vocab import SPAN_IDS
from anygpt_desktop.vllm_plugin.batch import DecodingBatch
from recorded import recorded_turns
from replay import Case, replay_batch

pytestmark = pytest.mark.slow


@pytest.fixture
def recorded_cases(tiny_models: Path) -> list[Case]:
    return list(recorded_turns(tiny_models))


class DirectDriver:
    """:class:`DecodingBatch` driven as the vLLM adapter drives it."""

    def __init__(self) -> None:
        self.batch = DecodingBatch()

    def add(self, index: int, xargs: dict | None, prompt: list[int], output_ids: list[int]) -> None:
        self.batch.add(index, xargs, prompt, output_ids)

    def remove(self, index: int) -> None:
        self.batch.remove(index)

    def move(self, source: int, target: int, swap: bool) -> None:
        self.batch.move(source, target, swap)

    def commit(self, batch_size: int) -> None:
        pass

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return self.batch.apply(logits)


def test_the_recorded_turns_cover_every_span_type(recorded_cases: list[Case]) -> None:
    opened = {m for c in recorded_cases for m, (start, _end) in SPAN_IDS.items() if start in c.ids}
    assert {"speech", "image", "music"} <= opened
    assert any(c.settings.text.do_sample for c in recorded_cases) and any(not c.settings.text.do_sample for c in recorded_cases)


def test_every_row_equals_the_apps_grammar_and_sampling(recorded_cases: list[Case]) -> None:
    kinds = {"exact": 0, "sampled": 0}

    def check(slot, row, returned, expected, exact) -> None:  # type: ignore[no-untyped-def]
        assert torch.equal(returned, expected), f"{slot.case.name} step {slot.step}"
        recorded = slot.case.ids[slot.step]
        if exact is not None:
            kinds["exact"] += 1
            assert recorded == exact and torch.isfinite(returned).nonzero().flatten().tolist() == [exact]
        else:
            kinds["sampled"] += 1
            assert torch.isfinite(returned[recorded])  # the app's sampler drew from the same support

    checked = replay_batch(recorded_cases, DirectDriver(), check)
    assert checked == sum(len(c.ids) for c in recorded_cases)
    assert kinds["exact"] and kinds["sampled"]


def test_a_wrong_row_would_be_caught(recorded_cases: list[Case]) -> None:
    """The replay notices a processor that forgets what was generated (it would not advance the grammar)."""

    class Forgetful(DirectDriver):
        def add(self, index: int, xargs: dict | None, prompt: list[int], output_ids: list[int]) -> None:
            super().add(index, xargs, prompt, [])  # never sees the live output list

    mismatches = []

    def check(slot, row, returned, expected, exact) -> None:  # type: ignore[no-untyped-def]
        if not torch.equal(returned, expected):
            mismatches.append(slot.case.name)

    replay_batch(recorded_cases, Forgetful(), check)
    assert {"speech", "image", "music"} <= {n.split("-")[0] for n in mismatches}


def test_requests_without_anygpt_arguments_pass_and_malformed_ones_are_refused() -> None:
    batch = DecodingBatch()
    batch.add(0, {"other": 1}, [1, 2], [])
    logits = torch.randn(1, 100)
    assert torch.equal(batch.apply(logits.clone()), logits)
    for bad in ({"anygpt_decode": "{not json"}, {"anygpt_decode": '{"max_text_tokens": "many"}'},
                {"anygpt_decode": '{"no_such_field": 1}'}):
        with pytest.raises(DecodeArgsError):
            DecodingBatch.settings_of(bad)
