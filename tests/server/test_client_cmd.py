"""CLIENT and its subcommands against stock Redis 7.0 (SETINFO, NO-TOUCH and lib-name/lib-ver as
Redis 7.2, which redis-py relies on).

Why: operators and Sentinel use CLIENT LIST/KILL/PAUSE to manage connections during failover,
redis-py calls CLIENT SETINFO on every connection, and blocked clients are released with CLIENT
UNBLOCK; the error texts, counts and connection closing must be Redis's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from server.client import Client, NullTransport
from server.engine import Engine
from tests.conftest import ServerProcess
from tests.server.rawresp import Closed, Raw, client_id, start_module_server, transcript, wait_until


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    sp = start_module_server(tmp_path_factory.mktemp("client"))
    yield sp
    sp.stop()


@pytest.fixture(scope="module")
def stock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    sp = start_module_server(tmp_path_factory.mktemp("client-stock"), stock=True)
    yield sp
    sp.stop()


@pytest.fixture(params=["ours", "stock"])
def srv(request: pytest.FixtureRequest) -> ServerProcess:
    """Behavioural tests run against both servers: the expectations are Redis's own."""
    sp: ServerProcess = request.getfixturevalue(request.param)
    return sp


SCRIPTS: dict[str, list[list[str | bytes]]] = {
    "raw-bytes-in-errors": [
        ["CLIENT", "LIST", "TYPE", b"\xffweird\x00cut"],
        ["CLIENT", "KILL", "TYPE", b"a\xfe"],
        ["CLIENT", "KILL", "USER", b"u\x00ser"],
        ["CLIENT", "PaUsE", "1", "write", "x"],
        ["CLIENT", "SETNAME", b"\xff"],
        ["HELLO", "3", b"\xffopt"],
        ["PUBSUB", "ChAnNeLs", "a", "b"],
    ],
    "list-info-name-id-errors": [
        ["CLIENT", "LIST", "TYPE", "pubsub"],
        ["CLIENT", "LIST", "TYPE", "foo"],
        ["CLIENT", "LIST", "ID", "1", "2", "x"],
        ["CLIENT", "LIST", "ID"],
        ["CLIENT", "LIST", "foo"],
        ["CLIENT", "LIST", "TYPE", "normal", "x"],
        ["CLIENT", "LIST", "ID", "999999"],
        ["CLIENT", "GETNAME"],
        ["CLIENT", "SETNAME", "a", "b"],
        ["CLIENT", "SETNAME", "a b"],
        ["CLIENT", "SETNAME", "new\nline"],
        ["CLIENT", "SETNAME", "caf\u00e9"],
        ["CLIENT", "SETNAME", "ok~name!"],
        ["CLIENT", "GETNAME"],
        ["CLIENT", "SETNAME", ""],
        ["CLIENT", "GETNAME"],
        ["CLIENT", "SETNAME"],
        ["CLIENT", "ID", "x"],
        ["CLIENT"],
        ["CLIENT", "NOSUCH"],
        ["CLIENT", "INFO"],
        ["SELECT", "3"],
        ["CLIENT", "SETNAME", "me"],
        ["CLIENT", "INFO"],
        ["HELLO", "3"],
        ["CLIENT", "INFO"],
        ["CLIENT", "GETNAME"],
        ["CLIENT", "SETNAME", ""],
        ["CLIENT", "GETNAME"],
    ],
    "kill-argument-errors": [
        ["CLIENT", "KILL", "1.2.3.4:5"],
        ["CLIENT", "KILL", "ID", "0"],
        ["CLIENT", "KILL", "ID", "x"],
        ["CLIENT", "KILL", "ID", "99999"],
        ["CLIENT", "KILL", "TYPE", "foo"],
        ["CLIENT", "KILL", "USER", "bob"],
        ["CLIENT", "KILL", "USER", "default", "SKIPME", "maybe"],
        ["CLIENT", "KILL", "ADDR"],
        ["CLIENT", "KILL", "ADDR", "1.2.3.4:5", "TYPE"],
        ["CLIENT", "KILL"],
        ["CLIENT", "KILL", "TYPE", "replica"],
        ["CLIENT", "KILL", "TYPE", "slave"],
        ["CLIENT", "KILL", "TYPE", "master"],
        ["CLIENT", "KILL", "MAXAGE", "5"],
        ["CLIENT", "KILL", "ADDR", "1.2.3.4:5", "SKIPME", "no"],
    ],
    "pause-unblock-argument-errors": [
        ["CLIENT", "PAUSE"],
        ["CLIENT", "PAUSE", "x"],
        ["CLIENT", "PAUSE", "-1"],
        ["CLIENT", "PAUSE", "10", "foo"],
        ["CLIENT", "PAUSE", "x", "foo"],
        ["CLIENT", "PAUSE", "1.5"],
        ["CLIENT", "PAUSE", "1", "write", "x"],
        ["CLIENT", "PAUSE", "0"],
        ["CLIENT", "PAUSE", "9223372036854775807"],  # the end time wraps: no pause at all
        ["GET", "x"],
        ["CLIENT", "UNPAUSE"],
        ["CLIENT", "UNPAUSE", "x"],
        ["CLIENT", "UNBLOCK"],
        ["CLIENT", "UNBLOCK", "x"],
        ["CLIENT", "UNBLOCK", "1", "foo"],
        ["CLIENT", "UNBLOCK", "x", "foo"],
        ["CLIENT", "UNBLOCK", "1", "error", "x"],
        ["CLIENT", "UNBLOCK", "99999"],
        ["CLIENT", "UNBLOCK", "99999", "ERROR"],
    ],
    "reply-modes": [
        ["CLIENT", "REPLY", "OFF"],
        ["SET", "r:a", "1"],
        ["GET", "r:a"],
        ["NOSUCH"],
        ["CLIENT", "REPLY", "ON"],
        ["GET", "r:a"],
        ["CLIENT", "REPLY", "SKIP"],
        ["GET", "r:a"],
        ["ECHO", "shown"],
        ["CLIENT", "REPLY", "FOO"],
        ["CLIENT", "REPLY", "SKIP"],
        ["CLIENT", "REPLY", "SKIP"],
        ["ECHO", "hidden"],
        ["ECHO", "shown2"],
        ["CLIENT", "REPLY", "SKIP"],
        ["CLIENT", "REPLY", "ON"],  # ON right after SKIP: its OK is sent
        ["CLIENT", "REPLY", "OFF"],
        ["CLIENT", "REPLY", "SKIP"],  # ignored while OFF
        ["CLIENT", "REPLY", "ON"],
        ["ECHO", "end"],
        ["DEL", "r:a"],
    ],
    "modes-and-tracking": [
        ["CLIENT", "NO-EVICT"],
        ["CLIENT", "NO-EVICT", "maybe"],
        ["CLIENT", "NO-EVICT", "on"],
        ["CLIENT", "INFO"],
        ["CLIENT", "NO-EVICT", "OFF"],
        ["CLIENT", "GETREDIR"],
        ["CLIENT", "GETREDIR", "x"],
        ["CLIENT", "TRACKINGINFO"],
        ["CLIENT", "TRACKING"],
        ["CLIENT", "TRACKING", "foo"],
        ["CLIENT", "TRACKING", "on", "foo"],
        ["CLIENT", "TRACKING", "off"],
        ["CLIENT", "TRACKING", "off", "BCAST", "PREFIX", "a", "NOLOOP"],
        ["CLIENT", "TRACKING", "off", "REDIRECT", "987654"],
        ["CLIENT", "CACHING", "yes"],
        ["CLIENT", "CACHING", "foo"],
        ["HELLO", "3"],
        ["CLIENT", "TRACKINGINFO"],
    ],
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_script_matches_stock_byte_for_byte(ours: ServerProcess, stock: ServerProcess, name: str) -> None:
    script = SCRIPTS[name]
    assert transcript(ours.port, script) == transcript(stock.port, script)


# --- CLIENT LIST / INFO ---------------------------------------------------------------------------


def _fields(line: bytes) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in line.decode().strip().split(" "))


