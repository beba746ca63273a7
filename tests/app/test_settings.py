"""Settings: persisted values, their mapping onto the engine's settings, and the Settings dialog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtWidgets import QDialogButtonBox

from anygpt_desktop.app.settings import (
    DECODE_LIMIT_DEFAULTS,
    DECODE_MODALITIES,
    DEFAULTS,
    AppSettings,
    assistant_settings,
    decode_settings,
    sampling_key,
)
from anygpt_desktop.app.settings_dialog import SettingsDialog


def test_values_keep_their_types_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "settings.ini"
    first = AppSettings(path)
    first.set("text_temperature", 0.7)
    first.set("max_speech_units", 50)
    first.set("device", "cpu")
    second = AppSettings(path)  # a new process reads the INI file (strings) back
    assert second.get("text_temperature") == 0.7 and isinstance(second.get("text_temperature"), float)
    assert second.get("max_speech_units") == 50 and isinstance(second.get("max_speech_units"), int)
    assert second.get("device") == "cpu"
    assert second.get("music_top_k") == 200  # the reference's music top-k when nothing is stored
    with pytest.raises(KeyError):
        second.set("no_such_setting", 1)


def test_defaults_are_the_engine_defaults() -> None:
    from anygpt_desktop.engine.decode_loop import DecodeSettings
    from anygpt_desktop.engine.sampling import SamplingParams

    engine = DecodeSettings()
    mapped = decode_settings(DEFAULTS)
    for m in DECODE_MODALITIES:
        assert getattr(mapped, m) == SamplingParams.from_reference(m) == getattr(engine, m)
    for key in (*DECODE_LIMIT_DEFAULTS, "text_beams"):
        assert getattr(mapped, key) == getattr(engine, key)


def test_settings_map_onto_the_assistant_settings(tmp_path: Path) -> None:
    values = dict(DEFAULTS)
    values.update({
        "device": "cpu", "precision": "bf16", "output_folder": str(tmp_path / "out"),
        "default_voice": str(tmp_path / "me.wav"), "max_text_tokens": 10, "max_speech_units": 50,
        sampling_key("speech", "temperature"): 0.8, sampling_key("speech", "top_k"): 20,
        sampling_key("speech", "top_p"): 0.9, sampling_key("speech", "repetition_penalty"): 1.2,
        sampling_key("text", "temperature"): 0.0, "text_beams": 3,
    })
    s = assistant_settings(values)
    assert (s.device, s.precision) == ("cpu", "bf16")
    assert s.output_dir == tmp_path / "out" and s.default_voice == tmp_path / "me.wav"
    assert (s.decode.max_text_tokens, s.decode.max_speech_units) == (10, 50)
    sp = s.decode.speech
    assert (sp.do_sample, sp.temperature, sp.top_k, sp.top_p, sp.repetition_penalty) == (True, 0.8, 20, 0.9, 1.2)
    assert s.decode.text.do_sample is False  # temperature 0: greedy
    assert s.decode.max_new_tokens >= 10 + 50 and s.decode.text_beams == 3
    auto = assistant_settings(DEFAULTS)
    assert (auto.device, auto.dtype, auto.output_dir, auto.default_voice) == (None, None, None, None)


def _dialog(qtbot, tmp_path: Path, lister=None) -> tuple[SettingsDialog, AppSettings, list]:  # type: ignore[no-untyped-def]
    settings = AppSettings(tmp_path / "settings.ini")
    dialog = SettingsDialog(settings, device_lister=lister or (lambda d: ([f"{d} one", f"{d} two"], "")))
    qtbot.addWidget(dialog)
    applied: list = []
    dialog.sig_settings_applied.connect(applied.append)
    return dialog, settings, applied


def test_the_dialog_shows_and_stores_every_group(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog, settings, applied = _dialog(qtbot, tmp_path)
    assert dialog.sampling[sampling_key("music", "top_k")].value() == 200
    assert dialog.limits["max_text_tokens"].value() == 500
    assert [dialog.input_device.itemText(i) for i in range(dialog.input_device.count())] == [
        "System default", "input one", "input two"]
    voice = tmp_path / "voice.wav"
    sf.write(voice, np.zeros(16000, np.float32), 16000)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.precision.setCurrentIndex(dialog.precision.findData("int8"))
    dialog.sampling[sampling_key("text", "temperature")].setValue(0.7)
    dialog.sampling[sampling_key("speech", "top_p")].setValue(0.9)
    dialog.limits["max_speech_units"].setValue(50)
    dialog.text_beams.setValue(2)
    dialog.vad_aggressiveness.setCurrentIndex(3)
    dialog.end_silence.setValue(900)
    dialog.pre_roll.setValue(450)
    dialog.input_device.setCurrentIndex(2)
    dialog.output_device.setCurrentIndex(1)
    dialog.default_voice.setText(str(voice))
    dialog.output_folder.setText(str(tmp_path / "new" / "outputs"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.result() == dialog.DialogCode.Accepted
    assert sorted(applied[0]) == sorted([
        "device", "precision", "text_temperature", "speech_top_p", "max_speech_units", "text_beams", "vad_aggressiveness",
        "vad_end_silence_ms", "pre_roll_ms", "input_device", "output_device", "default_voice", "output_folder"])
    again = AppSettings(tmp_path / "settings.ini")
    assert again.get("device") == "cpu" and again.get("precision") == "int8"
    assert again.get("text_temperature") == pytest.approx(0.7) and again.get("speech_top_p") == pytest.approx(0.9)
    assert again.get("max_speech_units") == 50 and again.get("vad_aggressiveness") == 3
    assert again.get("vad_end_silence_ms") == 900 and again.get("pre_roll_ms") == 450
    assert again.get("input_device") == "input two" and again.get("output_device") == "output one"
    assert again.get("default_voice") == str(voice)
    assert (tmp_path / "new" / "outputs").is_dir()
    # a second dialog shows what was stored; the reference button puts decoding back
    dialog2, _, _ = _dialog(qtbot, tmp_path)
    assert dialog2.values()["max_speech_units"] == 50 and dialog2.values()["input_device"] == "input two"
    dialog2.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).click()
    assert dialog2.values()["max_speech_units"] == 1500 and dialog2.values()["text_temperature"] == 1.0


def test_bad_values_are_explained_and_not_stored(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog, settings, applied = _dialog(qtbot, tmp_path)
    dialog.show()
    dialog.default_voice.setText(str(tmp_path / "missing.wav"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.isVisible() and dialog.error_label.isVisible()
    assert "does not exist" in dialog.error_label.text()
    (tmp_path / "notes.txt").write_text("x")
    dialog.default_voice.setText(str(tmp_path / "notes.txt"))
    assert not dialog.apply() and "WAV, FLAC, OGG or MP3" in dialog.error_label.text()
    dialog.default_voice.setText("")
    dialog.output_folder.setText(str(tmp_path / "notes.txt"))
    assert not dialog.apply() and "is a file" in dialog.error_label.text()
    assert applied == [] and settings.get("default_voice") == "" and settings.get("output_folder") == ""


def test_no_sound_system_still_opens_with_a_reason(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog, settings, _ = _dialog(qtbot, tmp_path, lister=lambda d: ([], "PortAudio could not be loaded."))
    settings.set("input_device", "Old USB mic")
    dialog.load(settings.values())
    assert [dialog.input_device.itemText(i) for i in range(dialog.input_device.count())] == [
        "System default", "Old USB mic (not connected)"]
    assert dialog.input_device.currentData() == "Old USB mic"  # a missing device is not silently forgotten
    assert dialog.devices_note.text() == "PortAudio could not be loaded."


def test_every_control_has_an_accessible_name(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog, _, _ = _dialog(qtbot, tmp_path)
    controls = [dialog.device, dialog.precision, dialog.vad_aggressiveness, dialog.end_silence, dialog.pre_roll,
                dialog.input_device, dialog.output_device, dialog.default_voice, dialog.output_folder,
                dialog.text_beams, *dialog.sampling.values(), *dialog.limits.values()]
    assert all(w.accessibleName() for w in controls)


def test_demo_mode_shortens_only_default_limits():
    from anygpt_desktop.app.settings import DECODE_LIMIT_DEFAULTS, DEMO_LIMITS, with_demo_limits

    values = dict(DECODE_LIMIT_DEFAULTS)
    assert with_demo_limits(values) == DEMO_LIMITS
    values["max_speech_units"] = 700  # the user's own choice is kept
    assert with_demo_limits(values)["max_speech_units"] == 700


def test_the_limit_defaults_come_from_the_engine_without_importing_it() -> None:
    """``DecodeSettings`` is the one source of the defaults; reading them must not pull torch into the window."""
    import subprocess
    import sys

    from anygpt_desktop.app.settings import decode_field_defaults

    code = ("import sys; import anygpt_desktop.app.settings as s; "
            "assert 'torch' not in sys.modules, 'settings imported torch'; print(s.DEFAULTS['max_text_tokens'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    from anygpt_desktop.engine.decode_loop import DecodeSettings

    assert int(out.stdout) == DecodeSettings().max_text_tokens
    with pytest.raises(AttributeError, match="no_such_limit"):
        decode_field_defaults(("max_text_tokens", "no_such_limit"))


def test_precision_settings_reach_the_loader_and_old_values_still_mean_the_same() -> None:
    from anygpt_desktop.app.settings import DEFAULTS, LEGACY_PRECISIONS, PRECISIONS, assistant_settings
    from anygpt_desktop.engine.llm import PRECISION_CHOICES

    assert set(PRECISIONS) - {""} <= set(PRECISION_CHOICES)
    assert assistant_settings(DEFAULTS).precision == "auto" and assistant_settings(DEFAULTS).decode_mode is None
    for legacy, now in LEGACY_PRECISIONS.items():
        assert assistant_settings({**DEFAULTS, "precision": legacy}).precision == now
    chosen = assistant_settings({**DEFAULTS, "precision": "int8", "decode_mode": "compiled"})
    assert (chosen.precision, chosen.decode_mode) == ("int8", "compiled")


def test_the_llm_server_setting_reaches_the_engine_and_the_command_line_wins(tmp_path: Path) -> None:
    assert assistant_settings(DEFAULTS).llm_url is None  # loaded here (unless $ANYGPT_LLM_URL says otherwise)
    assert assistant_settings({**DEFAULTS, "llm_url": " http://gpu:8000/v1 "}).llm_url == "http://gpu:8000/v1"
    stored = AppSettings(tmp_path / "settings.ini")
    stored.set("llm_url", "http://stored:8000/v1")
    stored.overrides["llm_url"] = "http://flag:8000/v1"  # run_gui's --llm-url
    assert assistant_settings(stored.values()).llm_url == "http://flag:8000/v1"
    assert AppSettings(tmp_path / "settings.ini").get("llm_url") == "http://stored:8000/v1"  # the flag is not stored


def test_the_engine_page_stores_a_server_only_with_a_good_url_and_token_file(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog, settings, applied = _dialog(qtbot, tmp_path)
    dialog.show()
    page = dialog.engine_page
    assert page.local.isChecked() and not page.server.isEnabled()  # this computer by default
    assert not page.override_note.isVisible()
    page.remote.click()
    assert page.server.isEnabled()
    page.url.setText("http://gpu.example.org:8765")
    page.token_file.setText(str(tmp_path / "token"))
    dialog.show_tab("model")
    assert not dialog.apply()
    assert dialog.tabs.currentWidget() is page  # the dialog shows where the problem is
    assert dialog.error_label.isVisible() and "must start with ws:// or wss://, not http://" in dialog.error_label.text()
    page.url.setText("wss://gpu.example.org")
    assert not dialog.apply() and "needs a port" in dialog.error_label.text()
    page.url.setText("wss://gpu.example.org:8765")
    assert not dialog.apply() and dialog.error_label.text() == f"The token file {tmp_path / 'token'} does not exist."
    (tmp_path / "token").write_text("")
    assert not dialog.apply() and "is empty" in dialog.error_label.text()
    assert applied == [] and settings.get("engine") == "" and settings.get("engine_url") == ""
    (tmp_path / "token").write_text("s" * 40 + "\n")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.result() == dialog.DialogCode.Accepted and not dialog.error_label.isVisible()
    assert sorted(applied[0]) == ["engine", "engine_token_file", "engine_url"]
    again = AppSettings(tmp_path / "settings.ini")
    assert (again.get("engine"), again.get("engine_url"), again.get("engine_token_file")) == (
        "remote", "wss://gpu.example.org:8765", str(tmp_path / "token"))
    # back to this computer: the server's address stays filled in for later, unchecked
    dialog2, settings2, applied2 = _dialog(qtbot, tmp_path)
    assert dialog2.engine_page.remote.isChecked() and dialog2.engine_page.url.text() == "wss://gpu.example.org:8765"
    dialog2.engine_page.local.click()
    (tmp_path / "token").unlink()
    assert dialog2.apply() and applied2 == [["engine"]] and settings2.get("engine") == ""
    assert settings2.get("engine_url") == "wss://gpu.example.org:8765"


def test_a_local_engine_chosen_elsewhere_is_kept_and_a_command_line_choice_is_said(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = AppSettings(tmp_path / "settings.ini")
    settings.set("engine", "inprocess")
    dialog = SettingsDialog(settings, device_lister=lambda d: ([], ""), engine_override="--engine-url")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.show_tab("engine")
    assert dialog.engine_page.local.isChecked() and dialog.values()["engine"] == "inprocess"
    assert dialog.engine_page.override_note.isVisible() and "--engine-url" in dialog.engine_page.override_note.text()


def test_a_changed_engine_says_it_applies_after_a_reload() -> None:
    from anygpt_desktop.app.settings import reload_note

    assert reload_note(["text_temperature"]) == ""
    assert reload_note(["engine_url"]).startswith("The engine changed: it applies after reloading the models")
    assert reload_note(["precision", "engine"]).startswith("The device or precision and the engine changed: they apply")


def test_the_engine_page_sends_the_language_model_to_a_vllm_server(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from anygpt_desktop.app.settings import reload_note

    dialog, settings, applied = _dialog(qtbot, tmp_path)
    dialog.show()
    page = dialog.engine_page
    assert page.llm.isEnabled() and page.llm_url.text() == ""  # the LLM runs here by default
    page.llm_url.setText("gpu.example.org:8000/v1")
    assert not dialog.apply() and dialog.tabs.currentWidget() is page
    assert "must start with http:// or https://" in dialog.error_label.text()
    page.llm_url.setText(" http://gpu.example.org:8000/v1 ")
    assert dialog.apply() and applied == [["llm_url"]]
    assert AppSettings(tmp_path / "settings.ini").get("llm_url") == "http://gpu.example.org:8000/v1"
    assert reload_note(applied[0]).startswith("The engine changed")
    page.remote.click()  # the whole engine on a server: its LLM is the server's business
    assert not page.llm.isEnabled()
