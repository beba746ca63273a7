"""What the chat session tells its view: frozen dataclasses, one union (:data:`SessionEvent`).

Events come in the order things happen, always in the session's thread. Turn events carry the ``turn_id`` that
:class:`UserTurnAdded` announced; a view may ignore ids it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np

from anygpt_desktop.session.kinds import Attachment, AttachmentKind, ModelState
from anygpt_desktop.storage.history import Turn


@dataclass(frozen=True)
class ModelStateChanged:
    """The models are loading, ready (after ``seconds``), or failed (``reason``; ``cancelled`` by the user)."""

    state: ModelState
    seconds: float = 0.0
    reason: str = ""
    cancelled: bool = False


@dataclass(frozen=True)
class LoadProgressed:
    fraction: float
    message: str


@dataclass(frozen=True)
class DeviceChanged:
    """Where the loaded models run ("cuda:0", "cpu") and in which dtype."""

    device: str
    dtype: str


@dataclass(frozen=True)
class AttachmentsChanged:
    """The files that go with the next turn."""

    attachments: tuple[Attachment, ...]


@dataclass(frozen=True)
class ConversationListChanged:
    """A conversation was created, renamed, deleted or got a turn: the list (``ChatSession.conversations()``) changed."""


@dataclass(frozen=True)
class CurrentConversationChanged:
    """The open conversation is now ``conversation_id`` (None: a new one, not stored yet)."""

    conversation_id: int | None


@dataclass(frozen=True)
class ConversationShown:
    """Replace the whole view with these stored turns (none: a new conversation)."""

    conversation_id: int | None
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class UserTurnAdded:
    """The user's turn was sent as ``turn_id``; the assistant's reply to it is pending."""

    turn_id: int
    text: str
    media: tuple[tuple[AttachmentKind, Path], ...]  # attachments, then the recorded question (SPEECH) if spoken
    listening: bool  # a recorded question whose transcript is still to come


@dataclass(frozen=True)
class TurnStarted:
    turn_id: int


@dataclass(frozen=True)
class TranscriptUpdated:
    turn_id: int
    delta: str


@dataclass(frozen=True)
class ReplyTextUpdated:
    turn_id: int
    delta: str


@dataclass(frozen=True, eq=False)
class SpeechChunkReady:
    """A piece of the spoken reply to play now (``first``: the reply starts speaking)."""

    turn_id: int
    audio: np.ndarray
    sample_rate: int
    final: bool
    first: bool


@dataclass(frozen=True)
class SpeechEnded:
    """No more chunks come for this turn's spoken reply: let the player finish what it has."""

    turn_id: int


@dataclass(frozen=True)
class ImageAdded:
    turn_id: int
    path: Path


@dataclass(frozen=True)
class MusicAdded:
    turn_id: int
    path: Path
    seconds: float


@dataclass(frozen=True)
class TurnEnded:
    """The reply is complete (``failed``/``cancelled`` say otherwise; ``engine_lost``: the engine died or the server
    connection broke); ``speech_path`` holds its spoken reply."""

    turn_id: int
    reply_text: str
    transcript: str
    timings: dict[str, float] = field(default_factory=dict)
    speech_path: Path | None = None
    speech_seconds: float = 0.0
    failed: bool = False
    cancelled: bool = False
    reason: str = ""
    engine_lost: bool = False


@dataclass(frozen=True)
class TurnStored:
    """The turn pair is in the history of ``conversation_id``."""

    conversation_id: int


@dataclass(frozen=True)
class BusyChanged:
    """Whether turns are pending (the Stop button's state, with playback)."""

    busy: bool


@dataclass(frozen=True)
class StopRequested:
    """The user stopped: silence the player and drop a recording in progress."""


@dataclass(frozen=True)
class StatusMessage:
    """A message for the user: a confirmation that passes after ``seconds``, or an ``error`` that stays until the
    user dismisses it (``action``: what fixes it, "models" for the model manager, "devices" for Settings › Devices,
    "restart_engine" for a fresh engine, or a reconnection to a remote one, with the conversation restored)."""

    text: str
    seconds: float = 8.0
    error: bool = False
    action: str = ""


@dataclass(frozen=True)
class BannerChanged:
    """A message that stays until it is replaced; an empty ``text`` hides it."""

    text: str


SessionEvent = Union[
    ModelStateChanged, LoadProgressed, DeviceChanged, AttachmentsChanged, ConversationListChanged,
    CurrentConversationChanged, ConversationShown, UserTurnAdded, TurnStarted, TranscriptUpdated, ReplyTextUpdated,
    SpeechChunkReady, SpeechEnded, ImageAdded, MusicAdded, TurnEnded, TurnStored, BusyChanged, StopRequested,
    StatusMessage, BannerChanged,
]
