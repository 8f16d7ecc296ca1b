"""Real processes: our sentinels (`python -m sentinel`) fail over our server (`python -m server`).

Three of ours discover each other and the replicas, the master is killed with SIGKILL, exactly
one failover happens and every sentinel and redis-py agree on the new master. A second test puts
one stock `redis-sentinel` in the quorum with two of ours (hello and vote compatibility).
`SentinelProcess` is reused by tests/sentinel/test_api.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import redis.sentinel

from tests.conftest import ServerProcess, free_port, wait_for_port

Start = Callable[..., ServerProcess]

STOCK_SENTINEL = "/usr/bin/redis-sentinel"
FAST = ("--save", "", "--repl-diskless-sync-delay", "0", "--protected-mode", "no")


def wait_until(pred: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll `pred` every 20 ms until truthy (connection/response errors count as falsy)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (redis.ConnectionError, redis.ResponseError, redis.TimeoutError):
            last = None
        if last:
            return last
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what} (last value {last!r})")


class SentinelProcess:
    """One sentinel process (ours or stock) with its own directory and config, killed by PID."""

    def __init__(self, directory: Path, port: int, conf: str, stock: bool = False) -> None:
        self.dir = directory
        self.port = port
        self.stock = stock
        self.conf_path = directory / "sentinel.conf"
        self.log_path = directory / "sentinel.log"
        directory.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(conf)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def argv(self) -> list[str]:
        """Same contract for both: `<binary> <sentinel.conf>`."""
        if self.stock:
            return [STOCK_SENTINEL, str(self.conf_path)]
        return [sys.executable, "-m", "sentinel", str(self.conf_path)]

    @property
    def state_path(self) -> Path:
        """Where our sentinel keeps its state (config dir, `<conf name>.state.json`)."""
        return self.dir / "sentinel.conf.state.json"

    def start(self) -> SentinelProcess:
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(self.argv, cwd=self.dir, stdout=logf, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc)
        return self

    def client(self, **kw: Any) -> redis.Redis:
        kw.setdefault("socket_timeout", 5)
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True, **kw)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> int | None:
        """SIGTERM, bounded wait, then SIGKILL; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()
        return self.proc.returncode

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def events(self, name: str) -> list[dict[str, Any]]:
        """Our JSON log records for sentinel event `name` (e.g. `+switch-master`)."""
        out = []
        for line in self.log().splitlines():
            if f'"{name}"' not in line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("event") == name:
                out.append(rec)
        return out

    def stock_events(self, name: str) -> list[str]:
        """Stock log lines for event `name`."""
        return [line for line in self.log().splitlines() if f" {name} " in line]


def sentinel_conf(
    port: int,
    directory: Path,
    master_port: int,
    quorum: int = 2,
    down_after: int = 1000,
    failover_timeout: int = 10000,
    extra: str = "",
) -> str:
    """A sentinel.conf monitoring `mymaster` at 127.0.0.1:master_port (valid for ours and stock)."""
    return (
        f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master_port} {quorum}\n"
        f"sentinel down-after-milliseconds mymaster {down_after}\n"
        f"sentinel failover-timeout mymaster {failover_timeout}\n"
        "sentinel parallel-syncs mymaster 1\n" + extra
    )


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[Callable[..., SentinelProcess]]:
    """`start(master_port, stock=False, **conf)` -> a running sentinel; all stopped at the end."""
    started: list[SentinelProcess] = []

    def start(master_port: int, stock: bool = False, **kw: Any) -> SentinelProcess:
        if stock and not os.access(STOCK_SENTINEL, os.X_OK):
            pytest.skip("stock redis-sentinel is not installed (apt-get install redis-sentinel)")
        port = free_port()
        d = tmp_path / f"{'stock' if stock else 'ours'}-sentinel-{port}"
        sp = SentinelProcess(d, port, sentinel_conf(port, d, master_port, **kw), stock=stock)
        started.append(sp)
        return sp.start()

    yield start
    for sp in started:
        sp.stop()


def smaster(c: redis.Redis, name: str = "mymaster") -> dict[str, Any]:
    """SENTINEL MASTER as redis-py parses it (typed for mypy)."""
    return cast(dict[str, Any], c.sentinel_master(name))


def link_up(r: redis.Redis) -> bool:
    info = r.info("replication")
    return info.get("role") == "slave" and info.get("master_link_status") == "up"


def master_and_replicas(start_server: Start) -> tuple[ServerProcess, ServerProcess, ServerProcess]:
    m = start_server(*FAST)
    a = start_server(*FAST, "--replicaof", "127.0.0.1", str(m.port))
    b = start_server(*FAST, "--replicaof", "127.0.0.1", str(m.port))
    ac, bc = a.client(), b.client()
    wait_until(lambda: link_up(ac) and link_up(bc), what="replicas up")
    return m, a, b


def discovered(s: SentinelProcess, peers: int, replicas: int) -> bool:
    m = smaster(s.client())
    return bool(m["num-other-sentinels"] == peers and m["num-slaves"] == replicas)


def addr_of(s: SentinelProcess) -> tuple[str, int] | None:
    r = s.client(protocol=2).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
    return (r[0], int(r[1])) if r else None


