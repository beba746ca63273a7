"""The engine worker thread: loads, streams events as signals, cancels, never runs the model on the GUI thread."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QThread

from anygpt_desktop.app.worker import EngineClient
from anygpt_desktop.engine.events import TurnDone
from anygpt_desktop.engine.requests import TurnRequest
from fake_assistant import FakeAssistant
from gui_wait import wait_signal


@pytest.fixture
def make_client(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    clients: list[EngineClient] = []

    def make(**kwargs):  # type: ignore[no-untyped-def]
        holder: dict = {}

        def factory() -> FakeAssistant:
            holder["thread"] = threading.current_thread()
            holder["assistant"] = FakeAssistant(tmp_path, out_dir=tmp_path, **kwargs)
            return holder["assistant"]

        client = EngineClient(factory)
        clients.append(client)
        return client, holder

    yield make
    for c in clients:
        c.shutdown()


def test_load_reports_progress_in_the_worker_thread(qtbot, make_client) -> None:  # type: ignore[no-untyped-def]
    client, holder = make_client()
    progress: list[float] = []
    client.worker.sig_model_progress.connect(lambda f, m: progress.append(f))
    with wait_signal(qtbot, client.worker.sig_model_loaded):
        client.load()
    assert client.loaded
    assert holder["thread"] is not threading.main_thread()
    qtbot.waitUntil(lambda: len(progress) == 5)
    assert progress[-1] == 1.0


def test_load_failure_is_a_readable_signal(qtbot, make_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = make_client(fail_load="The speech model file is corrupt.")
    with wait_signal(qtbot, client.worker.sig_model_failed) as blocker:
        client.load()
    assert blocker.args == ["The speech model file is corrupt.", False]
    assert not client.loaded


def test_turn_streams_every_event_kind_in_order(qtbot, make_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = make_client()
    with wait_signal(qtbot, client.worker.sig_model_loaded):
        client.load()
    seen: list[str] = []
    w = client.worker
    w.sig_transcript_updated.connect(lambda t, s: seen.append(f"transcript:{s}"))
    w.sig_text_updated.connect(lambda t, s: seen.append("text"))
    w.sig_speech_chunk_ready.connect(lambda t, a, sr, final: seen.append(f"speech:{sr}:{a.dtype}:{final}"))
    w.sig_image_ready.connect(lambda t, p, wd, h: seen.append(f"image:{Path(p).suffix}"))
    w.sig_music_ready.connect(lambda t, p, s: seen.append(f"music:{Path(p).suffix}"))
    w.sig_history_saved.connect(lambda t, d: seen.append(f"history:{len(d['turns'])}"))
    with wait_signal(qtbot, w.sig_turn_finished) as blocker:
        tid = client.submit(TurnRequest(speech=np.zeros(1600, np.float32), text="draw music"))
    assert blocker.args[0] == tid
    done = blocker.args[1]
    assert isinstance(done, TurnDone) and done.transcript == "hello there"
    qtbot.waitUntil(lambda: any(s.startswith("history") for s in seen))
    assert seen[:2] == ["transcript:hello", "transcript: there"]
    assert "speech:16000:float32:True" in seen
    kinds = [s.split(":")[0] for s in seen]
    assert kinds.index("text") < kinds.index("speech") < kinds.index("image") < kinds.index("music") < kinds.index("history")
    assert seen[-1] == "history:1"
    assert not client.busy


def test_cancel_stops_the_running_turn_and_the_queued_ones(qtbot, make_client) -> None:  # type: ignore[no-untyped-def]
    hold = threading.Event()
    client, holder = make_client(hold=hold, hold_after=1)  # the turn waits after its first word until we cancelled
    with wait_signal(qtbot, client.worker.sig_model_loaded):
        client.load()
    failed: list[tuple[int, bool]] = []
    texts: list[str] = []
    client.worker.sig_turn_failed.connect(lambda t, r, c: failed.append((t, c)))
    client.worker.sig_text_updated.connect(lambda t, s: texts.append(s))
    finished: list[int] = []
    client.worker.sig_turn_finished.connect(lambda t, d: finished.append(t))
    with wait_signal(qtbot, client.worker.sig_text_updated):
        first = client.submit(TurnRequest(text=" ".join(["word"] * 50)))
    second = client.submit(TurnRequest(text="queued"))
    client.cancel()
    hold.set()
    qtbot.waitUntil(lambda: len(failed) == 2, timeout=5000)
    assert failed == [(first, True), (second, True)]
    assert finished == []
    assert texts == ["You"]  # kept as far as it got: the engine stopped at its next step
    assert len(holder["assistant"].requests) == 1  # the queued turn never reached the model
    # the worker is still alive and serves the next turn
    with wait_signal(qtbot, client.worker.sig_turn_finished):
        client.submit(TurnRequest(text="again"))


def test_turn_before_load_fails_cleanly(qtbot, make_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = make_client()
    with wait_signal(qtbot, client.worker.sig_turn_failed) as blocker:
        client.submit(TurnRequest(text="hi"))
    assert blocker.args[1] == "The models are not loaded yet."


def test_restore_and_clear_run_in_order(qtbot, make_client) -> None:  # type: ignore[no-untyped-def]
    client, holder = make_client()
    with wait_signal(qtbot, client.worker.sig_model_loaded):
        client.load()
    with wait_signal(qtbot, client.worker.sig_history_restored) as blocker:
        client.restore({"turns": [{"user": "a", "assistant": "b"}]})
    assert blocker.args == [True, ""]
    assert holder["assistant"].history_json()["turns"] == [{"user": "a", "assistant": "b"}]
    with wait_signal(qtbot, client.worker.sig_history_restored):
        client.clear()
        client.restore(None)
    assert holder["assistant"].history_json()["turns"] == []


def test_worker_lives_in_its_own_thread(qtbot, make_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = make_client()
    assert client.worker.thread() is client.thread
    assert client.thread is not QThread.currentThread()
