"""unCLIP decoding on the tiny kit's pipeline: size, seeding, progress, cancellation, errors, release."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from anygpt_desktop.cancel import Cancelled
from anygpt_desktop.modalities.image.unclip import (
    UnclipDecoder,
    UnclipError,
    UnclipOutOfMemory,
)

STEPS = 4


class State:
    def __init__(self, cancel_after: int | None = None) -> None:
        self.seen: list[float] = []
        self.cancel_after = cancel_after

    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.seen) >= self.cancel_after

    def progress(self, fraction: float, message: str = "") -> None:
        self.seen.append(fraction)


@pytest.fixture(scope="module")
def decoder(tiny_models: Path) -> UnclipDecoder:
    return UnclipDecoder(tiny_models / "stable-diffusion-2-1-unclip", device="cpu", seed=7)


@pytest.fixture(scope="module")
def embeds() -> torch.Tensor:
    return torch.randn((1, 1024), generator=torch.Generator().manual_seed(0))


def _pixels(img) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(img, dtype=np.int16)


def test_output_size_comes_from_the_unet_config(decoder: UnclipDecoder, embeds: torch.Tensor) -> None:
    img = decoder.decode(embeds, num_inference_steps=STEPS)
    unet = decoder.load().unet.config
    side = unet.sample_size * decoder.load().vae_scale_factor
    assert img.mode == "RGB" and img.size == (side, side) == decoder.output_size


def test_seeding(decoder: UnclipDecoder, embeds: torch.Tensor) -> None:
    a = _pixels(decoder.decode(embeds, seed=1, num_inference_steps=STEPS))
    b = _pixels(decoder.decode(embeds, seed=1, num_inference_steps=STEPS))
    c = _pixels(decoder.decode(embeds, seed=2, num_inference_steps=STEPS))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0
    # Without a seed the session's latents are reused, as the reference does.
    s1 = _pixels(decoder.decode(embeds, num_inference_steps=STEPS))
    s2 = _pixels(decoder.decode(embeds, num_inference_steps=STEPS))
    np.testing.assert_array_equal(s1, s2)


def test_embedding_changes_the_image(decoder: UnclipDecoder, embeds: torch.Tensor) -> None:
    a = _pixels(decoder.decode(embeds, seed=3, num_inference_steps=STEPS))
    b = _pixels(decoder.decode(-embeds * 4, seed=3, num_inference_steps=STEPS))
    assert np.abs(a - b).max() > 0


def test_progress_reaches_one(decoder: UnclipDecoder, embeds: torch.Tensor) -> None:
    state = State()
    decoder.decode(embeds, state=state, num_inference_steps=STEPS)
    assert len(state.seen) == len(decoder.load().scheduler.timesteps)
    assert state.seen == sorted(state.seen) and state.seen[-1] == 1.0


def test_cancellation(decoder: UnclipDecoder, embeds: torch.Tensor) -> None:
    state = State(cancel_after=2)
    with pytest.raises(Cancelled):
        decoder.decode(embeds, state=state, num_inference_steps=STEPS)
    assert len(state.seen) == 2
    with pytest.raises(Cancelled):
        decoder.decode(embeds, state=State(cancel_after=0))


def test_out_of_memory_is_reported(
    decoder: UnclipDecoder, embeds: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(type(decoder.load()), "__call__", boom)
    with pytest.raises(UnclipOutOfMemory, match="not enough cpu memory"):
        decoder.decode(embeds, num_inference_steps=STEPS)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UnclipError, match="not installed"):
        UnclipDecoder(tmp_path / "nothing", device="cpu").load()


def test_release_and_reload(tiny_models: Path, embeds: torch.Tensor) -> None:
    dec = UnclipDecoder(tiny_models / "stable-diffusion-2-1-unclip", device="cpu", seed=0)
    assert not dec.loaded
    first = _pixels(dec.decode(embeds, seed=5, num_inference_steps=2))
    dec.release()
    assert not dec.loaded
    np.testing.assert_array_equal(_pixels(dec.decode(embeds, seed=5, num_inference_steps=2)), first)
