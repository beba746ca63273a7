"""EncodecMusic on the tiny kit and on the reference's tiny checkpoint (transformers 4.x weight-norm names)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from anygpt_desktop.modalities.music.codec import EncodecMusic
from anygpt_desktop.modalities.music.errors import MusicError, MusicModelError
from anygpt_desktop.tiny_kit import make_tiny


@pytest.fixture(scope="module")
def kit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny(tmp_path_factory.mktemp("music_kit"), seed=0, components=["encodec_32khz"])


@pytest.fixture(scope="module")
def codec(kit_root: Path) -> EncodecMusic:
    return EncodecMusic.load(kit_root / "encodec_32khz")


def test_encode_decode_shapes(codec: EncodecMusic) -> None:
    wav = (np.random.default_rng(0).standard_normal(32000 + 100) * 0.2).astype(np.float32)
    codes = codec.encode(wav)
    assert codes.shape == (4, 51) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < 2048 and len(np.unique(codes[0])) > 5
    audio = codec.decode(codes)
    assert audio.shape == (51 * 640,) and audio.dtype == np.float32 and np.isfinite(audio).all()


def test_bad_inputs_raise_music_errors(codec: EncodecMusic) -> None:
    with pytest.raises(MusicError, match="mono"):
        codec.encode(np.zeros((2, 32000), np.float32))
    with pytest.raises(MusicError, match="too short"):
        codec.encode(np.zeros(100, np.float32))
    with pytest.raises(MusicError, match="shape"):
        codec.decode(np.zeros((3, 10), np.int64))
    with pytest.raises(MusicError, match="0..2047"):
        codec.decode(np.full((4, 2), 4096))


def test_missing_or_incomplete_folder_is_refused(tmp_path: Path, kit_root: Path) -> None:
    from safetensors.torch import load_file, save_file

    with pytest.raises(MusicModelError, match="config.json missing"):
        EncodecMusic.load(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    shutil.copytree(kit_root / "encodec_32khz", broken)
    state = load_file(str(broken / "model.safetensors"))
    del state["quantizer.layers.2.codebook.embed"]
    save_file(state, str(broken / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(MusicModelError, match="missing"):
        EncodecMusic.load(broken)


def test_reference_checkpoint_reproduces_codes_and_decode(reference_dir: Path) -> None:
    music = reference_dir / "golden" / "music"
    codec = EncodecMusic.load(music / "encodec_tiny")  # pytorch_model.bin with weight_g/weight_v names
    codes = codec.encode(np.load(music / "input_32k.npy"))
    np.testing.assert_array_equal(codes, np.load(music / "audio_codes.npy")[0, 0])
    np.testing.assert_allclose(codec.decode(codes), np.load(music / "decoded_wav.npy")[0], atol=1e-4, rtol=0)


def test_file_to_units_to_audio(codec: EncodecMusic, tmp_path: Path) -> None:
    import soundfile as sf

    from anygpt_desktop.modalities.music import units

    path = tmp_path / "clip.wav"
    t = np.arange(48000 * 2) / 48000
    sf.write(path, np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], axis=1) * 0.3, 48000)
    codes = codec.encode_file(path, segment_s=1.0)
    assert codes.shape == (4, 50)
    values = units.codes_to_values(codes)
    audio = codec.decode_values(values)
    assert audio.shape == (50 * 640,)
    assert codec.decode_values(values[1:], lenient=True).shape == (49 * 640,)  # shifted: 199 units -> 49 frames
    with pytest.raises(MusicError, match="no complete frame"):
        codec.decode_values(values[:3], lenient=True)
