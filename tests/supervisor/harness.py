"""A supervisor process for tests: host directory, JSON log records, sd_notify capture, cleanup.

Everything it starts is stopped by PID: the supervisor, then any child it spawned that is still
alive (children are recognised by the test directory on their command line, so a recycled PID
is never signalled). Every wait has a bound.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

FAKECHILD = Path(__file__).resolve().parent / "fakechild.py"


def fake_command(role: str) -> list[str]:
    return [sys.executable, str(FAKECHILD), role]


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(x) for x in items) + "]"


def write_host(
    d: Path,
    *,
    server_port: int,
    sentinel_port: int,
    server_conf: str = 'bind 127.0.0.1\nsave ""\n',
    sentinel_conf: str | None = None,
    quorum: int = 1,
    down_after: int = 30000,
    peers: list[str] | None = None,
    server_command: list[str] | None = None,
    sentinel_command: list[str] | None = None,
    restart: Mapping[str, Any] | None = None,
    health: Mapping[str, Any] | None = None,
    server_stop: float = 20,
    sentinel_stop: float = 10,
) -> Path:
    """A host directory: host.toml, server.conf, sentinel.conf, data/, state/. Returns host.toml."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "data").mkdir(exist_ok=True)
    (d / "state").mkdir(exist_ok=True)
    (d / "server.conf").write_text(server_conf)
    if sentinel_conf is None:
        sentinel_conf = (
            f"bind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {server_port} {quorum}\n"
            f"sentinel down-after-milliseconds mymaster {down_after}\n"
            "sentinel failover-timeout mymaster 10000\n"
        )
    (d / "sentinel.conf").write_text(sentinel_conf)
    r = {"initial_delay": 0.2, "max_delay": 2, "stable_after": 30, "crash_loop_limit": 5, "hold_retry": 0.2}
    r.update(restart or {})
    h = {"interval": 0.2, "start_timeout": 30, "hang_timeout": 10, "probe_timeout": 1}
    h.update(health or {})
    lines = [
        'master_name = "mymaster"',
        'address = "127.0.0.1"',
        "[server]",
        'config = "server.conf"',
        'data_dir = "data"',
        f"port = {server_port}",
        f"stop_timeout = {server_stop}",
    ]
    if server_command:
        lines.append(f"command = {toml_list(server_command)}")
    lines += [
        "[sentinel]",
        'config = "sentinel.conf"',
        'state_dir = "state"',
        f"port = {sentinel_port}",
        f"stop_timeout = {sentinel_stop}",
        f"peers = {toml_list(peers or [])}",
    ]
    if sentinel_command:
        lines.append(f"command = {toml_list(sentinel_command)}")
    lines.append("[restart]")
    lines += [f"{k} = {json.dumps(v)}" for k, v in r.items()]
    lines.append("[health]")
    lines += [f"{k} = {json.dumps(v)}" for k, v in h.items()]
    lines += ["[log]", 'level = "debug"']
    p = d / "host.toml"
    p.write_text("\n".join(lines) + "\n")
    return p


class NotifyCapture:
    """An abstract AF_UNIX datagram socket collecting sd_notify messages in a thread."""

    def __init__(self) -> None:
        self.name = f"hasentinel-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def env_value(self) -> str:
        return "@" + self.name

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def assignments(self) -> list[tuple[float, str]]:
        """Every KEY=VALUE line received, with its arrival time."""
        return [(t, line) for t, m in list(self.messages) for line in m.split("\n")]

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=5)
        self.sock.close()


class SupervisorProcess:
    """`python -m sentinel.supervisor <host.toml>` with its (and its children's) output in one file."""

    def __init__(self, host_toml: Path, env: Mapping[str, str] | None = None) -> None:
        self.host_toml = host_toml
        self.dir = host_toml.parent
        self.log_path = self.dir / "supervisor.log"
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SupervisorProcess:
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sentinel.supervisor", str(self.host_toml)],
                cwd=self.dir,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def records(self, service: str | None = "supervisor") -> list[dict[str, Any]]:
        """JSON log records in file order (of one service, or of all with service=None)."""
        out = []
        for line in self.log().splitlines():
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if service is None or rec.get("service") == service:
                out.append(rec)
        return out

    def events(self, name: str, **match: Any) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records()
            if r.get("event") == name and all(r.get(k) == v for k, v in match.items())
        ]

    def wait_for(self, pred: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = pred()
            if v:
                return v
            if self.proc is not None and self.proc.poll() is not None:
                v = pred()
                if v:
                    return v
                raise AssertionError(
                    f"supervisor exited ({self.proc.returncode}) waiting for {what}\n{self.log()[-6000:]}"
                )
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self.log()[-6000:]}")

    def wait_event(
        self, name: str, count: int = 1, timeout: float = 30.0, **match: Any
    ) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            ev = self.events(name, **match)
            return ev if len(ev) >= count else None

        found: list[dict[str, Any]] = self.wait_for(enough, timeout, f"{count} x {name} {match}")
        return found

    def child_pids(self, child: str) -> list[int]:
        return [r["pid"] for r in self.events("spawned", child=child)]

    def current_pid(self, child: str) -> int:
        pids = self.child_pids(child)
        assert pids, f"no {child} spawned"
        return pids[-1]

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int | None:
        """SIGTERM, bounded wait, then SIGKILL; then kill any child still alive."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            rc = self.proc.returncode
        for pid in self.child_pids("server") + self.child_pids("sentinel"):
            if is_ours(pid, self.dir):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return rc


def is_ours(pid: int, marker: Path) -> bool:
    """Whether `pid` is alive (not a zombie) and has `marker` on its command line."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state != "Z" and str(marker).encode() in cmdline


def child_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    out = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            out[k.decode(errors="replace")] = v.decode(errors="replace")
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Complete JSON lines of a file another process appends to (a partial last line is skipped)."""
    try:
        text = path.read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def started(sups: list[SupervisorProcess]) -> Iterator[Callable[..., SupervisorProcess]]:
    """Fixture body: `start(host_toml, env=None)`; every supervisor stopped at teardown."""

    def start(host_toml: Path, env: Mapping[str, str] | None = None) -> SupervisorProcess:
        s = SupervisorProcess(host_toml, env)
        sups.append(s)
        return s.start()

    yield start
    for s in sups:
        s.stop()
