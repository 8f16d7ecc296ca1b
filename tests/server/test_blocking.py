"""Blocking list and sorted-set pops: who is served, when, with what, and what is propagated.

Most scenarios run on both our server and stock Redis 7.0 with the same expectations, so each
expectation is checked against the reference too. Every wait is bounded: a client is known to
be blocked when CLIENT LIST shows it with flag b, and "still blocked" means no reply within a
short window.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import ServerProcess
from tests.server.test_lists import Pair, Raw, ReplTap, pair, pair_servers  # noqa: F401

NULL_ARRAY = b"*-1\r\n"
OK = b"+OK\r\n"


class Srv:
    """One server of the pair, with raw connections closed at teardown."""

    def __init__(self, sp: ServerProcess, name: str) -> None:
        self.sp = sp
        self.name = name
        self.conns: list[Raw] = []
        self.admin = self.conn()

    def conn(self, resp3: bool = False) -> Raw:
        c = Raw(self.sp.port, resp3)
        self.conns.append(c)
        return c

    def blocked(self) -> int:
        return self.admin("CLIENT LIST").count(b"flags=b ")

    def wait_blocked(self, n: int) -> None:
        deadline = time.monotonic() + 5
        while self.blocked() != n:
            assert time.monotonic() < deadline, f"{self.name}: expected {n} blocked clients"
            time.sleep(0.01)

    def block(self, cmd: str, resp3: bool = False) -> Raw:
        """A new connection that sent `cmd` and is now blocked in it."""
        before = self.blocked()
        c = self.conn(resp3)
        c.send(cmd)
        self.wait_blocked(before + 1)
        return c

    def close(self) -> None:
        for c in self.conns:
            c.close()


@pytest.fixture(params=["ours", "stock"])
def srv(request: pytest.FixtureRequest, pair: Pair) -> Iterator[Srv]:  # noqa: F811
    s = Srv(pair.ours if request.param == "ours" else pair.stock, request.param)
    yield s
    s.close()


def _arr(*items: bytes) -> bytes:
    return b"*%d\r\n" % len(items) + b"".join(b"$%d\r\n%b\r\n" % (len(i), i) for i in items)


# --- timeouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cmd",
    [
        "BLPOP k1 k2 0.2",
        "BRPOP k1 0.2",
        "BLMOVE k1 d LEFT RIGHT 0.2",
        "BRPOPLPUSH k1 d 0.2",
        "BLMPOP 0.2 2 k1 k2 LEFT COUNT 3",
        "BZPOPMIN k1 0.2",
        "BZPOPMAX k1 k2 0.2",
        "BZMPOP 0.2 1 k1 MAX",
    ],
)
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_timeout_reply_and_duration(srv: Srv, cmd: str, resp3: bool) -> None:
    c = srv.conn(resp3)
    t0 = time.monotonic()
    reply = c(cmd)
    elapsed = time.monotonic() - t0
    assert reply == (b"_\r\n" if resp3 else NULL_ARRAY)  # a null array even for BLMOVE
    assert 0.15 <= elapsed < 3
    assert srv.blocked() == 0


@pytest.mark.parametrize("timeout", ["0.001", "0.0001", "+1e-9", "0x1p-20"])
def test_tiny_timeouts_still_time_out(srv: Srv, timeout: str) -> None:
    c = srv.conn()
    t0 = time.monotonic()
    assert c(f"BLPOP k {timeout}") == NULL_ARRAY
    assert time.monotonic() - t0 < 2


@pytest.mark.parametrize("timeout", ["0", "-0.0001", "-0"])
def test_zero_milliseconds_blocks_until_served(srv: Srv, timeout: str) -> None:
    c = srv.block(f"BLPOP k {timeout}")
    assert c.nothing_within(0.3)
    srv.admin("RPUSH k v")
    assert c.read() == _arr(b"k", b"v")


def test_timed_out_client_takes_nothing_later(srv: Srv) -> None:
    c = srv.conn()
    assert c("BLPOP k 0.05") == NULL_ARRAY
    srv.admin("RPUSH k v")
    assert srv.admin("LLEN k") == b":1\r\n"


# --- who is served -----------------------------------------------------------------------------


def test_fair_order_one_element_per_push(srv: Srv) -> None:
    a = srv.block("BLPOP k 0")
    b = srv.block("BRPOP k 0")
    c = srv.block("BLPOP k 0")
    srv.admin("RPUSH k 1")
    assert a.read() == _arr(b"k", b"1")
    assert b.nothing_within(0.2) and c.nothing_within(0.01)
    srv.admin("RPUSH k 2")
    assert b.read() == _arr(b"k", b"2")
    srv.admin("RPUSH k 3")
    assert c.read() == _arr(b"k", b"3")
    assert srv.admin("EXISTS k") == b":0\r\n"


def test_one_push_serves_several_clients_in_order(srv: Srv) -> None:
    a = srv.block("BLMPOP 0 1 k LEFT COUNT 2")
    b = srv.block("BLPOP k 0")
    c = srv.block("BRPOP k 0")
    d = srv.block("BLPOP k 0")
    assert srv.admin("RPUSH k a b c d") == b":4\r\n"
    assert a.read() == b"*2\r\n$1\r\nk\r\n" + _arr(b"a", b"b")
    assert b.read() == _arr(b"k", b"c")
    assert c.read() == _arr(b"k", b"d")
    assert d.nothing_within(0.2)
    assert srv.admin("EXISTS k") == b":0\r\n"


def test_served_from_the_key_that_became_ready(srv: Srv) -> None:
    """Redis 7.0 serves a client waiting on [a, b] from the key signalled first, not from a."""
    c = srv.block("BLPOP a b 0")
    x = srv.conn()
    assert x("MULTI") == OK
    x("RPUSH b x")
    x("RPUSH a y")
    assert x("EXEC") == b"*2\r\n:1\r\n:1\r\n"
    assert c.read() == _arr(b"b", b"x")
    assert srv.admin("LRANGE a 0 -1") == _arr(b"y")


def test_pushes_inside_multi_are_served_after_exec(srv: Srv) -> None:
    c = srv.block("BLPOP k 0")
    x = srv.conn()
    x("MULTI")
    x("LPUSH k a")
    x("LPUSH k b")
    x("LPUSH k c")
    x("LRANGE k 0 -1")
    assert x("EXEC") == b"*4\r\n:1\r\n:2\r\n:3\r\n" + _arr(b"c", b"b", b"a")
    assert c.read() == _arr(b"k", b"c")
    assert srv.admin("LRANGE k 0 -1") == _arr(b"b", b"a")


def test_push_and_pop_in_one_transaction_leaves_nothing_to_serve(srv: Srv) -> None:
    c = srv.block("BLPOP k 0")
    x = srv.conn()
    x("MULTI")
    x("RPUSH k a")
    x("LPOP k")
    assert x("EXEC") == b"*2\r\n:1\r\n$1\r\na\r\n"
    assert c.nothing_within(0.2)


def test_same_key_twice_is_waited_on_once(srv: Srv) -> None:
    c = srv.block("BLPOP k k k 0")
    srv.admin("RPUSH k a b")
    assert c.read() == _arr(b"k", b"a")
    assert srv.admin("LRANGE k 0 -1") == _arr(b"b")
    srv.admin("DEL k")
    d = srv.block("BLPOP k 0")
    srv.admin("RPUSH k z")
    assert d.read() == _arr(b"k", b"z")
    assert srv.blocked() == 0


def test_zset_waiters(srv: Srv) -> None:
    a = srv.block("BZPOPMIN z 0")
    b = srv.block("BZMPOP 0 1 z MAX COUNT 2")
    c = srv.block("BZPOPMAX z 0", resp3=True)
    srv.admin("ZADD z 1 a 2 b 3 c 4 d")
    assert a.read() == b"*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n"
    assert b.read() == b"*2\r\n$1\r\nz\r\n*2\r\n" + _arr(b"d", b"4") + _arr(b"c", b"3")
    assert c.read() == b"*3\r\n$1\r\nz\r\n$1\r\nb\r\n,2\r\n"
    assert srv.admin("EXISTS z") == b":0\r\n"


def test_list_waiter_ignores_a_zset_and_vice_versa(srv: Srv) -> None:
    lw = srv.block("BLPOP k 0")
    zw = srv.block("BZPOPMIN k 0")
    srv.admin("ZADD k 1 m")
    assert zw.read() == b"*3\r\n$1\r\nk\r\n$1\r\nm\r\n$1\r\n1\r\n"
    assert lw.nothing_within(0.2)
    srv.admin("RPUSH k v")
    assert lw.read() == _arr(b"k", b"v")


def test_key_recreated_with_another_type_keeps_the_client_blocked(srv: Srv) -> None:
    """Redis 7.0: a list waiter is only ever served from a list; a string does not wake it."""
    c = srv.block("BLPOP k 0")
    srv.admin("SET k str")
    assert c.nothing_within(0.3)
    srv.admin("DEL k")
    srv.admin("SADD k m")
    assert c.nothing_within(0.2)
    srv.admin("DEL k")
    srv.admin("RPUSH k v")
    assert c.read() == _arr(b"k", b"v")


def test_blmove_to_a_wrong_type_destination_fails_without_popping(srv: Srv) -> None:
    c = srv.block("BLMOVE src dst LEFT RIGHT 0")
    srv.admin("SET dst s")
    srv.admin("RPUSH src e")
    assert c.read().startswith(b"-WRONGTYPE")
    assert srv.admin("LRANGE src 0 -1") == _arr(b"e")
    assert srv.blocked() == 0


def test_blmove_feeds_a_client_blocked_on_the_destination(srv: Srv) -> None:
    pop = srv.block("BLPOP target 0")
    mv = srv.block("BLMOVE blist target LEFT RIGHT 0")
    srv.admin("RPUSH blist foo")
    assert mv.read() == b"$3\r\nfoo\r\n"
    assert pop.read() == _arr(b"target", b"foo")
    assert srv.admin("EXISTS blist target") == b":0\r\n"


def test_linked_circular_and_self_referential_moves(srv: Srv) -> None:
    a = srv.block("BLMOVE list1 list2 RIGHT LEFT 0")
    b = srv.block("BLMOVE list2 list3 LEFT RIGHT 0")
    srv.admin("RPUSH list1 foo")
    assert a.read() == b"$3\r\nfoo\r\n" and b.read() == b"$3\r\nfoo\r\n"
    assert srv.admin("LRANGE list3 0 -1") == _arr(b"foo")
    assert srv.admin("EXISTS list1 list2") == b":0\r\n"
    c = srv.block("BRPOPLPUSH l1 l2 0")
    d = srv.block("BRPOPLPUSH l2 l1 0")
    srv.admin("RPUSH l1 bar")
    assert c.read() == b"$3\r\nbar\r\n" and d.read() == b"$3\r\nbar\r\n"
    assert srv.admin("LRANGE l1 0 -1") == _arr(b"bar")
    assert srv.admin("EXISTS l2") == b":0\r\n"
    e = srv.block("BRPOPLPUSH self self 0")
    srv.admin("RPUSH self baz")
    assert e.read() == b"$3\r\nbaz\r\n"
    assert srv.admin("LRANGE self 0 -1") == _arr(b"baz")


def test_rename_onto_a_waited_key_serves_it(srv: Srv) -> None:
    c = srv.block("BLPOP k 0")
    srv.admin("RPUSH tmp v")
    srv.admin("RENAME tmp k")
    assert c.read() == _arr(b"k", b"v")


def test_swapdb_serves_a_waiter(srv: Srv) -> None:
    c = srv.block("BLPOP k 0")
    x = srv.conn()
    x("SELECT 1")
    x("RPUSH k v")
    assert x("SWAPDB 0 1") == OK
    assert c.read() == _arr(b"k", b"v")


def test_other_databases_stay_separate(srv: Srv) -> None:
    c = srv.conn()
    c("SELECT 9")
    c.send("BLPOP k 0")
    srv.wait_blocked(1)
    srv.admin("RPUSH k in-db0")
    assert c.nothing_within(0.3)
    assert srv.admin("LLEN k") == b":1\r\n"
    x = srv.conn()
    x("SELECT 3")
    x("RPUSH k in-db3")
    assert x("MOVE k 9") == b":1\r\n"
    assert c.read() == _arr(b"k", b"in-db3")
    assert srv.admin("LLEN k") == b":1\r\n"


# --- connections going away ------------------------------------------------------------------------


def _wait_clients(srv: Srv, n: int) -> None:
    deadline = time.monotonic() + 5
    while srv.admin("CLIENT LIST").count(b"id=") != n:
        assert time.monotonic() < deadline, f"{srv.name}: expected {n} clients"
        time.sleep(0.01)


def test_disconnected_waiter_consumes_nothing(srv: Srv) -> None:
    c = srv.block("BLPOP k 0")
    c.close()
    srv.conns.remove(c)
    _wait_clients(srv, 1)
    assert srv.blocked() == 0
    srv.admin("RPUSH k v")
    assert srv.admin("LRANGE k 0 -1") == _arr(b"v")


def test_disconnect_after_pipelined_input_is_noticed(srv: Srv) -> None:
    c = srv.block("BLPOP k 0")
    c.send("PING")  # buffered while blocked
    c.close()
    srv.conns.remove(c)
    _wait_clients(srv, 1)
    srv.admin("RPUSH k v")
    assert srv.admin("LLEN k") == b":1\r\n"


def test_client_kill_frees_a_blocked_client(srv: Srv) -> None:
    c = srv.block("BRPOPLPUSH src dst 0")
    assert srv.admin(f"CLIENT KILL ID {_id_of(srv, c)}") == b":1\r\n"
    assert c.closed_within(5)
    srv.admin("RPUSH src v")
    assert srv.admin("LRANGE src 0 -1") == _arr(b"v")
    assert srv.admin("EXISTS dst") == b":0\r\n"


def _id_of(srv: Srv, c: Raw) -> int:
    """The id of the (blocked) client behind `c`, from CLIENT LIST by its local port."""
    port = c.sock.getsockname()[1]
    for line in srv.admin("CLIENT LIST").split(b"\n"):
        if f"addr=127.0.0.1:{port} ".encode() in line:
            return int(line.split(b" ")[0].split(b"=")[1])
    raise AssertionError(f"no client on port {port}")


def test_client_kill_then_push_in_one_transaction(srv: Srv) -> None:
    c = srv.block("BLPOP k 0")
    cid = _id_of(srv, c)
    x = srv.conn()
    x("MULTI")
    x(f"CLIENT KILL ID {cid}")
    x("RPUSH k v")
    assert x("EXEC") == b"*2\r\n:1\r\n:1\r\n"
    assert c.closed_within(5)
    assert srv.admin("LRANGE k 0 -1") == _arr(b"v")


def test_client_unblock(srv: Srv) -> None:
    c = srv.block("BLPOP k 0")
    assert srv.admin(f"CLIENT UNBLOCK {_id_of(srv, c)}") == b":1\r\n"
    assert c.read() == NULL_ARRAY
    d = srv.block("BZPOPMIN k 0")
    assert srv.admin(f"CLIENT UNBLOCK {_id_of(srv, d)} ERROR") == b":1\r\n"
    assert d.read() == b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    assert srv.admin(f"CLIENT UNBLOCK {_id_of(srv, d)}") == b":0\r\n"  # not blocked any more
    srv.admin("RPUSH k v")
    assert srv.admin("LLEN k") == b":1\r\n"


# --- pipelining, WATCH ---------------------------------------------------------------------------


def test_commands_pipelined_after_a_block_run_after_it(srv: Srv) -> None:
    c = srv.conn()
    c.sock.sendall(
        b"*3\r\n$5\r\nBLPOP\r\n$1\r\nk\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nLLEN\r\n$1\r\nk\r\n"
    )
    srv.wait_blocked(1)
    assert c.nothing_within(0.2)
    srv.admin("RPUSH k a b")
    assert c.read() == _arr(b"k", b"a")
    assert c.read() == b"+PONG\r\n"
    assert c.read() == b":1\r\n"


def test_push_made_by_a_served_move_invalidates_watch(srv: Srv) -> None:
    mover = srv.block("BRPOPLPUSH srclist dstlist 0")
    w = srv.conn()
    assert w("WATCH dstlist") == OK
    srv.admin("RPUSH srclist element")
    assert mover.read() == b"$7\r\nelement\r\n"
    w("MULTI")
    w("LLEN dstlist")
    assert w("EXEC") == NULL_ARRAY


def test_a_waiter_alone_does_not_invalidate_watch(srv: Srv) -> None:
    srv.block("BRPOPLPUSH srclist dstlist 0")
    w = srv.conn()
    assert w("WATCH dstlist") == OK
    w("MULTI")
    w("LLEN dstlist")
    assert w("EXEC") == b"*1\r\n:0\r\n"


# --- propagation -----------------------------------------------------------------------------------


def _served_stream(sp: ServerProcess) -> list[list[bytes]]:
    """Block clients in every blocking command, serve them, and tap what is propagated."""
    tap = ReplTap(sp.port)
    s = Srv(sp, "x")
    try:
        waiters = [
            s.block("BLPOP w1 0"),
            s.block("BRPOP w1b 0"),
            s.block("BLMPOP 0 1 w2 RIGHT COUNT 5"),
            s.block("BLMOVE w3 w4 RIGHT LEFT 0"),
            s.block("BRPOPLPUSH w5 w6 0"),
            s.block("BZPOPMAX w7 0"),
            s.block("BZMPOP 0 1 w8 MAX COUNT 5"),
            s.block("BZPOPMIN w9 0"),
        ]
        x = s.conn()
        x("RPUSH w1 v1")
        x("RPUSH w1b v1 v2")
        x("RPUSH w2 p q r")
        x("RPUSH w3 p q r")
        x("RPUSH w5 p q r")
        x("ZADD w7 1 p 2 q")
        x("ZADD w8 1 p 2 q")
        x("MULTI")
        x("ZADD w9 1 a")
        x("ZADD w9 2 b")
        x("EXEC")
        for w in waiters:
            w.read()
        y = s.conn()
        y("SELECT 5")
        y.send("BLPOP k 0")
        s.wait_blocked(1)
        x("SELECT 2")
        x("RPUSH k v")
        x("MOVE k 5")
        y.read()
        return tap.commands(s.admin)
    finally:
        tap.close()
        s.close()


def test_served_waiters_propagate_like_stock(pair: Pair) -> None:  # noqa: F811
    ours = _served_stream(pair.ours)
    stock = _served_stream(pair.stock)
    assert ours == stock
    assert [b"LPOP", b"w1"] in ours
    assert [b"RPOP", b"w2", b"3"] in ours
    assert [b"LMOVE", b"w3", b"w4", b"right", b"left"] in ours
    assert [b"RPOPLPUSH", b"w5", b"w6"] in ours
    assert [b"ZPOPMAX", b"w8", b"2"] in ours
    i = ours.index([b"EXEC"])
    assert ours[i + 1] == [b"ZPOPMIN", b"w9"]  # served after the transaction


@pytest.mark.parametrize("stock", [False, True], ids=["ours", "stock"])
def test_key_expired_before_exec_ends_serves_nobody(start_server: object, stock: bool) -> None:
    """MULTI; LPUSH; PEXPIRE; DEBUG SLEEP; EXEC: the key is gone when waiters are served."""
    extra = ("--enable-debug-command", "yes") if stock else ()
    sp = start_server("--save", "", *extra, stock=stock)  # type: ignore[operator]
    s = Srv(sp, "stock" if stock else "ours")
    try:
        c = s.block("BLPOP k 0")
        assert s.admin("DEBUG SET-ACTIVE-EXPIRE 0") == OK
        x = s.conn()
        x("MULTI")
        x("LPUSH k v")
        x("PEXPIRE k 100")
        x("DEBUG SLEEP 0.2")
        assert x("EXEC") == b"*3\r\n:1\r\n:1\r\n+OK\r\n"
        assert c.nothing_within(0.3)
        assert s.admin("EXISTS k") == b":0\r\n"
        s.admin("RPUSH k later")
        assert c.read() == _arr(b"k", b"later")
    finally:
        s.close()
