"""The one interface between the chat session and an engine, and the updates an engine sends back.

An engine port runs the model somewhere else (a worker thread, a child process) and never blocks: every method posts
work and returns. What happens comes back as :data:`EngineUpdate` values handed to the listener given to
:meth:`EnginePort.set_listener`, always in the session's thread (the port marshals them there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Union

from anygpt_desktop.engine.events import Event
from anygpt_desktop.engine.requests import TurnRequest


@dataclass(frozen=True)
class LoadProgress:
    fraction: float
    message: str


@dataclass(frozen=True)
class DeviceKnown:
    """Where the loaded models run ("cuda:0", "cpu") and their dtype ("bfloat16"); comes before :class:`Loaded`."""

    device: str
    dtype: str


@dataclass(frozen=True)
class Loaded:
    seconds: float


@dataclass(frozen=True)
class LoadFailed:
    reason: str
    cancelled: bool


@dataclass(frozen=True)
class TurnStarted:
    turn_id: int


@dataclass(frozen=True)
class TurnEvent:
    """One engine event of a turn (text, speech chunk, image, ``TurnDone``, ``TurnFailed`` ...)."""

    turn_id: int
    event: Event


@dataclass(frozen=True)
class HistorySnapshot:
    """The engine's own memory after a turn (``history_json()``), to be stored with the conversation."""

    turn_id: int
    data: dict[str, Any]


@dataclass(frozen=True)
class HistoryRestored:
    ok: bool
    message: str


EngineUpdate = Union[LoadProgress, DeviceKnown, Loaded, LoadFailed, TurnStarted, TurnEvent, HistorySnapshot, HistoryRestored]


class EnginePort(Protocol):
    """What the session needs from an engine. Every method returns at once."""

    def set_listener(self, listener: Callable[[EngineUpdate], None]) -> None:
        """Where updates go (called in the session's thread)."""

    def configure(self, values: dict[str, Any]) -> None:
        """New settings (``AppSettings.values()``); a running turn finishes with the old ones."""

    def load(self) -> None:
        """(Re)load the models: ``LoadProgress``…, ``DeviceKnown``, then ``Loaded`` or ``LoadFailed``."""

    def cancel_load(self) -> None: ...

    def submit(self, request: TurnRequest) -> int:
        """Queue a turn; returns its id. ``TurnStarted``, ``TurnEvent``… (ending in ``TurnDone``/``TurnFailed``),
        then ``HistorySnapshot`` follow."""

    def cancel(self) -> None:
        """Stop the running turn and drop the queued ones (each still ends with a cancelled ``TurnFailed``)."""

    def clear(self) -> None:
        """Forget the conversation (a new one starts)."""

    def restore(self, data: dict[str, Any] | None) -> None:
        """Load a stored conversation's memory (None: forget); ``HistoryRestored`` follows."""

    def shutdown(self) -> None:
        """Cancel everything and stop (the session is closing)."""
