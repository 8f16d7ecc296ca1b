"""A real local cluster for the CLI tests: our server as master with two replicas, three of our
sentinels, all on loopback with free ports, each process killed by PID at the end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ServerProcess, free_port, our_server_argv
from tests.sentinel.test_sentinel_e2e_basic import (
    FAST,
    SentinelProcess,
    discovered,
    link_up,
    sentinel_conf,
    wait_until,
)


@dataclass
class Cluster:
    """The processes and where they live."""

    root: Path
    master: ServerProcess
    replicas: list[ServerProcess]
    sentinels: list[SentinelProcess]
    extra: list[ServerProcess] = field(default_factory=list)
    metrics_ports: list[int] = field(default_factory=list)
    """Per sentinel (same order), when started with metrics."""

    @property
    def servers(self) -> list[ServerProcess]:
        """Master first, then the replicas."""
        return [self.master, *self.replicas]

    def sentinel_args(self, n: int | None = None) -> list[str]:
        """`--sentinel 127.0.0.1:port` for the first `n` sentinels (default: only the first)."""
        out: list[str] = []
        for s in self.sentinels[: n or 1]:
            out += ["--sentinel", f"127.0.0.1:{s.port}"]
        return out

    def server(self, port: int) -> ServerProcess:
        """The server listening on `port`."""
        return next(s for s in self.servers if s.port == port)

    def stop(self) -> None:
        """Stop everything (sentinels first)."""
        for s in self.sentinels:
            s.stop()
        for p in [*self.servers, *self.extra]:
            p.stop()


def start_server(root: Path, *extra: str) -> ServerProcess:
    """One of our servers in its own directory."""
    port = free_port()
    d = root / f"server-{port}"
    d.mkdir(parents=True, exist_ok=True)
    sp = ServerProcess(our_server_argv(port, "--dir", str(d), *FAST, *extra), port, d, d / "server.log")
    return sp.start()


def start_cluster(
    root: Path,
    down_after: int = 1000,
    failover_timeout: int = 10000,
    sentinel_extra: str = "",
    replicas: int = 2,
    metrics: bool = False,
) -> Cluster:
    """Master, replicas, three sentinels; returns once every sentinel sees everyone."""
    master = start_server(root)
    reps = [start_server(root, "--replicaof", "127.0.0.1", str(master.port)) for _ in range(replicas)]
    clients = [r.client() for r in reps]
    wait_until(lambda: all(link_up(c) for c in clients), what="replicas up")
    for c in clients:
        c.close()
    sentinels: list[SentinelProcess] = []
    cluster = Cluster(root, master, reps, sentinels)
    try:
        for _ in range(3):
            port = free_port()
            d = root / f"sentinel-{port}"
            extra = sentinel_extra
            if metrics:
                cluster.metrics_ports.append(free_port())
                extra += f"metrics-port {cluster.metrics_ports[-1]}\nmetrics-bind 127.0.0.1\n"
            conf = sentinel_conf(
                port, d, master.port, down_after=down_after, failover_timeout=failover_timeout, extra=extra
            )
            sentinels.append(SentinelProcess(d, port, conf).start())
        for s in sentinels:
            wait_until(lambda s=s: discovered(s, 2, replicas), timeout=30, what=f"discovery on {s.port}")  # type: ignore[misc]
    except BaseException:
        cluster.stop()
        raise
    return cluster


def cluster_fixture(root: Path, **kw: object) -> Iterator[Cluster]:
    """Start, yield, stop (printing the sentinel logs' tails on the way out for failures)."""
    c = start_cluster(root, **kw)  # type: ignore[arg-type]
    try:
        yield c
    finally:
        c.stop()


def settle(seconds: float = 0.3) -> None:
    """Let INFO/hello traffic catch up."""
    time.sleep(seconds)
