"""One turn's :class:`DecodeSettings` as a vLLM request's extra arguments, and back.

The engine's ``--llm-url`` client puts them in the completions request's ``vllm_xargs``; vLLM hands them to every
logits processor as ``SamplingParams.extra_args``; the AnyGPT logits processor rebuilds the settings from them. One
key carries the whole settings as a JSON string (``vllm_xargs`` values must be scalars or lists of scalars).
Torch-free, so both sides (and vLLM's own environment) can import it cheaply.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any, Mapping

from anygpt_desktop.engine.decode_settings import DecodeSettings, SamplingParams
from anygpt_desktop.protocol.kinds import OUTPUT_MODALITIES

XARGS_KEY = "anygpt_decode"
"""The extra-argument key whose presence marks a request as an AnyGPT turn (others pass the processor untouched)."""

_SPANS = ("text", *OUTPUT_MODALITIES)


class DecodeArgsError(ValueError):
    """The request's AnyGPT decode arguments are malformed (vLLM answers HTTP 400)."""


def decode_settings_to_xargs(settings: DecodeSettings) -> dict[str, str]:
    """The ``vllm_xargs`` that carry ``settings`` (beam sampling is not offered through vLLM: ``text_beams`` must
    be 1)."""
    if settings.text_beams != 1:
        raise DecodeArgsError("beam sampling (text_beams > 1) is not available with a vLLM server")
    return {XARGS_KEY: json.dumps(asdict(settings), sort_keys=True, allow_nan=False)}


def decode_settings_from_extra_args(extra_args: Mapping[str, Any] | None) -> DecodeSettings | None:
    """The settings a request carries, or ``None`` when it is not an AnyGPT turn. Unknown or ill-typed fields are
    a :class:`DecodeArgsError`, never silently dropped."""
    if not extra_args or XARGS_KEY not in extra_args:
        return None
    raw = extra_args[XARGS_KEY]
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise DecodeArgsError(f"{XARGS_KEY} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DecodeArgsError(f"{XARGS_KEY} must be a JSON object")
    return _rebuild(DecodeSettings, data)


def _rebuild(cls: type, data: dict) -> Any:
    known = {f.name: f for f in fields(cls)}
    extra = set(data) - set(known)
    if extra:
        raise DecodeArgsError(f"{cls.__name__}: unknown field(s) {sorted(extra)}")
    default = cls()
    values: dict[str, Any] = {}
    for name, raw in data.items():
        current = getattr(default, name)
        if isinstance(current, SamplingParams):
            if not isinstance(raw, dict):
                raise DecodeArgsError(f"{cls.__name__}.{name}: expected an object")
            values[name] = _rebuild(SamplingParams, raw)
        elif name == "force_modality":
            if raw is not None and raw not in OUTPUT_MODALITIES:
                raise DecodeArgsError(f"force_modality must be one of {OUTPUT_MODALITIES} or null, not {raw!r}")
            values[name] = raw
        elif name == "seed":
            if raw is not None and (not isinstance(raw, int) or isinstance(raw, bool)):
                raise DecodeArgsError("seed must be an integer or null")
            values[name] = raw
        elif isinstance(current, bool):
            if not isinstance(raw, bool):
                raise DecodeArgsError(f"{cls.__name__}.{name} must be true or false")
            values[name] = raw
        elif isinstance(current, int):
            if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
                raise DecodeArgsError(f"{cls.__name__}.{name} must be a non-negative integer")
            values[name] = raw
        elif isinstance(current, float):
            if not isinstance(raw, (int, float)) or isinstance(raw, bool):
                raise DecodeArgsError(f"{cls.__name__}.{name} must be a number")
            values[name] = float(raw)
        else:  # pragma: no cover - a new field type must be handled above
            raise DecodeArgsError(f"{cls.__name__}.{name}: unsupported field")
    return cls(**values)
