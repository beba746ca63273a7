"""The app's look: one stylesheet over a Fusion palette, in light and dark, or following the system's colour scheme.

:data:`TEXT_PAIRS` names every text/background pair the stylesheet uses, so a test can check each one against the
WCAG AA contrast ratio (4.5:1 for text, 3:1 for large text and icons).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

_COLORS = {
    "light": {
        "window": "#f5f6f8", "base": "#ffffff", "text": "#1d1f23", "button": "#e9ebef", "highlight": "#2457b8",
        "on_highlight": "#ffffff", "user": "#dde8fb", "assistant": "#ffffff", "border": "#b5bcc7",
        "muted": "#4f5663", "disabled": "#8a919c", "error_bg": "#fde8ea", "error_text": "#7a1320",
        "info_bg": "#e3edfb", "info_text": "#173a72", "banner_bg": "#fff3cd", "banner_text": "#4d3900",
        "hearing": "#c62828", "listening": "#2457b8", "thinking": "#8a5a00", "speaking": "#1b7a3c", "chip": "#e3e7ee",
    },
    "dark": {
        "window": "#1e2025", "base": "#2a2d33", "text": "#e6e8eb", "button": "#3a3f48", "highlight": "#8ab0f5",
        "on_highlight": "#10151f", "user": "#27406b", "assistant": "#2a2d33", "border": "#5a606b",
        "muted": "#b3bac4", "disabled": "#7c828d", "error_bg": "#4a1d24", "error_text": "#ffd9de",
        "info_bg": "#1f3354", "info_text": "#d6e4ff", "banner_bg": "#4a3c12", "banner_text": "#ffeab0",
        "hearing": "#ff6b6b", "listening": "#8ab0f5", "thinking": "#f0b84a", "speaking": "#5fd38a", "chip": "#363a42",
    },
}

# (text, background) colour keys of the stylesheet and palette, for the contrast check
TEXT_PAIRS = [
    ("text", "window"), ("text", "base"), ("text", "button"), ("text", "user"), ("text", "assistant"),
    ("muted", "window"), ("muted", "base"), ("muted", "user"), ("on_highlight", "highlight"),
    ("error_text", "error_bg"), ("info_text", "info_bg"), ("banner_text", "banner_bg"), ("text", "chip"),
]
# icons and state colours against the window (3:1 suffices for non-text)
ICON_PAIRS = [("hearing", "window"), ("listening", "window"), ("thinking", "window"), ("speaking", "window"),
              ("highlight", "window"), ("muted", "base")]  # muted: the checkbox outline

THEMES = ("light", "dark", "system")


def resolve(name: str) -> str:
    """"light" or "dark" for a theme name ("system": the desktop's colour scheme; light when it says nothing)."""
    if name == "system":
        hints = QGuiApplication.styleHints()
        return "dark" if hints.colorScheme() == Qt.ColorScheme.Dark else "light"
    return name if name in _COLORS else "light"


def colors(name: str) -> dict[str, str]:
    return _COLORS[resolve(name)]


def stylesheet(c: dict[str, str]) -> str:
    return f"""
    QFrame#turn_user {{ background: {c['user']}; border: 1px solid {c['border']}; border-radius: 10px; }}
    QFrame#turn_assistant {{ background: {c['assistant']}; border: 1px solid {c['border']}; border-radius: 10px; }}
    QLabel#turn_role {{ color: {c['muted']}; font-weight: bold; }}
    QLabel#turn_meta {{ color: {c['muted']}; font-size: 11px; }}
    QFrame#banner {{ background: {c['banner_bg']}; border-radius: 8px; }}
    QFrame#banner QLabel {{ color: {c['banner_text']}; }}
    QFrame#notice_error {{ background: {c['error_bg']}; border-left: 4px solid {c['hearing']}; border-radius: 6px; }}
    QFrame#notice_error QLabel {{ color: {c['error_text']}; }}
    QFrame#notice_info {{ background: {c['info_bg']}; border-left: 4px solid {c['listening']}; border-radius: 6px; }}
    QFrame#notice_info QLabel {{ color: {c['info_text']}; }}
    QFrame#chip {{ background: {c['chip']}; border: 1px solid {c['border']}; border-radius: 12px; }}
    QLabel#drop_sign {{ background: {c['info_bg']}; color: {c['info_text']}; border: 3px dashed {c['listening']};
                        border-radius: 12px; font-size: 16px; }}
    QLabel#phase {{ color: {c['muted']}; font-weight: bold; }}
    QPushButton#mic {{ border-radius: 32px; border: 3px solid {c['border']}; background: {c['button']}; }}
    QPushButton#mic[phase="idle"] {{ border-color: {c['highlight']}; }}
    QPushButton#mic[phase="listening"] {{ border-color: {c['listening']}; border-style: dashed; }}
    QPushButton#mic[phase="hearing"] {{ border-color: {c['hearing']}; border-width: 5px; }}
    QPushButton#mic[phase="thinking"] {{ border-color: {c['thinking']}; border-style: dotted; }}
    QPushButton#mic[phase="speaking"] {{ border-color: {c['speaking']}; border-width: 4px; }}
    QProgressBar#level {{ border: none; background: {c['chip']}; border-radius: 3px; }}
    QProgressBar#level::chunk {{ background: {c['speaking']}; border-radius: 3px; }}
    QPushButton:focus, QToolButton:focus, QComboBox:focus, QCheckBox:focus {{ outline: none; }}
    QPushButton:focus, QToolButton:focus {{ border: 2px solid {c['highlight']}; border-radius: 4px; }}
    QPushButton#mic:focus {{ border-radius: 32px; }}
    QListWidget::item:selected {{ background: {c['highlight']}; color: {c['on_highlight']}; }}
    QCheckBox::indicator {{ width: 14px; height: 14px; border: 2px solid {c['muted']}; border-radius: 3px;
                            background: {c['base']}; }}
    QCheckBox::indicator:checked {{ background: {c['highlight']}; border-color: {c['highlight']}; }}
    QCheckBox::indicator:disabled {{ border-color: {c['disabled']}; }}
    """


def apply_theme(app: QApplication, name: str) -> str:
    """Apply ``"light"``, ``"dark"`` or ``"system"`` to the whole application; returns the scheme used."""
    scheme = resolve(name)
    c = _COLORS[scheme]
    app.setStyle("Fusion")
    pal = QPalette()
    for role, key in [
        (QPalette.ColorRole.Window, "window"), (QPalette.ColorRole.Base, "base"),
        (QPalette.ColorRole.AlternateBase, "window"), (QPalette.ColorRole.Text, "text"),
        (QPalette.ColorRole.WindowText, "text"), (QPalette.ColorRole.Button, "button"),
        (QPalette.ColorRole.ButtonText, "text"), (QPalette.ColorRole.Highlight, "highlight"),
        (QPalette.ColorRole.HighlightedText, "on_highlight"), (QPalette.ColorRole.ToolTipBase, "base"),
        (QPalette.ColorRole.ToolTipText, "text"), (QPalette.ColorRole.PlaceholderText, "muted"),
        (QPalette.ColorRole.Link, "highlight"),
    ]:
        pal.setColor(role, QColor(c[key]))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(c["disabled"]))
    app.setPalette(pal)
    app.setStyleSheet(stylesheet(c))
    return scheme


def contrast_ratio(fg: str, bg: str) -> float:
    """The WCAG 2 contrast ratio of two ``#rrggbb`` colours (1 to 21)."""

    def luminance(hex_color: str) -> float:
        channels = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [ch / 12.92 if ch <= 0.04045 else ((ch + 0.055) / 1.055) ** 2.4 for ch in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
