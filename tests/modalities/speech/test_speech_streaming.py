from __future__ import annotations

import numpy as np
import torch

from anygpt_desktop.cancel import TaskState
from anygpt_desktop.modalities.speech.streaming import (
    StreamSettings,
    measure_decoder_seams,
    stream_synthesis,
)


def _codes(tokenizer, seconds: float = 4.0) -> torch.Tensor:
    t = torch.arange(int(seconds * 16000)) / 16000
    wav = 0.3 * torch.sin(2 * torch.pi * (200 + 200 * t) * t) + 0.02 * torch.randn(len(t), generator=torch.Generator().manual_seed(0))
    return tokenizer.encode(wav[None, None])[:, 0].t()


def test_decoder_seams_inaudible_with_defaults(tiny_speech) -> None:
    tokenizer, _ = tiny_speech
    codes = _codes(tokenizer)
    s = StreamSettings()
    rel, energy_db = measure_decoder_seams(tokenizer, codes, 25, s.left_context_frames, s.lookahead_frames)
    assert rel < 1e-3 and energy_db < -80
    rel_naive, energy_naive = measure_decoder_seams(tokenizer, codes, 25, 0, 0)
    assert rel_naive > 1e-2 and energy_naive > energy_db + 30


def test_stream_yields_early_and_covers_all_units(tiny_speech) -> None:
    tokenizer, soundstorm = tiny_speech
    units = _codes(tokenizer, 2.0)[:, 0].tolist()  # 100 units
    seen: list[int] = []

    def producer():
        for u in units:
            seen.append(u)
            yield u

    torch.manual_seed(0)
    stream = stream_synthesis(tokenizer, soundstorm, producer())
    first = next(stream)
    assert len(seen) == 25  # audio after 0.5 s of units
    assert len(first) == (25 - StreamSettings().lookahead_frames) * 320
    rest = list(stream)
    total = len(first) + sum(len(c) for c in rest)
    assert total == len(units) * 320
    assert all(np.isfinite(c).all() for c in rest)


def test_stream_cancel_stops(tiny_speech) -> None:
    tokenizer, soundstorm = tiny_speech
    cancel = TaskState()
    chunks = []
    for chunk in stream_synthesis(tokenizer, soundstorm, ([7] * 10 for _ in range(20)), cancel=cancel):
        chunks.append(chunk)
        cancel.cancel()
    assert len(chunks) == 1
