"""Comparing RVQ codes with the reference's, telling real differences from the reference's own float32 coin flips.

The reference picks each code with the expanded distance ``|x|² − 2x·e + |e|²`` in float32. Its rounding error is a
few units in the last place of ``|x|²`` (about 1e-7 for the SpeechTokenizer's O(0.5) residuals), while two codes can
be nearer each other than that: on the shared kit the reference chose a code 3.7e-8 *farther* than the nearest one
(resampled, frame 30), so no exact search reproduces every code, and an inexact one flips with the thread count.
This project searches exactly (float64, see ``Codebook.nearest``). A differing code is accepted as a *near tie* only
when the exact distances of the two codes differ by less than :data:`NEAR_TIE_ULPS` float32 rounding steps of the
expanded form's largest terms; then the comparison continues from the reference's code, so the layers below are
still checked one by one. Any other difference is a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

NEAR_TIE_ULPS = 4.0
FLOAT32_UNIT = 2.0**-24  # unit roundoff of float32


@dataclass(frozen=True)
class CodeDifference:
    layer: int
    frame: int
    ours: int
    reference: int
    gap: float  # exact squared distance of the reference's code minus ours (>= 0: ours is at least as near)
    bound: float  # the reference's float32 rounding bound at this frame


@dataclass
class RVQComparison:
    total: int = 0
    near_ties: list[CodeDifference] = field(default_factory=list)
    wrong: list[CodeDifference] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.wrong

    def summary(self) -> str:
        text = f"{self.total - len(self.near_ties) - len(self.wrong)} of {self.total} codes exact"
        if self.near_ties:
            worst = max(self.near_ties, key=lambda d: d.gap / d.bound)
            text += (
                f", {len(self.near_ties)} near tie(s) below the reference's float32 resolution (largest gap "
                f"{worst.gap:.2g} <= bound {worst.bound:.2g}, layer {worst.layer} frame {worst.frame})"
            )
        if self.wrong:
            first = self.wrong[0]
            text += (
                f", {len(self.wrong)} differ (first: layer {first.layer} frame {first.frame}: {first.ours} != "
                f"{first.reference}, gap {first.gap:.2g} > bound {first.bound:.2g})"
            )
        return text


def compare_rvq_codes(model: object, features: torch.Tensor, reference: np.ndarray) -> RVQComparison:
    """Quantise ``features[1, D, N]`` (the model's pre-quantisation output) layer by layer and compare each code with
    ``reference[q, 1, N]``. ``model`` is a ``SpeechTokenizer`` (anything with ``quantizer.codebook(i).embed``)."""
    quantizer = model.quantizer  # type: ignore[attr-defined]
    ref = torch.as_tensor(np.asarray(reference)).long()
    if features.shape[0] != 1 or ref.shape[1] != 1 or features.shape[2] != ref.shape[2]:
        raise ValueError(f"features {list(features.shape)} and reference codes {list(ref.shape)} do not match")
    residual = features[0].t().float()
    result = RVQComparison(total=int(ref.numel()))
    for layer in range(ref.shape[0]):
        book = quantizer.codebook(layer)
        ours = book.nearest(residual)
        want = ref[layer, 0].to(ours.device)
        for frame in torch.nonzero(ours != want).flatten().tolist():
            x = residual[frame].double()
            a, b = book.embed[ours[frame]].double(), book.embed[want[frame]].double()
            gap = float(((x - b) ** 2).sum() - ((x - a) ** 2).sum())
            scale = float(x.pow(2).sum() + max(a.pow(2).sum(), b.pow(2).sum()))
            bound = NEAR_TIE_ULPS * FLOAT32_UNIT * scale
            diff = CodeDifference(layer, frame, int(ours[frame]), int(want[frame]), gap, bound)
            (result.near_ties if 0.0 <= gap <= bound else result.wrong).append(diff)
        residual = residual - book.embed[want]
    return result


def codes_following_reference(model: object, features: torch.Tensor, reference_layer0: np.ndarray) -> torch.Tensor:
    """Codes ``[q, 1, N]`` for ``features[1, D, N]`` where layer 0 takes the reference's recorded unit at each near
    tie (and must equal it everywhere else); the layers below are searched from that residual as usual. Lets a later
    stage (SoundStorm's voice prompt) be checked on the reference's own input rather than on a coin flip."""
    quantizer = model.quantizer  # type: ignore[attr-defined]
    ref0 = np.asarray(reference_layer0).reshape(1, 1, -1)
    comparison = compare_rvq_codes(model, features, ref0)  # ref0 has one layer: layer 0 only
    if not comparison.passed:
        raise ValueError(f"layer 0 differs from the reference beyond near ties: {comparison.summary()}")
    residual = features[0].t().float()
    codes = []
    for layer in range(model.cfg.n_q):  # type: ignore[attr-defined]
        book = quantizer.codebook(layer)
        idx = torch.as_tensor(ref0[0, 0]).long() if layer == 0 else book.nearest(residual)
        residual = residual - book.embed[idx]
        codes.append(idx)
    return torch.stack(codes)[:, None, :]

