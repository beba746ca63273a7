"""Music file loading: mono 32 kHz crops, the reference's seeded random offset, readable errors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from anygpt_desktop.modalities.music.audio_file import load_music_file
from anygpt_desktop.modalities.music.errors import MusicFileError


def _tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([left, -left * 0.5][:channels], axis=1).astype(np.float32)


def test_stereo_44k1_becomes_mono_32k_five_seconds_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "song.wav"
    data = _tone(7.0, 44100, channels=2)
    sf.write(path, data, 44100, subtype="FLOAT")
    clip = load_music_file(path)
    assert clip.start_frame == 0 and clip.file_rate == 44100 and clip.file_frames == data.shape[0]
    assert clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert abs(clip.samples.size - 5 * 32000) <= 1
    # mono = mean of L and -L/2 = L/4: amplitude 0.125
    assert abs(float(np.abs(clip.samples[1000:-1000]).max()) - 0.125) < 0.005


def test_seeded_offset_reproduces_the_reference_draw(tmp_path: Path) -> None:
    path = tmp_path / "ramp.wav"
    total = 3 * 32000
    ramp = (np.arange(total) % 30000 - 15000).astype(np.int16)
    sf.write(path, ramp, 32000, subtype="PCM_16")
    clip = load_music_file(path, segment_s=1, rng=random.Random(7))
    expected_start = random.Random(7).randint(0, total - 32000)
    assert clip.start_frame == expected_start
    np.testing.assert_array_equal(clip.samples, ramp[expected_start : expected_start + 32000] / np.float32(32768))


def test_short_file_is_returned_whole(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    sf.write(path, _tone(1.0, 32000), 32000)
    assert load_music_file(path, rng=random.Random(0)).samples.size == 32000


@pytest.mark.parametrize(
    ("writer", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_bytes(b"RIFF\x00\x00garbage" * 10), "could not be read as audio"),
        (lambda p: sf.write(p, np.zeros((0, 1), np.float32), 32000), "no audio|too short"),
        (lambda p: sf.write(p, _tone(0.01, 32000), 32000), "too short"),
        (lambda p: sf.write(p, np.zeros((32000, 1), np.float32), 32000), "silent"),
    ],
    ids=["missing", "corrupt", "empty", "too_short", "silent"],
)
def test_unusable_files_raise_a_clear_error(tmp_path: Path, writer, message: str) -> None:
    path = tmp_path / "bad.wav"
    writer(path)
    with pytest.raises(MusicFileError, match=message):
        load_music_file(path)


def test_silence_can_be_allowed(tmp_path: Path) -> None:
    path = tmp_path / "quiet.wav"
    sf.write(path, np.zeros((16000, 1), np.float32), 32000)
    assert load_music_file(path, allow_silent=True).samples.size == 16000


def test_reference_crop(reference_dir: Path) -> None:
    import json

    music = reference_dir / "golden" / "music"
    expected = json.loads((music / "expected.json").read_text(encoding="utf-8"))
    rng = random.Random(expected["python_random_seed"])
    clip = load_music_file(reference_dir / expected["music_file"], segment_s=expected["segment_s"], rng=rng)
    assert clip.start_frame == expected["crop_start_sample"]
    np.testing.assert_array_equal(clip.samples, np.load(music / "input_32k.npy"))
