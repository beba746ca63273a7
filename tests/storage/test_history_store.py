"""The SQLite conversation store: CRUD, atomic turns with media, survival of a kill, export."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from anygpt_desktop.storage.history import (
    ConversationNotFoundError,
    HistoryError,
    HistoryStore,
    default_history_dir,
    sanitize_filename,
)


@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    src = tmp_path / "src"
    src.mkdir()
    img = src / "my photo (1).png"
    Image.new("RGB", (8, 6), (200, 10, 10)).save(img)
    wav = src / "tune.wav"
    sf.write(wav, np.zeros(1600, np.float32) + 0.1, 16000)
    return {"image": img, "music": wav}


def test_create_list_rename_delete(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h")
    a = store.create("First")
    time.sleep(0.01)
    b = store.create("  ")
    assert b.title == "Untitled"
    store.append_turn(a.id, "user", "hello")
    assert [c.id for c in store.conversations()] == [a.id, b.id]  # a was updated last
    assert store.get(a.id).turn_count == 1
    store.rename(b.id, "Second")
    assert store.get(b.id).title == "Second"
    with pytest.raises(HistoryError):
        store.rename(b.id, "")
    store.delete(a.id)
    assert [c.title for c in store.conversations()] == ["Second"]
    with pytest.raises(ConversationNotFoundError):
        store.turns(a.id)
    with pytest.raises(ConversationNotFoundError):
        store.append_turn(a.id, "user", "late")


def test_turns_round_trip_with_media(tmp_path: Path, media: dict[str, Path]) -> None:
    root = tmp_path / "h"
    store = HistoryStore(root)
    conv = store.create("Pics")
    store.append_turn(conv.id, "user", "draw a cat", media=[("image", media["image"])])
    store.append_turn(
        conv.id,
        "assistant",
        "here",
        transcript="",
        media=[("image", media["image"]), ("music", media["music"])],
        timings={"total": 1.5, "tokens_per_s": 12.0, "bad": "x"},  # type: ignore[dict-item]
        interrupted=True,
    )
    store.close()

    store = HistoryStore(root)  # reopened: everything is still there
    turns = store.turns(conv.id)
    assert [t.role for t in turns] == ["user", "assistant"]
    assert turns[1].interrupted and turns[1].timings == {"total": 1.5, "tokens_per_s": 12.0}
    files = [m.path for t in turns for m in t.media]
    assert len(set(files)) == 3  # the same source stored twice gets two distinct names
    for f in files:
        assert f.parent == store.media_dir(conv.id)
        assert f.is_file() and f.name == sanitize_filename(f.name)
        assert " " not in f.name and "(" not in f.name
    assert files[0].read_bytes() == media["image"].read_bytes()
    assert not list(store.media_dir(conv.id).glob(".*.tmp"))
    store.delete(conv.id)
    assert not store.media_dir(conv.id).exists()


def test_missing_media_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h")
    conv = store.create()
    with pytest.raises(HistoryError, match="does not exist"):
        store.append_turn(conv.id, "user", "x", media=[("image", tmp_path / "nope.png")])
    assert store.turns(conv.id) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\evil\\x.PNG", "x.png"),
        (".hidden", "hidden"),
        ("ça va?.wav", "a_va.wav"),
        ("", "file"),
        ("a" * 300 + ".jpeg", "a" * 75 + ".jpeg"),
        ("abc " * 30 + ".JPG", "abc_" * 18 + "abc.jpg"),  # cut just after a separator: none left dangling
    ],
)
def test_sanitize_filename(name: str, expected: str) -> None:
    assert sanitize_filename(name) == expected
    assert sanitize_filename(expected) == expected  # a safe name passes unchanged (a server checks names so)


def test_engine_state_round_trip(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h")
    conv = store.create()
    assert store.engine_state(conv.id) is None
    store.save_engine_state(conv.id, {"turns": [{"role": "user", "text": "hi"}]})
    assert store.engine_state(conv.id) == {"turns": [{"role": "user", "text": "hi"}]}


def test_default_dir_follows_xdg(tmp_path: Path) -> None:
    # tests/conftest.py points XDG_DATA_HOME into tmp_path
    assert str(default_history_dir()).startswith(os.environ["XDG_DATA_HOME"])


def test_export_markdown_and_html(tmp_path: Path, media: dict[str, Path]) -> None:
    store = HistoryStore(tmp_path / "h")
    conv = store.create("Trip <to> the beach")
    store.append_turn(conv.id, "user", "", transcript="what is this?", media=[("image", media["image"])])
    store.append_turn(conv.id, "assistant", "A red <square>.", media=[("music", media["music"])])
    out = tmp_path / "export"
    md = store.export_markdown(conv.id, out)
    page = store.export_html(conv.id, out)
    text = md.read_text(encoding="utf-8")
    assert "# Trip <to> the beach" in text and "what is this?" in text and "A red <square>." in text
    media_dir = md.with_name(md.stem + "_media")
    copied = sorted(p.name for p in media_dir.iterdir())
    assert len(copied) == 2
    for name in copied:
        assert f"{media_dir.name}/{name}" in text
    body = page.read_text(encoding="utf-8")
    assert "A red &lt;square&gt;." in body and "<square>" not in body
    assert f'<img src="{media_dir.name}/{copied[0] if copied[0].startswith("image") else copied[1]}"' in body
    assert "<audio controls" in body


KILLS = 60


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_kill_9_at_random_moments_loses_no_finished_turn(tmp_path: Path) -> None:
    """60 writer processes killed with SIGKILL at random moments (while opening, between and inside writes): after
    each, the database passes integrity_check and holds every turn whose write had returned, with its media file.

    The writers are forked from a server that has already imported the store, so each start costs milliseconds."""
    import multiprocessing
    import random
    import sqlite3

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _kill_writer import write_turns_forever

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["_kill_writer"])
    rng = random.Random(1234)
    root = tmp_path / "h"
    media = tmp_path / "voice.wav"
    sf.write(media, np.zeros(800, np.float32), 16000)
    acknowledged: set[str] = set()
    for child in range(KILLS):
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=write_turns_forever, args=(str(root), f"c{child}", str(media), send))
        proc.start()
        send.close()
        wanted = rng.randrange(-1, 12)  # -1: kill while the store opens; else after that many returned writes
        if wanted >= 0:
            assert receive.recv() == "open"
            for _ in range(wanted):
                acknowledged.add(receive.recv())
        else:
            time.sleep(rng.uniform(0.0, 0.02))  # a random moment of start-up
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0.0, 0.003))  # land inside a write, not just after an acknowledgement
        proc.kill()
        proc.join(timeout=30)
        assert proc.exitcode == -signal.SIGKILL, proc.exitcode
        while True:  # writes that returned after our last read are acknowledged too
            try:
                ack = receive.recv()
            except EOFError:
                break
            if ack != "open":
                acknowledged.add(ack)
        receive.close()

        db = sqlite3.connect(root / "history.sqlite3")
        try:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            db.close()
        store = HistoryStore(root)
        try:
            assert store.recovered_from is None
            stored = [t for c in store.conversations() for t in store.turns(c.id)]
        finally:
            store.close()
        texts = {t.text for t in stored}
        assert acknowledged <= texts, sorted(acknowledged - texts)[:5]
        for turn in stored:  # nothing half-written: every stored media file is complete
            for item in turn.media:
                assert item.path.stat().st_size == media.stat().st_size
    assert len(acknowledged) > KILLS  # the writers did get work done between kills


def _stored_texts(root: Path) -> list[str]:
    with HistoryStore(root) as store:
        return [t.text for c in store.conversations() for t in store.turns(c.id)]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zeroed_page"])
def test_a_corrupt_database_is_moved_aside_never_deleted(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "h"
    with HistoryStore(root) as store:
        conv = store.create("before")
        for i in range(200):
            store.append_turn(conv.id, "user", f"turn {i} " + "x" * 200)
    db_file = root / "history.sqlite3"
    for side in ("-wal", "-shm"):
        assert not (root / f"history.sqlite3{side}").exists()  # a clean close checkpoints the log
    data = bytearray(db_file.read_bytes())
    if damage == "garbage":
        data = bytearray(b"this is not a database at all " * 100)
    elif damage == "truncated":
        data = data[: len(data) // 3]
    else:
        page = 4096
        data[page : 3 * page] = bytes(2 * page)  # the schema root and a b-tree page wiped
    db_file.write_bytes(bytes(data))

    with caplog.at_level("WARNING"):
        store = HistoryStore(root)
    try:
        assert store.recovered_from is not None
        moved = store.recovered_from
        assert moved.parent == root and moved.name.startswith("history.sqlite3.corrupt-")
        assert moved.read_bytes() == bytes(data)  # kept byte for byte
        assert "damaged" in store.recovery_message and moved.name in store.recovery_message
        assert any("moved to" in r.getMessage() for r in caplog.records)
        assert store.conversations() == []  # a fresh store that works
        fresh = store.create("after")
        store.append_turn(fresh.id, "user", "hello")
    finally:
        store.close()
    assert _stored_texts(root) == ["hello"]
    # opening again moves nothing more
    with HistoryStore(root) as again:
        assert again.recovered_from is None
    assert len(list(root.glob("history.sqlite3.corrupt-*"))) == 1


def test_a_healthy_store_reports_no_recovery(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h") as store:
        assert store.recovered_from is None and store.recovery_message == ""


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="permissions: POSIX, not root")
def test_a_read_only_folder_is_a_clear_error_and_nothing_is_moved(tmp_path: Path) -> None:
    root = tmp_path / "h"
    with HistoryStore(root) as store:
        store.create("kept")
    root.chmod(0o500)
    (root / "history.sqlite3").chmod(0o400)
    try:
        try:
            store = HistoryStore(root)
        except HistoryError as exc:
            assert "cannot be opened" in str(exc)
        else:
            store.close()
        assert not list(root.glob("*.corrupt-*"))
    finally:
        root.chmod(0o700)
        (root / "history.sqlite3").chmod(0o600)
