"""``anygpt-desktop bench decode`` runs on the tiny kit and prints one row per variant (no speed is asserted here)."""

import sys

from anygpt_desktop.cli import main


def test_bench_decode_prints_a_row_per_variant(tiny_models, capsys):
    code = main(["bench", "decode", "--models", str(tiny_models), "--no-compile", "--tokens", "4", "--context", "128"])
    assert code == 0
    out = capsys.readouterr().out
    for label in ("fp32 eager (HF)", "fp32 static eager", "KV cache", "tokens/s", "peak RSS", "weights GB/s"):
        assert label in out, out
    assert "fp32 compiled" not in out


def test_bench_decode_says_when_a_precision_is_not_in_this_build(tiny_models, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "anygpt_desktop.engine.quantize", None)  # as in a build without the quantiser
    code = main(["bench", "decode", "--models", str(tiny_models), "--no-compile", "--tokens", "2", "--context", "64",
                 "--precision", "int8"])
    assert code == 0
    out = capsys.readouterr().out
    assert "int8 static eager" in out and "not available in this build" in out, out
