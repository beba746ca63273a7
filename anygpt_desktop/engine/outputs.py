"""Where a turn's media go: safe, unique file names built from user text (the reference wrote raw text into paths)."""

from __future__ import annotations

import re
import time
import unicodedata
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def slug(text: str, max_len: int = 40) -> str:
    """A file-name-safe slug: ASCII letters, digits, ``. _ -``; never empty, never a path, never a device name."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    s = _UNSAFE.sub("-", ascii_text).strip("-._")[:max_len].strip("-._")
    if not s or s.lower() in _RESERVED:
        s = "output"
    return s


def unique_path(folder: Path, stem_text: str, kind: str, suffix: str) -> Path:
    """``folder/<time>-<slug>-<kind><suffix>``, numbered if that name exists; the folder is created."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{slug(stem_text)}-{kind}"
    path = folder / f"{base}{suffix}"
    n = 2
    while path.exists():
        path = folder / f"{base}-{n}{suffix}"
        n += 1
    return path
