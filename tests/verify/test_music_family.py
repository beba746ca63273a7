"""verify-reference --only music: every golden music case passes, and a tampered kit fails."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from anygpt_desktop.verify import Kit
from anygpt_desktop.verify import music_family

CASES = ["crop", "encode_codes", "token_string", "decode", "misaligned_lenient"]


def test_all_music_cases_pass(reference_dir: Path) -> None:
    results = list(music_family.run(Kit(reference_dir)))
    assert [r.name for r in results] == CASES
    assert all(r.passed for r in results), [r.line() for r in results if not r.passed]


def test_a_wrong_expected_value_fails(reference_dir: Path, tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    shutil.copytree(reference_dir / "golden" / "music", kit / "golden" / "music")
    music_file = json.loads((kit / "golden" / "music" / "expected.json").read_text(encoding="utf-8"))["music_file"]
    (kit / music_file).parent.mkdir(parents=True)
    shutil.copy(reference_dir / music_file, kit / music_file)
    expected = json.loads((kit / "golden" / "music" / "expected.json").read_text(encoding="utf-8"))
    expected["crop_start_sample"] += 1
    expected["llm_ids"][0] += 1
    (kit / "golden" / "music" / "expected.json").write_text(json.dumps(expected, ensure_ascii=False), encoding="utf-8")
    results = {r.name: r for r in music_family.run(Kit(kit))}
    assert not results["crop"].passed and not results["token_string"].passed
    assert results["encode_codes"].passed and results["decode"].passed