def _list_lines(reply: bytes) -> list[bytes]:
    """The lines of a CLIENT LIST/INFO reply (bulk in RESP2, verbatim txt in RESP3)."""
    body = reply.split(b"\r\n", 1)[1][:-2]
    if body.startswith(b"txt:"):
        body = body[4:]
    return [ln for ln in body.split(b"\n") if ln]


def test_client_list_fields_match_stock_and_describe_the_connection(
    ours: ServerProcess, stock: ServerProcess
) -> None:
    keys = {}
    for name, sp in (("ours", ours), ("stock", stock)):
        with Raw(sp.port) as c:
            c.call("HELLO", "3")
            c.call("SELECT", "2")
            c.call("CLIENT", "SETNAME", "lister")
            c.call("SUBSCRIBE", "cl:a")
            c.call("SSUBSCRIBE", "cl:s", "cl:t")
            c.read()
            reply = c.call("CLIENT", "INFO")
            assert reply.startswith(b"=")  # RESP3 verbatim string
            (line,) = _list_lines(reply)
            f = _fields(line)
            local = c.sock.getsockname()
            assert f["addr"] == f"{local[0]}:{local[1]}"
            assert f["laddr"] == f"127.0.0.1:{sp.port}"
            assert (f["name"], f["db"], f["sub"], f["psub"], f["ssub"]) == ("lister", "2", "1", "0", "2")
            assert (f["flags"], f["multi"], f["cmd"], f["user"], f["resp"]) == (
                "P",
                "-1",
                "client|info",
                "default",
                "3",
            )
            assert int(f["id"]) == int(c.call("CLIENT", "ID")[1:-2])
            keys[name] = list(f)
    # Redis 7.0's fields in Redis's order; 7.2's lib-name and lib-ver at the end.
    assert keys["ours"] == [*keys["stock"], "lib-name", "lib-ver"]


