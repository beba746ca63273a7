"""Voice prompts (zero-shot voice for SoundStorm): encode a recording once, cache its codes by content.

A prompt recording is mixed to mono (channel mean, the reference's rule for prompts), resampled to 16 kHz, its silent
edges trimmed (20 ms frames quieter than ``TRIM_DB`` below the loudest frame, a 60 ms margin kept), then capped to
``max_seconds`` (default 6 s: SoundStorm attends over prompt + reply, so a long prompt costs time on every step while
adding little voice information; the reference used the whole file). After trimming it must last at least
``MIN_SECONDS``. Codes ``[1, frames, 8]`` are cached in memory and on disk under a key made of the file's sha256,
the settings and a fingerprint of the tokenizer weights.

**Default voice** (``prompt=None``): SoundStorm runs unprompted, exactly like the reference CLI without a voice
prompt: the acoustic levels come from the model alone (a neutral voice; for a fixed seed always the same).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from anygpt_desktop.audio.errors import AudioInputError
from anygpt_desktop.audio.files import load_audio, probe_audio
from anygpt_desktop.modalities.speech.audio_input import SAMPLE_RATE, to_model_input
from anygpt_desktop.modalities.speech.errors import SpeechInputError, VoicePromptError
from anygpt_desktop.modalities.speech.speechtokenizer import SpeechTokenizer

logger = logging.getLogger(__name__)

DEFAULT_MAX_SECONDS = 6.0
READ_SECONDS = 60.0  # a longer recording is read up to here (a 2-hour file is not decoded whole)
MIN_SECONDS = 0.5
TRIM_DB = 40.0
SILENCE_DBFS = -60.0
FRAME = 320  # 20 ms at 16 kHz
MARGIN_FRAMES = 3


@dataclass(frozen=True)
class VoicePrompt:
    """A voice prompt ready for ``SoundStorm.generate``: ``codes`` int64 ``[1, frames, 8]``."""

    codes: torch.Tensor
    seconds: float
    key: str

    @property
    def frames(self) -> int:
        return int(self.codes.shape[1])


def trim_and_cap(wav: np.ndarray, max_seconds: float = DEFAULT_MAX_SECONDS) -> np.ndarray:
    """Trim silent edges of a 16 kHz mono signal and cap its length; raises :class:`VoicePromptError`."""
    x = np.asarray(wav, dtype=np.float32).reshape(-1)
    n = len(x) // FRAME
    if n == 0:
        raise VoicePromptError("the voice prompt is too short (under 20 ms)")
    rms = np.sqrt(np.mean(x[: n * FRAME].reshape(n, FRAME).astype(np.float64) ** 2, axis=1) + 1e-20)
    db = 20 * np.log10(rms)
    if db.max() < SILENCE_DBFS:
        raise VoicePromptError("the voice prompt is silent; record a few seconds of speech")
    loud = np.flatnonzero(db >= db.max() - TRIM_DB)
    start = max(0, loud[0] - MARGIN_FRAMES) * FRAME
    end = min(n, loud[-1] + 1 + MARGIN_FRAMES) * FRAME
    x = x[start:end][: int(max_seconds * SAMPLE_RATE)]
    if len(x) < MIN_SECONDS * SAMPLE_RATE:
        raise VoicePromptError(f"the voice prompt has under {MIN_SECONDS:g} s of sound after trimming silence")
    return x


def _fingerprint(tokenizer: SpeechTokenizer) -> str:
    embed = tokenizer.quantizer.codebook(0).embed.detach().cpu().contiguous()
    return hashlib.sha256(embed.numpy().tobytes()).hexdigest()[:16]


class VoicePromptCache:
    """Encodes voice-prompt files with a SpeechTokenizer and caches the codes (memory + optional folder)."""

    def __init__(self, tokenizer: SpeechTokenizer, cache_dir: Path | str | None = None,
                 max_seconds: float = DEFAULT_MAX_SECONDS) -> None:
        self.tokenizer = tokenizer
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.max_seconds = max_seconds
        self._memory: dict[str, VoicePrompt] = {}
        self._model_id = _fingerprint(tokenizer)
        self.encodes = 0  # how many times the tokenizer actually ran (for tests and logs)

    def _key(self, content_hash: str) -> str:
        raw = f"{content_hash}:{self._model_id}:{self.max_seconds}:{TRIM_DB}:{MIN_SECONDS}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def from_file(self, path: Path | str) -> VoicePrompt:
        """The prompt for an audio file (any format soundfile reads, any rate, mono or multi-channel)."""
        path = Path(path)
        try:
            probe_audio(path)  # a folder, a dangling link or a non-audio file is said as such
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        except AudioInputError as exc:
            raise VoicePromptError(str(exc)) from exc
        except OSError as exc:
            raise VoicePromptError(f"cannot read the voice prompt {path}: {exc}") from exc
        key = self._key(digest.hexdigest())
        cached = self._lookup(key)
        if cached is not None:
            return cached
        try:
            # channels averaged, as the reference did for a voice prompt (reference-behaviour §4.3); silence is judged after trimming.
            # Only the first READ_SECONDS are decoded: the prompt keeps at most max_seconds of it after trimming.
            wav = load_audio(path, SAMPLE_RATE, channel_rule="mean", method="sinc", allow_silent=True,
                             max_seconds=READ_SECONDS, on_too_long="truncate")
        except AudioInputError as exc:
            raise VoicePromptError(str(exc)) from exc
        return self._encode(wav, SAMPLE_RATE, key)

    def from_waveform(self, audio: np.ndarray, sample_rate: int) -> VoicePrompt:
        """The prompt for samples ``[T]`` or ``[channels, T]`` at ``sample_rate``."""
        x = np.ascontiguousarray(audio, dtype=np.float32)
        key = self._key(hashlib.sha256(x.tobytes() + str(sample_rate).encode()).hexdigest())
        cached = self._lookup(key)
        return cached if cached is not None else self._encode(x, sample_rate, key)

    def _lookup(self, key: str) -> VoicePrompt | None:
        if key in self._memory:
            return self._memory[key]
        if self.cache_dir is not None:
            path = self.cache_dir / f"{key}.npy"
            if path.is_file():
                try:
                    codes = torch.from_numpy(np.load(path)).long()
                except (OSError, ValueError):
                    logger.warning("voice prompt cache entry %s is unreadable; re-encoding", path)
                    return None
                prompt = VoicePrompt(codes, codes.shape[1] * FRAME / SAMPLE_RATE, key)
                self._memory[key] = prompt
                return prompt
        return None

    def _encode(self, audio: np.ndarray, sample_rate: int, key: str) -> VoicePrompt:
        try:
            wav = to_model_input(audio, sample_rate, channels="mean")[0, 0].numpy()
        except SpeechInputError as exc:
            raise VoicePromptError(str(exc)) from exc
        wav = trim_and_cap(wav, self.max_seconds)
        codes = self.tokenizer.encode(torch.from_numpy(wav)[None, None]).permute(1, 2, 0).cpu()  # [1, frames, 8]
        self.encodes += 1
        prompt = VoicePrompt(codes, len(wav) / SAMPLE_RATE, key)
        self._memory[key] = prompt
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            np.save(self.cache_dir / f"{key}.npy", codes.numpy())
        logger.info("voice prompt encoded: %.2f s, %d frames", prompt.seconds, prompt.frames)
        return prompt
