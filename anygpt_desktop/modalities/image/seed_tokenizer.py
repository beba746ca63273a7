"""SEED image tokenizer: an image becomes 32 unit ids, 32 unit ids become a 1024-d unCLIP ``image_embeds`` (reference-behaviour §5).

Loads the released ``seed-tokenizer-2/seed_quantizer.pt`` and ``eva_vit_g/eva_vit_g.pth`` unchanged (sizes are read
from the files). fp16 on CUDA, fp32 on CPU. The models load on first use and ``release()`` frees them.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from anygpt_desktop.modalities.image.image_input import open_image
from anygpt_desktop.modalities.image.seed_model import (
    EvaViT,
    SeedQuantizer,
    eva_config_from_state,
    seed_config_from_state,
)
from anygpt_desktop.protocol.vocab import UNIT_BASE_ID

logger = logging.getLogger(__name__)

IMAGE_SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
UNITS_PER_IMAGE = 32
IMAGE_UNIT_BASE_ID = UNIT_BASE_ID["image"]  # LLM id of <👀0>
SOIM, EOIM = "<soim>", "<eoim>"


class SeedError(RuntimeError):
    """The SEED tokenizer cannot do what was asked (base class)."""


class SeedCheckpointError(SeedError):
    """A SEED checkpoint file is missing, unreadable or lacks tensors the model needs."""


class ImageUnitsError(SeedError, ValueError):
    """Image units that cannot be drawn (wrong count or out-of-range ids)."""


def preprocess(image: Image.Image, size: int = IMAGE_SIZE) -> torch.Tensor:
    """RGB image -> float32 [1, 3, size, size]: bicubic resize ignoring aspect ratio, [0,1], CLIP mean/std."""
    resized = image.convert("RGB").resize((size, size), Image.BICUBIC)
    arr = np.asarray(resized, dtype=np.float32) / 255.0
    mean = np.asarray(CLIP_MEAN, dtype=np.float32)
    std = np.asarray(CLIP_STD, dtype=np.float32)
    chw = torch.from_numpy(arr).permute(2, 0, 1)
    chw = (chw - torch.from_numpy(mean)[:, None, None]) / torch.from_numpy(std)[:, None, None]
    return chw.unsqueeze(0).contiguous()


def unit_string(ids: Sequence[int]) -> str:
    """``<soim><👀k>...<eoim>`` as the reference CLIs write an image's units."""
    return SOIM + "".join(f"<👀{int(k)}>" for k in ids) + EOIM


def llm_ids(ids: Sequence[int]) -> list[int]:
    """LLM vocabulary ids of image units (``IMAGE_UNIT_BASE_ID + k``)."""
    return [IMAGE_UNIT_BASE_ID + int(k) for k in ids]


