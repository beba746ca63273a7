"""Shared fixtures: the reference kit beside the checkout, and one tiny model kit per test session."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
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
    monkeypatch.setenv("ANYGPT_ALLOW_LOCAL_HTTP", "1")  # the downloader refuses plain HTTP except to 127.0.0.1 in tests


@pytest.fixture(scope="module")
def pulse() -> Iterator[dict[str, str]]:
    """A private PulseAudio daemon with a virtual speaker and microphone (scripts/pulse_env.sh), for the e2e tier."""
    from anygpt_desktop.audio.errors import AudioBackendUnavailableError

    missing = [t for t in ("pulseaudio", "pactl", "paplay", "parec") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"PulseAudio tools not installed ({', '.join(missing)}): apt-get install pulseaudio pulseaudio-utils")
    from anygpt_desktop.audio import devices

    try:
        devices.load_sounddevice()
    except AudioBackendUnavailableError as exc:
        pytest.skip(str(exc))
    started = subprocess.run(
        [str(REPO_ROOT / "scripts" / "pulse_env.sh"), "start"], capture_output=True, text=True, timeout=60, check=False
    )
    if started.returncode != 0:
        pytest.fail(f"the private PulseAudio daemon did not start:\n{started.stderr}")
    env = dict(kv.split("=", 1) for kv in shlex.split(started.stdout)[1:])
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        devices.refresh_devices()  # PortAudio must see the new server
        yield env
    finally:
        subprocess.run([str(REPO_ROOT / "scripts" / "pulse_env.sh"), "stop", env["ANYGPT_PULSE_DIR"]], timeout=30, check=False)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        devices.refresh_devices()
        assert not Path(env["ANYGPT_PULSE_DIR"]).exists()
