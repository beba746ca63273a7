"""Which models the window runs and the actions that change them: the model manager, the demo kit, another folder.

The engine's worker calls :meth:`ModelSource.make` for every load, so switching to the demo or to another folder is
one :meth:`use` followed by a reload, without restarting the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from anygpt_desktop.app.engines import demo_models_dir, engine_factory
from anygpt_desktop.app.worker import AssistantFactory

if TYPE_CHECKING:
    from anygpt_desktop.app.main_window import MainWindow


class ModelSource(QObject):
    def __init__(self, window: MainWindow, factory: AssistantFactory) -> None:
        super().__init__(window)
        self.window = window
        self.factory = factory

    def make(self) -> Any:
        """Build the engine's assistant (called in the worker thread)."""
        return self.factory()

    def use(self, folder: Path, demo: bool) -> None:
        """Load the models of ``folder`` (the tiny demo kit, written on first use, when ``demo``)."""
        w = self.window
        w.models_dir, w.demo = Path(folder), demo
        self.factory = engine_factory(Path(folder), demo=demo, device=w.settings.get("device") or None)
        w.setWindowTitle("AnyGPT Desktop" + (" — demo (tiny random models)" if demo else ""))
        w.session.reload_models()

    def try_demo(self) -> None:
        self.use(demo_models_dir(), demo=True)

    def choose_folder(self) -> None:
        start = str(self.window.models_dir or Path.home())
        folder = QFileDialog.getExistingDirectory(self.window, "Folder with the models", start)
        if folder:
            self.window.settings.set("models_dir", folder)
            self.use(Path(folder), demo=False)

    def open_manager(self) -> None:
        from anygpt_desktop.app.model_manager import ModelManagerDialog

        w = self.window
        w.model_manager = ModelManagerDialog(w.models_dir, w.settings, w, demo=w.demo)
        w.model_manager.sig_models_dir_chosen.connect(lambda path: self.use(Path(path), demo=False))
        w.model_manager.open()
