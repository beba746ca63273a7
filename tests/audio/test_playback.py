"""anygpt_desktop.audio.playback.StreamingPlayer with fake output streams."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from anygpt_desktop.audio.errors import PlaybackError
from anygpt_desktop.audio.playback import StreamingPlayer


def drain(stream: Any, frames: int, block: int = 320) -> np.ndarray:
    out = [stream.pull(block) for _ in range(frames // block)]
    return np.concatenate(out)


def test_first_chunk_plays_at_once_and_later_chunks_follow_seamlessly(fake_factory: Any) -> None:
    player = StreamingPlayer(stream_factory=fake_factory, jitter_buffer=False)  # the stream mechanics alone
    a = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    b = np.linspace(0.5, -0.5, 700, dtype=np.float32)
    player.feed(a, 16000)
    stream = fake_factory.stream
    assert stream.started and stream.samplerate == 16000 and player.playing
    first = stream.pull(640)
    np.testing.assert_array_equal(first[:, 0], a[:640])  # playing before the rest has arrived
    player.feed(b, 16000)
    rest = drain(stream, 1280)[:, 0]
    np.testing.assert_array_equal(rest[:1060], np.concatenate([a[640:], b]))
    assert not rest[1060:].any()  # underrun: silence, not garbage
    assert player.underruns == 1
    assert not player.finished.is_set()  # not ended yet: more may come
    assert player.position_s == pytest.approx(1700 / 16000)
    player.end()
    stream.pull(320)
    assert player.finished.is_set() and not player.interrupted and not player.playing
    assert player.wait(0) is True


def test_end_waits_for_the_queue_then_finishes(fake_factory: Any) -> None:
    done: list[bool] = []
    player = StreamingPlayer(stream_factory=fake_factory, on_finished=done.append, jitter_buffer=False)
    player.feed(np.full(1000, 0.1, np.float32), 16000)
    player.end()
    assert not player.finished.is_set()
    assert player.buffered_s == pytest.approx(1000 / 16000)
    assert player.wait(0.01) is False
    fake_factory.stream.pull(960)
    assert not player.finished.is_set()
    out = fake_factory.stream.pull(960)
    assert out[:40, 0] == pytest.approx(0.1) and not out[40:].any()
    assert player.finished.is_set() and done == [False]
    assert player.position_s == pytest.approx(1000 / 16000)
    # a later feed starts a new utterance on the same stream
    player.feed(np.full(100, 0.2, np.float32), 16000)
    assert player.playing and player.position_s == 0 and len(fake_factory.streams) == 1
    assert fake_factory.stream.pull(100)[:, 0] == pytest.approx(0.2)


def test_stop_silences_at_once(fake_factory: Any) -> None:
    done: list[bool] = []
    player = StreamingPlayer(stream_factory=fake_factory, on_finished=done.append, jitter_buffer=False)
    player.feed(np.full(16000, 0.3, np.float32), 16000)
    stream = fake_factory.stream
    stream.pull(320)
    player.stop()
    assert stream.aborted == 1  # the device's own buffer is dropped too
    assert player.finished.is_set() and player.interrupted and done == [True]
    assert not stream.pull(320).any()  # nothing more of the utterance is played
    assert player.position_s == pytest.approx(320 / 16000)
    player.stop()  # idempotent
    assert done == [True] and stream.aborted == 1
    # the next reply plays again (the stream is restarted)
    player.feed(np.full(320, 0.4, np.float32), 16000)
    assert stream.started and stream.start_count == 2 and not player.interrupted
    assert stream.pull(320)[:, 0] == pytest.approx(0.4)


def test_any_rate_is_resampled_to_the_stream_rate(fake_factory: Any, signals: Any) -> None:
    player = StreamingPlayer(stream_factory=fake_factory, channels=2)
    player.feed(np.zeros(480, np.float32), 48000)  # the stream opens at the first chunk's rate
    stream = fake_factory.stream
    assert stream.samplerate == 48000 and stream.channels == 2
    stream.pull(480)
    tone = signals.tone(1000, 1.0, 22050, amp=0.5)
    for i in range(0, len(tone), 2205):  # arrives in 100 ms pieces
        player.feed(tone[i : i + 2205], 22050)
    player.end()
    out = drain(stream, 48000 + 4800, block=480)
    assert player.finished.is_set()
    assert np.array_equal(out[:, 0], out[:, 1])  # mono on every channel
    played = out[:, 0]
    loud = np.flatnonzero(np.abs(played) > 1e-3)
    assert abs((loud[-1] - loud[0]) - 48000) < 100  # 1 s of sound at 48 kHz, nothing lost at the end
    assert signals.dominant_frequency(played, 48000) == pytest.approx(1000, abs=2)
    assert np.abs(played).max() == pytest.approx(0.5, abs=0.02)


def test_device_refusing_the_rate_falls_back(make_factory: Any, signals: Any) -> None:
    factory = make_factory(refuse=(24000,))
    player = StreamingPlayer(stream_factory=factory, device_rate=44100)
    player.feed(signals.tone(440, 0.5, 24000), 24000)
    assert factory.attempts == [24000, 44100] and player.stream_rate == 44100
    player.end()
    out = drain(factory.stream, 44100, block=441)[:, 0]
    assert signals.dominant_frequency(out, 44100) == pytest.approx(440, abs=3)

    bad = StreamingPlayer(stream_factory=make_factory(refuse=(16000,)))
    with pytest.raises(PlaybackError, match="could not be opened"):
        bad.feed(np.zeros(10, np.float32), 16000)
    assert bad.finished.is_set()


def test_device_disappearing_while_playing(fake_factory: Any) -> None:
    player = StreamingPlayer(stream_factory=fake_factory)
    player.feed(np.full(16000, 0.1, np.float32), 16000)
    fake_factory.stream.pull(320)
    fake_factory.stream.vanish()
    assert player.finished.is_set() and player.interrupted
    assert isinstance(player.error, PlaybackError) and "unplugged" in str(player.error)
    with pytest.raises(PlaybackError):
        player.feed(np.zeros(10, np.float32), 16000)
    # our own stop/abort is not reported as a failure
    ok = StreamingPlayer(stream_factory=fake_factory)
    ok.feed(np.zeros(100, np.float32), 16000)
    ok.stop()
    fake_factory.stream.kwargs["finished_callback"]()
    assert ok.error is None
    ok.close()
    assert fake_factory.stream.closed


def test_feeding_from_another_thread_while_the_device_pulls(fake_factory: Any) -> None:
    player = StreamingPlayer(stream_factory=fake_factory)
    chunks = [np.full(160, i / 100, np.float32) for i in range(100)]
    player.feed(chunks[0], 16000)

    def producer() -> None:
        for c in chunks[1:]:
            player.feed(c, 16000)
        player.end()

    th = threading.Thread(target=producer)
    th.start()
    played = []
    while not player.finished.is_set():
        played.append(fake_factory.stream.pull(64)[:, 0])
    th.join()
    got = np.concatenate(played)
    got = got[np.flatnonzero(got)[0] :] if got.any() else got
    expect = np.concatenate(chunks[1:])
    # all audio arrives in order; gaps (underruns) can only be zeros inserted between chunks
    assert np.array_equal(got[got != 0], expect[expect != 0])


def test_feed_after_end_is_a_bug(fake_factory: Any) -> None:
    player = StreamingPlayer(stream_factory=fake_factory)
    player.feed(np.ones(100, np.float32) * 0.1, 16000)
    player.end()
    with pytest.raises(RuntimeError, match="after end"):
        player.feed(np.ones(100, np.float32), 16000)
    with pytest.raises(ValueError):
        player.feed(np.ones(100, np.float32), 0)
