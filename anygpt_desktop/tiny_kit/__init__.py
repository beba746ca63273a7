"""The tiny model kit: a complete, deterministic model set in the released folder layouts, with random weights.

Every test and the demo mode use it. Each component has a writer ``write(models_root: Path, seed: int) -> None``
registered in ``WRITERS``; ``make_tiny`` runs them all.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Iterable

from anygpt_desktop.lazy import load_target

logger = logging.getLogger(__name__)

# component name -> "module:function" writing it under a models root, in the released layout.
WRITERS: dict[str, str] = {
    "llm": "anygpt_desktop.tiny_kit.llm:write_tiny_llm",
    "encodec_32khz": "anygpt_desktop.tiny_kit.encodec:write_tiny_encodec",
    "unclip": "anygpt_desktop.tiny_kit.unclip:write_tiny_unclip",
    "speechtokenizer": "anygpt_desktop.tiny_kit.speech:write_tiny_speechtokenizer",
    "soundstorm": "anygpt_desktop.tiny_kit.speech:write_tiny_soundstorm",
    "seed": "anygpt_desktop.tiny_kit.seed:write_tiny_seed",
}


def make_tiny(root: Path | str, seed: int = 0, components: Iterable[str] | None = None) -> Path:
    """Write the tiny model set under ``root`` (created if needed) and return it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name in components or WRITERS:
        writer: Callable[[Path, int], None] = load_target(WRITERS[name])
        start = time.perf_counter()
        writer(root, seed)
        logger.info("tiny kit: %s written in %.1f s", name, time.perf_counter() - start)
    return root
