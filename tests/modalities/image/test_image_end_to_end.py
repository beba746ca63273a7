"""A real photo -> 32 SEED units -> image_embeds -> an image, through the tiny kit (SEED + unCLIP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from anygpt_desktop.modalities.image.image_codec import ImageCodec
from anygpt_desktop.modalities.image.seed_tokenizer import llm_ids, unit_string
from anygpt_desktop.protocol.vocab import UNIT_BASE_ID

PHOTO = Path(__file__).resolve().parents[2] / "data" / "cat_small.jpg"


@pytest.mark.slow
def test_photo_round_trip(tiny_models: Path) -> None:
    codec = ImageCodec(tiny_models, device="cpu", seed=0)
    ids = codec.encode(PHOTO)
    assert len(ids) == 32 and all(0 <= k < 8192 for k in ids)
    assert len(set(ids)) > 8  # the tiny codebook spreads real images over many codes
    assert codec.encode(PHOTO.read_bytes()) == ids  # deterministic, path or bytes
    assert unit_string(ids).startswith("<soim><👀") and unit_string(ids).endswith("><eoim>")
    assert min(llm_ids(ids)) >= UNIT_BASE_ID["image"]

    embeds = codec.tokenizer.image_embeds(ids)
    assert tuple(embeds.shape) == (1, 1024)

    image = codec.decode(ids)
    assert image.mode == "RGB"
    assert image.size == codec.decoder.output_size
    codec.release()
    assert not codec.tokenizer.loaded and not codec.decoder.loaded
