"""Small widget helpers shared by the window's parts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QAbstractButton, QDialogButtonBox, QLabel, QPushButton

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


ICON_INKS = ("#2f6fdb", "#5c6370")  # the colours the icon files are drawn in (the stop icon keeps its red)


def icon(name: str, ink: str = "") -> QIcon:
    """An icon from resources/icons; ``ink`` redraws its blue/grey strokes in a theme's colour (readable on both)."""
    path = RESOURCES / "icons" / f"{name}.svg"
    if not path.is_file():
        return QIcon()
    if not ink:
        return QIcon(str(path))
    svg = path.read_text(encoding="utf-8")
    for old in ICON_INKS:
        svg = svg.replace(old, ink)
    pix = QPixmap()
    pix.loadFromData(svg.encode(), "SVG")
    big = QPixmap()
    big.loadFromData(svg.replace("<svg ", '<svg width="64" height="64" ', 1).encode(), "SVG")
    out = QIcon(pix)
    out.addPixmap(big)
    return out


def recolor_icons(buttons: list[tuple[QAbstractButton, str]], ink: str) -> None:
    for b, name in buttons:
        size = b.iconSize() if not b.icon().isNull() else QSize(16, 16)
        b.setIcon(icon(name, ink))
        b.setIconSize(size)


def button(text: str, accessible: str, icon_name: str = "") -> QPushButton:
    """A push button whose accessible name is also its tooltip."""
    b = QPushButton(text)
    b.setAccessibleName(accessible)
    b.setToolTip(accessible)
    if icon_name:
        b.setIcon(icon(icon_name))
    return b


def name_buttons(box: QDialogButtonBox) -> None:
    """Give a button box's buttons their caption (without the mnemonic's ``&``) as accessible name."""
    for b in box.buttons():
        if not b.accessibleName():
            b.setAccessibleName(b.text().replace("&&", "\0").replace("&", "").replace("\0", "&"))


def note(text: str) -> QLabel:
    """A wrapped explanation in the muted style of a turn's details."""
    label = QLabel(text)
    label.setObjectName("turn_meta")
    label.setWordWrap(True)
    return label
