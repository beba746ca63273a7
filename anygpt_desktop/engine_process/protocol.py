"""The engine process's wire protocol: typed messages, encoded field by field, decoded strictly (no pickle).

A frame is ``MAGIC`` + a little-endian u32 header length + a UTF-8 JSON header + raw blobs. The header names the
protocol version (``"v"``), the message type (``"type"``), every field of that type and, for arrays, where the raw
little-endian float32 bytes (or a file's bytes) of each one lie among the blobs (``"blobs"``: their byte lengths, in
order). Paths travel as strings (images, music and saved speech stay files in the output folder); to a peer on another
machine a file travels as :class:`FileData` first. Decoding refuses a wrong magic or version, an
unknown type, a missing, extra or mistyped field, and blobs that do not add up: :class:`ProtocolError`.

Messages from the GUI to the engine: :class:`Configure`, :class:`Load`, :class:`StartTurn`, :class:`Cancel`,
:class:`Clear`, :class:`Restore`, :class:`Shutdown`, :class:`FileData`. From the engine: :class:`Hello`, :class:`LoadProgress`,
:class:`Ready`, :class:`LoadFailed`, :class:`History`, :class:`Ack`, :class:`Error` and, during a turn, every engine
event (``engine/events.py``) wrapped in :class:`TurnEvent` with its turn id.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np

from anygpt_desktop.engine.events import (
    Event,
    ImageReady,
    MusicReady,
    Notice,
    SpeechChunk,
    SpeechReady,
    TextDelta,
    TranscriptDelta,
    TurnDone,
    TurnFailed,
)
from anygpt_desktop.engine.requests import TurnRequest

PROTOCOL_VERSION = 2  # 2: FileData (files cross machines with a served engine)
MAGIC = b"AGEP"  # AnyGPT engine protocol
MAX_HEADER_BYTES = 64 * 2**20
_PREFIX = struct.Struct("<4sI")


class ProtocolError(ValueError):
    """A frame that is not a valid message of this protocol version."""


# -- messages --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hello:
    """First message of a started engine: who it is (the version travels in every header)."""

    pid: int


@dataclass(frozen=True)
class Configure:
    """The engine's ``AssistantSettings`` as JSON (see :func:`settings_to_json`); applies from the next turn/load."""

    settings: dict


@dataclass(frozen=True)
class Load:
    """Build the assistant and load its models; answered by progress, then :class:`Ready` or :class:`LoadFailed`."""


@dataclass(frozen=True)
class LoadProgress:
    fraction: float
    message: str


@dataclass(frozen=True)
class Ready:
    device: str
    dtype: str
    seconds: float


@dataclass(frozen=True)
class LoadFailed:
    reason: str  # in the user's terms
    cancelled: bool


@dataclass(frozen=True)
class StartTurn:
    turn_id: int
    request: TurnRequest


@dataclass(frozen=True)
class Cancel:
    """Stop the turn ``turn_id`` between steps (``LOADING``: stop loading)."""

    turn_id: int


LOADING = 0  # the turn id a Cancel of the model loading carries


@dataclass(frozen=True)
class TurnEvent:
    """One engine event of turn ``turn_id``; a ``TurnDone`` or ``TurnFailed`` ends the turn."""

    turn_id: int
    event: Event


@dataclass(frozen=True)
class History:
    """The conversation as ``Assistant.history_json()``; sent before every turn's last event."""

    data: dict


@dataclass(frozen=True)
class Clear:
    pass


@dataclass(frozen=True)
class Restore:
    data: dict


@dataclass(frozen=True)
class Ack:
    """The answer to Configure, Clear and Restore: ``ok`` or why not."""

    what: str
    ok: bool
    message: str


@dataclass(frozen=True)
class Error:
    """The engine could not read a message (a protocol mismatch); the message is for the log."""

    message: str


@dataclass(frozen=True)
class Shutdown:
    pass


@dataclass(frozen=True)
class FileData:
    """A file's bytes under a bare ``name``, for a peer on another machine: a client sends its turn's input files
    before the ``StartTurn`` that names them; a server sends each output file before the event that names it."""

    name: str
    data: bytes


Message = Union[Hello, Configure, Load, LoadProgress, Ready, LoadFailed, StartTurn, Cancel, TurnEvent, History, Clear,
                Restore, Ack, Error, Shutdown, FileData]