def test_client_list_filters(srv: ServerProcess) -> None:
    with Raw(srv.port) as a, Raw(srv.port) as b, Raw(srv.port) as q:
        ida, idb = client_id(a), client_id(b)
        b.call("SUBSCRIBE", "flt:ch")
        pubsub_ids = {
            int(_fields(ln)["id"]) for ln in _list_lines(q.call("CLIENT", "LIST", "TYPE", "PUBSUB"))
        }
        assert idb in pubsub_ids and ida not in pubsub_ids
        normal_ids = {
            int(_fields(ln)["id"]) for ln in _list_lines(q.call("CLIENT", "LIST", "TYPE", "normal"))
        }
        assert ida in normal_ids and idb not in normal_ids
        lines = _list_lines(q.call("CLIENT", "LIST", "ID", str(idb), "999999", str(ida)))
        assert [int(_fields(ln)["id"]) for ln in lines] == [idb, ida]  # in the order asked
        assert q.call("CLIENT", "LIST", "TYPE", "master") == b"$0\r\n\r\n"


def test_redis_py_reports_its_library_with_setinfo(ours: ServerProcess) -> None:
    r = redis.Redis(host="127.0.0.1", port=ours.port, socket_timeout=10)
    try:
        info = r.client_info()
        assert str(info["lib-name"]).startswith("redis-py")
        assert info["lib-ver"] == redis.__version__
    finally:
        r.close()


def test_setinfo_validation_as_redis_7_2(ours: ServerProcess) -> None:
    with Raw(ours.port) as c:
        assert c.call("CLIENT", "SETINFO", "LIB-NAME", "mylib") == b"+OK\r\n"
        assert c.call("CLIENT", "SETINFO", "lib-ver", "1.2.3") == b"+OK\r\n"
        assert b" lib-name=mylib lib-ver=1.2.3\n" in c.call("CLIENT", "INFO")
        assert c.call("CLIENT", "SETINFO", "lib-name", "a b") == (
            b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"
        )
        assert c.call("CLIENT", "SETINFO", "LIB-VER", "x\ny") == (
            b"-ERR LIB-VER cannot contain spaces, newlines or special characters.\r\n"
        )
        assert c.call("CLIENT", "SETINFO", "color", "red") == b"-ERR Unrecognized option 'color'\r\n"
        assert (
            c.call("CLIENT", "SETINFO", "lib-name")
            == b"-ERR wrong number of arguments for 'client|setinfo' command\r\n"
        )
        assert c.call("CLIENT", "SETINFO", "lib-name", "") == b"+OK\r\n"  # clears it
        assert b" lib-name= lib-ver=1.2.3\n" in c.call("CLIENT", "INFO")
        assert c.call("RESET") == b"+RESET\r\n"  # RESET keeps what describes the library
        assert b" lib-ver=1.2.3\n" in c.call("CLIENT", "INFO")


def test_no_touch_flag(ours: ServerProcess) -> None:
    with Raw(ours.port) as c:
        assert c.call("CLIENT", "NO-TOUCH", "on") == b"+OK\r\n"
        assert c.call("CLIENT", "NO-EVICT", "on") == b"+OK\r\n"
        assert b" flags=eT " in c.call("CLIENT", "INFO")
        assert c.call("CLIENT", "NO-TOUCH", "maybe") == b"-ERR syntax error\r\n"
        assert c.call("RESET") == b"+RESET\r\n"
        assert b" flags=e " in c.call("CLIENT", "INFO")  # NO-TOUCH is reset, NO-EVICT is not


