"""Test servers: ``anygpt-desktop serve`` in a subprocess on 127.0.0.1 (the tiny kit, the scripted assistant)."""

from __future__ import annotations

import os
import secrets
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 600.0  # importing torch and loading the tiny kit on a busy 2-core machine


class ServerProcess:
    """One ``serve`` process; ``start`` waits for its "serving on URL" line (an event, not a sleep)."""

    def __init__(self, models: Path, token_file: Path, log: Path, *extra: str) -> None:
        self.models, self.token_file, self.log, self.extra = models, token_file, log, extra
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.port = 0

    def start(self, port: int = 0) -> str:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests" / "serve")]),
                   OMP_NUM_THREADS="1")
        cmd = [sys.executable, "-m", "anygpt_desktop", "serve", "--models", str(self.models), "--host", "127.0.0.1",
               "--port", str(port), "--token-file", str(self.token_file), "--assistant-factory", "serve_doubles:build",
               *self.extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(self.log, "ab"), env=env, cwd=ROOT)
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while time.monotonic() < deadline and b"serving on" not in line:
            if sel.select(timeout=5.0):
                line = self.proc.stdout.readline()
                if not line and self.proc.poll() is not None:
                    break
        sel.close()
        if b"serving on" not in line:
            self.stop()
            raise RuntimeError(f"the server did not start; its log:\n{self.log.read_text()[-4000:]}")
        self.url = line.decode().split("serving on", 1)[1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        return self.url

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self.proc = None


@pytest.fixture(scope="session")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("token") / "token"
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def make_server(tiny_models: Path, token_file: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    made: list[ServerProcess] = []

    def make(*extra: str) -> ServerProcess:
        server = ServerProcess(tiny_models, token_file, tmp_path_factory.mktemp("log") / "serve.log", *extra)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture(scope="module")
def server(make_server) -> ServerProcess:  # type: ignore[no-untyped-def]
    s = make_server("--open-timeout", "3", "--max-message-mb", "1")
    s.start()
    return s
