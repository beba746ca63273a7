"""The window with the real Assistant on the tiny kit (slow tier): a typed turn through the GUI, then a restart that
finds the conversation again, shows it, and gives the model its memory back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gui_wait import wait_signal
from PySide6.QtCore import Qt

from anygpt_desktop.app.audio_out import AudioOut
from anygpt_desktop.app.main import engine_factory
from anygpt_desktop.app.main_window import MainWindow
from anygpt_desktop.app.mic import MicController
from anygpt_desktop.app.settings import AppSettings
from anygpt_desktop.storage.history import HistoryStore

pytestmark = pytest.mark.slow


class SilentMic:
    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def read_available(self) -> list[np.ndarray]:
        return [np.zeros(480, np.float32)]


class NoOutput:
    """A player that accepts audio and plays nothing (there is no sound card in this test)."""

    playing = False
    position_s = 0.0

    def __init__(self, *_a: Any, **_k: Any) -> None:
        pass

    def feed(self, *_a: Any) -> None:
        pass

    def end(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


def _window(qtbot, models: Path, data: Path) -> MainWindow:  # type: ignore[no-untyped-def]
    settings = AppSettings(data / "settings.ini")
    window = MainWindow(engine_factory(models, demo=False, device="cpu"), history=HistoryStore(data / "history"),
                        settings=settings, audio_out=AudioOut(player_factory=NoOutput),
                        mic=MicController(mic_factory=SilentMic))
    qtbot.addWidget(window)
    return window


def test_a_typed_turn_with_the_real_engine_and_the_conversation_after_a_restart(qtbot, tiny_models: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "user"
    settings = AppSettings(data / "settings.ini")
    settings.set("max_text_tokens", 10)
    settings.set("output_folder", str(tmp_path / "out"))
    first = _window(qtbot, tiny_models, data)
    first.show()
    qtbot.waitUntil(lambda: first.model_state in ("ready", "failed"), timeout=120_000)
    assert first.model_state == "ready", first.banner.text()
    assert first.device_label.text() == "device: cpu (float32)"
    finished: list[Any] = []
    first.engine.worker.sig_turn_finished.connect(lambda _tid, done: finished.append(done))
    first.input.setFocus()
    qtbot.keyClicks(first.input, "hello there")
    with qtbot.waitSignal(first.sig_turn_stored, timeout=120_000) as stored:
        qtbot.keyClick(first.input, Qt.Key.Key_Return)
    conv_id = stored.args[0]
    user, reply = first.view.turns
    assert user.text == "hello there" and reply.role == "assistant"
    assert reply.text.strip(), "the tiny model's reply text should stream into the view"
    assert "tok/s" in reply.timings_label.text()
    assert 1 <= finished[0].stats["new_tokens"] <= 11  # the 10-token limit of the settings held (+ the end id)
    turns = first.session.history.turns(conv_id)
    assert [(t.role, t.text) for t in turns] == [("user", "hello there"), ("assistant", reply.text)]
    qtbot.waitUntil(lambda: bool(first.session.history.engine_state(conv_id)), timeout=5000)
    memory = first.session.history.engine_state(conv_id)
    assert "hello there" in str(memory)
    first.close()

    second = _window(qtbot, tiny_models, data)  # the app starts again
    with wait_signal(qtbot, second.engine.worker.sig_history_restored, timeout=120_000) as restored:
        assert second.restore_last_conversation()
        second.show()
    assert restored.args == [True, ""]
    assert second.conversation_id == conv_id
    assert [t.text for t in second.view.turns] == ["hello there", reply.text]
    assert second.conv_list.currentItem().text() == "hello there"
    assert second.engine.worker.assistant.history_json() == memory  # the model remembers the conversation
    second.input.setText("and again")
    with qtbot.waitSignal(second.sig_turn_stored, timeout=120_000):
        second.send()
    assert [t.role for t in second.session.history.turns(conv_id)] == ["user", "assistant", "user", "assistant"]
    assert len(second.engine.worker.assistant.history_json()["messages"]) == len(memory["messages"]) + 2
    second.close()
