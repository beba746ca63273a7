"""The ``anygpt-desktop`` console entry point: the GUI by default, subcommands for everything else."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from anygpt_desktop.lazy import load_target

logger = logging.getLogger(__name__)


def _lazy(target: str) -> Callable[[argparse.Namespace], int]:
    """A handler that imports ``module:function`` only when the subcommand runs (keeps ``--help`` fast)."""

    def handler(args: argparse.Namespace) -> int:
        return int(load_target(target)(args) or 0)

    return handler


def _cmd_make_tiny(args: argparse.Namespace) -> int:
    from anygpt_desktop.tiny_kit import make_tiny

    root = make_tiny(Path(args.dir), seed=args.seed)
    print(f"tiny model kit written to {root}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from anygpt_desktop.verify import verify

    only = [f.strip() for f in args.only.split(",") if f.strip()] if args.only else None
    try:
        failed = verify(Path(args.path), only=only)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anygpt-desktop", description="AnyGPT Desktop voice assistant")
    parser.add_argument("--models", help="models folder (default: $ANYGPT_MODELS_DIR or the user data folder)")
    parser.add_argument("--demo", action="store_true", help="run the app on the tiny random model kit")
    parser.add_argument("--self-test", action="store_true", help="run the headless self-test and exit")
    parser.add_argument("--engine", choices=["process", "inprocess", "remote"], default=None,
                        help="run the models in a separate engine process (default), inside the GUI process, or on a "
                             "server (remote; implied by --engine-url)")
    parser.add_argument("--engine-url", default=None, help="use the engine of an `anygpt-desktop serve` server (ws:// or wss://)")
    parser.add_argument("--engine-token-file", default=None, help="the file holding that server's bearer token")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.set_defaults(func=_lazy("anygpt_desktop.app.main:run_gui"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    models = sub.add_parser("models", help="manage model weights")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    status = models_sub.add_parser("status", help="what is present, missing or corrupt")
    status.add_argument("--models", dest="models", default=argparse.SUPPRESS)
    status.add_argument("--verify", action="store_true", help="also check sha256 of present files (slow)")
    status.set_defaults(func=_lazy("anygpt_desktop.engine.store_cli:cmd_status"))
    download = models_sub.add_parser("download", help="download missing components (resumable)")
    download.add_argument("--models", dest="models", default=argparse.SUPPRESS)
    download.add_argument("components", nargs="*", help="component names (default: all required)")
    download.add_argument("--base", action="store_true", help="also download the AnyGPT-base model")
    download.set_defaults(func=_lazy("anygpt_desktop.engine.store_cli:cmd_download"))
    tiny = models_sub.add_parser("make-tiny", help="write a tiny random model kit in the released layouts")
    tiny.add_argument("dir")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(func=_cmd_make_tiny)

    verify = sub.add_parser("verify-reference", help="check this implementation against a reference kit")
    verify.add_argument("path", help="the reference folder (e.g. ../shared/reference)")
    verify.add_argument("--only", help="comma-separated families (folders under golden/, plus 'manifests')")
    verify.set_defaults(func=_cmd_verify)

    for name, target, help_text in (
        ("chat", "anygpt_desktop.engine.cli_runners:run_chat", "chat on the command line (reference line grammar or plain text)"),
        ("base", "anygpt_desktop.engine.cli_runners:run_base", "base-model tasks: 'text|image|a cat', 'speech|text|q.wav', ..."),
    ):
        runner = sub.add_parser(name, help=help_text)
        runner.add_argument("--models", dest="models", default=argparse.SUPPRESS)
        runner.add_argument("--output-dir", default="outputs", help="where images, speech and music are saved")
        runner.add_argument("--seed", type=int, default=None)
        runner.add_argument("--device", default=None, help="cuda, cpu or auto")
        runner.add_argument("--beams", type=int, default=1, help="text replies: beam sampling as the reference (5); no streaming")
        runner.add_argument("--max-tokens", type=int, default=None, help="cap every reply at this many tokens (text and units)")
        runner.set_defaults(func=_lazy(target))

    serve = sub.add_parser("serve", help="serve the engine to desktop apps on other machines (WebSocket)")
    from anygpt_desktop.serve.cli import add_arguments as _serve_arguments

    _serve_arguments(serve)
    serve.set_defaults(func=_lazy("anygpt_desktop.serve.cli:cmd_serve"))

    bench = sub.add_parser("bench", help="print speed figures")
    bench.add_argument("what", choices=["speech", "image", "turn", "decode", "gui", "serve"])  # = bench.TARGETS
    bench.add_argument("--models", dest="models", default=argparse.SUPPRESS)
    bench.add_argument("--device", default=None)
    bench.add_argument("--full-size", action="store_true", help="full-size models with random weights")
    bench.add_argument("--llm-layers", type=int, default=None, help="bench turn/gui --full-size: LLM depth (default 32)")
    bench.add_argument("--speech-seconds", type=float, default=None, help="bench turn/gui: length of the spoken reply (default 10)")
    bench.add_argument(
        "--precision", nargs="+", default=None, choices=["fp32", "fp16", "bf16", "int8", "int4"],
        help="bench decode: weight precisions to compare (default fp32 on CPU, bf16 on CUDA)",
    )
    bench.add_argument("--tokens", type=int, default=None, help="bench decode: timed steps per variant (default 64)")
    bench.add_argument("--context", type=int, default=None, help="bench decode: static KV cache length (default 4096)")
    bench.add_argument("--clients", type=int, default=None, help="bench serve: concurrent clients (default 1, 2, 4, 8)")
    bench.add_argument("--no-compile", action="store_true", help="bench decode: skip the compiled variant")
    bench.set_defaults(func=_lazy("anygpt_desktop.bench:main"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
