"""What ``serve`` refuses to start with, and how the app chooses the remote engine."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from anygpt_desktop.app.engines import engine_factory, remote_engine_choice
from anygpt_desktop.serve.client import RemoteServerAssistant
from anygpt_desktop.serve.server import ServeError, ServeOptions, check_options, read_token

TOKEN = "0123456789abcdef0123"


def test_a_non_loopback_host_needs_allow_remote_and_tls() -> None:
    assert check_options(ServeOptions(host="127.0.0.1", token=TOKEN)) is None
    assert check_options(ServeOptions(host="::1", token=TOKEN)) is None
    with pytest.raises(ServeError, match="not a loopback address"):
        check_options(ServeOptions(host="0.0.0.0", token=TOKEN))
    with pytest.raises(ServeError, match="needs TLS"):
        check_options(ServeOptions(host="0.0.0.0", token=TOKEN, allow_remote=True))
    with pytest.raises(ServeError, match="both"):
        check_options(ServeOptions(token=TOKEN, tls_cert=Path("cert.pem")))
    with pytest.raises(ServeError, match="token is required"):
        check_options(ServeOptions())


def test_tokens_are_read_from_a_file_and_must_be_long(tmp_path: Path) -> None:
    (tmp_path / "t").write_text(f"{TOKEN}\n")
    assert read_token(tmp_path / "t") == TOKEN
    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(ServeError, match="too short"):
        read_token(tmp_path / "short")
    with pytest.raises(ServeError, match="cannot read"):
        read_token(tmp_path / "missing")


def test_the_app_builds_a_remote_engine_from_flags_or_settings(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    settings = {"engine": "remote", "engine_url": "ws://127.0.0.1:9", "engine_token_file": str(token_file)}
    stored = type("S", (), {"get": lambda self, k: settings.get(k, "")})()
    args = argparse.Namespace(engine=None, engine_url=None, engine_token_file=None)
    assert remote_engine_choice(args, stored) == ("remote", "ws://127.0.0.1:9", str(token_file))
    flags = argparse.Namespace(engine=None, engine_url="wss://gpu:8765", engine_token_file="/t")
    assert remote_engine_choice(flags, object()) == ("remote", "wss://gpu:8765", "/t")
    made = engine_factory(None, demo=False, device=None, engine="remote", url="ws://127.0.0.1:9",
                          token_file=str(token_file))()
    assert isinstance(made, RemoteServerAssistant) and made.token == TOKEN
    with pytest.raises(ValueError, match="address and token file"):
        engine_factory(None, demo=False, device=None, engine="remote")()


def test_an_unreachable_server_is_a_failed_turn_in_words() -> None:
    from anygpt_desktop.engine.events import TurnFailed
    from anygpt_desktop.engine.requests import TurnRequest

    c = RemoteServerAssistant("ws://127.0.0.1:9", TOKEN)  # the discard port: nothing listens
    events = list(c.turn(TurnRequest(text="hello")))
    assert len(events) == 1 and isinstance(events[0], TurnFailed)
    assert "cannot reach the server" in events[0].reason and "conversation is kept" in events[0].reason