# -- field kinds: how one value is written and checked -------------------------------------------------------------
class _Blobs:
    """The raw arrays of one frame, in order."""

    def __init__(self, data: list[bytes] | None = None) -> None:
        self.items: list[bytes] = data or []

    def add(self, array: Any) -> dict:
        arr = np.ascontiguousarray(np.asarray(array, dtype="<f4").reshape(-1))
        self.items.append(arr.tobytes())
        return {"blob": len(self.items) - 1, "dtype": "<f4", "length": int(arr.size)}

    def add_bytes(self, data: Any) -> dict:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"expected bytes, got {type(data).__name__}")
        self.items.append(bytes(data))
        return {"blob": len(self.items) - 1, "bytes": len(self.items[-1])}

    def take_bytes(self, ref: Any) -> bytes:
        if not (isinstance(ref, dict) and set(ref) == {"blob", "bytes"}):
            raise ProtocolError(f"not a bytes reference: {ref!r}")
        index, length = ref["blob"], ref["bytes"]
        if not (_is_int(index) and _is_int(length) and 0 <= index < len(self.items)):
            raise ProtocolError(f"bytes reference out of range: {ref!r}")
        if len(self.items[index]) != length:
            raise ProtocolError(f"{length} bytes announced, {len(self.items[index])} sent")
        return self.items[index]

    def take(self, ref: Any) -> np.ndarray:
        if not (isinstance(ref, dict) and set(ref) == {"blob", "dtype", "length"} and ref["dtype"] == "<f4"):
            raise ProtocolError(f"not an array reference: {ref!r}")
        index, length = ref["blob"], ref["length"]
        if not (_is_int(index) and _is_int(length) and 0 <= index < len(self.items)):
            raise ProtocolError(f"array reference out of range: {ref!r}")
        raw = self.items[index]
        if len(raw) != 4 * length:
            raise ProtocolError(f"array of {length} floats has {len(raw)} bytes")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)  # a writable native-order copy


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _want(ok: bool, kind: str, value: Any) -> None:
    if not ok:
        raise ProtocolError(f"expected {kind}, got {type(value).__name__} {value!r:.80}")


def _enc_float(v: Any, _b: _Blobs) -> Any:
    return float(v)


def _dec_float(v: Any, _b: _Blobs) -> float:
    _want(isinstance(v, (int, float)) and not isinstance(v, bool), "a number", v)
    return float(v)


def _dec_int(v: Any, _b: _Blobs) -> int:
    _want(_is_int(v), "an integer", v)
    return v


def _dec_str(v: Any, _b: _Blobs) -> str:
    _want(isinstance(v, str), "a string", v)
    return v


def _dec_bool(v: Any, _b: _Blobs) -> bool:
    _want(isinstance(v, bool), "true/false", v)
    return v


def _dec_dict(v: Any, _b: _Blobs) -> dict:
    _want(isinstance(v, dict), "an object", v)
    return v


def _dec_path(v: Any, _b: _Blobs) -> Path:
    _want(isinstance(v, str) and v != "", "a path", v)
    return Path(v)


def _dec_paths(v: Any, b: _Blobs) -> list[Path]:
    _want(isinstance(v, list), "a list of paths", v)
    return [_dec_path(p, b) for p in v]


def _optional(enc: Callable[[Any, _Blobs], Any], dec: Callable[[Any, _Blobs], Any]) -> tuple[Callable, Callable]:
    return (lambda v, b: None if v is None else enc(v, b)), (lambda v, b: None if v is None else dec(v, b))


def _same(v: Any, _b: _Blobs) -> Any:
    return v


_KINDS: dict[str, tuple[Callable[[Any, _Blobs], Any], Callable[[Any, _Blobs], Any]]] = {
    "str": (lambda v, b: str(v), _dec_str),
    "int": (lambda v, b: int(v), _dec_int),
    "float": (_enc_float, _dec_float),
    "bool": (lambda v, b: bool(v), _dec_bool),
    "json": (lambda v, b: _plain_json(v), _dec_dict),
    "path": (lambda v, b: str(v), _dec_path),
    "paths": (lambda v, b: [str(p) for p in v], _dec_paths),
    "f32": (lambda v, b: b.add(v), lambda v, b: b.take(v)),
    "bytes": (lambda v, b: b.add_bytes(v), lambda v, b: b.take_bytes(v)),
}
_KINDS["opt_str"] = _optional(*_KINDS["str"])
_KINDS["opt_path"] = _optional(*_KINDS["path"])
_KINDS["opt_f32"] = _optional(*_KINDS["f32"])


