"""Encodec 32 kHz (``facebook/encodec_32khz`` layout) through ``transformers.EncodecModel``.

Loading: transformers reads ``model.safetensors`` or ``pytorch_model.bin`` (the latter with ``weights_only=True``) and
maps the weight-norm names of files written by transformers 4.x (``conv.weight_g`` / ``conv.weight_v``) onto its
parametrizations (``conv.parametrizations.weight.original0/1``) by itself; we refuse a folder where any weight stays
unloaded, because an uninitialised codebook silently yields one constant code.

The feature extractor of the release is a no-op for mono 32 kHz input without chunking (padding 0, no
normalisation), so the waveform goes straight to ``encode`` as ``[1, 1, T]`` with an all-ones padding mask.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from anygpt_desktop.modalities.music.audio_file import DEFAULT_SEGMENT_S, load_music_file
from anygpt_desktop.modalities.music.errors import MusicError, MusicModelError
from anygpt_desktop.modalities.music.units import CODEBOOK_SIZE, NUM_CODEBOOKS, values_to_codes

logger = logging.getLogger(__name__)

SAMPLE_RATE = 32000
HOP_LENGTH = 640  # product of upsampling_ratios [8, 5, 4, 4]


class EncodecMusic:
    """Encode 32 kHz mono audio to ``[4, frames]`` codes and decode codes back to audio."""

    def __init__(self, model: torch.nn.Module, device: str | torch.device = "cpu") -> None:
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        config = model.config
        self.sample_rate = int(config.sampling_rate)
        self.hop_length = int(np.prod(config.upsampling_ratios))
        self.num_codebooks = self._codebooks_at_target_bandwidth()
        if (self.sample_rate, config.codebook_size, self.num_codebooks) != (SAMPLE_RATE, CODEBOOK_SIZE, NUM_CODEBOOKS):
            raise MusicModelError(
                f"expected a 32 kHz Encodec with {NUM_CODEBOOKS} codebooks of {CODEBOOK_SIZE}, got "
                f"{self.sample_rate} Hz, {self.num_codebooks} x {config.codebook_size}"
            )

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> "EncodecMusic":
        """Load an ``encodec_32khz/`` folder; raise :class:`MusicModelError` when it is missing or incomplete."""
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise MusicModelError(f"no Encodec 32 kHz model at {folder} (config.json missing)")
        from transformers import EncodecModel

        try:
            model, info = EncodecModel.from_pretrained(str(folder), output_loading_info=True, dtype=torch.float32)
        except (OSError, ValueError, RuntimeError) as exc:
            raise MusicModelError(f"cannot load the Encodec 32 kHz model from {folder}: {exc}") from exc
        except Exception as exc:  # safetensors raises its own error type for a damaged file
            if type(exc).__name__ != "SafetensorError":
                raise
            raise MusicModelError(f"the Encodec 32 kHz model in {folder} is damaged or incomplete ({exc}); "
                                  "download it again") from exc
        missing = sorted(info.get("missing_keys") or [])
        mismatched = list(info.get("mismatched_keys") or [])
        if missing or mismatched:
            raise MusicModelError(
                f"the Encodec weights in {folder} do not fit its config: "
                f"{len(missing)} missing (e.g. {missing[:3]}), {len(mismatched)} with the wrong shape"
            )
        if info.get("unexpected_keys"):
            logger.warning("Encodec %s: ignored %d unexpected keys", folder, len(info["unexpected_keys"]))
        return cls(model, device)

    def _codebooks_at_target_bandwidth(self) -> int:
        config = self.model.config
        frame_rate = config.sampling_rate / np.prod(config.upsampling_ratios)
        bits = np.log2(config.codebook_size) * frame_rate
        return max(1, int(config.target_bandwidths[0] * 1000 // bits))

    @torch.inference_mode()
    def encode(self, wav: np.ndarray) -> np.ndarray:
        """Mono float audio at 32 kHz ``[T]`` → codes ``[4, ceil(T / 640)]`` (int64)."""
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1:
            raise MusicError(f"expected mono audio [samples], got shape {list(wav.shape)}")
        if wav.size < self.hop_length:
            raise MusicError(f"audio too short to encode: {wav.size} samples, at least {self.hop_length} needed")
        x = torch.from_numpy(wav).to(self.device)[None, None, :]
        mask = torch.ones(1, wav.size, dtype=torch.long, device=self.device)
        out = self.model.encode(x, mask, bandwidth=None)
        codes = out.audio_codes  # [chunks=1, batch=1, codebooks, frames]
        if codes.shape[0] != 1:
            raise MusicModelError("chunked Encodec configs are not supported (chunk_length_s must be null)")
        return codes[0, 0].cpu().numpy().astype(np.int64)

    @torch.inference_mode()
    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Codes ``[4, frames]`` → mono float32 audio at 32 kHz, ``frames * 640`` samples."""
        arr = np.asarray(codes)
        if arr.ndim != 2 or arr.shape[0] != self.num_codebooks or arr.shape[1] == 0:
            raise MusicError(f"expected codes [{self.num_codebooks}, frames>0], got shape {list(arr.shape)}")
        if arr.min() < 0 or arr.max() >= CODEBOOK_SIZE:
            raise MusicError(f"music codes must lie in 0..{CODEBOOK_SIZE - 1}")
        x = torch.from_numpy(arr.astype(np.int64)).to(self.device)[None, None]
        audio = self.model.decode(x, [None])[0]  # [1, 1, T]
        return audio[0, 0].float().cpu().numpy()

    def encode_file(
        self, path: str | Path, segment_s: float | None = DEFAULT_SEGMENT_S, rng: random.Random | None = None
    ) -> np.ndarray:
        """Codes ``[4, frames]`` of a music file's crop (see :func:`load_music_file`)."""
        return self.encode(load_music_file(path, segment_s=segment_s, rng=rng).samples)

    def decode_values(self, values: Iterable[int], lenient: bool = False) -> np.ndarray:
        """Audio from music unit values (``<🎶n>`` numbers); ``lenient`` applies the reference's ``% 2048`` rule."""
        codes = values_to_codes(values, lenient=lenient)
        if codes.shape[1] == 0:
            raise MusicError("the music span holds no complete frame")
        return self.decode(codes)
