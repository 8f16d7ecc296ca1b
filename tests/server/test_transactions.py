"""MULTI/EXEC/DISCARD/WATCH/UNWATCH against stock Redis 7.0, and how a transaction propagates.

Why: optimistic locking (WATCH) is only useful if every kind of change invalidates it (another
client, expiry, FLUSH*, SWAPDB) and nothing else does; queued errors must abort (EXECABORT) while
runtime errors stay per reply; replicas and the AOF must see a transaction as one atomic unit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from server.client import Client, NullTransport
from server.engine import Engine
from tests.conftest import ServerProcess
from tests.server.rawresp import Raw, start_module_server, transcript


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    sp = start_module_server(tmp_path_factory.mktemp("tx"))
    yield sp
    sp.stop()


@pytest.fixture(scope="module")
def stock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    sp = start_module_server(tmp_path_factory.mktemp("tx-stock"), stock=True)
    yield sp
    sp.stop()


@pytest.fixture(params=["ours", "stock"])
def srv(request: pytest.FixtureRequest) -> ServerProcess:
    """Behavioural tests run against both servers: the expectations are Redis's own."""
    sp: ServerProcess = request.getfixturevalue(request.param)
    with Raw(sp.port) as c:
        assert c.call("FLUSHALL") == b"+OK\r\n"
    return sp


