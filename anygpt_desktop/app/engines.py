"""Which engine the app runs: the models folder (or the demo kit) and the factory the worker thread calls.

No Qt here: the window (``app.main``) and the headless self-test (``app.self_test``) both use it.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from anygpt_desktop.layout import resolve_models_dir
from anygpt_desktop.tiny_kit.demo import DEMO_MARKER, demo_models_dir, ensure_demo_kit

__all__ = ["DEMO_MARKER", "ENGINES", "choose_models_dir", "demo_models_dir", "engine_factory", "ensure_demo_kit"]

if TYPE_CHECKING:
    from anygpt_desktop.app.worker import AssistantFactory
    from anygpt_desktop.engine.assistant import Assistant
    from anygpt_desktop.engine_process import RemoteAssistant
    from anygpt_desktop.serve.client import RemoteServerAssistant

logger = logging.getLogger(__name__)


ENGINES = ("process", "inprocess", "remote")


def read_engine_token(path: str | Path) -> str:
    """The bearer token of a remote engine: the first line of ``path``."""
    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8").strip().splitlines()
    except OSError as exc:
        raise ValueError(f"cannot read the engine token file {path}: {exc}") from None
    if not lines or not lines[0].strip():
        raise ValueError(f"the engine token file {path} is empty")
    return lines[0].strip()


def engine_factory(models_dir: Path | None, *, demo: bool, device: str | None, engine: str | None = None,
                   url: str | None = None, token_file: str | None = None) -> AssistantFactory:
    """A factory the worker thread calls: the assistant of ``models_dir`` (writing the demo kit first in demo mode).

    ``engine`` "process" (the default; ``$ANYGPT_ENGINE`` may say otherwise): the models run in a separate engine
    process; "inprocess": in the worker thread of the GUI process; "remote": on an ``anygpt-desktop serve`` server at
    ``url`` (``ws://`` or ``wss://``), authenticated by the token in ``token_file`` (nothing of the models is loaded here).
    """
    engine = engine or os.environ.get("ANYGPT_ENGINE") or "process"
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if engine == "remote":

        def make_remote() -> RemoteServerAssistant:  # errors surface as a failed model load, in words
            from anygpt_desktop.serve.client import RemoteServerAssistant

            if not url or not token_file:
                raise ValueError("a remote engine needs its address and token file (--engine-url and "
                                 "--engine-token-file, or Settings › Engine)")
            return RemoteServerAssistant(url, read_engine_token(token_file))

        return make_remote
    assert models_dir is not None

    def make() -> Assistant | RemoteAssistant:
        if demo:
            ensure_demo_kit(models_dir)
        if engine == "process":
            from anygpt_desktop.engine_process import RemoteAssistant

            return RemoteAssistant(models_dir, device=device)  # ended by EngineClient.shutdown
        from anygpt_desktop.engine.assistant import Assistant

        return Assistant(models_dir, device=device)

    return make


def use_llm_server_args(args: argparse.Namespace) -> None:
    """``--llm-url``/``--llm-api-key``: the engine's LLM on a vLLM server. Handed to the engine through the
    environment (``$ANYGPT_LLM_URL``, ``$ANYGPT_LLM_API_KEY``), which the engine process inherits; the key is never
    stored in the settings file."""
    url, key = getattr(args, "llm_url", None), getattr(args, "llm_api_key", None)
    if url:
        os.environ["ANYGPT_LLM_URL"] = url
    if key:
        os.environ["ANYGPT_LLM_API_KEY"] = key


def choose_models_dir(args: argparse.Namespace, setting: str | None) -> Path:
    if getattr(args, "demo", False):
        return demo_models_dir()
    return resolve_models_dir(getattr(args, "models", None), setting)


def remote_engine_choice(args: argparse.Namespace, settings: object) -> tuple[str | None, str | None, str | None]:
    """(engine, url, token file) from the command line first, then the stored settings (``AppSettings``)."""
    get = getattr(settings, "get", lambda _key: "")
    url = getattr(args, "engine_url", None) or get("engine_url") or None
    token_file = getattr(args, "engine_token_file", None) or get("engine_token_file") or None
    engine = getattr(args, "engine", None) or ("remote" if getattr(args, "engine_url", None) else None) or get("engine") or None
    return engine, url, token_file
