"""The window's menu bar (every entry also works as a shortcut)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtGui import QAction, QKeySequence

from anygpt_desktop.app import dialogs

if TYPE_CHECKING:
    from anygpt_desktop.app.main_window import MainWindow


def build_menus(w: MainWindow) -> QAction:
    """File, View, Models, Help; returns the checkable dark-theme action."""
    m = w.menuBar().addMenu("&File")
    _action(w, m, "&New conversation", QKeySequence.StandardKey.New, w.new_conversation)
    _action(w, m, "&Attach file…", "Ctrl+O", w.pick_files)
    _action(w, m, "Export as &Markdown…", "Ctrl+E", lambda: w.export("md"))
    _action(w, m, "Export as &HTML…", "Ctrl+Shift+E", lambda: w.export("html"))
    m.addSeparator()
    _action(w, m, "&Settings…", "Ctrl+,", w.open_settings)
    m.addSeparator()
    _action(w, m, "&Quit", QKeySequence.StandardKey.Quit, w.close)
    v = w.menuBar().addMenu("&View")
    dark = _action(w, v, "&Dark theme", "Ctrl+Shift+D", lambda: w.set_theme("dark" if dark.isChecked() else "light"))
    dark.setCheckable(True)
    system = _action(w, v, "&Follow the system theme", "", lambda: w.set_theme("system" if system.isChecked() else "light"))
    system.setCheckable(True)
    w.system_theme_action = system
    _action(w, v, "Focus the message box", "Ctrl+L", w.input.setFocus)
    _action(w, v, "Focus the conversation list", "Ctrl+K", w.conv_list.setFocus)
    mm = w.menuBar().addMenu("&Models")
    _action(w, mm, "&Model manager…", "Ctrl+M", w.open_model_manager)
    _action(w, mm, "&Reload models", "Ctrl+R", w.reload_models)
    h = w.menuBar().addMenu("&Help")
    _action(w, h, "&Keyboard shortcuts", QKeySequence.StandardKey.HelpContents, lambda: dialogs.show_shortcuts(w))
    _action(w, h, "&About AnyGPT Desktop", "", lambda: dialogs.show_about(w))
    return dark


def _action(w: MainWindow, menu: Any, text: str, shortcut: Any, slot: Callable[[], Any]) -> QAction:
    act = QAction(text, w)
    act.setShortcut(QKeySequence(shortcut))
    act.triggered.connect(slot)
    menu.addAction(act)
    w.addAction(act)
    return act
