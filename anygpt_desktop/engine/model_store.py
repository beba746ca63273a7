"""The model store: what is in a models folder, and fetching what is missing.

:func:`status` reports every component file as present, missing, partial (a ``.part`` waits to be resumed) or
corrupt (wrong size, or wrong sha256 when ``verify=True``). It is fast by default: sizes only.

:func:`download` fetches the missing files of chosen components through :mod:`.downloader`. After each verified
file the store notes its size and sha256 in ``<models>/.anygpt-store.json``; status uses those notes where the
manifest has no exact size or checksum (most released files have none published), so a file that later changes
size or content is still caught.
"""

from __future__ import annotations

import enum
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from anygpt_desktop.engine import downloader
from anygpt_desktop.cancel import CancelToken
from anygpt_desktop.engine.downloader import DownloadError, NotFoundError
from anygpt_desktop.engine.model_manifest import Component, FileEntry, Manifest, load_manifest

logger = logging.getLogger(__name__)

RECORD_NAME = ".anygpt-store.json"

FileProgress = Callable[[str, int, "int | None"], None]
"""``progress(dest, bytes_done, bytes_total_or_None)`` for the file being downloaded."""


class FileState(str, enum.Enum):
    PRESENT = "present"
    MISSING = "missing"
    PARTIAL = "partial"
    CORRUPT = "corrupt"


_SEVERITY = {FileState.PRESENT: 0, FileState.MISSING: 1, FileState.PARTIAL: 2, FileState.CORRUPT: 3}


@dataclass(frozen=True)
class FileStatus:
    dest: str  # relative to the models folder
    state: FileState
    size_on_disk: int | None = None  # the final file's size, or the .part's when partial
    expected_size: int | None = None
    optional: bool = False
    detail: str = ""


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    purpose: str
    required: bool
    files: tuple[FileStatus, ...] = field(default_factory=tuple)

    @property
    def state(self) -> FileState:
        """The worst state among the non-optional files (present only if every one is present)."""
        states = [f.state for f in self.files if not f.optional] or [FileState.PRESENT]
        return max(states, key=_SEVERITY.__getitem__)

    @property
    def ok(self) -> bool:
        return self.state is FileState.PRESENT

    @property
    def bytes_on_disk(self) -> int:
        return sum(f.size_on_disk or 0 for f in self.files if f.state is FileState.PRESENT)


class ModelStoreError(Exception):
    """A store operation failed in a way the user must act on."""


# ----------------------------------------------------------------------------------------------- record


def _record_path(root: Path) -> Path:
    return root / RECORD_NAME


