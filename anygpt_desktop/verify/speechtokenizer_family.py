"""``speechtokenizer``: our SpeechTokenizer and 16 kHz resampler against ``golden/speechtokenizer``.

Cases: per model case (``expected.json`` -> ``cases``) codes (exact), decoded and encoder output (max abs error,
kit tolerance); the resampler (tolerance 1e-5; soxr's difference is reported alongside); the CLI ``encode_speech``
units and unit string for the whole voice-prompt file.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from anygpt_desktop.verify import CaseResult, Kit, float_tolerance

FAMILY = "speechtokenizer"
RESAMPLE_TOLERANCE = 1e-5


def _max_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


def _model_cases(kit: Kit, model: object, expected: dict) -> Iterator[CaseResult]:
    folder = kit.golden / FAMILY
    for case in expected["cases"]:
        name = case["name"]
        x = torch.from_numpy(np.load(folder / f"{name}_input_16k.npy"))[None, None]
        ref_codes = np.load(folder / f"{name}_codes.npy")
        codes = model.encode(x)  # type: ignore[attr-defined]
        same_shape = tuple(codes.shape) == ref_codes.shape
        wrong = int((codes.numpy() != ref_codes).sum()) if same_shape else -1
        yield CaseResult(FAMILY, f"{name}/codes", same_shape and wrong == 0,
                         detail=f"shape {list(codes.shape)}" + ("" if wrong <= 0 else f", {wrong} codes differ"))
        with torch.inference_mode():
            enc = model.encoder_features(x).numpy()  # type: ignore[attr-defined]
        ref_enc = np.load(folder / f"{name}_encoder_out.npy")
        yield _float_case(f"{name}/encoder_out", enc, ref_enc)
        dec = model.decode(torch.from_numpy(ref_codes)).numpy()  # type: ignore[attr-defined]
        yield _float_case(f"{name}/decoded", dec, np.load(folder / f"{name}_decoded.npy"))


def _float_case(name: str, got: np.ndarray, ref: np.ndarray) -> CaseResult:
    if got.shape != ref.shape:
        return CaseResult(FAMILY, name, False, detail=f"shape {list(got.shape)} != {list(ref.shape)}")
    err = _max_err(got, ref)
    tol = float_tolerance(float(np.abs(ref).max()))
    return CaseResult(FAMILY, name, err <= tol, err, f"tol {tol:.0e}")


def _resample_case(kit: Kit) -> CaseResult:
    from anygpt_desktop.modalities.speech.resample import resample_sinc, resample_soxr

    folder = kit.golden / FAMILY
    info = kit.json(f"golden/{FAMILY}/expected.json")["resample"]
    x = np.load(folder / "resample_input_22050.npy")
    ref = np.load(folder / "resample_output_16k.npy")
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


def _cli_case(kit: Kit, model: object, expected: dict) -> CaseResult:
    from anygpt_desktop.audio.files import load_audio

    info = expected["cli_encode_speech"]
    # the speech input rule of the reference: channel 0, torchaudio's sinc resampler to 16 kHz
    wav = load_audio(kit.root / info["file"], 16000, channel_rule="first", method="sinc", allow_silent=True)
    codes = model.encode(torch.from_numpy(wav)[None, None])  # type: ignore[attr-defined]
    units = codes[0, 0].tolist()
    text = "<sosp>" + "".join(f"<\U0001f5e3\ufe0f{u}>" for u in units) + "<eosp>"
    ok = units == info["units"] and text == info["unit_string"]
    wrong = sum(a != b for a, b in zip(units, info["units"])) + abs(len(units) - len(info["units"]))
    return CaseResult(FAMILY, "cli_encode_speech", ok, detail=f"{len(units)} units" + (f", {wrong} differ" if wrong else ""))


def run(kit: Kit) -> Iterator[CaseResult]:
    from anygpt_desktop.modalities.speech.speechtokenizer import load_speechtokenizer

    folder = kit.golden / FAMILY
    expected = kit.json(f"golden/{FAMILY}/expected.json")
    model = load_speechtokenizer(folder / "config.json", folder / "ckpt.dev")
    yield from _model_cases(kit, model, expected)
    yield _resample_case(kit)
    yield _cli_case(kit, model, expected)
