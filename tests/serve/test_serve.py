"""``anygpt-desktop serve`` end to end over 127.0.0.1: sessions, fairness, security limits, disconnects, restarts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from anygpt_desktop.cancel import TaskState
from anygpt_desktop.engine.events import SpeechChunk, TextDelta, TurnDone, TurnFailed
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.engine_process import protocol as p
from anygpt_desktop.serve.client import ClientOptions, RemoteServerAssistant

from conftest import ROOT, ServerProcess

WAIT_S = 300.0


def spoken(text: str) -> TurnRequest:
    return TurnRequest(text=text, output_modality="speech")


def client(server: ServerProcess, token_file: Path, **options) -> RemoteServerAssistant:  # type: ignore[no-untyped-def]
    c = RemoteServerAssistant(server.url, token_file.read_text().strip(), options=ClientOptions(**options))
    c.load()
    return c


def roles(history: dict) -> list[str]:
    return [m["role"] for m in history.get("messages", [])]


def test_two_concurrent_clients_each_hold_their_own_conversation(server: ServerProcess, token_file: Path) -> None:
    a, b = client(server, token_file), client(server, token_file)
    results: dict[str, list] = {}

    def talk(name: str, c: RemoteServerAssistant, texts: list[str]) -> None:
        results[name] = [list(c.turn(spoken(t))) for t in texts]

    threads = [threading.Thread(target=talk, args=("a", a, ["hello from a", "and again a"])),
               threading.Thread(target=talk, args=("b", b, ["hello from b"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert not any(t.is_alive() for t in threads)
    for name in ("a", "b"):
        for events in results[name]:
            assert isinstance(events[-1], TurnDone), events[-1]
            assert any(isinstance(e, SpeechChunk) for e in events)
    assert roles(a.history_json()) == ["[Human]", "[MMGPT]"] * 2
    assert roles(b.history_json()) == ["[Human]", "[MMGPT]"]
    assert "hello from a" in json.dumps(a.history_json()) and "hello from a" not in json.dumps(b.history_json())
    a.shutdown()
    b.shutdown()


def test_a_sessions_follow_up_reuses_the_servers_kv_cache(server: ServerProcess, token_file: Path) -> None:
    c = client(server, token_file)
    first = list(c.turn(TurnRequest(text="remember the number seven")))
    second = list(c.turn(TurnRequest(text="which number was it")))
    assert isinstance(first[-1], TurnDone) and isinstance(second[-1], TurnDone), (first[-1], second[-1])
    # the conversation stayed resident in the server's assistant: the follow-up's prompt prefix came from the cache
    assert second[-1].stats["cached_tokens"] > 0, second[-1].stats
    c.shutdown()


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789abcdef", "Basic abc"])
def test_a_missing_or_wrong_token_is_refused(server: ServerProcess, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    with pytest.raises(InvalidStatus) as info:
        connect(server.url, additional_headers=headers, open_timeout=WAIT_S)
    assert info.value.response.status_code == 401
    refused = RemoteServerAssistant(server.url, "wrong-token-0123456789abcdef")
    with pytest.raises(Exception, match="refused the token"):
        refused.load()


def test_an_oversize_request_is_refused_with_a_clear_close_reason(server: ServerProcess, token_file: Path) -> None:
    ws = connect(server.url, additional_headers={"Authorization": f"Bearer {token_file.read_text().strip()}"},
                 open_timeout=WAIT_S, max_size=None).__enter__()
    assert isinstance(p.decode(ws.recv(timeout=WAIT_S)), p.Hello)
    big = TurnRequest(text="hi", speech=np.zeros(400_000, dtype=np.float32))  # 1.6 MB > the server's 1 MiB
    ws.send(p.encode(p.StartTurn(1, big)))
    with pytest.raises(ConnectionClosed) as info:
        while True:
            ws.recv(timeout=WAIT_S)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009  # message too big
    # the client turns the same refusal into a failed turn in words
    c = client(server, token_file)
    events = list(c.turn(big))
    assert isinstance(events[-1], TurnFailed) and "too big" in events[-1].reason and "conversation is kept" in events[-1].reason


def test_a_slow_handshake_is_closed(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ... and never finishes the request
        sock.settimeout(WAIT_S)
        while sock.recv(4096):  # the server closes it after --open-timeout (3 s), not at our leisure
            pass


def test_a_client_that_disconnects_mid_turn_frees_the_slot(server: ServerProcess, token_file: Path) -> None:
    holder, other = client(server, token_file), client(server, token_file)
    held = holder.turn(spoken("a long story [hold]"), TaskState())
    first = next(held)  # the engine is now busy with holder's turn until it is cancelled
    assert isinstance(first, (TextDelta, SpeechChunk)) or type(first).__name__ == "TranscriptDelta"
    done = threading.Event()
    events: list = []

    def talk() -> None:
        events.extend(other.turn(spoken("my turn please")))
        done.set()

    t = threading.Thread(target=talk)
    t.start()
    holder._drop()  # the network goes away under the holder (no Cancel message is sent)
    assert done.wait(WAIT_S), "the other client's turn never ran"
    assert isinstance(events[-1], TurnDone)
    t.join(WAIT_S)
    held.close()
    other.shutdown()


def test_stop_mid_turn_cancels_on_the_server(server: ServerProcess, token_file: Path) -> None:
    c = client(server, token_file)
    state = TaskState()
    turn = c.turn(spoken("hold on [hold]"), state)
    next(turn)
    state.cancel()
    rest = list(turn)
    assert isinstance(rest[-1], TurnFailed) and rest[-1].cancelled
    assert c.history_json() == {} or roles(c.history_json()) == []  # the stopped turn left no trace
    assert isinstance(list(c.turn(spoken("next")))[-1], TurnDone)
    c.shutdown()


def test_a_server_restart_is_a_clean_failed_turn_and_the_next_turn_works(make_server, token_file: Path) -> None:  # type: ignore[no-untyped-def]
    s = make_server("--idle-timeout", "600")
    s.start()
    c = client(s, token_file)
    assert isinstance(list(c.turn(spoken("remember me")))[-1], TurnDone)
    kept = c.history_json()
    turn = c.turn(spoken("this one is cut [hold]"), TaskState())
    next(turn)
    s.stop()  # the server goes away mid-turn
    rest = list(turn)
    assert isinstance(rest[-1], TurnFailed) and not rest[-1].cancelled
    assert "conversation is kept" in rest[-1].reason
    assert c.history_json() == kept
    s.start(port=s.port)  # the same address again
    events = list(c.turn(spoken("are you back?")))
    assert isinstance(events[-1], TurnDone), events[-1]
    assert roles(c.history_json()) == ["[Human]", "[MMGPT]"] * 2  # the kept conversation went on
    c.shutdown()


def test_an_idle_session_is_closed(make_server, token_file: Path) -> None:  # type: ignore[no-untyped-def]
    s = make_server("--idle-timeout", "2")
    s.start()
    ws = connect(s.url, additional_headers={"Authorization": f"Bearer {token_file.read_text().strip()}"},
                 open_timeout=WAIT_S).__enter__()
    assert isinstance(p.decode(ws.recv(timeout=WAIT_S)), p.Hello)
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=WAIT_S)  # we send nothing: the server closes us
    assert info.value.rcvd is not None and "no request" in info.value.rcvd.reason
    # a client whose session was idle-closed between turns reconnects by itself
    c = client(s, token_file)
    assert isinstance(list(c.turn(spoken("first")))[-1], TurnDone)
    with pytest.raises(ConnectionClosed):  # wait for the server's idle close (nothing else comes between turns)
        c._ws.recv(timeout=WAIT_S)  # type: ignore[union-attr]
    assert isinstance(list(c.turn(spoken("second")))[-1], TurnDone)
    assert roles(c.history_json()) == ["[Human]", "[MMGPT]"] * 2
    c.shutdown()
    s.stop()


SECOND_MACHINE = r"""
import json, sys
import numpy as np
from anygpt_desktop.app.engines import engine_factory
from anygpt_desktop.engine.events import SpeechChunk, TurnDone
from anygpt_desktop.engine.requests import TurnRequest
make = engine_factory(None, demo=False, device=None, engine="remote", url=sys.argv[1], token_file=sys.argv[2])
assistant = make()
assistant.load()
turns = []
for text, speech in (("hello", np.zeros(8000, np.float32)), ("tell me more", None)):
    events = list(assistant.turn(TurnRequest(text=text, speech=speech, output_modality="speech")))
    turns.append({"done": isinstance(events[-1], TurnDone),
                  "chunks": sum(isinstance(e, SpeechChunk) for e in events),
                  "samples": int(sum(e.audio.size for e in events if isinstance(e, SpeechChunk)))})
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "diffusers")
               or m.startswith(("anygpt_desktop.engine.assistant", "anygpt_desktop.engine.llm",
                                "anygpt_desktop.engine.decode_loop", "anygpt_desktop.modalities")))
