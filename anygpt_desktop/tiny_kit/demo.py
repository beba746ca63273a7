"""The demo models: the tiny random kit, written once into the user data folder (``--demo``, GUI and command line)."""

from __future__ import annotations

import logging
from pathlib import Path

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
