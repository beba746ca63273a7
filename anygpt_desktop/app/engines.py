"""Which engine the app runs: the models folder (or the demo kit) and the factory the worker thread calls.

Qt only inside ``_ends_with_this_thread`` (imported lazily): the window (``app.main``) and the headless self-test (``app.self_test``) both use it.
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

            return _ends_with_this_thread(RemoteAssistant(models_dir, device=device))
        from anygpt_desktop.engine.assistant import Assistant

        return Assistant(models_dir, device=device)

    return make


def _ends_with_this_thread(remote: RemoteAssistant) -> RemoteAssistant:
    """Shut the engine process down when the calling QThread (the app's engine worker) finishes: closing the window
    ends the child. A weak reference: an assistant the worker dropped (a reload) ends through its own finalizer.
    The slot touches no widget, so it runs directly in the finishing thread (no event loop is needed there)."""
    import weakref

    from PySide6.QtCore import QThread, Qt

    ref = weakref.ref(remote)
    thread = QThread.currentThread()
    if thread is not None:
        thread.finished.connect(lambda: (r := ref()) is not None and r.shutdown(), Qt.ConnectionType.DirectConnection)
    return remote


def choose_models_dir(args: argparse.Namespace, setting: str | None) -> Path:
    if getattr(args, "demo", False):
        return demo_models_dir()
    return resolve_models_dir(getattr(args, "models", None), setting)
