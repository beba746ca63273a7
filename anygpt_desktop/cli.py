"""The ``anygpt-desktop`` console entry point: the GUI by default, subcommands for everything else."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from anygpt_desktop.lazy import load_target

# engine.llm.PRECISION_CHOICES, kept here so that parsing the command line does not import torch (a test compares them)
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8", "int4")

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


CHAT_EPILOG = """\
input: one turn per line on stdin (a "you>" prompt when stdin is a terminal); "quit" ends.
  plain text                 a typed question, answered in text
  the reference's line       task|text|output modality|voice prompt|images|speech files|music files
                             (missing fields may be left off; lists are comma-separated; output modality
                             text, speech, image or music; "interleaved|clear" forgets the conversation)

examples:
  echo 'What is the capital of France?' | anygpt-desktop chat --demo
  echo 'interleaved|Describe this picture.|text||cat.jpg' | anygpt-desktop chat
  echo 'interleaved||speech|||question.wav' | anygpt-desktop chat --output-dir out     (a spoken question, a spoken reply)
  echo 'interleaved|Say hello.|speech|my_voice.wav' | anygpt-desktop chat              (reply in the voice of my_voice.wav)
  echo 'interleaved|Compose a calm piano piece.|music' | anygpt-desktop chat
"""

BASE_EPILOG = """\
input: one task per line on stdin: modality|to_modality|data[|voice prompt]; "quit" ends.
  text|image|a cat on a sofa         text to image (PNG)      image|text|photo.jpg      image caption
  text|speech|Hello there            text to speech (WAV)     speech|text|question.wav  speech recognition
  text|music|a calm piano piece      text to music (WAV)      music|text|song.wav       music caption
  the optional 4th field is a voice to speak in: text|speech|Hello there|my_voice.wav

examples:
  echo 'text|speech|Hello there' | anygpt-desktop base --demo --output-dir out
  printf 'text|image|a red bicycle\\nspeech|text|question.wav\\n' | anygpt-desktop base --models ~/models

The base tasks run on AnyGPT-base when the models folder has it (anygpt-desktop models download --base), else on
the chat model.
"""


def _add_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                        help="use the tiny random demo models (written once into the user data folder)")


def apply_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``--demo`` for a subcommand: point ``--models`` at the demo kit (written on first use), or refuse clearly."""
    if not getattr(args, "demo", False) or getattr(args, "command", None) is None:
        return  # the GUI and --self-test handle --demo themselves
    command = args.command + (f" {args.models_command}" if args.command == "models" else "")
    if command == "models download":
        parser.error("--demo: the demo models are generated here, never downloaded "
                     "(drop --demo to download the real models, or run: anygpt-desktop models make-tiny DIR)")
    if command in ("models make-tiny", "verify-reference"):
        parser.error(f"--demo does not apply to '{command}'")
    if getattr(args, "models", None):
        parser.error("--demo and --models exclude each other: the demo uses its own folder")
    from anygpt_desktop.tiny_kit.demo import demo_models_dir, ensure_demo_kit

    args.models = str(ensure_demo_kit(demo_models_dir()))


