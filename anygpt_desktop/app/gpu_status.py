"""The status bar's device text: the device the models run on and, on CUDA, the GPU memory in use."""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger(__name__)

GIB = 1024**3


def gpu_memory_text(device: str) -> str:
    """``"GPU memory 3.2 GiB (peak 4.0) of 24.0 GiB"`` for a CUDA device, ``""`` otherwise.

    Never imports torch itself (the engine already did when it runs on a GPU) and never raises: the status bar must
    not break because the driver had a hiccup.
    """
    if not device.startswith("cuda"):
        return ""
    torch = sys.modules.get("torch")
    if torch is None:
        return ""
    try:
        if not torch.cuda.is_available():
            return ""
        index = torch.device(device).index
        index = torch.cuda.current_device() if index is None else index
        used = torch.cuda.memory_allocated(index)
        peak = torch.cuda.max_memory_allocated(index)
        total = torch.cuda.get_device_properties(index).total_memory
    except Exception as exc:  # driver errors become "unknown", not a crash
        logger.debug("GPU memory query failed: %s", exc)
        return "GPU memory unknown"
    return f"GPU memory {used / GIB:.1f} GiB (peak {peak / GIB:.1f}) of {total / GIB:.1f} GiB"


def device_text(device: str, dtype: str = "") -> str:
    """What the status bar's device field shows once the models are loaded."""
    base = f"device: {device}" + (f" ({dtype})" if dtype else "")
    memory = gpu_memory_text(device)
    return f"{base} · {memory}" if memory else base
