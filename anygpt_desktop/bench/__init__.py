"""``anygpt-desktop bench WHAT``: speed figures. Each target is a function ``run(args) -> int``."""

from __future__ import annotations

import argparse

from anygpt_desktop.lazy import load_target

TARGETS: dict[str, str] = {
    "speech": "anygpt_desktop.bench.speech:run",
    "image": "anygpt_desktop.bench.image:run",
    "turn": "anygpt_desktop.bench.turn:run",
    "decode": "anygpt_desktop.bench.decode:run",
    "gui": "anygpt_desktop.app.bench_gui:run",
    "load": "anygpt_desktop.bench.load:run",
    "quant": "anygpt_desktop.bench.quant_error:run",
    "growth": "anygpt_desktop.bench.growth:run",
    "serve": "anygpt_desktop.bench.serve:run",
}


def main(args: argparse.Namespace) -> int:
    return int(load_target(TARGETS[args.what])(args) or 0)
