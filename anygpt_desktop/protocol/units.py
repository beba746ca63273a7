"""Unit spans as prompt text (reference-behaviour §1.5): ``sos + unit tokens without spaces + eos``, and music's frame-major layout."""

from __future__ import annotations

from typing import Sequence

from anygpt_desktop.protocol.vocab import SPAN_TAGS, UNIT_COUNT, unit_token

IMAGE_UNITS_PER_IMAGE = 32
MUSIC_CODEBOOKS = 4
MUSIC_CODEBOOK_SIZE = 2048
SPEECH_UNITS_PER_SECOND = 50
MUSIC_FRAMES_PER_SECOND = 50


class UnitSpanError(ValueError):
    """A unit span that cannot be turned into media (wrong length, out-of-phase music unit, ...)."""


def units_to_string(modality: str, units: Sequence[int]) -> str:
    """``<sosp><🗣️5><🗣️17><eosp>``: the exact text the reference puts into a prompt for a media input."""
    start, end = SPAN_TAGS[modality]
    return start + "".join(unit_token(modality, int(u)) for u in units) + end


def music_codes_to_units(codes: Sequence[Sequence[int]]) -> list[int]:
    """Encodec codes ``[4][frames]`` → music unit values, frame-major, layer l offset by 2048·l."""
    if len(codes) != MUSIC_CODEBOOKS:
        raise UnitSpanError(f"music needs {MUSIC_CODEBOOKS} codebooks, got {len(codes)}")
    frames = len(codes[0])
    if any(len(row) != frames for row in codes):
        raise UnitSpanError("music codebooks have different lengths")
    units: list[int] = []
    for t in range(frames):
        for layer in range(MUSIC_CODEBOOKS):
            code = int(codes[layer][t])
            if not 0 <= code < MUSIC_CODEBOOK_SIZE:
                raise UnitSpanError(f"music code {code} outside 0..{MUSIC_CODEBOOK_SIZE - 1}")
            units.append(code + MUSIC_CODEBOOK_SIZE * layer)
    return units


def music_units_to_codes(units: Sequence[int], strict: bool = True) -> list[list[int]]:
    """Music unit values → codes ``[4][frames]``.

    ``strict`` (the product's default) refuses a partial last frame and a unit in the wrong codebook phase.
    ``strict=False`` is the reference's rule (reference-behaviour §6): ``value % 2048``, a trailing partial frame silently dropped.
    """
    if strict:
        if len(units) % MUSIC_CODEBOOKS:
            raise UnitSpanError(
                f"music span has {len(units)} units, not whole frames of {MUSIC_CODEBOOKS}"
            )
        for i, value in enumerate(units):
            layer = i % MUSIC_CODEBOOKS
            if not MUSIC_CODEBOOK_SIZE * layer <= value < MUSIC_CODEBOOK_SIZE * (layer + 1):
                raise UnitSpanError(
                    f"music unit {i} (value {value}) is out of phase: position {i} belongs to codebook {layer}"
                )
    frames = len(units) // MUSIC_CODEBOOKS
    return [
        [int(units[t * MUSIC_CODEBOOKS + layer]) % MUSIC_CODEBOOK_SIZE for t in range(frames)]
        for layer in range(MUSIC_CODEBOOKS)
    ]


def check_image_units(units: Sequence[int]) -> None:
    """An image span must hold exactly 32 SEED units."""
    if len(units) != IMAGE_UNITS_PER_IMAGE:
        raise UnitSpanError(f"image span has {len(units)} units, an image needs exactly {IMAGE_UNITS_PER_IMAGE}")
    bad = [u for u in units if not 0 <= u < UNIT_COUNT["image"]]
    if bad:
        raise UnitSpanError(f"image unit {bad[0]} outside 0..{UNIT_COUNT['image'] - 1}")