SCRIPTS: dict[str, list[list[str]]] = {
    "errors-outside-and-inside-multi": [
        ["EXEC"],
        ["DISCARD"],
        ["EXEC", "x"],
        ["DISCARD", "x"],
        ["MULTI"],
        ["MULTI"],  # an error, but the transaction survives
        ["WATCH", "t1:x"],  # likewise
        ["SET", "t1:a", "1"],
        ["EXEC"],
        ["UNWATCH"],
    ],
    "queued-errors-abort": [
        ["MULTI"],
        ["SET", "t2:a", "1"],
        ["NOSUCHCOMMAND", "x"],
        ["SET", "t2:a"],
        ["EXEC"],
        ["GET", "t2:a"],
        ["MULTI"],
        ["WATCH"],  # wrong arity inside MULTI: aborts too
        ["EXEC"],
        ["MULTI"],
        ["CLIENT", "NOSUCH"],
        ["EXEC"],
        ["MULTI"],
        ["SET", "t2:a", "2"],
        ["EXEC", "x"],  # EXEC with arguments: discarded "because of" the arity error
        ["EXEC"],
        ["GET", "t2:a"],
    ],
    "runtime-errors-stay-per-reply": [
        ["DEL", "t3:a"],
        ["MULTI"],
        ["SET", "t3:a", "1"],
        ["LPUSH", "t3:a", "2"],
        ["INCR", "t3:a"],
        ["UNWATCH"],
        ["PING"],
        ["EXEC"],
        ["GET", "t3:a"],
    ],
    "watch-dirty-by-self-resp2-and-resp3": [
        ["WATCH", "t4:a"],
        ["SET", "t4:a", "5"],
        ["MULTI"],
        ["GET", "t4:a"],
        ["EXEC"],
        ["HELLO", "3"],
        ["WATCH", "t4:a"],
        ["SET", "t4:a", "6"],
        ["MULTI"],
        ["EXEC"],
        ["WATCH", "t4:a"],
        ["SET", "t4:a", "7"],
        ["UNWATCH"],  # clears the dirty flag
        ["MULTI"],
        ["GET", "t4:a"],
        ["EXEC"],
    ],
    "discard-and-exec-unwatch": [
        ["WATCH", "t5:a"],
        ["MULTI"],
        ["DISCARD"],
        ["SET", "t5:a", "1"],
        ["MULTI"],
        ["GET", "t5:a"],
        ["EXEC"],
        ["WATCH", "t5:a"],
        ["MULTI"],
        ["EXEC"],
        ["SET", "t5:a", "2"],
        ["MULTI"],
        ["GET", "t5:a"],
        ["EXEC"],
    ],
    "noop-writes-do-not-dirty": [
        ["SET", "t6:a", "1"],
        ["WATCH", "t6:a", "t6:missing"],
        ["SET", "t6:a", "x", "NX"],
        ["DEL", "t6:other"],
        ["MULTI"],
        ["GET", "t6:a"],
        ["EXEC"],
    ],
    "select-and-blocking-commands-inside-exec": [
        ["MULTI"],
        ["SELECT", "2"],
        ["SET", "t7:a", "1"],
        ["BLPOP", "t7:nolist", "0"],
        ["SELECT", "0"],
        ["EXEC"],
        ["GET", "t7:a"],
        ["SELECT", "2"],
        ["GET", "t7:a"],
        ["DEL", "t7:a"],
        ["SELECT", "0"],
    ],
    "reset-and-quit-inside-multi": [
        ["MULTI"],
        ["SET", "t8:a", "1"],
        ["RESET"],
        ["EXEC"],
        ["GET", "t8:a"],
        ["MULTI"],
        ["QUIT"],
    ],
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_script_matches_stock_byte_for_byte(ours: ServerProcess, stock: ServerProcess, name: str) -> None:
    script = SCRIPTS[name]
    assert transcript(ours.port, script) == transcript(stock.port, script)


# --- WATCH against other clients, expiry, FLUSH*, SWAPDB --------------------------------------------


def _watched_exec(c: Raw, key: str, between: list[list[str]], other: Raw) -> bytes:
    """WATCH key on `c`, run `between` on `other`, then MULTI/PING/EXEC on `c`."""
    assert c.call("WATCH", key) == b"+OK\r\n"
    for cmd in between:
        other.call(*cmd)
    assert c.call("MULTI") == b"+OK\r\n"
    assert c.call("PING") == b"+QUEUED\r\n"
    return c.call("EXEC")


DIRTY = b"*-1\r\n"
CLEAN = b"*1\r\n+PONG\r\n"


@pytest.mark.parametrize(
    ("setup", "between", "expected"),
    [
        pytest.param([], [["SET", "w", "1"]], DIRTY, id="set-by-other"),
        pytest.param([["SET", "w", "1"]], [["DEL", "w"]], DIRTY, id="del-by-other"),
        pytest.param([["SET", "w", "1"]], [["EXPIRE", "w", "100"]], DIRTY, id="expire-by-other"),
        pytest.param([], [["SET", "other", "1"]], CLEAN, id="other-key"),
        pytest.param([["SET", "w", "1"]], [["GET", "w"]], CLEAN, id="read-only"),
        pytest.param(
            [["SET", "w", "1"]], [["SELECT", "1"], ["SET", "w", "2"]], CLEAN, id="same-key-other-db"
        ),
        pytest.param([["SET", "w", "1"]], [["FLUSHDB"]], DIRTY, id="flushdb-existing"),
        pytest.param([["SET", "w", "1"]], [["FLUSHALL"]], DIRTY, id="flushall-existing"),
        pytest.param([], [["FLUSHDB"]], CLEAN, id="flushdb-missing"),
        pytest.param([], [["FLUSHALL"]], CLEAN, id="flushall-missing"),
        pytest.param(
            [], [["SELECT", "1"], ["SET", "w", "x"], ["SWAPDB", "0", "1"]], DIRTY, id="swapdb-brings-key"
        ),
        pytest.param([["SET", "w", "1"]], [["SWAPDB", "0", "1"]], DIRTY, id="swapdb-takes-key"),
        pytest.param([], [["SWAPDB", "0", "1"]], CLEAN, id="swapdb-nothing"),
    ],
)
def test_watch_invalidation(
    srv: ServerProcess, setup: list[list[str]], between: list[list[str]], expected: bytes
) -> None:
    with Raw(srv.port) as c, Raw(srv.port) as other:
        for cmd in setup:
            c.call(*cmd)
        assert _watched_exec(c, "w", between, other) == expected
        other.call("FLUSHALL")


def test_key_expiring_after_watch_fails_exec(srv: ServerProcess) -> None:
    with Raw(srv.port) as c:
        assert c.call("SET", "e", "1", "PX", "150") == b"+OK\r\n"
        assert c.call("WATCH", "e") == b"+OK\r\n"
        time.sleep(0.3)
        assert c.call("MULTI") == b"+OK\r\n"
        assert c.call("PING") == b"+QUEUED\r\n"
        assert c.call("EXEC") == DIRTY


def test_key_already_expired_at_watch_time_is_no_change(srv: ServerProcess) -> None:
    with Raw(srv.port) as c, Raw(srv.port) as other:
        assert c.call("SET", "e", "1", "PX", "50") == b"+OK\r\n"
        time.sleep(0.15)
        assert _watched_exec(c, "e", [["FLUSHDB"]], other) == CLEAN
        assert c.call("SET", "e", "1", "PX", "50") == b"+OK\r\n"
        time.sleep(0.15)
        assert _watched_exec(c, "e", [["SET", "e", "2"]], other) == DIRTY  # a real change


def test_dirty_watch_shows_in_client_flags(srv: ServerProcess) -> None:
    with Raw(srv.port) as c, Raw(srv.port) as other:
        c.call("WATCH", "f")
        assert b" flags=N " in c.call("CLIENT", "INFO")
        other.call("SET", "f", "1")
        assert b" flags=d " in c.call("CLIENT", "INFO")
        assert c.call("MULTI") == b"+OK\r\n"
        assert c.call("DISCARD") == b"+OK\r\n"
        assert b" flags=N " in c.call("CLIENT", "INFO")


def test_multi_shows_in_client_list(srv: ServerProcess) -> None:
    with Raw(srv.port) as c, Raw(srv.port) as other:
        cid = int(c.call("CLIENT", "ID")[1:-2])
        c.call("MULTI")
        c.call("SET", "a", "1")
        c.call("GET", "a")
        line = other.call("CLIENT", "LIST", "ID", str(cid))
        # A queued command is still the last command Redis saw.
        assert b" flags=x " in line and b" multi=2 " in line and b" cmd=get " in line
        assert c.call("EXEC") == b"*2\r\n+OK\r\n$1\r\n1\r\n"
        line = other.call("CLIENT", "LIST", "ID", str(cid))
        assert b" flags=N " in line and b" multi=-1 " in line and b" cmd=exec " in line


def test_blocked_client_is_served_after_the_whole_transaction(srv: ServerProcess) -> None:
    """Atomicity: a BLPOP waiting on the list sees nothing until EXEC has run every command."""
    with Raw(srv.port) as blocked, Raw(srv.port) as c:
        blocked.send("BLPOP", "q", "10")
        assert blocked.nothing_within(0.2)
        c.call("MULTI")
        c.call("RPUSH", "q", "x")
        c.call("LLEN", "q")
        assert c.call("EXEC") == b"*2\r\n:1\r\n:1\r\n"
        assert blocked.read() == b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n"
        assert c.call("LLEN", "q") == b":0\r\n"


@pytest.mark.parametrize("proto", [2, 3])
def test_redis_py_optimistic_locking(srv: ServerProcess, proto: int) -> None:
    r = redis.Redis(host="127.0.0.1", port=srv.port, protocol=proto, socket_timeout=10)
    other = redis.Redis(host="127.0.0.1", port=srv.port, protocol=proto, socket_timeout=10)
    try:
        r.set("counter", 1)
        with r.pipeline() as pipe:
            pipe.watch("counter")
            value = int(pipe.get("counter"))  # type: ignore[arg-type]
            other.incr("counter")
            pipe.multi()
            pipe.set("counter", value + 10)
            with pytest.raises(redis.WatchError):
                pipe.execute()
        assert r.get("counter") == b"2"
        with r.pipeline() as pipe:
            pipe.watch("counter")
            value = int(pipe.get("counter"))  # type: ignore[arg-type]
            pipe.multi()
            pipe.set("counter", value + 10)
            pipe.incr("counter")
            assert pipe.execute() == [True, 13]
    finally:
        r.close()
        other.close()


# --- engine level: propagation and the checks made when queueing -------------------------------------


class _Sink:
    """Stands for the AOF/replication stream: records what the engine propagates."""

    def __init__(self) -> None:
        self.fed: list[tuple[int, bytes]] = []

    def feed(self, db_id: int, data: bytes) -> None:
        self.fed.append((db_id, data))


def _cmd(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def _engine() -> tuple[Engine, Client, _Sink]:
    eng = Engine()
    sink = _Sink()
    eng.sinks.append(sink)
    c = Client(eng, NullTransport())
    eng.add_client(c)
    return eng, c, sink


def _run(eng: Engine, c: Client, *cmds: list[bytes]) -> list[bytes]:
    out = []
    for argv in cmds:
        r = eng.execute(c, argv)
        assert isinstance(r, bytes)
        out.append(r)
    return out


def test_transaction_propagates_as_one_unit_only_when_needed() -> None:
    eng, c, sink = _engine()
    # One write: no MULTI/EXEC around it (Redis 7.0 wraps only when more than one is propagated).
    _run(eng, c, [b"MULTI"], [b"SET", b"a", b"1"], [b"GET", b"a"], [b"EXEC"])
    assert sink.fed == [(0, _cmd(b"SET", b"a", b"1"))]
    sink.fed.clear()
    # Several writes, across databases: MULTI in the first one's db, EXEC in the last one's.
    replies = _run(
        eng,
        c,
        [b"MULTI"],
        [b"SET", b"b", b"1"],
        [b"SELECT", b"3"],
        [b"INCR", b"n"],
        [b"LPUSH", b"b2", b"x"],
        [b"EXEC"],
    )
    assert replies[-1] == b"*4\r\n+OK\r\n+OK\r\n:1\r\n:1\r\n"
    assert sink.fed == [
        (0, _cmd(b"MULTI")),
        (0, _cmd(b"SET", b"b", b"1")),
        (3, _cmd(b"INCR", b"n")),
        (3, _cmd(b"LPUSH", b"b2", b"x")),
        (3, _cmd(b"EXEC")),
    ]
    sink.fed.clear()
    # Read-only, failed and aborted transactions propagate nothing.
    _run(eng, c, [b"MULTI"], [b"GET", b"n"], [b"LPUSH", b"n", b"x"], [b"EXEC"])
    _run(eng, c, [b"MULTI"], [b"SET", b"z", b"1"], [b"NOSUCH"], [b"EXEC"])
    _run(eng, c, [b"MULTI"], [b"SET", b"z", b"1"], [b"DISCARD"])
    assert sink.fed == []
    assert c.last_cmd == b"discard"


def test_expired_key_deleted_inside_exec_is_propagated_inside_the_transaction() -> None:
    eng, c, sink = _engine()
    _run(eng, c, [b"SET", b"old", b"v"])
    c.db.set_expire(b"old", 1)  # long past
    sink.fed.clear()
    _run(eng, c, [b"MULTI"], [b"GET", b"old"], [b"SET", b"new", b"1"], [b"EXEC"])
    assert sink.fed == [
        (0, _cmd(b"MULTI")),
        (0, _cmd(b"DEL", b"old")),
        (0, _cmd(b"SET", b"new", b"1")),
        (0, _cmd(b"EXEC")),
    ]


def test_out_of_memory_rejects_queueing_and_aborts_exec() -> None:
    """maxmemory reached: every command but EXEC/DISCARD/QUIT/RESET is refused while queueing
    (and the transaction aborted); an EXEC of writes is refused as EXECABORT ... because of OOM."""
    eng, c, _ = _engine()
    full = False
    eng.memory.make_room = lambda: not full  # type: ignore[method-assign]
    eng.config.maxmemory = 1
    assert _run(eng, c, [b"MULTI"], [b"SET", b"a", b"1"]) == [b"+OK\r\n", b"+QUEUED\r\n"]
    full = True
    assert _run(eng, c, [b"EXEC"]) == [
        b"-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n"
    ]
    assert not c.in_multi and eng.keyspace[0].lookup(b"a") is None
    oom = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    assert _run(eng, c, [b"MULTI"], [b"GET", b"a"], [b"EXEC"]) == [
        b"+OK\r\n",
        oom,
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    ]
    # A read-only EXEC is not refused; DISCARD never is.
    full = False
    _run(eng, c, [b"MULTI"], [b"GET", b"a"])
    full = True
    assert _run(eng, c, [b"EXEC"]) == [b"*1\r\n$-1\r\n"]
    full = False
    _run(eng, c, [b"MULTI"])
    full = True
    assert _run(eng, c, [b"DISCARD"]) == [b"+OK\r\n"]


def test_readonly_replica_rejects_writes_when_queued() -> None:
    eng, c, _ = _engine()
    eng.is_replica = True
    ro = b"-READONLY You can't write against a read only replica.\r\n"
    assert _run(eng, c, [b"MULTI"], [b"SET", b"a", b"1"], [b"GET", b"a"], [b"EXEC"]) == [
        b"+OK\r\n",
        ro,
        b"+QUEUED\r\n",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    ]
    # Writes queued before the role changed: EXEC itself is refused.
    eng.is_replica = False
    _run(eng, c, [b"MULTI"], [b"SET", b"a", b"1"])
    eng.is_replica = True
    assert _run(eng, c, [b"EXEC"]) == [
        b"-EXECABORT Transaction discarded because of: READONLY You can't write against a read only replica.\r\n"
    ]
