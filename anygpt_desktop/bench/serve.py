"""``bench serve``: turns per second and time to first audio through ``anygpt-desktop serve`` for 1, 2, 4, 8 clients.

The server (tiny kit, in this process, its own engine thread) listens on 127.0.0.1; every client is a
``RemoteServerAssistant`` in its own thread holding its own conversation and running spoken turns back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

TURNS_PER_CLIENT = 3


def _serve_in_thread(assistant, token: str):  # type: ignore[no-untyped-def]
    from anygpt_desktop.serve.server import EngineServer, ServeOptions

    server = EngineServer(assistant, ServeOptions(port=0, token=token))
    ready = threading.Event()
    url: list[str] = []
    state: dict = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        state["loop"] = loop
        stop = asyncio.Event()
        state["stop"] = stop
        loop.run_until_complete(server.run(started=lambda u: (url.append(u), ready.set()), stop=stop))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(120):
        raise RuntimeError("the bench server did not start")

    def stop() -> None:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(30)

    return url[0], stop


def _round(url: str, token: str, clients: int) -> tuple[float, list[float]]:
    from anygpt_desktop.engine.events import SpeechChunk, TurnDone
    from anygpt_desktop.engine.requests import TurnRequest
    from anygpt_desktop.serve.client import RemoteServerAssistant

    firsts: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        c = RemoteServerAssistant(url, token)
        c.load()
        for t in range(TURNS_PER_CLIENT):
            start = time.perf_counter()
            first = None
            for event in c.turn(TurnRequest(text=f"client {i} turn {t}", output_modality="speech")):
                if first is None and isinstance(event, SpeechChunk):
                    first = time.perf_counter() - start
                last = event
            with lock:
                if not isinstance(last, TurnDone):
                    failures.append(str(last))
                elif first is not None:
                    firsts.append(first)
        c.shutdown()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} turns failed: {failures[0]}")
    return clients * TURNS_PER_CLIENT / elapsed, firsts


def run(args: argparse.Namespace) -> int:
    from anygpt_desktop.engine.assistant import Assistant, AssistantSettings
    from anygpt_desktop.engine.decode_loop import DecodeSettings
    from anygpt_desktop.tiny_kit import make_tiny

    with tempfile.TemporaryDirectory() as tmp:
        models = make_tiny(Path(tmp) / "models", seed=0)
        settings = AssistantSettings(seed=0, device="cpu", output_dir=Path(tmp) / "out",
                                     decode=DecodeSettings(max_text_tokens=12, max_speech_units=60))
        assistant = Assistant(models, device="cpu", settings=settings)
        assistant.load()
        token = secrets.token_hex(32)
        url, stop = _serve_in_thread(assistant, token)
        try:
            counts = [args.clients] if getattr(args, "clients", None) else [1, 2, 4, 8]
            print(f"bench serve: tiny kit on {url}, {TURNS_PER_CLIENT} spoken turns per client")
            print(f"{'clients':>7} {'turns/s':>8} {'p50 first audio':>16} {'p95 first audio':>16}")
            for n in counts:
                rate, firsts = _round(url, token, n)
                p50, p95 = (np.percentile(firsts, [50, 95]) * 1000) if firsts else (float("nan"), float("nan"))
                print(f"{n:>7} {rate:>8.2f} {p50:>13.0f} ms {p95:>13.0f} ms")
        finally:
            stop()
    return 0
