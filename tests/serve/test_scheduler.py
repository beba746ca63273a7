"""The fair queue: one turn at a time, sessions served in turn, one queued turn per session, cancels free the slot."""

from __future__ import annotations

import threading

from anygpt_desktop.engine.events import TextDelta, TurnDone, TurnFailed
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.engine_process import protocol as p
from anygpt_desktop.serve.scheduler import Conversation, TurnJob, TurnScheduler

WAIT_S = 60.0


class GatedAssistant:
    """Records the order of turns; each turn waits for its gate (or a cancel) after its first delta."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.gates: dict[str, threading.Event] = {}
        self.started = threading.Semaphore(0)
        self.conversation: dict = {}

    def clear(self) -> None:
        self.conversation = {}

    def restore(self, data: dict) -> None:
        self.conversation = dict(data)

    def history_json(self) -> dict:
        return dict(self.conversation)

    def turn(self, request, state):  # type: ignore[no-untyped-def]
        self.order.append(request.text)
        gate = self.gates.setdefault(request.text, threading.Event())
        yield TextDelta(request.text)
        self.started.release()
        while not gate.wait(0.01):
            if state.cancelled():
                yield TurnFailed("stopped", cancelled=True)
                return
        self.conversation = {"said": self.conversation.get("said", []) + [request.text]}
        yield TurnDone(reply_text=request.text, transcript="")


FINISHED = threading.Semaphore(0)  # released at every turn's final event


def job(sid: int, text: str, sink: dict[int, list]) -> TurnJob:
    done = sink.setdefault(sid, [])

    def emit(message: p.Message) -> None:
        done.append(message)
        if isinstance(message, p.TurnEvent) and isinstance(message.event, (TurnDone, TurnFailed)):
            FINISHED.release()

    return TurnJob(sid, len(done) + 1, TurnRequest(text=text), Conversation(), emit)


def test_sessions_take_turns_in_order_one_at_a_time() -> None:
    assistant = GatedAssistant()
    scheduler = TurnScheduler(assistant)
    scheduler.start()
    sink: dict[int, list] = {}
    try:
        first = job(1, "a1", sink)
        assert scheduler.submit(first)
        assert assistant.started.acquire(timeout=WAIT_S)  # a1 runs
        assert scheduler.submit(job(2, "b1", sink)) and scheduler.submit(job(3, "c1", sink))
        assert not scheduler.submit(job(1, "a2", sink))  # one turn per session at a time
        for text in ("a1", "b1", "c1"):
            assistant.gates.setdefault(text, threading.Event()).set()
        for _ in range(3):
            assert FINISHED.acquire(timeout=WAIT_S)
        assert assistant.order == ["a1", "b1", "c1"]
        assert first.conversation.data == {"said": ["a1"]}, sink[1]
    finally:
        scheduler.stop()


def test_cancelling_the_running_turn_frees_the_slot_and_keeps_the_conversation() -> None:
    assistant = GatedAssistant()
    scheduler = TurnScheduler(assistant)
    scheduler.start()
    sink: dict[int, list] = {}
    try:
        held = job(1, "held", sink)
        held.conversation.data = {"said": ["before"]}
        assert scheduler.submit(held)
        assert assistant.started.acquire(timeout=WAIT_S)
        other = job(2, "other", sink)
        assistant.gates["other"] = threading.Event()
        assistant.gates["other"].set()
        assert scheduler.submit(other)
        scheduler.cancel(1)  # e.g. the client disconnected
        assert assistant.started.acquire(timeout=WAIT_S)  # the other session's turn got the engine
        last = [m for m in sink[1] if isinstance(m, p.TurnEvent)][-1]
        assert isinstance(last.event, TurnFailed) and last.event.cancelled
        assert held.conversation.data == {"said": ["before"]}  # the stopped turn left no trace
    finally:
        scheduler.stop()


class CountingAssistant(GatedAssistant):
    """Counts the conversation swaps (each one would reset a real assistant's KV cache)."""

    def __init__(self) -> None:
        super().__init__()
        self.swaps = 0

    def clear(self) -> None:
        self.swaps += 1
        super().clear()

    def restore(self, data: dict) -> None:
        self.swaps += 1
        super().restore(data)


def run_turn(scheduler: TurnScheduler, assistant: GatedAssistant, turn: TurnJob) -> None:
    """Submit ``turn`` with its gate open and wait for its final event."""
    ended = threading.Event()
    emit = turn.emit

    def watch(message: p.Message) -> None:
        emit(message)
        if isinstance(message, p.TurnEvent) and isinstance(message.event, (TurnDone, TurnFailed)):
            ended.set()

    turn.emit = watch
    assistant.gates.setdefault(turn.request.text, threading.Event()).set()
    assert scheduler.submit(turn)
    assert ended.wait(WAIT_S)


def test_a_sessions_follow_up_keeps_its_resident_conversation_and_cache() -> None:
    assistant = CountingAssistant()
    scheduler = TurnScheduler(assistant)
    scheduler.start()
    sink: dict[int, list] = {}
    one, two = Conversation(), Conversation()
    try:
        for sid, text, conversation in [(1, "a1", one), (1, "a2", one), (2, "b1", two), (1, "a3", one), (1, "a4", one)]:
            turn = job(sid, text, sink)
            turn.conversation = conversation
            run_turn(scheduler, assistant, turn)
        # a1 starts from an empty conversation, b1 and a3 swap in; a2 and a4 follow their own turn: nothing restored
        assert assistant.swaps == scheduler.restores == 3
        assert one.data == {"said": ["a1", "a2", "a3", "a4"]} and two.data == {"said": ["b1"]}
    finally:
        scheduler.stop()


def test_a_stopped_turn_or_a_restored_conversation_is_swapped_in_again() -> None:
    assistant = CountingAssistant()
    scheduler = TurnScheduler(assistant)
    scheduler.start()
    sink: dict[int, list] = {}
    one = Conversation()
    try:
        first = job(1, "a1", sink)
        first.conversation = one
        run_turn(scheduler, assistant, first)
        held = job(1, "held", sink)
        held.conversation = one
        assert scheduler.submit(held)
        assert assistant.started.acquire(timeout=WAIT_S) and assistant.started.acquire(timeout=WAIT_S)
        scheduler.cancel(1)
        while scheduler.busy(1):  # the stopped turn leaves between tokens
            assistant.started.acquire(timeout=0.05)
        after = job(1, "a2", sink)
        after.conversation = one
        # a1 started from empty (1); "held" followed a1: resident, no swap; it was stopped, so it may have changed
        # the assistant: a2 swaps the conversation in again (2)
        run_turn(scheduler, assistant, after)
        assert assistant.swaps == 2
        one.data = {"said": ["edited"]}  # a Restore message from the client replaces the conversation
        again = job(1, "a3", sink)
        again.conversation = one
        run_turn(scheduler, assistant, again)
        assert assistant.swaps == 3 and one.data == {"said": ["edited", "a3"]}
    finally:
        scheduler.stop()
