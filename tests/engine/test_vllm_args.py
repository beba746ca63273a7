"""The decode settings travel through vLLM's extra arguments unchanged, and malformed ones are refused."""

from __future__ import annotations

import json

import pytest

from anygpt_desktop.engine.decode_settings import DecodeSettings, SamplingParams
from anygpt_desktop.engine.vllm_args import (
    XARGS_KEY,
    DecodeArgsError,
    decode_settings_from_extra_args,
    decode_settings_to_xargs,
)


def test_round_trip_keeps_every_field() -> None:
    settings = DecodeSettings(
        speech=SamplingParams(do_sample=True, temperature=0.7, top_k=5, top_p=0.9, repetition_penalty=1.3),
        force_modality="music", open_immediately=True, end_after_forced_span=True, seed=7, max_music_units=402,
    )
    xargs = decode_settings_to_xargs(settings)
    assert list(xargs) == [XARGS_KEY] and isinstance(xargs[XARGS_KEY], str)  # vllm_xargs values are scalars
    assert decode_settings_from_extra_args(xargs) == settings


def test_other_requests_are_not_anygpt_turns() -> None:
    assert decode_settings_from_extra_args(None) is None
    assert decode_settings_from_extra_args({"something": "else"}) is None


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"surprise": 1}),
        json.dumps({"force_modality": "video"}),
        json.dumps({"seed": "7"}),
        json.dumps({"max_speech_units": -1}),
        json.dumps({"open_immediately": 1}),
        json.dumps({"speech": {"top_k": "all"}}),
        json.dumps({"speech": 3}),
    ],
)
def test_malformed_arguments_are_refused(data: str) -> None:
    with pytest.raises(DecodeArgsError):
        decode_settings_from_extra_args({XARGS_KEY: data})


def test_beam_sampling_is_not_sent() -> None:
    with pytest.raises(DecodeArgsError):
        decode_settings_to_xargs(DecodeSettings(text_beams=3))
