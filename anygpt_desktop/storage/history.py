"""Conversation history: SQLite in the user data folder, media files copied beside it, export to Markdown and HTML.

Layout under the history root (default ``<user data dir>/history``)::

    history.sqlite3             conversations + turns (WAL journal, synchronous=FULL)
    media/<conversation id>/    copies of every image/audio file a turn refers to, with sanitised names

A turn is written in one transaction after its media files were copied (copy to a temporary name, then rename), so a
kill at any moment leaves either the whole finished turn or nothing of it; never a row pointing at a half-written file.

Durability, chosen on purpose:

- ``journal_mode=WAL``: a commit appends to the write-ahead log and never rewrites the database in place, so a process
  killed mid-write (``kill -9``, a crash) leaves the last committed state; readers (the history list) never block the
  writer.
- ``synchronous=FULL``: every commit also fsyncs the log. ``NORMAL`` would already survive a killed *process* (the
  operating system still holds the written pages), but after a *power loss* it may forget the last turns the user saw
  being saved. A turn is written every few seconds at most, so one fsync per turn costs nothing the user can notice,
  and "saved" means saved.

A database file SQLite cannot read (``file is not a database``, ``database disk image is malformed``, a failed
``quick_check``) is never deleted: it is renamed to ``history.sqlite3.corrupt-<timestamp>`` (its ``-wal``/``-shm``
files with it), a warning is logged, :attr:`HistoryStore.recovered_from` names the moved file (so the GUI can say so),
and the store starts with a fresh, empty database.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

logger = logging.getLogger(__name__)

DB_NAME = "history.sqlite3"
MEDIA_DIR = "media"
MediaKind = Literal["image", "music", "speech", "voice"]
MEDIA_KINDS: tuple[str, ...] = ("image", "music", "speech", "voice")
Role = Literal["user", "assistant"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    engine_state TEXT
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    text TEXT NOT NULL DEFAULT '',
    transcript TEXT NOT NULL DEFAULT '',
    media TEXT NOT NULL DEFAULT '[]',
    timings TEXT NOT NULL DEFAULT '{}',
    interrupted INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns(conversation_id, id);
"""


class HistoryError(Exception):
    """A history operation failed; the message says what and why, in the user's terms."""


class ConversationNotFoundError(HistoryError):
    """The conversation does not exist (it was deleted)."""


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created: float
    updated: float
    turn_count: int = 0


@dataclass(frozen=True)
class MediaItem:
    """A file a turn refers to; ``path`` is absolute (inside the conversation's media folder once stored)."""

    kind: str  # one of MEDIA_KINDS
    path: Path


