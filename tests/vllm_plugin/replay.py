"""Recorded turns of the tiny LLM and a replay of them through a vLLM-style persistent batch.

Used in two environments: the app's (``test_batch.py``, through :class:`DecodingBatch` directly) and vLLM's own
(``vllm_env_checks.py``, through vLLM's ``BatchUpdateBuilder`` and ``Sampler``). Needs only torch, numpy and the
app's torch-light engine modules, never the model loader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch

from anygpt_desktop.engine.decode_settings import DecodeSettings, SamplingParams
from anygpt_desktop.engine.output_grammar import OutputGrammar
from anygpt_desktop.engine.sampling import filtered_logits
from anygpt_desktop.engine.vllm_args import decode_settings_from_extra_args, decode_settings_to_xargs

GREEDY_PENALISED = SamplingParams(do_sample=False, repetition_penalty=1.3)
CASE_SETTINGS: dict[str, DecodeSettings] = {
    "text": DecodeSettings(max_text_tokens=10, seed=1),
    "text-greedy": DecodeSettings(max_text_tokens=10, text=GREEDY_PENALISED),
    "speech": DecodeSettings(force_modality="speech", max_text_tokens=4, max_speech_units=30, min_speech_units=8, seed=2),
    "speech-greedy": DecodeSettings(force_modality="speech", max_text_tokens=3, max_speech_units=20,
                                    min_speech_units=5, speech=GREEDY_PENALISED, text=GREEDY_PENALISED),
    "image": DecodeSettings(force_modality="image", open_immediately=True, end_after_forced_span=True, seed=3),
    "music": DecodeSettings(force_modality="music", open_immediately=True, end_after_forced_span=True,
                            max_music_units=22, seed=4),
    "music-top-p": DecodeSettings(force_modality="music", max_text_tokens=2, max_music_units=12, seed=5,
                                  music=SamplingParams(temperature=0.7, top_k=0, top_p=0.6, repetition_penalty=1.1)),
}


@dataclass
class Case:
    """One recorded turn: its settings, prompt, the logits before each id and the ids the local loop chose."""

    name: str
    settings: DecodeSettings
    prompt: list[int]
    logits: torch.Tensor  # [steps, V] float32
    ids: list[int]

    @property
    def xargs(self) -> dict[str, str]:
        return decode_settings_to_xargs(self.settings)


def record_cases(llm: Any, prompt: list[int]) -> list[Case]:
    """Run the app's decode loop on ``llm`` for every case, keeping the logits each id was chosen from."""
    from anygpt_desktop.engine.decode_loop import DecodeLoop
    from anygpt_desktop.engine.decode_strategies import Sampler

    cases = []
    for name, settings in CASE_SETTINGS.items():
        loop = DecodeLoop(llm)
        sampler = Sampler(settings, prompt, llm.model.config.vocab_size, torch.device("cpu"))
        rows: list[torch.Tensor] = []

        class Recorder:
            def next_id(self, logits: torch.Tensor, grammar: OutputGrammar) -> Any:
                rows.append(logits.detach().float().cpu().clone())
                return sampler.next_id(logits, grammar)

        ids = list(loop.run(prompt, settings, strategy=Recorder()))
        cases.append(Case(name, settings, list(prompt), torch.stack(rows), ids))
    return cases


