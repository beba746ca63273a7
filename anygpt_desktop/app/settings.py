"""Persisted user settings (an INI file in the user config folder, through QSettings), and their engine mapping.

Every key has a typed default in ``DEFAULTS``. :func:`assistant_settings` turns the stored values into the engine's
``AssistantSettings`` (imported lazily: it pulls in torch). When each change takes effect is in ``APPLIES``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence, get_args

from platformdirs import user_config_dir
from PySide6.QtCore import QSettings

from anygpt_desktop.audio.vad import VadConfig
from anygpt_desktop.engine.decode_settings import DecodeSettings, SamplingParams
from anygpt_desktop.protocol.decoding import effective_config

if TYPE_CHECKING:  # the assistant pulls in torch: imported where it is needed, inside the functions
    from anygpt_desktop.engine.assistant import AssistantSettings

DECODE_MODALITIES = ("text", "speech", "image", "music")
SAMPLING_KEYS = ("temperature", "top_k", "top_p", "repetition_penalty")
DEVICES = ("", "cuda", "cpu")  # "" = automatic
PRECISIONS = ("", "fp32", "bf16", "fp16", "int8", "int4")  # "" = automatic (from the free memory; see models plan)
LEGACY_PRECISIONS = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}  # values saved by earlier versions
DECODE_MODES = ("", "eager", "compiled")  # "" = automatic (compiled on CUDA, eager on the CPU)
TalkMode = Literal["hold", "toggle"]  # hold the key while speaking, or click once to start and once to stop
Theme = Literal["light", "dark", "system"]
TALK_MODES: tuple[TalkMode, ...] = get_args(TalkMode)


def sampling_key(modality: str, name: str) -> str:
    return f"{modality}_{name}"


def _reference_sampling() -> dict[str, Any]:
    """The reference decoding values per modality (the same source as `SamplingParams.from_reference`)."""
    out: dict[str, Any] = {}
    for m in DECODE_MODALITIES:
        c = effective_config(m)
        out[sampling_key(m, "temperature")] = float(c["temperature"])
        out[sampling_key(m, "top_k")] = int(c["top_k"] or 0)
        out[sampling_key(m, "top_p")] = float(c["top_p"])
        out[sampling_key(m, "repetition_penalty")] = float(c["repetition_penalty"] or 1.0)
    return out


REFERENCE_SAMPLING = _reference_sampling()
DECODE_LIMITS = ("max_text_tokens", "max_speech_units", "max_music_units")


def decode_field_defaults(names: Sequence[str]) -> dict[str, Any]:
    """``DecodeSettings``' own defaults for the fields ``names`` (the class is the one place they are set; its module
    is torch-free, so reading it does not delay the window)."""
    defaults = DecodeSettings()
    return {n: getattr(defaults, n) for n in names}


DECODE_LIMIT_DEFAULTS = decode_field_defaults(DECODE_LIMITS)

DEFAULTS: dict[str, Any] = {
    "theme": "light",  # "light" | "dark" | "system" (follows the desktop)
    "models_dir": "",  # empty: the default models folder
    "device": "",  # empty: automatic (cuda when available)
    "precision": "",  # empty: automatic
    "decode_mode": "",  # empty: automatic (compiled on CUDA)
    "output_modality": "auto",  # auto | text | speech | image | music
    "talk_mode": "hold",  # hold | toggle
    "input_device": "",  # empty: the system default (else a PortAudio device name)
    "output_device": "",
    "vad_aggressiveness": 2,
    "vad_end_silence_ms": 700,
    "pre_roll_ms": 300,
    "default_voice": "",  # a recording whose voice speaks the replies; empty: the model's own voice
    "output_folder": "",  # empty: "outputs" beside the models folder
    "last_conversation": 0,
    "first_run_guide_shown": 0,  # 1 once the first-run guide was shown (it opens only once, when models are missing)
    "engine": "",  # empty: the engine process here; "remote": an `anygpt-desktop serve` server
    "engine_url": "",  # ws://host:port or wss://host:port of that server
    "engine_token_file": "",  # a file holding its bearer token
    "llm_url": "",  # the LLM on a vLLM server (http://host:8000/v1); empty: $ANYGPT_LLM_URL, else loaded here
    **decode_field_defaults(("text_beams",)),  # >1: beam sampling for text-only replies (not streamed)
    **DECODE_LIMIT_DEFAULTS,
    **REFERENCE_SAMPLING,
}

RELOAD_KEYS = ("device", "precision", "decode_mode")
ENGINE_KEYS = ("engine", "engine_url", "engine_token_file", "llm_url")
MIC_KEYS = ("input_device", "vad_aggressiveness", "vad_end_silence_ms", "pre_roll_ms")
APPLIES = {
    "model": "after reloading the models (Models → Reload models, Ctrl+R)",
    "decoding": "from the next turn",
    "speech": "at once (the microphone restarts)",
    "devices": "at once",
    "files": "from the next turn",
}


def reload_note(changed: Sequence[str]) -> str:
    """What the banner says when changed settings apply only after reloading the models ("" when none does)."""
    what = [name for keys, name in ((RELOAD_KEYS, "the device or precision"), (ENGINE_KEYS, "the engine"))
            if any(k in keys for k in changed)]
    if not what:
        return ""
    return (f"{' and '.join(what).capitalize()} changed: {'they apply' if len(what) > 1 else 'it applies'} "
            f"{APPLIES['model']}.")


def settings_path() -> Path:
    return Path(user_config_dir("anygpt-desktop", appauthor=False)) / "settings.ini"


class AppSettings:
    """Typed access to the settings with defaults; every ``set`` is written to disk at once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._qs = QSettings(str(self.path), QSettings.Format.IniFormat)
        self.overrides: dict[str, Any] = {}  # this session's command-line values (e.g. --llm-url); never stored

    def get(self, key: str) -> Any:
        if key in self.overrides:
            return self.overrides[key]
        default = DEFAULTS[key]
        value = self._qs.value(key, default)
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            try:
                return type(default)(float(value)) if isinstance(default, int) else float(value)
            except (TypeError, ValueError):
                return default
        return "" if value is None else value

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(f"unknown setting {key!r}")
        self._qs.setValue(key, value)
        self._qs.sync()

    def values(self) -> dict[str, Any]:
        """Every setting with its current value."""
        return {key: self.get(key) for key in DEFAULTS}

    def update(self, values: dict[str, Any]) -> list[str]:
        """Store several settings; returns the keys whose value changed."""
        changed = [k for k, v in values.items() if self.get(k) != v]
        for key in changed:
            self._qs.setValue(key, values[key])
        self._qs.sync()
        return changed


