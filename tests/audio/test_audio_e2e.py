"""End-to-end tier: real PortAudio streams through a private PulseAudio daemon with virtual devices.

scripts/pulse_env.sh starts the daemon (sink ``vspeaker``, source ``vmic`` fed by sink ``vmic_sink``); ``paplay`` plays a
recorded utterance into the virtual microphone and ``parec`` records what we play on the virtual speaker. Skips with the
reason when the PulseAudio tools or PortAudio are not installed; the daemon is always stopped afterwards.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf


pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SPEECH_WAV = REPO / "tests" / "data" / "speech_beach_16k.wav"


def _pulse_device(direction: str) -> Any:
    """The PortAudio device that goes through PulseAudio ("pulse"), else the default."""
    from anygpt_desktop.audio.devices import list_devices

    names = [d.name for d in list_devices(direction)]  # type: ignore[arg-type]
    return "pulse" if "pulse" in names else None


def test_virtual_microphone_utterance_is_detected(pulse: dict[str, str]) -> None:
    from anygpt_desktop.audio.capture import Microphone
    from anygpt_desktop.audio.vad import Endpointer, SpeechEnded, SpeechStarted

    speech_s = sf.info(SPEECH_WAV).duration
    ep = Endpointer()
    events: list[Any] = []
    with Microphone(device=_pulse_device("input"), stall_timeout_s=5.0) as mic:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.5:  # some silence first
            chunk = mic.read(timeout=0.5)
            if chunk is not None:
                events += ep.feed_audio(chunk)
        player = subprocess.Popen(["paplay", "--device=vmic_sink", str(SPEECH_WAV)])
        try:
            deadline = time.monotonic() + speech_s + 6.0
            while time.monotonic() < deadline and not any(isinstance(e, SpeechEnded) for e in events):
                chunk = mic.read(timeout=0.5)
                if chunk is not None:
                    events += ep.feed_audio(chunk)
        finally:
            player.wait(timeout=15)
        level = mic.level_dbfs
    assert player.returncode == 0
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded], events
    utt = events[1]
    assert utt.reason == "silence"
    assert speech_s - 0.6 <= utt.duration_s <= speech_s + 1.0, (utt.duration_s, speech_s)
    assert np.abs(utt.utterance).max() > 0.05  # real sound, not silence
    assert level <= -60  # the microphone is quiet again after the utterance


def _record_speaker(seconds: float, play: Any) -> np.ndarray:
    """Record ``seconds`` of vspeaker.monitor (16 kHz mono) with parec, calling ``play()`` once parec delivers audio.

    A fixed number of bytes is read from parec's pipe: parec delivers in bursts and loses what it buffered when it
    is killed, so a wall-clock recording window would be unreliable.
    """
    need = int(seconds * 16000) * 2
    buf = bytearray()
    rec = subprocess.Popen(
        ["parec", "-d", "vspeaker.monitor", "--format=s16le", "--rate=16000", "--channels=1", "--raw",
         "--latency-msec=100"],
        stdout=subprocess.PIPE,
    )

    def reader() -> None:
        assert rec.stdout is not None
        while len(buf) < need:
            block = rec.stdout.read1(65536)
            if not block:
                break
            buf.extend(block)

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        deadline = time.monotonic() + 10
        while not buf and time.monotonic() < deadline:
            time.sleep(0.02)
        assert buf, "parec delivered nothing in 10 s"
        play()
        th.join(timeout=seconds + 10)
    finally:
        rec.terminate()
        rec.wait(timeout=10)
    assert len(buf) >= need, f"parec delivered {len(buf)} of {need} bytes"
    return np.frombuffer(bytes(buf[:need]), dtype=np.int16).astype(np.float32) / 32768.0


def _loud_span_s(x: np.ndarray, sr: int = 16000) -> float:
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > 0.05)
    return 0.0 if len(loud) == 0 else (loud[-1] - loud[0] + 1) * 0.01


def test_streaming_playback_is_heard_on_the_virtual_speaker(pulse: dict[str, str]) -> None:
    from anygpt_desktop.audio.playback import StreamingPlayer

    sr = 22050
    t = np.arange(sr) / sr
    tone = (0.5 * np.sin(2 * np.pi * 880 * t)).astype(np.float32)
    player = StreamingPlayer(device=_pulse_device("output"))

    def play() -> None:
        for i in range(0, len(tone), sr // 10):  # 100 ms chunks, as a synthesiser would deliver them
            player.feed(tone[i : i + sr // 10], sr)
        player.end()
        assert player.wait(timeout=10), "playback never finished"
        assert not player.interrupted and player.error is None
        assert player.position_s == pytest.approx(1.0, abs=0.05)

    try:
        rec = _record_speaker(3.0, play)
    finally:
        player.close()
    spec = np.abs(np.fft.rfft(rec * np.hanning(len(rec))))
    freqs = np.fft.rfftfreq(len(rec), 1 / 16000)
    assert freqs[int(np.argmax(spec))] == pytest.approx(880, abs=5)
    band = spec[(freqs > 860) & (freqs < 900)] ** 2
    assert band.sum() / (spec**2).sum() > 0.9  # the energy is at 880 Hz
    assert 0.85 <= _loud_span_s(rec) <= 1.3


def test_stop_interrupts_real_playback(pulse: dict[str, str]) -> None:
    from anygpt_desktop.audio.playback import StreamingPlayer

    t = np.arange(16000 * 4) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    player = StreamingPlayer(device=_pulse_device("output"), jitter_buffer=False)  # plays what is queued at once

    stopped_at: list[float] = []

    def play() -> None:
        player.feed(tone, 16000)  # 4 s queued at once
        deadline = time.monotonic() + 30  # wait for the device to take half a second of it (an event, not a time)
        while player.position_s < 0.5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert player.position_s >= 0.5, "playback never started"
        player.stop()
        stopped_at.append(player.position_s)
        assert player.finished.is_set() and player.interrupted

    try:
        rec = _record_speaker(3.0, play)
    finally:
        player.close()
    # what was heard is what had been handed to the device when Stop came (plus the device's buffer), not 4 s
    assert stopped_at[0] < 2.0, f"the check needs Stop well before the end of the 3 s recording ({stopped_at[0]:.2f} s)"
    assert 0.2 <= _loud_span_s(rec) <= stopped_at[0] + 0.5, (_loud_span_s(rec), stopped_at)
