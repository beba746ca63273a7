"""``anygpt-desktop`` (no subcommand): start the window; ``--demo`` uses the tiny kit; ``--self-test`` runs headless.

The engine factories live in :mod:`anygpt_desktop.app.engines` (the self-test uses them too); ``engine_factory`` and
``choose_models_dir`` are re-exported here for callers of this module."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from anygpt_desktop.app.engines import EngineChoice, choose_models_dir, engine_factory, use_llm_server_args

logger = logging.getLogger(__name__)

__all__ = ["choose_models_dir", "engine_factory", "qt_binding_problem", "run_gui"]

BROKEN_PYSIDE = {"6.12.0": "every signal drops a reference to True, so the app aborts after a few minutes"}


def qt_binding_problem() -> str | None:
    """Why the installed PySide6 cannot run the app, or None."""
    import PySide6

    why = BROKEN_PYSIDE.get(PySide6.__version__)
    if why is None:
        return None
    return (f"PySide6 {PySide6.__version__} cannot run AnyGPT Desktop ({why}). "
            "Install another version: pip install 'PySide6-Essentials!=6.12.0'")


def run_gui(args: argparse.Namespace) -> int:
    problem = qt_binding_problem()
    if problem:
        logger.error("%s", problem)
        return 1
    use_llm_server_args(args)
    if getattr(args, "self_test", False):
        from anygpt_desktop.app.self_test import run_self_test

        return run_self_test(args)
    from PySide6.QtWidgets import QApplication

    from anygpt_desktop.app.main_window import MainWindow
    from anygpt_desktop.app.settings import AppSettings
    from anygpt_desktop.storage.history import HistoryError, HistoryStore

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("AnyGPT Desktop")
    app.setDesktopFileName("anygpt-desktop")
    settings = AppSettings()
    if getattr(args, "llm_url", None):
        settings.overrides["llm_url"] = args.llm_url  # the command line wins over the stored setting
    models_dir = choose_models_dir(args, settings.get("models_dir") or None)
    device = settings.get("device") or None
    try:
        history = HistoryStore()
    except HistoryError as exc:
        logger.error("%s", exc)
        return 1
    window = MainWindow(
        EngineChoice(models_dir, demo=args.demo, settings=settings, args=args),  # reads Settings › Engine at each load
        history=history,
        settings=settings,
        models_dir=models_dir,
        demo=args.demo,
        device_label=f"device: {device or 'auto'}",
    )
    window.restore_last_conversation()
    window.show()
    code = int(app.exec())
    window.close()
    from anygpt_desktop.app.worker import STILL_RUNNING

    if any(t.isRunning() for t, _w in STILL_RUNNING):
        logger.warning("leaving while the engine is still busy")
        logging.shutdown()
        os._exit(code)  # a running QThread must not be destroyed by the interpreter's shutdown
    return code