DEMO_LIMITS = {"max_text_tokens": 40, "max_speech_units": 150, "max_music_units": 400}


def with_demo_limits(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the demo's short reply limits wherever the user kept the default limit."""
    out = dict(values)
    for key, demo_value in DEMO_LIMITS.items():
        if int(out[key]) == DECODE_LIMIT_DEFAULTS[key]:
            out[key] = demo_value
    return out


def decode_settings(values: dict[str, Any]) -> DecodeSettings:
    """The engine's ``DecodeSettings`` for stored values (temperature 0 means greedy: always the likeliest token)."""
    def params(m: str) -> SamplingParams:
        temperature = float(values[sampling_key(m, "temperature")])
        return SamplingParams(
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else 1.0,
            top_k=int(values[sampling_key(m, "top_k")]),
            top_p=float(values[sampling_key(m, "top_p")]),
            repetition_penalty=float(values[sampling_key(m, "repetition_penalty")]),
        )

    limits = {k: int(values[k]) for k in DECODE_LIMIT_DEFAULTS}
    return DecodeSettings(
        text=params("text"), speech=params("speech"), image=params("image"), music=params("music"), **limits,
        text_beams=max(1, int(values["text_beams"])),
        max_new_tokens=max(4000, limits["max_text_tokens"] + limits["max_speech_units"] + limits["max_music_units"] + 64),
    )


def assistant_settings(values: dict[str, Any]) -> AssistantSettings:
    """The engine's ``AssistantSettings`` for stored values (``AppSettings.values()``)."""
    from anygpt_desktop.engine.assistant import AssistantSettings

    return AssistantSettings(
        device=values["device"] or None,
        precision=LEGACY_PRECISIONS.get(values["precision"], values["precision"]) or "auto",
        decode_mode=values.get("decode_mode") or None,
        output_dir=Path(values["output_folder"]) if values["output_folder"] else None,
        default_voice=Path(values["default_voice"]) if values["default_voice"] else None,
        decode=decode_settings(values),
        llm_url=str(values.get("llm_url") or "").strip() or None,
    )


def vad_config(values: dict[str, Any]) -> tuple[VadConfig, str]:
    """The endpointer settings for stored values, and why they were not usable ("" when they were; then the defaults)."""
    try:
        return VadConfig(aggressiveness=int(values["vad_aggressiveness"]),
                         end_silence_ms=max(150, int(values["vad_end_silence_ms"])),
                         pre_roll_ms=int(values["pre_roll_ms"])), ""
    except ValueError as exc:
        return VadConfig(), str(exc)
