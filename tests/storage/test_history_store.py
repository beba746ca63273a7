"""The SQLite conversation store: CRUD, atomic turns with media, survival of a kill, export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
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
    ],
)
def test_sanitize_filename(name: str, expected: str) -> None:
    assert sanitize_filename(name) == expected


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


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from anygpt_desktop.storage.history import HistoryStore
    store = HistoryStore(sys.argv[1])
    conv = store.create("kill")
    i = 0
    while True:
        store.append_turn(conv.id, "user", f"turn {i}")
        print(i, flush=True)
        i += 1
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_kill_loses_no_finished_turn(tmp_path: Path) -> None:
    root = tmp_path / "h"
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(root)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    reported = -1
    for line in proc.stdout:
        reported = int(line)
        if reported >= 30:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = HistoryStore(root)
    conv = store.conversations()[0]
    texts = [t.text for t in store.turns(conv.id)]
    # every turn whose append returned is there, in order, and nothing is half-written
    assert len(texts) >= reported + 1
    assert texts == [f"turn {i}" for i in range(len(texts))]
