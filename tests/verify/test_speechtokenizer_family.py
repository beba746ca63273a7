"""verify-reference's speechtokenizer family takes its input files from the kit's expected.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from anygpt_desktop.verify import Kit
from anygpt_desktop.verify.speechtokenizer_family import _resample_case


def _kit_copy(reference_dir: Path, tmp_path: Path) -> Path:
    kit = tmp_path / "kit"
    shutil.copytree(reference_dir / "golden" / "speechtokenizer", kit / "golden" / "speechtokenizer",
                    ignore=shutil.ignore_patterns("ckpt.dev", "*_decoded.npy", "*_encoder_out.npy"))
    return kit


def test_resample_reads_the_file_expected_json_names(reference_dir: Path, tmp_path: Path) -> None:
    kit = _kit_copy(reference_dir, tmp_path)
    (kit / "golden/speechtokenizer/resample_input_22050.npy").unlink()  # no fixed-name array to fall back on
    info = json.loads((kit / "golden/speechtokenizer/expected.json").read_text(encoding="utf-8"))["resample"]
    (kit / info["file"]).parent.mkdir(parents=True)
    shutil.copy(reference_dir / info["file"], kit / info["file"])
    result = _resample_case(Kit(kit))
    assert result.passed, result.line()
    assert result.max_error is not None and result.max_error < 1e-6


def test_a_kit_recorded_at_another_rate_is_checked_not_crashed(reference_dir: Path, tmp_path: Path) -> None:
    kit = _kit_copy(reference_dir, tmp_path)
    path = kit / "golden/speechtokenizer/expected.json"
    expected = json.loads(path.read_text(encoding="utf-8"))
    rng = np.random.default_rng(0)
    sf.write(kit / "voice_44k.wav", (0.1 * rng.standard_normal(44100)).astype(np.float32), 44100, subtype="PCM_16")
    expected["resample"] = {"file": "voice_44k.wav", "orig_sr": 44100, "start_sample": 0, "input_samples": 44100,
                            "output_samples": 16000}
    path.write_text(json.dumps(expected, ensure_ascii=False), encoding="utf-8")
    result = _resample_case(Kit(kit))
    # the recorded output belongs to the 22050 Hz file: a clear FAIL with the error, not a crash on a missing file
    assert not result.passed and result.max_error is not None and result.max_error > 1e-3
