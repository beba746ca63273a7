"""The image modality in one object: picture -> 32 SEED units, 32 units -> picture (SEED de-tokeniser + unCLIP)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from PIL import Image

from anygpt_desktop.layout import ModelPaths
from anygpt_desktop.cancel import CancelToken
from anygpt_desktop.modalities.image.seed_tokenizer import SeedTokenizer
from anygpt_desktop.modalities.image.unclip import UnclipDecoder


class ImageCodec:
    """Lazy SEED tokenizer + unCLIP decoder over one models folder; ``release()`` frees both."""

    def __init__(self, models_root: str | os.PathLike[str], device: str | None = None, seed: int | None = None) -> None:
        paths = ModelPaths(Path(models_root))
        self.tokenizer = SeedTokenizer(paths.seed_quantizer, paths.eva_vit_g, device=device)
        self.decoder = UnclipDecoder(paths.unclip, device=device, seed=seed)

    def encode(self, image: Image.Image | str | os.PathLike[str] | bytes) -> list[int]:
        """An image (PIL, path or bytes) -> its 32 unit ids (``ImageInputError`` for unusable input)."""
        return self.tokenizer.encode(image)

    def decode(self, ids: Sequence[int], state: CancelToken | None = None, seed: int | None = None) -> Image.Image:
        """32 unit ids -> an RGB image of the unCLIP model's size (``ImageUnitsError`` for a wrong count)."""
        embeds = self.tokenizer.image_embeds(list(ids))
        return self.decoder.decode(embeds, state=state, seed=seed)

    def release(self) -> None:
        self.tokenizer.release()
        self.decoder.release()
