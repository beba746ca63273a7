"""Light and dark themes: a Fusion palette plus a few style rules for the conversation bubbles."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

_COLORS = {
    "light": {
        "window": "#f5f6f8", "base": "#ffffff", "text": "#1d1f23", "button": "#e9ebef", "highlight": "#2f6fdb",
        "user": "#dde8fb", "assistant": "#ffffff", "border": "#c9ced6", "muted": "#5c6370", "disabled": "#a0a6b0",
    },
    "dark": {
        "window": "#1e2025", "base": "#2a2d33", "text": "#e6e8eb", "button": "#363a42", "highlight": "#5b8def",
        "user": "#27406b", "assistant": "#2a2d33", "border": "#474c55", "muted": "#a4abb6", "disabled": "#6b717c",
    },
}


def colors(name: str) -> dict[str, str]:
    return _COLORS.get(name, _COLORS["light"])


def apply_theme(app: QApplication, name: str) -> None:
    """Apply ``"light"`` or ``"dark"`` to the whole application."""
    c = colors(name)
    app.setStyle("Fusion")
    pal = QPalette()
    for role, key in [
        (QPalette.ColorRole.Window, "window"), (QPalette.ColorRole.Base, "base"),
        (QPalette.ColorRole.AlternateBase, "window"), (QPalette.ColorRole.Text, "text"),
        (QPalette.ColorRole.WindowText, "text"), (QPalette.ColorRole.Button, "button"),
        (QPalette.ColorRole.ButtonText, "text"), (QPalette.ColorRole.Highlight, "highlight"),
        (QPalette.ColorRole.ToolTipBase, "base"), (QPalette.ColorRole.ToolTipText, "text"),
        (QPalette.ColorRole.PlaceholderText, "muted"),
    ]:
        pal.setColor(role, QColor(c[key]))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(c["disabled"]))
    app.setPalette(pal)
    app.setStyleSheet(
        f"""
        QFrame#turn_user {{ background: {c['user']}; border: 1px solid {c['border']}; border-radius: 10px; }}
        QFrame#turn_assistant {{ background: {c['assistant']}; border: 1px solid {c['border']}; border-radius: 10px; }}
        QLabel#turn_role {{ color: {c['muted']}; font-weight: bold; }}
        QLabel#turn_meta {{ color: {c['muted']}; font-size: 11px; }}
        QLabel#banner {{ background: #fff3cd; color: #5c4400; padding: 6px; border-radius: 6px; }}
        QPushButton:focus, QToolButton:focus {{ border: 2px solid {c['highlight']}; }}
        """
    )
