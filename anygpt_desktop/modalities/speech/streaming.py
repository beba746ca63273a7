"""Streaming speech synthesis: speech units in as the LLM produces them, audio chunks out as soon as possible.

Pipeline per chunk: SoundStorm fills the acoustic levels of the newly arrived units, prompted with the voice prompt
plus the last ``left_context_frames`` frames already generated (all 8 levels, so the voice continues smoothly); the
SpeechTokenizer decoder then decodes a window of ``left_context_frames`` old frames + the new ones and the audio of
the new frames is emitted, except the last ``lookahead_frames``, held back until their right-hand context arrives
(the decoder's convolutions look ~4 frames ahead). The first audio comes after ``first_chunk_frames`` units
(25 = 0.5 s of speech).

Seam error of the decoder windowing (``measure_decoder_seams``: the same codes streamed vs decoded whole; 10 s of
speech (voice_prompt1.wav) encoded, chunks of 25 frames; max error relative to the peak, error energy vs signal)::

    left_context  lookahead   tiny kit (seed 0)       golden-kit tokenizer
         0            0        0.11     -55 dB         0.14     -49 dB
         8            0        0.059    -61 dB         0.14     -50 dB
         8            4        2.9e-5  -112 dB         8.1e-5  -104 dB
        16            4        1.7e-6  -137 dB         2.0e-6  -133 dB
        32            2        6.0e-5  -111 dB         5.5e-5  -112 dB
        32            4        3.2e-7  -143 dB         5.6e-7  -137 dB
        50            6        3.7e-7  -143 dB         5.1e-7  -137 dB

Without lookahead the right edge of each window is decoded from reflect padding (audible clicks); 4 frames cover
the decoder's right-hand receptive field. The rest comes from the decoder LSTM starting from zero at the window
start and decays with left context. Defaults: left context 32 frames, lookahead 4 frames (error >130 dB below the
signal: inaudible; cost: 80 ms extra latency and 32 extra frames per decode window). A trained LSTM may remember
longer than these random ones; 32 frames leaves a margin over the 16 that already suffice here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from anygpt_desktop.cancel import CancelToken
from anygpt_desktop.modalities.speech.errors import SpeechInputError
from anygpt_desktop.modalities.speech.soundstorm import SoundStorm
from anygpt_desktop.modalities.speech.speechtokenizer import HOP_LENGTH, SpeechTokenizer
from anygpt_desktop.modalities.speech.voice import VoicePrompt

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSettings:
    """Chunking of streaming synthesis, in 20 ms frames (see the module docstring for the measurements)."""

    first_chunk_frames: int = 25
    chunk_frames: int = 25
    left_context_frames: int = 32
    lookahead_frames: int = 4
    steps: int = 3

    def __post_init__(self) -> None:
        if self.first_chunk_frames < 1 or self.chunk_frames < 1:
            raise ValueError("chunk sizes must be at least one frame")
        if self.left_context_frames < 0 or self.lookahead_frames < 0 or self.steps < 1:
            raise ValueError("left context and lookahead must be >= 0, steps >= 1")


class StreamingDecoder:
    """Decodes full codes ``[frames, 8]`` pushed in pieces into contiguous audio (float32 numpy, 16 kHz)."""

    def __init__(self, tokenizer: SpeechTokenizer, left_context_frames: int, lookahead_frames: int) -> None:
        self.tokenizer = tokenizer
        self.left = left_context_frames
        self.lookahead = lookahead_frames
        self.codes = torch.zeros((0, tokenizer.cfg.n_q), dtype=torch.long)
        self.emitted = 0

    def push(self, codes: torch.Tensor) -> np.ndarray:
        """Add frames; return the audio that is now final (may be empty)."""
        self.codes = torch.cat([self.codes, codes.cpu().long()])
        return self._emit(len(self.codes) - self.lookahead)

    def flush(self) -> np.ndarray:
        """Return the audio of every frame not yet emitted (end of utterance)."""
        return self._emit(len(self.codes))

    def _emit(self, upto: int) -> np.ndarray:
        if upto <= self.emitted:
            return np.zeros(0, dtype=np.float32)
        start = max(0, self.emitted - self.left)
        window = self.codes[start:]
        wav = self.tokenizer.decode(window.t()[:, None, :])[0, 0].cpu().numpy()
        out = wav[(self.emitted - start) * HOP_LENGTH : (upto - start) * HOP_LENGTH]
        self.emitted = upto
        return out


def synthesize(
    tokenizer: SpeechTokenizer, soundstorm: SoundStorm, units: Sequence[int] | torch.Tensor,
    prompt: VoicePrompt | None = None, steps: int = 3,
) -> np.ndarray:
    """Whole-utterance synthesis (the reference's ``decode_speech``): units -> float32 audio at 16 kHz."""
    semantic = torch.as_tensor(units).reshape(1, -1)
    codes = soundstorm.generate(semantic, None if prompt is None else prompt.codes, steps=steps)
    return tokenizer.decode(codes.permute(2, 0, 1))[0, 0].cpu().numpy()


def _flatten(item: int | Sequence[int] | torch.Tensor) -> list[int]:
    if isinstance(item, (int, np.integer)):
        return [int(item)]
    return [int(u) for u in torch.as_tensor(item).reshape(-1).tolist()]


def stream_synthesis(
    tokenizer: SpeechTokenizer,
    soundstorm: SoundStorm,
    units: Iterable[int | Sequence[int]],
    prompt: VoicePrompt | None = None,
    settings: StreamSettings = StreamSettings(),
    cancel: CancelToken | None = None,
) -> Iterator[np.ndarray]:
    """Yield float32 16 kHz audio chunks while ``units`` (single units or lists of new units) keep arriving.

    Stops quietly when ``cancel.cancelled()`` turns true. Seeding is the caller's (``torch.manual_seed``), as for
    ``SoundStorm.generate``.
    """
    decoder = StreamingDecoder(tokenizer, settings.left_context_frames, settings.lookahead_frames)
    semantic: list[int] = []
    generated = torch.zeros((0, tokenizer.cfg.n_q), dtype=torch.long)

    def is_cancelled() -> bool:
        return cancel is not None and cancel.cancelled()

    def generate_pending() -> np.ndarray:
        nonlocal generated
        new = torch.tensor([semantic[len(generated):]])
        context = generated[len(generated) - min(len(generated), settings.left_context_frames):]
        parts = ([prompt.codes[0].cpu()] if prompt is not None else []) + ([context] if len(context) else [])
        full_prompt = torch.cat(parts)[None] if parts else None
        codes = soundstorm.generate(new, full_prompt, steps=settings.steps)[0].cpu()
        generated = torch.cat([generated, codes])
        return decoder.push(codes)

    for item in units:
        if is_cancelled():
            logger.info("speech stream cancelled after %d units", len(semantic))
            return
        new_units = _flatten(item)
        if any(u < 0 or u >= soundstorm.cfg.num_semantic_token_ids for u in new_units):
            raise SpeechInputError(f"speech units must be in 0..{soundstorm.cfg.num_semantic_token_ids - 1}")
        semantic.extend(new_units)
        need = settings.first_chunk_frames if len(generated) == 0 else settings.chunk_frames
        if len(semantic) - len(generated) >= need:
            audio = generate_pending()
            if len(audio):
                yield audio
    if is_cancelled():
        return
    if len(semantic) > len(generated):
        audio = generate_pending()
        if len(audio):
            yield audio
    tail = decoder.flush()
    if len(tail):
        yield tail


def measure_decoder_seams(
    tokenizer: SpeechTokenizer, codes: torch.Tensor, chunk_frames: int, left_context_frames: int,
    lookahead_frames: int,
) -> tuple[float, float]:
    """Streamed vs whole decode of the same codes ``[frames, 8]``: (max abs error / peak, error energy in dB)."""
    whole = tokenizer.decode(codes.t()[:, None, :])[0, 0].cpu().numpy()
    dec = StreamingDecoder(tokenizer, left_context_frames, lookahead_frames)
    pieces = [dec.push(codes[i : i + chunk_frames]) for i in range(0, len(codes), chunk_frames)]
    streamed = np.concatenate(pieces + [dec.flush()])
    err = streamed.astype(np.float64) - whole
    peak = float(np.abs(whole).max()) or 1.0
    energy_db = 10 * np.log10((err**2).sum() / max((whole.astype(np.float64) ** 2).sum(), 1e-30) + 1e-30)
    return float(np.abs(err).max()) / peak, float(energy_db)
