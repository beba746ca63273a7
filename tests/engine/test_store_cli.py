"""``anygpt-desktop models status|download`` through anygpt_desktop.cli.main, against a local server."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _store_server import FileServer, free_port, payload, sha256

from anygpt_desktop.cli import main
from anygpt_desktop.engine import downloader, store_cli

A = payload(70_000, seed=21)
C = b'{"model": "tiny"}'
BASE = payload(1000, seed=22)


@pytest.fixture
def setup(tmp_path: Path, monkeypatch):
    """A two-component manifest served by a local hub; yields (server, models folder)."""
    manifest = {
        "components": [
            {"name": "speech", "required": True, "source": {"type": "hf", "repo": "org/speech", "revision": "r1"},
             "dest_dir": "", "files": [{"path": "speechtokenizer/ckpt.dev", "size": len(A), "sha256": sha256(A)},
                                       {"path": "speechtokenizer/config.json"}]},
            {"name": "base", "required": False, "source": {"type": "hf", "repo": "org/base"},
             "dest_dir": "AnyGPT-base", "files": [{"path": "w.bin"}]},
        ]
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("ANYGPT_MODEL_MANIFEST", str(tmp_path / "manifest.json"))
    monkeypatch.setattr(downloader.time, "sleep", lambda s: None)  # no back-off waits in tests
    with FileServer() as srv:
        srv.add("/org/speech/resolve/r1/speechtokenizer/ckpt.dev", A)
        srv.add("/org/speech/resolve/r1/speechtokenizer/config.json", C)
        srv.add("/org/base/resolve/main/w.bin", BASE)
        monkeypatch.setenv("ANYGPT_HF_ENDPOINT", srv.base)
        yield srv, tmp_path / "models"


def test_status_download_status_roundtrip(setup, capsys) -> None:
    srv, models = setup
    assert main(["models", "status", "--models", str(models)]) == 1
    out = capsys.readouterr().out
    assert "speech" in out and "missing" in out and "models download" in out

    srv.knobs.drop_after["/org/speech/resolve/r1/speechtokenizer/ckpt.dev"] = 20_000
    assert main(["models", "download", "--models", str(models)]) == 0
    err = capsys.readouterr().err
    assert "100.0%" in err and "speechtokenizer/ckpt.dev" in err and "[" in err
    assert (models / "speechtokenizer/ckpt.dev").read_bytes() == A
    assert (models / "speechtokenizer/config.json").read_bytes() == C
    assert not (models / "AnyGPT-base").exists()
    ranges = [r for p, r in srv.knobs.requests if p.endswith("ckpt.dev")]
    assert len(ranges) == 2 and ranges[1] is not None  # resumed after the drop

    assert main(["models", "status", "--verify", "--models", str(models)]) == 0
    out = capsys.readouterr().out
    assert "all required components are present" in out

    (models / "speechtokenizer/config.json").write_bytes(b"{}")  # differs from what was downloaded
    assert main(["models", "status", "--models", str(models)]) == 1
    assert "corrupt" in capsys.readouterr().out


def test_download_base_flag_and_named_components(setup, capsys) -> None:
    _, models = setup
    assert main(["models", "download", "base", "--models", str(models)]) == 0
    assert (models / "AnyGPT-base/w.bin").read_bytes() == BASE
    assert not (models / "speechtokenizer").exists()
    assert main(["models", "download", "--base", "--models", str(models)]) == 0
    assert (models / "speechtokenizer/ckpt.dev").exists()


def test_download_missing_file_exits_nonzero_with_one_line(setup, capsys) -> None:
    srv, models = setup
    del srv.knobs.files["/org/speech/resolve/r1/speechtokenizer/config.json"]
    assert main(["models", "download", "--models", str(models)]) == 1
    err_lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(err_lines) == 1 and "404" in err_lines[0]
    assert not (models / "speechtokenizer/config.json").exists()


def test_download_wrong_checksum_exits_nonzero(setup, capsys) -> None:
    srv, models = setup
    srv.knobs.wrong_bytes.add("/org/speech/resolve/r1/speechtokenizer/ckpt.dev")
    assert main(["models", "download", "--models", str(models)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert not (models / "speechtokenizer/ckpt.dev").exists()
    assert not (models / "speechtokenizer/ckpt.dev.part").exists()


def test_download_without_network_exits_nonzero(setup, capsys, monkeypatch) -> None:
    _, models = setup
    monkeypatch.setenv("ANYGPT_HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    assert main(["models", "download", "--models", str(models)]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "connection refused" in err


def test_unknown_component_is_a_usage_error(setup, capsys) -> None:
    _, models = setup
    assert main(["models", "download", "nope", "--models", str(models)]) == 2
    assert "unknown component" in capsys.readouterr().err


def test_models_folder_defaults_to_the_environment(setup, capsys, monkeypatch) -> None:
    _, models = setup
    monkeypatch.setenv("ANYGPT_MODELS_DIR", str(models))
    assert store_cli.cmd_download(argparse.Namespace(components=[], base=False)) == 0
    assert (models / "speechtokenizer/ckpt.dev").exists()
    assert store_cli.cmd_status(argparse.Namespace(models=None, verify=False)) == 0
    assert str(models) in capsys.readouterr().out
