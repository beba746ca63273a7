"""The window's microphone controller: the always-open stream keeps a pre-roll for push-to-talk, toggle mode, failures.

``CountingMic`` delivers one 30 ms chunk per call whose samples all hold the chunk's number, so an utterance tells
exactly which chunks it contains; tests drive the controller's poll directly (no wall clock)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shiboken6

from anygpt_desktop.app.mic import MicController
from anygpt_desktop.audio.errors import MicrophoneError, NoMicrophoneError
from anygpt_desktop.audio.vad import VadConfig

FRAME = 480


def chunk_value(k: int) -> float:
    return (k % 900 + 50) / 1000.0  # distinct per chunk after int16 rounding, never silent


class CountingMic:
    instances: list["CountingMic"] = []

    def __init__(self) -> None:
        self.delivered = 0
        self.running = False
        self.fail_after: int | None = None
        CountingMic.instances.append(self)

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def read_available(self) -> list[np.ndarray]:
        if not self.running:
            return []
        if self.fail_after is not None and self.delivered >= self.fail_after:
            raise MicrophoneError("The microphone stopped while recording (was it unplugged?).")
        out = np.full(FRAME, chunk_value(self.delivered), np.float32)
        self.delivered += 1
        return [out]


def chunk_numbers(audio: np.ndarray) -> list[int]:
    """Which chunks an utterance is made of (one value per 30 ms frame)."""
    frames = np.asarray(audio).reshape(-1, FRAME)
    return [int(round(f[0] * 1000)) - 50 for f in frames]


@pytest.fixture
def controller(qapp) -> Any:  # type: ignore[no-untyped-def]
    CountingMic.instances.clear()
    mic = MicController(mic_factory=CountingMic)
    got: dict[str, list[Any]] = {"utterances": [], "errors": [], "started": [], "stopped": []}
    mic.sig_utterance_ready.connect(got["utterances"].append)
    mic.sig_error_occurred.connect(got["errors"].append)
    mic.sig_recording_started.connect(lambda: got["started"].append(1))
    mic.sig_recording_stopped.connect(lambda: got["stopped"].append(1))
    mic.got = got  # type: ignore[attr-defined]
    mic._timer.stop()  # the tests poll by hand
    yield mic
    mic.stop_monitoring()
    shiboken6.delete(mic)  # deterministic teardown (left to the garbage collector, PySide 6.12 can crash at exit)


def poll(mic: MicController, n: int) -> None:
    for _ in range(n):
        mic._poll()


def test_push_to_talk_keeps_300_ms_before_the_key(controller: MicController) -> None:
    assert controller.start_monitoring() and controller.monitoring
    controller._timer.stop()
    stream = CountingMic.instances[-1]
    poll(controller, 50)  # 1.5 s of room sound before the key goes down
    controller.press()
    pressed_at = stream.delivered
    poll(controller, 20)  # 600 ms held
    controller.release()
    poll(controller, 15)  # the 300 ms tail arrives
    [utterance] = controller.got["utterances"]
    numbers = chunk_numbers(utterance)
    assert numbers == list(range(numbers[0], numbers[-1] + 1))  # contiguous: nothing dropped
    assert numbers[0] == pressed_at - 10  # exactly 10 frames = 300 ms of pre-roll
    assert numbers[-1] >= pressed_at + 20 + 9  # the release tail is kept too
    assert controller.monitoring and stream.running  # the stream stays open for the next utterance
    assert not controller.recording and controller.got["stopped"] == [1]


def test_pre_roll_follows_the_setting(controller: MicController) -> None:
    controller.configure(device=None, vad_config=VadConfig(), pre_roll_ms=600)
    controller.start_monitoring()
    controller._timer.stop()
    stream = CountingMic.instances[-1]
    poll(controller, 40)
    controller.press()
    pressed_at = stream.delivered
    poll(controller, 12)
    controller.release()
    poll(controller, 15)
    assert chunk_numbers(controller.got["utterances"][0])[0] == pressed_at - 20


def test_without_monitoring_the_press_opens_the_stream_and_closes_it_after(controller: MicController) -> None:
    controller.press()
    controller._timer.stop()
    assert controller.recording and len(CountingMic.instances) == 1
    stream = CountingMic.instances[0]
    poll(controller, 12)
    controller.release()
    poll(controller, 15)
    [utterance] = controller.got["utterances"]
    assert chunk_numbers(utterance)[0] == 0  # no pre-roll was possible
    assert not stream.running and not controller.monitoring


def test_toggle_mode_click_starts_and_click_stops(controller: MicController) -> None:
    controller.start_monitoring()
    controller._timer.stop()
    poll(controller, 5)
    controller.toggle()
    assert controller.recording and controller.got["started"] == [1]
    poll(controller, 30)
    controller.toggle()
    poll(controller, 15)
    assert len(controller.got["utterances"]) == 1 and not controller.recording
    assert len(controller.got["utterances"][0]) >= (5 + 30) * FRAME  # pre-roll (all 5) + held


def test_a_tap_is_too_short_even_with_pre_roll(controller: MicController) -> None:
    controller.start_monitoring()
    controller._timer.stop()
    poll(controller, 30)
    controller.press()
    poll(controller, 2)
    controller.release()
    poll(controller, 15)
    assert controller.got["utterances"] == []
    assert "too short" in controller.got["errors"][0]


def test_the_microphone_failing_mid_recording_keeps_what_was_said(controller: MicController) -> None:
    controller.start_monitoring()
    controller._timer.stop()
    stream = CountingMic.instances[-1]
    poll(controller, 20)
    controller.press()
    stream.fail_after = stream.delivered + 20
    poll(controller, 25)
    assert any("unplugged" in e for e in controller.got["errors"])
    [utterance] = controller.got["utterances"]
    assert len(utterance) == (10 + 20) * FRAME
    assert not controller.monitoring and not controller.recording
    # the next press opens the microphone again
    controller.press()
    assert controller.recording and len(CountingMic.instances) == 2


def test_no_microphone_is_reported_once_and_typing_still_works(qtbot) -> None:  # type: ignore[no-untyped-def]
    def missing() -> Any:
        raise NoMicrophoneError("No microphone was found. Connect one and try again.")

    mic = MicController(mic_factory=missing)
    errors: list[str] = []
    mic.sig_error_occurred.connect(errors.append)
    assert mic.start_monitoring() is False
    assert not mic.monitoring and errors == ["No microphone was found. Connect one and try again."]
    mic.press()
    assert not mic.recording and len(errors) == 2


def test_hands_free_uses_the_open_stream_and_configure_reopens_it(controller: MicController) -> None:
    controller.start_monitoring()
    assert controller.set_hands_free(True)
    assert len(CountingMic.instances) == 1  # no second stream
    controller.configure(device="USB mic", vad_config=VadConfig(aggressiveness=3, end_silence_ms=900), pre_roll_ms=150)
    assert controller.hands_free and controller.monitoring
    assert controller._vad is not None and controller._vad.config.aggressiveness == 3
    assert controller.device == "USB mic" and len(CountingMic.instances) == 2
    assert not CountingMic.instances[0].running and CountingMic.instances[1].running
    controller.set_hands_free(False)
    assert controller.monitoring  # listening off, but the stream stays open for push-to-talk