def read_record(root: Path) -> dict[str, dict]:
    """``{dest: {"size": int, "sha256": str, "url": str}}`` for files this store downloaded."""
    try:
        data = json.loads(_record_path(root).read_text(encoding="utf-8"))
        files = data.get("files", {})
        return files if isinstance(files, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_record_entry(root: Path, dest: str, result: downloader.DownloadResult) -> None:
    files = read_record(root)
    files[dest] = {"size": result.size, "sha256": result.sha256, "url": result.url}
    tmp = _record_path(root).with_suffix(".tmp")
    tmp.write_text(json.dumps({"files": files}, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, _record_path(root))


# ----------------------------------------------------------------------------------------------- status


def _file_status(
    root: Path,
    dest: str,
    size: int | None,
    sha256: str | None,
    optional: bool,
    record: dict[str, dict],
    verify: bool,
) -> FileStatus:
    noted = record.get(dest, {})
    want_size = size if size is not None else noted.get("size")
    want_sha = sha256 or noted.get("sha256")
    path = root / dest
    if path.is_file():
        actual = path.stat().st_size
        if want_size is not None and actual != want_size:
            return FileStatus(dest, FileState.CORRUPT, actual, want_size, optional, f"size {actual}, expected {want_size}")
        if verify:
            if want_sha is None:
                return FileStatus(dest, FileState.PRESENT, actual, want_size, optional, "no checksum known")
            if downloader.sha256_file(path) != want_sha:
                return FileStatus(dest, FileState.CORRUPT, actual, want_size, optional, "sha256 mismatch")
            return FileStatus(dest, FileState.PRESENT, actual, want_size, optional, "sha256 ok")
        return FileStatus(dest, FileState.PRESENT, actual, want_size, optional)
    part = downloader.part_path(path)
    if part.is_file():
        got = part.stat().st_size
        of = f" of {want_size}" if want_size is not None else ""
        return FileStatus(dest, FileState.PARTIAL, got, want_size, optional, f"{got}{of} bytes downloaded")
    return FileStatus(dest, FileState.MISSING, None, want_size, optional)


def _index_shards(index_file: Path) -> list[str]:
    """Shard file names listed by a ``*.index.json`` (its ``weight_map`` values), in first-seen order."""
    try:
        data = json.loads(index_file.read_text(encoding="utf-8"))
        weight_map = data["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelStoreError(f"{index_file} is not a valid weight index file: {exc}") from exc
    shards: list[str] = []
    for name in weight_map.values():
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
            raise ModelStoreError(f"{index_file} names an unsafe shard file {name!r}")
        if name not in shards:
            shards.append(name)
    return shards


def _weights_status(root: Path, comp: Component, record: dict[str, dict], verify: bool) -> list[FileStatus]:
    assert comp.weights is not None
    for cand in comp.weights.candidates:
        dest = comp.dest_of(cand)
        if not (root / dest).is_file():
            continue
        statuses = [_file_status(root, dest, None, None, False, record, verify)]
        if cand.endswith(".index.json"):
            try:
                shards = _index_shards(root / dest)
            except ModelStoreError as exc:
                return [FileStatus(dest, FileState.CORRUPT, None, None, False, str(exc))]
            statuses += [_file_status(root, comp.dest_of(s), None, None, False, record, verify) for s in shards]
        return statuses
    for cand in comp.weights.candidates:
        dest = comp.dest_of(cand)
        if downloader.part_path(root / dest).is_file():
            return [_file_status(root, dest, None, None, False, record, verify)]
    label = comp.dest_of("<weights>")
    return [FileStatus(label, FileState.MISSING, None, None, False, "one of: " + ", ".join(comp.weights.candidates))]


def component_status(root: Path, comp: Component, *, verify: bool = False) -> ComponentStatus:
    record = read_record(root)
    files = [_file_status(root, f.dest, f.size, f.sha256, f.optional, record, verify) for f in comp.files]
    if comp.weights is not None:
        files += _weights_status(root, comp, record, verify)
    return ComponentStatus(comp.name, comp.purpose, comp.required, tuple(files))


def status(
    models_root: str | os.PathLike[str],
    *,
    verify: bool = False,
    manifest: Manifest | None = None,
    components: Iterable[str] | None = None,
) -> list[ComponentStatus]:
    """The state of every component (or the named ones) under ``models_root``."""
    root = Path(models_root)
    manifest = manifest or load_manifest()
    chosen = [manifest.get(n) for n in components] if components is not None else list(manifest.components)
    return [component_status(root, c, verify=verify) for c in chosen]


def all_required_present(statuses: Iterable[ComponentStatus]) -> bool:
    return all(s.ok for s in statuses if s.required)


# ----------------------------------------------------------------------------------------------- download


@dataclass
class DownloadReport:
    downloaded: list[str] = field(default_factory=list)  # dest paths fetched now
    skipped: list[str] = field(default_factory=list)  # already present
    missing_optional: list[str] = field(default_factory=list)  # optional files the source does not have


def _fetch(
    root: Path,
    comp: Component,
    repo_path: str,
    entry: FileEntry | None,
    report: DownloadReport,
    progress: FileProgress | None,
    cancel: CancelToken | None,
    record: dict[str, dict],
    options: dict,
) -> None:
    dest = comp.dest_of(repo_path) if entry is None else entry.dest
    size = entry.size if entry else None
    sha = entry.sha256 if entry else None
    current = _file_status(root, dest, size, sha, False, record, verify=False)
    if current.state is FileState.PRESENT:
        report.skipped.append(dest)
        return
    urls = comp.urls_for(repo_path, entry.url if entry else None)
    cb = (lambda done, total: progress(dest, done, total)) if progress else None
    result = downloader.download_file(urls, root / dest, size=size, sha256=sha, progress=cb, cancel=cancel, **options)
    _write_record_entry(root, dest, result)
    record[dest] = {"size": result.size, "sha256": result.sha256}
    report.downloaded.append(dest)


def _fetch_weights(
    root: Path,
    comp: Component,
    report: DownloadReport,
    progress: FileProgress | None,
    cancel: CancelToken | None,
    record: dict[str, dict],
    options: dict,
) -> None:
    """Use the local candidate if one exists, else the first candidate the source has; expand index files."""
    assert comp.weights is not None
    candidates = list(comp.weights.candidates)
    local = [c for c in candidates if (root / comp.dest_of(c)).is_file()]
    local += [c for c in candidates if downloader.part_path(root / comp.dest_of(c)).is_file() and c not in local]
    order = local + [c for c in candidates if c not in local]
    for cand in order:
        try:
            _fetch(root, comp, cand, None, report, progress, cancel, record, options)
        except NotFoundError:
            logger.info("%s: %s not in the source; trying the next weight layout", comp.name, cand)
            continue
        if cand.endswith(".index.json"):
            for shard in _index_shards(root / comp.dest_of(cand)):
                _fetch(root, comp, shard, None, report, progress, cancel, record, options)
        return
    raise NotFoundError(
        f"{comp.name}: none of the weight files ({', '.join(candidates)}) exist in {comp.sources[0].repo}", 404
    )


def download(
    models_root: str | os.PathLike[str],
    components: Iterable[str] | None = None,
    *,
    include_base: bool = False,
    manifest: Manifest | None = None,
    progress: FileProgress | None = None,
    cancel: CancelToken | None = None,
    retries: int = 3,
    backoff_s: float = 1.0,
    timeout: float = 30.0,
) -> DownloadReport:
    """Fetch every missing file of the named components (default: all required ones; ``include_base`` adds
    the optional base model). Raises :class:`~.downloader.DownloadError`
    subclasses, :class:`ModelStoreError`, or :class:`~anygpt_desktop.cancel.Cancelled` (the ``.part`` is kept)."""
    root = Path(models_root)
    manifest = manifest or load_manifest()
    names = list(components) if components else [c.name for c in manifest.required()]
    if include_base and "base" in manifest.names and "base" not in names:
        names.append("base")
    chosen = []
    for name in names:
        try:
            chosen.append(manifest.get(name))
        except KeyError as exc:
            raise ModelStoreError(exc.args[0]) from None
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelStoreError(f"cannot create the models folder {root}: {exc.strerror or exc}") from exc
    options = {"retries": retries, "backoff_s": backoff_s, "timeout": timeout}
    report = DownloadReport()
    record = read_record(root)
    for comp in chosen:
        logger.debug("component %s: %s", comp.name, comp.purpose)
        for entry in comp.files:
            try:
                _fetch(root, comp, entry.path, entry, report, progress, cancel, record, options)
            except NotFoundError:
                if not entry.optional:
                    raise
                logger.info("%s: optional file %s is not in the source", comp.name, entry.path)
                report.missing_optional.append(entry.dest)
        if comp.weights is not None:
            _fetch_weights(root, comp, report, progress, cancel, record, options)
    return report


__all__ = [
    "ComponentStatus",
    "DownloadError",
    "DownloadReport",
    "FileState",
    "FileStatus",
    "ModelStoreError",
    "all_required_present",
    "component_status",
    "download",
    "read_record",
    "status",
]
