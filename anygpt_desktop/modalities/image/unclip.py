"""Drawing an image from SEED's ``image_embeds`` with Stable unCLIP 2.1 (reference-behaviour §5.3).

Wraps ``diffusers.StableUnCLIPImg2ImgPipeline`` loaded from the ``stable-diffusion-2-1-unclip/`` folder and calls it
as the reference does: empty prompt, guidance 10, 20 steps, noise level 0, the unet's native size (768x768 at full
size). Like the reference, one latent tensor is drawn per session (from ``seed``) and reused for every image unless
a call passes its own ``seed``. The CLIP image encoder is never run (the embedding comes from SEED), so a one-layer
stand-in replaces it instead of loading ~1 GB of unused weights. fp16 on CUDA, fp32 on CPU; loads on first use,
``release()`` frees it.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from anygpt_desktop.cancel import Cancelled, CancelToken

if TYPE_CHECKING:
    from diffusers import StableUnCLIPImg2ImgPipeline

logger = logging.getLogger(__name__)

GUIDANCE_SCALE = 10.0
NUM_STEPS = 20
NOISE_LEVEL = 0


class UnclipError(RuntimeError):
    """The image decoder cannot run (base class)."""


class UnclipOutOfMemory(UnclipError):
    """The diffusion model does not fit in the device's free memory."""


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def _image_encoder_stand_in(projection_dim: int) -> Any:
    """A one-layer ``CLIPVisionModelWithProjection``: the pipeline reads its dtype but never runs it here."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    cfg = CLIPVisionConfig(
        hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=1,
        image_size=14, patch_size=14, projection_dim=projection_dim,
    )
    return CLIPVisionModelWithProjection(cfg)


def _dtype_kwarg() -> str:
    """``from_pretrained``'s dtype argument: ``dtype`` in recent diffusers, ``torch_dtype`` before."""
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE") else "torch_dtype"


OFFLOAD_MARGIN_BYTES = 1 << 30  # denoising activations at 768 px, fp16


def _pipeline_bytes(pipe: Any) -> int:
    modules = [m for m in pipe.components.values() if isinstance(m, torch.nn.Module)]
    return sum(t.numel() * t.element_size() for m in modules for t in [*m.parameters(), *m.buffers()])


def needs_cpu_offload(pipeline_bytes: int, free_bytes: int) -> bool:
    """True when the whole pipeline plus a working margin does not fit in the GPU's free memory."""
    return pipeline_bytes + OFFLOAD_MARGIN_BYTES > free_bytes


