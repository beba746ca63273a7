"""The resumable downloader against a real HTTP server on 127.0.0.1 (no real network)."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _store_server import FileServer, free_port, payload, sha256

from anygpt_desktop.cancel import Cancelled
from anygpt_desktop.engine import downloader
from anygpt_desktop.engine.downloader import (
    DiskFullError,
    IntegrityError,
    NetworkError,
    NotFoundError,
    download_file,
    part_path,
)

FAST = {"backoff_s": 0.0, "timeout": 5.0, "chunk_size": 4096}


@pytest.fixture
def server():
    with FileServer() as srv:
        yield srv


def test_plain_download_verifies_and_reports_progress(server: FileServer, tmp_path: Path) -> None:
    data = payload(50_000)
    url = server.add("/f.bin", data)
    seen: list[tuple[int, int | None]] = []
    result = download_file(url, tmp_path / "sub" / "f.bin", sha256=sha256(data), progress=lambda d, t: seen.append((d, t)), **FAST)
    assert (tmp_path / "sub" / "f.bin").read_bytes() == data
    assert not part_path(tmp_path / "sub" / "f.bin").exists()
    assert result.size == len(data) and result.sha256 == sha256(data)
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_dropped_connection_is_retried_with_range_and_ends_byte_exact(server: FileServer, tmp_path: Path) -> None:
    data = payload(100_000, seed=1)
    url = server.add("/big.bin", data)
    server.knobs.drop_after["/big.bin"] = 30_000
    dest = tmp_path / "big.bin"
    download_file(url, dest, sha256=sha256(data), **FAST)
    assert dest.read_bytes() == data
    ranges = [r for p, r in server.knobs.requests if p == "/big.bin"]
    assert ranges[0] is None
    assert len(ranges) == 2 and ranges[1] is not None and ranges[1].startswith("bytes=")
    resumed_from = int(ranges[1][len("bytes=") : -1])
    assert 0 < resumed_from <= 30_000


def test_existing_part_is_resumed_in_a_later_run(server: FileServer, tmp_path: Path) -> None:
    data = payload(40_000, seed=2)
    url = server.add("/r.bin", data)
    dest = tmp_path / "r.bin"
    part_path(dest).write_bytes(data[:12_345])
    download_file(url, dest, size=len(data), sha256=sha256(data), **FAST)
    assert dest.read_bytes() == data
    assert server.knobs.requests == [("/r.bin", "bytes=12345-")]


def test_server_ignoring_range_restarts_from_zero(server: FileServer, tmp_path: Path) -> None:
    data = payload(30_000, seed=3)
    url = server.add("/n.bin", data)
    server.knobs.ignore_range = True
    dest = tmp_path / "n.bin"
    part_path(dest).write_bytes(b"\x00" * 10_000)  # stale bytes that must not end up in the file
    download_file(url, dest, sha256=sha256(data), **FAST)
    assert dest.read_bytes() == data
    assert server.knobs.requests[0][1] == "bytes=10000-"


def test_wrong_checksum_deletes_part_and_leaves_no_final_file(server: FileServer, tmp_path: Path) -> None:
    data = payload(20_000, seed=4)
    url = server.add("/w.bin", data)
    server.knobs.wrong_bytes.add("/w.bin")
    dest = tmp_path / "w.bin"
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        download_file(url, dest, sha256=sha256(data), **FAST)
    assert not dest.exists()
    assert not part_path(dest).exists()


def test_size_mismatch_is_an_integrity_error(server: FileServer, tmp_path: Path) -> None:
    url = server.add("/s.bin", payload(1000))
    dest = tmp_path / "s.bin"
    with pytest.raises(IntegrityError):
        download_file(url, dest, size=999, **FAST)
    assert not dest.exists() and not part_path(dest).exists()


def test_missing_file_is_a_clear_404(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="404") as info:
        download_file(server.url("/nope.bin"), tmp_path / "nope.bin", **FAST)
    assert info.value.status == 404
    assert not (tmp_path / "nope.bin").exists()


def test_mirror_is_used_when_primary_is_missing(server: FileServer, tmp_path: Path) -> None:
    data = payload(5000, seed=5)
    mirror = server.add("/mirror/m.bin", data)
    download_file([server.url("/primary/m.bin"), mirror], tmp_path / "m.bin", **FAST)
    assert (tmp_path / "m.bin").read_bytes() == data


def test_no_network_is_a_clear_network_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/x.bin"
    with pytest.raises(NetworkError, match="connection refused"):
        download_file(url, tmp_path / "x.bin", retries=1, **FAST)
    assert not (tmp_path / "x.bin").exists()


def test_unresolvable_host_is_a_network_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://no-such-host.invalid")  # a configured mirror that does not resolve
    with pytest.raises(NetworkError):
        download_file("https://no-such-host.invalid/x.bin", tmp_path / "x.bin", retries=0, **FAST)


def test_connection_that_keeps_dropping_gives_up_but_keeps_the_part(server: FileServer, tmp_path: Path) -> None:
    data = payload(50_000, seed=6)
    url = server.add("/d.bin", data)
    server.knobs.drop_after["/d.bin"] = 10_000
    server.knobs.drops_left["/d.bin"] = 100
    dest = tmp_path / "d.bin"
    with pytest.raises(NetworkError, match="resume"):
        download_file(url, dest, retries=2, **FAST)
    assert not dest.exists()
    assert part_path(dest).stat().st_size == 10_000
    server.knobs.drops_left["/d.bin"] = 0
    download_file(url, dest, sha256=sha256(data), **FAST)
    assert dest.read_bytes() == data


class _CancelAfter:
    def __init__(self, polls: int) -> None:
        self.polls = polls

    def cancelled(self) -> bool:
        self.polls -= 1
        return self.polls < 0

    def progress(self, fraction: float, message: str = "") -> None:
        pass


def test_cancel_stops_and_keeps_part_for_resume(server: FileServer, tmp_path: Path) -> None:
    data = payload(80_000, seed=7)
    url = server.add("/c.bin", data)
    dest = tmp_path / "c.bin"
    with pytest.raises(Cancelled):
        download_file(url, dest, cancel=_CancelAfter(4), **FAST)
    assert not dest.exists()
    kept = part_path(dest).stat().st_size
    assert 0 < kept < len(data)
    download_file(url, dest, sha256=sha256(data), **FAST)
    assert dest.read_bytes() == data
    assert server.knobs.requests[-1] == ("/c.bin", f"bytes={kept}-")


def test_hub_linked_etag_is_enforced(server: FileServer, tmp_path: Path) -> None:
    data = payload(3000, seed=8)
    server.add("/hub/x.bin", data)
    server.knobs.redirect_linked["/hub/x.bin"] = ("0" * 64, len(data))  # the hub says another hash
    with pytest.raises(IntegrityError, match="checksum"):
        download_file(server.url("/hub/x.bin"), tmp_path / "x.bin", **FAST)
    server.knobs.redirect_linked["/hub/x.bin"] = (sha256(data), len(data))
    result = download_file(server.url("/hub/x.bin"), tmp_path / "x.bin", **FAST)
    assert result.sha256 == sha256(data)


def test_disk_full_while_writing_is_a_clear_error(server: FileServer, tmp_path: Path, monkeypatch) -> None:
    url = server.add("/full.bin", payload(20_000))
    real_open = Path.open

    class _FullFile:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def write(self, b):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    def fake_open(self, mode="r", *a, **kw):
        f = real_open(self, mode, *a, **kw)
        return _FullFile(f) if self.name.endswith(".part") and "b" in mode and ("a" in mode or "w" in mode) else f

    monkeypatch.setattr(Path, "open", fake_open)
    with pytest.raises(DiskFullError, match="disk full"):
        download_file(url, tmp_path / "full.bin", **FAST)
    assert not (tmp_path / "full.bin").exists()


def test_not_enough_free_space_is_reported_before_writing(server: FileServer, tmp_path: Path, monkeypatch) -> None:
    url = server.add("/huge.bin", payload(20_000))

    class _Usage:
        free = 100

    monkeypatch.setattr(downloader.shutil, "disk_usage", lambda p: _Usage())
    with pytest.raises(DiskFullError, match="not enough disk space"):
        download_file(url, tmp_path / "huge.bin", **FAST)
    assert not (tmp_path / "huge.bin").exists()


def test_resume_through_a_hub_redirect_keeps_the_range(server: FileServer, tmp_path: Path) -> None:
    data = payload(9000, seed=9)
    server.add("/hub/y.bin", data)
    server.knobs.redirect_linked["/hub/y.bin"] = (sha256(data), len(data))
    dest = tmp_path / "y.bin"
    part_path(dest).write_bytes(data[:4000])
    download_file(server.url("/hub/y.bin"), dest, **FAST)
    assert dest.read_bytes() == data
    assert server.knobs.requests == [("/hub/y.bin", "bytes=4000-"), ("/_blob/hub/y.bin", "bytes=4000-")]


def test_task_state_cancel_is_honoured(server: FileServer, tmp_path: Path) -> None:
    from anygpt_desktop.cancel import Cancelled, TaskState

    url = server.add("/t.bin", payload(1000))
    state = TaskState()
    state.cancel()
    with pytest.raises(Cancelled):
        download_file(url, tmp_path / "t.bin", cancel=state, **FAST)
    assert not (tmp_path / "t.bin").exists()
    assert server.knobs.requests == []


# -- faults: each ends with a clear message, a resumable .part, and never a file at the final name -----------------


def test_a_server_that_lies_about_the_length_is_refused_and_the_part_is_kept(server: FileServer, tmp_path: Path) -> None:
    data = payload(40_000, seed=11)
    url = server.add("/lie.bin", data)
    dest = tmp_path / "lie.bin"
    server.knobs.drop_after["/lie.bin"] = 15_000  # first a honest, interrupted answer leaves a .part
    server.knobs.drops_left["/lie.bin"] = 1
    server.knobs.length_lie["/lie.bin"] = 0
    with pytest.raises(NetworkError):
        download_file(url, dest, size=len(data), sha256=sha256(data), retries=0, **FAST)
    assert part_path(dest).stat().st_size == 15_000
    server.knobs.length_lie["/lie.bin"] = 5000  # now the server announces more bytes than the file has
    with pytest.raises(IntegrityError, match="announces 45000 bytes but 40000 were expected"):
        download_file(url, dest, size=len(data), sha256=sha256(data), **FAST)
    assert not dest.exists() and part_path(dest).stat().st_size == 15_000  # kept, untouched
    server.knobs.length_lie["/lie.bin"] = 0
    download_file(url, dest, size=len(data), sha256=sha256(data), **FAST)
    assert dest.read_bytes() == data


def test_a_longer_announced_length_without_a_known_size_ends_verified(server: FileServer, tmp_path: Path) -> None:
    """Claims 23000 bytes, sends 20000 and closes: the downloader resumes at 20000, the server's 416 says the file
    is complete, and only the checksum lets it through."""
    data = payload(20_000, seed=12)
    url = server.add("/lie2.bin", data)
    server.knobs.length_lie["/lie2.bin"] = 3000
    dest = tmp_path / "lie2.bin"
    download_file(url, dest, sha256=sha256(data), **FAST)
    assert dest.read_bytes() == data
    assert [r for _, r in server.knobs.requests] == [None, "bytes=20000-"]


def test_a_shorter_announced_length_fails_the_checksum_and_uses_nothing(server: FileServer, tmp_path: Path) -> None:
    data = payload(20_000, seed=13)
    url = server.add("/short.bin", data)
    server.knobs.length_lie["/short.bin"] = -2000
    dest = tmp_path / "short.bin"
    with pytest.raises(IntegrityError, match="checksum"):
        download_file(url, dest, sha256=sha256(data), **FAST)
    assert not dest.exists() and not part_path(dest).exists()


def test_wrong_bytes_of_the_right_length_are_never_used(server: FileServer, tmp_path: Path) -> None:
    data = payload(30_000, seed=14)
    url = server.add("/wrong.bin", data)
    server.knobs.wrong_bytes.add("/wrong.bin")
    dest = tmp_path / "wrong.bin"
    with pytest.raises(IntegrityError, match="checksum mismatch.*run again"):
        download_file(url, dest, size=len(data), sha256=sha256(data), **FAST)
    assert not dest.exists() and not part_path(dest).exists()
    server.knobs.wrong_bytes.clear()
    download_file(url, dest, size=len(data), sha256=sha256(data), **FAST)
    assert dest.read_bytes() == data


def test_a_stalled_server_times_out_and_the_part_resumes(server: FileServer, tmp_path: Path) -> None:
    data = payload(60_000, seed=15)
    url = server.add("/stall.bin", data)
    server.knobs.stall_after["/stall.bin"] = 20_000
    dest = tmp_path / "stall.bin"
    with pytest.raises(NetworkError, match="timed out.*run again to resume"):
        download_file(url, dest, sha256=sha256(data), retries=1, backoff_s=0.0, timeout=0.5, chunk_size=4096)
    kept = part_path(dest).read_bytes()
    assert not dest.exists() and 0 < len(kept) <= 20_000 and data.startswith(kept)
    assert [r for _, r in server.knobs.requests] == [None, f"bytes={len(kept)}-"]  # the retry resumed
    del server.knobs.stall_after["/stall.bin"]
    download_file(url, dest, sha256=sha256(data), **FAST)
    assert dest.read_bytes() == data


def test_a_slow_but_steady_server_completes(server: FileServer, tmp_path: Path) -> None:
    data = payload(8 * 1024, seed=16)
    url = server.add("/slow.bin", data)
    server.knobs.trickle_s["/slow.bin"] = 0.02  # well under the read timeout
    dest = tmp_path / "slow.bin"
    download_file(url, dest, sha256=sha256(data), **FAST)
    assert dest.read_bytes() == data


def test_disk_full_mid_file_keeps_the_part_and_resumes(server: FileServer, tmp_path: Path, monkeypatch) -> None:
    data = payload(64 * 1024, seed=17)
    url = server.add("/mid.bin", data)
    real_open = Path.open
    room = {"bytes": 24 * 1024}

    class _FillingFile:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def write(self, b):
            if room["bytes"] < len(b):
                raise OSError(errno.ENOSPC, "No space left on device")
            room["bytes"] -= len(b)
            return self.f.write(b)

        def __getattr__(self, name):
            return getattr(self.f, name)

    def fake_open(self, mode="r", *a, **kw):
        f = real_open(self, mode, *a, **kw)
        return _FillingFile(f) if self.name.endswith(".part") and ("a" in mode or "w" in mode) else f

    monkeypatch.setattr(Path, "open", fake_open)
    dest = tmp_path / "mid.bin"
    with pytest.raises(DiskFullError, match="disk full while writing mid.bin.*resume"):
        download_file(url, dest, sha256=sha256(data), **FAST)
    assert not dest.exists() and part_path(dest).read_bytes() == data[: 24 * 1024]
    room["bytes"] = 1 << 30  # space freed
    download_file(url, dest, sha256=sha256(data), **FAST)
    assert dest.read_bytes() == data
    assert server.knobs.requests[-1] == ("/mid.bin", f"bytes={24 * 1024}-")


# -- only HTTPS to the model hosts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://huggingface.co/x/resolve/main/a.bin", "only HTTPS"),
        ("https://evil.example/a.bin", "not one of the model hosts"),
        ("https://huggingface.co.evil.example/a.bin", "not one of the model hosts"),
        ("ftp://huggingface.co/a.bin", "only HTTPS"),
        ("file:///etc/passwd", "only HTTPS"),
    ],
)
def test_only_https_to_the_model_hosts(url: str, why: str, tmp_path: Path) -> None:
    with pytest.raises(downloader.UnsafeURLError, match=why):
        download_file(url, tmp_path / "a.bin", **FAST)
    assert not (tmp_path / "a.bin").exists() and not part_path(tmp_path / "a.bin").exists()


def test_allowed_hosts_and_a_configured_https_mirror(monkeypatch) -> None:
    downloader.check_url_allowed("https://huggingface.co/fnlp/AnyGPT-chat/resolve/main/config.json")
    downloader.check_url_allowed("https://cdn-lfs-us-1.hf.co/repos/ab/cd")  # the hub's file storage
    with pytest.raises(downloader.UnsafeURLError):
        downloader.check_url_allowed("https://hf-mirror.com/x")
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.com")
    downloader.check_url_allowed("https://hf-mirror.com/x")
    monkeypatch.setenv("HF_ENDPOINT", "http://hf-mirror.com")  # a plain-HTTP endpoint adds nothing
    with pytest.raises(downloader.UnsafeURLError):
        downloader.check_url_allowed("http://hf-mirror.com/x")


def test_local_http_needs_the_tests_opt_in(server: FileServer, tmp_path: Path, monkeypatch) -> None:
    url = server.add("/opt.bin", payload(100))
    monkeypatch.delenv("ANYGPT_ALLOW_LOCAL_HTTP")
    with pytest.raises(downloader.UnsafeURLError, match="only HTTPS"):
        download_file(url, tmp_path / "opt.bin", **FAST)
    assert server.knobs.requests == []


def test_a_redirect_to_another_host_is_refused(tmp_path: Path) -> None:
    """The hub answering with a redirect off the allowed hosts: refused before any byte is fetched from it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://evil.example/x.bin")
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(downloader.UnsafeURLError, match="refusing a redirect"):
            download_file(f"http://127.0.0.1:{httpd.server_address[1]}/x.bin", tmp_path / "x.bin", **FAST)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert not (tmp_path / "x.bin").exists()
