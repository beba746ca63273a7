"""When the unCLIP decoder runs with model CPU offload (the GPU path itself needs a GPU)."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from anygpt_desktop.modalities.image.unclip import OFFLOAD_MARGIN_BYTES, _pipeline_bytes, needs_cpu_offload


def test_pipeline_bytes_count_every_module_component() -> None:
    pipe = SimpleNamespace(components={"unet": torch.nn.Linear(10, 10), "vae": torch.nn.Linear(4, 2, bias=False),
                                       "scheduler": object(), "tokenizer": None})
    assert _pipeline_bytes(pipe) == (110 + 8) * 4


def test_offload_when_the_pipeline_and_margin_exceed_free_memory() -> None:
    size = 2 << 30
    assert not needs_cpu_offload(size, size + OFFLOAD_MARGIN_BYTES)
    assert needs_cpu_offload(size, size + OFFLOAD_MARGIN_BYTES - 1)
