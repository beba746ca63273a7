"""The media models one assistant needs, loaded on first use from a models folder (no Qt)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from anygpt_desktop.audio.files import SPEECH_INPUT_MAX_SECONDS as MAX_SPEECH_INPUT_SECONDS  # 60 s = 3000 units
from anygpt_desktop.engine.llm import ModelLoadError
from anygpt_desktop.layout import ModelPaths

if TYPE_CHECKING:
    from anygpt_desktop.modalities.image.image_codec import ImageCodec
    from anygpt_desktop.modalities.music.codec import EncodecMusic
    from anygpt_desktop.modalities.speech.soundstorm import SoundStorm
    from anygpt_desktop.modalities.speech.speechtokenizer import SpeechTokenizer
    from anygpt_desktop.modalities.speech.voice import VoicePromptCache

logger = logging.getLogger(__name__)

SPEECH_RATE = 16000
MUSIC_RATE = 32000
MUSIC_INPUT_SECONDS = 5.0  # the chat CLI's crop and the pre-training clip length (reference-behaviour §6)


class MediaModels:
    """SpeechTokenizer, SoundStorm, SEED+unCLIP and Encodec, each loaded the first time it is needed."""

    def __init__(self, models_root: Path, device: torch.device, seed: int | None = None) -> None:
        self.paths = ModelPaths(Path(models_root))
        self.device = device
        self.seed = seed
        self._lock = threading.Lock()
        self._speechtokenizer: SpeechTokenizer | None = None
        self._soundstorm: SoundStorm | None = None
        self._image: ImageCodec | None = None
        self._music: EncodecMusic | None = None
        self._voices: VoicePromptCache | None = None
        self._image_used = 0.0

    def _require(self, path: Path, what: str) -> None:
        if not path.exists():
            raise ModelLoadError(f"the {what} is missing ({path}); open the model manager to download it")

    def _speech_dtype(self) -> torch.dtype:
        return torch.float16 if self.device.type == "cuda" else torch.float32

    @property
    def speechtokenizer(self) -> SpeechTokenizer:
        with self._lock:
            if self._speechtokenizer is None:
                from anygpt_desktop.modalities.speech.speechtokenizer import load_speechtokenizer

                self._require(self.paths.speechtokenizer_ckpt, "speech tokenizer")
                self._require(self.paths.speechtokenizer_config, "speech tokenizer config")
                # the codec stays in fp32: its RVQ decisions and LSTMs are sensitive, and it is small
                self._speechtokenizer = load_speechtokenizer(
                    self.paths.speechtokenizer_config, self.paths.speechtokenizer_ckpt, device=self.device
                )
            return self._speechtokenizer

    @property
    def soundstorm(self) -> SoundStorm:
        with self._lock:
            if self._soundstorm is None:
                from anygpt_desktop.modalities.speech.soundstorm import load_soundstorm

                self._require(self.paths.soundstorm_ckpt, "SoundStorm model")
                self._soundstorm = load_soundstorm(self.paths.soundstorm_ckpt, device=self.device, dtype=self._speech_dtype())
            return self._soundstorm

    @property
    def voices(self) -> VoicePromptCache:
        if self._voices is None:
            from anygpt_desktop.modalities.speech.voice import VoicePromptCache

            self._voices = VoicePromptCache(self.speechtokenizer)
        return self._voices

    @property
    def image(self) -> ImageCodec:
        self._image_used = time.monotonic()
        with self._lock:
            if self._image is None:
                from anygpt_desktop.modalities.image.image_codec import ImageCodec

                self._require(self.paths.seed_quantizer, "SEED image tokenizer")
                self._image = ImageCodec(self.paths.root, device=str(self.device), seed=self.seed)
            return self._image

    @property
    def music(self) -> EncodecMusic:
        with self._lock:
            if self._music is None:
                from anygpt_desktop.modalities.music.codec import EncodecMusic

                self._require(self.paths.encodec_32k, "Encodec 32 kHz music codec")
                self._music = EncodecMusic.load(self.paths.encodec_32k, device=self.device)
            return self._music

    # -- inputs ------------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def speech_units(self, wav: np.ndarray) -> list[int]:
        """16 kHz float32 mono → the LLM's speech units (SpeechTokenizer RVQ layer 0, 50 per second).

        A recording longer than ``MAX_SPEECH_INPUT_SECONDS`` is refused with ``AudioTooLongError`` naming the limit."""
        seconds = len(wav) / SPEECH_RATE
        if seconds > MAX_SPEECH_INPUT_SECONDS:
            from anygpt_desktop.audio.errors import AudioTooLongError

            raise AudioTooLongError(
                f"the recording is {seconds:.0f} s long; the limit for a spoken input is {MAX_SPEECH_INPUT_SECONDS:.0f} s "
                "(what the model can listen to at once). Say it in shorter parts."
            )
        x = torch.as_tensor(np.ascontiguousarray(wav), dtype=torch.float32, device=self.device)[None, None]
        codes = self.speechtokenizer.encode(x)
        return [int(u) for u in codes[0, 0].tolist()]

    def speech_file_units(self, path: Path) -> list[int]:
        from anygpt_desktop.audio.files import load_audio

        # the reference keeps channel 0 of a speech instruction and resamples with torchaudio's sinc filter
        # (reference-behaviour §4.1): the "sinc" method reproduces it within 1e-7, so the model hears the units it was trained on
        wav = load_audio(path, SPEECH_RATE, channel_rule="first", max_seconds=MAX_SPEECH_INPUT_SECONDS, method="sinc")
        return self.speech_units(wav)

    def image_units(self, path: Path) -> list[int]:
        return list(self.image.encode(path))

    def music_codes(self, path: Path) -> np.ndarray:
        from anygpt_desktop.modalities.music.audio_file import load_music_file

        clip = load_music_file(path, segment_s=MUSIC_INPUT_SECONDS)
        return np.asarray(self.music.encode(clip.samples))

    def release_images(self) -> None:
        """Free the SEED and unCLIP models (they load again on next use)."""
        if self._image is not None:
            self._image.release()

    def release_idle(self, max_idle_seconds: float) -> bool:
        """Free the image models (the largest after the LLM) if unused for ``max_idle_seconds``; True if freed."""
        if self._image is None or time.monotonic() - self._image_used < max_idle_seconds:
            return False
        logger.info("image models unused for %.0f s: released", time.monotonic() - self._image_used)
        self.release_images()
        self._image_used = float("inf")  # nothing left to free until the next use
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        return True
