"""``seed``: the SEED image tokenizer against ``golden/seed`` (preprocessing, every model stage, ids, de-tokeniser)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from anygpt_desktop.verify import CaseResult, Kit, float_tolerance

FAMILY = "seed"
# Relative tolerances (of max(1, max|ref|)) = TOLERANCE_MARGIN x the error measured on the shared kit at 1 and 4
# threads: preprocessing 0 (the same Pillow resize; 1e-6 allows a float32 rounding step), vit_ln_out 7.8e-7,
# qformer_out 7.2e-7, encode_task_out 2.1e-7, image_embeds 9e-8, decode-only image_embeds 1.1e-7.
PREPROCESS_TOLERANCE = 1e-6
STAGES: dict[str, float] = {"vit_ln_out": 1e-5, "qformer_out": 1e-5, "encode_task_out": 3e-6}
EMBEDS_TOLERANCE = 2e-6


def _float_case(name: str, got: np.ndarray, ref: np.ndarray, rel: float) -> CaseResult:
    if got.shape != ref.shape:
        return CaseResult(FAMILY, name, False, detail=f"shape {got.shape} != {ref.shape}")
    tol = float_tolerance(float(np.abs(ref).max()), rel)
    err = float(np.abs(got.astype(np.float64) - ref).max())
    return CaseResult(FAMILY, name, err <= tol, max_error=err, detail=f"tolerance {tol:.3g}")


def _ids_case(name: str, got: list[int], ref: list[int]) -> CaseResult:
    if got == ref:
        return CaseResult(FAMILY, name, True, detail=f"{len(ref)} ids exact")
    diff = sum(a != b for a, b in zip(got, ref)) + abs(len(got) - len(ref))
    return CaseResult(FAMILY, name, False, detail=f"{diff} of {len(ref)} ids differ")


def run(kit: Kit) -> Iterator[CaseResult]:
    from anygpt_desktop.modalities.image.image_input import open_image
    from anygpt_desktop.modalities.image.seed_tokenizer import (
        ImageUnitsError,
        SeedTokenizer,
        llm_ids,
        preprocess,
        unit_string,
    )

    case_dir = kit.golden / FAMILY
    expected = kit.json(Path("golden") / FAMILY / "expected.json")
    tok = SeedTokenizer(case_dir / "seed_quantizer.pt", case_dir / "eva_vit_g.pth", device="cpu")

    # Preprocessing of the kit's image with our own loader + resize.
    image_path = kit.root / expected["image"]  # the input file name comes from the kit
    pil = open_image(image_path)
    yield CaseResult(FAMILY, "image_size", list(pil.size) == expected["image_size_in"], detail=f"{pil.size}")
    ours = preprocess(pil).numpy()
    ref_pre = np.load(case_dir / "preprocessed.npy")
    yield _float_case("preprocessed", ours, ref_pre, PREPROCESS_TOLERANCE)

    # Every stage, on the reference's preprocessed array.
    trace = tok.trace(torch.from_numpy(ref_pre))
    for stage, tol in STAGES.items():
        yield _float_case(stage, getattr(trace, stage).float().numpy(), np.load(case_dir / f"{stage}.npy"), tol)
    ref_ids = np.load(case_dir / "ids.npy")
    yield CaseResult(FAMILY, "ids_dtype", str(trace.ids.dtype) == expected["ids_dtype"], detail=str(trace.ids.dtype))
    got_ids = trace.ids[0].tolist()
    yield _ids_case("ids", got_ids, ref_ids[0].tolist())
    yield _ids_case("ids_from_image_file", tok.encode(image_path), expected["ids"])
    yield CaseResult(FAMILY, "unit_string", unit_string(got_ids) == expected["unit_string"])
    yield _ids_case("llm_ids", llm_ids(got_ids), expected["llm_ids"])

    # De-tokeniser.
    embeds = tok.image_embeds(torch.from_numpy(ref_ids)).float().numpy()
    yield _float_case("image_embeds", embeds, np.load(case_dir / "image_embeds.npy"), EMBEDS_TOLERANCE)
    decode_ids = np.load(case_dir / "decode_only_ids.npy")
    decoded = tok.image_embeds(torch.from_numpy(decode_ids)).float().numpy()
    ref_decoded = np.load(case_dir / "decode_only_image_embeds.npy")
    yield _float_case("decode_only_image_embeds", decoded, ref_decoded, EMBEDS_TOLERANCE)

    # The reference fails on 31 ids; we refuse them with a clear error.
    try:
        tok.image_embeds(expected["decode_only_ids"][:31])
    except ImageUnitsError as exc:
        reference_failed = "Error" in str(expected.get("decode_31_ids", ""))
        yield CaseResult(FAMILY, "decode_31_ids", reference_failed, detail=f"refused: {exc}; reference: {expected.get('decode_31_ids')}")
    else:
        yield CaseResult(FAMILY, "decode_31_ids", False, detail="31 ids were accepted")
