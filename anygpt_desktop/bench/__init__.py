"""``anygpt-desktop bench WHAT``: speed figures. Each target is a module with ``run(args) -> int``."""

from __future__ import annotations

import argparse
import importlib
import logging

logger = logging.getLogger(__name__)

TARGETS: dict[str, str] = {
    "speech": "anygpt_desktop.bench.speech",
    "image": "anygpt_desktop.bench.image",
    "turn": "anygpt_desktop.bench.turn",
}


def main(args: argparse.Namespace) -> int:
    target = TARGETS.get(args.what)
    if target is None:
        print(f"bench {args.what}: not implemented yet")
        return 2
    return int(importlib.import_module(target).run(args) or 0)
