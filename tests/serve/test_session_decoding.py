"""A session's decoding settings on a served engine: sampling as asked, lengths and beams capped by the server."""

from __future__ import annotations

import pytest

from anygpt_desktop.engine.decode_settings import DecodeSettings, SamplingParams
from anygpt_desktop.engine_process import protocol as p
from anygpt_desktop.serve.session_decoding import DecodingRefused, session_decode


def test_sampling_is_taken_and_lengths_are_capped_by_the_server() -> None:
    server = DecodeSettings(max_text_tokens=100, max_speech_units=500, text_beams=1)
    asked = DecodeSettings(max_text_tokens=5000, max_speech_units=50, text_beams=4, seed=3, force_modality="image",
                           speech=SamplingParams(temperature=0.3, top_k=7))
    got = session_decode({"decode": p.settings_to_json(asked)}, server)
    assert (got.max_text_tokens, got.max_speech_units, got.text_beams) == (100, 50, 1)
    assert got.speech == SamplingParams(temperature=0.3, top_k=7) and got.seed == 3
    assert got.force_modality is None  # what a turn is for stays the server's


@pytest.mark.parametrize("data", [{"decode": {}, "llm_api_key": "secret"}, {"device": "cuda"}, [],
                                  {"decode": {"max_text_tokens": "many"}}, {"decode": {"no_such": 1}}])
def test_anything_but_readable_decoding_settings_is_refused(data: object) -> None:
    with pytest.raises(DecodingRefused):
        session_decode(data, DecodeSettings())
