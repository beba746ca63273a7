"""The engine server's connection state from the session's events, and the engine choice's checks (no Qt)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from anygpt_desktop.app.connection import (
    CONNECTED, CONNECTING, DISCONNECTED, connection_text, connection_tip, next_connection_state,
)
from anygpt_desktop.app.engines import EngineChoice, engine_settings_problem, engine_url_problem, server_address
from anygpt_desktop.session import events as ev
from anygpt_desktop.session.kinds import ModelState

TOKEN = "t" * 40


def _turn_end(**kw: Any) -> ev.TurnEnded:
    return ev.TurnEnded(1, "reply", "", **kw)


def test_loading_is_connecting_ready_is_connected_and_a_lost_engine_is_disconnected() -> None:
    state = ""
    seen = []
    for event in (ev.ModelStateChanged(ModelState.LOADING), ev.ModelStateChanged(ModelState.READY, 0.3),
                  ev.TurnStarted(1), _turn_end(),
                  _turn_end(failed=True, reason="the connection to the server was lost", engine_lost=True),
                  _turn_end(failed=True, cancelled=True, reason="stopped"),  # a stop says nothing of the line
                  ev.BusyChanged(False),
                  _turn_end(),  # the next turn reconnected
                  _turn_end(failed=True, reason="the server could not run this turn"),  # it answered: still connected
                  ev.ModelStateChanged(ModelState.LOADING), ev.ModelStateChanged(ModelState.FAILED, reason="refused")):
        state = next_connection_state(state, event)
        seen.append(state)
    assert seen == [CONNECTING, CONNECTED, CONNECTED, CONNECTED, DISCONNECTED, DISCONNECTED, DISCONNECTED, CONNECTED,
                    CONNECTED, CONNECTING, DISCONNECTED]


def test_the_text_names_the_server_and_nothing_is_shown_for_this_computer() -> None:
    assert connection_text("gpu.example.org:8765", CONNECTED) == (
        "Server: gpu.example.org:8765 — connected", "Engine server gpu.example.org:8765: connected")
    assert connection_text("gpu:8765", CONNECTING)[0] == "Server: gpu:8765 — connecting…"
    assert connection_text("", CONNECTED) == ("", "")
    assert "reconnects" in connection_tip(DISCONNECTED) and "Settings › Engine" in connection_tip(CONNECTED)


@pytest.mark.parametrize("url, words", [
    ("", "Enter the server's address"),
    ("gpu.example.org:8765", "must start with ws:// or wss://, like wss://gpu.example.org:8765"),
    ("https://gpu.example.org:8765", "must start with ws:// or wss://, not https://"),
    ("wss://gpu.example.org", "needs a port, like wss://gpu.example.org:8765"),
    ("ws://gpu.example.org/", "needs a port"),
    ("ws://:8765", "has no host name"),
    ("wss://gpu:99999", "a number from 1 to 65535"),
    ("wss://gpu:port", "a number from 1 to 65535"),
    ("ws://gpu:0", "a number from 1 to 65535"),
])
def test_a_bad_server_address_is_explained(url: str, words: str) -> None:
    assert words in engine_url_problem(url)


def test_good_server_addresses_and_what_the_status_bar_calls_them() -> None:
    for url in ("ws://127.0.0.1:8765", "wss://gpu.example.org:443/anygpt", "ws://[::1]:9000",
                "wss://gpu.example.org/anygpt"):  # the README's reverse proxy: a path on the standard port
        assert engine_url_problem(url) == "", url
    assert server_address("wss://gpu.example.org:443/anygpt") == "gpu.example.org:443"
    assert server_address("wss://gpu.example.org/anygpt") == "gpu.example.org:443"
    assert server_address("ws://[::1]:9000") == "[::1]:9000"


def test_a_server_choice_needs_a_readable_token_file(tmp_path: Path) -> None:
    values = {"engine": "remote", "engine_url": "wss://gpu:8765", "engine_token_file": ""}
    assert "Choose the file that holds the server's token" in engine_settings_problem(values)
    values["engine_token_file"] = str(tmp_path / "missing")
    assert engine_settings_problem(values) == f"The token file {tmp_path / 'missing'} does not exist."
    (tmp_path / "empty").write_text("\n\n")
    values["engine_token_file"] = str(tmp_path / "empty")
    assert "is empty" in engine_settings_problem(values)
    (tmp_path / "token").write_text(TOKEN + "\n")
    values["engine_token_file"] = str(tmp_path / "token")
    assert engine_settings_problem(values) == ""
    assert engine_settings_problem({**values, "engine_url": "http://gpu:8765"}).startswith("The server address")
    assert engine_settings_problem({"engine": "", "engine_url": "nonsense", "engine_token_file": ""}) == ""


class _Settings(dict):
    def get(self, key: str, default: Any = "") -> Any:  # type: ignore[override]
        return super().get(key, default)


def test_every_load_reads_the_engine_from_the_settings_and_the_command_line_wins(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ANYGPT_ENGINE", raising=False)
    built: list[tuple[Any, ...]] = []

    def build(folder: Path | None, *, demo: bool, device: Any, engine: str, url: Any, token_file: Any) -> Any:
        built.append((engine, url, token_file, device))
        return lambda: engine

    settings = _Settings()
    choice = EngineChoice(tmp_path, demo=False, settings=settings, build=build)
    assert choice() == "process" and choice.server_address() == "" and choice.command_line() == ""
    settings.update(engine="remote", engine_url="wss://gpu:8765", engine_token_file="/t", device="cpu")
    assert choice() == "remote" and built[-1] == ("remote", "wss://gpu:8765", "/t", "cpu")
    assert choice.server_address() == "gpu:8765"
    assert choice.using(tmp_path, demo=True)() == "process"  # the demo's tiny models run here
    settings["engine"] = "inprocess"
    assert choice() == "inprocess" and choice.server_address() == ""
    flags = argparse.Namespace(engine=None, engine_url="ws://127.0.0.1:9", engine_token_file=None)
    forced = EngineChoice(tmp_path, demo=False, settings=settings, args=flags, build=build)
    assert forced() == "remote" and built[-1][1] == "ws://127.0.0.1:9" and forced.command_line() == "--engine-url"
    assert forced.using(tmp_path / "other", demo=False).args is flags  # another folder keeps the command line's choice


def test_a_server_chosen_in_the_settings_is_what_the_real_factory_builds(tmp_path: Path) -> None:
    from anygpt_desktop.serve.client import RemoteServerAssistant

    (tmp_path / "token").write_text(TOKEN + "\n")
    settings = _Settings(engine="remote", engine_url="ws://127.0.0.1:9", engine_token_file=str(tmp_path / "token"))
    made = EngineChoice(tmp_path, demo=False, settings=settings)()  # nothing connects before the load
    assert isinstance(made, RemoteServerAssistant) and made.url == "ws://127.0.0.1:9" and made.token == TOKEN
