"""A resumable, checksum-verified single-file HTTP downloader (stdlib only).

Bytes go to ``<dest>.part``; an existing ``.part`` is resumed with an HTTP ``Range`` request (a server that ignores
the range and answers 200 restarts the file from zero). Only after the size and, when known, the sha256 check out is
the ``.part`` renamed over ``dest`` with :func:`os.replace`, so a partial or wrong file never sits at the final name.
A wrong checksum deletes the ``.part``; a cancel, a disk-full error or a lost network keeps it for the next resume.

The expected sha256 and size come from the caller (the manifest) or, when the caller has none, from the Hugging Face
hub's ``X-Linked-Etag`` / ``X-Linked-Size`` headers on its redirect to the file storage, or from the server's
``Content-Length`` / ``Content-Range``.

Faults end with a clear :class:`DownloadError` and never with a file at the final name: a dropped connection, a
stalled server (each read waits at most ``timeout`` seconds) and a full disk keep the ``.part`` for the next run; a
server whose announced length disagrees with the expected size is refused before anything is written (the ``.part``
is kept); wrong bytes fail the size or checksum check and the ``.part`` is deleted.

Only HTTPS to the hosts of :data:`ALLOWED_HOSTS` (and their subdomains), plus the host of an HTTPS endpoint the user
configured (``$ANYGPT_HF_ENDPOINT`` / ``$HF_ENDPOINT``), are fetched, redirects included. Tests opt in to plain HTTP
on the loopback interface with ``$ANYGPT_ALLOW_LOCAL_HTTP=1``.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from anygpt_desktop.cancel import Cancelled, CancelToken

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, "int | None"], None]
"""Called as ``progress(bytes_done, bytes_total_or_None)`` while a file downloads."""

# Hosts the bundled manifest downloads from (a host matches itself and its subdomains: the hub redirects to its
# file storage under huggingface.co / hf.co).
ALLOWED_HOSTS: tuple[str, ...] = ("huggingface.co", "hf.co", "storage.googleapis.com")
ENV_ALLOW_LOCAL_HTTP = "ANYGPT_ALLOW_LOCAL_HTTP"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_USER_AGENT = "anygpt-desktop-model-store/1"


class DownloadError(Exception):
    """Base class: a download did not produce a verified file."""


class NetworkError(DownloadError):
    """The server could not be reached or the connection kept dropping."""


class UnsafeURLError(DownloadError):
    """The URL (or a redirect) is not HTTPS to an allowed host; nothing was fetched from it."""


class HTTPStatusError(DownloadError):
    """The server answered with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class NotFoundError(HTTPStatusError):
    """HTTP 404: the file does not exist at any of the URLs."""


class IntegrityError(DownloadError):
    """The downloaded bytes are not the expected ones (size or sha256); the ``.part`` was deleted."""


class DiskFullError(DownloadError):
    """No space left on the device holding the models folder."""


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    url: str


@dataclass
class _Attempt:
    """What one HTTP exchange told us about the file."""

    total: int | None = None
    linked_sha256: str | None = None


