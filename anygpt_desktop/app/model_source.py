"""Which models the window runs and the actions that change them: the model manager, the demo kit, another folder.

The engine's worker calls :meth:`ModelSource.make` for every load, so switching to the demo or to another folder is
one :meth:`use` followed by a reload, without restarting the app. The app's factory is an
:class:`~anygpt_desktop.app.engines.EngineChoice`: it reads the engine (this computer or a server) from the settings at
every load.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from anygpt_desktop.app.engines import EngineChoice, demo_models_dir, engine_factory
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
        if isinstance(self.factory, EngineChoice):  # the command line's engine choice stays
            self.factory = self.factory.using(Path(folder), demo, build=engine_factory)
        else:
            self.factory = EngineChoice(Path(folder), demo=demo, settings=w.settings, build=engine_factory)
        w.setWindowTitle("AnyGPT Desktop" + (" — demo (tiny random models)" if demo else ""))
        w.session.reload_models()

    def server_address(self) -> str:
        """``host:port`` of the server the next load connects to; "" when the engine runs on this computer."""
        address = getattr(self.factory, "server_address", None)
        return address() if callable(address) else ""

    def command_line_engine(self) -> str:
        """The command-line option that chose the engine over Settings › Engine, or ""."""
        option = getattr(self.factory, "command_line", None)
        return option() if callable(option) else ""

    def try_demo(self) -> None:
        self.use(demo_models_dir(), demo=True)

    def choose_folder(self) -> None:
        start = str(self.window.models_dir or Path.home())
        folder = QFileDialog.getExistingDirectory(self.window, "Folder with the models", start)
        if folder:
            self.window.settings.set("models_dir", folder)
            self.use(Path(folder), demo=False)

    def guide_if_first_run(self, missing: bool) -> None:
        """Open the first-run guide once, the first time the models turn out to be missing."""
        w = self.window
        if not missing or w.demo or int(w.settings.get("first_run_guide_shown")):
            return
        from anygpt_desktop.app.first_run import FirstRunGuide

        w.settings.set("first_run_guide_shown", 1)
        w.guide = FirstRunGuide(w.models_dir or Path.home(), w)
        w.guide.sig_demo_requested.connect(self.try_demo)
        w.guide.sig_download_requested.connect(self.download_into)
        w.guide.sig_server_requested.connect(self.use_server)
        w.guide.open()

    def use_server(self) -> None:
        """Settings › Engine, where a team's server is chosen (the reload after it connects)."""
        self.window.open_settings("engine")

    def download_into(self, folder: str) -> None:
        """Download the models into ``folder`` (the model manager shows the progress, then they load)."""
        self.window.settings.set("models_dir", folder)
        self.window.models_dir = Path(folder)
        self.open_manager()
        self.window.model_manager.download()

    def use_chosen_folder(self, path: str) -> None:
        self.use(Path(path), demo=False)

    def open_manager(self) -> None:
        from anygpt_desktop.app.model_manager import ModelManagerDialog

        w = self.window
        w.model_manager = ModelManagerDialog(w.models_dir, w.settings, w, demo=w.demo)
        w.model_manager.sig_models_dir_chosen.connect(self.use_chosen_folder)
        w.model_manager.open()
