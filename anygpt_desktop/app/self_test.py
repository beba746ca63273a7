"""``anygpt-desktop --self-test``: the whole voice path headless, with a WAV file as the microphone.

The WAV (a bundled utterance, or ``$ANYGPT_SELF_TEST_WAV``) is fed in 30 ms blocks through the hands-free endpointer,
the detected utterance goes through the app's engine worker thread to the engine process (``--engine inprocess``: in
this process; demo mode: the tiny kit, unless ``--models`` is given), and the spoken reply is streamed into the
playback queue without a sound card. Prints a summary; exit 0/1.
Every stage must produce something: an empty transcript, reply text or spoken reply fails the test (on the random demo
models an empty transcript is reported as skipped: they need not write one). No progress bars are printed (the summary
is the output).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject

from anygpt_desktop.audio.files import read_audio
from anygpt_desktop.audio.vad import Endpointer, SpeechEnded, VadConfig

logger = logging.getLogger(__name__)

BUNDLED_WAV = Path(__file__).resolve().parent / "data" / "self_test_speech.wav"
LOAD_TIMEOUT_S = 900.0
TURN_TIMEOUT_S = 600.0


def detect_utterance(wav: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Feed ``wav`` (16 kHz) like a microphone, then 1.5 s of silence; the first utterance and how many were found."""
    vad = Endpointer(VadConfig())
    block = 480
    stream = np.concatenate([np.zeros(8000, np.float32), wav, np.zeros(24000, np.float32)])
    ended: list[SpeechEnded] = []
    for i in range(0, len(stream), block):
        ended += [e for e in vad.feed_audio(stream[i : i + block]) if isinstance(e, SpeechEnded)]
    ended += [e for e in vad.flush() if isinstance(e, SpeechEnded)]
    return (ended[0].utterance if ended else None), len(ended)


def _wait(app: Any, predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.01)
    return True


class _Collector(QObject):
    """Gathers the worker's signals in the main thread (its methods are queued there, never run in the worker)."""

    def __init__(self) -> None:
        super().__init__()
        self.state: dict[str, Any] = {"speech": [], "text": "", "transcript": "", "media": []}

    def listen(self, w: Any) -> None:
        w.sig_model_loaded.connect(self.on_loaded)
        w.sig_model_failed.connect(self.on_load_failed)
        w.sig_text_updated.connect(self.on_text)
        w.sig_transcript_updated.connect(self.on_transcript)
        w.sig_speech_chunk_ready.connect(self.on_speech)
        w.sig_image_ready.connect(self.on_image)
        w.sig_music_ready.connect(self.on_music)
        w.sig_turn_finished.connect(self.on_done)
        w.sig_turn_failed.connect(self.on_failed)

    def on_loaded(self, seconds: float) -> None:
        self.state["loaded"] = seconds

    def on_load_failed(self, reason: str, _cancelled: bool) -> None:
        self.state["load_failed"] = reason

    def on_text(self, _tid: int, delta: str) -> None:
        self.state["text"] += delta

    def on_transcript(self, _tid: int, delta: str) -> None:
        self.state["transcript"] += delta

    def on_speech(self, _tid: int, audio: Any, sample_rate: int, _final: bool) -> None:
        self.state["speech"].append((time.perf_counter(), len(audio) / sample_rate))

    def on_image(self, _tid: int, path: str, _w: int, _h: int) -> None:
        self.state["media"].append(path)

    def on_music(self, _tid: int, path: str, _seconds: float) -> None:
        self.state["media"].append(path)

    def on_done(self, _tid: int, done: Any) -> None:
        self.state["done"] = done

    def on_failed(self, _tid: int, reason: str, _cancelled: bool) -> None:
        self.state["failed"] = reason