@dataclass(frozen=True)
class Turn:
    id: int
    conversation_id: int
    role: str
    text: str = ""
    transcript: str = ""
    media: tuple[MediaItem, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    created: float = 0.0


def default_history_dir() -> Path:
    """``<user data dir>/history`` (platformdirs; honours XDG_DATA_HOME on Linux)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("anygpt-desktop", appauthor=False)) / "history"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize_filename(name: str, max_len: int = 80) -> str:
    """A file name safe on every OS: ASCII letters, digits, ``._-``; no leading dot; the suffix kept; never empty."""
    base = Path(name.replace("\\", "/")).name.lstrip(".")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = _UNSAFE.sub("_", stem).strip("._-") or "file"
    suffix = _UNSAFE.sub("", suffix)[:10].lower()
    stem = stem[: max(1, max_len - len(suffix) - 1)].rstrip("._-") or "file"  # idempotent: a name passes unchanged
    return f"{stem}.{suffix}" if suffix else stem


def _slug(title: str) -> str:
    return sanitize_filename(title.replace(" ", "-"), max_len=60).replace(".", "-") or "conversation"


class HistoryStore:
    """The conversation store. Safe to use from several threads (one connection behind a lock).

    ``recovered_from`` is the path a corrupt database was moved to when this store had to start afresh, else None;
    ``recovery_message`` says so in the user's terms (empty when nothing happened).
    """

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_history_dir()
        self.recovered_from: Path | None = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                self._db = _open_database(self.root / DB_NAME)
            except _CorruptDatabase as exc:
                self.recovered_from = _move_aside(self.root / DB_NAME)
                logger.warning(
                    "The conversation history database was unreadable (%s); it was moved to %s and a new one started.",
                    exc,
                    self.recovered_from,
                )
                self._db = _open_database(self.root / DB_NAME)
        except (OSError, sqlite3.Error, _CorruptDatabase) as exc:
            raise HistoryError(f"The conversation history in {self.root} cannot be opened: {exc}") from exc
        self._lock = threading.RLock()

    @property
    def recovery_message(self) -> str:
        if self.recovered_from is None:
            return ""
        return (
            f"The conversation history was damaged and could not be read. It was kept as {self.recovered_from.name} "
            f"in {self.recovered_from.parent}; a new, empty history was started."
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- conversations ---------------------------------------------------------------------------------------------

    def create(self, title: str = "New conversation") -> Conversation:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO conversations(title, created, updated) VALUES (?, ?, ?)", (title.strip() or "Untitled", now, now)
            )
            conv_id = int(cur.lastrowid)
        return Conversation(conv_id, title.strip() or "Untitled", now, now, 0)

    def conversations(self) -> list[Conversation]:
        """All conversations, most recently updated first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id, c.title, c.created, c.updated, COUNT(t.id) FROM conversations c "
                "LEFT JOIN turns t ON t.conversation_id = c.id GROUP BY c.id ORDER BY c.updated DESC, c.id DESC"
            ).fetchall()
        return [Conversation(int(r[0]), r[1], r[2], r[3], int(r[4])) for r in rows]

    def get(self, conversation_id: int) -> Conversation:
        with self._lock:
            row = self._db.execute(
                "SELECT c.id, c.title, c.created, c.updated, (SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id) "
                "FROM conversations c WHERE c.id = ?",
                (conversation_id,),
            ).fetchone()
        if row is None:
            raise ConversationNotFoundError(f"Conversation {conversation_id} no longer exists.")
        return Conversation(int(row[0]), row[1], row[2], row[3], int(row[4]))

    def rename(self, conversation_id: int, title: str) -> None:
        title = title.strip()
        if not title:
            raise HistoryError("A conversation needs a non-empty title.")
        with self._tx() as db:
            cur = db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))
            if cur.rowcount == 0:
                raise ConversationNotFoundError(f"Conversation {conversation_id} no longer exists.")

    def delete(self, conversation_id: int) -> None:
        """Delete the conversation, its turns and its media folder."""
        with self._tx() as db:
            db.execute("DELETE FROM turns WHERE conversation_id = ?", (conversation_id,))
            cur = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if cur.rowcount == 0:
                raise ConversationNotFoundError(f"Conversation {conversation_id} no longer exists.")
        shutil.rmtree(self.media_dir(conversation_id), ignore_errors=True)

    def media_dir(self, conversation_id: int) -> Path:
        return self.root / MEDIA_DIR / str(int(conversation_id))

    def save_engine_state(self, conversation_id: int, state: dict[str, Any]) -> None:
        """The engine's own history (``Assistant.history_json()``), to restore the model's context on reopening."""
        with self._tx() as db:
            db.execute("UPDATE conversations SET engine_state = ? WHERE id = ?", (json.dumps(state), conversation_id))

    def engine_state(self, conversation_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT engine_state FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise ConversationNotFoundError(f"Conversation {conversation_id} no longer exists.")
        return json.loads(row[0]) if row[0] else None

    # -- turns -----------------------------------------------------------------------------------------------------

    def append_turn(
        self,
        conversation_id: int,
        role: Role,
        text: str = "",
        *,
        transcript: str = "",
        media: Iterable[tuple[str, Path | str]] = (),
        timings: dict[str, float] | None = None,
        interrupted: bool = False,
    ) -> Turn:
        """Store one finished turn: copy its media into the conversation folder, then insert it in one transaction."""
        if role not in ("user", "assistant"):
            raise ValueError(f"role must be 'user' or 'assistant', got {role!r}")
        self.get(conversation_id)  # raises when it was deleted
        stored = tuple(self._copy_media(conversation_id, kind, Path(src)) for kind, src in media)
        now = time.time()
        rel = [{"kind": m.kind, "path": str(m.path.relative_to(self.root))} for m in stored]
        clean_timings = {k: float(v) for k, v in (timings or {}).items() if isinstance(v, (int, float))}
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO turns(conversation_id, role, text, transcript, media, timings, interrupted, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, text, transcript, json.dumps(rel), json.dumps(clean_timings), int(interrupted), now),
            )
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
            turn_id = int(cur.lastrowid)
        return Turn(turn_id, conversation_id, role, text, transcript, stored, clean_timings, interrupted, now)

    def turns(self, conversation_id: int) -> list[Turn]:
        self.get(conversation_id)
        with self._lock:
            rows = self._db.execute(
                "SELECT id, role, text, transcript, media, timings, interrupted, created FROM turns "
                "WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        out = []
        for r in rows:
            media = tuple(MediaItem(m["kind"], self.root / m["path"]) for m in json.loads(r[4]))
            out.append(Turn(int(r[0]), conversation_id, r[1], r[2], r[3], media, json.loads(r[5]), bool(r[6]), r[7]))
        return out

    # -- export ----------------------------------------------------------------------------------------------------

    def export_markdown(self, conversation_id: int, dest_dir: Path | str) -> Path:
        """Write ``<title>.md`` and a ``<title>_media/`` folder with every file it links; return the .md path."""
        conv, turns, media_names, out = self._prepare_export(conversation_id, Path(dest_dir), ".md")
        lines = [f"# {conv.title}", "", f"_Exported from AnyGPT Desktop, {time.strftime('%Y-%m-%d %H:%M')}_", ""]
        for turn in turns:
            who = "You" if turn.role == "user" else "AnyGPT"
            lines.append(f"## {who}" + (" (interrupted)" if turn.interrupted else ""))
            lines.append("")
            if turn.transcript:
                lines += [f"> 🎤 {turn.transcript}", ""]
            if turn.text:
                lines += [turn.text, ""]
            for m in turn.media:
                link = media_names[m.path]
                lines += [f"![image]({link})" if m.kind == "image" else f"[{m.kind}: {Path(link).name}]({link})", ""]
        out.write_text("\n".join(lines), encoding="utf-8")
        return out

    def export_html(self, conversation_id: int, dest_dir: Path | str) -> Path:
        """Write ``<title>.html`` (self-contained apart from the ``<title>_media/`` folder); return its path."""
        conv, turns, media_names, out = self._prepare_export(conversation_id, Path(dest_dir), ".html")
        esc = html.escape
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{esc(conv.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto}"
            ".user{background:#e8f0fe}.assistant{background:#f3f3f3}"
            ".turn{padding:.6em 1em;border-radius:8px;margin:.6em 0}img{max-width:100%}</style>",
            "</head><body>",
            f"<h1>{esc(conv.title)}</h1>",
        ]
        for turn in turns:
            who = "You" if turn.role == "user" else "AnyGPT"
            parts.append(f'<div class="turn {turn.role}"><strong>{who}</strong>')
            if turn.interrupted:
                parts.append(" <em>(interrupted)</em>")
            if turn.transcript:
                parts.append(f'<p class="transcript">🎤 {esc(turn.transcript)}</p>')
            if turn.text:
                parts.append("<p>" + esc(turn.text).replace("\n", "<br>") + "</p>")
            for m in turn.media:
                link = esc(media_names[m.path])
                if m.kind == "image":
                    parts.append(f'<p><img src="{link}" alt="image"></p>')
                else:
                    parts.append(f'<p>{esc(m.kind)}: <audio controls src="{link}"></audio> <a href="{link}">download</a></p>')
            parts.append("</div>")
        parts.append("</body></html>")
        out.write_text("\n".join(parts), encoding="utf-8")
        return out

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _prepare_export(
        self, conversation_id: int, dest_dir: Path, suffix: str
    ) -> tuple[Conversation, list[Turn], dict[Path, str], Path]:
        conv = self.get(conversation_id)
        turns = self.turns(conversation_id)
        slug = _slug(conv.title)
        media_folder = dest_dir / f"{slug}_media"
        names: dict[Path, str] = {}
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
            for turn in turns:
                for m in turn.media:
                    if not m.path.is_file():
                        logger.warning("export: %s is missing, link left dangling", m.path)
                    else:
                        media_folder.mkdir(exist_ok=True)
                        shutil.copy2(m.path, media_folder / m.path.name)
                    names[m.path] = f"{media_folder.name}/{m.path.name}"
        except OSError as exc:
            raise HistoryError(f"The conversation could not be exported to {dest_dir}: {exc.strerror or exc}") from exc
        return conv, turns, names, dest_dir / f"{slug}{suffix}"

    def _copy_media(self, conversation_id: int, kind: str, src: Path) -> MediaItem:
        if kind not in MEDIA_KINDS:
            raise ValueError(f"media kind must be one of {MEDIA_KINDS}, got {kind!r}")
        if not src.is_file():
            raise HistoryError(f"The file {src} cannot be stored in the history: it does not exist.")
        folder = self.media_dir(conversation_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if src.resolve().parent == folder.resolve():
                return MediaItem(kind, src.resolve())  # already stored (e.g. re-appending a stored file)
            name = sanitize_filename(f"{kind}-{src.name}")
            dest = _unique(folder / name)
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.copyfile(src, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except OSError as exc:
            raise HistoryError(f"The file {src.name} could not be copied into the history: {exc.strerror or exc}") from exc
        return MediaItem(kind, dest)

    def _tx(self) -> _Transaction:
        return _Transaction(self)


class _Transaction:
    """``with store._tx() as db:`` runs the block in one BEGIN IMMEDIATE ... COMMIT under the store's lock."""

    def __init__(self, store: HistoryStore) -> None:
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        self._store._lock.acquire()
        self._store._db.execute("BEGIN IMMEDIATE")
        return self._store._db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self._store._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._store._lock.release()


class _CorruptDatabase(Exception):
    """The database file exists but SQLite cannot read it as a sound database."""


def _open_database(path: Path) -> sqlite3.Connection:
    """Connect, check the file is a sound database, set the durability pragmas and create the schema."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        try:
            verdict = db.execute("PRAGMA quick_check").fetchone()
            if verdict is None or verdict[0] != "ok":
                raise _CorruptDatabase(f"quick_check: {verdict[0] if verdict else 'no answer'}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(_SCHEMA)
        except sqlite3.OperationalError:
            raise  # locked, read-only, cannot open: not the file's fault, nothing is moved
        except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
            raise _CorruptDatabase(str(exc)) from exc
    except BaseException:
        db.close()
        raise
    return db


def _move_aside(path: Path) -> Path:
    """Rename a corrupt database (and its -wal/-shm files) to ``<name>.corrupt-<timestamp>``; return the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = _unique(path.with_name(f"{path.name}.corrupt-{stamp}"))
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, dest.with_name(dest.name + suffix))
    os.replace(path, dest)
    return dest


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    for i in range(2, 100000):
        candidate = path.with_name(f"{path.stem}-{i}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise HistoryError(f"Too many files named like {path.name}.")

