"""The headless self-test: a WAV as the microphone through the VAD and the engine worker (fake engine here; the real
tiny pipeline takes minutes on CPU and is run by `anygpt-desktop --self-test`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from fake_assistant import FakeAssistant

from anygpt_desktop.app import engines as app_engines
from anygpt_desktop.app import self_test
from anygpt_desktop.audio.files import read_audio


def test_the_bundled_utterance_is_detected() -> None:
    wav = read_audio(self_test.BUNDLED_WAV, 16000).wav
    utterance, count = self_test.detect_utterance(wav)
    assert count == 1 and utterance is not None
    assert 0.5 * len(wav) < len(utterance) < len(wav) + 16000


def test_silence_is_not_an_utterance() -> None:
    utterance, count = self_test.detect_utterance(np.zeros(32000, np.float32))
    assert utterance is None and count == 0


def _args() -> argparse.Namespace:
    return argparse.Namespace(models=None, demo=True, self_test=True, verbose=False)


def test_self_test_passes_with_a_working_engine(monkeypatch, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(app_engines, "engine_factory", lambda d, demo, device, **_: (lambda: FakeAssistant(d, out_dir=tmp_path)))
    assert self_test.run_self_test(_args()) == 0
    out = capsys.readouterr().out
    assert "[ok] voice activity detection: 1 utterance" in out
    assert "[ok] spoken reply: 3 chunks" in out and out.rstrip().endswith("PASSED")


def test_self_test_fails_readably_when_the_models_do_not_load(monkeypatch, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(
        app_engines, "engine_factory",
        lambda d, demo, device, **_: (lambda: FakeAssistant(d, out_dir=tmp_path, fail_load="The chat model is missing.")),
    )
    assert self_test.run_self_test(_args()) == 1
    out = capsys.readouterr().out
    assert "[FAIL] models" in out and "The chat model is missing." in out and out.rstrip().endswith("FAILED")


def test_missing_models_are_explained_not_crashed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from anygpt_desktop.engine.llm import ModelLoadError
    from anygpt_desktop.engine_process import EngineError

    for engine, error in (("inprocess", ModelLoadError), ("process", EngineError)):
        assistant = app_engines.engine_factory(tmp_path / "empty", demo=False, device="cpu", engine=engine)()
        with pytest.raises(error, match="model manager"):
            assistant.load()


class DeafAssistant(FakeAssistant):
    """Replies, but hears nothing: no transcript."""

    def turn(self, request, state):  # type: ignore[no-untyped-def]
        import dataclasses

        from anygpt_desktop.engine.events import TranscriptDelta, TurnDone

        for ev in super().turn(request, state):
            if isinstance(ev, TranscriptDelta):
                continue
            yield dataclasses.replace(ev, transcript="") if isinstance(ev, TurnDone) else ev


def test_a_stage_that_produced_nothing_fails(monkeypatch, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(app_engines, "engine_factory", lambda d, demo, device, **_: (lambda: DeafAssistant(d, out_dir=tmp_path)))
    real_models = argparse.Namespace(models=str(tmp_path / "models"), demo=False, self_test=True, verbose=False)
    assert self_test.run_self_test(real_models) == 1
    out = capsys.readouterr().out
    assert "[FAIL] transcript: nothing was heard (0 chars)" in out and "[ok] reply text" in out
    assert out.rstrip().endswith("FAILED")
    assert self_test.run_self_test(_args()) == 0  # the random demo models need not write a transcript: skipped
    out = capsys.readouterr().out
    assert "[skip] transcript: 0 chars" in out and "[ok] transcript" not in out
    monkeypatch.setattr(
        app_engines, "engine_factory", lambda d, demo, device, **_: (lambda: FakeAssistant(d, out_dir=tmp_path, speech_chunks=0))
    )
    assert self_test.run_self_test(_args()) == 1
    out = capsys.readouterr().out
    assert "[ok] transcript: " in out and "[FAIL] spoken reply: 0 chunks" in out


def test_the_report_has_no_progress_bars(monkeypatch, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import os

    monkeypatch.setattr(app_engines, "engine_factory", lambda d, demo, device, **_: (lambda: FakeAssistant(d, out_dir=tmp_path)))
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert self_test.run_self_test(_args()) == 0
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1" and os.environ["TQDM_DISABLE"] == "1"
    from transformers.utils import logging as hf_logging

    assert not hf_logging.is_progress_bar_enabled()