def test_tracking_on_is_refused_clearly(ours: ServerProcess) -> None:
    with Raw(ours.port) as c:
        r = c.call("CLIENT", "TRACKING", "on")
        assert r.startswith(b"-ERR ") and b"not supported" in r
        assert c.call("CLIENT", "GETREDIR") == b":-1\r\n"


def test_help_is_7_0_plus_the_7_2_subcommands(ours: ServerProcess, stock: ServerProcess) -> None:
    with Raw(ours.port) as a, Raw(stock.port) as b:
        mine = a.call("CLIENT", "HELP").split(b"\r\n")[1:-1]
        theirs = b.call("CLIENT", "HELP").split(b"\r\n")[1:-1]
    added = {
        b"+SETINFO <option> <value>",
        b"+    Set client meta attr. Options are:",
        b"+    * LIB-NAME: the client lib name.",
        b"+    * LIB-VER: the client lib version.",
        b"+NO-TOUCH (ON|OFF)",
        b"+    Will not touch LRU/LFU stats when this mode is on.",
    }
    assert [ln for ln in mine if ln not in added] == theirs
    assert added <= set(mine)


# --- KILL -----------------------------------------------------------------------------------------


def test_kill_old_form_by_address(srv: ServerProcess) -> None:
    with Raw(srv.port) as victim, Raw(srv.port) as killer:
        assert victim.call("PING") == b"+PONG\r\n"  # accepted and registered
        local = victim.sock.getsockname()
        assert killer.call("CLIENT", "KILL", f"{local[0]}:{local[1]}") == b"+OK\r\n"
        assert victim.wait_closed() == b""
        assert killer.call("CLIENT", "KILL", f"{local[0]}:{local[1]}") == b"-ERR No such client\r\n"


def test_kill_new_form_counts_and_filters(srv: ServerProcess) -> None:
    with Raw(srv.port) as a, Raw(srv.port) as b, Raw(srv.port) as s1, Raw(srv.port) as killer:
        s1.call("SUBSCRIBE", "kill:ch")
        assert killer.call("CLIENT", "KILL", "ID", str(client_id(a))) == b":1\r\n"
        assert a.wait_closed() == b""
        assert killer.call("CLIENT", "KILL", "TYPE", "pubsub", "ID", str(client_id(b))) == b":0\r\n"
        assert killer.call("CLIENT", "KILL", "TYPE", "pubsub") == b":1\r\n"
        assert s1.wait_closed() == b""
        local = b.sock.getsockname()
        assert killer.call("CLIENT", "KILL", "ADDR", f"{local[0]}:{local[1]}", "SKIPME", "yes") == b":1\r\n"
        assert b.wait_closed() == b""
        # The killer itself is skipped by default.
        assert killer.call("CLIENT", "KILL", "ID", str(client_id(killer))) == b":0\r\n"
        assert killer.call("PING") == b"+PONG\r\n"


def test_kill_by_laddr_and_user_and_yourself(srv: ServerProcess) -> None:
    with Raw(srv.port) as a, Raw(srv.port) as killer:
        a.call("PING")
        n = int(killer.call("CLIENT", "KILL", "LADDR", f"127.0.0.1:{srv.port}")[1:-2])
        assert n >= 1
        assert a.wait_closed() == b""
        assert killer.call("PING") == b"+PONG\r\n"
        # USER default SKIPME no: everyone, the caller last, after its reply.
        killer.send("CLIENT", "KILL", "USER", "default", "SKIPME", "no")
        r = killer.read()
        assert r.startswith(b":") and int(r[1:-2]) >= 1
        assert killer.wait_closed() == b""


def test_kill_yourself_with_the_old_form_replies_then_closes(srv: ServerProcess) -> None:
    with Raw(srv.port) as c:
        local = c.sock.getsockname()
        c.send_raw(b"CLIENT KILL %s:%d\r\nPING\r\n" % (local[0].encode(), local[1]))
        assert c.read() == b"+OK\r\n"
        assert c.wait_closed() == b""  # the pipelined PING is never answered


