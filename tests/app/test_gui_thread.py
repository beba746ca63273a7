"""Widgets are touched only in the GUI thread: every signal the engine worker, the microphone and the player may emit
from another thread reaches the window's code in the GUI thread, and a long run of turns with notices and a failing
player stays healthy (any Qt warning fails these tests: pyproject's ``qt_log_level_fail``)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from window_kit import FakeMic
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication

import anygpt_desktop
from anygpt_desktop.audio.errors import PlaybackError
from anygpt_desktop.engine.events import TurnDone
from anygpt_desktop.session import events as ev

PACKAGE = Path(anygpt_desktop.__file__).resolve().parent
APP_SIDE = (str(PACKAGE / "app"), str(PACKAGE / "session"))  # code that may touch widgets or the session's state
RECEIVERS = tuple(str(PACKAGE / "app" / f) for f in ("engine_adapter.py", "worker.py", "voice.py", "main_window.py"))


def signal_names(obj: QObject) -> list[str]:
    """The signals an object's class declares itself (not QObject's own)."""
    return [name for name, value in vars(type(obj)).items() if isinstance(value, Signal)]


class CallLog:
    """Python calls into the given code folders/files, recorded per thread through ``sys.setprofile``."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self.prefixes = prefixes
        self.calls: list[str] = []

    def hook(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(self.prefixes):
            self.calls.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}")


def emit_from_a_thread(signal: Any, args: tuple) -> list[str]:
    """Emit ``signal(*args)`` in a new thread; the app-side code that ran in that thread while emitting."""
    log = CallLog(APP_SIDE)

    def run() -> None:
        sys.setprofile(log.hook)
        try:
            signal.emit(*args)
        finally:
            sys.setprofile(None)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return log.calls


def test_every_cross_thread_signal_runs_its_slots_in_the_gui_thread(qtbot, open_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hold = threading.Event()
    window = open_window(hold=hold, hold_after=1)
    window.mic._timer.stop()  # no microphone polling in between: what runs in the GUI thread is the signals' doing
    window.input.setText("a turn to talk about")
    window.send()
    tid = window.pending[0]
    reply = window.view.turns[-1]
    qtbot.waitUntil(lambda: reply.text == "You", timeout=5000)  # the fake engine is parked after its first word
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(1600, np.float32), 16000)
    png = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(png)
    engine, mic, player = window.engine.worker, window.mic, window.audio_out
    voiced = FakeMic()
    plan: list[tuple[QObject, str, tuple]] = [
        (engine, "sig_model_progress", (0.5, "halfway")),
        (engine, "sig_model_failed", ("a file is corrupt", False)),
        (engine, "sig_model_device", ("cpu", "float32")),
        (engine, "sig_model_loaded", (0.1,)),
        (engine, "sig_history_restored", (False, "The memory could not be restored.")),
        (engine, "sig_turn_started", (tid,)),
        (engine, "sig_transcript_updated", (tid, "you asked")),
        (engine, "sig_text_updated", (tid, " more")),
        (engine, "sig_speech_chunk_ready", (tid, np.zeros(1600, np.float32), 16000, False)),
        (engine, "sig_speech_saved", (tid, str(wav), 0.1)),
        (engine, "sig_image_ready", (tid, str(png), 8, 8)),
        (engine, "sig_music_ready", (tid, str(wav), 0.1)),
        (engine, "sig_notice_posted", (tid, "The default voice recording could not be used.")),
        (engine, "sig_turn_finished", (tid, TurnDone("You more", "you asked", {"total": 0.1}))),
        (engine, "sig_engine_lost", (tid,)),
        (engine, "sig_turn_failed", (tid, "late failure", False)),
        (engine, "sig_history_saved", (tid, {"turns": []})),
        (player, "sig_playback_started", (f"speech:{tid}",)),
        (player, "sig_playback_failed", ("The speaker was unplugged.",)),
        (player, "sig_playback_finished", (f"speech:{tid}", True)),
        (mic, "sig_recording_started", ()),
        (mic, "sig_level_changed", (-20.0,)),
        (mic, "sig_recording_stopped", ()),
        (mic, "sig_error_occurred", ("The microphone was unplugged.",)),
        (mic, "sig_hands_free_changed", (False,)),
        (mic, "sig_utterance_ready", (np.concatenate([voiced._chunk() for _ in range(20)]),)),  # speech: it is sent
        (mic, "sig_speech_started", ()),
    ]
    for obj in (engine, mic, player):
        assert sorted(signal_names(obj)) == sorted(n for o, n, _a in plan if o is obj), "a signal is missing from the plan"
    stored: list[int] = []
    window.sig_turn_stored.connect(stored.append)
    try:
        emit_each(qtbot, plan)
    finally:
        hold.set()  # let the parked engine go (the barge-in at the end has cancelled it)
    # what the slots did, in the GUI thread
    assert stored == [window.conversation_id]  # the synthetic turn was finished and stored
    assert reply.text == "You more" and reply.images == [png] and reply.audio_rows
    assert window.view.turns[-4].transcript == "you asked"
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=5000)


