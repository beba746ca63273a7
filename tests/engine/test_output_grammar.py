"""The output grammar as a logit filter (ids and tensors only), the sampling step and the scripted-ids strategy,
without a model."""

from __future__ import annotations

import pytest
import torch

from anygpt_desktop.engine.decode_settings import DecodeSettings
from anygpt_desktop.engine.decode_strategies import Sampler, ScriptedIds
from anygpt_desktop.engine.output_grammar import OutputGrammar
from anygpt_desktop.engine.sampling import SamplingParams, apply_repetition_penalty, choose
from anygpt_desktop.protocol.units import IMAGE_UNITS_PER_IMAGE, MUSIC_CODEBOOK_SIZE
from anygpt_desktop.protocol.vocab import (
    CHAT_VOCAB_SIZE,
    END_OF_MMGPT_ID,
    END_OF_TURN_IDS,
    FIRST_TEXT_ID,
    LLAMA_VOCAB_SIZE,
    ROLE_IDS,
    SPAN_IDS,
    UNIT_BASE_ID,
)

V = CHAT_VOCAB_SIZE


def grammar(**settings) -> OutputGrammar:
    return OutputGrammar(V, "cpu", DecodeSettings(**settings))


def test_text_mask_has_text_and_turn_ends_but_no_units_or_roles() -> None:
    m = grammar().allowed_mask()
    assert m.dtype == torch.bool and m.shape == (V,)
    assert m[FIRST_TEXT_ID:LLAMA_VOCAB_SIZE].all() and not m[:FIRST_TEXT_ID - 1].any()
    assert all(m[i] for i in END_OF_TURN_IDS) and not any(m[i] for i in ROLE_IDS)
    assert not m[UNIT_BASE_ID["speech"]] and m[SPAN_IDS["speech"][0]]


def test_masks_are_precomputed_not_built_per_step() -> None:
    g = grammar(force_modality="speech", open_immediately=True, min_speech_units=2)
    assert g.forced_id() == SPAN_IDS["speech"][0]
    g.advance(SPAN_IDS["speech"][0])
    first = g.allowed_mask()
    g.advance(UNIT_BASE_ID["speech"])
    assert g.allowed_mask() is first  # the same tensor object: no allocation per step
    assert not first[SPAN_IDS["speech"][1]]  # too short to end
    g.advance(UNIT_BASE_ID["speech"])
    assert g.allowed_mask()[SPAN_IDS["speech"][1]]


def test_image_span_is_exactly_32_units_then_the_end_is_forced() -> None:
    g = grammar(force_modality="image", open_immediately=True, end_after_forced_span=True)
    g.advance(g.forced_id())
    for _ in range(IMAGE_UNITS_PER_IMAGE):
        assert g.forced_id() is None and not g.allowed_mask()[SPAN_IDS["image"][1]]
        g.advance(UNIT_BASE_ID["image"])
    assert g.forced_id() == SPAN_IDS["image"][1]
    g.advance(SPAN_IDS["image"][1])
    assert g.forced_id() == END_OF_MMGPT_ID
    assert g.advance(END_OF_MMGPT_ID) is True


def test_music_keeps_the_codebook_phase_and_ends_on_a_frame() -> None:
    g = grammar(force_modality="music", open_immediately=True)
    g.advance(g.forced_id())
    base, end = UNIT_BASE_ID["music"], SPAN_IDS["music"][1]
    for k in range(8):
        m = g.allowed_mask()
        phase = k % 4
        assert m[base + MUSIC_CODEBOOK_SIZE * phase] and not m[base + MUSIC_CODEBOOK_SIZE * ((phase + 1) % 4)]
        assert bool(m[end]) == (k > 0 and phase == 0)
        g.advance(base + MUSIC_CODEBOOK_SIZE * phase)


def test_a_requested_span_is_opened_when_the_text_runs_long() -> None:
    g = grammar(force_modality="speech", max_text_tokens=3, max_text_before_span=2)
    assert not g.allowed_mask()[END_OF_MMGPT_ID]  # the turn may not end before the span
    g.advance(FIRST_TEXT_ID + 10)
    assert g.forced_id() is None
    g.advance(FIRST_TEXT_ID + 11)
    assert g.forced_id() == SPAN_IDS["speech"][0]


def test_repetition_penalty_without_boolean_indexing_matches_hf_rule() -> None:
    logits = torch.tensor([2.0, -2.0, 1.0, -1.0, 0.5])
    seen = torch.tensor([True, True, False, False, True])
    out = apply_repetition_penalty(logits, seen, 2.0)
    assert out.tolist() == [1.0, -4.0, 1.0, -1.0, 0.25]
    assert apply_repetition_penalty(logits, seen, 1.0) is logits


def test_choose_returns_a_device_tensor_and_is_seeded() -> None:
    logits = torch.randn(V, generator=torch.Generator().manual_seed(0))
    allowed = grammar().allowed_mask()
    params = SamplingParams(temperature=0.8, top_k=40, top_p=0.9, repetition_penalty=1.2)
    seen = torch.zeros(V, dtype=torch.bool)
    a = choose(logits, params, allowed, seen, torch.Generator().manual_seed(5))
    b = choose(logits, params, allowed, seen, torch.Generator().manual_seed(5))
    assert isinstance(a, torch.Tensor) and a.dim() == 0 and a.dtype == torch.long
    assert int(a) == int(b) and allowed[a]
    greedy = choose(logits, SamplingParams(do_sample=False), allowed, None, None)
    assert int(greedy) == int(torch.argmax(logits.masked_fill(~allowed, float("-inf"))))


def test_sampler_takes_forced_ids_and_marks_what_it_chose_as_seen() -> None:
    settings = DecodeSettings(force_modality="speech", open_immediately=True, seed=1)
    sampler = Sampler(settings, [FIRST_TEXT_ID], V, torch.device("cpu"))
    g = OutputGrammar(V, "cpu", settings)
    logits = torch.zeros(V)
    assert sampler.next_id(logits, g) == SPAN_IDS["speech"][0]
    g.advance(SPAN_IDS["speech"][0])
    token = sampler.next_id(logits, g)
    assert isinstance(token, torch.Tensor) and 0 <= int(token) - UNIT_BASE_ID["speech"] < 1024
    assert sampler.seen[int(token)] and sampler.seen[FIRST_TEXT_ID] and sampler.seen[SPAN_IDS["speech"][0]]


def test_scripted_ids_insert_forced_ids_consume_matching_ones_and_end_with_the_script() -> None:
    g = grammar(force_modality="image", open_immediately=True, end_after_forced_span=True)
    units = [UNIT_BASE_ID["image"] + k for k in range(IMAGE_UNITS_PER_IMAGE)]
    script = ScriptedIds(units + [SPAN_IDS["image"][1]])  # no start tag (inserted), its own end tag (consumed)
    logits = torch.zeros(V)
    out = []
    while (token := script.next_id(logits, g)) is not None:
        out.append(token)
        if g.advance(token):
            break
    assert out == [SPAN_IDS["image"][0], *units, SPAN_IDS["image"][1], END_OF_MMGPT_ID]
    assert ScriptedIds([]).next_id(logits, grammar()) is None


def test_scripted_ids_must_respect_the_grammar() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        ScriptedIds([UNIT_BASE_ID["speech"]]).next_id(torch.zeros(V), grammar())