def test_killed_blocked_client_does_not_consume_later_pushes(srv: ServerProcess) -> None:
    with Raw(srv.port) as blocked, Raw(srv.port) as c:
        bid = client_id(blocked)
        blocked.send("BLPOP", "kq", "0")
        assert wait_until(lambda: b"flags=b" in c.call("CLIENT", "LIST", "ID", str(bid)))
        c.send("CLIENT", "KILL", "ID", str(bid))
        c.send("RPUSH", "kq", "v")
        assert c.read() == b":1\r\n"
        assert c.read() == b":1\r\n"
        assert c.call("LPOP", "kq") == b"$1\r\nv\r\n"
        assert blocked.wait_closed() == b""


# --- PAUSE / UNPAUSE --------------------------------------------------------------------------------


def _timed(conn: Raw, *args: str) -> tuple[bytes, float]:
    t = time.monotonic()
    r = conn.call(*args)
    return r, time.monotonic() - t


def test_pause_write_holds_writes_not_reads(srv: ServerProcess) -> None:
    with Raw(srv.port) as admin, Raw(srv.port) as c, Raw(srv.port) as tx:
        assert tx.call("MULTI") == b"+OK\r\n"
        assert admin.call("CLIENT", "PAUSE", "600", "WRITE") == b"+OK\r\n"
        r, took = _timed(c, "GET", "pw")
        assert r == b"$-1\r\n" and took < 0.4
        r, took = _timed(c, "PUBLISH", "pw", "x")  # may replicate: held too
        assert r == b":0\r\n" and took > 0.3
        assert admin.call("CLIENT", "PAUSE", "500", "WRITE") == b"+OK\r\n"
        r, took = _timed(tx, "SET", "pw", "1")  # even a write being queued waits
        assert r == b"+QUEUED\r\n" and took > 0.3
        assert tx.call("EXEC") == b"*1\r\n+OK\r\n"


def test_pause_all_holds_every_command_until_it_ends(srv: ServerProcess) -> None:
    with Raw(srv.port) as admin, Raw(srv.port) as c:
        t = time.monotonic()
        assert admin.call("CLIENT", "PAUSE", "800", "ALL") == b"+OK\r\n"
        c.send("GET", "pa")
        assert c.nothing_within(0.3)
        assert c.read(timeout=5) == b"$-1\r\n"
        assert time.monotonic() - t >= 0.7


def test_a_shorter_pause_does_not_shorten_and_unpause_ends_it(srv: ServerProcess) -> None:
    with Raw(srv.port) as admin, Raw(srv.port) as c:
        assert admin.call("CLIENT", "PAUSE", "20000", "WRITE") == b"+OK\r\n"
        c.send("SET", "pu", "1")
        assert c.nothing_within(0.3)
        assert admin.call("CLIENT", "PAUSE", "10", "WRITE") == b"+OK\r\n"
        assert c.nothing_within(0.3)
        assert admin.call("CLIENT", "UNPAUSE") == b"+OK\r\n"
        assert c.read(timeout=5) == b"+OK\r\n"


# --- UNBLOCK ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proto", "how", "expected"),
    [
        (2, "TIMEOUT", b"*-1\r\n"),
        (3, "TIMEOUT", b"_\r\n"),
        (2, "ERROR", b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"),
    ],
)
def test_unblock(srv: ServerProcess, proto: int, how: str, expected: bytes) -> None:
    with Raw(srv.port) as blocked, Raw(srv.port) as c:
        if proto == 3:
            blocked.call("HELLO", "3")
        bid = client_id(blocked)
        assert c.call("CLIENT", "UNBLOCK", str(bid)) == b":0\r\n"  # not blocked
        blocked.send("BLPOP", "ub", "0")
        assert wait_until(lambda: b"flags=b" in c.call("CLIENT", "LIST", "ID", str(bid)))
        assert c.call("CLIENT", "UNBLOCK", str(bid), how) == b":1\r\n"
        assert blocked.read() == expected
        assert blocked.call("PING") == b"+PONG\r\n"
        assert c.call("CLIENT", "UNBLOCK", str(bid)) == b":0\r\n"


# --- misc -------------------------------------------------------------------------------------------


def test_quit_closes_after_reply(srv: ServerProcess) -> None:
    with Raw(srv.port) as c:
        c.send_raw(b"QUIT\r\nPING\r\n")
        assert c.read() == b"+OK\r\n"
        with pytest.raises(Closed):
            c.read()


