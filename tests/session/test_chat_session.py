"""The chat session's flows without Qt: a synchronous fake engine plays the engine's updates, a real history store
keeps the turns. Send, stop, failure, restore, barge-in, attachments, new conversation, closing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fake_engine import FakeEngine

from anygpt_desktop.engine.events import ImageReady, MusicReady, Notice, SpeechChunk, TextDelta, TranscriptDelta
from anygpt_desktop.engine.events import TurnDone, TurnFailed
from anygpt_desktop.session import events as ev
from anygpt_desktop.session.chat import ChatSession, file_kind
from anygpt_desktop.session.engine_port import HistoryRestored, HistorySnapshot, LoadFailed, LoadProgress
from anygpt_desktop.session.kinds import AttachmentKind, ModelState
from anygpt_desktop.storage.history import HistoryStore


class Recorder(list):
    def of(self, kind: type) -> list:
        return [e for e in self if isinstance(e, kind)]

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self]


@pytest.fixture
def history(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "history")


_SESSIONS: list[ChatSession] = []


@pytest.fixture(autouse=True)
def _close_sessions():  # type: ignore[no-untyped-def]
    """Every session a test made is closed (its temporary folder removed)."""
    yield
    while _SESSIONS:
        _SESSIONS.pop().close()


def make(history: HistoryStore, ready: bool = True) -> tuple[ChatSession, FakeEngine, Recorder]:
    engine = FakeEngine()
    session = ChatSession(engine, history)
    _SESSIONS.append(session)
    seen = Recorder()
    session.subscribe(seen.append)
    session.reload_models()
    if ready:
        engine.loaded()
    return session, engine, seen


def wav(path: Path, seconds: float = 0.2, sr: int = 16000) -> Path:
    sf.write(path, np.full(int(seconds * sr), 0.1, np.float32), sr)
    return path


def test_loading_reports_progress_device_and_ready(history) -> None:  # type: ignore[no-untyped-def]
    session, engine, seen = make(history, ready=False)
    assert session.model_state is ModelState.LOADING and engine.calls == ["load"]
    assert not session.reload_models()  # already loading: no second load
    engine.send(LoadProgress(0.5, "part 1"))
    engine.loaded()
    assert session.model_state == "ready"
    assert seen.kinds() == ["ModelStateChanged", "LoadProgressed", "DeviceChanged", "ModelStateChanged", "BannerChanged"]
    assert seen.of(ev.ModelStateChanged)[-1] == ev.ModelStateChanged(ModelState.READY, seconds=1.5)
    assert seen.of(ev.DeviceChanged) == [ev.DeviceChanged("cpu", "float32")]


def test_a_failed_load_is_reported_and_sending_waits_for_the_models(history) -> None:  # type: ignore[no-untyped-def]
    session, engine, seen = make(history, ready=False)
    engine.send(LoadFailed("the speech model file is corrupt", False))
    assert session.model_state is ModelState.FAILED
    assert seen.of(ev.ModelStateChanged)[-1].reason == "the speech model file is corrupt"
    assert session.send("hello") is None
    note = seen[-1]
    assert isinstance(note, ev.StatusMessage) and "not loaded yet" in note.text and "kept" in note.text
    assert note.action == "models" and not note.error  # the fix is offered: the model manager
    assert engine.requests == {} and history.conversations() == []
    assert session.reload_models() and engine.calls == ["load", "load"]


def test_send_streams_the_reply_and_stores_the_turn_pair(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    session, engine, seen = make(history)
    img = tmp_path / "cat.png"
    img.write_bytes(b"\x89PNG fake")
    session.attach(img, AttachmentKind.IMAGE)
    seen.clear()
    tid = session.send("  what is this  ", "text")
    assert tid == 1
    req = engine.requests[1]
    assert req.text == "what is this" and req.images == [img] and req.output_modality == "text"
    assert session.attachments == () and session.busy
    cid = session.conversation_id
    assert cid is not None and history.get(cid).title == "what is this"
    assert seen.kinds() == ["CurrentConversationChanged", "ConversationListChanged", "AttachmentsChanged",
                            "UserTurnAdded", "BusyChanged"]
    assert seen.of(ev.UserTurnAdded)[0] == ev.UserTurnAdded(1, "what is this", ((AttachmentKind.IMAGE, img),), False)
    seen.clear()
    out = tmp_path / "drawn.png"
    out.write_bytes(b"png")
    engine.turn(1, TextDelta("A"), TextDelta(" cat"), Notice("the voice file is unusable"), ImageReady(out, 8, 8),
                TurnDone("A cat", "", {"total": 0.5}))
    assert seen.kinds() == ["TurnStarted", "ReplyTextUpdated", "ReplyTextUpdated", "StatusMessage", "ImageAdded",
                            "TurnEnded", "BusyChanged", "ConversationListChanged", "TurnStored"]
    ended = seen.of(ev.TurnEnded)[0]
    assert ended.reply_text == "A cat" and not ended.failed and ended.timings == {"total": 0.5}
    assert seen.of(ev.StatusMessage)[0].text == "The voice file is unusable"  # a sentence of its own
    assert seen[-1] == ev.TurnStored(cid) and not session.busy
    user, reply = history.turns(cid)
    assert (user.role, user.text, [m.kind for m in user.media]) == ("user", "what is this", ["image"])
    assert (reply.text, [m.kind for m in reply.media], reply.interrupted) == ("A cat", ["image"], False)
    engine.send(HistorySnapshot(1, {"turns": ["memory"]}))
    assert history.engine_state(cid) == {"turns": ["memory"]}


def test_stop_cancels_and_keeps_the_partial_reply(history) -> None:  # type: ignore[no-untyped-def]
    session, engine, seen = make(history)
    session.send("count to forty")
    engine.turn(1, TextDelta("one"), TextDelta(" two"))
    seen.clear()
    session.stop()
    assert seen == [ev.StopRequested()] and engine.calls[-1] == "cancel"
    engine.turn(1, TurnFailed("Stopped.", cancelled=True))
    ended = seen.of(ev.TurnEnded)[0]
    assert ended.failed and ended.cancelled and ended.reply_text == "one two"
    assert not seen.of(ev.StatusMessage)  # a stop is not an error
    stored = history.turns(session.conversation_id)
    assert stored[-1].interrupted and stored[-1].text == "one two"


def test_a_failed_turn_says_why_and_is_stored_as_interrupted(history) -> None:  # type: ignore[no-untyped-def]
    session, engine, seen = make(history)
    session.send("hello")
    engine.turn(1, TextDelta("Hel"), TurnFailed("The GPU ran out of memory."))
    assert ev.StatusMessage("The reply failed: The GPU ran out of memory.", error=True) in seen
    ended = seen.of(ev.TurnEnded)[0]
    assert ended.failed and not ended.cancelled and ended.reason == "The GPU ran out of memory."
    assert history.turns(session.conversation_id)[-1].interrupted
    # the session goes on
    assert session.send("again") == 2


def test_a_spoken_question_and_a_spoken_reply(history) -> None:  # type: ignore[no-untyped-def]
    session, engine, seen = make(history)
    audio = np.full(8000, 0.1, np.float32)
    session.send_speech(audio)
    cid = session.conversation_id
    assert history.get(cid).title == "Voice conversation"
    added = seen.of(ev.UserTurnAdded)[0]
    assert added.listening and [k for k, _p in added.media] == [AttachmentKind.SPEECH]
    assert added.media[0][1].parent == session.tmp_dir and added.media[0][1].is_file()
    chunk = np.zeros(1600, np.float32)
    seen.clear()
    engine.turn(1, TranscriptDelta("hello"), TextDelta("Hi"), SpeechChunk(chunk, 16000, 0), SpeechChunk(chunk, 16000, 1),
                TurnDone("Hi", "hello there"))
    chunks = seen.of(ev.SpeechChunkReady)
    assert [c.first for c in chunks] == [True, False]
    assert seen.of(ev.SpeechEnded) == [ev.SpeechEnded(1)]  # exactly once, before the turn ends
    assert seen.kinds().index("SpeechEnded") < seen.kinds().index("TurnEnded")
    ended = seen.of(ev.TurnEnded)[0]
    assert ended.transcript == "hello there" and ended.speech_seconds == pytest.approx(0.2)
    assert ended.speech_path is not None and ended.speech_path.is_file() and "first_audio" in ended.timings
    user, reply = history.turns(cid)
    assert user.transcript == "hello there" and [m.kind for m in user.media] == ["speech"]
    assert [m.kind for m in reply.media] == ["speech"]


def test_attachments_by_kind(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    session, engine, seen = make(history)
    question, song, voice1, voice2 = (wav(tmp_path / n) for n in ("q.wav", "song.wav", "v1.wav", "v2.wav"))
    for path, kind in ((question, "speech"), (song, AttachmentKind.MUSIC), (voice1, "voice"), (voice2, "voice")):
        session.attach(path, kind)
    assert [a.kind for a in session.attachments] == ["speech", "music", "voice", "voice"]
    session.detach(voice1)
    assert [a.path for a in session.attachments] == [question, song, voice2]
    assert seen[-1] == ev.AttachmentsChanged(session.attachments)
    session.send("")  # attachments alone are a turn
    req = engine.requests[1]
    assert req.speech_files == [question] and req.music == [song] and req.voice_prompt == voice2 and req.images == []
    assert seen.of(ev.UserTurnAdded)[0].listening  # a spoken question: its transcript comes
    engine.turn(1, TurnDone("ok", "what is it"))
    kinds = sorted(m.kind for m in history.turns(session.conversation_id)[0].media)
    assert kinds == ["music", "speech", "voice"]
    assert session.send("") is None  # nothing typed, nothing attached
    assert file_kind(Path("a.PNG")) == "image" and file_kind(Path("b.flac")) == "audio" and file_kind(Path("c.txt")) is None
    with pytest.raises(ValueError):
        session.attach(song, "lyrics")  # type: ignore[arg-type]


def test_barge_in_stops_only_a_talking_or_busy_assistant(history) -> None:  # type: ignore[no-untyped-def]
    session, engine, seen = make(history)
    assert not session.barge_in(playing=False) and "cancel" not in engine.calls
    assert session.barge_in(playing=True) and engine.calls[-1] == "cancel"
    session.send("tell me a story")
    seen.clear()
    assert session.barge_in(playing=False)
    assert seen == [ev.StopRequested()]


def test_new_conversation_drops_the_running_turn_and_forgets(history) -> None:  # type: ignore[no-untyped-def]
    session, engine, seen = make(history)
    session.send("first")
    first = session.conversation_id
    engine.turn(1, TextDelta("partial"))
    seen.clear()
    session.new_conversation()
    assert session.conversation_id is None and not session.busy
    assert engine.calls[-2:] == ["cancel", "clear"]
    assert ev.ConversationShown(None, ()) in seen and ev.CurrentConversationChanged(None) in seen
    seen.clear()
    engine.turn(1, TextDelta(" late"), TurnFailed("Stopped.", True))  # the old turn's late events are ignored
    assert seen == []
    assert history.turns(first) == []  # never finished, never stored
    session.send("second")
    assert session.conversation_id not in (None, first)


def test_restore_a_stored_conversation_and_the_models_memory(history) -> None:  # type: ignore[no-untyped-def]
    session, engine, _ = make(history)
    session.send("remember me")
    engine.turn(1, TextDelta("ok"), TurnDone("ok", ""))
    engine.send(HistorySnapshot(1, {"turns": [{"user": "remember me", "assistant": "ok"}]}))
    cid = session.conversation_id
    session.close()

    again, engine2, seen = make(history, ready=False)
    assert again.restore_last(cid)
    shown = seen.of(ev.ConversationShown)[0]
    assert shown.conversation_id == cid and [t.text for t in shown.turns] == ["remember me", "ok"]
    assert engine2.restored == []  # the models are not loaded yet: the memory follows when they are
    engine2.loaded()
    assert engine2.restored == [{"turns": [{"user": "remember me", "assistant": "ok"}]}]
    engine2.send(HistoryRestored(False, "The model's memory of this conversation could not be restored: bad"))
    assert seen[-1] == ev.BannerChanged("The model's memory of this conversation could not be restored: bad")
    assert not again.restore_last(cid + 100)


def test_rename_delete_and_export(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    session, engine, seen = make(history)
    from anygpt_desktop.storage.history import HistoryError

    with pytest.raises(HistoryError):
        session.export("md", tmp_path)
    session.send("hello")
    engine.turn(1, TurnDone("hi", ""))
    cid = session.conversation_id
    assert session.rename_conversation(cid, "Greetings") and history.get(cid).title == "Greetings"
    assert not session.rename_conversation(cid, "   ")
    assert session.export("md", tmp_path / "out").suffix == ".md"
    seen.clear()
    session.delete_conversation(cid)
    assert history.conversations() == [] and session.conversation_id is None
    assert ev.ConversationListChanged() in seen


def test_a_turn_whose_conversation_was_deleted_meanwhile_is_reported_not_raised(history) -> None:  # type: ignore[no-untyped-def]
    session, engine, seen = make(history)
    session.send("hello")
    history.delete(session.conversation_id)
    engine.turn(1, TurnDone("hi", ""))
    assert any("could not be saved" in m.text for m in seen.of(ev.StatusMessage))
    assert not seen.of(ev.TurnStored)


def test_close_stops_the_engine_and_removes_the_temporary_folder(history) -> None:  # type: ignore[no-untyped-def]
    session, engine, _ = make(history)
    session.send_speech(np.full(4000, 0.1, np.float32))
    assert session.tmp_dir.is_dir() and any(session.tmp_dir.iterdir())
    session.close()
    assert engine.calls[-1] == "shutdown" and not session.tmp_dir.exists()
    session.close()  # twice is harmless
    assert engine.calls.count("shutdown") == 1


def test_music_and_settings_reach_the_engine(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    session, engine, seen = make(history)
    session.configure({"max_text_tokens": 10})
    assert engine.configured == [{"max_text_tokens": 10}]
    session.send("play music", "music")
    song = wav(tmp_path / "m.wav")
    engine.turn(1, MusicReady(song, 16000, 0.2), TurnDone("", ""))
    assert seen.of(ev.MusicAdded) == [ev.MusicAdded(1, song, 0.2)]
    assert [m.kind for m in history.turns(session.conversation_id)[1].media] == ["music"]


def test_a_damaged_history_that_was_set_aside_is_told_to_the_user(tmp_path: Path) -> None:
    folder = tmp_path / "history"
    folder.mkdir()
    (folder / "history.sqlite3").write_bytes(b"this is not a database" * 100)
    session, _engine, seen = make(HistoryStore(folder))
    errors = [e for e in seen.of(ev.StatusMessage) if e.error]
    assert errors and "damaged" in errors[0].text and ".corrupt-" in errors[0].text
    assert session.conversations() == []  # a fresh history, the old file kept beside it
    assert any(p.name.startswith("history.sqlite3.corrupt-") for p in folder.iterdir())
