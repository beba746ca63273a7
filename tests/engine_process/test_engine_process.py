"""The engine in its own process, on the tiny kit: streaming, Stop, crashes, bugs, closing (no timing asserted)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from anygpt_desktop.cancel import Cancelled, TaskState
from anygpt_desktop.engine.events import Notice, SpeechChunk, SpeechReady, TextDelta, TurnDone, TurnFailed
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.engine_process import EngineError, EngineOptions, EngineProcess, RemoteAssistant
from anygpt_desktop.engine_process.child import EngineConfig

pytestmark = pytest.mark.slow


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:  # a zombie nobody reaped is gone as well
        return f.read().split(")")[-1].split()[0] == "Z"


def spoken(text: str) -> TurnRequest:
    return TurnRequest(text=text, output_modality="speech")


@pytest.fixture(scope="module")
def shared(tiny_models: Path, tmp_path_factory):  # type: ignore[no-untyped-def]
    """One engine for the tests that leave it running (each starts with an empty conversation)."""
    from engine_doubles import DOUBLES, tiny_settings

    remote = RemoteAssistant(tiny_models, device="cpu", settings=tiny_settings(tmp_path_factory.mktemp("out")),
                             options=EngineOptions(cancel_timeout_s=60.0, assistant_factory=DOUBLES))
    progress: list[tuple[float, str]] = []
    remote.load(TaskState(on_progress=lambda f, m: progress.append((f, m))))
    remote.load_progress = progress  # type: ignore[attr-defined]
    yield remote
    remote.shutdown()


@pytest.fixture
def remote(shared: RemoteAssistant) -> RemoteAssistant:
    shared.clear()
    return shared


def test_a_turn_streams_text_and_speech_from_the_engine_process(remote: RemoteAssistant) -> None:
    progress = remote.load_progress  # type: ignore[attr-defined]
    assert remote.pid is not None and remote.pid != os.getpid() and remote.engine_alive()
    assert remote.llm is not None and remote.llm.device == "cpu"
    assert progress[-1] == (1.0, "ready") and any("language model" in m for _f, m in progress)  # the child's progress

    events = list(remote.turn(spoken("say something nice")))
    assert isinstance(events[-1], TurnDone), events[-1]
    assert any(isinstance(e, TextDelta) for e in events)
    chunks = [e for e in events if isinstance(e, SpeechChunk)]
    assert chunks and all(c.audio.dtype == np.float32 and c.audio.ndim == 1 and c.sample_rate == 16000 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    ready = [e for e in events if isinstance(e, SpeechReady)]
    assert len(ready) == 1 and ready[0].path.is_file()
    # the chunks that crossed the pipe are the saved reply, sample for sample
    import soundfile as sf

    saved, _sr = sf.read(ready[0].path, dtype="float32")
    np.testing.assert_array_equal(np.concatenate([c.audio for c in chunks]), saved)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == events[-1].reply_text
    history = remote.history_json()
    assert [m["role"] for m in history["messages"]] == ["[Human]", "[MMGPT]"]


def test_events_reach_the_gui_while_the_engine_is_still_busy_and_stop_ends_the_turn(remote: RemoteAssistant) -> None:
    pid = remote.pid
    state = TaskState()
    turn = remote.turn(spoken("tell me a long story [hold]"), state)
    first = next(turn)  # streamed: the engine is now holding the turn open until Stop
    assert isinstance(first, (TextDelta, SpeechChunk)) or type(first).__name__ == "TranscriptDelta"
    state.cancel()  # Stop, from the GUI
    rest = list(turn)
    assert isinstance(rest[-1], TurnFailed) and rest[-1].cancelled, rest[-1]
    assert remote.pid == pid and remote.engine_alive()  # stopped, not killed
    after = list(remote.turn(spoken("and now?")))
    assert isinstance(after[-1], TurnDone) and remote.pid == pid


def test_an_engine_that_ignores_stop_is_killed_and_restarted(make_remote) -> None:  # type: ignore[no-untyped-def]
    remote: RemoteAssistant = make_remote(cancel_timeout_s=2.0)
    remote.load()
    list(remote.turn(spoken("first")))
    kept = remote.history_json()
    old_pid = remote.pid
    state = TaskState()
    turn = remote.turn(spoken("stuck [deaf]"), state)
    next(turn)
    state.cancel()
    rest = list(turn)
    assert isinstance(rest[-1], TurnFailed) and rest[-1].cancelled and "restarted" in rest[-1].reason
    assert pid_gone(old_pid)
    assert remote.history_json() == kept
    events = list(remote.turn(spoken("again")))
    assert isinstance(events[0], Notice) and "restarted" in events[0].message
    assert isinstance(events[-1], TurnDone) and remote.pid != old_pid


def test_kill_9_mid_turn_fails_the_turn_keeps_the_history_and_the_next_turn_works(make_remote) -> None:  # type: ignore[no-untyped-def]
    remote: RemoteAssistant = make_remote()
    remote.load()
    assert isinstance(list(remote.turn(spoken("hello there")))[-1], TurnDone)
    before = remote.history_json()
    assert len(before["messages"]) == 2
    old_pid = remote.pid
    turn = remote.turn(spoken("a second question [hold]"), TaskState())
    next(turn)  # mid-turn
    os.kill(old_pid, signal.SIGKILL)
    rest = list(turn)
    failed = rest[-1]
    assert isinstance(failed, TurnFailed) and not failed.cancelled and failed.engine_lost
    assert "stopped unexpectedly" in failed.reason and "SIGKILL" in failed.reason and "conversation is kept" in failed.reason
    assert remote.history_json() == before  # exactly as after the last finished turn
    assert pid_gone(old_pid)

    events = list(remote.turn(spoken("a third question")))
    assert isinstance(events[-1], TurnDone), events[-1]
    assert remote.pid not in (None, old_pid)
    after = remote.history_json()
    assert after["messages"][:2] == before["messages"] and len(after["messages"]) == 4  # replayed, then extended


def test_a_segfault_is_reported_in_the_users_terms(make_remote) -> None:  # type: ignore[no-untyped-def]
    remote: RemoteAssistant = make_remote()
    remote.load()
    events = list(remote.turn(spoken("[segfault]")))
    assert isinstance(events[-1], TurnFailed) and "SIGSEGV" in events[-1].reason and events[-1].engine_lost
    assert isinstance(list(remote.turn(spoken("still there?")))[-1], TurnDone)


def test_an_exception_in_the_engine_is_a_failed_turn_not_a_dead_engine(remote: RemoteAssistant) -> None:
    list(remote.turn(spoken("first")))
    before = remote.history_json()
    pid = remote.pid
    events = list(remote.turn(spoken("[raise]")))
    assert isinstance(events[-1], TurnFailed) and not events[-1].cancelled
    assert "RuntimeError" in events[-1].reason and "a bug in the engine" in events[-1].reason
    assert not events[-1].engine_lost  # the engine lives on: no restart to offer
    assert remote.history_json() == before
    assert remote.pid == pid and remote.engine_alive()
    assert isinstance(list(remote.turn(spoken("and now?")))[-1], TurnDone)


def test_clear_and_restore_reach_the_engine(remote: RemoteAssistant) -> None:
    list(remote.turn(spoken("remember this")))
    saved = remote.history_json()
    remote.clear()
    assert not remote.history_json().get("messages")
    list(remote.turn(spoken("new topic")))
    assert len(remote.history_json()["messages"]) == 2
    remote.restore(saved)
    list(remote.turn(spoken("back to it")))
    assert remote.history_json()["messages"][:2] == saved["messages"]


def test_shutdown_ends_the_child(make_remote) -> None:  # type: ignore[no-untyped-def]
    remote: RemoteAssistant = make_remote()
    remote.load()
    pid = remote.pid
    assert pid is not None and not pid_gone(pid)
    remote.shutdown()
    assert pid_gone(pid) and not remote.engine_alive()
    remote.shutdown()  # twice is fine


def test_the_engine_exits_when_the_gui_end_of_the_channel_closes(tiny_models: Path) -> None:
    engine = EngineProcess(EngineConfig(str(tiny_models)), EngineOptions())
    engine.wait_hello()
    pid = engine.pid
    engine.transport.close()  # as when the GUI process dies: the child reads end-of-file
    engine.process.join(timeout=120)
    assert engine.process.exitcode is not None and pid_gone(pid)


def test_missing_models_fail_the_load_readably_and_leave_no_process(tmp_path: Path) -> None:
    remote = RemoteAssistant(tmp_path / "empty", device="cpu")
    with pytest.raises(EngineError, match="model manager"):
        remote.load()
    assert remote.pid is None
    assert list(remote.turn(spoken("hi")))[-1] == TurnFailed("the models are not loaded yet")


def test_a_cancelled_load_raises_cancelled(tiny_models: Path) -> None:
    state = TaskState()
    state.cancel()
    remote = RemoteAssistant(tiny_models, device="cpu")
    with pytest.raises(Cancelled):
        remote.load(state)
    assert remote.pid is None


def test_settings_the_engine_cannot_use_fail_the_turn_readably(remote: RemoteAssistant) -> None:
    from dataclasses import dataclass

    @dataclass
    class Odd:
        overclock: bool = True

    good = remote.settings
    remote.settings = Odd()
    try:
        events = list(remote.turn(spoken("hi")))
    finally:
        remote.settings = good
    assert len(events) == 1 and isinstance(events[0], TurnFailed)
    assert "settings could not be used" in events[0].reason and "overclock" in events[0].reason
    assert remote.engine_alive()
    assert isinstance(list(remote.turn(spoken("hi")))[-1], TurnDone)  # still on the good settings
