"""The stylesheet's colours meet WCAG AA in both themes: 4.5:1 for text on its background, 3:1 for icons and state
colours; the system theme follows the desktop's colour scheme."""

from __future__ import annotations

import re

import pytest

from anygpt_desktop.app import theme


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_and_icon_colours_meet_wcag_aa(scheme: str) -> None:
    c = theme.colors(scheme)
    low_text = [(f, b, round(theme.contrast_ratio(c[f], c[b]), 2)) for f, b in theme.TEXT_PAIRS
                if theme.contrast_ratio(c[f], c[b]) < 4.5]
    assert low_text == []
    low_icons = [(f, b) for f, b in theme.ICON_PAIRS if theme.contrast_ratio(c[f], c[b]) < 3.0]
    assert low_icons == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_colour_in_the_stylesheet_comes_from_the_checked_set(scheme: str) -> None:
    c = theme.colors(scheme)
    used = set(re.findall(r"#[0-9a-fA-F]{6}", theme.stylesheet(c)))
    assert used <= set(c.values())  # no stray literal colour escapes the contrast check


def test_contrast_ratio_known_values() -> None:
    assert theme.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert theme.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_system_theme_follows_the_desktop(qapp, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt

    hints = qapp.styleHints()
    monkeypatch.setattr(type(hints), "colorScheme", lambda self: Qt.ColorScheme.Dark)
    assert theme.resolve("system") == "dark"
    monkeypatch.setattr(type(hints), "colorScheme", lambda self: Qt.ColorScheme.Light)
    assert theme.resolve("system") == "light"
    assert theme.apply_theme(qapp, "system") == "light"
