"""The full robustness report on the tiny kit: every corpus input through every entry point (readers, loaders, the
engine turn, chat and base sessions, the two CLI processes, history). 0 crashes, hangs, stray writes, injections."""

from __future__ import annotations

from pathlib import Path

import pytest

from anygpt_desktop.robustness.report import run_report

pytestmark = pytest.mark.slow


def test_the_robustness_report_is_clean(tiny_models: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    totals = run_report(tmp_path / "robustness", tiny_models, emit=lines.append)
    problems = [ln for ln in lines if ln.split(" ", 1)[0] in ("CRASH", "HANG") or "STRAY" in ln or "INJECTED" in ln]
    assert totals.ok, "\n".join(problems + [totals.line()])
    assert totals.inputs > 400 and totals.errors > 150
    assert lines[-1].startswith(f"inputs {totals.inputs}, clear errors {totals.errors}, crashes 0, hangs 0, stray writes 0, injections 0")
    # both CLI processes ran and reported every bad line without a traceback
    assert sum(ln.split()[1:3] == ["cli", "chat"] or ln.split()[1:3] == ["cli", "base"] for ln in lines) == 2
