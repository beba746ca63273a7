"""anygpt_desktop.audio.files: loading any file as float32 mono, the input checks, resampling, atomic WAV writing."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from anygpt_desktop.audio import files
from anygpt_desktop.audio.errors import (
    AudioFileNotFoundError,
    AudioInputError,
    AudioTooLongError,
    EmptyAudioError,
    SilentAudioError,
    UnsupportedAudioError,
)
from anygpt_desktop.audio.files import load_audio, read_audio, resample, save_wav


def _stereo(sr: int, seconds: float = 1.0) -> np.ndarray:
    """Left = 440 Hz, right = 1000 Hz, both 0.3 amplitude."""
    t = np.arange(int(sr * seconds)) / sr
    return np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 1000 * t)], axis=1).astype(np.float32)


def _band_energy(x: np.ndarray, sr: int, f: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    return float(spec[(freqs > f - 20) & (freqs < f + 20)].sum() / spec.sum())


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext"),
    [("WAV", "PCM_16", ".wav"), ("WAV", "FLOAT", ".wav"), ("FLAC", "PCM_24", ".flac"), ("OGG", "VORBIS", ".ogg")],
)
def test_formats_load_as_mono_at_target_rate(tmp_path: Path, fmt: str, subtype: str, ext: str) -> None:
    path = tmp_path / f"in{ext}"
    sf.write(path, _stereo(44100), 44100, format=fmt, subtype=subtype)
    info = read_audio(path, 16000)
    assert info.wav.dtype == np.float32 and info.wav.ndim == 1
    assert abs(len(info.wav) - 16000) <= 2
    assert (info.sample_rate, info.source_sample_rate, info.source_channels) == (16000, 44100, 2)
    assert info.source_format.startswith(fmt)
    assert not (info.clipped or info.silent or info.truncated)
    # "first" keeps the left channel only
    assert _band_energy(info.wav, 16000, 440) > 0.95
    assert _band_energy(info.wav, 16000, 1000) < 0.01


def test_mean_rule_averages_the_channels(tmp_path: Path) -> None:
    path = tmp_path / "st.wav"
    stereo = _stereo(16000)
    sf.write(path, stereo, 16000, subtype="FLOAT")
    wav = load_audio(path, 16000, channel_rule="mean")
    np.testing.assert_allclose(wav, stereo.mean(axis=1), atol=1e-7)
    assert 0.4 < _band_energy(wav, 16000, 440) < 0.6
    assert np.array_equal(load_audio(path, 16000), stereo[:, 0])  # same rate: the samples unchanged


def test_int16_is_scaled_like_the_reference(tmp_path: Path) -> None:
    path = tmp_path / "i16.wav"
    ints = np.array([0, 1, -1, 16384, -32768, 32767] * 100, dtype=np.int16)
    sf.write(path, ints, 16000, subtype="PCM_16")
    np.testing.assert_array_equal(load_audio(path, 16000, allow_silent=True), ints.astype(np.float32) / 32768.0)


def test_mp3_support_is_detected_and_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "in.mp3"
    if files.MP3_SUPPORTED:
        sf.write(path, _stereo(44100), 44100, format="MP3")
        wav = load_audio(path, 16000)
        assert abs(len(wav) - 16000) < 1200  # MP3 adds encoder padding
        assert _band_energy(wav, 16000, 440) > 0.9
        assert ".mp3" in files.supported_extensions()
    else:
        path.write_bytes(b"\xff\xfb" + bytes(1000))
    monkeypatch.setattr(files, "MP3_SUPPORTED", False)
    with pytest.raises(UnsupportedAudioError, match="cannot read MP3"):
        load_audio(path, 16000)
    assert ".mp3" not in files.supported_extensions()


def test_missing_and_folder(tmp_path: Path) -> None:
    with pytest.raises(AudioFileNotFoundError, match="does not exist"):
        load_audio(tmp_path / "nope.wav", 16000)
    with pytest.raises(AudioFileNotFoundError, match="is a folder"):
        load_audio(tmp_path, 16000)


def test_empty_file_says_it_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(b"")
    with pytest.raises(EmptyAudioError, match=r"empty \(0 bytes\)"):
        load_audio(path, 16000)


@pytest.mark.parametrize("content", [b"this is not audio at all" * 10, b"RIFF\x00\x00\x00\x00WAVEfmt garbage"])
def test_corrupt_or_unknown(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(UnsupportedAudioError, match="could not be read as audio") as err:
        load_audio(path, 16000)
    assert isinstance(err.value, AudioInputError)


def test_truncated_file_loads_what_is_there(tmp_path: Path) -> None:
    full = tmp_path / "full.wav"
    sf.write(full, _stereo(16000)[:, 0], 16000, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[:10044])  # header + 5000 samples
    assert len(load_audio(cut, 16000)) == 5000


def test_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(EmptyAudioError, match="0 samples"):
        load_audio(path, 16000)


def test_nan_samples_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "nan.wav"
    x = np.full(1000, 0.1, np.float32)
    x[500] = np.nan
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(UnsupportedAudioError, match="NaN"):
        load_audio(path, 16000)


@pytest.mark.parametrize("level", [0.0, 0.0005])
def test_silent_is_an_error_unless_allowed(tmp_path: Path, level: float) -> None:
    path = tmp_path / "quiet.wav"
    sf.write(path, np.full(8000, level, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(SilentAudioError, match="silent"):
        load_audio(path, 16000)
    info = read_audio(path, 16000, allow_silent=True)
    assert info.silent and len(info.wav) == 8000
    # just above the threshold (-60 dBFS peak) is not silent
    sf.write(path, np.full(8000, 0.0011, np.float32), 16000, subtype="FLOAT")
    assert not read_audio(path, 16000).silent


def test_clipping_is_a_flag_not_an_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    x = np.clip(5 * _stereo(16000)[:, 0], -1.0, 1.0)  # 1.5 peak → flat tops
    path = tmp_path / "clip.wav"
    sf.write(path, x, 16000, subtype="PCM_16")
    with caplog.at_level(logging.WARNING, logger="anygpt_desktop.audio.files"):
        info = read_audio(path, 16000)
    assert info.clipped and "clipped" in caplog.text
    assert len(info.wav) == 16000
    # a single full-scale peak is not clipping; a float file beyond ±1 is
    y = 0.5 * _stereo(16000)[:, 0]
    y[100] = 1.0
    sf.write(path, y, 16000, subtype="FLOAT")
    assert not read_audio(path, 16000).clipped
    y[100] = 1.2
    sf.write(path, y, 16000, subtype="FLOAT")
    assert read_audio(path, 16000).clipped


def test_too_long_error_or_truncate(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, np.tile(_stereo(8000)[:, 0], 3), 8000, subtype="PCM_16")  # 3 s
    with pytest.raises(AudioTooLongError, match="3 s long; the limit is 2 s"):
        load_audio(path, 16000, max_seconds=2)
    info = read_audio(path, 16000, max_seconds=2, on_too_long="truncate")
    assert info.truncated and abs(len(info.wav) - 32000) <= 2
    assert not read_audio(path, 16000, max_seconds=3).truncated
    assert files.SPEECH_INPUT_MAX_SECONDS == 60


def test_bad_arguments(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, _stereo(16000), 16000)
    with pytest.raises(ValueError):
        load_audio(path, 0)
    with pytest.raises(ValueError):
        load_audio(path, 16000, channel_rule="left")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        resample(np.zeros((2, 10), np.float32), 16000, 8000)


def test_resampling_against_the_reference_kit(reference_dir: Path) -> None:
    """soxr HQ vs the reference's torchaudio sinc output (kit: voice_prompt3 crop, 22050 → 16000 Hz).

    Measured: soxr max abs 0.1477, RMS 0.0082 (signal RMS 0.085); the difference is the anti-aliasing filters, almost
    all above 6 kHz: band-limited to 6 kHz the max abs difference is 3.9e-4. The NumPy sinc path matches to 6e-8.
    """
    kit = reference_dir / "golden" / "speechtokenizer"
    x = np.load(kit / "resample_input_22050.npy")
    ref = np.load(kit / "resample_output_16k.npy")

    out = resample(x, 22050, 16000)
    assert out.shape == ref.shape and out.dtype == np.float32
    diff = out - ref
    assert np.abs(diff).max() < 0.16
    assert np.sqrt(np.mean(diff**2)) < 0.0095
    spec = np.fft.rfft(diff)
    spec[np.fft.rfftfreq(len(diff), 1 / 16000) >= 6000] = 0
    assert np.abs(np.fft.irfft(spec, len(diff))).max() < 1e-3

    exact = resample(x, 22050, 16000, method="sinc")
    assert exact.shape == ref.shape
    assert np.abs(exact - ref).max() < 1e-5  # the kit's own tolerance


def test_sinc_matches_reference_shapes_and_passes_a_tone() -> None:
    for orig, new in [(44100, 16000), (8000, 16000), (48000, 32000), (22050, 16000)]:
        x = (0.5 * np.sin(2 * np.pi * 300 * np.arange(orig) / orig)).astype(np.float32)
        y = resample(x, orig, new, method="sinc")
        assert len(y) == int(np.ceil(len(x) * new / orig))
        t = np.arange(len(y)) / new
        np.testing.assert_allclose(y[200:-200], 0.5 * np.sin(2 * np.pi * 300 * t[200:-200]), atol=2e-3)


def test_save_wav_is_float32_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.wav"
    wav = np.linspace(-0.5, 0.5, 1234, dtype=np.float32)
    assert save_wav(path, wav, 16000) == path
    data, sr = sf.read(path, dtype="float32")
    assert sr == 16000 and sf.info(path).subtype == "FLOAT"
    np.testing.assert_array_equal(data, wav)
    save_wav(path, wav[:10], 22050)  # replaces in place
    assert sf.info(path).frames == 10
    with pytest.raises(ValueError):
        save_wav(path, np.array([np.nan], np.float32), 16000)
    with pytest.raises(ValueError):
        save_wav(path, np.zeros(0, np.float32), 16000)
    assert sf.info(path).frames == 10  # a failed save leaves the old file
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.wav"]  # no temporary files left
