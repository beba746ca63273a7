#!/usr/bin/env python3
"""Feed the malformed-input corpus through every entry point; one line per input, then the totals.

Exit status 0 only when there are no crashes, hangs, stray writes or injected tokens. The logic lives in
``anygpt_desktop.robustness.report`` (the tests import it); see its docstring for the entry points.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anygpt_desktop.robustness.report import DEFAULT_TIMEOUT_S, run_report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="folder for the corpus, the tiny kit and the sandbox (default: a temporary one)")
    parser.add_argument("--models", help="a tiny kit to use (default: written under --work)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per case before it is a hang")
    parser.add_argument("--no-cli", action="store_true", help="skip the two CLI processes")
    parser.add_argument("--only", help="run only the cases whose name contains one of these (comma-separated)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="anygpt-robustness-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        totals = run_report(work, Path(args.models) if args.models else None, args.timeout, with_cli=not args.no_cli,
                            only=args.only)
    return 0 if totals.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
