"""anygpt_desktop.audio.capture (with fake streams) and the lazy sounddevice loading in anygpt_desktop.audio.devices."""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from anygpt_desktop.audio import capture, devices
from anygpt_desktop.audio.capture import Microphone, rms_dbfs
from anygpt_desktop.audio.errors import AudioBackendUnavailableError, MicrophoneError, NoMicrophoneError


def test_rms_dbfs() -> None:
    t = np.arange(16000) / 16000
    assert rms_dbfs(np.sin(2 * np.pi * 440 * t)) == pytest.approx(-3.01, abs=0.02)
    assert rms_dbfs(0.1 * np.sin(2 * np.pi * 440 * t)) == pytest.approx(-23.01, abs=0.02)
    assert rms_dbfs(np.zeros(100)) == -100.0
    assert rms_dbfs(np.zeros(0)) == -100.0


def test_chunks_reach_the_queue_and_the_callback(fake_factory: Any, signals: Any) -> None:
    seen: list[np.ndarray] = []
    mic = Microphone(stream_factory=fake_factory, on_audio=seen.append)
    mic.start()
    stream = fake_factory.stream
    assert stream.started and stream.kwargs["samplerate"] == 16000 and stream.kwargs["blocksize"] == 480
    assert stream.kwargs["channels"] == 1 and stream.kwargs["dtype"] == "float32"
    audio = signals.tone(440, 0.3, 16000, amp=0.1)
    for i in range(0, len(audio), 480):
        stream.push(audio[i : i + 480])
    got = mic.read_available()
    assert len(got) == 10 and len(seen) == 10
    np.testing.assert_array_equal(np.concatenate(got), audio)
    assert mic.level_dbfs == pytest.approx(-23.0, abs=0.3)
    assert mic.read(timeout=0) is None  # nothing more queued
    mic.stop()
    assert stream.closed and not mic.running
    mic.stop()  # twice is fine


def test_device_refusing_16k_is_resampled(make_factory: Any, signals: Any) -> None:
    factory = make_factory(refuse=(16000,))
    mic = Microphone(stream_factory=factory, device_rate=48000)
    mic.start()
    assert factory.attempts == [16000, 48000] and mic.stream_rate == 48000
    assert factory.stream.kwargs["blocksize"] == 1440
    audio = signals.tone(1000, 1.0, 48000, amp=0.3)
    for i in range(0, len(audio), 1440):
        factory.stream.push(audio[i : i + 1440])
    out = np.concatenate(mic.read_available())
    assert 15000 <= len(out) <= 16000  # the streaming resampler holds back a few ms
    assert signals.dominant_frequency(out, 16000) == pytest.approx(1000, abs=5)
    mic.stop()


def test_unopenable_device(make_factory: Any) -> None:
    mic = Microphone(stream_factory=make_factory(refuse=(16000,)))
    with pytest.raises(MicrophoneError, match="could not be opened"):
        mic.start()
    assert not mic.running


def test_device_disappearing_mid_recording(fake_factory: Any) -> None:
    errors: list[MicrophoneError] = []
    mic = Microphone(stream_factory=fake_factory, on_error=errors.append)
    mic.start()
    fake_factory.stream.push(np.full(480, 0.1, np.float32))
    fake_factory.stream.vanish()
    assert len(errors) == 1 and "unplugged" in str(errors[0])
    # what was recorded before the failure is still delivered, then the error is raised (the caller keeps running)
    assert mic.read(timeout=0.1) is not None
    with pytest.raises(MicrophoneError, match="stopped while recording"):
        mic.read(timeout=0.1)
    with pytest.raises(MicrophoneError):
        mic.check()
    mic.stop()  # stopping a failed microphone is fine
    # a stop we asked for is not a failure
    mic2 = Microphone(stream_factory=fake_factory)
    mic2.start()
    mic2.stop()
    fake_factory.stream.kwargs["finished_callback"]()
    assert mic2.error is None


def test_stall_is_reported(fake_factory: Any) -> None:
    mic = Microphone(stream_factory=fake_factory, stall_timeout_s=0.05)
    mic.start()
    fake_factory.stream.push(np.zeros(480, np.float32))
    assert mic.read(timeout=0.01) is not None
    time.sleep(0.08)
    with pytest.raises(MicrophoneError, match="no sound"):
        mic.read(timeout=0.01)
    mic.stop()


def test_full_queue_drops_the_oldest_and_callbacks_never_raise(fake_factory: Any) -> None:
    def broken(_chunk: np.ndarray) -> None:
        raise RuntimeError("consumer bug")

    mic = Microphone(stream_factory=fake_factory, max_queue_s=0.09, on_audio=broken)  # room for 3 chunks
    mic.start()
    for i in range(5):
        fake_factory.stream.push(np.full(480, i / 10, np.float32))  # must not raise into the audio thread
    got = mic.read_available()
    assert [float(c[0]) for c in got] == pytest.approx([0.2, 0.3, 0.4])
    assert mic.dropped_chunks == 2
    mic.stop()


# -- devices / PortAudio loading ----------------------------------------------------------------------------------


def test_missing_portaudio_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import now fails like a missing libportaudio2
    with pytest.raises(AudioBackendUnavailableError, match="PortAudio"):
        devices.load_sounddevice()
    with pytest.raises(AudioBackendUnavailableError, match="libportaudio2|sounddevice"):
        Microphone().start()  # only using a device fails; importing the package did not


def _fake_sd(devs: list[dict[str, Any]]) -> SimpleNamespace:
    class PortAudioError(Exception):
        pass

    def query_devices(device: Any = None, kind: str | None = None) -> Any:
        if kind is None:
            return devs
        key = f"max_{kind}_channels"
        usable = [d for d in devs if d[key] > 0]
        if device is None:
            if not usable:
                raise PortAudioError("no default device")
            return usable[0]
        for d in usable:
            if d["index"] == device or (isinstance(device, str) and device in d["name"]):
                return d
        raise ValueError(f"No {kind} device matching {device!r}")

    return SimpleNamespace(
        PortAudioError=PortAudioError,
        query_devices=query_devices,
        query_hostapis=lambda: [{"name": "ALSA"}],
        InputStream=None,
    )


def _dev(index: int, name: str, inputs: int, outputs: int) -> dict[str, Any]:
    return {
        "index": index,
        "name": name,
        "hostapi": 0,
        "max_input_channels": inputs,
        "max_output_channels": outputs,
        "default_samplerate": 44100.0,
    }


def test_device_listing_and_missing_microphone(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_sd([_dev(0, "HDMI out", 0, 2), _dev(1, "USB mic", 1, 0), _dev(2, "pulse", 32, 32)])
    monkeypatch.setattr(devices, "load_sounddevice", lambda: fake)
    ins = devices.list_input_devices()
    assert [d.name for d in ins] == ["USB mic", "pulse"] and ins[0].is_default and not ins[1].is_default
    assert [d.name for d in devices.list_output_devices()] == ["HDMI out", "pulse"]
    assert devices.resolve_device("USB", "input")["index"] == 1
    with pytest.raises(NoMicrophoneError, match="'Blue Yeti' is not available.*USB mic, pulse"):
        devices.resolve_device("Blue Yeti", "input")

    none = _fake_sd([_dev(0, "HDMI out", 0, 2)])
    monkeypatch.setattr(devices, "load_sounddevice", lambda: none)
    monkeypatch.setattr(capture, "load_sounddevice", lambda: none)
    with pytest.raises(NoMicrophoneError, match="No microphone was found"):
        Microphone().start()