def run_self_test(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QCoreApplication

    from anygpt_desktop.app import engines
    from anygpt_desktop.app.worker import EngineClient
    from anygpt_desktop.engine.requests import TurnRequest

    from anygpt_desktop.cli import disable_progress_bars

    disable_progress_bars()  # model loading would draw tqdm bars into the report
    app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
    lines: list[str] = []
    ok = True

    def report(name: str, passed: bool, detail: str) -> None:
        nonlocal ok
        ok = ok and passed
        lines.append(f"[{'ok' if passed else 'FAIL'}] {name}: {detail}")

    wav_path = Path(os.environ.get("ANYGPT_SELF_TEST_WAV") or BUNDLED_WAV)
    try:
        wav = read_audio(wav_path, 16000).wav
    except Exception as exc:
        report("microphone input", False, f"{wav_path}: {exc}")
        return _finish(lines, False)
    utterance, count = detect_utterance(wav)
    report("voice activity detection", utterance is not None,
           f"{count} utterance(s) in {len(wav) / 16000:.2f} s of input; the first is {len(utterance) / 16000:.2f} s "
           "with pre-roll and tail"
           if utterance is not None else "no speech detected")
    if utterance is None:
        return _finish(lines, False)

    demo = bool(getattr(args, "demo", False) or not getattr(args, "models", None))
    models_dir = engines.demo_models_dir() if demo else engines.choose_models_dir(args, None)
    engine = getattr(args, "engine", None)
    client = EngineClient(engines.engine_factory(models_dir, demo=demo, device=None, engine=engine))
    collector = _Collector()
    state = collector.state
    collector.listen(client.worker)
    try:
        start = time.perf_counter()
        client.load()
        _wait(app, lambda: "loaded" in state or "load_failed" in state, LOAD_TIMEOUT_S)
        if "loaded" not in state:
            report("models", False, f"{models_dir}: {state.get('load_failed', 'timed out')}")
            return _finish(lines, False)
        report("models", True, f"{'demo kit' if demo else 'models'} in {models_dir} loaded in {time.perf_counter() - start:.1f} s")
        pid = getattr(client.worker.assistant, "pid", None)
        lines.append(f"      engine: {f'a separate process (pid {pid})' if pid else 'inside this process'}")
        if os.environ.get("ANYGPT_LLM_URL"):
            lines.append(f"      LLM: on the vLLM server at {os.environ['ANYGPT_LLM_URL']}")
        start = time.perf_counter()
        client.submit(TurnRequest(speech=utterance, output_modality="speech"))
        _wait(app, lambda: "done" in state or "failed" in state, TURN_TIMEOUT_S)
        total = time.perf_counter() - start
        if "done" not in state:
            report("turn", False, state.get("failed", f"no reply within {TURN_TIMEOUT_S:.0f} s"))
            return _finish(lines, False)
        done = state["done"]
        spoken = sum(s for _t, s in state["speech"])
        first = (state["speech"][0][0] - start) if state["speech"] else None
        transcript = (done.transcript or state["transcript"]).strip()
        reply = (done.reply_text or state["text"]).strip()
        report("turn", True, f"{total:.2f} s")
        if transcript or not demo:
            report("transcript", bool(transcript), f"{len(transcript)} chars" if transcript else "nothing was heard (0 chars)")
        else:  # random weights need not write what they heard; not a pass either
            lines.append("[skip] transcript: 0 chars (the random demo models need not write one; real models must)")
        report("reply text", bool(reply), f"{len(reply)} chars" if reply else "the reply has no text (0 chars)")
        report("spoken reply", spoken > 0,
               f"{len(state['speech'])} chunks, {spoken:.2f} s of audio" + (f", first after {first:.2f} s" if first else ""))
        if done.timings:
            lines.append("      timings: " + ", ".join(f"{k}={v:.3f}" for k, v in done.timings.items()))
    finally:
        client.shutdown(timeout_ms=30000)
        close = getattr(client.worker.assistant, "shutdown", None)
        if close is not None:
            close()  # the engine process ends with the self-test
    return _finish(lines, ok)


def _finish(lines: list[str], ok: bool) -> int:
    out = "\n".join(["AnyGPT Desktop self-test", *lines, "PASSED" if ok else "FAILED"])
    sys.stdout.write(out + "\n")  # the summary is this command's output (library code logs)
    sys.stdout.flush()
    return 0 if ok else 1
