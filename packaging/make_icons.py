"""Render resources/icons/anygpt.svg into the icon files the installers need.

    python packaging/make_icons.py OUT_DIR

writes OUT_DIR/anygpt-desktop.ico (Windows: 16-256 px), OUT_DIR/anygpt-desktop.icns (macOS: 16-1024 px) and
OUT_DIR/hicolor/<n>x<n>/apps/anygpt-desktop.png (Linux menus that do not read SVG). Uses QtSvg (PySide6-Essentials)
to draw and Pillow to write the containers, both already dependencies of the app.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from pathlib import Path

SVG = Path(__file__).resolve().parents[1] / "resources" / "icons" / "anygpt.svg"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)
HICOLOR_SIZES = (48, 64, 128, 256)

logger = logging.getLogger("make_icons")


def render(svg: Path, size: int) -> "PIL.Image.Image":  # noqa: F821
    """The SVG drawn on a transparent ``size`` x ``size`` canvas."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return Image.open(io.BytesIO(bytes(buf.data()))).convert("RGBA")


def make_icons(out_dir: Path, svg: Path = SVG) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    big = render(svg, 1024)
    written = [out_dir / "anygpt-desktop.ico", out_dir / "anygpt-desktop.icns"]
    big.save(written[0], format="ICO", sizes=[(s, s) for s in ICO_SIZES])
    big.save(written[1], format="ICNS", sizes=[(s, s) for s in ICNS_SIZES])
    for size in HICOLOR_SIZES:
        path = out_dir / "hicolor" / f"{size}x{size}" / "apps" / "anygpt-desktop.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        render(svg, size).save(path)
        written.append(path)
    return written


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for p in make_icons(Path(sys.argv[1])):
        logger.info("wrote %s", p)