class UnclipDecoder:
    """``image_embeds`` [B, 1024] -> PIL images through Stable unCLIP."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        seed: int | None = None,
        cpu_offload: bool | None = None,
    ) -> None:
        """``cpu_offload``: keep the pipeline on the CPU and move each part to the GPU only while it runs (diffusers'
        model CPU offload); None decides at load time from the GPU's free memory (see ``needs_cpu_offload``)."""
        self.folder = Path(folder)
        self.cpu_offload = cpu_offload
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self.seed = seed
        self._pipe: StableUnCLIPImg2ImgPipeline | None = None
        self._session_latents: torch.Tensor | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def load(self) -> StableUnCLIPImg2ImgPipeline:
        """Load the pipeline (once); raises ``UnclipError``/``UnclipOutOfMemory`` with a readable message."""
        with self._lock:
            if self._pipe is None:
                self._pipe = self._load()
            return self._pipe

    def _load(self) -> StableUnCLIPImg2ImgPipeline:
        from diffusers import StableUnCLIPImg2ImgPipeline

        if not (self.folder / "model_index.json").is_file():
            raise UnclipError(f"the image decoder (Stable unCLIP) is not installed at {self.folder}")
        normalizer_cfg = self.folder / "image_normalizer" / "config.json"
        embed_dim = 1024
        if normalizer_cfg.is_file():
            import json

            embed_dim = int(json.loads(normalizer_cfg.read_text(encoding="utf-8")).get("embedding_dim", embed_dim))
        try:
            pipe = StableUnCLIPImg2ImgPipeline.from_pretrained(
                self.folder,
                **{_dtype_kwarg(): self.dtype},
                image_encoder=_image_encoder_stand_in(embed_dim).to(self.dtype),
                feature_extractor=None,
                local_files_only=True,
            )
            offload = self.cpu_offload
            if offload is None and self.device.type == "cuda":  # pragma: no cover - needs a GPU
                free, _total = torch.cuda.mem_get_info(self.device)
                offload = needs_cpu_offload(_pipeline_bytes(pipe), free)
            if offload and self.device.type == "cuda":  # pragma: no cover - needs a GPU
                pipe.enable_model_cpu_offload(device=self.device)
                logger.info("unCLIP runs with model CPU offload (not enough free GPU memory to keep it resident)")
            else:
                pipe = pipe.to(self.device)
        except Exception as exc:
            self._raise_if_oom(exc, "load the image decoder")
            raise UnclipError(f"the image decoder at {self.folder} could not be loaded: {exc}") from exc
        pipe.set_progress_bar_config(disable=True)
        logger.info("unCLIP loaded from %s on %s (%s)", self.folder, self.device, self.dtype)
        return pipe

    def _raise_if_oom(self, exc: BaseException, doing: str) -> None:
        """The one out-of-memory handler: free the cache and raise ``UnclipOutOfMemory`` saying what did not fit."""
        if _is_oom(exc):
            self._free_cache()
            raise UnclipOutOfMemory(
                f"not enough {self.device} memory to {doing}; close other GPU programs, use the CPU, and retry"
            ) from exc

    def _free_cache(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def release(self) -> None:
        """Free the pipeline (reloads on next use); the session latents are kept."""
        with self._lock:
            self._pipe = None
        self._free_cache()

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        unet = self.load().unet.config
        return (1, unet.in_channels, unet.sample_size, unet.sample_size)

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the drawn images: unet sample size x VAE scale (768x768 at full size)."""
        pipe = self.load()
        side = pipe.unet.config.sample_size * pipe.vae_scale_factor
        return side, side

    def _latents(self, seed: int | None) -> torch.Tensor:
        """Initial latents: fresh from ``seed`` when given, else the session's (drawn once, as the reference does)."""
        shape = self.latent_shape
        if seed is not None:
            return torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        if self._session_latents is None or tuple(self._session_latents.shape) != shape:
            gen = torch.Generator()
            if self.seed is not None:
                gen.manual_seed(self.seed)
            else:
                gen.seed()
            self._session_latents = torch.randn(shape, generator=gen)
        return self._session_latents

    def decode(
        self,
        image_embeds: torch.Tensor,
        state: CancelToken | None = None,
        seed: int | None = None,
        num_inference_steps: int = NUM_STEPS,
        guidance_scale: float = GUIDANCE_SCALE,
    ) -> Image.Image:
        """Draw one image from ``image_embeds`` [1, 1024]; raises :class:`~anygpt_desktop.cancel.Cancelled` when ``state`` cancels."""
        if state is not None and state.cancelled():
            raise Cancelled("image generation cancelled")
        pipe = self.load()
        embeds = torch.as_tensor(image_embeds).reshape(1, -1).to(self.device, self.dtype)
        latents = self._latents(seed).to(self.device, self.dtype)
        noise_gen = torch.Generator().manual_seed(seed if seed is not None else (self.seed or 0))
        # PNDM (PLMS) runs 21 unet evaluations for 20 steps; report progress over the real count.
        pipe.scheduler.set_timesteps(num_inference_steps)
        total = len(pipe.scheduler.timesteps)

        def on_step(step: int, _t: Any, _latents: torch.Tensor) -> None:
            if state is None:
                return
            state.progress(min(1.0, (step + 1) / total))
            if state.cancelled():
                raise Cancelled("image generation cancelled")

        try:
            with torch.inference_mode():
                out = pipe(
                    prompt="",
                    image_embeds=embeds,
                    guidance_scale=guidance_scale,
                    noise_level=NOISE_LEVEL,
                    num_inference_steps=num_inference_steps,
                    latents=latents,
                    generator=noise_gen,
                    callback=on_step,
                    callback_steps=1,
                )
        except Cancelled:
            raise
        except Exception as exc:
            self._raise_if_oom(exc, "draw the image")
            raise
        return out.images[0]
