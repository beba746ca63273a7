"""Which engine the app runs: the models folder (or the demo kit) and the factory the worker thread calls.

No Qt here: the window (``app.main``) and the headless self-test (``app.self_test``) both use it.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

from anygpt_desktop.layout import resolve_models_dir
from anygpt_desktop.tiny_kit.demo import DEMO_MARKER, demo_models_dir, ensure_demo_kit

__all__ = ["DEMO_MARKER", "ENGINES", "EngineChoice", "choose_models_dir", "demo_models_dir", "engine_factory",
           "engine_settings_problem", "engine_url_problem", "ensure_demo_kit", "server_address"]

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


def engine_url_problem(url: str) -> str:
    """What is wrong with a server address (``ws://host:port`` or ``wss://host:port``; behind a reverse proxy
    ``wss://host/path`` on the standard port), in words; "" when it is usable."""
    url = url.strip()
    if not url:
        return "Enter the server's address, like wss://gpu.example.org:8765."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"The port in the server address {url} must be a number from 1 to 65535."
    if parts.scheme not in ("ws", "wss"):
        given = f", not {parts.scheme}://" if parts.scheme and "://" in url else f", like wss://{url}"
        return f"The server address must start with ws:// or wss://{given}."
    if not parts.hostname:
        return f"The server address {url} has no host name (the server's name or IP address)."
    if port is None and parts.path.strip("/") == "":  # a reverse proxy's path (wss://host/anygpt) uses 443 or 80
        return f"The server address {url} needs a port, like {parts.scheme}://{parts.hostname}:8765."
    if port == 0:
        return f"The port in the server address {url} must be a number from 1 to 65535."
    return ""


def server_address(url: str) -> str:
    """``host:port`` of a server address (what the status bar shows); the address itself if it cannot be split."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return url
    if not host:
        return url
    host = f"[{host}]" if ":" in host else host
    port = port or {"wss": 443, "ws": 80}.get(parts.scheme)
    return f"{host}:{port}" if port else host


def llm_url_problem(url: str) -> str:
    """What is wrong with a vLLM server's address (``http(s)://host:port/v1``); "" when it is fine or empty."""
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"The language model server's address must start with http:// or https://, not {url[:40]!r}."
    if not parts.hostname:
        return "The language model server's address has no host name."
    return ""


def engine_settings_problem(values: dict[str, Any]) -> str:
    """What keeps the stored engine choice (``engine``, ``engine_url``, ``engine_token_file``, ``llm_url``) from
    working; ""."""
    if values.get("engine") != "remote":
        return llm_url_problem(str(values.get("llm_url") or ""))
    if problem := engine_url_problem(str(values.get("engine_url") or "")):
        return problem
    token_file = str(values.get("engine_token_file") or "").strip()
    if not token_file:
        return "Choose the file that holds the server's token (ask the server's operator for it)."
    if not Path(token_file).expanduser().is_file():
        return f"The token file {token_file} does not exist."
    try:
        read_engine_token(token_file)
    except ValueError as exc:
        text = str(exc)
        return text[:1].upper() + text[1:] + "."
    return ""


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


class EngineChoice:
    """The factory the worker calls at every load: it reads the engine, the server and the device from the settings
    at each call, so a choice made in Settings › Engine applies at the next load. The command line's choice (``args``:
    ``--engine``, ``--engine-url``, ``--engine-token-file``) comes first; the demo's tiny models run on this computer
    whatever the settings say. ``build`` makes the factory of one choice (``engine_factory``'s signature)."""

    def __init__(self, models_dir: Path | None, *, demo: bool, settings: Any, args: argparse.Namespace | None = None,
                 build: Callable[..., AssistantFactory] | None = None) -> None:
        self.models_dir, self.demo, self.settings = models_dir, demo, settings
        self.args = args if args is not None else argparse.Namespace()
        self.build = build or engine_factory

    def using(self, models_dir: Path | None, demo: bool, build: Callable[..., AssistantFactory] | None = None) -> EngineChoice:
        """The same choice for other models (another folder, the demo)."""
        return EngineChoice(models_dir, demo=demo, settings=self.settings, args=self.args, build=build or self.build)

    def command_line(self) -> str:
        """The command line's engine option that overrides the settings, or ""."""
        for flag in ("engine", "engine_url", "engine_token_file"):
            if getattr(self.args, flag, None):
                return "--" + flag.replace("_", "-")
        return ""

    def choice(self) -> tuple[str, str | None, str | None]:
        """(engine, server address, token file) that the next load uses."""
        engine, url, token_file = remote_engine_choice(self.args, self.settings)
        engine = engine or os.environ.get("ANYGPT_ENGINE") or "process"
        if self.demo and engine == "remote" and not self.command_line():
            engine = "process"
        return engine, url, token_file

    def server_address(self) -> str:
        """``host:port`` of the server the next load connects to; "" when the engine runs on this computer."""
        engine, url, _token = self.choice()
        return server_address(url or "") if engine == "remote" else ""

    def __call__(self) -> Any:
        engine, url, token_file = self.choice()
        device = self.settings.get("device") or None
        return self.build(self.models_dir, demo=self.demo, device=device, engine=engine, url=url,
                          token_file=token_file)()