def _load_state(path: Path, what: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise SeedCheckpointError(f"{what} not found at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refused it: code or objects, not tensors
        raise SeedCheckpointError(
            f"{what} at {path} is not a plain weights file (it would run code when loaded, or it is not a "
            "checkpoint); it was not loaded. Download it again."
        ) from exc
    except Exception as exc:  # zip/stream errors come in many types
        raise SeedCheckpointError(f"{what} at {path} is damaged or incomplete; download it again. Details: {exc}") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SeedCheckpointError(f"{what} at {path} is not a state dict of tensors")
    return dict(state)


def load_into(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> list[str]:
    """Copy ``state`` into ``module``: every key the module defines is required (shape-checked); extras are returned."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise SeedCheckpointError(f"{what} lacks {len(missing)} tensors the model needs: {shown}")
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in own.items() if state[k].shape != v.shape]
    if wrong:
        raise SeedCheckpointError(f"{what} has tensors of unexpected shape: {'; '.join(wrong[:5])}")
    extra = [k for k in state if k not in own]
    module.load_state_dict({k: state[k] for k in own}, strict=True, assign=False)
    return extra


def build_eva(state: Mapping[str, torch.Tensor], what: str = "eva_vit_g.pth") -> EvaViT:
    """An EVA ViT sized from ``state`` with its weights loaded (fp32)."""
    try:
        cfg = eva_config_from_state(state)
    except (KeyError, ValueError, IndexError) as exc:
        raise SeedCheckpointError(f"{what} does not look like an EVA ViT checkpoint (missing {exc})") from exc
    model = EvaViT(cfg)
    extra = load_into(model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, what)
    if extra:
        logger.info("%s: %d extra tensors ignored: %s", what, len(extra), ", ".join(extra[:20]))
    return model.eval()


def build_quantizer(state: Mapping[str, torch.Tensor], what: str = "seed_quantizer.pt") -> SeedQuantizer:
    """The Q-Former/codebook/de-tokeniser sized from ``state`` with its weights loaded (fp32)."""
    try:
        cfg = seed_config_from_state(state)
    except (KeyError, ValueError, IndexError) as exc:
        raise SeedCheckpointError(f"{what} does not look like a SEED tokenizer checkpoint (missing {exc})") from exc
    model = SeedQuantizer(cfg)
    extra = load_into(model, state, what)
    if extra:
        logger.info("%s: %d extra tensors ignored: %s", what, len(extra), ", ".join(extra[:20]))
    return model.eval()


@dataclass
class EncodeTrace:
    """Intermediate outputs of one encode (used by the reference cross-check)."""

    vit_ln_out: torch.Tensor
    qformer_out: torch.Tensor
    encode_task_out: torch.Tensor
    ids: torch.Tensor


class SeedTokenizer:
    """Image <-> 32 SEED units. Thread-safe lazy loading; ``release()`` frees memory until the next use."""

    def __init__(
        self,
        quantizer_path: str | os.PathLike[str],
        eva_path: str | os.PathLike[str],
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.quantizer_path = Path(quantizer_path)
        self.eva_path = Path(eva_path)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self._eva: EvaViT | None = None
        self._quantizer: SeedQuantizer | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_models_dir(cls, root: str | os.PathLike[str], **kwargs: object) -> "SeedTokenizer":
        from anygpt_desktop.layout import ModelPaths

        paths = ModelPaths(Path(root))
        return cls(paths.seed_quantizer, paths.eva_vit_g, **kwargs)  # type: ignore[arg-type]

    @property
    def loaded(self) -> bool:
        return self._quantizer is not None

    def _load_quantizer(self) -> SeedQuantizer:
        with self._lock:
            if self._quantizer is None:
                model = build_quantizer(_load_state(self.quantizer_path, "seed_quantizer.pt"))
                self._quantizer = self._place(model)
            return self._quantizer

    def _load_eva(self) -> EvaViT:
        with self._lock:
            if self._eva is None:
                self._eva = self._place(build_eva(_load_state(self.eva_path, "eva_vit_g.pth")))
            return self._eva

    def _place(self, model: nn.Module) -> nn.Module:
        try:
            return model.to(self.device, self.dtype)
        except torch.cuda.OutOfMemoryError as exc:
            raise SeedError(f"the image tokenizer does not fit in {self.device} memory") from exc

    def release(self) -> None:
        """Drop the loaded networks (they reload on next use)."""
        with self._lock:
            self._eva = self._quantizer = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    @property
    def quantizer(self) -> SeedQuantizer:
        return self._load_quantizer()

    @property
    def eva(self) -> EvaViT:
        return self._load_eva()

    @torch.inference_mode()
    def trace(self, pixels: torch.Tensor) -> EncodeTrace:
        """Encode preprocessed pixels [B, 3, 224, 224], keeping every stage's output."""
        eva, quantizer = self.eva, self.quantizer
        pixels = pixels.to(self.device, self.dtype)
        vit_ln = quantizer.vision_norm(eva(pixels))
        query = quantizer.query_features(vit_ln)
        task = quantizer.encode_task(query)
        return EncodeTrace(vit_ln, query, task, quantizer.codes(task).long())

    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Preprocessed pixels [B, 3, 224, 224] -> ids int64 [B, 32] (on the CPU)."""
        return self.trace(pixels).ids.cpu()

    def encode(self, image: Image.Image | str | os.PathLike[str] | bytes) -> list[int]:
        """One image (PIL, path or bytes) -> its 32 unit ids."""
        pil = image if isinstance(image, Image.Image) else open_image(image)
        return self.encode_pixels(preprocess(pil))[0].tolist()

    @torch.inference_mode()
    def image_embeds(self, ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """32 unit ids (or [B, 32]) -> unCLIP ``image_embeds`` [B, 1024] in the tokenizer's dtype and device."""
        quantizer = self.quantizer
        t = torch.as_tensor(ids, dtype=torch.long)
        if t.dim() == 1:
            t = t.unsqueeze(0)
        n = quantizer.cfg.num_queries
        if t.dim() != 2 or t.shape[1] != n:
            raise ImageUnitsError(f"an image needs exactly {n} units, got {t.shape[-1] if t.dim() else 0}")
        size = quantizer.cfg.codebook_size
        if int(t.min()) < 0 or int(t.max()) >= size:
            raise ImageUnitsError(f"image unit ids must be in 0..{size - 1}, got {int(t.min())}..{int(t.max())}")
        return quantizer.image_embeds(t.to(self.device))
