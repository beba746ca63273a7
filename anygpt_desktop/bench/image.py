"""``anygpt-desktop bench image``: SEED encode/de-tokenise time at full size (random weights), unCLIP time per step.

The SEED networks are built on ``meta`` at the released sizes, materialised with ``to_empty`` and filled with random
values (no download needed). The unCLIP figure uses the models folder's ``stable-diffusion-2-1-unclip``; with
``--models DIR`` and no unCLIP folder there it refuses (exit 2) rather than time another model; without ``--models``
it times the tiny kit's unCLIP and says so.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from anygpt_desktop.modalities.image.seed_model import EvaConfig, EvaViT, SeedConfig, SeedQuantizer

logger = logging.getLogger(__name__)


def _random_init(model: torch.nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point():
                if name.endswith("position_ids"):
                    t.copy_(torch.arange(t.shape[-1]).expand_as(t))
                continue
            if name.endswith("weight") and t.dim() == 1:
                t.fill_(1.0)
            elif t.dim() == 1:
                t.zero_()
            else:
                t.normal_(0.0, 0.02, generator=gen)


def full_size_seed(device: torch.device, dtype: torch.dtype) -> tuple[EvaViT, SeedQuantizer]:
    """Released-size EVA ViT-g and SEED quantizer with random weights on ``device``."""
    with torch.device("meta"):
        eva, quantizer = EvaViT(EvaConfig()), SeedQuantizer(SeedConfig())
    gen = torch.Generator().manual_seed(0)
    out = []
    for model in (eva, quantizer):
        model = model.to_empty(device="cpu")
        _random_init(model, gen)
        out.append(model.to(device, dtype).eval())
    return out[0], out[1]  # type: ignore[return-value]


def _time(fn: Callable[[], object], device: torch.device, repeat: int) -> float:
    """Median seconds of ``repeat`` runs after one warm-up."""
    def once() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    once()
    return statistics.median(once() for _ in range(repeat))


def bench_seed(device: torch.device, repeat: int = 3) -> dict[str, float]:
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    eva, quantizer = full_size_seed(device, dtype)
    pixels = torch.randn((1, 3, 224, 224), generator=torch.Generator().manual_seed(1)).to(device, dtype)
    ids = torch.randint(0, 8192, (1, 32), generator=torch.Generator().manual_seed(2)).to(device)

    def encode() -> torch.Tensor:
        q = quantizer.query_features(quantizer.vision_norm(eva(pixels)))
        return quantizer.codes(quantizer.encode_task(q))

    with torch.inference_mode():
        return {
            "encode_s": _time(encode, device, repeat),
            "detokenise_s": _time(lambda: quantizer.image_embeds(ids), device, repeat),
        }


class MissingUnclipError(Exception):
    """``--models DIR`` has no unCLIP folder: the benchmark refuses instead of timing another model."""


def _unclip_folder(models: str | None, tmp: Path) -> Path | None:
    if models:
        folder = Path(models) / "stable-diffusion-2-1-unclip"
        if (folder / "model_index.json").is_file():
            return folder
        raise MissingUnclipError(
            f"no unCLIP model at {folder} (model_index.json missing): install it with the model manager, or run "
            f"without --models to time the tiny kit's unCLIP"
        )
    from anygpt_desktop.tiny_kit import make_tiny

    make_tiny(tmp, seed=0, components=["unclip"])
    folder = tmp / "stable-diffusion-2-1-unclip"
    return folder if (folder / "model_index.json").is_file() else None


def bench_unclip(folder: Path, device: torch.device, steps: int = 20) -> dict[str, float]:
    from anygpt_desktop.modalities.image.unclip import UnclipDecoder

    decoder = UnclipDecoder(folder, device=device, seed=0)
    decoder.load()
    embeds = torch.randn((1, 1024), generator=torch.Generator().manual_seed(3))
    decoder.decode(embeds, num_inference_steps=2)  # warm-up
    start = time.perf_counter()
    decoder.decode(embeds, num_inference_steps=steps)
    total = time.perf_counter() - start
    return {"unclip_total_s": total, "unclip_per_step_s": total / (steps + 1), "size": float(decoder.output_size[0])}


def main(args: argparse.Namespace) -> int:
    models = getattr(args, "models", None)
    with tempfile.TemporaryDirectory() as tmp:
        try:  # before any timing: refuse rather than time a model the user did not ask for
            folder = _unclip_folder(models, Path(tmp))
        except MissingUnclipError as exc:
            print(f"bench image: refused: {exc}")
            return 2
        device = torch.device(getattr(args, "device", None) or ("cuda" if torch.cuda.is_available() else "cpu"))
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU x{torch.get_num_threads()} threads"
        print(f"image bench on {device} ({name})")
        seed = bench_seed(device)
        print(f"SEED encode (EVA ViT-g + Q-Former + VQ), full size, random weights: {seed['encode_s'] * 1000:.0f} ms")
        detok_ms = seed["detokenise_s"] * 1000
        print(f"SEED de-tokenise (32 units -> image_embeds), full size, random weights: {detok_ms:.1f} ms")
        if folder is None:
            print("unCLIP: skipped (no unCLIP folder and no tiny writer in this version)")
            return 0
        which = str(folder) if models else f"the tiny kit's random {folder.name}, not the released model"
        un = bench_unclip(folder, device)
        print(
            f"unCLIP decode ({which}, {int(un['size'])}x{int(un['size'])}): "
            f"{un['unclip_per_step_s'] * 1000:.1f} ms per unet step, {un['unclip_total_s']:.2f} s for 20 steps"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point for the ``anygpt_desktop.bench`` dispatcher (same as ``main``)."""
    return main(args)
