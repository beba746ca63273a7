"""The Settings dialog: model device and precision, decoding, speech, sound devices, files, engine (this computer or
a server; :mod:`~anygpt_desktop.app.engine_page`).

It edits a copy of the values and writes them through :class:`AppSettings` only on OK/Apply (after checking them);
``sig_settings_applied`` carries the keys that changed, and the window applies them (each tab says when they take
effect).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from anygpt_desktop.app.settings import (
    APPLIES,
    DECODE_LIMIT_DEFAULTS,
    DECODE_MODALITIES,
    DEFAULTS,
    DEVICES,
    PRECISIONS,
    REFERENCE_SAMPLING,
    AppSettings,
    sampling_key,
)
from anygpt_desktop.app.engine_page import EnginePage
from anygpt_desktop.app.engines import engine_settings_problem
from anygpt_desktop.app.focus_order import chain
from anygpt_desktop.app.widgets import name_buttons
from anygpt_desktop.app.widgets import note as _note

logger = logging.getLogger(__name__)

DEVICE_LABELS = {"": "Automatic (GPU when available)", "cuda": "GPU (CUDA)", "cpu": "CPU"}
PRECISION_LABELS = {"": "Automatic (what fits the free memory)", "fp32": "float32", "bf16": "bfloat16",
                    "fp16": "float16", "int8": "8-bit weights (int8)", "int4": "4-bit weights (int4, lower quality)"}
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


class SettingsError(ValueError):
    """A value in the dialog that cannot be used; the message says which and why (``tab``: where it is)."""

    def __init__(self, message: str, tab: str = "") -> None:
        super().__init__(message)
        self.tab = tab


def audio_device_names(direction: str) -> tuple[list[str], str]:
    """The names of the input or output devices, and a message when they cannot be listed (no PortAudio)."""
    from anygpt_desktop.audio.devices import list_devices
    from anygpt_desktop.audio.errors import AudioError

    try:
        return [d.name for d in list_devices(direction)], ""  # type: ignore[arg-type]
    except AudioError as exc:
        return [], str(exc)
    except Exception as exc:  # a broken sound system must not keep the dialog from opening
        logger.warning("listing %s devices failed: %s", direction, exc)
        return [], f"The sound devices could not be listed: {exc}"


class SettingsDialog(QDialog):
    sig_settings_applied = Signal(list)  # the keys that changed

    def __init__(self, settings: AppSettings, parent: QWidget | None = None, device_lister: Any = audio_device_names,
                 engine_override: str = "") -> None:
        """``engine_override``: the command-line option that chose this session's engine ("" if none)."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.settings = settings
        self._list_devices = device_lister
        self.tabs = QTabWidget()
        self.tabs.addTab(self._model_tab(), "&Model")
        self.tabs.addTab(self._decoding_tab(), "&Decoding")
        self.tabs.addTab(self._speech_tab(), "&Speech")
        self.tabs.addTab(self._devices_tab(), "De&vices")
        self.tabs.addTab(self._files_tab(), "&Files")
        self.engine_page = EnginePage(engine_override)
        self.tabs.addTab(self.engine_page, "&Engine")
        self.error_label = QLabel()
        self.error_label.setObjectName("banner")
        self.error_label.setWordWrap(True)
        self.error_label.setAccessibleName("Settings error")
        self.error_label.setVisible(False)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Apply
            | QDialogButtonBox.StandardButton.Cancel | QDialogButtonBox.StandardButton.RestoreDefaults)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)
        defaults = self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        defaults.setText("Reference values")
        defaults.setToolTip("Put the decoding tab back to the values the reference system used")
        defaults.clicked.connect(self.restore_reference_decoding)
        name_buttons(self.buttons)
        self.tabs.tabBar().setAccessibleName("Settings sections")
        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs)
        lay.addWidget(self.error_label)
        lay.addWidget(self.buttons)
        self.load(settings.values())
        self.resize(640, 460)

    TAB_NAMES = ("model", "decoding", "speech", "devices", "files", "engine")

    def show_tab(self, name: str) -> None:
        """Open on one tab ("devices" for a microphone or speaker problem)."""
        if name in self.TAB_NAMES:
            self.tabs.setCurrentIndex(self.TAB_NAMES.index(name))

    # ------------------------------------------------------------------------------------------------- tabs

    def _model_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.device = QComboBox()
        for value in DEVICES:
            self.device.addItem(DEVICE_LABELS[value], value)
        self.device.setAccessibleName("Compute device")
        self.precision = QComboBox()
        for value in PRECISIONS:
            self.precision.addItem(PRECISION_LABELS[value], value)
        self.precision.setAccessibleName("Precision")
        form.addRow("Compute &device:", self.device)
        form.addRow("&Precision:", self.precision)
        form.addRow(_note(f"These apply {APPLIES['model']}. float16/bfloat16 halve the memory the model needs "
                          "and only make sense on a GPU."))
        return page

    def _decoding_tab(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        grid = QGridLayout()
        for col, title in enumerate(["", "Temperature", "Top-k", "Top-p", "Repetition penalty"]):
            grid.addWidget(QLabel(f"<b>{title}</b>"), 0, col)
        self.sampling: dict[str, QSpinBox | QDoubleSpinBox] = {}
        for row, m in enumerate(DECODE_MODALITIES, start=1):
            grid.addWidget(QLabel(m.capitalize()), row, 0)
            widgets: list[QSpinBox | QDoubleSpinBox] = [
                self._double(0.0, 2.0, 0.05, 2), self._int(0, 5000), self._double(0.01, 1.0, 0.05, 2),
                self._double(1.0, 2.0, 0.01, 2),
            ]
            for col, (name, w) in enumerate(zip(("temperature", "top_k", "top_p", "repetition_penalty"), widgets), 1):
                w.setAccessibleName(f"{m} {name.replace('_', ' ')}")
                self.sampling[sampling_key(m, name)] = w
                grid.addWidget(w, row, col)
        lay.addLayout(grid)
        lay.addWidget(_note("Temperature 0 always takes the likeliest token; top-k 0 and top-p 1 switch those filters "
                            "off. Text is the written reply, speech/image/music the units inside a spoken reply, a "
                            "picture or music."))
        form = QFormLayout()
        self.limits: dict[str, QSpinBox] = {
            "max_text_tokens": self._int(1, 4000),
            "max_speech_units": self._int(10, 6000),
            "max_music_units": self._int(4, 8000),
        }
        self.limits["max_text_tokens"].setAccessibleName("Longest written reply in tokens")
        self.limits["max_speech_units"].setAccessibleName("Longest spoken reply in units")
        self.limits["max_music_units"].setAccessibleName("Longest music in units")
        form.addRow("Longest &text reply (tokens):", self.limits["max_text_tokens"])
        form.addRow("Longest &spoken reply (units, 50 = 1 s):", self.limits["max_speech_units"])
        form.addRow("Longest &music (units, 200 = 1 s):", self.limits["max_music_units"])
        self.text_beams = self._int(1, 8)
        self.text_beams.setAccessibleName("Beams for text-only replies")
        self.text_beams.setToolTip("More than 1: the reference's beam sampling for replies that are only text; "
                                   "the reply then appears at the end instead of word by word")
        form.addRow("&Beams for text-only replies (1 = streamed):", self.text_beams)
        lay.addLayout(form)
        lay.addWidget(_note(f"Decoding settings apply {APPLIES['decoding']}."))
        lay.addStretch(1)
        return page

    def _speech_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.vad_aggressiveness = QComboBox()
        for level, label in enumerate(["0 — hears the most (quiet rooms)", "1", "2 — balanced", "3 — strictest (noisy rooms)"]):
            self.vad_aggressiveness.addItem(label, level)
        self.vad_aggressiveness.setAccessibleName("Voice detection strictness")
        self.end_silence = self._int(90, 5000, 30, " ms")
        self.end_silence.setAccessibleName("End-of-turn silence in milliseconds")
        self.pre_roll = self._int(0, 1500, 30, " ms")
        self.pre_roll.setAccessibleName("Pre-roll in milliseconds")
        form.addRow("Voice detection &strictness:", self.vad_aggressiveness)
        form.addRow("&End of turn after silence of:", self.end_silence)
        form.addRow("&Pre-roll (kept before speech or the key):", self.pre_roll)
        form.addRow(_note("Hands-free mode ends your turn after the silence above. The pre-roll keeps the first "
                          f"syllable, spoken just before the voice was detected or the key went down. These apply "
                          f"{APPLIES['speech']}."))
        return page

    def _devices_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.input_device = QComboBox()
        self.input_device.setAccessibleName("Microphone")
        self.output_device = QComboBox()
        self.output_device.setAccessibleName("Speaker")
        self.refresh_button = QPushButton("&Refresh list")
        self.refresh_button.setAccessibleName("Refresh the device lists")
        self.refresh_button.clicked.connect(lambda: self._fill_devices(self.input_device.currentData(),
                                                                        self.output_device.currentData()))
        self.devices_note = _note("")
        form.addRow("&Microphone:", self.input_device)
        form.addRow("Spea&ker:", self.output_device)
        form.addRow("", self.refresh_button)
        form.addRow(self.devices_note)
        form.addRow(_note(f"Device choices apply {APPLIES['devices']}."))
        return page

    def _files_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.default_voice = QLineEdit()
        self.default_voice.setPlaceholderText("none: the model's own voice")
        self.default_voice.setAccessibleName("Default voice recording")
        self.voice_button = QPushButton("Choose…")
        self.voice_button.setAccessibleName("Choose the default voice recording")
        self.voice_button.clicked.connect(self._pick_voice)
        self.output_folder = QLineEdit()
        self.output_folder.setPlaceholderText("default: “outputs” beside the models folder")
        self.output_folder.setAccessibleName("Output folder")
        self.folder_button = QPushButton("Choose…")
        self.folder_button.setAccessibleName("Choose the output folder")
        self.folder_button.clicked.connect(self._pick_folder)
        for text, edit, button in (("Default &voice:", self.default_voice, self.voice_button),
                                   ("&Output folder:", self.output_folder, self.folder_button)):
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(button)
            label = QLabel(text)
            label.setBuddy(edit)  # a row of widgets gets no buddy by itself: the "&" would show literally
            form.addRow(label, row)
        form.addRow(_note("The default voice is a short recording (3–10 s of one speaker) whose voice speaks the "
                          "replies when you give none; the output folder receives the spoken replies, pictures and "
                          f"music. These apply {APPLIES['files']}."))
        return page

    @staticmethod
    def _int(lo: int, hi: int, step: int = 1, suffix: str = "") -> QSpinBox:
        w = QSpinBox()
        w.setRange(lo, hi)
        w.setSingleStep(step)
        w.setSuffix(suffix)
        return w

    @staticmethod
    def _double(lo: float, hi: float, step: float, decimals: int) -> QDoubleSpinBox:
        w = QDoubleSpinBox()
        w.setRange(lo, hi)
        w.setSingleStep(step)
        w.setDecimals(decimals)
        return w

    def _fill_devices(self, current_in: str, current_out: str) -> None:
        notes = []
        for combo, direction, current in ((self.input_device, "input", current_in),
                                          (self.output_device, "output", current_out)):
            names, problem = self._list_devices(direction)
            combo.clear()
            combo.addItem("System default", "")
            for name in names:
                combo.addItem(name, name)
            if current and current not in names:
                combo.addItem(f"{current} (not connected)", current)
            combo.setCurrentIndex(max(0, combo.findData(current)))
            if problem and problem not in notes:
                notes.append(problem)
        self.devices_note.setText("\n".join(notes))
        self.devices_note.setVisible(bool(notes))

    def _pick_voice(self) -> None:
        exts = " ".join(f"*{s}" for s in AUDIO_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Default voice", self.default_voice.text() or str(Path.home()),
                                              f"Audio ({exts})")
        if path:
            self.default_voice.setText(path)

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Output folder", self.output_folder.text() or str(Path.home()))
        if path:
            self.output_folder.setText(path)

    # ------------------------------------------------------------------------------------------------- values

    def load(self, values: dict[str, Any]) -> None:
        """Show ``values`` (a full settings dict)."""
        self.device.setCurrentIndex(max(0, self.device.findData(values["device"])))
        self.precision.setCurrentIndex(max(0, self.precision.findData(values["precision"])))
        for key, w in self.sampling.items():
            w.setValue(values[key])
        for key, w in self.limits.items():
            w.setValue(int(values[key]))
        self.text_beams.setValue(int(values["text_beams"]))
        self.vad_aggressiveness.setCurrentIndex(max(0, self.vad_aggressiveness.findData(int(values["vad_aggressiveness"]))))
        self.end_silence.setValue(int(values["vad_end_silence_ms"]))
        self.pre_roll.setValue(int(values["pre_roll_ms"]))
        self._fill_devices(values["input_device"], values["output_device"])
        self.default_voice.setText(values["default_voice"])
        self.output_folder.setText(values["output_folder"])
        self.engine_page.load(values)

    def values(self) -> dict[str, Any]:
        """What the dialog shows now, as settings values (not checked)."""
        out: dict[str, Any] = {
            "device": self.device.currentData(),
            "precision": self.precision.currentData(),
            "vad_aggressiveness": int(self.vad_aggressiveness.currentData()),
            "vad_end_silence_ms": self.end_silence.value(),
            "pre_roll_ms": self.pre_roll.value(),
            "input_device": self.input_device.currentData() or "",
            "output_device": self.output_device.currentData() or "",
            "default_voice": self.default_voice.text().strip(),
            "output_folder": self.output_folder.text().strip(),
        }
        for key, w in self.sampling.items():
            out[key] = type(DEFAULTS[key])(w.value())
        for key, w in self.limits.items():
            out[key] = w.value()
        out["text_beams"] = self.text_beams.value()
        out.update(self.engine_page.values())
        return out

    def restore_reference_decoding(self) -> None:
        for key, w in self.sampling.items():
            w.setValue(REFERENCE_SAMPLING[key])
        for key, w in self.limits.items():
            w.setValue(DECODE_LIMIT_DEFAULTS[key])
        self.text_beams.setValue(DEFAULTS["text_beams"])

    def check(self, values: dict[str, Any]) -> None:
        """Raise :class:`SettingsError` for values that cannot work."""
        voice = values["default_voice"]
        if voice:
            path = Path(voice).expanduser()
            if not path.is_file():
                raise SettingsError(f"The default voice file {voice} does not exist.")
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                raise SettingsError(f"The default voice must be a WAV, FLAC, OGG or MP3 recording, not {path.name}.")
        folder = values["output_folder"]
        if folder:
            path = Path(folder).expanduser()
            if path.exists() and not path.is_dir():
                raise SettingsError(f"The output folder {folder} is a file, not a folder.")
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SettingsError(f"The output folder {folder} cannot be created: {exc.strerror or exc}.") from exc
        if problem := engine_settings_problem(values):
            raise SettingsError(problem, "engine")

    def apply(self) -> bool:
        """Check and store the values; emits ``sig_settings_applied`` with the changed keys. False if a value is bad."""
        values = self.values()
        try:
            self.check(values)
        except SettingsError as exc:
            if exc.tab:
                self.show_tab(exc.tab)
            self.error_label.setText(str(exc))
            self.error_label.setVisible(True)
            return False
        self.error_label.setVisible(False)
        changed = self.settings.update(values)
        if changed:
            self.sig_settings_applied.emit(changed)
        return True

    def accept(self) -> None:
        if self.apply():
            super().accept()

    def showEvent(self, event: QShowEvent) -> None:
        """Tab visits the buttons left to right, as the style laid them out ("Reference values" first)."""
        super().showEvent(event)
        chain(sorted(self.buttons.buttons(), key=lambda b: b.mapTo(self, QPoint()).x()))
