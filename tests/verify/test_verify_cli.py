"""``anygpt-desktop verify-reference``: output format, exit codes, and that a wrong kit really fails."""

import json
import shutil

from anygpt_desktop.cli import main


def test_tokenizer_and_instructions_pass(reference_dir, capsys):
    code = main(["verify-reference", str(reference_dir), "--only", "tokenizer,instructions"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert lines[-1].endswith(" passed, 0 failed")
    passed = int(lines[-1].split()[0])
    assert passed == len(lines) - 1 >= 60
    assert all(line.startswith("PASS ") for line in lines[:-1])


def _copy_family(reference_dir, tmp_path, family):
    kit = tmp_path / "kit"
    shutil.copytree(reference_dir / "golden" / family, kit / "golden" / family)
    return kit


def test_a_changed_reference_output_fails(reference_dir, tmp_path, capsys):
    kit = _copy_family(reference_dir, tmp_path, "tokenizer")
    path = kit / "golden/tokenizer/tokenize_cases.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["cases"][0]["input_ids"][2] += 1
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    code = main(["verify-reference", str(kit), "--only", "tokenizer"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    assert out[-1].endswith(" 1 failed")
    assert any(line.startswith("FAIL tokenizer/tokenize:") and "input_ids differs" in line for line in out)


def test_a_changed_instruction_fails(reference_dir, tmp_path, capsys):
    """The reference recording another list (its summary) fails the project's chooser check."""
    kit = _copy_family(reference_dir, tmp_path, "instructions")
    path = kit / "golden/instructions/prompts_and_roles.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["list_summary"]["other2text"]["speech"]["sha256"] = "0" * 64
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert main(["verify-reference", str(kit), "--only", "instructions"]) == 1
    assert "FAIL instructions/other2text:speech" in capsys.readouterr().out


def test_unknown_family_and_missing_kit(reference_dir, tmp_path, capsys):
    assert main(["verify-reference", str(reference_dir), "--only", "nonsense"]) == 1
    assert "has no family 'nonsense'" in capsys.readouterr().out
    assert main(["verify-reference", str(tmp_path / "nowhere")]) == 2


def test_an_empty_kit_or_one_without_golden_fails(tmp_path, capsys):
    assert main(["verify-reference", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL tokenizer/*" in out and "a full run checks every family this version knows" in out
    assert not out.strip().splitlines()[-1].startswith("0 passed, 0 failed")


def test_a_full_run_fails_when_a_known_family_is_missing(reference_dir, tmp_path, capsys):
    kit = _copy_family(reference_dir, tmp_path, "instructions")
    assert main(["verify-reference", str(kit)]) == 1
    out = capsys.readouterr().out
    assert "PASS instructions/" in out
    for family in ("tokenizer", "speechtokenizer", "soundstorm", "seed", "music", "manifests"):
        assert f"FAIL {family}/*" in out


def test_nothing_checked_is_a_failure(tmp_path, monkeypatch):
    from anygpt_desktop import verify as verify_module

    monkeypatch.setattr(verify_module, "FAMILIES", {})
    lines: list[str] = []
    assert verify_module.verify(tmp_path, emit=lines.append) == 1
    assert lines == [f"FAIL */*  nothing was checked in {tmp_path}", "0 passed, 1 failed"]
