"""The status bar shows the engine server's connection (connecting, connected, disconnected) when the models run on a
server, and nothing new when they run here; a server chosen in Settings › Engine is what the next load builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QDialogButtonBox

from fake_assistant import FakeAssistant

from anygpt_desktop.app.engines import EngineChoice


def _server_label(window: Any) -> tuple[str, str] | None:
    label = window.status.server_label
    return (label.text(), label.accessibleName()) if label.isVisible() else None


def _use_choice(window: Any, tmp_path: Path, built: list[tuple[Any, ...]], fail_load: dict[str, str]) -> None:
    """The window's factory becomes the app's own (it reads Settings › Engine at every load); the fake assistant
    stands in for whatever engine was chosen."""

    def build(folder: Path | None, *, demo: bool, device: Any, engine: str, url: Any, token_file: Any) -> Any:
        built.append((engine, url, token_file))

        def make() -> FakeAssistant:
            a = FakeAssistant(tmp_path, out_dir=tmp_path, fail_load=fail_load.get("reason"))
            window.assistants.append(a)
            return a

        return make

    window.models.factory = EngineChoice(tmp_path, demo=False, settings=window.settings, build=build)


def _send(qtbot, window: Any, text: str) -> None:  # type: ignore[no-untyped-def]
    window.input.setText(text)
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()


def test_the_status_bar_follows_the_server_connection(qtbot, open_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    assert _server_label(window) is None  # the engine runs on this computer: nothing new in the status bar
    built: list[tuple[Any, ...]] = []
    fail_load: dict[str, str] = {}
    _use_choice(window, tmp_path, built, fail_load)
    (tmp_path / "token").write_text("s" * 40 + "\n")
    # the user picks a server in Settings › Engine: stored, and said to apply after a reload
    window.open_settings("engine")
    page = window.settings_dialog.engine_page
    page.remote.click()
    page.url.setText("wss://gpu.example.org:8765")
    page.token_file.setText(str(tmp_path / "token"))
    window.settings_dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert window.settings.get("engine") == "remote"
    assert window.banner.isVisible() and "The engine changed: it applies after reloading" in window.banner.text()
    assert _server_label(window) is None and built == []  # nothing changes before the reload
    window.reload_models()
    assert _server_label(window) == ("Server: gpu.example.org:8765 — connecting…",
                                     "Engine server gpu.example.org:8765: connecting…")
    qtbot.waitUntil(lambda: window.model_state == "ready", timeout=10_000)
    assert built == [("remote", "wss://gpu.example.org:8765", str(tmp_path / "token"))]  # the load used the choice
    assert _server_label(window) == ("Server: gpu.example.org:8765 — connected",
                                     "Engine server gpu.example.org:8765: connected")
    assert window.status.device_label.text() == "server's device: cpu"  # the server's, no local GPU figures
    _send(qtbot, window, "hello")
    assert _server_label(window)[0].endswith("— connected")  # type: ignore[index]
    # the connection breaks during a turn: disconnected, with what to do in the tooltip
    window.assistants[-1].fail_turn = "the connection to the server was lost; your conversation is kept"
    window.assistants[-1].engine_lost = True
    _send(qtbot, window, "are you there?")
    assert _server_label(window) == ("Server: gpu.example.org:8765 — disconnected",
                                     "Engine server gpu.example.org:8765: disconnected")
    assert "next message reconnects" in window.status.server_label.toolTip()
    lost = window.notices.notices[-1]  # the notice offers to reconnect at once
    assert lost.action_button is not None and lost.action_button.text() == "Reconnect"
    window.assistants[-1].fail_turn = None  # the next turn reconnects
    window.assistants[-1].engine_lost = False
    _send(qtbot, window, "again")
    assert _server_label(window)[0].endswith("— connected")  # type: ignore[index]
    # a server that refuses the load: disconnected
    fail_load["reason"] = "the server refused the token (HTTP 401)"
    window.reload_models()
    qtbot.waitUntil(lambda: window.model_state == "failed", timeout=10_000)
    assert _server_label(window)[0].endswith("— disconnected")  # type: ignore[index]
    # the banner speaks of the server, not of model files to download
    assert window.banner.text().startswith("The AnyGPT server gpu.example.org:8765 could not be used: the server refused")
    assert not window.banner.download_button.isVisible() and window.banner.server_button.text() == "Settings › Engine…"
    window.banner.server_button.click()
    assert window.settings_dialog.tabs.currentWidget() is window.settings_dialog.engine_page
    window.settings_dialog.reject()
    # back to this computer: the next load runs here and the server's state goes away
    fail_load.clear()
    window.settings.set("engine", "")
    window.reload_models()
    qtbot.waitUntil(lambda: window.model_state == "ready", timeout=10_000)
    assert built[-1][0] == "process" and _server_label(window) is None


def test_another_models_folder_keeps_the_engine_choice(qtbot, open_window, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import argparse

    window = open_window()
    built: list[tuple[Any, ...]] = []
    _use_choice(window, tmp_path, built, {})
    window.models.factory.args = argparse.Namespace(engine=None, engine_url="ws://127.0.0.1:9", engine_token_file="/t")

    def build(folder: Path | None, **kw: Any) -> Any:
        built.append((folder, kw["engine"], kw["url"]))
        return lambda: FakeAssistant(tmp_path, out_dir=tmp_path)

    monkeypatch.setattr("anygpt_desktop.app.model_source.engine_factory", build)
    window.models.use(tmp_path / "other", demo=False)
    qtbot.waitUntil(lambda: window.model_state == "ready", timeout=10_000)
    assert built[-1] == (tmp_path / "other", "remote", "ws://127.0.0.1:9")  # the command line's server stays
    assert window.models.command_line_engine() == "--engine-url"
    assert _server_label(window)[0] == "Server: 127.0.0.1:9 — connected"  # type: ignore[index]
