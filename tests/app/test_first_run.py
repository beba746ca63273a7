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

    def fake_factory(folder: Path, *, demo: bool, device: Any, **_: Any) -> Any:
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


def test_the_first_run_guide_opens_once_and_offers_download_or_demo(qtbot, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from anygpt_desktop.app.first_run import FirstRunGuide, required_download_bytes

    reason = "no language model at /x/AnyGPT-chat (config.json missing)"
    window = _window(qtbot, tmp_path, fail_load=reason)
    qtbot.waitUntil(lambda: window.model_state == "failed", timeout=60000)
    guide = window.guide
    assert isinstance(guide, FirstRunGuide) and guide.isVisible()
    assert guide.folder.text() == str(tmp_path / "models")
    text = guide.space_label.text()
    assert "GB" in text and "free space" in text and guide.download_button.isEnabled()
    assert 30e9 < required_download_bytes() < 40e9  # the required part, not the optional base model
    assert guide.later_button.isDefault()
    started: list[Path] = []
    monkeypatch.setattr("anygpt_desktop.app.model_manager.ModelManagerDialog.download",
                        lambda self: started.append(self.models_dir))
    guide.download_button.click()
    assert started == [tmp_path / "models"] and window.model_manager.isVisible()
    window.model_manager.reject()
    window.reload_models()  # missing again: the guide does not come back
    qtbot.waitUntil(lambda: window.model_state == "failed", timeout=10000)
    assert window.guide is guide and not guide.isVisible()
    window.close()


def test_the_first_run_guide_offers_a_teams_server_instead_of_a_download(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = _window(qtbot, tmp_path, fail_load="no language model at /x/AnyGPT-chat (config.json missing)")
    qtbot.waitUntil(lambda: window.model_state == "failed", timeout=60000)
    guide = window.guide
    assert guide.server_button.isVisible()
    guide.server_button.click()  # Settings › Engine opens where the server is chosen
    assert not guide.isVisible()
    dialog = window.settings_dialog
    assert dialog.isVisible() and dialog.tabs.currentWidget() is dialog.engine_page
    dialog.reject()
    window.close()


def test_the_guide_says_when_the_disk_is_too_small(qtbot, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from anygpt_desktop.app import first_run

    monkeypatch.setattr(first_run, "free_space", lambda folder: 1_000_000_000)
    guide = first_run.FirstRunGuide(tmp_path)
    qtbot.addWidget(guide)
    assert "Not enough room" in guide.space_label.text() and not guide.download_button.isEnabled()
