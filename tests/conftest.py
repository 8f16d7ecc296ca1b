"""Fixtures shared by every test: free ports, real server processes, stock Redis peers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port free on loopback right now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class ServerProcess:
    """A server started by a test, killed by PID when the test ends."""

    def __init__(self, argv: list[str], port: int, cwd: Path, log: Path) -> None:
        self.argv = argv
        self.port = port
        self.cwd = cwd
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, stdout=logf, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc)
        return self

    def client(self, **kw: object) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10, **kw)  # type: ignore[arg-type]

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def our_server_argv(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "server", "--port", str(port), "--bind", "127.0.0.1", *extra]


def stock_server_argv(port: int, *extra: str) -> list[str]:
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", *extra]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[object]:
    """`start_server(*directives, stock=False, dir=None)` -> a running ServerProcess."""
    started: list[ServerProcess] = []

    def start(*extra: str, stock: bool = False, cwd: Path | None = None, port: int | None = None) -> ServerProcess:
        if stock and shutil.which("redis-server") is None:
            pytest.skip("stock redis-server is not installed (apt-get install redis-server)")
        port = port or free_port()
        d = cwd or tmp_path / f"{'stock' if stock else 'ours'}-{port}"
        d.mkdir(parents=True, exist_ok=True)
        argv = (stock_server_argv if stock else our_server_argv)(port, "--dir", str(d), *extra)
        sp = ServerProcess(argv, port, d, d / "server.log")
        started.append(sp)
        return sp.start()

    yield start
    for sp in started:
        sp.stop()


@pytest.fixture
def server(start_server: object) -> ServerProcess:
    """A fresh hasentinel-server with persistence off."""
    return start_server("--save", "")  # type: ignore[operator,no-any-return]


@pytest.fixture
def stock(start_server: object) -> ServerProcess:
    """A fresh stock redis-server with persistence off."""
    return start_server("--save", "", "--appendonly", "no", stock=True)  # type: ignore[operator,no-any-return]


@pytest.fixture
def r(server: ServerProcess) -> Iterator[redis.Redis]:
    c = server.client()
    yield c
    c.close()
