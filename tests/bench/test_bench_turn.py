"""``anygpt-desktop bench turn`` runs on the tiny kit; every figure it prints is finite and consistent with the others
(no speed is asserted here)."""

import math
import re

import pytest

from anygpt_desktop.cli import main

pytestmark = pytest.mark.slow

NUMBER = r"([-+]?(?:\d+(?:\.\d*)?|nan|inf))"


def _figure(out: str, pattern: str) -> tuple[float, ...]:
    m = re.search(pattern.replace("{n}", NUMBER), out)
    assert m, f"{pattern!r} not in:\n{out}"
    values = tuple(float(v) for v in m.groups())
    assert all(math.isfinite(v) for v in values), f"{pattern!r}: {values}"
    return values


def test_bench_turn_prints_finite_consistent_figures(tiny_models, capsys):
    assert main(["bench", "turn", "--models", str(tiny_models), "--speech-seconds", "2"]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"\b(nan|inf)\b", out), out
    rate, tokens, decode = _figure(out, r"decode loop\s+{n} tokens/s \({n} tokens in {n} s\)")
    assert tokens > 0 and decode > 0 and rate > 0
    assert rate * decode == pytest.approx(tokens, rel=0.05, abs=1.0)
    (encode,) = _figure(out, r"encode input\s+{n} s")
    (prefill,) = _figure(out, r"prefill\s+{n} s")
    (first_audio,) = _figure(out, r"time to first audio\s+{n} s")
    wall, audio, rtf = _figure(out, r"whole turn\s+{n} s\s+for {n} s of speech; turn RTF {n}")
    assert 0 < first_audio <= wall and encode >= 0 and prefill >= 0
    assert audio == pytest.approx(2.0, abs=0.1)  # --speech-seconds 2: 100 units = 2 s
    assert rtf == pytest.approx(wall / audio, rel=0.05, abs=0.01)
    _figure(out, r"peak RSS {n} GiB")
    ref_tokens, ref_llm, ref_synth = _figure(out, r"LLM to the limit \({n} tokens\) {n} s \+ whole synthesis {n} s")
    (ref_first,) = _figure(out, r"first audio after {n} s")
    assert ref_tokens > tokens and ref_first == pytest.approx(ref_llm + ref_synth, abs=0.02)
    (ratio,) = _figure(out, r"streamed is {n}x sooner")
    assert ratio == pytest.approx(ref_first / first_audio, rel=0.1, abs=0.1)
    for label in ("underruns", "silence inside the reply"):
        assert label in out, out
