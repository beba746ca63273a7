"""Files across machines for a served engine: a turn's input files go up as bytes, reply files come down as bytes.

A path means nothing on the other machine (and a server must never read a file a client names), so:

* the client sends each input file (images, music, recordings, the voice prompt) as a :class:`FileData` under a bare
  name before the ``StartTurn`` whose request names it (:func:`upload_inputs`);
* the server keeps a session's uploads in a private folder and accepts a request only when every path in it is one
  of them (:class:`SessionUploads`); the folder is removed when the session ends;
* the server sends each reply file (saved speech, an image, music) as a :class:`FileData` before the event that names
  it (:func:`send_output_file`); the client writes it to its own output folder and the event then names that copy
  (:class:`ReceivedFiles`).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from anygpt_desktop.engine.events import Event, ImageReady, MusicReady, SpeechReady
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.engine_process.protocol import FileData
from anygpt_desktop.storage.history import sanitize_filename

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 256 * 2**20  # per session, all files together
FILE_EVENTS = (SpeechReady, ImageReady, MusicReady)


class FileRefused(ValueError):
    """A file the server will not take or a request naming one it does not have; the message is for the user."""


def _request_paths(request: TurnRequest) -> list[Path]:
    return [*request.speech_files, *request.images, *request.music,
            *([request.voice_prompt] if request.voice_prompt is not None else [])]


def _map_paths(request: TurnRequest, change: Callable[[Path], Path]) -> TurnRequest:
    return dataclasses.replace(
        request, speech_files=[change(p) for p in request.speech_files], images=[change(p) for p in request.images],
        music=[change(p) for p in request.music],
        voice_prompt=change(request.voice_prompt) if request.voice_prompt is not None else None)


class InputFileUnreadable(Exception):
    """An input file of the turn could not be read on this machine; the message is for the user."""


# -- client side ---------------------------------------------------------------------------------------------------
def upload_inputs(request: TurnRequest, turn_id: int, send: Callable[[FileData], None]) -> TurnRequest:
    """Send every input file of ``request`` (each once) and return it naming the uploads. All files are read before
    anything is sent: :class:`InputFileUnreadable` when one cannot be."""
    names: dict[Path, str] = {}
    uploads: list[FileData] = []

    def upload(path: Path) -> Path:
        if path not in names:
            names[path] = sanitize_filename(f"t{turn_id}-{len(names) + 1}-{path.name}")  # what the server accepts
            try:
                uploads.append(FileData(names[path], Path(path).read_bytes()))
            except OSError as exc:
                raise InputFileUnreadable(f"{path.name} could not be read ({exc.strerror or exc})") from None
        return Path(names[path])

    named = _map_paths(request, upload)
    for message in uploads:
        send(message)
    return named


class ReceivedFiles:
    """Reply files from the server, written into ``folder`` (made on first use) under their own names."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._by_name: dict[str, Path] = {}

    def keep(self, message: FileData) -> None:
        name = sanitize_filename(message.name)
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / name
        stem, suffix, n = target.stem, target.suffix, 1
        while target.exists():  # never overwrite an earlier reply's file
            n += 1
            target = self.folder / f"{stem}-{n}{suffix}"
        target.write_bytes(message.data)
        self._by_name[message.name] = target

    def localize(self, event: Event) -> Event:
        """``event`` naming the local copy of its file (unchanged when it names none or the file did not come)."""
        if isinstance(event, FILE_EVENTS):
            local = self._by_name.pop(Path(event.path).name, None)
            if local is not None:
                return dataclasses.replace(event, path=local)
            logger.warning("the server named %s without sending it", event.path)
        return event


# -- server side ---------------------------------------------------------------------------------------------------
class SessionUploads:
    """One session's uploaded files, in a private folder made under ``root`` (the server's uploads folder, removed
    when the server stops) or the system's temporary folder."""

    def __init__(self, root: Path | None = None, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.total = 0
        self.refused = ""  # why the last upload was refused (the turn naming it fails with this)
        self._folder: Path | None = None
        self._files: dict[str, Path] = {}

    def store(self, message: FileData) -> None:
        name = message.name
        if not name or name != sanitize_filename(name):
            raise FileRefused(f"refused an upload with an unsafe name: {name[:80]!r}")
        if self.total + len(message.data) > self.max_bytes:
            raise FileRefused(f"the files of this session exceed {self.max_bytes // 2**20} MB")
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="session-" if self.root else "anygpt-serve-uploads-",
                                                 dir=self.root))
        path = self._folder / name
        path.write_bytes(message.data)
        self.total += len(message.data)
        self._files[name] = path

    def keep_only(self, request: TurnRequest) -> None:
        """Forget the uploads ``request`` does not name (earlier turns': a client sends a turn's files with it), so a
        long session never runs into the size limit. Call it only while the session has no turn running."""
        used = {str(p) for p in _request_paths(request)}
        for name in [n for n in self._files if n not in used]:
            path = self._files.pop(name)
            self.total -= path.stat().st_size if path.exists() else 0
            path.unlink(missing_ok=True)

    def resolve(self, request: TurnRequest) -> TurnRequest:
        """``request`` with every path replaced by the upload it names; :class:`FileRefused` for any other path."""
        for path in _request_paths(request):
            if str(path) not in self._files:
                raise FileRefused(f"the file {path.name!r} was not sent with this turn (a served engine reads no "
                                  "files of its own machine)")
        return _map_paths(request, lambda p: self._files[str(p)])

    def close(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        self._files.clear()


def send_output_file(event: Event, send: Callable[[FileData], None]) -> Event:
    """For a reply-file event: send the file's bytes first and return the event naming the bare file name."""
    if not isinstance(event, FILE_EVENTS):
        return event
    path = Path(event.path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        logger.error("a reply file could not be read: %s", exc)
        return event
    send(FileData(path.name, data))
    return dataclasses.replace(event, path=Path(path.name))
