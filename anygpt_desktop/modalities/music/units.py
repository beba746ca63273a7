"""Encodec 32 kHz codes <-> AnyGPT music units and LLM ids (reference-behaviour §1.5, §6).

Codes are ``[4, frames]`` (codebook l, frame t). They are flattened **frame-major**: for each frame, the four codebooks
in order, with value ``c[l][t] + 2048 * l`` (so codebook l owns the values ``2048*l .. 2048*l + 2047``). The LLM id of a
value is ``UNIT_BASE_ID["music"] + value`` and its token text is ``<🎶value>``.

The inverse is strict by default: a span must be whole frames and every value must sit in its codebook's range for
its position. ``lenient=True`` reproduces the reference decoder instead (``value % 2048``, a trailing partial frame
dropped, no phase check); it exists to cross-check the reference, not for the product.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np

from anygpt_desktop.modalities.music.errors import MusicUnitError
from anygpt_desktop.protocol.units import UnitSpanError, music_codes_to_units, music_units_to_codes
from anygpt_desktop.protocol.vocab import UNIT_BASE_ID

NUM_CODEBOOKS = 4
CODEBOOK_SIZE = 2048
NUM_VALUES = NUM_CODEBOOKS * CODEBOOK_SIZE  # 8192 music unit tokens
MUSIC_UNIT_BASE_ID = UNIT_BASE_ID["music"]  # id of <🎶0>
MUSIC_EMOJI = "\U0001f3b6"  # 🎶
START_TAG, END_TAG = "<somu>", "<eomu>"
FRAME_RATE = 50  # frames per second at 32 kHz (hop 640)

_UNIT_RE = re.compile(f"<{MUSIC_EMOJI}(\\d+)>")


def codes_to_values(codes: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    """Codes ``[4, frames]`` → unit values ``[4 * frames]`` (the protocol's frame-major rule, as numpy)."""
    arr = np.asarray(codes)
    if arr.ndim != 2 or arr.shape[0] != NUM_CODEBOOKS:
        raise MusicUnitError(f"music codes must have shape [{NUM_CODEBOOKS}, frames], got {list(arr.shape)}")
    try:
        return np.asarray(music_codes_to_units(arr.tolist()), dtype=np.int64)
    except UnitSpanError as exc:
        raise MusicUnitError(str(exc)) from exc


def values_to_codes(values: Iterable[int] | np.ndarray, lenient: bool = False) -> np.ndarray:
    """Unit values → codes ``[4, frames]`` (int64); see the module docstring for ``lenient``."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.int64).reshape(-1)
    if not lenient and arr.size and (arr.min() < 0 or arr.max() >= NUM_VALUES):
        raise MusicUnitError(f"music unit values must lie in 0..{NUM_VALUES - 1}, got {arr.min()}..{arr.max()}")
    try:
        codes = music_units_to_codes(arr.tolist(), strict=not lenient)
    except UnitSpanError as exc:
        raise MusicUnitError(str(exc)) from exc
    return np.asarray(codes, dtype=np.int64).reshape(NUM_CODEBOOKS, -1)


def codes_to_llm_ids(codes: np.ndarray | Sequence[Sequence[int]]) -> list[int]:
    """Codes ``[4, frames]`` → LLM ids ``MUSIC_UNIT_BASE_ID + value`` (without ``<somu>/<eomu>``)."""
    return [MUSIC_UNIT_BASE_ID + int(v) for v in codes_to_values(codes)]


def llm_ids_to_codes(ids: Iterable[int], lenient: bool = False) -> np.ndarray:
    """LLM ids of music units → codes ``[4, frames]``; an id outside the music unit range is an error."""
    arr = np.asarray(list(ids), dtype=np.int64)
    bad = arr[(arr < MUSIC_UNIT_BASE_ID) | (arr >= MUSIC_UNIT_BASE_ID + NUM_VALUES)]
    if bad.size:
        raise MusicUnitError(f"id {int(bad[0])} is not a music unit (music units are ids {MUSIC_UNIT_BASE_ID}.."
                             f"{MUSIC_UNIT_BASE_ID + NUM_VALUES - 1})")
    return values_to_codes(arr - MUSIC_UNIT_BASE_ID, lenient=lenient)


def unit_token(value: int) -> str:
    """Token text of one music unit value, e.g. ``<🎶2048>``."""
    return f"<{MUSIC_EMOJI}{int(value)}>"


def codes_to_string(codes: np.ndarray | Sequence[Sequence[int]], tags: bool = True) -> str:
    """The prompt text of a music span: ``<somu><🎶v>…<eomu>`` with no spaces (the tags can be left out)."""
    body = "".join(unit_token(v) for v in codes_to_values(codes))
    return START_TAG + body + END_TAG if tags else body


def string_to_values(text: str) -> list[int]:
    """Unit values of every ``<🎶n>`` token in ``text``, in order (tags and other text are ignored)."""
    return [int(m) for m in _UNIT_RE.findall(text)]


def string_to_codes(text: str, lenient: bool = False) -> np.ndarray:
    """Codes ``[4, frames]`` from a music span's text."""
    return values_to_codes(string_to_values(text), lenient=lenient)
