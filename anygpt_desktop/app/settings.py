"""Persisted user settings (an INI file in the user config folder, through QSettings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from platformdirs import user_config_dir
from PySide6.QtCore import QSettings

DEFAULTS: dict[str, Any] = {
    "theme": "light",  # "light" | "dark"
    "models_dir": "",  # empty: the default models folder
    "device": "",  # empty: automatic (cuda when available)
    "output_modality": "auto",  # auto | text | speech | image | music
    "input_device": "",
    "output_device": "",
    "vad_aggressiveness": 2,
    "vad_end_silence_ms": 700,
    "output_folder": "",
    "last_conversation": 0,
}


def settings_path() -> Path:
    return Path(user_config_dir("anygpt-desktop", appauthor=False)) / "settings.ini"


class AppSettings:
    """Typed access to the settings with defaults; every ``set`` is written to disk at once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._qs = QSettings(str(self.path), QSettings.Format.IniFormat)

    def get(self, key: str) -> Any:
        default = DEFAULTS[key]
        value = self._qs.value(key, default)
        if isinstance(default, int) and not isinstance(value, int):
            try:
                return int(value)
            except (TypeError, ValueError):
                return default
        return value

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(f"unknown setting {key!r}")
        self._qs.setValue(key, value)
        self._qs.sync()
