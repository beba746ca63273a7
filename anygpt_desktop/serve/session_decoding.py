"""A session's own decoding settings on a served engine, within the server's limits.

The desktop's Settings › Decoding (sampling per modality, reply lengths, beams) travels as a ``Configure`` message
holding only ``{"decode": DecodeSettings}`` (never paths, keys or devices). The server takes the sampling as given and
caps every length and the beam count at its own settings, so no client can make a turn longer or dearer than the
operator allows; what a turn is for (the requested span, base-task flags) stays the server's business.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from anygpt_desktop.engine.decode_settings import DecodeSettings
from anygpt_desktop.engine.vllm_args import XARGS_KEY, DecodeArgsError, decode_settings_from_extra_args

CAPPED = ("max_text_tokens", "max_text_before_span", "max_speech_units", "max_music_units", "max_new_tokens",
          "text_beams")
"""Fields a client may lower but never raise past the server's value."""
SERVER_OWNED = ("force_modality", "end_after_forced_span", "open_immediately")


class DecodingRefused(ValueError):
    """The session's settings message cannot be used; the message is for the client."""


def session_decode(data: Any, server: DecodeSettings) -> DecodeSettings:
    """The ``DecodeSettings`` a session asked for (``Configure.settings``), capped by the ``server``'s."""
    if not isinstance(data, dict) or set(data) != {"decode"}:
        raise DecodingRefused("a served engine takes only decoding settings ({\"decode\": …}) from a client")
    try:  # the strict reader of vLLM's extra arguments: unknown or ill-typed fields are refused
        asked = decode_settings_from_extra_args({XARGS_KEY: data["decode"]})
    except DecodeArgsError as exc:
        raise DecodingRefused(f"the decoding settings could not be read: {exc}") from None
    assert asked is not None
    capped = {name: max(1 if name == "text_beams" else 0, min(getattr(asked, name), getattr(server, name)))
              for name in CAPPED}
    owned = {name: getattr(server, name) for name in SERVER_OWNED}
    return dataclasses.replace(asked, **capped, **owned)
