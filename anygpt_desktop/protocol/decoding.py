"""The reference's decoding configs (config/*.json, reference-behaviour §3.1) and the values they had in effect (reference-behaviour §3.3).

Under transformers 4.34.1 a passed ``GenerationConfig`` had no EOS or pad id (so every call ran to
``max_new_tokens``), ``top_k`` defaulted to 50 and ``num_beams`` to 1. ``effective_config`` reproduces those values;
the engine uses them, but stops at the end of the turn instead of running to the limit.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

CONFIG_FILES = {
    "chat": "generate_config.json",
    "text": "text_generate_config.json",
    "image": "image_generate_config.json",
    "speech": "speech_generate_config.json",
    "music": "music_generate_config.json",
}
_DEFAULTS: dict[str, Any] = {
    "eos_token_id": None,
    "pad_token_id": None,
    "top_k": 50,
    "top_p": 1.0,
    "temperature": 1.0,
    "do_sample": False,
    "num_beams": 1,
    "max_new_tokens": 20,
    "min_new_tokens": None,
    "repetition_penalty": 1.0,
}


@lru_cache(maxsize=None)
def raw_config(name: str) -> dict[str, Any]:
    """A config file's contents, verbatim (``name`` is a key of ``CONFIG_FILES``)."""
    path = resources.files("anygpt_desktop.protocol").joinpath("data", "decoding", CONFIG_FILES[name])
    return json.loads(path.read_text(encoding="utf-8"))


def effective_config(name: str) -> dict[str, Any]:
    """The generation parameters the reference actually ran with for this config."""
    raw = raw_config(name)
    out = {key: raw.get(key, default) for key, default in _DEFAULTS.items()}
    out["eos_token_id"] = None  # never merged from the model's generation_config.json in 4.34.1
    out["pad_token_id"] = None
    out["vc_steps"] = raw.get("vc_steps")
    return out


def chat_config_name(output_modality: str) -> str:
    """Chat CLI: the user-declared output modality picks the config; anything else is the beam config."""
    return output_modality if output_modality in ("speech", "music", "image") else "chat"


def base_config_name(to_modality: str) -> str:
    """Base CLI: the target modality picks the config; text uses the text config."""
    return to_modality if to_modality in ("speech", "music", "image") else "text"


SOUNDSTORM_STEPS = raw_config("chat").get("vc_steps", 3)  # decode_speech always reads generate_config.json (=3)
