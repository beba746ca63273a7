"""The writer process of the kill -9 test: appends turns forever and acknowledges each one whose write returned."""

from __future__ import annotations

from multiprocessing.connection import Connection
from pathlib import Path

from anygpt_desktop.storage.history import HistoryStore


def write_turns_forever(root: str, name: str, media: str, acks: Connection) -> None:
    """Open the store (acknowledged as ``"open"``), then append ``<name>-<i>`` turns, sending each after it returned."""
    store = HistoryStore(Path(root))
    convs = store.conversations()
    conv_id = convs[0].id if convs else store.create("kill").id
    acks.send("open")
    i = 0
    while True:
        store.append_turn(conv_id, "user", f"{name}-{i}", media=[("speech", Path(media))] if i % 4 == 0 else ())
        acks.send(f"{name}-{i}")
        i += 1
