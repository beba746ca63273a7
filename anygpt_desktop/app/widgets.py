"""Small widget helpers shared by the window's parts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QPushButton

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def icon(name: str) -> QIcon:
    path = RESOURCES / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def button(text: str, accessible: str, icon_name: str = "") -> QPushButton:
    """A push button whose accessible name is also its tooltip."""
    b = QPushButton(text)
    b.setAccessibleName(accessible)
    b.setToolTip(accessible)
    if icon_name:
        b.setIcon(icon(icon_name))
    return b