def _plain_json(value: Any) -> dict:
    """A copy of ``value`` (a dict) with only JSON types (numpy scalars become Python numbers)."""
    if not isinstance(value, dict):
        raise ProtocolError(f"expected an object, got {type(value).__name__}")
    try:
        return json.loads(json.dumps(value, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"not JSON-serialisable: {exc}") from exc


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


# -- the registry: wire name, class, fields ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Spec:
    name: str
    cls: type
    fields: tuple[tuple[str, str], ...]  # (attribute, kind)


_MESSAGES: tuple[_Spec, ...] = (
    _Spec("hello", Hello, (("pid", "int"),)),
    _Spec("configure", Configure, (("settings", "json"),)),
    _Spec("load", Load, ()),
    _Spec("load_progress", LoadProgress, (("fraction", "float"), ("message", "str"))),
    _Spec("ready", Ready, (("device", "str"), ("dtype", "str"), ("seconds", "float"))),
    _Spec("load_failed", LoadFailed, (("reason", "str"), ("cancelled", "bool"))),
    _Spec("cancel", Cancel, (("turn_id", "int"),)),
    _Spec("history", History, (("data", "json"),)),
    _Spec("clear", Clear, ()),
    _Spec("restore", Restore, (("data", "json"),)),
    _Spec("ack", Ack, (("what", "str"), ("ok", "bool"), ("message", "str"))),
    _Spec("error", Error, (("message", "str"),)),
    _Spec("shutdown", Shutdown, ()),
    _Spec("file_data", FileData, (("name", "str"), ("data", "bytes"))),
)
_REQUEST_FIELDS: tuple[tuple[str, str], ...] = (
    ("text", "str"), ("speech", "opt_f32"), ("speech_files", "paths"), ("images", "paths"), ("music", "paths"),
    ("voice_prompt", "opt_path"), ("output_modality", "opt_str"),
)
_EVENTS: tuple[_Spec, ...] = (
    _Spec("transcript_delta", TranscriptDelta, (("text", "str"),)),
    _Spec("text_delta", TextDelta, (("text", "str"),)),
    _Spec("speech_chunk", SpeechChunk, (("audio", "f32"), ("sample_rate", "int"), ("index", "int"), ("final", "bool"))),
    _Spec("speech_ready", SpeechReady, (("path", "path"), ("sample_rate", "int"), ("seconds", "float"))),
    _Spec("image_ready", ImageReady, (("path", "path"), ("width", "int"), ("height", "int"))),
    _Spec("music_ready", MusicReady, (("path", "path"), ("sample_rate", "int"), ("seconds", "float"))),
    _Spec("notice", Notice, (("message", "str"),)),
    _Spec("turn_done", TurnDone, (("reply_text", "str"), ("transcript", "str"), ("timings", "json"), ("stats", "json"))),
    _Spec("turn_failed", TurnFailed, (("reason", "str"), ("cancelled", "bool"))),
)
_START_TURN = "start_turn"
_BY_NAME: dict[str, _Spec] = {s.name: s for s in (*_MESSAGES, *_EVENTS)}
_MESSAGE_BY_CLASS: dict[type, _Spec] = {s.cls: s for s in _MESSAGES}
_EVENT_BY_CLASS: dict[type, _Spec] = {s.cls: s for s in _EVENTS}
MESSAGE_TYPES: tuple[str, ...] = (*(s.name for s in _MESSAGES), _START_TURN, *(s.name for s in _EVENTS))
"""Every wire name this version knows (events travel as their own types, with a ``turn_id``)."""


def _encode_fields(obj: Any, specs: tuple[tuple[str, str], ...], blobs: _Blobs) -> dict[str, Any]:
    out = {}
    for name, kind in specs:
        try:
            out[name] = _KINDS[kind][0](getattr(obj, name), blobs)
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"{type(obj).__name__}.{name}: {exc}") from exc
    return out


def _decode_fields(header: dict, specs: tuple[tuple[str, str], ...], blobs: _Blobs, what: str) -> dict[str, Any]:
    out = {}
    for name, kind in specs:
        if name not in header:
            raise ProtocolError(f"{what}: field {name!r} is missing")
        try:
            out[name] = _KINDS[kind][1](header[name], blobs)
        except ProtocolError as exc:
            raise ProtocolError(f"{what}.{name}: {exc}") from None
    return out


# -- frames --------------------------------------------------------------------------------------------------------
def encode(message: Message) -> bytes:
    """One frame for ``message``; :class:`ProtocolError` when it cannot be written (a value of the wrong kind)."""
    blobs = _Blobs()
    header: dict[str, Any] = {"v": PROTOCOL_VERSION}
    if isinstance(message, StartTurn):
        header["type"] = _START_TURN
        header["turn_id"] = int(message.turn_id)
        header.update(_encode_fields(message.request, _REQUEST_FIELDS, blobs))
    elif isinstance(message, TurnEvent):
        spec = _EVENT_BY_CLASS.get(type(message.event))
        if spec is None:
            raise ProtocolError(f"not an engine event: {type(message.event).__name__}")
        header["type"] = spec.name
        header["turn_id"] = int(message.turn_id)
        header.update(_encode_fields(message.event, spec.fields, blobs))
    else:
        spec = _MESSAGE_BY_CLASS.get(type(message))
        if spec is None:
            raise ProtocolError(f"not a protocol message: {type(message).__name__}")
        header["type"] = spec.name
        header.update(_encode_fields(message, spec.fields, blobs))
    header["blobs"] = [len(b) for b in blobs.items]
    try:
        head = json.dumps(header, ensure_ascii=False, allow_nan=True).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"{header.get('type')}: {exc}") from exc
    return b"".join([_PREFIX.pack(MAGIC, len(head)), head, *blobs.items])