def emit_each(qtbot: Any, plan: list[tuple[QObject, str, tuple]]) -> None:
    """Emit each signal from a new thread: no app code may run there, and a slot must then run in the GUI thread.

    The engine's signals are emitted outside the engine's thread too: a slot without a GUI-thread receiver would then
    be queued to the engine's thread (parked in the held turn) and never reach the GUI thread."""
    for obj, name, args in plan:
        in_emitter = emit_from_a_thread(getattr(obj, name), args)
        assert in_emitter == [], f"{name}: ran in the emitting thread: {in_emitter}"
        gui = CallLog(RECEIVERS)
        sys.setprofile(gui.hook)
        try:
            qtbot.waitUntil(lambda: bool(gui.calls), timeout=5000)
            QApplication.processEvents()  # every receiver's call was posted at the emit: none spills into the next
        except qtbot.TimeoutError:
            pytest.fail(f"{name}: no slot ran in the GUI thread (a lambda or plain function connected to a signal "
                        "runs in the emitting thread, or in the thread of the sender: the engine's)")
        finally:
            sys.setprofile(None)


CHUNKS = 3  # speech chunks per reply of the fake assistant


class FlakyPlayer:
    """The speaker comes and goes: the chunks of every second reply fail (``CHUNKS`` per reply); the other replies
    play and end from a thread, as PortAudio's callback does."""

    def __init__(self, device: Any = None, on_finished: Any = None) -> None:
        self.on_finished = on_finished
        self.playing = False
        self.position_s = 0.0
        self.fed = 0
        self.threads: list[threading.Thread] = []

    def feed(self, chunk: np.ndarray, sample_rate: int) -> None:
        self.fed += 1
        if ((self.fed - 1) // CHUNKS) % 2 == 1:
            raise PlaybackError("The speaker was unplugged.")
        self.playing = True

    def end(self) -> None:
        if self.playing:
            self.playing = False
            t = threading.Thread(target=self.on_finished, args=(False,))
            self.threads.append(t)
            t.start()

    def stop(self) -> None:
        self.playing = False

    def close(self) -> None:
        for t in self.threads:
            t.join()


def test_fifty_turns_with_notices_and_a_failing_player(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    players: list[FlakyPlayer] = []

    def make_player(device: Any = None, on_finished: Any = None) -> FlakyPlayer:
        players.append(FlakyPlayer(device, on_finished))
        return players[-1]

    window = open_window(player_factory=make_player, speech_chunks=CHUNKS,
                         notice="The default voice recording could not be used.")
    window.settings.set("default_voice", str(Path(window.session.tmp_dir) / "missing.wav"))
    events: list[Any] = []
    window.session.subscribe(events.append)
    failures: list[str] = []
    finished: list[str] = []
    window.audio_out.sig_playback_failed.connect(failures.append)
    window.audio_out.sig_playback_finished.connect(lambda what, _i: finished.append(what))
    for i in range(50):
        window.input.setText(f"say number {i}")
        with qtbot.waitSignal(window.sig_turn_stored, timeout=10000):
            qtbot.keyClick(window.input, Qt.Key.Key_Return)
    notices = [e for e in events if isinstance(e, ev.StatusMessage) and "default voice" in e.text]
    assert len(notices) == 50
    assert len(failures) == 25 * CHUNKS  # every second spoken reply could not be played, and the app said so
    qtbot.waitUntil(lambda: len(finished) == 25, timeout=5000)  # the others ended (reported from a thread)
    turns = window.history.turns(window.conversation_id)
    assert len(turns) == 100 and turns[-1].text == "You said: say number 49" and not turns[-1].interrupted
    assert window.stop_button.isEnabled() is False and window.pending == ()