def save_cases(cases: list[Case], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    meta = [{"name": c.name, "xargs": c.xargs, "prompt": c.prompt, "ids": c.ids} for c in cases]
    (folder / "cases.json").write_text(json.dumps(meta))
    np.savez(folder / "logits.npz", **{c.name: c.logits.numpy() for c in cases})
    return folder


def load_cases(folder: Path) -> list[Case]:
    meta = json.loads((folder / "cases.json").read_text())
    arrays = np.load(folder / "logits.npz")
    cases = []
    for m in meta:
        settings = decode_settings_from_extra_args(m["xargs"])
        assert settings is not None
        cases.append(Case(m["name"], settings, m["prompt"], torch.from_numpy(arrays[m["name"]]), m["ids"]))
    return cases


# -- the local reference of one step ---------------------------------------------------------------------------------


@dataclass
class LocalReplay:
    """The app's grammar and sampling transforms, replayed over a case's ids: what each row must become."""

    case: Case
    grammar: OutputGrammar = field(init=False)
    seen: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        vocab = self.case.logits.shape[1]
        self.grammar = OutputGrammar(vocab, "cpu", self.case.settings)
        self.seen = torch.zeros(vocab, dtype=torch.bool)
        self.seen[torch.tensor(self.case.prompt)] = True

    def expected(self, t: int) -> tuple[torch.Tensor, int | None]:
        """(the row the processor must return, the one id it must leave finite or None when it samples)."""
        row = self.case.logits[t]
        forced = self.grammar.forced_id()
        if forced is not None:
            return _one_hot(row, forced), forced
        params = self.case.settings.params_for(self.grammar.span)
        logits = filtered_logits(row, params, self.grammar.allowed_mask(), self.seen)
        if not params.do_sample:
            best = int(torch.argmax(logits))
            return _one_hot(row, best), best
        return logits, None

    def advance(self, t: int) -> None:
        token = self.case.ids[t]
        self.seen[token] = True
        self.grammar.advance(token)


def _one_hot(row: torch.Tensor, index: int) -> torch.Tensor:
    out = torch.full_like(row, float("-inf"))
    out[index] = 0.0
    return out


# -- a persistent batch, vLLM style ----------------------------------------------------------------------------------


class BatchDriver(Protocol):
    """The processor under test, driven as vLLM's persistent batch drives it."""

    def add(self, index: int, xargs: dict | None, prompt: list[int], output_ids: list[int]) -> None: ...
    def remove(self, index: int) -> None: ...
    def move(self, source: int, target: int, swap: bool) -> None: ...
    def commit(self, batch_size: int) -> None: ...
    def apply(self, logits: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Slot:
    case: Case | None  # None: a request that is not an AnyGPT turn
    output: list[int] = field(default_factory=list)  # the live list vLLM appends to
    replay: LocalReplay | None = None
    step: int = 0

    def done(self) -> bool:
        return self.case is not None and self.step >= len(self.case.ids)


def replay_batch(cases: list[Case], driver: BatchDriver,
                 on_row: Callable[[Slot, int, torch.Tensor, torch.Tensor, int | None], None]) -> int:
    """Run every case through ``driver`` in one batch with a plain request beside them: three start at once, the rest
    take the rows of finished ones; when none waits, the last row moves into a finished one's place (vLLM's
    condense); once, two rows swap. ``on_row(slot, row, returned, expected, exact_id)`` checks each AnyGPT row (``row``: its batch index).
    Returns the number of rows checked."""
    pending = list(cases)
    plain_vocab = cases[0].logits.shape[1]
    batch: list[Slot] = [Slot(None)]
    driver.add(0, None, [5, 6, 7], batch[0].output)
    checked = 0
    swapped = False
    rng = torch.Generator().manual_seed(0)
    while pending or any(s.case is not None for s in batch):
        while pending and len(batch) < 4:  # admit new requests at the end of the batch (at most 3 turns at once)
            case = pending.pop(0)
            slot = Slot(case, replay=LocalReplay(case))
            batch.append(slot)
            driver.add(len(batch) - 1, case.xargs, case.prompt, slot.output)
        if not swapped and len(batch) >= 3:
            batch[1], batch[2] = batch[2], batch[1]
            driver.move(1, 2, swap=True)
            swapped = True
        driver.commit(len(batch))
        given = torch.stack([s.case.logits[s.step] if s.case is not None
                             else torch.randn(plain_vocab, generator=rng) for s in batch])
        returned = driver.apply(given.clone())
        assert torch.equal(returned[0], given[0]), "a request that is not an AnyGPT turn must pass unchanged"
        for i, slot in enumerate(batch):
            if slot.case is None:
                continue
            assert slot.replay is not None
            expected, exact = slot.replay.expected(slot.step)
            on_row(slot, i, returned[i], expected, exact)
            checked += 1
            slot.output.append(slot.case.ids[slot.step])  # vLLM appends the sampled id (here: the recorded one)
            slot.replay.advance(slot.step)
            slot.step += 1
        for i in range(len(batch) - 1, 0, -1):  # finished requests leave (descending, like vLLM's removals)
            if not batch[i].done():
                continue
            driver.remove(i)
            if pending:  # a waiting request takes the free row (vLLM fills holes first)
                case = pending.pop(0)
                batch[i] = Slot(case, replay=LocalReplay(case))
                driver.add(i, case.xargs, case.prompt, batch[i].output)
            elif i != len(batch) - 1:  # the last row fills the hole (vLLM's condense)
                batch[i] = batch.pop()
                driver.move(len(batch), i, swap=False)
            else:
                batch.pop()
        if len(batch) == 1 and not pending:
            break
    return checked
