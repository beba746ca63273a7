"""Pins the ids the decode loop chose on the tiny kit before the loop was split into backend, grammar and strategies.

Greedy and seeded sampling must stay bit-identical through refactors (the ids are compared as a digest so that the
token-id literals live only in the protocol layer; run this file with ``ANYGPT_PRINT_PINS=1`` to see the new digests).
"""

from __future__ import annotations

import hashlib
import os

import pytest

from anygpt_desktop.engine.decode_loop import DecodeSettings
from anygpt_desktop.engine.sampling import SamplingParams
from anygpt_desktop.protocol.prompts import Conversation, interleaved_user_message

pytestmark = pytest.mark.slow

GREEDY = SamplingParams(do_sample=False)
PENALISED_GREEDY = SamplingParams(do_sample=False, repetition_penalty=1.3)
NUCLEUS = SamplingParams(temperature=0.7, top_k=40, top_p=0.9, repetition_penalty=1.1)

CASES: dict[str, DecodeSettings] = {
    "greedy_text": DecodeSettings(text=GREEDY, max_text_tokens=24),
    "greedy_penalised_text": DecodeSettings(text=PENALISED_GREEDY, max_text_tokens=24),
    "seeded_text": DecodeSettings(max_text_tokens=24, seed=11),
    "seeded_nucleus_text": DecodeSettings(text=NUCLEUS, max_text_tokens=24, seed=4),
    "seeded_speech": DecodeSettings(force_modality="speech", max_text_tokens=6, min_speech_units=10,
                                    max_speech_units=40, seed=5),
    "greedy_speech": DecodeSettings(text=GREEDY, speech=PENALISED_GREEDY, force_modality="speech", max_text_tokens=3,
                                    min_speech_units=5, max_speech_units=30),
    "seeded_image": DecodeSettings(force_modality="image", open_immediately=True, end_after_forced_span=True, seed=6),
    "seeded_music": DecodeSettings(force_modality="music", max_text_tokens=5, max_music_units=42, seed=7),
    "seeded_beams": DecodeSettings(text=SamplingParams.from_reference("chat"), text_beams=3, max_text_tokens=8, seed=0),
}

PINS = {
    "greedy_text": "25:c96fe41d64cfba7d",
    "greedy_penalised_text": "25:c96fe41d64cfba7d",
    "seeded_text": "25:3e578d13cc952e70",
    "seeded_nucleus_text": "25:cbe82e5b2d54e3a2",
    "seeded_speech": "49:83678c9f689adce2",
    "greedy_speech": "36:0597773830116889",
    "seeded_image": "35:910ba227aed9abde",
    "seeded_music": "48:d3a25222c1bf30e9",
    "seeded_beams": "9:5bc2421ec513fc77",
    "kv_reuse_second_turn": "22:3745ff79dbf2d4f0",
}


def _digest(ids: list[int]) -> str:
    return f"{len(ids)}:" + hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]


def _check(name: str, ids: list[int]) -> None:
    if os.environ.get("ANYGPT_PRINT_PINS"):
        print(f'    "{name}": "{_digest(ids)}",')
    assert _digest(ids) == PINS[name], f"{name}: the decode loop chose different ids ({ids})"


@pytest.fixture(scope="module")
def llm(loaded_assistant_factory):
    return loaded_assistant_factory().llm


def _prompt(llm, text="hello there", history=()):
    conv = Conversation()
    for user, reply in history:
        conv.append_user(interleaved_user_message(user))
        conv.append_assistant(reply)
    return llm.tokenizer.encode(conv.render(interleaved_user_message(text)))


def _loop(llm):
    from anygpt_desktop.engine.decode_loop import DecodeLoop

    return DecodeLoop(llm)


@pytest.mark.parametrize("name", list(CASES))
def test_ids_are_pinned(llm, name):
    _check(name, list(_loop(llm).run(_prompt(llm), CASES[name])))


def test_ids_are_pinned_with_kv_reuse(llm):
    loop = _loop(llm)
    settings = DecodeSettings(text=PENALISED_GREEDY, max_text_tokens=10, seed=3)
    first = list(loop.run(_prompt(llm, "first question"), settings))
    reply = ": " + llm.tokenizer.decode(first[:-1])
    second = list(loop.run(_prompt(llm, "second question", history=[("first question", reply)]), settings))
    assert loop.last_stats.cached_tokens > 20
    _check("kv_reuse_second_turn", first + second)