def add_llm_server_arguments(parser: argparse.ArgumentParser, model: bool = True) -> None:
    """``--llm-url`` and its companions: the engine's LLM on a vLLM server (engine.vllm_client)."""
    parser.add_argument("--llm-url", default=None, metavar="URL",
                        help="the LLM on a vLLM server (OpenAI-compatible, e.g. http://127.0.0.1:8000/v1; see docs/serve.md); the speech, image and music models still run here")
    parser.add_argument("--llm-api-key", default=None, metavar="KEY",
                        help="bearer token of that server (default: $ANYGPT_LLM_API_KEY)")
    if model:
        parser.add_argument("--llm-model", default=None, metavar="NAME",
                            help="the served model's name (default: the first one the server lists)")


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
    add_llm_server_arguments(parser, model=False)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.set_defaults(func=_lazy("anygpt_desktop.app.main:run_gui"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    models = sub.add_parser("models", help="manage model weights")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    status = models_sub.add_parser("status", help="what is present, missing or corrupt")
    status.add_argument("--models", dest="models", default=argparse.SUPPRESS)
    _add_demo(status)
    status.add_argument("--verify", action="store_true", help="also check sha256 of present files (slow)")
    status.set_defaults(func=_lazy("anygpt_desktop.engine.store_cli:cmd_status"))
    download = models_sub.add_parser("download", help="download missing components (resumable)")
    download.add_argument("--models", dest="models", default=argparse.SUPPRESS)
    _add_demo(download)
    download.add_argument("components", nargs="*", help="component names (default: all required)")
    download.add_argument("--base", action="store_true", help="also download the AnyGPT-base model")
    download.set_defaults(func=_lazy("anygpt_desktop.engine.store_cli:cmd_download"))
    plan = models_sub.add_parser("plan", help="memory each component needs, and whether the assistant fits")
    plan.add_argument("--vram", type=float, default=None, help="GPU memory in GiB (default: the free memory found)")
    plan.add_argument("--cpu", action="store_true", help="plan for the CPU (RAM) instead of a GPU")
    plan.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16", "int8", "int4"])
    plan.add_argument("--offload-unclip", action="store_true", help="run the unCLIP decoder with CPU offload")
    plan.set_defaults(func=_lazy("anygpt_desktop.engine.store_cli:cmd_plan"))
    tiny = models_sub.add_parser("make-tiny", help="write a tiny random model kit in the released layouts")
    tiny.add_argument("dir")
    tiny.add_argument("--seed", type=int, default=0)
    _add_demo(tiny)
    tiny.set_defaults(func=_cmd_make_tiny)

    verify = sub.add_parser("verify-reference", help="check this implementation against a reference kit")
    verify.add_argument("path", help="the reference folder (e.g. ../shared/reference)")
    _add_demo(verify)
    verify.add_argument("--only", help="comma-separated families (folders under golden/, plus 'manifests')")
    verify.set_defaults(func=_cmd_verify)

    for name, target, help_text, epilog in (
        ("chat", "anygpt_desktop.engine.cli_runners:run_chat", "chat on the command line (reference line grammar or plain text)", CHAT_EPILOG),
        ("base", "anygpt_desktop.engine.cli_runners:run_base", "base-model tasks: 'text|image|a cat', 'speech|text|q.wav', ...", BASE_EPILOG),
    ):
        runner = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        runner.add_argument("--models", dest="models", default=argparse.SUPPRESS, help="models folder")
        _add_demo(runner)
        runner.add_argument("--output-dir", default="outputs", help="where images, speech and music are saved")
        runner.add_argument("--seed", type=int, default=None)
        runner.add_argument("--device", default=None, help="cuda, cpu or auto")
        runner.add_argument("--precision", default=None, choices=PRECISIONS,
                            help="LLM weights: auto (from the free memory), fp32, bf16, fp16, int8 or int4")
        runner.add_argument("--decode", default=None, choices=["eager", "compiled"],
                            help="decode step: compiled (static KV cache + torch.compile; the default on CUDA) or eager")
        runner.add_argument("--beams", type=int, default=1, help="text replies: beam sampling as the reference (5); no streaming")
        runner.add_argument("--max-tokens", type=int, default=None, help="cap every reply at this many tokens (text and units)")
        add_llm_server_arguments(runner)
        runner.set_defaults(func=_lazy(target))

    serve = sub.add_parser("serve", help="serve the engine to desktop apps on other machines (WebSocket)")
    from anygpt_desktop.serve.cli import add_arguments as _serve_arguments

    _serve_arguments(serve)
    serve.set_defaults(func=_lazy("anygpt_desktop.serve.cli:cmd_serve"))

    bench = sub.add_parser("bench", help="print speed figures")
    bench.add_argument("what", choices=["speech", "image", "turn", "decode", "gui", "load", "quant", "growth", "serve"])  # = bench.TARGETS
    bench.add_argument("--models", dest="models", default=argparse.SUPPRESS)
    _add_demo(bench)
    bench.add_argument("--device", default=None)
    bench.add_argument("--full-size", action="store_true", help="full-size models with random weights")
    bench.add_argument("--llm-layers", type=int, default=None, help="bench turn/gui --full-size: LLM depth (default 32)")
    bench.add_argument("--speech-seconds", type=float, default=None, help="bench turn/gui: length of the spoken reply (default 10)")
    bench.add_argument(
        "--precision", nargs="+", default=None, choices=["auto", "fp32", "fp16", "bf16", "int8", "int4"],
        help="bench decode: weight precisions to compare (default fp32 on CPU, bf16 on CUDA); bench load/quant: the first one (auto allowed for load)",
    )
    bench.add_argument("--tokens", type=int, default=None, help="bench decode: timed steps per variant (default 64); bench load: tokens decoded after loading (default 16)")
    bench.add_argument("--context", type=int, default=None, help="bench decode: static KV cache length (default 4096)")
    bench.add_argument("--clients", type=int, default=None, help="bench serve: concurrent clients (default 1, 2, 4, 8)")
    bench.add_argument("--no-compile", action="store_true", help="bench decode: skip the compiled variant")
    bench.add_argument("--decode", default=None, choices=["eager", "compiled"],
                       help="bench turn: the decode step (default: compiled on CUDA, eager on the CPU)")
    bench.add_argument("--no-convert", action="store_true", help="bench load: do not write or use the converted copy")
    bench.add_argument(
        "--slow-producer", type=float, default=None, metavar="FACTOR",
        help="bench turn: slow speech synthesis to at most 1/FACTOR of real time (a slow machine), e.g. 2",
    )
    bench.add_argument("--turns", type=int, default=None, help="bench growth: number of spoken turns (default 200)")
    bench.set_defaults(func=_lazy("anygpt_desktop.bench:main"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    quiet_progress_bars_off_a_terminal()
    apply_demo(args, parser)
    return args.func(args)


def quiet_progress_bars_off_a_terminal() -> None:
    """tqdm progress bars (transformers, diffusers, huggingface_hub) only when stderr is a terminal, not in logs."""
    if not sys.stderr.isatty():
        disable_progress_bars()


def disable_progress_bars() -> None:
    """No tqdm progress bars from transformers, diffusers or huggingface_hub in this process."""
    import os

    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TQDM_DISABLE"] = "1"
    for module, switch in (("transformers.utils.logging", "disable_progress_bar"),
                           ("diffusers.utils.logging", "disable_progress_bar"),
                           ("huggingface_hub.utils", "disable_progress_bars")):
        if module.split(".")[0] in sys.modules:  # already imported: tell it directly; otherwise the variables do
            try:
                getattr(__import__(module, fromlist=[switch]), switch)()
            except (ImportError, AttributeError):
                pass


if __name__ == "__main__":
    raise SystemExit(main())
