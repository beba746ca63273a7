"""Flows through the main window with the fake assistant: type → reply, speech playback, cancel, drop, history,
keyboard push-to-talk, and GUI responsiveness during a turn."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image
from gui_wait import wait_signal
from window_kit import FakeStream
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from anygpt_desktop.app.main_window import MainWindow


def type_and_send(qtbot, window: MainWindow, text: str) -> None:  # type: ignore[no-untyped-def]
    window.input.setFocus()
    qtbot.keyClicks(window.input, text)
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        qtbot.keyClick(window.input, Qt.Key.Key_Return)


def test_type_a_message_and_the_reply_appears(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    assert window.send_button.isEnabled()
    type_and_send(qtbot, window, "hello model")
    assert window.input.text() == ""
    user, reply = window.view.turns
    assert user.role == "user" and user.text == "hello model"
    assert reply.role == "assistant" and reply.text == "You said: hello model"
    assert reply.timings_button.isVisible() and not reply.timings_label.isVisible()  # figures on demand
    reply.timings_button.click()
    assert "tok/s" in reply.timings_label.text() and "total" in reply.timings_label.text()
    assert reply.timings_label.isVisible()
    assert window.assistants[0].requests[0].text == "hello model"
    assert window.assistants[0].requests[0].output_modality is None  # "Auto"


def test_spoken_reply_starts_playing_with_the_first_chunk_and_is_kept(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    started: list[str] = []
    window.audio_out.sig_playback_started.connect(started.append)
    before = FakeStream.started
    type_and_send(qtbot, window, "say something")
    assert started and started[0].startswith("speech:")
    assert FakeStream.started > before
    reply = window.view.turns[-1]
    assert len(reply.audio_rows) == 1 and reply.audio_rows[0].label.text().startswith("Spoken reply (0.3 s)")
    stored = window.session.history.turns(window.conversation_id)
    assert [m.kind for m in stored[1].media] == ["speech"]
    assert stored[1].media[0].path.is_file()


def test_image_and_music_replies_show_inline(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    type_and_send(qtbot, window, "draw me music")
    reply = window.view.turns[-1]
    assert len(reply.images) == 1
    assert [r.label.text() for r in reply.audio_rows] == ["Music (0.5 s)"]
    thumb = reply.media_layout.itemAt(0).layout().itemAt(0).widget()
    thumb.click()
    assert thumb.dialog is not None and thumb.dialog.isVisible()
    qtbot.waitUntil(lambda: thumb.dialog.label.pixmap() is not None and not thumb.dialog.label.pixmap().isNull())
    shown = thumb.dialog.label.pixmap()
    assert shown.width() > 64 and abs(shown.width() / shown.height() - 64 / 48) < 0.05  # enlarged, same shape
    thumb.dialog.reject()


def test_esc_interrupts_generation_and_keeps_the_partial_turn(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    hold = threading.Event()
    window = open_window(hold=hold, hold_after=4)  # the turn waits after 4 words until Esc was pressed
    window.input.setText(" ".join(["word"] * 40))
    window.send()
    reply = window.view.turns[-1]
    qtbot.waitUntil(lambda: len(reply.text.split()) == 4, timeout=5000)
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        qtbot.keyClick(window.input, Qt.Key.Key_Escape)
        hold.set()
    assert reply.state_label.text() == "(interrupted)"
    kept = reply.text
    assert kept == "You said: word word"  # the engine stopped at its next step
    stored = window.session.history.turns(window.conversation_id)
    assert stored[-1].interrupted and stored[-1].text == kept
    # the app keeps working after an interruption
    type_and_send(qtbot, window, "again")
    assert window.view.turns[-1].text == "You said: again"


def _drop(window: MainWindow, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def test_drop_an_image_and_an_audio_file(qtbot, open_window, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    img = tmp_path / "cat photo.webp"
    Image.new("RGB", (32, 32), (0, 200, 0)).save(img)
    song = tmp_path / "song.flac"
    import soundfile as sf

    sf.write(song, np.zeros(3200, np.float32) + 0.1, 16000)
    monkeypatch.setattr(window, "ask_audio_role", lambda path: "music")
    _drop(window, [img, song, tmp_path / "notes.txt"])
    assert [(a.path.name, a.kind) for a in window.attachments] == [("cat photo.webp", "image"), ("song.flac", "music")]
    assert any("cannot be attached" in t for t in window.notices.visible_texts())
    window.input.setText("what is this")
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()
    req = window.assistants[0].requests[0]
    assert req.images == [img] and req.music == [song] and req.voice_prompt is None
    assert window.attachments == []
    user = window.view.turns[0]
    assert user.images == [img] and len(user.audio_rows) == 1
    stored = window.session.history.turns(window.conversation_id)[0]
    assert sorted(m.kind for m in stored.media) == ["image", "music"]
    # an audio file used as the reply voice
    monkeypatch.setattr(window, "ask_audio_role", lambda path: "voice")
    _drop(window, [song])
    window.input.setText("speak")
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()
    assert window.assistants[0].requests[1].voice_prompt == song


def test_history_persists_after_reopening_the_window(qtbot, open_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "same"
    first = open_window(data)
    type_and_send(qtbot, first, "remember me")
    conv_id = first.conversation_id
    first.close()

    second = open_window(data)
    assert [i.text() for i in second.sidebar.conversation_items()] == ["remember me"]
    assert second.conv_list.item(0).text() == "Today"  # a date heading
    item = second.sidebar.conversation_items()[0]
    with wait_signal(qtbot, second.engine.worker.sig_history_restored):
        second.conv_list.setCurrentItem(item)
        second._on_conv_activated(item)
    assert second.conversation_id == conv_id
    assert [t.text for t in second.view.turns] == ["remember me", "You said: remember me"]
    # the model's memory came back too
    assert second.assistants[-1].history_json()["turns"] == [{"user": "remember me", "assistant": "You said: remember me"}]


def test_hold_space_to_talk(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    window.view.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.view)
    qtbot.keyPress(window.view, Qt.Key.Key_Space)
    assert window.mic.recording
    qtbot.waitUntil(lambda: window.mic.recorded_s >= 0.4, timeout=5000)  # longer than the shortest utterance
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        qtbot.keyRelease(window.view, Qt.Key.Key_Space)
    req = window.assistants[0].requests[0]
    assert req.speech is not None and req.speech.dtype == np.float32 and len(req.speech) > 0.25 * 16000
    user, reply = window.view.turns
    assert user.transcript == "hello there"
    assert reply.text == "You said: hello there"
    # Space typed into the text box is just a space
    window.input.setFocus()
    qtbot.keyClicks(window.input, "a b")
    assert window.input.text() == "a b" and not window.mic.recording


def test_gui_stays_responsive_during_a_busy_turn(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    """The GUI thread keeps handling events while a turn runs: the turn is parked after its first word until a
    GUI-thread timer has seen that word painted in the reply (so it only ends if the GUI ran meanwhile), and the
    reply streams in visibly before the turn ends."""
    hold = threading.Event()
    window = open_window(hold=hold, hold_after=1, speech_chunks=40)
    painted: list[str] = []

    def tick() -> None:
        turns = window.view.turns
        if turns and turns[-1].role == "assistant" and turns[-1].text_label.text():
            painted.append(turns[-1].text_label.text())
            hold.set()

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    window.input.setText("say " + " ".join(["word"] * 300))
    with qtbot.waitSignal(window.sig_turn_stored, timeout=20000):
        window.send()
    timer.stop()
    assert len(window.view.turns[-1].text.split()) == 303
    assert hold.is_set() and painted[0] == "You"  # painted (and the hold released) by the GUI thread mid-turn
    assert window.view.turns[-1].audio_rows  # the 40 speech chunks went to the player too


def test_theme_and_accessible_names(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    window.dark_action.trigger()
    assert window.settings.get("theme") == "dark"
    assert QApplication.instance().palette().window().color().lightness() < 80
    window.dark_action.trigger()
    assert window.settings.get("theme") == "light"
    for w in (window.input, window.send_button, window.stop_button, window.mic_button, window.conv_list,
              window.modality, window.hands_free, window.attach_button, window.view):
        assert w.accessibleName(), w


def test_settings_apply_from_the_next_turn_and_say_what_needs_a_reload(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QDialogButtonBox

    window = open_window()
    type_and_send(qtbot, window, "first")
    assert window.assistants[0].settings.decode.max_text_tokens == 500
    window.open_settings()
    dialog = window.settings_dialog
    assert dialog.isVisible()
    dialog.limits["max_text_tokens"].setValue(10)
    dialog.pre_roll.setValue(450)
    dialog.end_silence.setValue(1200)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert "after reloading the models" in window.banner.text() and window.banner.isVisible()
    assert window.mic.pre_roll_ms == 450 and window.mic.vad_config.end_silence_ms == 1200
    type_and_send(qtbot, window, "second")
    applied = window.assistants[0].settings
    assert applied.decode.max_text_tokens == 10 and applied.device == "cpu"
    # a reload builds a new assistant with the same settings
    window.reload_models()
    qtbot.waitUntil(lambda: window.model_state == "ready", timeout=5000)
    assert len(window.assistants) == 2 and window.assistants[1].settings.decode.max_text_tokens == 10


def test_the_microphone_stays_open_for_the_pre_roll_and_the_level_meter(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    assert window.mic.monitoring
    qtbot.waitUntil(lambda: window.level.value() > 0, timeout=2000)  # the live level, before any key is pressed


def test_click_to_talk_starts_and_stops_with_a_click_or_space(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    window.talk_mode.setCurrentIndex(window.talk_mode.findData("toggle"))
    assert window.settings.get("talk_mode") == "toggle" and window.composer.mic_text == "Click to talk"
    qtbot.mouseClick(window.mic_button, Qt.MouseButton.LeftButton)
    assert window.mic.recording and window.composer.mic_text == "Hearing you (click to stop)"
    qtbot.waitUntil(lambda: window.mic.recorded_s >= 0.4, timeout=5000)
    assert window.mic.recording  # still recording: nothing is held down
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        qtbot.mouseClick(window.mic_button, Qt.MouseButton.LeftButton)
    assert window.assistants[0].requests[0].speech is not None
    # Space toggles too: press+release starts, the next press+release stops
    window.view.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.view)
    qtbot.keyClick(window.view, Qt.Key.Key_Space)
    assert window.mic.recording
    qtbot.waitUntil(lambda: window.mic.recorded_s >= 0.4, timeout=5000)
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        qtbot.keyClick(window.view, Qt.Key.Key_Space)
    assert len(window.assistants[0].requests) == 2


def test_status_bar_shows_the_device_and_gpu_memory_only_on_cuda(qtbot, open_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sys
    import types

    window = open_window()
    assert window.device_label.text() == "device: cpu"  # the fake assistant has no llm: reported as the CPU
    assert not window.status.gpu_timer.isActive()
    gib = 1024**3
    cuda = types.SimpleNamespace(
        is_available=lambda: True, current_device=lambda: 0, memory_allocated=lambda i: int(1.5 * gib),
        max_memory_allocated=lambda i: 2 * gib, get_device_properties=lambda i: types.SimpleNamespace(total_memory=80 * gib))
    fake_torch = types.SimpleNamespace(cuda=cuda, device=lambda d: types.SimpleNamespace(index=0))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    window.engine.worker.sig_model_device.emit("cuda:0", "bfloat16")
    qtbot.waitUntil(lambda: "GPU" in window.device_label.text(), timeout=2000)
    assert window.device_label.text() == "device: cuda:0 (bfloat16) · GPU memory 1.5 GiB (peak 2.0) of 80.0 GiB"
    assert window.status.gpu_timer.isActive()


def test_the_spoken_reply_ends_when_the_turn_does_even_without_a_final_chunk(qtbot, open_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    window = open_window(mark_final=False)  # like the real engine
    ended: list[str] = []
    real_end = window.audio_out.end
    monkeypatch.setattr(window.audio_out, "end", lambda: (ended.append(window.audio_out.current), real_end())[1])
    type_and_send(qtbot, window, "say something")
    assert ended == ["speech:1"]  # without it the player waits for more audio forever


def test_closing_the_window_removes_its_temporary_folder(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("anygpt-desktop-*"))
    window = open_window()
    tmp = window.session.tmp_dir
    assert tmp.is_dir() and tmp not in before
    window.view.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.view)
    qtbot.keyPress(window.view, Qt.Key.Key_Space)  # a recording is written into the folder
    qtbot.waitUntil(lambda: window.mic.recorded_s >= 0.4, timeout=5000)
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        qtbot.keyRelease(window.view, Qt.Key.Key_Space)
    assert any(tmp.iterdir())
    window.close()
    assert not tmp.exists()


def test_another_engine_plugs_in_under_the_window(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The window only needs an ``EnginePort``: a synchronous fake one (as an engine in a child process would be)."""
    from fake_engine import FakeEngine

    from anygpt_desktop.app.audio_out import AudioOut
    from anygpt_desktop.app.main_window import MainWindow
    from anygpt_desktop.app.mic import MicController
    from anygpt_desktop.app.settings import AppSettings
    from anygpt_desktop.engine.events import TextDelta, TurnDone
    from anygpt_desktop.storage.history import HistoryStore
    from window_kit import FakeMic, make_player

    engine = FakeEngine()
    window = MainWindow(lambda: None, history=HistoryStore(tmp_path / "h"), settings=AppSettings(tmp_path / "s.ini"),
                        audio_out=AudioOut(player_factory=make_player), mic=MicController(mic_factory=FakeMic),
                        engine=engine)
    qtbot.addWidget(window)
    assert engine.calls == ["load"] and engine.configured and not window.send_button.isEnabled()
    engine.loaded()
    assert window.send_button.isEnabled() and window.device_label.text() == "device: cpu (float32)"
    window.input.setText("hello")
    window.send()
    assert engine.requests[1].text == "hello"
    with qtbot.waitSignal(window.sig_turn_stored, timeout=1000):
        engine.turn(1, TextDelta("hi"), TurnDone("hi", "", {"total": 0.1}))
    assert [t.text for t in window.view.turns] == ["hello", "hi"]
    window.close()
    assert engine.calls[-1] == "shutdown"


def test_a_file_whose_content_is_not_what_its_name_says_is_refused_with_the_reason(open_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    fake = tmp_path / "question.wav"
    fake.write_text("this is not audio", encoding="utf-8")
    assert not window.add_file(fake)
    assert window.attachments == []
    assert any("question.wav cannot be attached" in t for t in window.notices.visible_texts())