class _RedirectRecorder(urllib.request.HTTPRedirectHandler):
    """Follows redirects like the default handler and keeps the hub's ``X-Linked-*`` headers it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.linked: dict[str, str] = {}

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        check_url_allowed(newurl, what="a redirect")
        for name in ("X-Linked-Etag", "X-Linked-Size"):
            if headers.get(name):
                self.linked[name] = headers[name]
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _configured_hosts() -> list[str]:
    """The host of an HTTPS hub endpoint the user configured (a mirror), if any."""
    hosts = []
    for name in ("ANYGPT_HF_ENDPOINT", "HF_ENDPOINT"):
        parsed = urllib.parse.urlsplit(os.environ.get(name, ""))
        if parsed.scheme == "https" and parsed.hostname:
            hosts.append(parsed.hostname.lower())
    return hosts


def check_url_allowed(url: str, what: str = "the download") -> None:
    """Raise :class:`UnsafeURLError` unless ``url`` is HTTPS to an allowed or configured host (or, opted in by
    ``$ANYGPT_ALLOW_LOCAL_HTTP=1``, HTTP(S) to the loopback interface)."""
    parsed = urllib.parse.urlsplit(url)
    host = (parsed.hostname or "").lower()
    if os.environ.get(ENV_ALLOW_LOCAL_HTTP) == "1" and host in _LOOPBACK_HOSTS and parsed.scheme in ("http", "https"):
        return
    if parsed.scheme != "https":
        raise UnsafeURLError(f"refusing {what} from {url}: only HTTPS downloads are allowed")
    allowed = [*ALLOWED_HOSTS, *_configured_hosts()]
    if not any(host == h or host.endswith("." + h) for h in allowed):
        raise UnsafeURLError(
            f"refusing {what} from {host or url}: not one of the model hosts ({', '.join(allowed)})"
        )


def part_path(dest: Path) -> Path:
    """Where the bytes of ``dest`` accumulate until verified."""
    return dest.with_name(dest.name + ".part")


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def human_size(n: int | None, unknown: str = "unknown size") -> str:
    """Bytes in decimal units for people: ``512 B``, ``1.4 GB``; ``unknown`` when the size is not known."""
    if n is None:
        return unknown
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _is_disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/1000`` -> (100, 1000); ``bytes */1000`` -> (None, 1000)."""
    if not value:
        return None, None
    m = re.match(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value.strip())
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _linked_sha(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().strip('"').lower()
    if value.startswith("w/"):
        return None
    return value if _SHA256_RE.match(value) else None


def _check_free_space(folder: Path, needed: int) -> None:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < needed:
        raise DiskFullError(
            f"not enough disk space in {folder}: need {human_size(needed)} more, only {human_size(free)} free"
        )


def _host(url: str) -> str:
    return urllib.request.urlparse(url).netloc or url


def download_file(
    urls: str | Sequence[str],
    dest: str | os.PathLike[str],
    *,
    size: int | None = None,
    sha256: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    retries: int = 3,
    timeout: float = 30.0,
    backoff_s: float = 1.0,
    chunk_size: int = 1 << 20,
) -> DownloadResult:
    """Download the file at the first URL that has it into ``dest``, resuming and verifying.

    ``urls`` are tried in order when one answers 404/401/403 (mirrors). A dropped connection or a 5xx answer is
    retried up to ``retries`` times, resuming from the ``.part``. Raises a :class:`DownloadError` subclass.
    """
    url_list = [urls] if isinstance(urls, str) else list(urls)
    if not url_list:
        raise ValueError("no URL given")
    for url in url_list:
        check_url_allowed(url)
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if _is_disk_full(exc):
            raise DiskFullError(f"disk full: cannot create {dest.parent}") from exc
        raise DownloadError(f"cannot create the folder {dest.parent}: {exc.strerror or exc}") from exc
    expected_sha = sha256.lower() if sha256 else None
    last_status: HTTPStatusError | None = None
    for i, url in enumerate(url_list):
        try:
            return _download_one(
                url, dest, size, expected_sha, progress, cancel, retries, timeout, backoff_s, chunk_size
            )
        except HTTPStatusError as exc:
            if exc.status in (401, 403, 404) and i < len(url_list) - 1:
                logger.info("%s at %s; trying the next source", exc.status, url)
                last_status = exc
                continue
            raise
    assert last_status is not None  # the loop only falls through after a skipped status error
    raise last_status


def _download_one(
    url: str,
    dest: Path,
    size: int | None,
    expected_sha: str | None,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
    retries: int,
    timeout: float,
    backoff_s: float,
    chunk_size: int,
) -> DownloadResult:
    part = part_path(dest)
    info = _Attempt(total=size)
    failures = 0
    while True:
        if cancel is not None and cancel.cancelled():
            raise Cancelled(f"download of {dest.name} cancelled")  # the .part is kept for resuming
        try:
            complete = _fetch_into_part(url, part, info, progress, cancel, timeout, chunk_size)
        except _Transient as exc:
            failures += 1
            if failures > retries:
                raise NetworkError(
                    f"could not download {dest.name} from {_host(url)}: {exc.reason} "
                    f"(gave up after {retries + 1} tries; run again to resume)"
                ) from exc.__cause__
            logger.warning("download of %s interrupted (%s); retry %d/%d", dest.name, exc.reason, failures, retries)
            time.sleep(backoff_s * failures)
            continue
        if complete:
            break
    return _verify_and_commit(part, dest, url, size, expected_sha, info)


class _Transient(Exception):
    """A failure worth retrying (with resume)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _fetch_into_part(
    url: str,
    part: Path,
    info: _Attempt,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
    timeout: float,
    chunk_size: int,
) -> bool:
    """One HTTP exchange appending to ``part``; True once ``part`` holds the whole file."""
    offset = part.stat().st_size if part.exists() else 0
    if info.total is not None and offset > info.total:
        logger.info("%s is longer than the expected size; starting over", part.name)
        part.unlink()
        offset = 0
    if info.total is not None and offset == info.total and offset > 0:
        return True  # already complete (e.g. interrupted just before the rename)

    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    recorder = _RedirectRecorder()
    opener = urllib.request.build_opener(recorder)
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            _, total = _parse_content_range(exc.headers.get("Content-Range"))
            if total is not None and total == offset:
                info.total = total
                return True
            logger.info("server refused to resume %s; starting over", part.name)
            part.unlink(missing_ok=True)
            raise _Transient("the server refused to resume") from exc
        if exc.code == 404:
            raise NotFoundError(f"file not found (HTTP 404): {url}", 404) from exc
        if exc.code in (401, 403):
            raise HTTPStatusError(
                f"access denied (HTTP {exc.code}) for {url}; the repository may be gated or removed", exc.code
            ) from exc
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Transient(f"server error HTTP {exc.code}") from exc
        raise HTTPStatusError(f"HTTP {exc.code} {exc.reason} for {url}", exc.code) from exc
    except urllib.error.URLError as exc:
        raise _Transient(_network_reason(exc.reason)) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(_network_reason(exc)) from exc

    with response:
        linked_sha = _linked_sha(recorder.linked.get("X-Linked-Etag"))
        if linked_sha and info.linked_sha256 is None:
            info.linked_sha256 = linked_sha
        linked_size = recorder.linked.get("X-Linked-Size")
        if info.total is None and linked_size and linked_size.isdigit():
            info.total = int(linked_size)

        status = response.status
        length = response.headers.get("Content-Length")
        if status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Transient(f"server resumed at byte {start}, expected {offset}")
            server_total = total
            mode = "ab"
        else:
            if offset:
                logger.info("server ignored the Range request for %s; restarting from zero", part.name)
                offset = 0
            server_total = int(length) if length and length.isdigit() else None
            mode = "wb"
        if info.total is None:
            info.total = server_total
        elif server_total is not None and server_total != info.total:
            raise IntegrityError(  # nothing of this answer was written; the .part stays for a later resume
                f"{part.name[:-5]}: the server announces {server_total} bytes but {info.total} were expected; "
                f"nothing was written from it (the partial file is kept)"
            )

        if info.total is not None:
            _check_free_space(part.parent, info.total - offset)

        done = offset
        if progress:
            progress(done, info.total)
        try:
            with part.open(mode) as out:
                while True:
                    if cancel is not None and cancel.cancelled():
                        raise Cancelled(f"download of {part.name[:-5]} cancelled")  # the .part is kept
                    try:
                        block = response.read(chunk_size)
                    except (OSError, http.client.HTTPException) as exc:
                        raise _Transient(_network_reason(exc)) from exc
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    if progress:
                        progress(done, info.total)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            if _is_disk_full(exc):
                raise DiskFullError(
                    f"disk full while writing {part.name[:-5]} in {part.parent}: free up space and run again "
                    f"to resume"
                ) from exc
            raise DownloadError(f"could not write {part}: {exc.strerror or exc}") from exc
    if info.total is not None and done < info.total:
        raise _Transient(f"connection closed after {done} of {info.total} bytes")
    return True


def _network_reason(reason: object) -> str:
    if isinstance(reason, socket.gaierror):
        return "host name could not be resolved (no network or DNS failure)"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (no network, or the server is down)"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "the connection timed out"
    if isinstance(reason, http.client.IncompleteRead):
        return "the connection dropped mid-file"
    if isinstance(reason, ConnectionError):
        return "the connection dropped"
    return str(reason) or reason.__class__.__name__


def _verify_and_commit(
    part: Path, dest: Path, url: str, size: int | None, expected_sha: str | None, info: _Attempt
) -> DownloadResult:
    actual_size = part.stat().st_size
    want_size = size if size is not None else info.total
    if want_size is not None and actual_size != want_size:
        part.unlink(missing_ok=True)
        raise IntegrityError(
            f"{dest.name}: downloaded {actual_size} bytes but expected {want_size}; the partial file was deleted"
        )
    actual_sha = sha256_file(part)
    want_sha = expected_sha or info.linked_sha256
    if want_sha is not None and actual_sha != want_sha:
        part.unlink(missing_ok=True)
        raise IntegrityError(
            f"{dest.name}: checksum mismatch (sha256 {actual_sha[:12]}…, expected {want_sha[:12]}…); "
            f"the download was deleted, run again to retry"
        )
    os.replace(part, dest)
    logger.debug("downloaded %s (%s)", dest, human_size(actual_size))
    return DownloadResult(path=dest, size=actual_size, sha256=actual_sha, url=url)