print(json.dumps({"turns": turns, "heavy": heavy, "messages": len(assistant.history_json()["messages"])}))
"""


def test_a_second_machine_holds_a_spoken_conversation_without_loading_the_model(server: ServerProcess,
                                                                             token_file: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", SECOND_MACHINE, server.url, str(token_file)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=WAIT_S * 2)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], result["heavy"]
    assert all(t["done"] and t["chunks"] > 0 and t["samples"] > 0 for t in result["turns"]), result
    assert result["messages"] == 4


def test_tls_serves_wss_and_the_client_verifies_the_certificate(make_server, token_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil
    import ssl

    if shutil.which("openssl") is None:
        from prerequisites import missing_prerequisite

        missing_prerequisite("openssl is needed to make a test certificate (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=WAIT_S)
    s = make_server("--tls-cert", str(cert), "--tls-key", str(key))
    url = s.start()
    assert url.startswith("wss://127.0.0.1:")
    trusted = ssl.create_default_context(cafile=str(cert))
    c = RemoteServerAssistant(url, token_file.read_text().strip(), ssl_context=trusted)
    c.load()
    assert isinstance(list(c.turn(spoken("over tls")))[-1], TurnDone)
    c.shutdown()
    untrusted = RemoteServerAssistant(url, token_file.read_text().strip())  # the system's CAs do not know this cert
    with pytest.raises(Exception, match="cannot reach the server"):
        untrusted.load()
    s.stop()


def test_input_and_reply_files_cross_machines_as_bytes(server: ServerProcess, token_file: Path, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from PIL import Image

    from anygpt_desktop.engine.events import SpeechReady

    photo = tmp_path / "my photo.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo)
    c = RemoteServerAssistant(server.url, token_file.read_text().strip(),
                              settings=SimpleNamespace(output_dir=tmp_path / "client-outputs"))
    c.load()
    events = list(c.turn(TurnRequest(text="what is in this picture?", images=[photo], output_modality="speech")))
    assert isinstance(events[-1], TurnDone), events[-1]
    (saved,) = [e for e in events if isinstance(e, SpeechReady)]
    # the spoken reply's file came as bytes and lies in this machine's output folder, not at a server path
    assert saved.path.parent == tmp_path / "client-outputs" and saved.path.stat().st_size > 44
    server_copy = server.models.parent / "serve-outputs" / saved.path.name
    assert server_copy.read_bytes() == saved.path.read_bytes()
    assert "<soim>" in json.dumps(c.history_json())  # the photo reached the model (as image units)
    c.shutdown()


def test_a_request_naming_a_file_of_the_server_is_refused(server: ServerProcess, token_file: Path) -> None:
    ws = connect(server.url, additional_headers={"Authorization": f"Bearer {token_file.read_text().strip()}"},
                 open_timeout=WAIT_S).__enter__()
    assert isinstance(p.decode(ws.recv(timeout=WAIT_S)), p.Hello)

    def failure_of(turn_id: int) -> str:
        while True:
            msg = p.decode(ws.recv(timeout=WAIT_S))
            if isinstance(msg, p.TurnEvent) and msg.turn_id == turn_id and isinstance(msg.event, (TurnFailed, TurnDone)):
                assert isinstance(msg.event, TurnFailed), msg.event
                return msg.event.reason

    ws.send(p.encode(p.StartTurn(1, TurnRequest(text="read this", images=[Path("/etc/passwd")]))))
    assert "was not sent with this turn" in failure_of(1)
    ws.send(p.encode(p.FileData("../../escape.png", b"x")))
    ws.send(p.encode(p.StartTurn(2, TurnRequest(text="and this", images=[Path("../../escape.png")]))))
    assert "unsafe name" in failure_of(2)
    ws.close()


def test_a_sessions_decoding_settings_apply_within_the_servers_limits(server: ServerProcess, token_file: Path,
                                                                       tmp_path: Path) -> None:
    from types import SimpleNamespace

    from anygpt_desktop.engine.decode_settings import DecodeSettings

    settings = SimpleNamespace(output_dir=tmp_path, decode=DecodeSettings(max_text_tokens=2))
    c = RemoteServerAssistant(server.url, token_file.read_text().strip(), settings=settings)
    c.load()
    short = list(c.turn(TurnRequest(text="say a lot", output_modality="text")))
    assert isinstance(short[-1], TurnDone) and short[-1].stats["new_tokens"] <= 3  # 2 words and the end at most
    settings.decode = DecodeSettings(max_text_tokens=10**6, max_new_tokens=10**6)  # asks for more than the server allows
    long = list(c.turn(TurnRequest(text="say a lot more", output_modality="text")))
    assert isinstance(long[-1], TurnDone) and short[-1].stats["new_tokens"] < long[-1].stats["new_tokens"] <= 13
    c.shutdown()


def test_a_settings_message_with_more_than_decoding_is_refused(server: ServerProcess, token_file: Path) -> None:
    ws = connect(server.url, additional_headers={"Authorization": f"Bearer {token_file.read_text().strip()}"},
                 open_timeout=WAIT_S).__enter__()
    assert isinstance(p.decode(ws.recv(timeout=WAIT_S)), p.Hello)
    ws.send(p.encode(p.Configure({"decode": {}, "output_dir": {"path": "/etc"}})))
    ack = p.decode(ws.recv(timeout=WAIT_S))
    assert isinstance(ack, p.Ack) and not ack.ok and "only decoding settings" in ack.message
    ws.close()
