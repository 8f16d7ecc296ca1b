"""`replica-serve-stale-data no`: a replica whose master link is down answers every command not
flagged `stale` with -MASTERDOWN (queued ones inside MULTI too, so EXEC aborts), exactly as stock
redis-server does: both run the same script as replicas of a master that does not exist."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import ServerProcess, free_port
from tests.server.rawresp import Raw, wait_until

SCRIPT: list[list[str]] = [
    ["GET", "k"],
    ["SET", "k", "v"],
    ["PING"],
    ["ECHO", "still here"],
    ["DBSIZE"],
    ["CONFIG", "GET", "replica-serve-stale-data"],
    ["MULTI"],
    ["GET", "k"],
    ["EXEC"],
    ["MULTI"],
    ["ECHO", "a"],
    ["EXEC"],
    ["SELECT", "1"],
    ["MGET", "a", "b"],
    ["CONFIG", "SET", "replica-serve-stale-data", "yes"],
    ["GET", "k"],
    ["MGET", "a", "b"],
    ["CONFIG", "SET", "replica-serve-stale-data", "no"],
    ["PING"],
]


def _run(sp: ServerProcess) -> list[bytes]:
    with Raw(sp.port) as conn:
        assert wait_until(lambda: b"role:slave" in conn.call("INFO", "replication"))
        out = [conn.call(*cmd) for cmd in SCRIPT]
        # a pipeline of data commands (the network layer's direct dispatch) is refused too
        conn.send_raw(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" * 3)
        out.append(b"".join(conn.read() for _ in range(3)))
    return out


def test_stale_replica_refuses_like_stock(start_server: Callable[..., ServerProcess]) -> None:
    dead = str(free_port())  # nothing listens there: the master link stays down
    args = ("--save", "", "--replicaof", "127.0.0.1", dead, "--replica-serve-stale-data", "no")
    ours = _run(start_server(*args))
    theirs = _run(start_server(*args, stock=True))
    assert ours[0].startswith(b"-MASTERDOWN Link with MASTER is down")
    assert ours == theirs
