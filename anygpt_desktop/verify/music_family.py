"""``music``: Encodec 32 kHz crop, codes, unit string, decode and the reference's lenient re-framing.

Everything comes from ``golden/music/`` (``expected.json``, the ``.npy`` arrays, ``encodec_tiny/``); file names and
the crop are read from the kit. Each stage starts from the reference's own input to that stage (the crop from the
music file, the codes from the reference's recorded crop, the unit string from the reference's codes), so every case
compares what this project computed with what the reference recorded. Integers must match exactly; floats within
``FLOAT_TOLERANCE`` (relative): the measured error is 0 for the crop and the decode at 1 and 4 threads, so the
tolerance is TOLERANCE_MARGIN times 1e-7 (about one float32 rounding step of O(1) values).
"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterator

import numpy as np

from anygpt_desktop.verify import CaseResult, Kit, float_tolerance

FAMILY = "music"
FLOAT_TOLERANCE = 1e-6


def _float_case(name: str, ours: np.ndarray, ref: np.ndarray) -> CaseResult:
    if ours.shape != ref.shape:
        return CaseResult(FAMILY, name, False, detail=f"shape {list(ours.shape)} != {list(ref.shape)}")
    err = float(np.max(np.abs(ours.astype(np.float64) - ref.astype(np.float64)))) if ref.size else 0.0
    tol = float_tolerance(float(np.max(np.abs(ref))) if ref.size else 0.0, FLOAT_TOLERANCE)
    return CaseResult(FAMILY, name, err <= tol, max_error=err, detail=f"tolerance {tol:.3g}")


def _exact_case(name: str, ours: np.ndarray, ref: np.ndarray) -> CaseResult:
    if ours.shape != ref.shape:
        return CaseResult(FAMILY, name, False, detail=f"shape {list(ours.shape)} != {list(ref.shape)}")
    diff = int(np.count_nonzero(ours != ref))
    return CaseResult(FAMILY, name, diff == 0, detail=f"{diff} of {ref.size} values differ" if diff else "exact")


def _guard(name: str, check: Callable[[], CaseResult]) -> CaseResult:
    try:
        return check()
    except Exception as exc:  # one broken case must not hide the others
        return CaseResult(FAMILY, name, False, detail=f"{type(exc).__name__}: {exc}")


def run(kit: Kit) -> Iterator[CaseResult]:
    from anygpt_desktop.modalities.music import units
    from anygpt_desktop.modalities.music.audio_file import load_music_file
    from anygpt_desktop.modalities.music.codec import EncodecMusic
    from anygpt_desktop.modalities.music.errors import MusicUnitError

    folder = kit.golden / FAMILY
    expected: dict[str, Any] = kit.json(f"golden/{FAMILY}/expected.json")

    def npy(name: str) -> np.ndarray:
        return np.load(folder / name)

    state: dict[str, Any] = {}

    def crop() -> CaseResult:
        rng = random.Random(expected["python_random_seed"])
        clip = load_music_file(kit.root / expected["music_file"], segment_s=expected["segment_s"], rng=rng)
        facts = (clip.start_frame, clip.file_frames, clip.file_rate)
        want = (expected["crop_start_sample"], expected["file_frames"], expected["file_sample_rate"])
        if facts != want:
            return CaseResult(FAMILY, "crop", False, detail=f"(start, frames, rate) {facts} != {want}")
        return _float_case("crop", clip.samples, npy("input_32k.npy"))

    yield _guard("crop", crop)

    def encode() -> CaseResult:
        model = EncodecMusic.load(folder / "encodec_tiny")
        state["model"] = model
        codes = model.encode(npy("input_32k.npy"))  # the reference's crop, so a crop failure stays local
        ref = npy("audio_codes.npy")
        return _exact_case("encode_codes", codes[None, None], ref)

    yield _guard("encode_codes", encode)

    def token_string() -> CaseResult:
        codes = npy("audio_codes.npy")[0, 0]  # the reference's codes -> our unit string and LLM ids
        text = units.codes_to_string(codes)
        ids = units.codes_to_llm_ids(codes)
        if text != expected["token_string"]:
            return CaseResult(FAMILY, "token_string", False, detail="unit string differs")
        if ids != expected["llm_ids"] or len(ids) != expected["num_unit_tokens"]:
            return CaseResult(FAMILY, "token_string", False, detail="LLM ids differ")
        back = units.llm_ids_to_codes(ids)
        if not np.array_equal(back, codes):
            return CaseResult(FAMILY, "token_string", False, detail="ids -> codes round trip differs")
        return CaseResult(FAMILY, "token_string", True, detail=f"{len(ids)} units exact, round trip exact")

    yield _guard("token_string", token_string)

    def content() -> str:
        text = expected["token_string"]
        return text[len(units.START_TAG) : -len(units.END_TAG)]

    def decode() -> CaseResult:
        model = state.get("model") or EncodecMusic.load(folder / "encodec_tiny")
        codes = units.string_to_codes(content(), lenient=True)
        wav = model.decode(codes)[None, :]
        ref = npy("decoded_wav.npy")
        if list(ref.shape) != expected["decoded_wav_shape"]:
            return CaseResult(FAMILY, "decode", False, detail="kit's decoded_wav shape disagrees with expected.json")
        return _float_case("decode", wav, ref)

    yield _guard("decode", decode)

    def misaligned() -> CaseResult:
        values = units.string_to_values(content())[1:]
        ours = units.values_to_codes(values, lenient=True)[None, None]
        result = _exact_case("misaligned_lenient", ours, npy("misaligned_content_codes.npy"))
        if not result.passed:
            return result
        refusals = []
        for span in (values, values[: len(values) - len(values) % units.NUM_CODEBOOKS]):
            try:
                units.values_to_codes(span)
            except MusicUnitError as exc:
                refusals.append(str(exc).split(":")[0])
            else:
                return CaseResult(FAMILY, "misaligned_lenient", False, detail="strict mode accepted a shifted span")
        detail = "lenient exact; strict refuses: " + "; ".join(refusals)
        return CaseResult(FAMILY, "misaligned_lenient", True, detail=detail)

    yield _guard("misaligned_lenient", misaligned)
