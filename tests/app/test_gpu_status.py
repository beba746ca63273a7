"""The status bar's device text: GPU memory only for CUDA devices, and never an exception."""

from __future__ import annotations

import sys
import types

from anygpt_desktop.app.gpu_status import device_text, gpu_memory_text


def test_cpu_shows_no_gpu_memory() -> None:
    assert gpu_memory_text("cpu") == ""
    assert device_text("cpu", "float32") == "device: cpu (float32)"


def test_cuda_without_a_gpu_shows_nothing(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: False))
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert gpu_memory_text("cuda") == ""


def test_a_driver_error_is_not_a_crash(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(_i: int) -> int:
        raise RuntimeError("CUDA error: unknown error")

    cuda = types.SimpleNamespace(is_available=lambda: True, current_device=lambda: 0, memory_allocated=broken)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda, device=lambda d: types.SimpleNamespace(index=None)))
    assert gpu_memory_text("cuda") == "GPU memory unknown"


def test_the_real_torch_on_this_machine() -> None:
    import torch

    text = gpu_memory_text("cuda:0")
    if torch.cuda.is_available():
        assert text.startswith("GPU memory ") and "GiB" in text
    else:
        assert text == ""
