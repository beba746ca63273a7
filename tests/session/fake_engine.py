"""A synchronous, scriptable ``EnginePort`` for the chat session's tests: it records what the session asked for, and
the test plays the engine's updates back with :meth:`FakeEngine.send`."""

from __future__ import annotations

from typing import Any, Callable

from anygpt_desktop.engine.events import Event
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.session import engine_port as up


class FakeEngine:
    def __init__(self) -> None:
        self.listener: Callable[[up.EngineUpdate], None] | None = None
        self.requests: dict[int, TurnRequest] = {}
        self.calls: list[str] = []
        self.restored: list[dict[str, Any] | None] = []
        self.configured: list[dict[str, Any]] = []
        self._next = 0

    # -- EnginePort ------------------------------------------------------------------------------------------------
    def set_listener(self, listener: Callable[[up.EngineUpdate], None]) -> None:
        self.listener = listener

    def configure(self, values: dict[str, Any]) -> None:
        self.configured.append(values)

    def load(self) -> None:
        self.calls.append("load")

    def cancel_load(self) -> None:
        self.calls.append("cancel_load")

    def submit(self, request: TurnRequest) -> int:
        self._next += 1
        self.requests[self._next] = request
        self.calls.append(f"submit {self._next}")
        return self._next

    def cancel(self) -> None:
        self.calls.append("cancel")

    def clear(self) -> None:
        self.calls.append("clear")

    def restore(self, data: dict[str, Any] | None) -> None:
        self.restored.append(data)

    def shutdown(self) -> None:
        self.calls.append("shutdown")

    # -- the test plays the engine ---------------------------------------------------------------------------------
    def send(self, *updates: up.EngineUpdate) -> None:
        assert self.listener is not None
        for u in updates:
            self.listener(u)

    def turn(self, tid: int, *events: Event) -> None:
        self.send(up.TurnStarted(tid), *(up.TurnEvent(tid, e) for e in events))

    def loaded(self) -> None:
        self.send(up.DeviceKnown("cpu", "float32"), up.Loaded(1.5))
