"""Weight-only 8-bit and 4-bit linear layers in plain PyTorch, and ``quantize_model`` that swaps them in.

Why our own (see docs/quantization.md): torchao 0.18 does int8 weight-only on the CPU with torch 2.13 but its int4
needs CUDA-only kernels (``mslk``), bitsandbytes is CUDA-first, optimum-quanto is in maintenance mode and its tensor
subclasses, like torchao's, do not go into a plain safetensors file. The layers here hold ordinary tensors, so a
quantized model's ``state_dict()`` is what the converted-weights cache stores and ``load_state_dict(assign=True)``
restores; they work on ``meta`` (built before the weights arrive), on the CPU and on CUDA.

* int8: symmetric, one scale per output row: ``w ≈ q * scale``, ``q`` int8 in [-127, 127]. On the CPU the matmul is
  ``aten._weight_int8pack_mm`` (int8 weights read directly); elsewhere the weight is dequantized on the fly
  (``linear(x, q.to(x.dtype)) * scale``, which ``torch.compile`` fuses).
* int4: asymmetric, groups of ``group_size`` input columns: ``w ≈ (q - 8) * scale + zero`` with ``q`` in [0, 15], two
  values packed per uint8; dequantized on the fly.

Policy: every ``nn.Linear`` of the decoder layers is quantized; ``lm_head`` is int8 in both modes (its logits decide
the speech units, and int8 per-row costs little there); embeddings and norms stay in the compute dtype.
"""

from __future__ import annotations

import logging
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

Precision = Literal["int8", "int4"]
INT4_GROUP_SIZE = 128
HEAD_NAMES = ("lm_head",)


ROW_CHUNK = 2048  # rows quantized at a time: the float32 working copy stays small (8 MB x width/1024)


