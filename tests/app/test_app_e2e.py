"""End to end through real sound devices: the app in demo mode (the tiny kit, the real Assistant) listens hands-free on
a virtual microphone, hears a recorded utterance, runs a turn and speaks the reply on a virtual speaker.

scripts/pulse_env.sh starts a private PulseAudio daemon (sink ``vspeaker``; source ``vmic`` fed by sink ``vmic_sink``);
``paplay`` plays the utterance into the microphone and ``parec`` records ``vspeaker.monitor``. Skips with the reason
when the PulseAudio tools or PortAudio are missing; the daemon is always stopped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf


pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SPEECH_WAV = REPO / "tests" / "data" / "speech_beach_16k.wav"


class SpeakerRecorder:
    """``parec`` on vspeaker.monitor (16 kHz mono s16) into memory, from ``start`` until ``stop``."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.proc = subprocess.Popen(
            ["parec", "-d", "vspeaker.monitor", "--format=s16le", "--rate=16000", "--channels=1", "--raw",
             "--latency-msec=50"], stdout=subprocess.PIPE)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            block = self.proc.stdout.read1(65536)
            if not block:
                return
            self.buf.extend(block)

    def wait_started(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.buf and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.buf, "parec delivered nothing"

    def wait_for_more(self, seconds: float, qtbot) -> None:  # type: ignore[no-untyped-def]
        """Until parec has delivered ``seconds`` more of the speaker's stream (it streams silence too)."""
        need = len(self.buf) + int(seconds * 16000) * 2
        qtbot.waitUntil(lambda: len(self.buf) >= need, timeout=30_000)

    def stop(self) -> np.ndarray:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=5)
        data = bytes(self.buf[: len(self.buf) // 2 * 2])
        return np.frombuffer(data, dtype=np.int16).astype(np.float32) / 32768.0


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def loud_seconds(x: np.ndarray, threshold: float = 0.003) -> float:
    """How much of ``x`` (16 kHz) is above ``threshold`` RMS, in 10 ms windows."""
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    return float((np.sqrt((frames**2).mean(axis=1)) > threshold).sum()) * 0.01


def _pulse_device(direction: str) -> str | None:
    from anygpt_desktop.audio.devices import list_devices

    return "pulse" if "pulse" in [d.name for d in list_devices(direction)] else None  # type: ignore[arg-type]


def test_spoken_question_is_heard_answered_and_the_reply_is_heard(qtbot, pulse, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from anygpt_desktop.app.main import engine_factory
    from anygpt_desktop.app.main_window import MainWindow
    from anygpt_desktop.app.settings import AppSettings
    from anygpt_desktop.storage.history import HistoryStore

    t0 = time.perf_counter()
    settings = AppSettings(tmp_path / "settings.ini")
    for key, value in {"max_text_tokens": 10, "max_speech_units": 50, "output_folder": str(tmp_path / "out"),
                       "input_device": _pulse_device("input") or "", "output_device": _pulse_device("output") or "",
                       "device": "cpu"}.items():
        settings.set(key, value)
    window = MainWindow(engine_factory(tmp_path / "demo-models", demo=True, device="cpu"),
                        history=HistoryStore(tmp_path / "history"), settings=settings, demo=True)
    qtbot.addWidget(window)
    seen: dict[str, list[Any]] = {"speech_started": [], "utterances": [], "stored": [], "played": [], "errors": []}
    window.mic.sig_speech_started.connect(lambda: seen["speech_started"].append(time.perf_counter()))
    window.mic.sig_utterance_ready.connect(lambda a: seen["utterances"].append(len(a) / 16000))
    window.mic.sig_error_occurred.connect(seen["errors"].append)
    window.sig_turn_stored.connect(seen["stored"].append)
    window.audio_out.sig_playback_finished.connect(lambda what, interrupted: seen["played"].append((what, interrupted)))
    window.audio_out.sig_playback_failed.connect(seen["errors"].append)
    recorder = None
    try:
        window.show()
        assert window.mic.monitoring, seen["errors"]  # the virtual microphone is open from the start
        qtbot.waitUntil(lambda: window.model_state in ("ready", "failed"), timeout=120_000)
        assert window.model_state == "ready", window.banner.text()
        engine_pids = [window.engine.worker.assistant.pid]
        loaded = time.perf_counter()
        window.hands_free.setChecked(True)
        assert window.mic.hands_free
        recorder = SpeakerRecorder()
        recorder.wait_started()
        recorder.wait_for_more(0.3, qtbot)  # some room silence first
        speech_s = sf.info(SPEECH_WAV).duration
        player = subprocess.Popen(["paplay", "--device=vmic_sink", str(SPEECH_WAV)])
        qtbot.waitUntil(lambda: player.poll() is not None, timeout=30_000)
        assert player.returncode == 0
        try:
            qtbot.waitUntil(lambda: bool(seen["stored"]) and bool(seen["played"]), timeout=60_000)
        except Exception:
            raise AssertionError(f"no turn or no playback: {seen}, level {window.level.value()}, "
                                 f"state {window.model_state}, pending {list(window.pending)}") from None
        recorder.wait_for_more(0.5, qtbot)  # the end of the reply reaches parec
        heard = recorder.stop()
        recorder = None
    finally:
        if recorder is not None:
            recorder.stop()
        window.close()
    total = time.perf_counter() - t0
    # the VAD heard one utterance about as long as what was played
    assert len(seen["speech_started"]) == 1 and len(seen["utterances"]) == 1, seen
    assert speech_s - 0.6 <= seen["utterances"][0] <= speech_s + 1.2, (seen["utterances"], speech_s)
    # a turn ran and was stored with the spoken reply
    turns = window.history.turns(seen["stored"][0])
    assert [t.role for t in turns] == ["user", "assistant"] and not turns[1].interrupted
    assert [m.kind for m in turns[0].media] == ["speech"] and [m.kind for m in turns[1].media] == ["speech"]
    reply, sr = sf.read(turns[1].media[0].path, dtype="float32")
    reply_s = len(reply) / sr
    assert reply_s > 0.3 and np.abs(reply).max() > 0.01
    # ... and it was heard on the virtual speaker, as long as it is, not interrupted
    assert seen["played"][0][0].startswith("speech:") and seen["played"][0][1] is False
    assert 0.5 * reply_s <= loud_seconds(heard) <= reply_s + 0.5, (loud_seconds(heard), reply_s)
    print(f"e2e: {total:.1f} s in all ({loaded - t0:.1f} s to write and load the demo kit); "
          f"utterance {seen['utterances'][0]:.2f} s, reply {reply_s:.2f} s, heard {loud_seconds(heard):.2f} s loud")
    # the models ran in the engine process (the app's default), which ends with the window
    assert engine_pids and engine_pids[0] != os.getpid()
    qtbot.waitUntil(lambda: all(pid_gone(pid) for pid in engine_pids), timeout=60_000)
