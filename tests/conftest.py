"""Shared fixtures: the reference kit beside the checkout, and one tiny model kit per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(os.environ.get("ANYGPT_REFERENCE_DIR", REPO_ROOT.parent / "shared" / "reference"))
DATA_DIR = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference``; tests that compare against the reference's outputs need it."""
    if not (REFERENCE_DIR / "golden").is_dir():
        pytest.skip(f"reference kit not found at {REFERENCE_DIR} (set ANYGPT_REFERENCE_DIR)")
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete tiny model set, written once per session by the project's own kit."""
    from anygpt_desktop.tiny_kit import make_tiny

    root = tmp_path_factory.mktemp("tiny_models")
    return make_tiny(root, seed=0)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the real user's data and config folders."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg_data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg_config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg_cache"))
    monkeypatch.delenv("ANYGPT_MODELS_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
