"""Qt tests run offscreen; every test gets its own history and settings folders (tests/conftest.py sets XDG_*)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "session"))  # fake_engine, shared with the session tests

from fake_assistant import FakeAssistant  # after the platform is chosen
from window_kit import FakeMic, make_player


@pytest.fixture
def open_window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    windows: list[Any] = []
    assistants: list[FakeAssistant] = []

    from anygpt_desktop.app.audio_out import AudioOut
    from anygpt_desktop.app.main_window import MainWindow
    from anygpt_desktop.app.mic import MicController
    from anygpt_desktop.app.settings import AppSettings
    from anygpt_desktop.storage.history import HistoryStore

    def make(data_dir: Path = tmp_path / "data", player_factory: Any = make_player, **fake_kwargs: Any) -> Any:
        def factory() -> FakeAssistant:
            a = FakeAssistant(tmp_path, out_dir=tmp_path, **fake_kwargs)
            assistants.append(a)
            return a

        window = MainWindow(
            factory,
            history=HistoryStore(data_dir / "history"),
            settings=AppSettings(data_dir / "settings.ini"),
            audio_out=AudioOut(player_factory=player_factory),
            mic=MicController(mic_factory=FakeMic),
        )
        window.assistants = assistants  # type: ignore[attr-defined]
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.model_state == "ready", timeout=60000)  # the first one imports the engine
        windows.append(window)
        return window

    yield make
    for w in windows:
        w.close()

