"""The screenshot tier: the real window under Xvfb with the openbox window manager, driven through its key screens
(first run without models, the first-run guide, model manager, listening, hearing you, thinking, speaking, an error, a Markdown reply with
an image, dark theme, minimum size). The PNGs go to docs/screenshots/; the screens are checked by widget state.

Skips with the reason when Xvfb or openbox is missing (CI installs them: .ci/run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "docs" / "screenshots"


def _free_display() -> int:
    for n in range(140, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


@pytest.fixture
def x_display():  # type: ignore[no-untyped-def]
    missing = [tool for tool in ("Xvfb", "openbox") if shutil.which(tool) is None]
    if missing:
        from prerequisites import missing_prerequisite  # CI installs them (.ci/run): a failure there

        missing_prerequisite(f"{' and '.join(missing)} not installed (apt-get install xvfb openbox)")
    n = _free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "DISPLAY": f":{n}"}
    deadline = time.monotonic() + 20
    while not Path(f"/tmp/.X11-unix/X{n}").exists():
        if time.monotonic() > deadline or xvfb.poll() is not None:
            xvfb.kill()
            pytest.fail("Xvfb did not start")
        time.sleep(0.05)
    wm = subprocess.Popen(["openbox"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield env
    finally:
        wm.terminate()
        xvfb.terminate()
        wm.wait(10)
        xvfb.wait(10)


def test_key_screens_are_written_and_pass_their_widget_checks(x_display, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    report_path = tmp_path / "report.json"
    env = {**x_display, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(REPO), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    run = subprocess.run([sys.executable, str(Path(__file__).with_name("screenshot_tour.py")), str(SHOTS),
                          str(report_path)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(report_path.read_text())
    assert {name: problems for name, problems in report["checks"].items() if problems} == {}
    for name in report["screens"]:
        png = SHOTS / f"{name}.png"
        assert png.is_file() and png.stat().st_size > 10_000, name  # a real picture, not an empty grab
    assert len(report["screens"]) == 11
