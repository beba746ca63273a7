"""Opening user images robustly: any common format becomes an upright 8-bit RGB ``PIL.Image``, or a clear error.

Handled: PNG, JPEG, WebP, BMP, GIF/animated images (first frame), TIFF, CMYK, palette, greyscale, 16-bit and
float images, transparency (composited on white), EXIF orientation. Refused with ``ImageInputError``: missing,
empty, corrupt, truncated and non-image files (SVG drawings included), paths that are not readable files (a folder,
a dangling link, a link loop: said as such), and images above ``MAX_PIXELS`` (checked from the header before decoding,
so a huge file or a decompression bomb is never decoded).
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

MAX_PIXELS = 50_000_000
"""Largest accepted image, in pixels (50 megapixels, more than any phone or most cameras take; decoded as RGB it
needs 150 MB). The tokenizer only ever sees 224x224."""
READABLE_FORMATS = "JPEG, PNG, WebP, BMP, GIF, TIFF"


class ImageInputError(ValueError):
    """An image the user gave cannot be used; the message says why in plain words."""


def _to_8bit(img: Image.Image) -> Image.Image:
    """Scale 16-bit/32-bit integer and float greyscale images to 8-bit ``L`` by their value range."""
    arr = np.asarray(img)
    if img.mode == "F":
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
    else:
        # "I;16*" holds 0..65535, "I" usually too (PNG 16-bit greyscale opens as "I" or "I;16").
        scaled = arr.astype(np.float64) / 257.0
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparent areas are composited on white."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        img = _to_8bit(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "La", "PA"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "RGBa"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img.convert("RGBA")).convert("RGB")
    if img.mode == "RGB" and "transparency" in img.info:
        return to_rgb(img.convert("RGBA"))
    if img.mode == "L" and "transparency" in img.info:
        return to_rgb(img.convert("LA"))
    return img.convert("RGB")


def open_image(source: str | os.PathLike[str] | bytes | BinaryIO, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open ``source`` (path, bytes or binary file) as an upright RGB image, or raise ``ImageInputError``."""
    name = "the image"
    if isinstance(source, (str, os.PathLike)):
        from anygpt_desktop.path_checks import path_problem

        path = Path(source)
        name = path.name
        problem = path_problem(path, "image file")
        if problem is not None:
            raise ImageInputError(problem)
        if path.stat().st_size == 0:
            raise ImageInputError(f"{name}: the file is empty")
        if path.suffix.lower() in (".svg", ".svgz"):
            raise ImageInputError(f"{name} is an SVG drawing; only bitmap images can be used (export it as PNG)")
        stream: BinaryIO = open(path, "rb")  # closed below
    elif isinstance(source, bytes):
        if not source:
            raise ImageInputError("the image data is empty")
        stream = io.BytesIO(source)
    else:
        stream = source
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # MAX_PIXELS is checked below
                img = Image.open(stream)
        except UnidentifiedImageError:
            raise ImageInputError(
                f"{name} is not an image in a format this app can read ({READABLE_FORMATS})"
            ) from None
        except Image.DecompressionBombError:
            raise ImageInputError(
                f"{name} is too large to open safely (the limit is {max_pixels / 1e6:.0f} megapixels)"
            ) from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageInputError(f"{name} could not be read: {exc}") from None
        width, height = img.size
        if width < 1 or height < 1:
            raise ImageInputError(f"{name} has no pixels ({width}x{height})")
        if width * height > max_pixels:
            raise ImageInputError(
                f"{name} is too large ({width}x{height} = {width * height / 1e6:.1f} megapixels; "
                f"the limit is {max_pixels / 1e6:.0f} megapixels). Please use a smaller image."
            )
        try:
            img.seek(0)  # first frame of animations
            img.load()
            img = ImageOps.exif_transpose(img) or img
            rgb = to_rgb(img)
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            raise ImageInputError(f"{name} is damaged or truncated and could not be decoded ({exc})") from None
        logger.debug("opened %s: %s %dx%d -> RGB", name, img.mode, width, height)
        return rgb
    finally:
        if stream is not source:
            stream.close()