def failover_and_check(
    m: ServerProcess, a: ServerProcess, b: ServerProcess, group: list[SentinelProcess]
) -> tuple[ServerProcess, ServerProcess]:
    """Kill the master; wait for agreement; check the promotion, the repointing and redis-py."""
    for s in group:
        wait_until(partial(discovered, s, len(group) - 1, 2), timeout=20, what=f"discovery on {s.port}")
    mc0 = m.client()
    mc0.set("before", "1")
    assert mc0.execute_command("WAIT", 2, 5000) == 2
    old = ("127.0.0.1", m.port)
    t0 = time.monotonic()
    m.kill9()

    def agreed() -> tuple[str, int] | None:
        addrs = {addr_of(s) for s in group}
        if len(addrs) == 1:
            (addr,) = addrs
            if addr is not None and addr != old:
                return addr
        return None

    host, port = wait_until(agreed, timeout=40, what="all sentinels agree on a new master")
    elapsed = time.monotonic() - t0
    print(f"failover: all sentinels agreed {elapsed:.2f} s after the kill")
    assert port in (a.port, b.port), (port, a.port, b.port)
    promoted, other = (a, b) if port == a.port else (b, a)
    pc, oc = promoted.client(), other.client()
    wait_until(lambda: pc.info("replication")["role"] == "master", what="promoted replica is master")
    wait_until(
        lambda: oc.info("replication").get("master_port") == port and link_up(oc),
        timeout=30,
        what="the other replica was repointed",
    )
    # redis-py finds and writes to the new master through the sentinels (RESP3 by default).
    sent = redis.sentinel.Sentinel([("127.0.0.1", s.port) for s in group], socket_timeout=2)
    assert sent.discover_master("mymaster") == (host, port)
    mc = sent.master_for("mymaster", socket_timeout=2, decode_responses=True)
    wait_until(lambda: mc.set("after", "2"), timeout=10, what="redis-py write to the new master")
    assert mc.get("before") == "1"
    assert elapsed < 30
    return promoted, other


def test_three_sentinels_one_failover(start_server: Start, sentinels: Callable[..., SentinelProcess]) -> None:
    m, a, b = master_and_replicas(start_server)
    group = [sentinels(m.port) for _ in range(3)]
    promoted, _other = failover_and_check(m, a, b, group)
    # Exactly one failover: one leader, one promotion, one switch seen by each sentinel.
    wait_until(lambda: sum(len(s.events("+failover-end")) for s in group) == 1, timeout=30, what="+failover-end")
    assert sum(len(s.events("+elected-leader")) for s in group) == 1
    assert sum(len(s.events("+promoted-slave")) for s in group) == 1
    for s in group:
        switches = s.events("+switch-master")
        assert len(switches) == 1, s.log()[-3000:]
        assert switches[0]["master"] == "mymaster"
        assert switches[0]["payload"].endswith(f"127.0.0.1 {promoted.port}")
        state = json.loads(s.state_path.read_text())
        assert state["masters"]["mymaster"]["settings"]["port"] == promoted.port
        info = smaster(s.client())
        assert info["port"] == promoted.port and info["config-epoch"] >= 1
    epochs = {smaster(s.client())["config-epoch"] for s in group}
    assert len(epochs) == 1


def test_stock_sentinel_in_the_quorum(start_server: Start, sentinels: Callable[..., SentinelProcess]) -> None:
    m, a, b = master_and_replicas(start_server)
    stock = sentinels(m.port, stock=True)
    ours = [sentinels(m.port) for _ in range(2)]
    group = [stock, *ours]
    # The stock sentinel sees ours as peers (our hellos parse) and we see it.
    wait_until(lambda: len(cast(list[Any], stock.client().sentinel_sentinels("mymaster"))) == 2, timeout=20, what="stock sees ours")
    failover_and_check(m, a, b, group)
    # A stock leader switches only at the end of its failover (after its next INFO of the
    # repointed replica), so wait for every sentinel's switch before counting.
    wait_until(lambda: len(stock.stock_events("+switch-master")) >= 1, timeout=30, what="stock +switch-master")
    for s in ours:
        wait_until(partial(s.events, "+switch-master"), timeout=30, what=f"+switch-master on {s.port}")
    promotions = sum(len(s.events("+promoted-slave")) for s in ours) + len(stock.stock_events("+promoted-slave"))
    assert promotions == 1
    assert len(stock.stock_events("+switch-master")) == 1
    for s in ours:
        assert len(s.events("+switch-master")) == 1


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
def test_cli_contract(tmp_path: Path) -> None:
    """`python -m sentinel` rejects a bad config (exit 1, stock-like message) and a corrupt state."""
    bad = tmp_path / "bad.conf"
    bad.write_text("port 1\nsentinel monitor m 127.0.0.1 6379 0\n")
    p = subprocess.run([sys.executable, "-m", "sentinel", str(bad)], capture_output=True, timeout=30)
    assert p.returncode == 1
    assert b"FATAL CONFIG FILE ERROR" in p.stderr and b"Quorum must be 1 or greater." in p.stderr
    good = tmp_path / "good.conf"
    good.write_text(f"port {free_port()}\nbind 127.0.0.1\nsentinel monitor m 127.0.0.1 1 1\n")
    (tmp_path / "good.conf.state.json").write_text("{not json")
    p = subprocess.run([sys.executable, "-m", "sentinel", str(good)], capture_output=True, timeout=30)
    assert p.returncode == 1
    assert b"cannot load the state file" in p.stdout + p.stderr
    p = subprocess.run([sys.executable, "-m", "sentinel", str(tmp_path / "missing.conf")], capture_output=True, timeout=30)
    assert p.returncode == 1 and b"Can't open config file" in p.stderr
