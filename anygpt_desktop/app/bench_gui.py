"""``anygpt-desktop bench gui`` (in ``app``: it measures the Qt event loop): how much a busy turn disturbs the GUI's
event loop and an audio callback, for the
in-process design (the models in the GUI's worker QThread) and the engine-process design, side by side.

For each design the app's own ``EngineClient`` loads the models (not measured), then one spoken turn with a spoken
reply runs while a 10 ms ``QTimer`` records the intervals between its ticks (the event loop's largest gap) and a
Python thread woken every 10 ms, like PortAudio's callback, records how late each wake-up came (it needs the GIL, as
the real callback does). Engine events arrive as the GUI would get them (queued signals, audio chunks included).
``--full-size --llm-layers N`` builds the released architectures with random weights instead of the tiny kit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject

TIMER_MS = 10
CALLBACK_PERIOD_S = 0.010
TURN_TIMEOUT_S = 3600.0
_LAYERS_ENV = "ANYGPT_BENCH_LLM_LAYERS"


class CallbackClock:
    """A thread that wakes every ``period`` seconds and records how late each wake-up was (seconds)."""

    def __init__(self, period: float = CALLBACK_PERIOD_S) -> None:
        self.period = period
        self.lateness: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-audio-callback", daemon=True)

    def _run(self) -> None:
        start = time.perf_counter()
        k = 1
        while not self._stop.is_set():
            due = start + k * self.period
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            now = time.perf_counter()
            self.lateness.append(max(0.0, now - due))
            k = max(k + 1, int((now - start) / self.period) + 1)  # a late callback does not queue up the missed ones

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def build_full_size(models_dir: str, device: str | None) -> Any:
    """``--full-size``: an ``Assistant`` whose ``load`` builds the released architectures with random weights
    (``$ANYGPT_BENCH_LLM_LAYERS`` LLM layers), in whichever process loads it."""
    from anygpt_desktop.engine.assistant import Assistant

    class FullSizeAssistant(Assistant):
        def load(self, state: Any = None, llm_folder: Any = None) -> None:
            from anygpt_desktop.bench.turn import _full_size_assistant
            from anygpt_desktop.engine.llm import pick_device

            if state is not None:
                state.progress(0.1, "building the full-size models")
            built = _full_size_assistant(pick_device(device), int(os.environ.get(_LAYERS_ENV, "32")), Path(models_dir))
            self.llm, self._loop, self.media = built.llm, built._loop, built.media
            if state is not None:
                state.progress(1.0, "ready")

    return FullSizeAssistant(Path(models_dir) / "no-models", device=device)


def _settings(out: Path, speech_units: int) -> Any:
    from anygpt_desktop.engine.assistant import AssistantSettings
    from anygpt_desktop.engine.decode_loop import DecodeSettings

    return AssistantSettings(seed=0, output_dir=out, decode=DecodeSettings(
        max_text_tokens=60, max_text_before_span=30, max_speech_units=speech_units, min_speech_units=speech_units))


def _record(app: Any, run: Any) -> dict[str, Any]:
    """The timer's gaps and the callback's lateness (ms) while ``run(app)`` runs the event loop."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick() -> None:
        now = clock.nsecsElapsed()
        gaps.append((now - last[0]) / 1e6)
        last[0] = now

    timer = QTimer()
    timer.setTimerType(timer.timerType().PreciseTimer)
    timer.setInterval(TIMER_MS)
    timer.timeout.connect(tick)
    callback = CallbackClock()
    callback.start()
    timer.start()
    try:
        run(app)
    finally:
        timer.stop()
        callback.stop()
    late_ms = [x * 1000 for x in callback.lateness]
    return {"gap_max": max(gaps[1:], default=float("nan")), "gap_p95": _percentile(gaps[1:], 95), "ticks": len(gaps),
            "late_max": max(late_ms, default=float("nan")), "late_p95": _percentile(late_ms, 95),
            "wakeups": len(late_ms)}


IDLE_S = 5.0


def idle(app: Any) -> dict[str, Any]:
    """The same figures with no turn running: what the machine itself adds."""
    from PySide6.QtCore import QEventLoop, QTimer

    def run(_app: Any) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(IDLE_S * 1000), loop.quit)
        loop.exec()

    return {"design": "idle (no turn)", **_record(app, run)}


def measure(design: str, factory: Any, settings: Any, request: Any, app: Any) -> dict[str, Any]:
    """Load (unmeasured), then one turn under the timer and the callback clock."""
    from PySide6.QtCore import QEventLoop

    from anygpt_desktop.app.worker import EngineClient

    client = EngineClient(factory)
    client.worker.settings = settings
    seen = _Seen()
    seen.listen(client.worker)

    def wait(predicate: Any) -> None:
        deadline = time.monotonic() + TURN_TIMEOUT_S
        while not predicate() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)

    try:
        client.load()
        wait(lambda: "loaded" in seen or "failed" in seen)
        if "loaded" not in seen:
            return {"design": design, "error": seen.get("failed", "no answer")}

        def run_turn(_app: Any) -> None:
            loop = QEventLoop()  # the real event loop, as the app's (no polling of our own)
            client.worker.sig_turn_finished.connect(loop.quit)
            client.worker.sig_turn_failed.connect(loop.quit)
            client.submit(request)
            loop.exec()

        start = time.perf_counter()
        figures = _record(app, run_turn)
        turn_s = time.perf_counter() - start
        if "done" not in seen:
            return {"design": design, "error": seen.get("failed", "no answer")}
        return {"design": design, "turn_s": turn_s, "chunks": seen["chunks"], "audio_s": seen["audio_s"], **figures}
    finally:
        client.shutdown(timeout_ms=60000)
        close = getattr(client.worker.assistant, "shutdown", None)
        if close is not None:
            close()
        client.worker.assistant = None


