"""Music codes <-> units <-> LLM ids: frame-major flattening, strict inverse, the reference's lenient rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from anygpt_desktop.modalities.music import units
from anygpt_desktop.modalities.music.errors import MusicUnitError
from anygpt_desktop.protocol.vocab import SPAN_IDS, UNIT_BASE_ID

CODES = np.array([[5, 6, 7], [0, 1, 2], [2047, 0, 9], [10, 11, 12]])


def test_flattening_is_frame_major_with_codebook_offsets() -> None:
    values = units.codes_to_values(CODES)
    assert values.tolist() == [5, 2048, 4096 + 2047, 6144 + 10, 6, 2049, 4096, 6155, 7, 2050, 4105, 6156]
    assert units.codes_to_llm_ids(CODES)[:2] == [UNIT_BASE_ID["music"] + 5, UNIT_BASE_ID["music"] + 2048]


def test_string_form_and_round_trips() -> None:
    text = units.codes_to_string(CODES)
    assert text.startswith("<somu><\U0001f3b65><\U0001f3b62048>") and text.endswith("<\U0001f3b66156><eomu>")
    assert " " not in text
    np.testing.assert_array_equal(units.string_to_codes(text), CODES)
    np.testing.assert_array_equal(units.llm_ids_to_codes(units.codes_to_llm_ids(CODES)), CODES)
    assert units.codes_to_string(CODES, tags=False) == text[len("<somu>") : -len("<eomu>")]


def test_strict_inverse_refuses_partial_frames_and_wrong_phase() -> None:
    values = units.codes_to_values(CODES).tolist()
    with pytest.raises(MusicUnitError, match="not whole frames"):
        units.values_to_codes(values[:-1])
    with pytest.raises(MusicUnitError, match="out of phase"):
        units.values_to_codes(values[1:] + [values[0]])
    with pytest.raises(MusicUnitError, match="0..8191"):
        units.values_to_codes([8192, 2048, 4096, 6144])
    with pytest.raises(MusicUnitError, match="not a music unit"):
        units.llm_ids_to_codes([SPAN_IDS["speech"][0]])


def test_lenient_inverse_is_the_reference_rule() -> None:
    values = units.codes_to_values(CODES).tolist()
    shifted = units.values_to_codes(values[1:], lenient=True)  # 11 units: last partial frame dropped, % 2048
    assert shifted.shape == (4, 2)
    assert shifted[:, 0].tolist() == [0, 2047, 10, 6]


def test_bad_code_arrays_are_refused() -> None:
    with pytest.raises(MusicUnitError, match="shape"):
        units.codes_to_values(np.zeros((3, 5), dtype=int))
    with pytest.raises(MusicUnitError, match="0..2047"):
        units.codes_to_values(np.full((4, 2), 2048))


def test_matches_the_reference_token_string(reference_dir: Path) -> None:
    music = reference_dir / "golden" / "music"
    expected = json.loads((music / "expected.json").read_text(encoding="utf-8"))
    codes = np.load(music / "audio_codes.npy")[0, 0]
    assert units.codes_to_string(codes) == expected["token_string"]
    assert units.codes_to_llm_ids(codes) == expected["llm_ids"]
    content = expected["token_string"][len("<somu>") : -len("<eomu>")]
    misaligned = units.values_to_codes(units.string_to_values(content)[1:], lenient=True)
    np.testing.assert_array_equal(misaligned, np.load(music / "misaligned_content_codes.npy")[0, 0])
