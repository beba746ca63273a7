"""Shared fixtures: the reference kit beside the checkout, and one tiny model kit per test session.

Session-wide checks (hooks at the end of this file):
- every temporary folder the app or the tests make goes into a private temporary root; a folder named ``anygpt-*``
  still there when the session ends fails the run, with its names;
- in CI (``CI=true``) a missing prerequisite (``../shared/reference``, a system package) fails instead of skipping;
  locally each skip says why, and the run ends with one line summing up what was skipped (also written to
  ``$ANYGPT_SKIP_SUMMARY`` when set, for scripts/test.sh to print last).
"""

from __future__ import annotations

import atexit
import collections
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from prerequisites import missing_prerequisite

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(os.environ.get("ANYGPT_REFERENCE_DIR", REPO_ROOT.parent / "shared" / "reference"))
DATA_DIR = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference``; tests that compare against the reference's outputs need it."""
    if not (REFERENCE_DIR / "golden").is_dir():
        missing_prerequisite(f"reference kit not found at {REFERENCE_DIR} (set ANYGPT_REFERENCE_DIR)")
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
        missing_prerequisite(
            f"PulseAudio tools not installed ({', '.join(missing)}): apt-get install pulseaudio pulseaudio-utils"
        )
    from anygpt_desktop.audio import devices

    try:
        devices.load_sounddevice()
    except AudioBackendUnavailableError as exc:
        missing_prerequisite(str(exc))
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


# -- session-wide: no temporary folder left behind; what was skipped ------------------------------------------------

_TEMP_ROOT: Path | None = None
_SAVED_TMPDIR: tuple[str | None, str | None] = (None, None)
_LEFT_BEHIND: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Point every temporary folder of this session (this process and its children) into a private root."""
    global _TEMP_ROOT, _SAVED_TMPDIR
    if _TEMP_ROOT is None:
        _SAVED_TMPDIR = (os.environ.get("TMPDIR"), tempfile.tempdir)
        _TEMP_ROOT = Path(tempfile.mkdtemp(prefix="anygpt-test-session-"))
        os.environ["TMPDIR"] = str(_TEMP_ROOT)
        tempfile.tempdir = str(_TEMP_ROOT)
        atexit.register(_remove_temp_root, _TEMP_ROOT)  # early, so it runs after multiprocessing's own cleanup


def _remove_temp_root(root: Path) -> None:
    """Remove the session's temporary root, leaving a ``pymp-*`` folder to multiprocessing's own exit handler."""
    for entry in root.glob("*"):
        if not entry.name.startswith("pymp-"):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
    try:
        root.rmdir()
    except OSError:
        pass


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when an ``anygpt-*`` temporary folder (the app's, a benchmark's) outlived the tests."""
    global _TEMP_ROOT
    if _TEMP_ROOT is None:
        return
    root = _TEMP_ROOT
    _LEFT_BEHIND[:] = sorted(p.name for p in root.glob("anygpt-*"))
    env_tmpdir, tempdir = _SAVED_TMPDIR
    if env_tmpdir is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = env_tmpdir
    tempfile.tempdir = tempdir
    _TEMP_ROOT = None
    if _LEFT_BEHIND and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    if _LEFT_BEHIND:
        terminalreporter.write_line(
            f"FAILED: {len(_LEFT_BEHIND)} temporary folder(s) left behind by the test session: "
            f"{', '.join(_LEFT_BEHIND[:5])}{' ...' if len(_LEFT_BEHIND) > 5 else ''} "
            "(the code that made them must remove them; MainWindow's anygpt-desktop-* folder is the known case)",
            red=True,
        )
    reasons: collections.Counter[str] = collections.Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason if len(reason) <= 70 else reason[:67] + "..."] += 1
    total = sum(reasons.values())
    line = "skipped: none" if not total else (
        f"skipped: {total} test(s): " + "; ".join(f"{n} x {why}" for why, n in reasons.most_common())
    )
    terminalreporter.write_line(line)
    summary_file = os.environ.get("ANYGPT_SKIP_SUMMARY")
    if summary_file:
        Path(summary_file).write_text(line + "\n", encoding="utf-8")
