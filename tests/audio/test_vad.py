"""anygpt_desktop.audio.vad: hands-free endpointing (webrtcvad and injected classifiers) and the push-to-talk gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from anygpt_desktop.audio.vad import (
    FRAME_SAMPLES,
    Endpointer,
    PushToTalk,
    SpeechEnded,
    SpeechStarted,
    VadConfig,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def loud_classifier(frame: bytes, sr: int) -> bool:
    """Deterministic stand-in for webrtcvad: a frame is speech when its mean |sample| exceeds 1000."""
    assert sr == 16000 and len(frame) == FRAME_SAMPLES * 2
    return bool(np.abs(np.frombuffer(frame, np.int16).astype(np.int32)).mean() > 1000)


def pattern(bits: str) -> np.ndarray:
    """One 30 ms frame per character: '1' = loud (value 0.25), '.' = 0.01 (quiet). Frame i holds i's index in its
    first sample so tests can tell frames apart."""
    out = []
    for i, b in enumerate(bits):
        f = np.full(FRAME_SAMPLES, 0.25 if b == "1" else 0.01, np.float32)
        f[0] = i / 32768.0
        out.append(f)
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def frame_ids(utterance: np.ndarray) -> list[int]:
    return [int(round(v * 32768)) for v in utterance[::FRAME_SAMPLES]]


def kinds(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_synthetic_speech_is_one_utterance_with_pre_roll(signals: Any) -> None:
    lead, speech, trail = 1.0, 2.0, 1.5
    audio = np.concatenate([signals.quiet(lead), signals.speech_like(speech), signals.quiet(trail, seed=2)])
    ep = Endpointer(VadConfig(end_silence_ms=700, pre_roll_ms=300, tail_ms=150))
    events = ep.feed_audio(audio)
    assert kinds(events) == ["SpeechStarted", "SpeechEnded"]
    start, end = events
    assert isinstance(start, SpeechStarted) and isinstance(end, SpeechEnded)
    assert end.reason == "silence"
    # pre-roll: the utterance starts at least 0.25 s before the speech onset (the first syllable is kept)
    assert lead - 0.7 <= start.start_s <= lead - 0.25
    assert end.start_s == start.start_s
    # it ends shortly after the speech: the tail is kept, the long silence is not
    assert lead + speech <= end.end_s <= lead + speech + 0.35
    assert end.utterance.dtype == np.float32
    # the utterance is exactly the fed audio from start_s to end_s (up to int16 quantisation)
    a = int(round(start.start_s * 16000))
    np.testing.assert_allclose(end.utterance, audio[a : a + len(end.utterance)], atol=1 / 32768 + 1e-6)


def test_recorded_espeak_utterance() -> None:
    wav, sr = sf.read(DATA / "speech_beach_16k.wav", dtype="float32")  # espeak-ng "Can you draw me a picture ..."
    assert sr == 16000
    audio = np.concatenate([np.zeros(16000, np.float32), wav, np.zeros(24000, np.float32)])
    for aggressiveness in (0, 3):
        events = Endpointer(VadConfig(aggressiveness=aggressiveness)).feed_audio(audio)
        assert kinds(events) == ["SpeechStarted", "SpeechEnded"]
        assert 1.8 <= events[1].duration_s <= 3.2


def test_no_speech_no_events(signals: Any) -> None:
    ep = Endpointer()
    assert ep.feed_audio(signals.quiet(3.0)) == []
    assert ep.feed_audio(np.zeros(16000, np.float32)) == []
    assert not ep.in_speech and ep.flush() == []


def test_n_of_m_start_rule() -> None:
    cfg = VadConfig(start_window_frames=10, start_voiced_frames=6, pre_roll_ms=0, end_silence_ms=300, tail_ms=0)
    # isolated clicks (1 voiced frame in 3) never start an utterance
    assert Endpointer(cfg, classifier=loud_classifier).feed_audio(pattern("1.." * 20)) == []
    # 5 of 10 does not start, 6 of 10 does, on the 6th voiced frame
    assert Endpointer(cfg, classifier=loud_classifier).feed_audio(pattern(".1.1.1.1.1" + "." * 20)) == []
    ep = Endpointer(cfg, classifier=loud_classifier)
    bits = "....." + "1.1.1.1.11" + "1" * 5 + "." * 10
    events = ep.feed_audio(pattern(bits))
    assert kinds(events) == ["SpeechStarted", "SpeechEnded"]
    # the start window (10 frames ending at the trigger frame 14) is part of the utterance
    assert events[0].start_s == pytest.approx(5 * 0.03)
    ids = frame_ids(events[1].utterance)
    assert ids[0] == 5 and ids[-1] == 19  # last voiced frame is 19; 10 silent frames are dropped (tail 0)


def test_end_silence_and_tail_are_configurable() -> None:
    bits = "." * 20 + "1" * 20 + "." * 60  # voiced frames 20..39
    for ms in (300, 900):
        cfg = VadConfig(pre_roll_ms=90, end_silence_ms=ms, tail_ms=60)
        ev = Endpointer(cfg, classifier=loud_classifier).feed_audio(pattern(bits))
        assert kinds(ev) == ["SpeechStarted", "SpeechEnded"]
        ids = frame_ids(ev[1].utterance)
        # trigger at frame 25 (6 voiced of 16..25); 3 frames of pre-roll before that window -> starts at frame 13
        assert ids[0] == 13 and ev[0].start_s == pytest.approx(13 * 0.03)
        assert ids[-1] == 39 + 2  # last voiced frame, plus 60 ms of tail
    # the end is only decided once the configured silence has been heard
    short = Endpointer(VadConfig(end_silence_ms=300), classifier=loud_classifier)
    assert kinds(short.feed_audio(pattern(bits[: 40 + 25]))) == ["SpeechStarted", "SpeechEnded"]
    long = Endpointer(VadConfig(end_silence_ms=900), classifier=loud_classifier)
    assert kinds(long.feed_audio(pattern(bits[: 40 + 25]))) == ["SpeechStarted"]  # 750 ms of silence: still speech
    assert long.in_speech


def test_back_to_back_utterances_keep_their_pre_roll() -> None:
    cfg = VadConfig(pre_roll_ms=150, end_silence_ms=300, tail_ms=0)  # pre-roll 5 frames, end after 10
    ev = Endpointer(cfg, classifier=loud_classifier).feed_audio(pattern("1" * 15 + "." * 12 + "1" * 15 + "." * 12))
    assert kinds(ev) == ["SpeechStarted", "SpeechEnded"] * 2
    assert frame_ids(ev[1].utterance) == list(range(15))
    # second: voiced from 27, trigger at 32 (window 23..32), 5 pre-roll frames -> starts at 18, inside the pause
    assert frame_ids(ev[3].utterance) == list(range(18, 42))
    assert ev[2].start_s == pytest.approx(18 * 0.03)


def test_stray_voiced_frames_in_the_pause_do_not_hold_the_utterance() -> None:
    cfg = VadConfig(pre_roll_ms=0, end_silence_ms=600, end_voiced_ratio=0.1, tail_ms=0)  # 20 frames, <= 2 voiced
    stray = "." * 9 + "1" + "." * 9 + "1" + "." * 20
    ev = Endpointer(cfg, classifier=loud_classifier).feed_audio(pattern("1" * 15 + stray))
    assert kinds(ev) == ["SpeechStarted", "SpeechEnded"]
    strict = VadConfig(pre_roll_ms=0, end_silence_ms=600, end_voiced_ratio=0.0, tail_ms=0)
    ev = Endpointer(strict, classifier=loud_classifier).feed_audio(pattern("1" * 15 + stray[:30]))
    assert kinds(ev) == ["SpeechStarted"]


def test_energy_floor_gates_faint_frames() -> None:
    always = lambda frame, sr: True  # a classifier that calls everything speech
    faint = np.full(16000, 10 ** (-65 / 20), np.float32)  # -65 dBFS
    assert Endpointer(VadConfig(), classifier=always).feed_audio(faint) == []
    assert kinds(Endpointer(VadConfig(energy_floor_dbfs=-80), classifier=always).feed_audio(faint)) == ["SpeechStarted"]


def test_max_utterance_length(signals: Any) -> None:
    ep = Endpointer(VadConfig(max_utterance_s=1.5), classifier=loud_classifier)
    events = ep.feed_audio(pattern("1" * 120))  # 3.6 s of continuous speech: cut at 1.5 s, detection starts over
    assert kinds(events) == ["SpeechStarted", "SpeechEnded"] * 2 + ["SpeechStarted"]
    assert all(e.reason == "max_length" and e.duration_s == pytest.approx(1.5) for e in events[1::2])
    assert events[2].start_s == pytest.approx(1.5)  # nothing lost between the pieces
    assert ep.in_speech
    last = ep.flush()
    assert kinds(last) == ["SpeechEnded"] and last[0].reason == "flushed"


def test_chunking_does_not_change_the_result(signals: Any) -> None:
    audio = np.concatenate([signals.quiet(0.5), signals.speech_like(1.0), signals.quiet(1.0)])
    whole = Endpointer().feed_audio(audio)
    ep = Endpointer()
    pieces = []
    rng = np.random.default_rng(3)
    i = 0
    while i < len(audio):
        n = int(rng.integers(1, 2000))
        pieces += ep.feed_audio(audio[i : i + n])
        i += n
    assert kinds(pieces) == kinds(whole) == ["SpeechStarted", "SpeechEnded"]
    np.testing.assert_array_equal(pieces[1].utterance, whole[1].utterance)
    # int16 frames and raw bytes are accepted too
    ep2 = Endpointer()
    ints = (np.clip(audio, -1, 1) * 32767).round().astype(np.int16)
    evs = []
    for k in range(len(ints) // FRAME_SAMPLES):
        frame = ints[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES]
        evs += ep2.feed(frame.tobytes() if k % 2 else frame)
    np.testing.assert_array_equal(evs[1].utterance, whole[1].utterance)
    with pytest.raises(ValueError, match="480 samples"):
        ep2.feed(np.zeros(100, np.int16))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"aggressiveness": 4},
        {"start_voiced_frames": 11},
        {"start_voiced_frames": 0},
        {"end_silence_ms": 10},
        {"tail_ms": 2000},
        {"max_utterance_s": 0},
        {"end_voiced_ratio": 0.6},
    ],
)
def test_bad_config(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        VadConfig(**kwargs)


# -- push-to-talk ----------------------------------------------------------------------------------------------------


def test_push_to_talk_keeps_everything_between_press_and_release_delay() -> None:
    ptt = PushToTalk(release_delay_ms=300)  # 10 frames
    assert ptt.feed_audio(pattern("..")) == []  # before the press: ignored (no pre-roll by default)
    started = ptt.press()
    assert kinds(started) == ["SpeechStarted"] and started[0].start_s == pytest.approx(0.06)
    assert ptt.pressed
    assert ptt.feed_audio(pattern("1.1.1" * 4)) == []
    assert ptt.release() == []
    assert ptt.recording and not ptt.pressed
    ev = ptt.feed_audio(pattern("." * 9))
    assert ev == []
    ev = ptt.feed_audio(pattern("." * 5))  # the 10th frame of delay ends it; the rest is not recorded
    assert kinds(ev) == ["SpeechEnded"]
    end = ev[0]
    assert end.reason == "released"
    assert end.duration_s == pytest.approx((20 + 10) * 0.03)  # 20 frames held + 10 frames of release delay
    assert not ptt.recording
    assert ptt.feed_audio(pattern("1111")) == []  # after the end: nothing recorded


def test_push_to_talk_repress_during_delay_continues_the_utterance() -> None:
    ptt = PushToTalk(release_delay_ms=300)
    ptt.press()
    ptt.feed_audio(pattern("1" * 5))
    ptt.release()
    ptt.feed_audio(pattern("." * 5))
    assert ptt.press() == []  # no second SpeechStarted
    assert ptt.feed_audio(pattern("1" * 20)) == []  # pressed: no end however long the delay was
    ptt.release()
    ev = ptt.feed_audio(pattern("." * 10))
    assert kinds(ev) == ["SpeechEnded"] and ev[0].duration_s == pytest.approx(40 * 0.03)


def test_push_to_talk_pre_roll_zero_delay_cancel_and_max() -> None:
    ptt = PushToTalk(release_delay_ms=0, pre_roll_ms=90)
    ptt.feed_audio(pattern("." * 10))
    assert ptt.press()[0].start_s == pytest.approx(7 * 0.03)  # 3 frames of pre-roll
    ptt.feed_audio(pattern("1" * 4))
    ev = ptt.release()
    assert kinds(ev) == ["SpeechEnded"] and frame_ids(ev[0].utterance) == [7, 8, 9, 0, 1, 2, 3]

    ptt.press()
    ptt.feed_audio(pattern("1" * 4))
    ptt.cancel()
    assert not ptt.recording and ptt.release() == [] and ptt.flush() == []

    capped = PushToTalk(max_utterance_s=0.3)
    capped.press()
    ev = capped.feed_audio(pattern("1" * 12))
    assert kinds(ev) == ["SpeechEnded"] and ev[0].reason == "max_length" and ev[0].duration_s == pytest.approx(0.3)

    ptt = PushToTalk()
    ptt.press()
    ptt.feed_audio(pattern("11"))
    ev = ptt.flush()
    assert ev[0].reason == "flushed" and ev[0].duration_s == pytest.approx(0.06)