def test_client_id_is_unique_and_increasing(srv: ServerProcess) -> None:
    ids = []
    for _ in range(3):
        with Raw(srv.port) as c:
            ids.append(client_id(c))
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_no_touch_reads_leave_the_lru_order_alone() -> None:
    """Engine level (the LRU order is not observable over the wire except through eviction):
    a NO-TOUCH client's reads are not accesses; its TOUCH still is (Redis 7.2)."""
    eng = Engine()
    eng.config.maxmemory_policy = "allkeys-lru"
    eng.apply_memory_policy()
    c = Client(eng, NullTransport())
    eng.add_client(c)
    db = eng.keyspace[0]
    for k in (b"a", b"b", b"c"):
        assert eng.execute(c, [b"SET", k, b"1"]) == b"+OK\r\n"
    assert db.lru is not None
    assert eng.execute(c, [b"GET", b"a"]) == b"$1\r\n1\r\n"
    assert list(db.lru) == [b"b", b"c", b"a"]
    assert eng.execute(c, [b"CLIENT", b"NO-TOUCH", b"on"]) == b"+OK\r\n"
    assert eng.execute(c, [b"GET", b"b"]) == b"$1\r\n1\r\n"
    assert list(db.lru) == [b"b", b"c", b"a"]
    assert eng.execute(c, [b"TOUCH", b"b"]) == b":1\r\n"
    assert list(db.lru) == [b"c", b"a", b"b"]
    assert eng.execute(c, [b"CLIENT", b"NO-TOUCH", b"off"]) == b"+OK\r\n"
    assert eng.execute(c, [b"GET", b"c"]) == b"$1\r\n1\r\n"
    assert list(db.lru) == [b"a", b"b", b"c"]


def test_sentinel_reconfiguration_transaction_kills_clients(srv: ServerProcess) -> None:
    """What Sentinel sends to an instance it reconfigures: MULTI, REPLICAOF, CLIENT KILL TYPE
    normal, CLIENT KILL TYPE pubsub, EXEC. Every other client is dropped, the caller is kept."""
    with Raw(srv.port) as normal, Raw(srv.port) as sub, Raw(srv.port) as sentinel:
        assert normal.call("PING") == b"+PONG\r\n"
        assert sub.call("SUBSCRIBE", "__sentinel__:hello").endswith(b":1\r\n")
        assert sentinel.call("MULTI") == b"+OK\r\n"
        assert sentinel.call("REPLICAOF", "NO", "ONE") == b"+QUEUED\r\n"
        assert sentinel.call("CLIENT", "KILL", "TYPE", "normal") == b"+QUEUED\r\n"
        assert sentinel.call("CLIENT", "KILL", "TYPE", "pubsub") == b"+QUEUED\r\n"
        reply = sentinel.call("EXEC")
        assert reply.startswith(b"*3\r\n+OK\r\n:")
        assert reply.endswith(b":1\r\n")  # the one subscriber
        assert normal.wait_closed() == b""
        assert sub.wait_closed() == b""
        assert sentinel.call("PING") == b"+PONG\r\n"


def test_client_unpause_leaves_a_failover_pause_alone() -> None:
    """Redis 7.0 keeps pauses per purpose: CLIENT UNPAUSE ends the command's own pause only,
    never the write pause FAILOVER holds; a short CLIENT PAUSE ALL does not extend it either."""
    eng = Engine()
    c = Client(eng, NullTransport())
    eng.add_client(c)
    eng.pause_until = time.monotonic() + 60  # what FAILOVER does while it waits for the replica
    eng.pause_all = False
    assert eng.must_pause(c, [b"SET", b"k", b"v"]) and not eng.must_pause(c, [b"GET", b"k"])
    assert eng.execute(c, [b"CLIENT", b"PAUSE", b"150", b"ALL"]) == b"+OK\r\n"
    assert eng.must_pause(c, [b"GET", b"k"])
    time.sleep(0.25)
    assert not eng.must_pause(c, [b"GET", b"k"])  # the ALL pause is over ...
    assert eng.must_pause(c, [b"SET", b"k", b"v"])  # ... the failover's write pause is not
    assert eng.execute(c, [b"CLIENT", b"UNPAUSE"]) == b"+OK\r\n"
    assert eng.must_pause(c, [b"SET", b"k", b"v"]) and eng.writes_paused
    eng.pause_until = 0.0  # the failover ends
    assert not eng.must_pause(c, [b"SET", b"k", b"v"]) and not eng.writes_paused
