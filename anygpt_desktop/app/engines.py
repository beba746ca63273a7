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

logger = logging.getLogger(__name__)


ENGINES = ("process", "inprocess")


def engine_factory(models_dir: Path, *, demo: bool, device: str | None, engine: str | None = None) -> AssistantFactory:
    """A factory the worker thread calls: the assistant of ``models_dir`` (writing the demo kit first in demo mode).

    ``engine`` "process" (the default; ``$ANYGPT_ENGINE`` may say otherwise): the models run in a separate engine
    process; "inprocess": in the worker thread of the GUI process.
    """
    engine = engine or os.environ.get("ANYGPT_ENGINE") or "process"
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")

    def make() -> Assistant | RemoteAssistant:
        if demo:
            ensure_demo_kit(models_dir)
        if engine == "process":
            from anygpt_desktop.engine_process import RemoteAssistant

            return RemoteAssistant(models_dir, device=device)  # ended by EngineClient.shutdown
        from anygpt_desktop.engine.assistant import Assistant

        return Assistant(models_dir, device=device)

    return make


def choose_models_dir(args: argparse.Namespace, setting: str | None) -> Path:
    if getattr(args, "demo", False):
        return demo_models_dir()
    return resolve_models_dir(getattr(args, "models", None), setting)
