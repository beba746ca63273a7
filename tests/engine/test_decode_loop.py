"""The decode loop on the tiny LLM: grammar, seeding, the KV cache across turns."""

import pytest

from anygpt_desktop.engine.decode_loop import DecodeLoop, DecodeSettings
from anygpt_desktop.engine.decode_strategies import ScriptedIds
from anygpt_desktop.engine.sampling import SamplingParams
from anygpt_desktop.protocol.prompts import Conversation, interleaved_user_message
from anygpt_desktop.protocol.stream_parser import StreamParser
from anygpt_desktop.protocol.vocab import (
    ANYGPT_ID,
    END_OF_HUMAN_ID,
    END_OF_TURN_IDS,
    HUMAN_ID,
    LLAMA_VOCAB_SIZE,
    MMGPT_ID,
    UNIT_BASE_ID,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llm(loaded_assistant_factory):
    return loaded_assistant_factory().llm


def _prompt(llm, text="hello", history=()):
    conv = Conversation()
    for user, reply in history:
        conv.append_user(interleaved_user_message(user))
        conv.append_assistant(reply)
    return llm.tokenizer.encode(conv.render(interleaved_user_message(text)))


def _parse(llm, ids):
    parser = StreamParser(llm.tokenizer)
    parser.feed_many(ids)
    parser.finish()
    return parser


@pytest.mark.parametrize("modality", ["image", "speech", "music"])
def test_free_sampling_gives_a_well_formed_requested_span(llm, modality):
    loop = DecodeLoop(llm)
    settings = DecodeSettings(force_modality=modality, max_text_tokens=8, max_speech_units=40, max_music_units=40, seed=3)
    ids = list(loop.run(_prompt(llm), settings))
    parser = _parse(llm, ids)
    spans = [s for s in parser.spans if s.modality == modality]
    assert spans and all(s.valid and s.complete for s in spans), parser.diagnostics
    assert parser.ended in ("eos", "eom", "end_of_text")
    if modality == "image":
        assert len(spans[0].units) == 32


def test_no_units_outside_spans_and_no_role_markers(llm):
    loop = DecodeLoop(llm)
    ids = list(loop.run(_prompt(llm), DecodeSettings(max_text_tokens=60, seed=1)))
    parser = _parse(llm, ids)
    assert not [d for d in parser.diagnostics if d.code in ("stray_token", "stray_end_tag", "new_turn")]
    assert all(i not in (HUMAN_ID, MMGPT_ID, END_OF_HUMAN_ID, ANYGPT_ID) for i in ids)


def test_seeded_runs_repeat(llm):
    s = DecodeSettings(max_text_tokens=20, seed=11)
    a = list(DecodeLoop(llm).run(_prompt(llm), s))
    b = list(DecodeLoop(llm).run(_prompt(llm), s))
    c = list(DecodeLoop(llm).run(_prompt(llm), DecodeSettings(max_text_tokens=20, seed=12)))
    assert a == b and a != c


def test_kv_cache_across_turns_gives_the_same_tokens_as_a_fresh_run(llm):
    greedy = SamplingParams(do_sample=False)
    s = DecodeSettings(text=greedy, max_text_tokens=10)
    loop = DecodeLoop(llm)
    first = list(loop.run(_prompt(llm, "first question"), s))
    reply = ": " + llm.tokenizer.decode(first[:-1])
    second_prompt = _prompt(llm, "second question", history=[("first question", reply)])
    cached = list(loop.run(second_prompt, s))
    assert loop.last_stats.cached_tokens > 20  # the system prompt and the first question were not recomputed
    fresh = list(DecodeLoop(llm).run(second_prompt, s))
    assert cached == fresh


def test_cancel_stops_between_tokens(llm):
    from anygpt_desktop.cancel import TaskState

    state = TaskState()
    loop = DecodeLoop(llm)
    ids = []
    for token in loop.run(_prompt(llm), DecodeSettings(max_text_tokens=100, seed=0), state):
        ids.append(token)
        if len(ids) == 3:
            state.cancel()
    assert len(ids) == 3


def test_forced_ids_must_respect_the_grammar(llm):
    loop = DecodeLoop(llm)
    with pytest.raises(ValueError, match="not allowed"):
        list(loop.run(_prompt(llm), DecodeSettings(), strategy=ScriptedIds([UNIT_BASE_ID["speech"]])))  # a speech unit outside a span


def test_beam_sampling_option_for_text_replies(llm):
    loop = DecodeLoop(llm)
    settings = DecodeSettings(text=SamplingParams.from_reference("chat"), text_beams=5, max_text_tokens=8, seed=0)
    ids = list(loop.run(_prompt(llm), settings))
    assert 1 <= len(ids) <= 9
    assert all(i < LLAMA_VOCAB_SIZE or i in END_OF_TURN_IDS for i in ids)  # text and end tags only
    parser = _parse(llm, ids)
    assert not parser.spans


def test_spoken_replies_have_a_minimum_length(llm):
    settings = DecodeSettings(force_modality="speech", max_text_tokens=4, min_speech_units=30, max_speech_units=60, seed=5)
    parser = _parse(llm, list(DecodeLoop(llm).run(_prompt(llm), settings)))
    speech = [s for s in parser.spans if s.modality == "speech"]
    assert speech and all(30 <= len(s.units) <= 60 for s in speech)


def test_a_failure_inside_the_turn_resets_the_backend(llm):
    from anygpt_desktop.engine.eager_backend import EagerBackend

    backend = EagerBackend(llm)
    real_step, calls = backend.step, []

    def failing_step(token):
        calls.append(token)
        if len(calls) == 3:
            raise RuntimeError("device lost")
        return real_step(token)

    backend.step = failing_step
    loop = DecodeLoop(llm, backend)
    with pytest.raises(RuntimeError, match="device lost"):
        list(loop.run(_prompt(llm), DecodeSettings(max_text_tokens=20, seed=0)))
    assert backend.cached_ids() == []  # the next turn recomputes its whole prompt
    list(loop.run(_prompt(llm), DecodeSettings(max_text_tokens=3, seed=0)))
    assert loop.last_stats.cached_tokens == 0 and len(backend.cached_ids()) > 0
