"""What is wrong with a path the user gave as an input file, said plainly (no Qt, no torch).

The path checks themselves live in :mod:`anygpt_desktop.path_checks` (a leaf every room may import).

:func:`classify_attachment` is what a window calls when a file is dropped, pasted or picked: it says whether the
file is an image or audio the app can use (reading the header, not the whole file) or raises
:class:`InputFileError` with the reason, including the size limits of the readers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from anygpt_desktop.path_checks import InputFileError, check_input_file, path_problem

__all__ = ["AUDIO_SUFFIXES", "IMAGE_SUFFIXES", "InputFileError", "check_input_file", "classify_attachment", "path_problem"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif")

AttachmentKind = Literal["image", "audio"]


def classify_attachment(path: str | os.PathLike[str]) -> AttachmentKind:
    """``"image"`` or ``"audio"`` for a dropped/picked/pasted file the app can use, else :class:`InputFileError`.

    The file is checked, not only its name: images are opened (header and pixel-count limit, then decoded) and audio
    headers are read; a file whose content is neither is refused whatever its extension says.
    """
    p = check_input_file(path, "file")
    if p.stat().st_size == 0:
        raise InputFileError(f"'{p.name}' is empty (0 bytes)")
    suffix = p.suffix.lower()
    if suffix == ".svg":
        raise InputFileError(f"'{p.name}' is an SVG drawing; only bitmap images can be used (export it as PNG)")
    if suffix in IMAGE_SUFFIXES:
        _check_image(p)
        return "image"
    if suffix in AUDIO_SUFFIXES:
        _check_audio(p)
        return "audio"
    supported = ", ".join(s.lstrip(".").upper() for s in IMAGE_SUFFIXES + AUDIO_SUFFIXES)
    raise InputFileError(f"'{p.name}': only images and audio files can be added ({supported})")


def _check_image(path: Path) -> None:
    from anygpt_desktop.modalities.image.image_input import ImageInputError, open_image

    try:
        open_image(path)
    except ImageInputError as exc:
        raise InputFileError(str(exc)) from None


def _check_audio(path: Path) -> None:
    from anygpt_desktop.audio.errors import AudioInputError
    from anygpt_desktop.audio.files import probe_audio

    try:
        probe_audio(path)
    except AudioInputError as exc:
        raise InputFileError(str(exc)) from None
