"""The ``serve`` subcommand: load the models once, then serve them (see server.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from anygpt_desktop.lazy import load_target

logger = logging.getLogger(__name__)

DEFAULT_FACTORY = "anygpt_desktop.engine_process.child:build_assistant"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", dest="models", default=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: loopback only)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0: any free port)")
    parser.add_argument("--token-file", required=True, help="file whose first line is the bearer token clients send")
    parser.add_argument("--tls-cert", default=None, help="TLS certificate chain (PEM); serve wss://")
    parser.add_argument("--tls-key", default=None, help="TLS private key (PEM)")
    parser.add_argument("--allow-remote", action="store_true", help="listen on a non-loopback address (needs TLS)")
    parser.add_argument("--device", default=None, help="cuda, cpu or auto")
    parser.add_argument("--max-message-mb", type=float, default=16.0, help="largest request accepted (MiB)")
    parser.add_argument("--idle-timeout", type=float, default=300.0, help="close a session silent this long (s)")
    parser.add_argument("--open-timeout", type=float, default=10.0, help="the handshake must finish within (s)")
    from anygpt_desktop.cli import add_llm_server_arguments

    add_llm_server_arguments(parser)
    parser.add_argument("--assistant-factory", default=DEFAULT_FACTORY, help=argparse.SUPPRESS)  # tests: module:function


def use_llm_server(assistant: object, args: argparse.Namespace) -> None:
    """``--llm-url`` (and key, model name) into the assistant's settings: its LLM then runs on that vLLM server."""
    settings = getattr(assistant, "settings", None)
    for name in ("llm_url", "llm_api_key", "llm_model"):
        value = getattr(args, name, None)
        if value and settings is not None:
            setattr(settings, name, value)
    if getattr(args, "llm_url", None):
        logger.info("the LLM runs on the vLLM server at %s", args.llm_url)


def cmd_serve(args: argparse.Namespace) -> int:
    from anygpt_desktop.layout import resolve_models_dir
    from anygpt_desktop.serve.server import EngineServer, ServeError, ServeOptions, read_token

    try:
        options = ServeOptions(
            host=args.host, port=args.port, token=read_token(Path(args.token_file)),
            tls_cert=Path(args.tls_cert) if args.tls_cert else None, tls_key=Path(args.tls_key) if args.tls_key else None,
            allow_remote=args.allow_remote, max_message_bytes=int(args.max_message_mb * 2**20),
            open_timeout_s=args.open_timeout, idle_timeout_s=args.idle_timeout)
        from anygpt_desktop.serve.server import check_options

        check_options(options)
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    models_dir = resolve_models_dir(getattr(args, "models", None), None)
    logger.info("loading the models from %s", models_dir)
    assistant = load_target(args.assistant_factory)(str(models_dir), args.device)
    use_llm_server(assistant, args)
    try:
        assistant.load()
    except Exception as exc:  # the operator's terms
        print(f"error: the models could not be loaded: {exc}", file=sys.stderr)
        return 1
    server = EngineServer(assistant, options)
    try:
        asyncio.run(_serve_until_stopped(server))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve_until_stopped(server: Any) -> None:
    """Serve until SIGTERM or SIGINT, then close the sessions and remove their uploads (a clean stop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl+C still ends it through KeyboardInterrupt
            pass
    await server.run(started=lambda url: print(f"serving on {url}", flush=True), stop=stop)