def run(args: argparse.Namespace) -> int:
    out = Path(tempfile.mkdtemp(prefix="anygpt-bench-gui-"))
    try:
        return _run(args, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


class _Seen(QObject):
    """What the worker reported, recorded by slots of this GUI-thread object (queued from the engine thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, Any] = {"chunks": 0, "audio_s": 0.0}

    def listen(self, w: Any) -> None:
        w.sig_model_loaded.connect(self.on_loaded)
        w.sig_model_failed.connect(self.on_load_failed)
        w.sig_speech_chunk_ready.connect(self.on_chunk)
        w.sig_turn_finished.connect(self.on_finished)
        w.sig_turn_failed.connect(self.on_turn_failed)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def on_loaded(self, seconds: float) -> None:
        self.values["loaded"] = seconds

    def on_load_failed(self, reason: str, _cancelled: bool) -> None:
        self.values["failed"] = reason

    def on_chunk(self, _tid: int, audio: Any, rate: int, _final: bool) -> None:
        self.values["chunks"] += 1
        self.values["audio_s"] += len(audio) / rate

    def on_finished(self, _tid: int, done: Any) -> None:
        self.values["done"] = done

    def on_turn_failed(self, _tid: int, reason: str, _cancelled: bool) -> None:
        self.values["failed"] = reason


def _run(args: argparse.Namespace, out: Path) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication

    from anygpt_desktop.engine.requests import TurnRequest
    from anygpt_desktop.engine_process import EngineOptions, RemoteAssistant

    app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
    device = getattr(args, "device", None)
    speech_s = getattr(args, "speech_seconds", None) or (2.0 if getattr(args, "full_size", False) else 10.0)
    speech_units = int(round(50 * speech_s))
    if getattr(args, "full_size", False):
        layers = getattr(args, "llm_layers", None) or 32
        os.environ[_LAYERS_ENV] = str(layers)  # the engine process inherits it
        models = str(out)
        what = f"full size, random weights ({layers} LLM layers)"
        target = "anygpt_desktop.app.bench_gui:build_full_size"
    else:
        models = getattr(args, "models", None)
        if not models:
            from anygpt_desktop.tiny_kit import make_tiny

            models = str(make_tiny(out / "tiny", seed=0))
        what = f"models in {models}"
        target = "anygpt_desktop.engine_process.child:build_assistant"
    rate = 16000
    t = np.arange(3 * rate) / rate
    utterance = (0.3 * np.sin(2 * np.pi * 200 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    request = TurnRequest(speech=utterance, output_modality="speech")
    settings = _settings(out, speech_units)
    if device:
        settings.device = device
    from anygpt_desktop.lazy import load_target

    nice = EngineOptions().nice
    designs = {
        "in-process (QThread)": lambda: load_target(target)(models, device),
        f"engine process (nice {nice})": lambda: RemoteAssistant(models, device=device,
                                                               options=EngineOptions(assistant_factory=target)),
    }
    if nice != 0:
        designs["engine process (nice 0)"] = lambda: RemoteAssistant(
            models, device=device, options=EngineOptions(assistant_factory=target, nice=0))
    print(f"bench gui: {what}; one spoken turn (3 s in, up to {speech_s:.0f} s of speech out); "
          f"{os.cpu_count()} CPUs; {TIMER_MS} ms QTimer, {CALLBACK_PERIOD_S * 1000:.0f} ms simulated audio callback")
    rows = [idle(app)] + [measure(name, make, settings, request, app) for name, make in designs.items()]
    print(f"  {'design':22} {'event-loop gap':>22} {'callback lateness':>24} {'turn':>8} {'speech':>14}")
    print(f"  {'':22} {'max':>10} {'p95':>11} {'max':>11} {'p95':>12}")
    for r in rows:
        if "error" in r:
            print(f"  {r['design']:22} failed: {r['error']}")
            continue
        if "turn_s" not in r:
            print(f"  {r['design']:22} {r['gap_max']:7.1f} ms {r['gap_p95']:7.1f} ms {r['late_max']:8.1f} ms "
                  f"{r['late_p95']:8.2f} ms   (this machine's own noise, {IDLE_S:.0f} s)")
            continue
        print(f"  {r['design']:22} {r['gap_max']:7.1f} ms {r['gap_p95']:7.1f} ms {r['late_max']:8.1f} ms "
              f"{r['late_p95']:8.2f} ms {r['turn_s']:6.2f} s {r['audio_s']:5.1f} s ({r['chunks']} chunks)")
    return 0 if all("error" not in r for r in rows) else 1
