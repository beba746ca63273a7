"""The window over a real engine process: ``kill -9`` of the engine mid-turn leaves the window up, the conversation as it
was, a notice that offers a restart; after "Restart engine" the next turn runs in a new engine that remembers."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytestmark = pytest.mark.slow


def test_kill_9_mid_turn_then_restart_engine_from_the_notice(qtbot, tiny_models: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
    from window_kit import FakeMic, make_player  # a humming microphone, a speaker that plays nothing
    from anygpt_desktop.app.audio_out import AudioOut
    from anygpt_desktop.app.main_window import MainWindow
    from anygpt_desktop.app.mic import MicController
    from anygpt_desktop.app.settings import AppSettings
    from anygpt_desktop.engine_process import EngineOptions, RemoteAssistant
    from anygpt_desktop.storage.history import HistoryStore
    from engine_doubles import DOUBLES
    from test_engine_process import pid_gone

    made: list[RemoteAssistant] = []

    def factory() -> RemoteAssistant:
        remote = RemoteAssistant(tiny_models, device="cpu", options=EngineOptions(assistant_factory=DOUBLES))
        made.append(remote)
        return remote

    settings = AppSettings(tmp_path / "settings.ini")
    for key, value in {"device": "cpu", "max_text_tokens": 12, "max_speech_units": 60,
                       "output_modality": "speech", "output_folder": str(tmp_path / "out")}.items():
        settings.set(key, value)
    window = MainWindow(factory, history=HistoryStore(tmp_path / "history"), settings=settings,
                        audio_out=AudioOut(player_factory=make_player), mic=MicController(mic_factory=FakeMic))
    qtbot.addWidget(window)
    streamed: list[int] = []
    pids: list[int] = []
    try:
        window.show()
        qtbot.waitUntil(lambda: window.model_state in ("ready", "failed"), timeout=300_000)
        assert window.model_state == "ready", window.banner.text()
        window.engine.worker.sig_speech_chunk_ready.connect(lambda tid, *_a: streamed.append(tid))
        window.engine.worker.sig_text_updated.connect(lambda tid, _d: streamed.append(tid))

        window.input.setText("first question")
        with qtbot.waitSignal(window.sig_turn_stored, timeout=300_000):
            window.send()
        conversation = window.conversation_id
        remembered = made[0].history_json()
        assert len(remembered["messages"]) == 2
        pids.append(made[0].pid)

        window.input.setText("[hold] second question")  # the engine waits mid-turn after its first streamed event
        streamed.clear()
        window.send()
        qtbot.waitUntil(lambda: bool(streamed), timeout=300_000)
        with qtbot.waitSignal(window.sig_turn_stored, timeout=120_000):
            os.kill(pids[0], signal.SIGKILL)
        assert window.isVisible() and pid_gone(pids[0])
        notice = window.notices.notices[-1]
        assert notice.error and "stopped unexpectedly" in notice.label.text() and "SIGKILL" in notice.label.text()
        assert notice.action_button is not None and notice.action_button.text() == "Restart engine"
        stored = window.history.turns(conversation)
        assert [t.text for t in stored[:3]] == ["first question", stored[1].text, "[hold] second question"]
        assert not stored[1].interrupted and stored[3].interrupted  # the failed turn is kept, marked
        assert made[0].history_json() == remembered  # the engine's memory: as after the last finished turn

        notice.action_button.click()
        qtbot.waitUntil(lambda: len(made) == 2 and window.model_state in ("ready", "failed"), timeout=300_000)
        assert window.model_state == "ready", window.banner.text()
        pids.append(made[1].pid)
        assert pids[1] not in (None, pids[0])

        window.input.setText("third question")
        with qtbot.waitSignal(window.sig_turn_stored, timeout=300_000):
            window.send()
        assert not window.history.turns(conversation)[-1].interrupted
        after = made[1].history_json()
        assert after["messages"][:2] == remembered["messages"] and len(after["messages"]) == 4  # replayed, extended
    finally:
        window.close()
    qtbot.waitUntil(lambda: all(pid_gone(pid) for pid in pids), timeout=60_000)  # no orphan engine
