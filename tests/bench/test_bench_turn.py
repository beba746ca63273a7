"""``anygpt-desktop bench turn`` runs on the tiny kit and prints its figures (no speed is asserted here)."""

import pytest

from anygpt_desktop.cli import main

pytestmark = pytest.mark.slow


def test_bench_turn_prints_every_figure(tiny_models, capsys):
    assert main(["bench", "turn", "--models", str(tiny_models)]) == 0
    out = capsys.readouterr().out
    for label in ("tokens/s", "time to first audio", "turn RTF", "memory", "reference's way", "sooner than", "underruns",
                  "silence inside the reply"):
        assert label in out, out
