"""Run inside vLLM's environment (``scripts/vllm_env.sh``) by ``test_processor_in_vllm.py``: the AnyGPT processor,
loaded by vLLM's own ``--logits-processors`` loader, driven by vLLM's ``BatchUpdateBuilder`` over recorded turns, must
return exactly the app's masks and sampling transforms; vLLM's ``Sampler`` (neutral settings) then only draws ids the
grammar allows, and exactly the forced or greedy id where there is one. Malformed arguments are refused by vLLM's
validation as HTTP-400 errors. Usage: ``python vllm_env_checks.py CASES_FOLDER``; prints ``checked N rows``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import (
    BatchUpdateBuilder,
    LogitsProcessors,
    MoveDirectionality,
    _load_logitsprocs_by_fqcns,
    validate_logits_processors_parameters,
)
from vllm.v1.sample.metadata import SamplingMetadata
from vllm.v1.sample.sampler import Sampler

from replay import load_cases, replay_batch

FQCN = "anygpt_desktop.vllm_plugin:AnyGPTLogitsProcessor"


class VllmDriver:
    """The processor as vLLM's persistent batch drives it: one ``BatchUpdate`` per step, then vLLM's
    ``Sampler.forward`` with the processor in its list (its ``apply`` gives the same rows when called again in a step:
    the state only advances with new output ids)."""

    def __init__(self) -> None:
        (cls,) = _load_logitsprocs_by_fqcns([FQCN])
        self.processor = cls(None, torch.device("cpu"), False)
        assert not self.processor.is_argmax_invariant()
        self.builder = BatchUpdateBuilder()
        self.sampler = Sampler()
        self.outputs: dict[int, list[int]] = {}
        self.sampled: torch.Tensor | None = None

    def add(self, index: int, xargs: dict | None, prompt: list[int], output_ids: list[int]) -> None:
        params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0, extra_args=xargs)
        validate_logits_processors_parameters([FQCN], params)
        self.builder.added.append((index, params, prompt, output_ids))
        self.outputs[index] = output_ids

    def remove(self, index: int) -> None:
        self.builder.removed_append(index)
        self.outputs.pop(index, None)

    def move(self, source: int, target: int, swap: bool) -> None:
        direction = MoveDirectionality.SWAP if swap else MoveDirectionality.UNIDIRECTIONAL
        self.builder.moved.append((source, target, direction))
        a, b = self.outputs.pop(source, None), self.outputs.pop(target, None)
        if a is not None:
            self.outputs[target] = a
        if swap and b is not None:
            self.outputs[source] = b

    def commit(self, batch_size: int) -> None:
        self.processor.update_state(self.builder.get_and_reset(batch_size))
        self.batch_size = batch_size

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        returned = self.processor.apply(logits.clone())
        n = logits.shape[0]
        metadata = SamplingMetadata(
            temperature=torch.ones(n), all_greedy=False, all_random=True, top_p=None, top_k=None, generators={},
            max_num_logprobs=None, no_penalties=True, prompt_token_ids=None, frequency_penalties=torch.zeros(n),
            presence_penalties=torch.zeros(n), repetition_penalties=torch.ones(n),
            output_token_ids=[self.outputs.get(i, []) for i in range(n)], allowed_token_ids_mask=None,
            bad_words_token_ids={}, logitsprocs=LogitsProcessors([self.processor]),
        )
        self.sampled = self.sampler.forward(logits.clone(), metadata).sampled_token_ids.view(-1)
        return returned


def main(folder: Path) -> int:
    cases = load_cases(folder)
    driver = VllmDriver()
    problems: list[str] = []
    rows_seen = {"forced_or_greedy": 0, "sampled": 0}

    def check(slot, row, returned, expected, exact) -> None:  # type: ignore[no-untyped-def]
        name = f"{slot.case.name} step {slot.step}"
        if not torch.equal(returned, expected):
            problems.append(f"{name}: the processor's row differs from the app's")
        assert driver.sampled is not None
        drawn = int(driver.sampled[row])
        if exact is not None:
            rows_seen["forced_or_greedy"] += 1
            if drawn != exact:
                problems.append(f"{name}: vLLM's sampler drew {drawn}, the grammar imposes {exact}")
        else:
            rows_seen["sampled"] += 1
            if not torch.isfinite(returned[drawn]):
                problems.append(f"{name}: vLLM's sampler drew {drawn}, which the grammar forbids")

    checked = replay_batch(cases, driver, check)
    try:
        validate_logits_processors_parameters([FQCN], SamplingParams(extra_args={"anygpt_decode": "{not json"}))
        problems.append("malformed anygpt_decode was accepted")
    except Exception as exc:  # vLLM turns it into its VLLMValidationError: HTTP 400 for the client
        print(f"refused as {type(exc).__name__}: {exc}")
    if rows_seen["forced_or_greedy"] == 0 or rows_seen["sampled"] == 0:
        problems.append(f"the replay lacks forced/greedy or sampled rows: {rows_seen}")
    for p in problems[:20]:
        print("PROBLEM", p)
    print(f"checked {checked} rows ({rows_seen['forced_or_greedy']} forced or greedy, {rows_seen['sampled']} sampled)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
