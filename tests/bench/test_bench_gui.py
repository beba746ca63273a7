"""``anygpt-desktop bench gui`` measures both designs on the tiny kit and prints them side by side (no speed asserted)."""

import os

import pytest

from anygpt_desktop.cli import main

pytestmark = pytest.mark.slow
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def test_bench_gui_prints_both_designs(tiny_models, capsys):
    assert main(["bench", "gui", "--models", str(tiny_models), "--speech-seconds", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for label in ("event-loop gap", "callback lateness", "in-process (QThread)", "engine process", "chunks"):
        assert label in out, out
    assert "failed" not in out, out
