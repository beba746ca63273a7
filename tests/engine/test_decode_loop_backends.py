"""The whole decode loop (output grammar, per-span sampling, KV reuse, cancel) gives the same ids whichever backend runs
the forward pass: Hugging Face's eager model or the static-cache step (eager here, compiled in the slow tier)."""

from __future__ import annotations

from pathlib import Path

import pytest

from anygpt_desktop.cancel import TaskState
from anygpt_desktop.engine.decode_loop import DecodeLoop
from anygpt_desktop.engine.decode_settings import DecodeSettings, SamplingParams
from anygpt_desktop.engine.eager_backend import EagerBackend
from anygpt_desktop.engine.llm import LoadedLLM, load_llm
from anygpt_desktop.engine.static_backend import StaticCacheBackend, make_backend
from anygpt_desktop.protocol.text_tokenizer import UserText
from anygpt_desktop.protocol.vocab import END_OF_HUMAN_ID, MMGPT_ID, SPAN_IDS, UNIT_BASE_ID, UNIT_COUNT

GREEDY = SamplingParams(do_sample=False)

SCENARIOS = {
    "text, greedy": DecodeSettings(text=GREEDY, max_text_tokens=12, seed=0),
    "speech, seeded": DecodeSettings(force_modality="speech", max_text_tokens=12, max_text_before_span=4,
                                     max_speech_units=30, min_speech_units=5, seed=3),
    "image, seeded": DecodeSettings(force_modality="image", open_immediately=True, max_text_tokens=12, seed=4),
    "music, seeded": DecodeSettings(force_modality="music", open_immediately=True, max_text_tokens=12, max_music_units=24,
                                    seed=5),
}


def conversation(loop: DecodeLoop, llm: LoadedLLM, settings: DecodeSettings) -> list[list[int]]:
    """Four turns on one cache: a reply; a follow-up that reuses it; a turn cancelled after 5 ids; one after that."""
    first = [*llm.tokenizer.encode([UserText("Hello there, how are you?")]), END_OF_HUMAN_ID, MMGPT_ID]
    turns: list[list[int]] = []
    prompt = first
    for n in range(4):
        state = TaskState()
        ids: list[int] = []
        for token in loop.run(prompt, settings, state):
            ids.append(token)
            if n == 2 and len(ids) == 5:
                state.cancel()
        turns.append(ids)
        follow_up = llm.tokenizer.encode([UserText(f"And turn {n}?")], add_bos=False)
        prompt = [*prompt, *ids, *follow_up, END_OF_HUMAN_ID, MMGPT_ID]
    return turns


def assert_well_formed(turns: list[list[int]], settings: DecodeSettings) -> None:
    """The grammar held on this backend: a forced span is opened and its units are the modality's."""
    modality = settings.force_modality
    if modality is None:
        return
    start, _ = SPAN_IDS[modality]
    for ids in (turns[0], turns[1], turns[3]):
        assert start in ids
        units = ids[ids.index(start) + 1:]
        base = UNIT_BASE_ID[modality]
        body = [i for i in units if base <= i < base + UNIT_COUNT[modality]]
        assert body, ids
        if modality == "image":
            assert len(body) == 32


@pytest.fixture(scope="module")
def tiny_llm(tiny_models: Path) -> LoadedLLM:
    return load_llm(tiny_models / "AnyGPT-chat", device="cpu")


@pytest.fixture(scope="module")
def hf_runs(tiny_llm: LoadedLLM) -> dict[str, list[list[int]]]:
    runs = {}
    for name, settings in SCENARIOS.items():
        runs[name] = conversation(DecodeLoop(tiny_llm, EagerBackend(tiny_llm)), tiny_llm, settings)
    return runs


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_static_cache_loop_gives_the_eager_ids(tiny_llm, hf_runs, name):
    loop = DecodeLoop(tiny_llm, StaticCacheBackend(tiny_llm, context=1024))
    turns = conversation(loop, tiny_llm, SCENARIOS[name])
    assert turns == hf_runs[name]
    assert len(turns[2]) == 5  # the cancel landed between tokens
    assert_well_formed(turns, SCENARIOS[name])
    assert loop.last_stats.cached_tokens > 0  # the last turn reused the conversation's cache


@pytest.mark.slow
def test_compiled_loop_gives_the_eager_ids(tiny_llm, hf_runs):
    backend = make_backend(tiny_llm, "compiled", context=1024)
    assert backend.compiled, backend.compile_error
    loop = DecodeLoop(tiny_llm, backend)
    for name, settings in SCENARIOS.items():
        assert conversation(loop, tiny_llm, settings) == hf_runs[name], name
