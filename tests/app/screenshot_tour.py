"""Drive the real window (a real X display with a window manager), save the key screens as PNGs and check them by
widget state. Run by ``test_screenshots.py`` in its own process (the Qt tests' process runs offscreen):

    DISPLAY=:99 QT_QPA_PLATFORM=xcb python tests/app/screenshot_tour.py OUT_DIR REPORT.json

The window runs on the fake engine (deterministic, instant), a microphone that hums speech-like sound and a player
without a sound card. The report lists each screenshot and each check's failures (empty lists when all is well).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication, QLabel, QWidget,
)

from fake_assistant import FakeAssistant
from test_accessibility import focus_chain, focusable, unnamed
from window_kit import FakeMic, make_player


def wait_until(app: QApplication, condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window never reached the expected state")
        app.processEvents()
        time.sleep(0.01)


def settle(app: QApplication, seconds: float = 0.3) -> None:
    """Let the window manager and Qt paint (screenshots only; checks wait for states)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def shoot(app: QApplication, widget: QWidget, path: Path) -> None:
    settle(app)
    frame = widget.frameGeometry()
    screen = widget.screen() or app.primaryScreen()
    screen.grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height()).save(str(path))


def missing_accessible_names(root: QWidget) -> list[str]:
    return unnamed(root)


def literal_ampersands(root: QWidget) -> list[str]:
    """Labels whose text shows an "&" (a mnemonic only works on a label with a buddy)."""
    return [w.text() for w in root.findChildren(QLabel)
            if w.isVisible() and "&" in w.text().replace("&&", "") and w.buddy() is None
            and w.textFormat() != Qt.TextFormat.RichText]


def tab_order_problems(window: Any) -> list[str]:
    """Tab visits every control in the window's order (sidebar, banner, turns, notices, composer, status bar)."""
    expected = [w for w in window.focus_order.widgets() if focusable(w)]
    order = focus_chain(window, expected[0])
    return [] if order == expected else [f"{[x.accessibleName() for x in order]}"]


def main(out: Path, report_path: Path) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from anygpt_desktop.app.audio_out import AudioOut
    from anygpt_desktop.app.controls import Phase
    from anygpt_desktop.app.main_window import MIN_HEIGHT, MIN_WIDTH, MainWindow
    from anygpt_desktop.app.mic import MicController
    from anygpt_desktop.app.settings import AppSettings
    from anygpt_desktop.storage.history import HistoryStore
    import anygpt_desktop.app.model_source as model_source

    tmp = Path(tempfile.mkdtemp(prefix="anygpt-tour-"))
    hold = threading.Event()
    assistants: list[FakeAssistant] = []

    def demo_factory(folder: Path, *, demo: bool, device: Any, **_: Any) -> Any:
        def make() -> FakeAssistant:
            a = FakeAssistant(folder, out_dir=tmp, hold=hold, hold_after=3)
            assistants.append(a)
            return a
        return make

    model_source.engine_factory = demo_factory  # "Try the demo" loads the fake engine
    missing = "no language model at /models/AnyGPT-chat (config.json missing)"
    window = MainWindow(lambda: FakeAssistant(tmp, out_dir=tmp, fail_load=missing), history=HistoryStore(tmp / "history"),
                        settings=AppSettings(tmp / "settings.ini"), audio_out=AudioOut(player_factory=make_player),
                        mic=MicController(mic_factory=FakeMic), models_dir=tmp / "models")
    window.resize(1100, 720)
    window.show()
    report: dict[str, Any] = {"screens": [], "checks": {}}

    def screen(name: str, widget: QWidget | None = None) -> None:
        shoot(app, widget or window, out / f"{name}.png")
        report["screens"].append(name)

    wait_until(app, lambda: window.model_state == "failed", 180)  # the first load imports the engine
    window.notices.clear()  # no sound card here: the microphone's notice belongs to the error screen
    wait_until(app, lambda: window.guide.isVisible())
    screen("02-first-run-guide", window.guide)
    window.guide.reject()
    screen("01-first-run-no-models")
    report["checks"]["banner_has_buttons"] = [] if window.banner.buttons.isVisible() else ["no banner buttons"]

    window.banner.demo_button.click()
    wait_until(app, lambda: window.model_state == "ready")
    window.open_model_manager()
    screen("03-model-manager", window.model_manager)
    window.model_manager.reject()

    window.hands_free.setChecked(True)
    wait_until(app, lambda: window.composer.phase is Phase.LISTENING or window.composer.phase is Phase.HEARING)
    window.voice.hearing = False
    window.sync_controls()
    screen("04-listening")
    window.hands_free.setChecked(False)
    window.voice.press()
    wait_until(app, lambda: window.mic.recorded_s >= 0.5 and window.level.value() > 0)
    screen("05-hearing-you")
    window.mic.cancel()
    wait_until(app, lambda: not window.mic.recording)

    window.input.setText("Say hello, please")
    window.send()
    wait_until(app, lambda: window.composer.phase is Phase.THINKING and len(window.view.turns[-1].text.split()) >= 3)
    screen("06-thinking")
    hold.set()
    wait_until(app, lambda: window.composer.phase is Phase.SPEAKING)
    screen("07-speaking")
    window.stop()
    wait_until(app, lambda: window.composer.phase is Phase.IDLE and not window.session.busy)

    assistants[-1].fail_turn = "The GPU ran out of memory. Try shorter replies (Settings › Decoding)."
    window.input.setText("Tell me a long story")
    window.send()
    wait_until(app, lambda: not window.session.busy and bool(window.notices.notices))
    errors = [n for n in window.notices.notices if n.error and n.isVisible()]
    report["checks"]["error_shown_outside_the_status_bar"] = [] if errors else ["no visible error notice"]
    screen("08-error-shown")
    window.notices.clear()
    assistants[-1].fail_turn = None

    window.new_conversation()
    window.input.setText("Draw a **blue** sky:\n\n- a list item\n- `code` in a line")
    window.send()
    wait_until(app, lambda: not window.session.busy)
    reply = window.view.turns[-1]
    report["checks"]["markdown_rendered"] = [] if reply.document is not None else [
        "reply shown as plain text"]
    report["checks"]["image_shown"] = [] if reply.images else ["no image"]
    screen("09-reply-markdown-and-image")

    window.set_theme("dark")
    screen("10-dark-theme")
    report["checks"]["accessible_names"] = missing_accessible_names(window)
    report["checks"]["literal_ampersands"] = literal_ampersands(window)
    window.open_settings("files")
    settle(app)
    report["checks"]["literal_ampersands_settings"] = literal_ampersands(window.settings_dialog)
    report["checks"]["accessible_names_settings"] = missing_accessible_names(window.settings_dialog)
    window.settings_dialog.reject()
    window.set_theme("light")

    window.resize(MIN_WIDTH, MIN_HEIGHT)
    wait_until(app, lambda: window.width() <= MIN_WIDTH + 2)
    settle(app)
    half = window.input.width() >= window.view.width() / 2
    report["checks"]["editor_half_width_at_minimum_size"] = [] if half else [
        f"editor {window.input.width()} px, conversation {window.view.width()} px"]
    report["checks"]["tab_order"] = tab_order_problems(window)
    screen("11-minimum-size")
    window.close()
    shutil.rmtree(tmp, ignore_errors=True)
    report_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
