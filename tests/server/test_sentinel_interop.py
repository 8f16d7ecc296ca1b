"""Stock `redis-sentinel` 7 runs a failover of hasentinel-server instances (interop scenario 1)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import ServerProcess, free_port, wait_for_port
from tests.server.test_replication import digest, in_sync, link_up, wait_until

Start = Callable[..., ServerProcess]

pytestmark = pytest.mark.skipif(shutil.which("redis-sentinel") is None and shutil.which("redis-server") is None,
                                reason="stock redis-sentinel is not installed (apt-get install redis-sentinel)")


@pytest.fixture
def stock_sentinels(tmp_path: Path) -> Iterator[Callable[[int, int], list[int]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(master_port: int, n: int = 3) -> list[int]:
        ports = []
        for i in range(n):
            port = free_port()
            d = tmp_path / f"sentinel{i}"
            d.mkdir()
            conf = d / "sentinel.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {d}\n"
                f"sentinel monitor mymaster 127.0.0.1 {master_port} 2\n"
                "sentinel down-after-milliseconds mymaster 1000\n"
                "sentinel failover-timeout mymaster 10000\n"
                "sentinel parallel-syncs mymaster 2\n"
            )
            binary = shutil.which("redis-sentinel")
            argv = [binary, str(conf)] if binary else ["redis-server", str(conf), "--sentinel"]
            with open(d / "log", "wb") as logf:
                p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT)
            procs.append(p)
            wait_for_port(port, p)
            ports.append(port)
        return ports

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def test_stock_sentinels_fail_over_our_servers(start_server: Start, stock_sentinels: Callable[[int, int], list[int]]) -> None:
    fast = ("--repl-diskless-sync-delay", "0", "--protected-mode", "no")
    m = start_server("--save", "", *fast)
    mc = m.client()
    a = start_server("--save", "", *fast, "--replicaof", "127.0.0.1", str(m.port))
    b = start_server("--save", "", *fast, "--replicaof", "127.0.0.1", str(m.port))
    ac, bc = a.client(), b.client()
    wait_until(lambda: link_up(ac) and link_up(bc), what="replicas up")
    sports = stock_sentinels(m.port, 3)
    s0 = redis.Redis(port=sports[0])
    wait_until(lambda: s0.sentinel_master("mymaster")["num-other-sentinels"] == 2, timeout=20,
               what="sentinels discovered each other")
    wait_until(lambda: len(s0.sentinel_slaves("mymaster")) == 2, timeout=20, what="sentinels discovered both replicas")
    for i in range(200):
        mc.set(f"acked{i}", i)
    assert mc.execute_command("WAIT", 2, 5000) == 2
    m.kill9()
    old = ("127.0.0.1", m.port)

    def new_master() -> tuple[str, int] | None:
        addr = s0.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
        host, port = addr[0].decode(), int(addr[1])
        return None if (host, port) == old else (host, port)

    _host, port = wait_until(new_master, timeout=40, what="stock sentinels switched master")
    promoted, other = (a, b) if port == a.port else (b, a)
    pc, oc = promoted.client(), other.client()
    wait_until(lambda: pc.info("replication")["role"] == "master", what="promoted replica is master")
    for i in range(200):
        assert pc.get(f"acked{i}") == str(i).encode(), "a write acknowledged with WAIT was lost"
    wait_until(lambda: oc.info("replication").get("master_port") == port and link_up(oc), timeout=40,
               what="the other replica was repointed")
    pc.set("after-failover", "1")
    wait_until(lambda: in_sync(pc, oc), what="other replica in sync with the new master")
    # The old master comes back: the sentinels convert it to a replica of the new master.
    restarted = ServerProcess(m.argv, m.port, m.cwd, m.log_path).start()
    try:
        rc = restarted.client()
        wait_until(lambda: rc.info("replication").get("master_port") == port and link_up(rc), timeout=60,
                   what="old master converted to a replica")
        wait_until(lambda: in_sync(pc, rc), what="old master in sync")
        assert digest(pc) == digest(rc)
    finally:
        restarted.stop()
