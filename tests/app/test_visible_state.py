"""What the user sees: errors as notices that stay (not in the status bar), one state machine for the controls,
typed text that is never lost, a silent press that is not sent, a WAV as a spoken question, the multi-line editor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication
from gui_wait import wait_signal
from window_kit import FakeMic

from anygpt_desktop.app.controls import Phase


def _visible_errors(window: Any) -> list[str]:
    return [n.label.text() for n in window.notices.notices if n.error and n.isVisible()]


def test_an_error_during_a_turn_is_shown_in_a_notice_that_stays(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    window = open_window(fail_turn="The GPU ran out of memory.")
    window.input.setText("hello")
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()
    errors = _visible_errors(window)
    assert errors == ["The reply failed: The GPU ran out of memory."]
    assert window.statusBar().currentMessage() == ""  # not (only) in the status bar
    assert "failed" in window.view.turns[-1].state_label.text()
    assert window.view.turns[-1].state_label.toolTip() == ""  # short: shown whole
    assert window.composer.phase is Phase.IDLE and not window.stop_button.isEnabled()
    notice = window.notices.notices[0]
    notice.dismiss_button.click()
    assert _visible_errors(window) == []
    assert notice.action_button is None  # a failure the engine survived: nothing to restart


def test_a_lost_engine_is_offered_a_restart_that_keeps_the_conversation(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    window.input.setText("first question")
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()
    window.assistants[-1].fail_turn = "the engine stopped unexpectedly (SIGKILL); your conversation is kept"
    window.assistants[-1].engine_lost = True
    window.input.setText("second question")
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()
    notice = window.notices.notices[-1]
    assert notice.error and "stopped unexpectedly" in notice.label.text()
    state = window.view.turns[-1].state_label  # a long reason is shortened beside the reply, whole in the tooltip
    assert len(state.text()) <= 72 and state.text().startswith("(failed: the engine stopped unexpectedly")
    assert state.toolTip() == "(failed: the engine stopped unexpectedly (SIGKILL); your conversation is kept)"
    assert notice.action_button is not None and notice.action_button.text() == "Restart engine"
    conversation = window.conversation_id
    notice.action_button.click()  # a fresh engine, the models loaded again, the conversation restored into it
    qtbot.waitUntil(lambda: len(window.assistants) == 2 and window.model_state == "ready", timeout=30_000)
    assert window.conversation_id == conversation and _visible_errors(window) == []
    texts = [t.text for t in window.view.turns]
    assert texts[:2] == ["first question", "You said: first question"] and texts[2] == "second question"
    window.input.setText("third question")
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()
    assert window.view.turns[-1].text == "You said: third question" and not window.view.turns[-1].state_label.text()


class _NoDevice:
    """An output stream that cannot be opened (no sound card)."""

    def __init__(self, **kwargs: Any) -> None:
        raise OSError("no default output device")


def _failing_player(device: Any = None, on_finished: Any = None) -> Any:
    from anygpt_desktop.audio.playback import StreamingPlayer

    return StreamingPlayer(device, stream_factory=_NoDevice, on_finished=on_finished)


def test_stop_returns_to_idle_after_a_playback_failure(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    window = open_window(player_factory=_failing_player)
    window.input.setText("say something")
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()
    qtbot.waitUntil(lambda: not window.stop_button.isEnabled(), timeout=2000)
    assert window.composer.phase is Phase.IDLE and not window.voice.playing
    errors = _visible_errors(window)
    assert len(errors) == 1 and errors[0].startswith("Sound could not be played")
    assert window.notices.notices[0].action_button.text() == "Settings › Devices"
    assert window.view.turns[-1].text == "You said: say something"  # the reply is still there as text
    # replaying the stored reply fails the same way and leaves Stop off too
    window.view.turns[-1].audio_rows[0].button.click()
    assert not window.stop_button.isEnabled() and window.voice.playing_row is None
    window.notices.notices[-1].action_button.click()  # the fix: Settings, on the Devices tab
    assert window.settings_dialog.tabs.currentIndex() == window.settings_dialog.TAB_NAMES.index("devices")
    window.settings_dialog.reject()


def test_text_typed_before_the_models_load_is_kept(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from fake_engine import FakeEngine
    from window_kit import make_player

    from anygpt_desktop.app.audio_out import AudioOut
    from anygpt_desktop.app.main_window import MainWindow
    from anygpt_desktop.app.mic import MicController
    from anygpt_desktop.app.settings import AppSettings
    from anygpt_desktop.storage.history import HistoryStore

    engine = FakeEngine()
    window = MainWindow(lambda: None, history=HistoryStore(tmp_path / "h"), settings=AppSettings(tmp_path / "s.ini"),
                        audio_out=AudioOut(player_factory=make_player), mic=MicController(mic_factory=FakeMic),
                        engine=engine)
    qtbot.addWidget(window)
    window.show()
    assert window.input.isEnabled() and not window.send_button.isEnabled()
    window.input.setFocus()
    qtbot.keyClicks(window.input, "typed early")
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    assert window.input.text() == "typed early" and not engine.requests
    assert any("kept" in t for t in window.notices.visible_texts())
    engine.loaded()
    assert window.send_button.isEnabled()
    qtbot.keyClick(window.input, Qt.Key.Key_Return)
    assert engine.requests[1].text == "typed early" and window.input.text() == ""
    window.close()


def test_a_press_without_speech_is_not_sent(qtbot, open_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(FakeMic, "speaking", False)  # the microphone only hears a hum (the pre-roll too)
    window = open_window()
    window.view.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.view)
    qtbot.keyPress(window.view, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.mic.recorded_s >= 0.6, timeout=5000)
    assert window.composer.phase is Phase.HEARING and window.stop_button.isEnabled()
    qtbot.keyRelease(window.view, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: any("No speech" in t for t in window.notices.visible_texts()), timeout=5000)
    assert window.assistants[0].requests == [] and window.view.turns == []
    assert window.composer.phase is Phase.IDLE and not window.stop_button.isEnabled()


def test_a_wav_attached_as_a_spoken_question_runs_a_speech_turn(qtbot, open_window, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from anygpt_desktop.session.kinds import AttachmentKind

    window = open_window()
    question = tmp_path / "question.wav"
    sf.write(question, np.zeros(8000, np.float32) + 0.05, 16000)
    monkeypatch.setattr(window, "ask_audio_role", lambda path: AttachmentKind.SPEECH)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(question))])
    window.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                Qt.KeyboardModifier.NoModifier))
    assert [c.label.text() for c in window.composer.chips] == ["Spoken question: question.wav"]
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()  # nothing typed: the recording is the question
    req = window.assistants[0].requests[0]
    assert req.speech_files == [question] and req.text == ""
    user, reply = window.view.turns
    assert user.transcript == "hello there" and reply.text == "You said: hello there"
    assert [r.label.text().split(":")[0] for r in user.audio_rows] == ["Spoken question"]  # replayable
    assert window.composer.chips == []


def test_chips_remove_one_attachment(qtbot, open_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    window = open_window()
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for p in (a, b):
        Image.new("RGB", (8, 8)).save(p)
    window.add_file(a)
    window.add_file(b)
    assert [c.label.text() for c in window.composer.chips] == ["Image: a.png", "Image: b.png"]
    window.composer.chips[0].remove_button.click()
    assert [x.path for x in window.attachments] == [b]


def test_the_editor_is_multi_line_and_takes_the_free_width(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    from anygpt_desktop.app.main_window import MIN_HEIGHT, MIN_WIDTH

    window = open_window()
    window.resize(MIN_WIDTH, MIN_HEIGHT)
    qtbot.waitUntil(lambda: window.width() == MIN_WIDTH)
    assert window.input.width() >= window.view.width() / 2
    window.input.setFocus()
    qtbot.keyClicks(window.input, "line one")
    qtbot.keyClick(window.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.input, "line two")
    assert window.input.text() == "line one\nline two"
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
    assert window.assistants[0].requests[0].text == "line one\nline two"


def test_a_restored_conversation_looks_like_the_live_one(qtbot, open_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "same"
    first = open_window(data)
    first.input.setText("say **this** with music")
    with qtbot.waitSignal(first.sig_turn_stored, timeout=5000):
        first.send()

    def looks(window: Any) -> list[tuple[str, str, list[str]]]:
        return [(t.role, t.text_label.text(), [r.label.text() for r in t.audio_rows]) for t in window.view.turns]

    live = looks(first)
    assert first.view.turns[-1].document is not None  # the reply renders Markdown
    first.close()
    second = open_window(data)
    with wait_signal(qtbot, second.engine.worker.sig_history_restored):  # a worker-thread signal: gui_wait's helper
        second.open_conversation(second.session.conversations()[0].id)
    assert looks(second) == live
    assert any("(0.3 s)" in label for label in live[-1][2])  # the spoken reply keeps its length


def test_history_has_date_headings_and_a_search_that_looks_into_the_turns(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    import time

    from anygpt_desktop.app.sidebar import date_heading

    window = open_window()
    for text in ("first topic\nwith a second line", "the weather"):
        window.new_conversation()
        window.input.setText(text)
        with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
            window.send()
    titles = [i.text() for i in window.sidebar.conversation_items()]
    assert titles == ["the weather", "first topic"]  # newest first; a title is the first line
    assert window.conv_list.item(0).text() == "Today"
    window.sidebar.search.setText("SECOND LINE")  # only in the turn's text, not in the title
    assert [i.text() for i in window.sidebar.conversation_items()] == ["first topic"]
    window.sidebar.search.clear()
    assert len(window.sidebar.conversation_items()) == 2
    now = time.mktime((2026, 12, 2, 15, 0, 0, 0, 0, -1))
    assert date_heading(now - 3600, now) == "Today"
    assert date_heading(now - 86400, now) == "Yesterday"
    assert date_heading(now - 3 * 86400, now) == "Previous 7 days"
    assert date_heading(now - 90 * 86400, now) == "September 2026"


def test_delete_asks_with_cancel_as_the_default(qtbot, open_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    window = open_window()
    window.input.setText("keep me")
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()
    seen: list[str] = []

    def press_enter() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen.append(box.defaultButton().text())
        qtbot.keyClick(box, Qt.Key.Key_Return)

    QTimer.singleShot(100, press_enter)
    window.delete_conversation()
    assert seen == ["&Cancel"] or seen == ["Cancel"]
    assert len(window.session.conversations()) == 1  # Enter kept it


def test_copy_ask_again_and_edit(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    window.input.setText("what is **this**")
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()
    user, reply = window.view.turns
    copy, again = reply.action_buttons
    copy.click()
    assert QApplication.clipboard().text() == "You said: what is **this**"  # the Markdown source
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        again.click()
    assert [r.text for r in window.assistants[0].requests] == ["what is **this**"] * 2
    (edit,) = user.action_buttons
    edit.click()
    assert window.input.text() == "what is **this**" and window.input.hasFocus()


def _no_output_player(device: Any = None, on_finished: Any = None) -> Any:
    """A player factory for a computer without any sound output: opening it fails."""
    raise OSError("no sound output device could be opened")


def test_without_a_speaker_hands_free_still_works_and_play_says_why(qtbot, open_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    window = open_window(player_factory=_no_output_player)
    window.hands_free.setChecked(True)
    assert window.mic.hands_free and window.hands_free.isChecked()
    qtbot.waitUntil(lambda: window.voice.hearing, timeout=5000)  # the buzz is heard as speech
    monkeypatch.setattr(FakeMic, "speaking", False)  # the user stops speaking: the utterance ends and is sent
    with qtbot.waitSignal(window.sig_turn_stored, timeout=10000):
        pass
    errors = _visible_errors(window)
    assert len(errors) == 1 and errors[0].startswith("Sound could not be played: no sound output device")
    assert "Hands-free keeps listening" in errors[0] and "Settings › Devices" in errors[0]
    assert window.notices.notices[-1].action_button.text() == "Settings › Devices"
    assert window.hands_free.isChecked() and window.mic.hands_free  # still listening
    assert window.view.turns[-1].text == "You said: hello there"
    qtbot.waitUntil(lambda: not window.stop_button.isEnabled(), timeout=2000)
    assert window.composer.phase is Phase.LISTENING
    row = window.view.turns[-1].audio_rows[0]
    row.button.click()  # Play: nothing can play, and the user is told so
    assert _visible_errors(window)[-1].startswith("Play did nothing: no sound output device could be opened.")
    assert not row.playing and window.voice.playing_row is None and not window.stop_button.isEnabled()
    window.hands_free.setChecked(False)
    assert not window.mic.hands_free and window.composer.phase is Phase.IDLE


def test_hands_free_says_why_it_cannot_listen(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    from anygpt_desktop.audio.errors import AudioDeviceError

    def no_microphone() -> Any:
        raise AudioDeviceError("No microphone was found. Plug one in or choose it in Settings.")

    window = open_window()
    window.mic.stop_monitoring()  # the microphone goes away
    window.mic._factory = no_microphone
    window.hands_free.setChecked(True)
    assert not window.hands_free.isChecked() and not window.mic.hands_free
    assert _visible_errors(window) == ["Hands-free cannot listen: No microphone was found. Plug one in or choose it "
                                       "in Settings."]
    assert window.notices.notices[-1].action_button.text() == "Settings › Devices"


def _code_fragments(document: Any) -> list[tuple[str, bool]]:
    """(text, shown in a fixed-pitch font) of every fragment of ``document`` set as code."""
    from PySide6.QtGui import QFontInfo

    out = []
    block = document.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fmt = it.fragment().charFormat()
            if fmt.fontFixedPitch():
                out.append((it.fragment().text(), QFontInfo(fmt.font()).fixedPitch()))
            it += 1
        block = block.next()
    return out


def test_inline_code_in_a_reply_is_shown_in_a_monospace_font(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    window = open_window()
    window.input.setText("call `print(x)` **now**")
    with qtbot.waitSignal(window.sig_turn_stored, timeout=5000):
        window.send()
    reply = window.view.turns[-1]
    assert reply.text == "You said: call `print(x)` **now**"  # the source is kept
    assert _code_fragments(reply.document) == [("print(x)", True)]
    shown = reply.text_label.text()
    assert reply.text_label.textFormat() == Qt.TextFormat.RichText and "`" not in shown and "**" not in shown
    assert "print(x)</span>" in shown and "monospace" in shown


def test_code_blocks_are_monospace_too() -> None:
    from anygpt_desktop.app.conversation import markdown_document

    doc = markdown_document("Text first.\n\n```\nfor i in range(3):\n    pass\n```\n")
    assert _code_fragments(doc) == [("for i in range(3):", True), ("    pass", True)]
    assert doc.toPlainText().startswith("Text first.")
