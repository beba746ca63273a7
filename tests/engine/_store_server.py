"""A small HTTP file server on 127.0.0.1 for the model-store tests, with knobs for the failures a download meets.

Shared by tests/engine/test_downloader.py, test_model_store.py and test_store_cli.py (imported by file name, so it
needs no conftest or package). Nothing here touches the real network.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


@dataclass
class Knobs:
    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> content
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> close the connection after N body bytes
    drops_left: dict[str, int] = field(default_factory=dict)  # path -> how many more times to drop (default 1)
    ignore_range: bool = False
    wrong_bytes: set[str] = field(default_factory=set)  # paths served with flipped content
    status: dict[str, int] = field(default_factory=dict)  # path -> forced error status
    redirect_linked: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (sha256, size) via 302
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header) as received
    length_lie: dict[str, int] = field(default_factory=dict)  # path -> bytes added to the announced length
    stall_after: dict[str, int] = field(default_factory=dict)  # path -> stop sending after N body bytes, keep open
    trickle_s: dict[str, float] = field(default_factory=dict)  # path -> pause between 1 KiB body pieces
    release: threading.Event = field(default_factory=threading.Event)  # set at shutdown: stalled answers end


class _Handler(BaseHTTPRequestHandler):
    knobs: Knobs  # set on the per-server subclass

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # http.server naming
        k = self.knobs
        path = self.path
        k.requests.append((path, self.headers.get("Range")))
        if path in k.status:
            self.send_error(k.status[path])
            return
        if path in k.redirect_linked:
            sha, size = k.redirect_linked[path]
            self.send_response(302)
            self.send_header("Location", "/_blob" + path)
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(size))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        blob_path = path[len("/_blob") :] if path.startswith("/_blob/") else path
        if blob_path not in k.files:
            self.send_error(404)
            return
        data = k.files[blob_path]
        if blob_path in k.wrong_bytes:
            data = bytes(b ^ 0xFF for b in data)
        start = 0
        m = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if m and not k.ignore_range:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            lie = k.length_lie.get(blob_path, 0)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1 + lie}/{len(data) + lie}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body) + k.length_lie.get(blob_path, 0)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        limit = k.drop_after.get(blob_path)
        if limit is not None and k.drops_left.get(blob_path, 1) > 0:
            k.drops_left[blob_path] = k.drops_left.get(blob_path, 1) - 1
            cut = max(0, limit - start)
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        stall = k.stall_after.get(blob_path)
        if stall is not None:
            self.wfile.write(body[: max(0, stall - start)])
            self.wfile.flush()
            k.release.wait(timeout=60)  # the client must give up on its own read timeout long before
            return
        pause = k.trickle_s.get(blob_path)
        if pause:
            for i in range(0, len(body), 1024):
                self.wfile.write(body[i : i + 1024])
                self.wfile.flush()
                k.release.wait(timeout=pause)
            return
        self.wfile.write(body)


class FileServer:
    """``with FileServer() as srv: srv.knobs.files['/a'] = b'...'; srv.url('/a')``."""

    def __init__(self) -> None:
        self.knobs = Knobs()
        handler = type("Handler", (_Handler,), {"knobs": self.knobs})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, data: bytes) -> str:
        self.knobs.files[path] = data
        return self.url(path)

    def paths_requested(self) -> list[str]:
        return [p for p, _ in self.knobs.requests]

    def __enter__(self) -> "FileServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.knobs.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


def free_port() -> int:
    """A local port with nothing listening on it (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload(n: int, seed: int = 0) -> bytes:
    """Deterministic non-repeating-looking bytes."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


def iter_ranges(server: FileServer, path: str) -> Iterator[str | None]:
    return (r for p, r in server.knobs.requests if p == path)