def decode(frame: bytes | bytearray | memoryview) -> Message:
    """The message in ``frame``; :class:`ProtocolError` for anything but an exact message of this version."""
    data = memoryview(frame)
    if len(data) < _PREFIX.size:
        raise ProtocolError(f"frame of {len(data)} bytes is too short")
    magic, head_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError(f"not an engine frame (magic {bytes(magic)!r})")
    if head_len > min(MAX_HEADER_BYTES, len(data) - _PREFIX.size):
        raise ProtocolError(f"header length {head_len} does not fit the frame of {len(data)} bytes")
    try:
        header = json.loads(bytes(data[_PREFIX.size : _PREFIX.size + head_len]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"unreadable header: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("the header is not an object")
    version = header.pop("v", None)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version!r}; this side speaks version {PROTOCOL_VERSION}")
    kind = header.pop("type", None)
    sizes = header.pop("blobs", None)
    if not (isinstance(sizes, list) and all(_is_int(n) and n >= 0 for n in sizes)):
        raise ProtocolError(f"{kind}: bad blob list {sizes!r}")
    start = _PREFIX.size + head_len
    if start + sum(sizes) != len(data):
        raise ProtocolError(f"{kind}: blobs of {sum(sizes)} bytes but {len(data) - start} follow the header")
    items, pos = [], start
    for n in sizes:
        items.append(bytes(data[pos : pos + n]))
        pos += n
    blobs = _Blobs(items)

    if kind == _START_TURN:
        specs: tuple[tuple[str, str], ...] = (("turn_id", "int"), *_REQUEST_FIELDS)
        _no_extra(header, specs, kind)
        values = _decode_fields(header, specs, blobs, kind)
        turn_id = values.pop("turn_id")
        return StartTurn(turn_id, TurnRequest(**values))
    spec = _BY_NAME.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise ProtocolError(f"unknown message type {kind!r}")
    if spec.cls in _EVENT_BY_CLASS:
        specs = (("turn_id", "int"), *spec.fields)
        _no_extra(header, specs, kind)
        values = _decode_fields(header, specs, blobs, kind)
        turn_id = values.pop("turn_id")
        return TurnEvent(turn_id, spec.cls(**values))
    _no_extra(header, spec.fields, kind)
    return spec.cls(**_decode_fields(header, spec.fields, blobs, kind))


def _no_extra(header: dict, specs: tuple[tuple[str, str], ...], kind: str) -> None:
    extra = set(header) - {name for name, _ in specs}
    if extra:
        raise ProtocolError(f"{kind}: unknown field(s) {sorted(extra)}")


# -- settings: a dataclass tree as JSON, rebuilt strictly against the engine's own classes ------------------------
def settings_to_json(settings: Any) -> dict:
    """``AssistantSettings`` (any dataclass tree of numbers, strings, paths, None) as JSON; paths as ``{"path": s}``."""

    def value(v: Any) -> Any:
        if hasattr(v, "__dataclass_fields__"):
            return {f.name: value(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, Path):
            return {"path": str(v)}
        if v is None or isinstance(v, (str, bool, int)):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else str(v)
        if isinstance(v, np.generic):
            return v.item()
        raise ProtocolError(f"a setting of type {type(v).__name__} cannot be sent to the engine")

    if not hasattr(settings, "__dataclass_fields__"):
        raise ProtocolError(f"settings must be a dataclass, not {type(settings).__name__}")
    return value(settings)


def settings_from_json(cls: type, data: dict) -> Any:
    """Rebuild ``cls`` (e.g. ``AssistantSettings``) from :func:`settings_to_json`; unknown fields are an error."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{cls.__name__}: expected an object")
    default = cls()
    known = {f.name for f in fields(cls)}
    extra = set(data) - known
    if extra:
        raise ProtocolError(f"{cls.__name__}: unknown setting(s) {sorted(extra)}")
    values = {}
    for name, raw in data.items():
        current = getattr(default, name)
        if hasattr(current, "__dataclass_fields__"):
            values[name] = settings_from_json(type(current), raw)
        elif isinstance(raw, dict):
            if set(raw) != {"path"} or not isinstance(raw["path"], str):
                raise ProtocolError(f"{cls.__name__}.{name}: not a path {raw!r}")
            values[name] = Path(raw["path"])
        elif isinstance(current, float) and isinstance(raw, str):
            values[name] = float(raw)  # inf / nan
        else:
            values[name] = raw
    return cls(**values)
