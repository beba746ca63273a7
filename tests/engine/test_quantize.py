"""Weight-only int8/int4 layers against the fp32 layers they replace."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from anygpt_desktop.engine.quantize import (
    Int4Linear,
    Int8Linear,
    dequantize_int4,
    quantize_int4,
    quantize_int8,
    quantize_model,
)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().float() - b.detach().float()).norm() / b.detach().float().norm())


def test_int8_roundtrip_is_within_half_a_step_per_row() -> None:
    w = torch.randn(64, 256, generator=torch.Generator().manual_seed(0))
    q, scale = quantize_int8(w)
    assert q.dtype == torch.int8 and scale.shape == (64,)
    err = (q.float() * scale[:, None] - w).abs()
    assert bool((err <= scale[:, None] / 2 + 1e-6).all())


def test_int4_roundtrip_is_within_half_a_step_per_group() -> None:
    w = torch.randn(32, 256, generator=torch.Generator().manual_seed(1))
    packed, scale, zero = quantize_int4(w, 128)
    assert packed.dtype == torch.uint8 and packed.shape == (32, 128) and scale.shape == (32, 2)
    back = dequantize_int4(packed, scale, zero, torch.float32)
    step = scale.repeat_interleave(128, dim=1)
    assert bool(((back - w).abs() <= step / 2 + 1e-5).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("precision,tol", [("int8", 0.01), ("int4", 0.12)])
def test_quantized_model_matches_fp32(precision: str, tol: float, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 512), nn.SiLU(), nn.Linear(512, 128, bias=False))
    x = torch.randn(3, 5, 256)
    ref = model(x)
    q = quantize_model(model.to(dtype) if dtype != torch.float32 else model, precision)  # type: ignore[arg-type]
    kind = Int8Linear if precision == "int8" else Int4Linear
    assert all(isinstance(q[i], kind) for i in (0, 2))
    out = q(x.to(dtype))
    assert out.shape == ref.shape and out.dtype == dtype
    assert _rel(out, ref) < tol + (0.01 if dtype == torch.bfloat16 else 0)


def test_lm_head_stays_int8_under_int4() -> None:
    model = nn.Module()
    model.proj = nn.Linear(128, 128)
    model.lm_head = nn.Linear(128, 1000, bias=False)
    quantize_model(model, "int4")
    assert isinstance(model.proj, Int4Linear) and isinstance(model.lm_head, Int8Linear)


def test_meta_model_gets_empty_layers_that_assign_fills() -> None:
    torch.manual_seed(0)
    real = nn.Sequential(nn.Linear(256, 64))
    with torch.device("meta"):
        shell = nn.Sequential(nn.Linear(256, 64))
    quantize_model(shell, "int8", dtype=torch.float32)
    assert shell[0].weight.is_meta
    source = quantize_model(real, "int8")
    shell.load_state_dict(source.state_dict(), assign=True)
    x = torch.randn(2, 256)
    assert torch.equal(shell(x), source(x))


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="int8 or int4"):
        quantize_model(nn.Linear(4, 4), "int3")  # type: ignore[arg-type]
