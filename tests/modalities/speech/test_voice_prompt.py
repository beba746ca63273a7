from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from anygpt_desktop.modalities.speech.errors import VoicePromptError
from anygpt_desktop.modalities.speech.streaming import synthesize
from anygpt_desktop.modalities.speech.voice import VoicePromptCache


def _speechlike(seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * envelope * np.sin(2 * np.pi * (150 + 100 * t) * t) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def test_voice_prompt_round_trip(tiny_speech, tmp_path: Path) -> None:
    tokenizer, soundstorm = tiny_speech
    sr = 22050
    voice = _speechlike(8.0, sr)
    padded = np.concatenate([np.zeros(sr), voice, np.zeros(sr)])  # 1 s of silence on each side
    path = tmp_path / "prompt.wav"
    sf.write(path, np.stack([padded, padded], axis=1), sr)  # stereo, 22.05 kHz

    cache = VoicePromptCache(tokenizer, cache_dir=tmp_path / "cache", max_seconds=5.0)
    prompt = cache.from_file(path)
    assert prompt.codes.shape == (1, 250, 8)  # silence trimmed, capped at 5 s = 250 frames
    assert abs(prompt.seconds - 5.0) < 1e-6
    assert len(set(prompt.codes[0, :, 0].tolist())) > 5
    assert cache.from_file(path) is prompt and cache.encodes == 1

    fresh = VoicePromptCache(tokenizer, cache_dir=tmp_path / "cache", max_seconds=5.0)
    again = fresh.from_file(path)
    assert fresh.encodes == 0 and (again.codes == prompt.codes).all()

    units = prompt.codes[0, :20, 0]
    wav = synthesize(tokenizer, soundstorm, units, prompt, steps=3)
    assert wav.shape == (20 * 320,) and np.isfinite(wav).all() and np.abs(wav).max() > 0
    default_voice = synthesize(tokenizer, soundstorm, units, None, steps=3)
    assert default_voice.shape == wav.shape


def test_unusable_prompts_raise_voice_prompt_error(tiny_speech, tmp_path: Path) -> None:
    tokenizer, _ = tiny_speech
    cache = VoicePromptCache(tokenizer)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(32000, dtype=np.float32), 16000)
    with pytest.raises(VoicePromptError, match="silent"):
        cache.from_file(silent)
    short = tmp_path / "short.wav"
    sf.write(short, _speechlike(0.2, 16000), 16000)
    with pytest.raises(VoicePromptError, match="under 0.5 s"):
        cache.from_file(short)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF1234WAVEjunk")
    with pytest.raises(VoicePromptError, match="could not be read as audio"):
        cache.from_file(corrupt)
    with pytest.raises(VoicePromptError, match="does not exist"):
        cache.from_file(tmp_path / "missing.wav")
