"""``anygpt-desktop bench growth``: a short run prints RSS and open descriptors at every interval, all finite."""

import math
import re

import pytest

from anygpt_desktop.bench.growth import open_fds, rss_mib
from anygpt_desktop.cli import main

pytestmark = pytest.mark.slow


def test_probes_are_finite_and_present():
    assert math.isfinite(rss_mib()) and rss_mib() > 0
    assert open_fds() >= 3  # stdin, stdout, stderr at least


def test_a_short_growth_run_prints_every_figure(tiny_models, capsys):
    assert main(["bench", "growth", "--turns", "3", "--models", str(tiny_models)]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^\s+(\d+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+([\d.]+)$", out, re.MULTILINE)
    assert [int(r[0]) for r in rows] == [1, 2, 3], out
    for _turn, rss, fds, files, seconds in rows:
        assert math.isfinite(float(rss)) and float(rss) > 0
        assert int(fds) >= 3 and math.isfinite(float(seconds)) and float(seconds) > 0
    assert [int(r[3]) for r in rows] == sorted(int(r[3]) for r in rows) and int(rows[-1][3]) >= 3  # one reply each
    change = re.search(r"RSS ([-+][\d.]+) MiB, open fds ([-+]\d+)", out)
    assert change and math.isfinite(float(change.group(1)))
