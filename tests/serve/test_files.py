"""Files across machines for a served engine, without a server: what the client sends, what the server keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from anygpt_desktop.engine.events import ImageReady, SpeechReady, TextDelta
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.engine_process.protocol import FileData
from anygpt_desktop.serve.files import FileRefused, ReceivedFiles, SessionUploads, send_output_file, upload_inputs


def test_a_turns_files_go_up_once_each_under_safe_names_and_the_server_resolves_them(tmp_path: Path) -> None:
    photo, song = tmp_path / "my photo (1).png", tmp_path / "song.wav"
    photo.write_bytes(b"png-bytes")
    song.write_bytes(b"wav-bytes")
    sent: list[FileData] = []
    request = upload_inputs(TurnRequest(text="hi", images=[photo, photo], music=[song], voice_prompt=song), 7, sent.append)
    assert [f.data for f in sent] == [b"png-bytes", b"wav-bytes"]  # a file named twice goes up once
    assert [str(p) for p in request.images] == ["t7-1-my_photo_1.png"] * 2 and request.voice_prompt == request.music[0]
    uploads = SessionUploads(root=tmp_path / "server")
    (tmp_path / "server").mkdir()
    for f in sent:
        uploads.store(f)
    resolved = uploads.resolve(request)
    assert resolved.images[0].read_bytes() == b"png-bytes" and resolved.voice_prompt.read_bytes() == b"wav-bytes"
    assert resolved.images[0].parent.parent == tmp_path / "server" and uploads.total == 18
    uploads.close()
    assert not list((tmp_path / "server").iterdir())  # the session's folder went with it


def test_long_names_and_unreadable_files(tmp_path: Path) -> None:
    from anygpt_desktop.serve.files import InputFileUnreadable

    long = tmp_path / ("a very long holiday photo name " * 5 + ".JPG")
    long.write_bytes(b"jpg")
    sent: list[FileData] = []
    request = upload_inputs(TurnRequest(text="x", images=[long]), 123, sent.append)
    uploads = SessionUploads()
    uploads.store(sent[0])  # the name the client chose is one the server accepts
    assert uploads.resolve(request).images[0].read_bytes() == b"jpg"
    uploads.close()
    sent.clear()
    with pytest.raises(InputFileUnreadable, match="gone.png could not be read"):
        upload_inputs(TurnRequest(text="x", images=[long, tmp_path / "gone.png"]), 1, sent.append)
    assert sent == []  # nothing went up for a turn that cannot be sent whole


def test_the_server_refuses_unsafe_names_other_paths_and_too_much(tmp_path: Path) -> None:
    uploads = SessionUploads(max_bytes=10)
    with pytest.raises(FileRefused, match="unsafe name"):
        uploads.store(FileData("../etc/x.png", b"1"))
    with pytest.raises(FileRefused, match="not sent with this turn"):
        uploads.resolve(TurnRequest(text="x", images=[Path("/etc/passwd")]))
    uploads.store(FileData("a.png", b"123456"))
    with pytest.raises(FileRefused, match="exceed"):
        uploads.store(FileData("b.png", b"123456"))
    uploads.keep_only(TurnRequest(text="next turn", images=[Path("b.png")]))  # a.png belonged to an earlier turn
    assert uploads.total == 0
    uploads.store(FileData("b.png", b"123456"))  # room again
    with pytest.raises(FileRefused):
        uploads.resolve(TurnRequest(text="x", images=[Path("a.png")]))
    uploads.close()


def test_reply_files_come_down_before_their_event_and_never_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "server-out"
    out.mkdir()
    (out / "reply.wav").write_bytes(b"first")
    sent: list[FileData] = []
    event = send_output_file(SpeechReady(out / "reply.wav", 16000, 1.0), sent.append)
    assert sent == [FileData("reply.wav", b"first")] and event.path == Path("reply.wav")
    assert send_output_file(TextDelta("hi"), sent.append) == TextDelta("hi") and len(sent) == 1
    mine = tmp_path / "client-out"
    received = ReceivedFiles(mine)
    (mine).mkdir()
    (mine / "reply.wav").write_bytes(b"an older reply")
    received.keep(sent[0])
    local = received.localize(event)
    assert local.path == mine / "reply-2.wav" and local.path.read_bytes() == b"first"
    assert (mine / "reply.wav").read_bytes() == b"an older reply"
    missing = ImageReady(Path("never-sent.png"), 8, 8)
    assert received.localize(missing) == missing  # named but not sent: left as it is (logged)