def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(q int8 [out, in], scale fp32 [out])`` with ``weight ≈ q * scale[:, None]``."""
    out_f, in_f = weight.shape
    q = torch.empty(out_f, in_f, dtype=torch.int8, device=weight.device)
    scale = torch.empty(out_f, dtype=torch.float32, device=weight.device)
    for r in range(0, out_f, ROW_CHUNK):
        w = weight[r : r + ROW_CHUNK].float()
        s = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-10)
        q[r : r + ROW_CHUNK] = torch.round(w / s[:, None]).clamp_(-127, 127)
        scale[r : r + ROW_CHUNK] = s
    return q, scale


def quantize_int4(weight: torch.Tensor, group_size: int = INT4_GROUP_SIZE) -> tuple[torch.Tensor, ...]:
    """``(packed uint8 [out, in/2], scale [out, in/group], zero [out, in/group])``; see the module docstring."""
    out_f, in_f = weight.shape
    if in_f % group_size or group_size % 2:
        raise ValueError(f"int4 needs in_features ({in_f}) divisible by an even group size ({group_size})")
    groups = in_f // group_size
    packed = torch.empty(out_f, in_f // 2, dtype=torch.uint8, device=weight.device)
    scale = torch.empty(out_f, groups, dtype=torch.float32, device=weight.device)
    zero = torch.empty(out_f, groups, dtype=torch.float32, device=weight.device)
    for r in range(0, out_f, ROW_CHUNK):
        w = weight[r : r + ROW_CHUNK].float()
        w = w.reshape(w.shape[0], groups, group_size)
        lo, hi = w.amin(dim=2), w.amax(dim=2)
        s = ((hi - lo) / 15.0).clamp(min=1e-10)
        q = torch.round((w - lo[..., None]) / s[..., None]).clamp_(0, 15).to(torch.uint8).reshape(w.shape[0], in_f)
        packed[r : r + ROW_CHUNK] = q[:, 0::2] | (q[:, 1::2] << 4)
        scale[r : r + ROW_CHUNK] = s
        zero[r : r + ROW_CHUNK] = lo + 8.0 * s  # the value of code 8, so that w ≈ (q - 8) * scale + zero
    return packed, scale, zero


def dequantize_int4(packed: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    out_f, half = packed.shape
    q = torch.stack((packed & 0x0F, packed >> 4), dim=-1).reshape(out_f, scale.shape[1], -1)
    w = (q.to(dtype) - 8) * scale.to(dtype)[..., None] + zero.to(dtype)[..., None]
    return w.reshape(out_f, half * 2)


class Int8Linear(nn.Module):
    """``nn.Linear`` with int8 weights (``weight``) and per-row scales (``weight_scale``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool, dtype: torch.dtype, device=None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight", torch.empty(out_features, in_features, dtype=torch.int8, device=device))
        self.register_buffer("weight_scale", torch.empty(out_features, dtype=dtype, device=device))
        self.register_buffer("bias", torch.empty(out_features, dtype=dtype, device=device) if bias else None)

    @staticmethod
    def quantized_state(weight: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        q, scale = quantize_int8(weight)
        return {"weight": q, "weight_scale": scale.to(dtype)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight_scale.to(x.dtype)
        if x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16, torch.float16):
            y = torch.ops.aten._weight_int8pack_mm(x.reshape(-1, self.in_features), self.weight, scale)
            y = y.reshape(*x.shape[:-1], self.out_features)
        else:
            y = F.linear(x, self.weight.to(x.dtype)) * scale
        return y + self.bias.to(x.dtype) if self.bias is not None else y

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


class Int4Linear(nn.Module):
    """``nn.Linear`` with group-wise 4-bit weights: ``weight`` (packed uint8), ``weight_scale``, ``weight_zero``."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool, dtype: torch.dtype, device=None,
        group_size: int = INT4_GROUP_SIZE,
    ) -> None:
        super().__init__()
        if in_features % group_size:
            raise ValueError(f"in_features {in_features} is not a multiple of the int4 group size {group_size}")
        self.in_features, self.out_features, self.group_size = in_features, out_features, group_size
        groups = in_features // group_size
        self.register_buffer("weight", torch.empty(out_features, in_features // 2, dtype=torch.uint8, device=device))
        self.register_buffer("weight_scale", torch.empty(out_features, groups, dtype=dtype, device=device))
        self.register_buffer("weight_zero", torch.empty(out_features, groups, dtype=dtype, device=device))
        self.register_buffer("bias", torch.empty(out_features, dtype=dtype, device=device) if bias else None)

    @staticmethod
    def quantized_state(weight: torch.Tensor, dtype: torch.dtype, group_size: int = INT4_GROUP_SIZE) -> dict[str, torch.Tensor]:
        packed, scale, zero = quantize_int4(weight, group_size)
        return {"weight": packed, "weight_scale": scale.to(dtype), "weight_zero": zero.to(dtype)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = dequantize_int4(self.weight, self.weight_scale, self.weight_zero, x.dtype)
        return F.linear(x, w, None if self.bias is None else self.bias.to(x.dtype))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int4 group {self.group_size}"


def layer_precision(name: str, precision: Precision) -> Precision:
    """What a linear layer named ``name`` becomes under ``precision`` (the lm_head policy)."""
    return "int8" if name.split(".")[-1] in HEAD_NAMES else precision


def _empty_quantized(linear: nn.Linear, kind: Precision, dtype: torch.dtype, device) -> nn.Module:
    cls = Int8Linear if kind == "int8" else Int4Linear
    return cls(linear.in_features, linear.out_features, linear.bias is not None, dtype, device=device)


def quantized_linear_names(model: nn.Module) -> list[str]:
    """Names of the ``nn.Linear`` modules ``quantize_model`` replaces."""
    return [name for name, mod in model.named_modules() if isinstance(mod, nn.Linear)]


@torch.no_grad()
def quantize_model(model: nn.Module, precision: Precision, dtype: torch.dtype | None = None) -> nn.Module:
    """Replace every ``nn.Linear`` in ``model`` (in place) with its weight-only ``precision`` version; returns it.

    ``dtype`` is the dtype of scales/zeros (and the activations they meet); default: the layer's own float dtype.
    A model on ``meta`` gets empty quantized layers on ``meta`` (fill them with ``load_state_dict(assign=True)``);
    otherwise each weight is quantized where it lies, one layer at a time, and the float weight is released.
    """
    if precision not in ("int8", "int4"):
        raise ValueError(f"unknown quantized precision {precision!r}; choose int8 or int4")
    for name in quantized_linear_names(model):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        linear: nn.Linear = getattr(parent, child)
        kind = layer_precision(name, precision)
        if kind == "int4" and linear.in_features % INT4_GROUP_SIZE:
            kind = "int8"
        layer_dtype = dtype or linear.weight.dtype
        device = linear.weight.device
        new = _empty_quantized(linear, kind, layer_dtype, device)
        if device.type != "meta":
            state = type(new).quantized_state(linear.weight, layer_dtype)
            if linear.bias is not None:
                state["bias"] = linear.bias.to(layer_dtype)
            new.load_state_dict(state, assign=True)
        setattr(parent, child, new)
    logger.debug("quantized %s to %s", type(model).__name__, precision)
    return model


def quantize_state_for(module: nn.Module, weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """The buffers of quantized ``module`` (an ``Int8Linear``/``Int4Linear``) for a float ``weight`` from a file."""
    dtype = module.weight_scale.dtype
    if isinstance(module, Int4Linear):
        return Int4Linear.quantized_state(weight, dtype, module.group_size)
    if isinstance(module, Int8Linear):
        return Int8Linear.quantized_state(weight, dtype)
    raise TypeError(f"{type(module).__name__} is not a quantized linear layer")
