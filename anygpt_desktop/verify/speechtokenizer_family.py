"""``speechtokenizer``: our SpeechTokenizer and 16 kHz resampler against ``golden/speechtokenizer``.

Cases: per model case (``expected.json`` -> ``cases``) codes (exact, or a near tie below the reference's own float32
resolution: see :mod:`anygpt_desktop.verify.rvq_codes`), decoded and encoder output (max abs error); the resampler on
the crop of the file ``expected.json`` names (soxr's difference is reported alongside); the CLI ``encode_speech``
units and unit string for the whole voice-prompt file. Every input file name comes from ``expected.json``.

Tolerances (relative to max(1, max|ref|)) = TOLERANCE_MARGIN x the error measured on the shared kit at 1 and 4
threads: encoder output 2.6e-7, decoded 1.0e-7, resampler 8.9e-8 (absolute).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from anygpt_desktop.verify import CaseResult, Kit, float_tolerance

FAMILY = "speechtokenizer"
ENCODER_TOLERANCE = 3e-6
DECODER_TOLERANCE = 2e-6
RESAMPLE_TOLERANCE = 1e-6


def _max_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


def _model_cases(kit: Kit, model: object, expected: dict) -> Iterator[CaseResult]:
    from anygpt_desktop.verify.rvq_codes import compare_rvq_codes

    folder = kit.golden / FAMILY
    for case in expected["cases"]:
        name = case["name"]
        x = torch.from_numpy(np.load(folder / f"{name}_input_16k.npy"))[None, None]
        ref_codes = np.load(folder / f"{name}_codes.npy")
        codes = model.encode(x)  # type: ignore[attr-defined]
        if tuple(codes.shape) != ref_codes.shape or list(ref_codes.shape) != case["codes_shape"]:
            yield CaseResult(FAMILY, f"{name}/codes", False, detail=f"shape {list(codes.shape)} != {list(ref_codes.shape)}")
        else:
            with torch.inference_mode():
                enc = model.encoder_features(x)  # type: ignore[attr-defined]
            comparison = compare_rvq_codes(model, enc, ref_codes)
            ok, detail = comparison.passed, comparison.summary()
            if not comparison.near_ties and not comparison.wrong and not np.array_equal(codes.numpy(), ref_codes):
                ok, detail = False, "encode() disagrees with the layer-by-layer search"
            yield CaseResult(FAMILY, f"{name}/codes", ok, detail=detail)
        with torch.inference_mode():
            enc = model.encoder_features(x).numpy()  # type: ignore[attr-defined]
        ref_enc = np.load(folder / f"{name}_encoder_out.npy")
        yield _float_case(f"{name}/encoder_out", enc, ref_enc, ENCODER_TOLERANCE)
        dec = model.decode(torch.from_numpy(ref_codes)).numpy()  # type: ignore[attr-defined]
        yield _float_case(f"{name}/decoded", dec, np.load(folder / f"{name}_decoded.npy"), DECODER_TOLERANCE)


def _float_case(name: str, got: np.ndarray, ref: np.ndarray, rel: float) -> CaseResult:
    if got.shape != ref.shape:
        return CaseResult(FAMILY, name, False, detail=f"shape {list(got.shape)} != {list(ref.shape)}")
    err = _max_err(got, ref)
    tol = float_tolerance(float(np.abs(ref).max()), rel)
    return CaseResult(FAMILY, name, err <= tol, err, f"tol {tol:.0e}")


def _resample_case(kit: Kit) -> CaseResult:
    from anygpt_desktop.modalities.speech.resample import resample_sinc, resample_soxr

    folder = kit.golden / FAMILY
    info = kit.json(f"golden/{FAMILY}/expected.json")["resample"]
    x = _resample_input(kit, info)
    ref = np.load(folder / info.get("output_file", "resample_output_16k.npy"))
    got = resample_sinc(x, info["orig_sr"], 16000).numpy()
    if got.shape != ref.shape:
        return CaseResult(FAMILY, "resample", False, detail=f"shape {list(got.shape)} != {list(ref.shape)}")
    err = _max_err(got, ref)
    soxr_out = resample_soxr(x, info["orig_sr"], 16000)
    n = min(len(soxr_out), len(ref))
    soxr_err = _max_err(soxr_out[:n], ref[:n])
    soxr_rms = float(np.sqrt(np.mean((soxr_out[:n].astype(np.float64) - ref[:n]) ** 2)))
    detail = f"sinc resampler, tol {RESAMPLE_TOLERANCE:.0e}; for comparison soxr VHQ max {soxr_err:.3g} rms {soxr_rms:.3g}"
    return CaseResult(FAMILY, "resample", err <= RESAMPLE_TOLERANCE, err, detail)


def _resample_input(kit: Kit, info: dict) -> np.ndarray:
    """The crop ``expected.json`` describes: channel 0 of ``file`` from ``start_sample``, ``input_samples`` long, read
    the reference's way (16-bit PCM as int16 / 32768); a kit may instead name a ready ``input_file``."""
    import soundfile as sf

    if "input_file" in info:
        return np.load(kit.golden / FAMILY / info["input_file"])
    start = int(info.get("start_sample", 0))
    data, rate = sf.read(kit.root / info["file"], start=start, frames=int(info["input_samples"]), dtype="float32",
                         always_2d=True)
    if rate != info["orig_sr"]:
        raise ValueError(f"{info['file']} is at {rate} Hz, expected.json says {info['orig_sr']} Hz")
    return np.ascontiguousarray(data[:, 0])


def _cli_case(kit: Kit, model: object, expected: dict) -> CaseResult:
    from anygpt_desktop.audio.files import load_audio
    from anygpt_desktop.protocol.units import units_to_string
    from anygpt_desktop.verify.rvq_codes import compare_rvq_codes

    info = expected["cli_encode_speech"]
    # the speech input rule of the reference: channel 0, torchaudio's sinc resampler to 16 kHz
    wav = load_audio(kit.root / info["file"], 16000, channel_rule="first", method="sinc", allow_silent=True)
    x = torch.from_numpy(wav)[None, None]
    units = model.encode(x)[0, 0].tolist()  # type: ignore[attr-defined]
    if len(units) != len(info["units"]):
        return CaseResult(FAMILY, "cli_encode_speech", False, detail=f"{len(units)} units, expected {len(info['units'])}")
    with torch.inference_mode():
        features = model.encoder_features(x)  # type: ignore[attr-defined]
    comparison = compare_rvq_codes(model, features, np.asarray(info["units"])[None, None])
    text_ok = units_to_string("speech", info["units"]) == info["unit_string"]  # our formatter, the reference's units
    ok = comparison.passed and text_ok and (units == info["units"] or bool(comparison.near_ties))
    detail = comparison.summary() + ("" if text_ok else "; unit string differs")
    return CaseResult(FAMILY, "cli_encode_speech", ok, detail=detail)


def run(kit: Kit) -> Iterator[CaseResult]:
    from anygpt_desktop.modalities.speech.speechtokenizer import load_speechtokenizer

    folder = kit.golden / FAMILY
    expected = kit.json(f"golden/{FAMILY}/expected.json")
    model = load_speechtokenizer(folder / "config.json", folder / "ckpt.dev")
    yield from _model_cases(kit, model, expected)
    yield _resample_case(kit)
    yield _cli_case(kit, model, expected)
