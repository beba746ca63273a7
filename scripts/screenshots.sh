#!/usr/bin/env bash
# Screenshots of the main states under Xvfb (xcb platform), into docs/screenshots/.
# The replies come from the fake assistant of tests/app (no models needed); everything else is the real app.
# Needs: xvfb-run (Debian: apt-get install xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
#        libxcb-xinerama0 libxkbcommon-x11-0 libxcb-randr0 libxcb-shape0 libxcb-xkb1 libegl1 libgl1).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-docs/screenshots}"
mkdir -p "$OUT"
command -v xvfb-run >/dev/null || { echo "xvfb-run is not installed" >&2; exit 2; }
PY="${PYTHON:-python}"
[ -x .venv/bin/python ] && PY=.venv/bin/python
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export XDG_DATA_HOME="$TMP/data" XDG_CONFIG_HOME="$TMP/config" QT_QPA_PLATFORM=xcb
xvfb-run -a -s "-screen 0 1280x860x24" "$PY" - "$OUT" "$TMP" <<'PYEOF'
import sys
from pathlib import Path

sys.path.insert(0, "tests/app")
from fake_assistant import FakeAssistant
import numpy as np
from PIL import Image, ImageDraw
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from anygpt_desktop.app.audio_out import AudioOut
from anygpt_desktop.app.main_window import MainWindow
from anygpt_desktop.app.mic import MicController

out, tmp = Path(sys.argv[1]), Path(sys.argv[2])
app = QApplication(sys.argv[:1])


class PictureAssistant(FakeAssistant):
    """The fake, drawing a nicer picture than a flat rectangle."""

    def turn(self, request, state):
        for event in super().turn(request, state):
            if type(event).__name__ == "ImageReady":
                img = Image.new("RGB", (320, 240), (135, 190, 235))
                d = ImageDraw.Draw(img)
                d.rectangle([0, 170, 320, 240], fill=(238, 214, 160))
                d.ellipse([230, 20, 290, 80], fill=(255, 215, 0))
                d.polygon([(60, 170), (110, 90), (160, 170)], fill=(90, 140, 90))
                img.save(event.path)
            yield event


def wait(cond, ms=8000):
    import time
    end = time.monotonic() + ms / 1000
    while not cond() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def shot(widget, name):
    wait(lambda: False, 150)  # let streamed text and layouts settle
    path = out / name
    widget.grab().save(str(path))
    print("saved", path)


class RoomMic:
    """A quiet room as the microphone (a virtual machine has no sound card)."""

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def start(self):
        pass

    def stop(self):
        pass

    def read_available(self):
        return [(0.01 * self.rng.standard_normal(480)).astype(np.float32)]


class NoOutput:
    playing = False
    position_s = 0.0

    def __init__(self, *a, **k):
        pass

    def feed(self, *a):
        pass

    def end(self):
        pass

    def stop(self):
        pass

    def close(self):
        pass


window = MainWindow(lambda: PictureAssistant(tmp, out_dir=tmp), device_label="device: cpu (demo)", demo=True,
                    mic=MicController(mic_factory=RoomMic), audio_out=AudioOut(player_factory=NoOutput))
window.resize(1180, 780)
window.show()
wait(lambda: window.model_state == "ready")
shot(window, "01-empty.png")

photo = tmp / "beach.png"
img = Image.new("RGB", (300, 200), (70, 130, 200))
ImageDraw.Draw(img).rectangle([0, 130, 300, 200], fill=(230, 205, 150))
img.save(photo)
window.add_attachment(photo, "image")
window.input.setText("What is in this picture? Then draw a sunny beach.")
done = []
window.sig_turn_stored.connect(lambda cid: done.append(cid))
window.send()
wait(lambda: done)
window.input.setText("Say hello")
window.send()
wait(lambda: len(done) == 2)
shot(window, "02-conversation.png")

window.set_theme("dark")
shot(window, "03-conversation-dark.png")
window.set_theme("light")

window.open_model_manager()
wait(lambda: window.model_manager.isVisible(), 2000)
shot(window.model_manager, "04-model-manager.png")
window.model_manager.reject()

window.open_settings()
wait(lambda: window.settings_dialog.isVisible(), 2000)
shot(window.settings_dialog, "05-settings-model.png")
window.settings_dialog.tabs.setCurrentIndex(1)
shot(window.settings_dialog, "06-settings-decoding.png")
window.settings_dialog.tabs.setCurrentIndex(2)
shot(window.settings_dialog, "07-settings-speech.png")
window.settings_dialog.tabs.setCurrentIndex(3)
shot(window.settings_dialog, "08-settings-devices.png")
window.settings_dialog.reject()

window.talk_mode.setCurrentIndex(window.talk_mode.findData("toggle"))
window.mic.press()
wait(lambda: False, 400)
shot(window, "09-click-to-talk-recording.png")
window.mic.cancel()
window.close()
PYEOF
ls -la "$OUT"
