"""The app's factory puts the models in the engine process by default; closing the worker ends the child."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from anygpt_desktop.engine.requests import TurnRequest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")



def _wait(app, predicate, timeout_s: float = 600.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    return predicate()


@pytest.mark.slow
def test_the_worker_runs_a_turn_through_the_engine_process_and_closing_ends_it(tiny_models: Path, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QApplication  # not QCoreApplication: a later widget test in this run needs it

    from anygpt_desktop.app.main import engine_factory
    from anygpt_desktop.app.worker import EngineClient
    from anygpt_desktop.engine_process import RemoteAssistant
    from engine_doubles import tiny_settings
    from test_engine_process import pid_gone

    app = QApplication.instance() or QApplication([])
    client = EngineClient(engine_factory(tiny_models, demo=False, device="cpu"))
    client.worker.settings = tiny_settings(tmp_path)
    seen: dict = {"text": "", "chunks": 0, "history": []}
    w = client.worker
    w.sig_model_loaded.connect(lambda s: seen.__setitem__("loaded", True))
    w.sig_model_failed.connect(lambda r, c: seen.__setitem__("failed", r))
    w.sig_model_device.connect(lambda d, t: seen.__setitem__("device", d))
    w.sig_text_updated.connect(lambda t, d: seen.__setitem__("text", seen["text"] + d))
    w.sig_speech_chunk_ready.connect(lambda t, a, sr, f: seen.__setitem__("chunks", seen["chunks"] + 1))
    w.sig_turn_finished.connect(lambda t, d: seen.__setitem__("done", d))
    w.sig_turn_failed.connect(lambda t, r, c: seen.__setitem__("failed", r))
    w.sig_history_saved.connect(lambda t, h: seen["history"].append(h))
    try:
        client.load()
        assert _wait(app, lambda: "loaded" in seen or "failed" in seen) and "loaded" in seen, seen
        assert seen["device"] == "cpu"
        remote = client.worker.assistant
        assert isinstance(remote, RemoteAssistant) and remote.pid not in (None, os.getpid())
        pid = remote.pid
        client.submit(TurnRequest(text="hello", output_modality="speech"))
        assert _wait(app, lambda: "done" in seen or "failed" in seen) and "done" in seen, seen
        assert seen["text"] and seen["chunks"] > 0
        assert _wait(app, lambda: bool(seen["history"])) and len(seen["history"][-1]["messages"]) == 2
    finally:
        assert client.shutdown(timeout_ms=60_000)
    assert pid_gone(pid)  # the worker thread's end took the engine process with it


def test_the_factory_chooses_the_design(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from anygpt_desktop.app.main import engine_factory
    from anygpt_desktop.cli import build_parser
    from anygpt_desktop.engine.assistant import Assistant
    from anygpt_desktop.engine_process import RemoteAssistant

    assert isinstance(engine_factory(tmp_path, demo=False, device="cpu")(), RemoteAssistant)  # the default
    assert isinstance(engine_factory(tmp_path, demo=False, device="cpu", engine="inprocess")(), Assistant)
    monkeypatch.setenv("ANYGPT_ENGINE", "inprocess")
    assert isinstance(engine_factory(tmp_path, demo=False, device="cpu")(), Assistant)
    assert isinstance(engine_factory(tmp_path, demo=False, device="cpu", engine="process")(), RemoteAssistant)
    with pytest.raises(ValueError, match="unknown engine"):
        engine_factory(tmp_path, demo=False, device="cpu", engine="cloud")
    assert build_parser().parse_args(["--engine", "inprocess"]).engine == "inprocess"
    assert build_parser().parse_args([]).engine is None
