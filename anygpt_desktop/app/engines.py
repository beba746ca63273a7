"""Which engine the app runs: the models folder (or the demo kit) and the factory the worker thread calls.

No Qt here: the window (``app.main``) and the headless self-test (``app.self_test``) both use it.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from anygpt_desktop.engine.layout import resolve_models_dir

if TYPE_CHECKING:
    from anygpt_desktop.app.worker import AssistantFactory
    from anygpt_desktop.engine.assistant import Assistant

logger = logging.getLogger(__name__)


DEMO_MARKER = ".demo-kit-complete"


def demo_models_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("anygpt-desktop", appauthor=False)) / "demo-models"


def ensure_demo_kit(root: Path) -> Path:
    """Write the tiny random model kit into ``root`` once (a marker file says it is complete)."""
    if not (root / DEMO_MARKER).is_file():
        from anygpt_desktop.tiny_kit import make_tiny

        logger.info("writing the tiny demo model kit into %s", root)
        make_tiny(root, seed=0)
        (root / DEMO_MARKER).write_text("ok\n", encoding="utf-8")
    return root


def engine_factory(models_dir: Path, *, demo: bool, device: str | None) -> AssistantFactory:
    """A factory the worker thread calls: the Assistant of ``models_dir`` (writing the demo kit first in demo mode)."""

    def make() -> Assistant:
        from anygpt_desktop.engine.assistant import Assistant

        if demo:
            ensure_demo_kit(models_dir)
        return Assistant(models_dir, device=device)

    return make


def choose_models_dir(args: argparse.Namespace, setting: str | None) -> Path:
    if getattr(args, "demo", False):
        return demo_models_dir()
    return resolve_models_dir(getattr(args, "models", None), setting)
