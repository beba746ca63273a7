"""The engine protocol: every message round-trips field by field; anything else is refused; transports frame bytes."""

from __future__ import annotations

import json
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from anygpt_desktop.engine.events import (
    ImageReady,
    MusicReady,
    Notice,
    SpeechChunk,
    SpeechReady,
    TextDelta,
    TranscriptDelta,
    TurnDone,
    TurnFailed,
)
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.engine_process import protocol as p
from anygpt_desktop.engine_process.transport import PipeTransport, SocketTransport, TransportClosed

AUDIO = (np.sin(np.arange(16000) / 7.0) * 0.5).astype(np.float32)

MESSAGES = [
    p.Hello(1234),
    p.Configure({"seed": 3, "output_dir": {"path": "/tmp/x"}}),
    p.Load(),
    p.LoadProgress(0.25, "loading the language model"),
    p.Ready("cuda:0", "bfloat16", 12.5),
    p.LoadFailed("no language model: download it in the model manager", False),
    p.Cancel(7),
    p.History({"template": "MMGPT", "messages": [{"role": "[Human]", "segments": [{"user": True, "text": "hï"}]}]}),
    p.Clear(),
    p.Restore({"template": "MMGPT", "messages": []}),
    p.Ack("restore", False, "bad data"),
    p.Error("what"),
    p.Shutdown(),
    p.FileData("u1-photo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
    p.TurnEvent(3, TranscriptDelta("what is")),
    p.TurnEvent(3, TextDelta(" the weather ☀")),
    p.TurnEvent(3, SpeechReady(Path("/out/a b.wav"), 16000, 2.5)),
    p.TurnEvent(3, ImageReady(Path("/out/cat.png"), 224, 224)),
    p.TurnEvent(3, MusicReady(Path("/out/song.wav"), 32000, 10.0)),
    p.TurnEvent(3, Notice("the conversation is long")),
    p.TurnEvent(3, TurnDone("reply", "transcript", {"total": 1.5, "first_audio": 0.25}, {"new_tokens": 12})),
    p.TurnEvent(3, TurnFailed("stopped", cancelled=True)),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(getattr(m, "event", m)).__name__)
def test_messages_round_trip(message) -> None:  # type: ignore[no-untyped-def]
    assert p.decode(p.encode(message)) == message


def test_speech_chunks_carry_raw_float32_audio() -> None:
    frame = p.encode(p.TurnEvent(9, SpeechChunk(AUDIO, 16000, 4, final=True)))
    assert AUDIO.tobytes() in frame  # the samples travel as raw little-endian float32, not as JSON
    back = p.decode(frame)
    assert isinstance(back, p.TurnEvent) and back.turn_id == 9
    ev = back.event
    assert isinstance(ev, SpeechChunk) and (ev.sample_rate, ev.index, ev.final) == (16000, 4, True)
    assert ev.audio.dtype == np.float32 and ev.audio.flags.writeable
    np.testing.assert_array_equal(ev.audio, AUDIO)


def test_a_turn_request_round_trips_with_its_recording_and_files() -> None:
    request = TurnRequest(text="describe", speech=AUDIO.astype(np.float64), speech_files=[Path("/a.wav")],
                          images=[Path("/i1.png"), Path("/i2.jpg")], music=[Path("/m.wav")],
                          voice_prompt=Path("/v.wav"), output_modality="speech")
    back = p.decode(p.encode(p.StartTurn(5, request)))
    assert isinstance(back, p.StartTurn) and back.turn_id == 5
    r = back.request
    assert (r.text, r.speech_files, r.images, r.music, r.voice_prompt, r.output_modality) == (
        "describe", [Path("/a.wav")], [Path("/i1.png"), Path("/i2.jpg")], [Path("/m.wav")], Path("/v.wav"), "speech")
    assert r.speech is not None and r.speech.dtype == np.float32
    np.testing.assert_array_equal(r.speech, AUDIO)
    plain = p.decode(p.encode(p.StartTurn(6, TurnRequest(text="hi"))))
    assert plain.request == TurnRequest(text="hi")  # type: ignore[union-attr]


def _frame(header: dict, blobs: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return b"AGEP" + struct.pack("<I", len(head)) + head + blobs


def _good() -> dict:
    return {"v": p.PROTOCOL_VERSION, "type": "text_delta", "turn_id": 1, "text": "x", "blobs": []}


@pytest.mark.parametrize("change, error", [
    ({"v": p.PROTOCOL_VERSION + 1}, "protocol version"),
    ({"v": None}, "protocol version"),
    ({"type": "launch_missiles"}, "unknown message type"),
    ({"turn_id": "1"}, "an integer"),
    ({"turn_id": True}, "an integer"),
    ({"text": 5}, "a string"),
    ({"surprise": 1}, "unknown field"),
    ({"blobs": [4]}, "blobs of 4 bytes"),
])
def test_strict_decoding_refuses_what_it_does_not_know(change: dict, error: str) -> None:
    header = {**_good(), **change}
    with pytest.raises(p.ProtocolError, match=error):
        p.decode(_frame(header))


def test_strict_decoding_refuses_missing_fields_bad_frames_and_bad_arrays() -> None:
    header = _good()
    del header["text"]
    with pytest.raises(p.ProtocolError, match="missing"):
        p.decode(_frame(header))
    with pytest.raises(p.ProtocolError, match="magic"):
        p.decode(b"PICK" + p.encode(p.Load())[4:])
    with pytest.raises(p.ProtocolError, match="too short"):
        p.decode(b"AG")
    with pytest.raises(p.ProtocolError, match="does not fit"):
        p.decode(b"AGEP" + struct.pack("<I", 999) + b"{}")
    with pytest.raises(p.ProtocolError, match="unreadable header"):
        p.decode(_frame({}).replace(b"{}", b"{x"))
    chunk = {"v": p.PROTOCOL_VERSION, "type": "speech_chunk", "turn_id": 1, "sample_rate": 16000, "index": 0, "final": False,
             "audio": {"blob": 0, "dtype": "<f4", "length": 3}, "blobs": [8]}
    with pytest.raises(p.ProtocolError, match="3 floats has 8 bytes"):
        p.decode(_frame(chunk, b"\0" * 8))
    chunk["audio"] = {"blob": 0, "dtype": "<f8", "length": 1}
    with pytest.raises(p.ProtocolError, match="array reference"):
        p.decode(_frame(chunk, b"\0" * 8))
    upload = {"v": p.PROTOCOL_VERSION, "type": "file_data", "name": "x.png", "data": {"blob": 0, "bytes": 9}, "blobs": [8]}
    with pytest.raises(p.ProtocolError, match="9 bytes announced, 8 sent"):
        p.decode(_frame(upload, b"\0" * 8))


def test_only_protocol_messages_and_engine_events_can_be_sent() -> None:
    with pytest.raises(p.ProtocolError, match="not a protocol message"):
        p.encode(object())  # type: ignore[arg-type]
    with pytest.raises(p.ProtocolError, match="not an engine event"):
        p.encode(p.TurnEvent(1, "text"))  # type: ignore[arg-type]
    with pytest.raises(p.ProtocolError, match="JSON"):
        p.encode(p.History({"x": object()}))


def test_settings_travel_as_json_and_are_rebuilt_strictly() -> None:
    from anygpt_desktop.engine.assistant import AssistantSettings
    from anygpt_desktop.engine.decode_loop import DecodeSettings

    from anygpt_desktop.engine.sampling import SamplingParams

    settings = AssistantSettings(device="cpu", seed=4, output_dir=Path("/out"), default_voice=None,
                                 decode=DecodeSettings(max_text_tokens=9, text=SamplingParams(temperature=0.5)))
    data = p.settings_to_json(settings)
    assert json.loads(json.dumps(data)) == data
    assert p.settings_from_json(AssistantSettings, data) == settings
    with pytest.raises(p.ProtocolError, match="unknown setting"):
        p.settings_from_json(AssistantSettings, {**data, "overclock": True})
    with pytest.raises(p.ProtocolError, match="not a path"):
        p.settings_from_json(AssistantSettings, {**data, "output_dir": {"file": "/x"}})


def _exchange(a, b) -> None:  # type: ignore[no-untyped-def]
    big = p.encode(p.TurnEvent(1, SpeechChunk(np.tile(AUDIO, 20), 16000, 0)))  # 1.3 MB: several socket reads
    frames = [p.encode(m) for m in MESSAGES] + [big]
    sender = threading.Thread(target=lambda: [a.send(f) for f in frames])
    sender.start()
    got = [b.receive(timeout=60) for _ in frames]
    sender.join()
    assert got == frames
    assert b.receive(timeout=0.01) is None  # nothing more: a timeout, not an error
    a.close()
    with pytest.raises(TransportClosed):
        b.receive(timeout=60)
    with pytest.raises(TransportClosed):
        b.send(b"late")  # the peer is gone
    b.close()


def test_socket_transport_frames_over_a_socket_pair() -> None:
    left, right = socket.socketpair()
    _exchange(SocketTransport(left), SocketTransport(right))


def test_pipe_transport_frames_over_a_multiprocessing_pipe() -> None:
    import multiprocessing

    left, right = multiprocessing.get_context("spawn").Pipe(duplex=True)
    _exchange(PipeTransport(left), PipeTransport(right))


def test_every_wire_name_is_unique_and_versioned() -> None:
    assert len(set(p.MESSAGE_TYPES)) == len(p.MESSAGE_TYPES)
    for message in MESSAGES:
        header_len = struct.unpack_from("<I", p.encode(message), 4)[0]
        header = json.loads(p.encode(message)[8 : 8 + header_len])
        assert header["v"] == p.PROTOCOL_VERSION and header["type"] in p.MESSAGE_TYPES
