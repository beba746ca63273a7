"""Every visible interactive widget has an accessible name, and Tab visits the window in visual order (the sidebar
top to bottom, then the main column top to bottom and left to right, then the status bar), in the offscreen tier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton, QAbstractItemView, QAbstractSpinBox, QComboBox, QLineEdit, QPlainTextEdit, QSlider, QTabBar,
    QTextEdit, QWidget,
)

INTERACTIVE = (QAbstractButton, QLineEdit, QPlainTextEdit, QTextEdit, QComboBox, QAbstractItemView, QAbstractSpinBox,
               QSlider, QTabBar)


def unnamed(root: QWidget) -> list[str]:
    """Visible interactive widgets without an accessible name (a spin box's or combo's inner parts excepted)."""
    bad = []
    for w in root.findChildren(QWidget):
        inner = isinstance(w.parentWidget(), (QAbstractSpinBox, QComboBox))
        if isinstance(w, INTERACTIVE) and w.isVisible() and not inner and not w.accessibleName():
            bad.append(f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r} in {type(w.parentWidget()).__name__}")
    return bad


def focusable(w: QWidget) -> bool:
    return bool(w.focusPolicy() & Qt.FocusPolicy.TabFocus) and w.isVisible() and w.isEnabled() and w.focusProxy() is None


def geometry(w: QWidget) -> QRect:
    return QRect(w.mapTo(w.window(), w.rect().topLeft()), w.size())


def precedes(a: QWidget, b: QWidget, sidebar: QWidget) -> bool:
    """``a`` comes before ``b`` when reading the window: the sidebar first, the status bar last; in between, a widget
    entirely above another comes first, and of two side by side the left one."""
    region = [0 if sidebar.isAncestorOf(w) else 2 if w.window().statusBar().isAncestorOf(w) else 1 for w in (a, b)]
    if region[0] != region[1]:
        return region[0] < region[1]
    ga, gb = geometry(a), geometry(b)
    if ga.bottom() < gb.top():
        return True
    if gb.bottom() < ga.top():
        return False
    return ga.left() < gb.left() or (ga.left() == gb.left() and ga.top() < gb.top())


def focus_chain(window: QWidget, start: QWidget) -> list[QWidget]:
    """The focusable widgets Tab visits from ``start`` until it comes back to it."""
    order, w = [start], start.nextInFocusChain()
    while w is not start and len(order) < 2000:
        if focusable(w) and window.isAncestorOf(w):
            order.append(w)
        w = w.nextInFocusChain()
    return order


def _busy_window(qtbot: Any, open_window: Any, tmp_path: Path) -> Any:
    """A window with a turn (text, spoken reply), an attachment chip, an error notice and a visible banner."""
    window = open_window()
    window.resize(1100, 900)
    window.input.setText("say hello")
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()
    pic = tmp_path / "pic.png"
    Image.new("RGB", (8, 8)).save(pic)
    window.add_file(pic)
    window.notices.show_error("Something went wrong.", ("Settings › Devices", lambda: None))
    window.banner.show_load_failure("config.json missing", False, False)
    qtbot.waitUntil(lambda: window.composer.chips and window.composer.chips[0].isVisible())
    qtbot.wait(10)  # the tab order is refreshed when the event loop runs
    return window


def test_every_interactive_widget_of_the_window_has_an_accessible_name(qtbot, open_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    window = _busy_window(qtbot, open_window, tmp_path)
    assert window.view.turns[-1].audio_rows and window.notices.notices and window.banner.isVisible()
    assert unnamed(window) == []


def test_tab_follows_the_visual_order(qtbot, open_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    window = _busy_window(qtbot, open_window, tmp_path)
    everything = [w for w in window.findChildren(QWidget) if focusable(w)]
    first = min(everything, key=lambda w: (0 if window.sidebar.isAncestorOf(w) else 1, geometry(w).top()))
    assert first is window.sidebar.search
    order = focus_chain(window, first)
    assert set(order) == set(everything)  # Tab reaches every control
    wrong = [(order[i].accessibleName(), order[j].accessibleName()) for i in range(len(order))
             for j in range(i + 1, len(order)) if precedes(order[j], order[i], window.sidebar)]
    assert wrong == []
    names = [w.accessibleName() for w in order]
    banner = "Download the models in the model manager"
    assert names.index("Delete the selected conversation") < names.index(banner) < names.index("Conversation")
    assert names.index("Message text") < names.index("Talk mode")
    assert names.index("Dismiss this message") < names.index("Message text")


def test_settings_and_model_manager_name_every_control(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from anygpt_desktop.app.model_manager import ModelManagerDialog
    from anygpt_desktop.app.settings import AppSettings
    from anygpt_desktop.app.settings_dialog import SettingsDialog

    settings = AppSettings(tmp_path / "s.ini")
    dialog = SettingsDialog(settings, device_lister=lambda direction: (["Speaker"], ""))
    qtbot.addWidget(dialog)
    dialog.show()
    for i in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(i)
        assert unnamed(dialog) == [], dialog.tabs.tabText(i)
    manager = ModelManagerDialog(tmp_path / "models", settings)
    qtbot.addWidget(manager)
    manager.show()
    assert unnamed(manager) == []


def test_settings_tab_order_follows_the_visual_order_on_every_tab(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from anygpt_desktop.app.settings import AppSettings
    from anygpt_desktop.app.settings_dialog import SettingsDialog

    def before(a: QWidget, b: QWidget) -> bool:
        ga, gb = geometry(a), geometry(b)
        return ga.bottom() < gb.top() or (not gb.bottom() < ga.top() and ga.left() < gb.left())

    dialog = SettingsDialog(AppSettings(tmp_path / "s.ini"), device_lister=lambda direction: (["Speaker"], ""))
    qtbot.addWidget(dialog)
    dialog.show()
    for i in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(i)
        qtbot.waitUntil(dialog.tabs.currentWidget().isVisible)
        order = focus_chain(dialog, dialog.tabs.tabBar())
        assert set(order) == {w for w in dialog.findChildren(QWidget) if focusable(w)}
        wrong = [(order[a].accessibleName(), order[b].accessibleName()) for a in range(len(order))
                 for b in range(a + 1, len(order)) if before(order[b], order[a])]
        assert wrong == [], dialog.tabs.tabText(i)
