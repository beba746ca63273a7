"""Without models: a banner in the user's terms with buttons (download, demo, folder), not paths; the demo loads in
place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fake_assistant import FakeAssistant
from window_kit import FakeMic, make_player


def _window(qtbot: Any, tmp_path: Path, **fake: Any) -> Any:
    from anygpt_desktop.app.audio_out import AudioOut
    from anygpt_desktop.app.main_window import MainWindow
    from anygpt_desktop.app.mic import MicController
    from anygpt_desktop.app.settings import AppSettings
    from anygpt_desktop.storage.history import HistoryStore

    window = MainWindow(lambda: FakeAssistant(tmp_path, out_dir=tmp_path, **fake),
                        history=HistoryStore(tmp_path / "h"), settings=AppSettings(tmp_path / "s.ini"),
                        audio_out=AudioOut(player_factory=make_player), mic=MicController(mic_factory=FakeMic),
                        models_dir=tmp_path / "models")
    qtbot.addWidget(window)
    window.show()
    return window


def test_no_models_shows_a_banner_with_buttons_and_the_demo_loads_in_place(qtbot, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reason = f"no language model at {tmp_path}/models/AnyGPT-chat (config.json missing)"
    window = _window(qtbot, tmp_path, fail_load=reason)
    qtbot.waitUntil(lambda: window.model_state == "failed", timeout=60000)
    banner = window.banner
    assert banner.isVisible() and banner.buttons.isVisible()
    assert str(tmp_path) not in banner.text() and "config.json" not in banner.text()  # no paths, no internals
    assert "Download" in banner.text()
    assert [b.text() for b in (banner.download_button, banner.demo_button, banner.folder_button)] == [
        "Download models…", "Try the demo", "Choose folder…"]
    assert reason in banner.label.toolTip()  # the details stay reachable
    assert not window.send_button.isEnabled() and window.composer.mic_text == "Models not ready"

    used: list[tuple[Path, bool]] = []

    def fake_factory(folder: Path, *, demo: bool, device: Any) -> Any:
        used.append((folder, demo))
        return lambda: FakeAssistant(folder, out_dir=tmp_path)

    monkeypatch.setattr("anygpt_desktop.app.model_source.engine_factory", fake_factory)
    banner.demo_button.click()
    qtbot.waitUntil(lambda: window.model_state == "ready", timeout=10000)
    assert used and used[0][1] is True and window.demo and "demo" in window.windowTitle()
    assert not banner.isVisible() and window.send_button.isEnabled()
    window.banner.download_button.click()  # the model manager opens on the demo folder, marked as such
    assert window.model_manager.isVisible() and "Demo folder" in window.model_manager.folder_label.text()
    window.model_manager.reject()
    window.close()
