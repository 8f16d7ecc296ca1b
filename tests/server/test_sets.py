"""Set commands against a real server, with stock Redis 7.0 as the reference for replies.

Set replies come back in hash order, which differs between implementations, so comparisons with
stock sort the members of unordered replies; everything else (reply types, RESP3 `~` vs `*`,
error texts, the order of checks) must match exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from server.client import Client, NullTransport
from server.commands import sets as sets_mod
from server.engine import Engine
from tests.conftest import ServerProcess
from tests.server.differential import Reply, RespConn

# redis-py's annotations reject the bytes and int arguments the server takes.
Redis = Any

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


# --- helpers ----------------------------------------------------------------------------------------


def _conn(sp: ServerProcess, proto: int) -> RespConn:
    conn = RespConn(sp.port)
    if proto == 3:
        assert conn.call("HELLO", "3")[0] == "%"
    return conn


def _norm(argv: tuple[str, ...], rep: Reply) -> Reply:
    """Sort the members of replies whose order Redis leaves unspecified."""
    kind, value = rep
    name = argv[0].lower()
    unordered = name in ("smembers", "sinter", "sunion", "sdiff") or (
        name in ("spop", "srandmember") and len(argv) == 3 and not argv[2].startswith("-")
    )
    if kind in ("*", "~") and unordered and isinstance(value, tuple):
        return kind, tuple(sorted(value))
    return rep


def _compare(ours: ServerProcess, stock: ServerProcess, script: list[tuple[str, ...]], proto: int) -> None:
    a, b = _conn(ours, proto), _conn(stock, proto)
    try:
        for argv in script:
            ra, rb = a.call(*argv), b.call(*argv)
            assert _norm(argv, ra) == _norm(argv, rb), f"{argv}: ours={ra!r} stock={rb!r}"
    finally:
        a.sock.close()
        b.sock.close()


def _gone(r: Redis, key: str) -> bool:
    return r.exists(key) == 0


# --- in-process engine (propagation, pools) ----------------------------------------------------------


class _Capture:
    """A propagation sink that records every command the engine propagates."""

    def __init__(self) -> None:
        self.data: list[bytes] = []

    def feed(self, db_id: int, data: bytes) -> None:
        self.data.append(data)

    def commands(self) -> list[list[bytes]]:
        out = []
        for d in self.data:
            parts = d.split(b"\r\n")
            n = int(parts[0][1:])
            out.append([parts[2 + 2 * i] for i in range(n)])
        return [c for c in out if c[0].upper() not in (b"MULTI", b"EXEC")]


@pytest.fixture
def eng() -> Iterator[tuple[Engine, Client, _Capture]]:
    e = Engine()
    cap = _Capture()
    e.sinks.append(cap)
    c = Client(e, NullTransport())
    yield e, c, cap


def _run(e: Engine, c: Client, *args: str | bytes) -> bytes:
    argv = [a if isinstance(a, bytes) else a.encode() for a in args]
    r = e.execute(c, argv)
    assert isinstance(r, bytes)
    return r


# --- SADD / SREM / SMEMBERS / SCARD / SISMEMBER / SMISMEMBER -----------------------------------------


def test_sadd_counts_only_new_members_and_srem_deletes_emptied_key(r: Redis) -> None:
    assert r.sadd("s", "a", "b", "a") == 2
    assert r.sadd("s", "b", "c") == 1
    assert r.smembers("s") == {b"a", b"b", b"c"}
    assert r.scard("s") == 3
    assert r.srem("s", "a", "zz", "a") == 1
    assert r.srem("nokey", "a") == 0
    assert r.srem("s", "b", "c") == 2
    assert _gone(r, "s")
    assert r.scard("s") == 0
    assert r.smembers("s") == set()


def test_membership_queries(r: Redis) -> None:
    r.sadd("s", "a", "b")
    assert r.execute_command("SISMEMBER", "s", "a") == 1
    assert r.execute_command("SISMEMBER", "s", "zz") == 0
    assert r.execute_command("SISMEMBER", "nokey", "a") == 0
    assert r.execute_command("SMISMEMBER", "s", "a", "zz", "b", "a") == [1, 0, 1, 1]
    assert r.execute_command("SMISMEMBER", "nokey", "a", "b") == [0, 0]


def test_small_integer_sets_come_out_sorted_like_an_intset(r: Redis, server: ServerProcess) -> None:
    conn = _conn(server, 2)

    def members(*argv: str) -> list[bytes]:
        kind, value = conn.call(*argv)
        assert kind == "*"
        return [v for _, v in value]

    r.sadd("i", 3, 1, 2, 10, -5)
    assert members("SMEMBERS", "i") == [b"-5", b"1", b"2", b"3", b"10"]
    r.sadd("j", 2, 3, 4, 10)
    assert members("SINTER", "i", "j") == [b"2", b"3", b"10"]
    assert members("SUNION", "i", "j") == [b"-5", b"1", b"2", b"3", b"4", b"10"]
    assert members("SDIFF", "i", "j") == [b"-5", b"1"]
    assert members("SRANDMEMBER", "i", "10") == [b"-5", b"1", b"2", b"3", b"10"]
    # not integers by Redis's rules: no numeric order promised, but the contents are right
    r.sadd("k", "01", "1", "+2")
    assert sorted(members("SMEMBERS", "k")) == [b"+2", b"01", b"1"]
    conn.sock.close()


def test_wrongtype_on_every_set_command(r: Redis) -> None:
    r.set("str", "x")
    r.sadd("s", "a")
    calls = [
        ("SADD", "str", "a"),
        ("SREM", "str", "a"),
        ("SMEMBERS", "str"),
        ("SISMEMBER", "str", "a"),
        ("SMISMEMBER", "str", "a"),
        ("SCARD", "str"),
        ("SPOP", "str"),
        ("SPOP", "str", "0"),
        ("SRANDMEMBER", "str"),
        ("SRANDMEMBER", "str", "0"),
        ("SINTER", "nokey", "str"),
        ("SINTER", "s", "nokey", "str"),
        ("SUNION", "nokey", "str"),
        ("SDIFF", "nokey", "str"),
        ("SDIFF", "s", "str"),
        ("SINTERSTORE", "d", "nokey", "str"),
        ("SUNIONSTORE", "d", "str"),
        ("SDIFFSTORE", "d", "nokey", "str"),
        ("SINTERCARD", "2", "nokey", "str"),
        ("SMOVE", "str", "s", "a"),
        ("SMOVE", "s", "str", "a"),
        ("SMOVE", "s", "str", "zz"),
        ("SSCAN", "str", "0"),
    ]
    for argv in calls:
        with pytest.raises(redis.ResponseError, match=r"^" + WRONGTYPE):
            r.execute_command(*argv)
    assert r.get("str") == b"x"
    assert r.smembers("s") == {b"a"}
    assert r.exists("d") == 0


def test_arity_errors(r: Redis) -> None:
    for argv in [("SADD", "s"), ("SREM", "s"), ("SMISMEMBER", "s"), ("SCARD",), ("SMOVE", "a", "b")]:
        with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
            r.execute_command(*argv)
    with pytest.raises(redis.ResponseError, match=r"^syntax error"):
        r.execute_command("SPOP", "s", "1", "2")
    with pytest.raises(redis.ResponseError, match=r"^syntax error"):
        r.execute_command("SRANDMEMBER", "s", "1", "2")


# --- SPOP / SRANDMEMBER ----------------------------------------------------------------------------


def test_spop_single_and_count(r: Redis) -> None:
    members = {b"m%d" % i for i in range(10)}
    r.sadd("s", *members)
    one = r.spop("s")
    assert one in members
    assert r.sismember("s", one) == 0
    popped = r.spop("s", 4)
    assert isinstance(popped, list) and len(popped) == 4 and len(set(popped)) == 4
    assert set(popped) <= members - {one}
    assert r.scard("s") == 5
    rest = r.spop("s", 100)
    assert set(rest) | set(popped) | {one} == members
    assert _gone(r, "s")
    assert r.spop("s") is None
    assert r.spop("s", 3) == []
    r.sadd("t", "x")
    assert r.spop("t", 0) == []
    assert r.scard("t") == 1
    assert r.spop("t") == b"x"
    assert _gone(r, "t")


@pytest.mark.parametrize("bad", ["-1", "x", "-0", "9223372036854775808", "1.5"])
def test_spop_count_must_be_positive(r: Redis, bad: str) -> None:
    r.sadd("s", "a")
    with pytest.raises(redis.ResponseError, match=r"^value is out of range, must be positive$"):
        r.execute_command("SPOP", "s", bad)
    with pytest.raises(redis.ResponseError, match=r"^value is out of range, must be positive$"):
        r.execute_command("SPOP", "nokey", bad)


def test_spop_drains_a_big_set_exactly_once_each(r: Redis) -> None:
    members = [b"%d" % i for i in range(300)] + [b"x%d" % i for i in range(300)]
    r.sadd("s", *members)
    seen = []
    for _ in range(200):
        seen.append(r.spop("s"))
    seen += r.spop("s", 150)
    r.sadd("s", "new")  # a change between pops must be visible to the next pick
    seen += r.spop("s", 1000)
    assert Counter(seen) == Counter([*members, b"new"])
    assert _gone(r, "s")


def test_srandmember_counts(r: Redis) -> None:
    members = {b"a", b"b", b"c", b"d", b"e"}
    r.sadd("s", *members)
    assert r.srandmember("s") in members
    for n in (1, 2, 4):
        got = r.srandmember("s", n)
        assert len(got) == n and len(set(got)) == n and set(got) <= members
    assert sorted(r.srandmember("s", 5)) == sorted(members)
    assert sorted(r.srandmember("s", 100)) == sorted(members)
    rep = r.srandmember("s", -20)
    assert len(rep) == 20 and set(rep) <= members
    assert r.srandmember("s", 0) == []
    assert r.srandmember("nokey") is None
    assert r.srandmember("nokey", 5) == []
    assert r.srandmember("nokey", -5) == []
    assert r.scard("s") == 5  # read-only
    with pytest.raises(redis.ResponseError, match=r"^value is not an integer or out of range$"):
        r.srandmember("nokey", "x")
    with pytest.raises(redis.ResponseError, match="value must between -9223372036854775807 and"):
        r.srandmember("s", "-9223372036854775808")


def test_random_picks_cover_a_big_set(r: Redis) -> None:
    members = {b"%d" % i for i in range(200)}
    r.sadd("s", *members)
    seen = set()
    for _ in range(3000):
        seen.add(r.srandmember("s"))
    assert seen == members
    many = r.srandmember("s", -20000)
    counts = Counter(many)
    assert set(counts) == members
    assert min(counts.values()) > 40 and max(counts.values()) < 200  # ~100 each
    r.srem("s", "5")  # the removed member must never be picked again
    assert b"5" not in r.srandmember("s", -5000)
    assert b"5" not in {r.srandmember("s") for _ in range(500)}
    distinct = r.srandmember("s", 150)
    assert len(set(distinct)) == 150 and set(distinct) <= members - {b"5"}


# --- SINTER / SUNION / SDIFF and their STORE forms, SINTERCARD -------------------------------------------


def test_set_algebra(r: Redis) -> None:
    r.sadd("a", "1", "2", "3", "x")
    r.sadd("b", "2", "3", "4")
    r.sadd("c", "3", "x", "5")
    assert r.sinter("a", "b") == {b"2", b"3"}
    assert r.sinter("a", "b", "c") == {b"3"}
    assert r.sinter("a", "nokey") == set()
    assert r.sinter("a") == {b"1", b"2", b"3", b"x"}
    assert r.sunion("a", "b", "nokey") == {b"1", b"2", b"3", b"4", b"x"}
    assert r.sdiff("a", "b") == {b"1", b"x"}
    assert r.sdiff("a", "b", "c") == {b"1"}
    assert r.sdiff("a", "nokey") == {b"1", b"2", b"3", b"x"}
    assert r.sdiff("nokey", "a") == set()
    assert r.sdiff("a", "a") == set()
    assert r.execute_command("SINTERCARD", 2, "a", "b") == 2
    assert r.execute_command("SINTERCARD", 1, "a") == 4
    assert r.execute_command("SINTERCARD", 1, "a", "LIMIT", 2) == 2
    assert r.execute_command("SINTERCARD", 1, "a", "limit", 0) == 4
    assert r.execute_command("SINTERCARD", 1, "a", "LIMIT", 1, "LIMIT", 9) == 4
    assert r.execute_command("SINTERCARD", 2, "a", "nokey") == 0


def test_store_forms(r: Redis) -> None:
    r.sadd("a", "1", "2", "3")
    r.sadd("b", "2", "3", "4")
    assert r.sinterstore("d", "a", "b") == 2
    assert r.smembers("d") == {b"2", b"3"}
    assert r.sunionstore("d", "a", "b") == 4
    assert r.smembers("d") == {b"1", b"2", b"3", b"4"}
    assert r.sdiffstore("d", "a", "b") == 1
    assert r.smembers("d") == {b"1"}
    # the destination may hold any type: it is replaced, and its TTL is dropped
    r.set("d", "string", ex=100)
    assert r.sunionstore("d", "a") == 3
    assert r.type("d") == b"set"
    assert r.ttl("d") == -1
    # the result aliases nothing: changing the source leaves the copy alone
    r.sadd("a", "99")
    assert r.scard("d") == 3
    # an empty result deletes the destination
    for cmd in ("SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"):
        r.set("d", "x")
        assert r.execute_command(cmd, "d", "nokey") == 0
        assert _gone(r, "d")
    r.set("d", "x")
    assert r.sdiffstore("d", "a", "a") == 0
    assert _gone(r, "d")
    # the destination can be one of the sources
    assert r.sinterstore("a", "a", "b") == 2
    assert r.smembers("a") == {b"2", b"3"}


@pytest.mark.parametrize(
    "argv,error",
    [
        (("SINTERCARD", "0", "a"), "numkeys should be greater than 0"),
        (("SINTERCARD", "-1", "a"), "numkeys should be greater than 0"),
        (("SINTERCARD", "x", "a"), "numkeys should be greater than 0"),
        (("SINTERCARD", "2", "a"), "Number of keys can't be greater than number of args"),
        (("SINTERCARD", "9223372036854775807", "a"), "Number of keys can't be greater than number of args"),
        (("SINTERCARD", "1", "a", "LIMIT", "-1"), "LIMIT can't be negative"),
        (("SINTERCARD", "1", "a", "LIMIT", "x"), "LIMIT can't be negative"),
        (("SINTERCARD", "1", "a", "LIMIT"), "syntax error"),
        (("SINTERCARD", "1", "a", "foo", "1"), "syntax error"),
        (("SINTERCARD", "1", "nokey", "str"), "syntax error"),
    ],
)
def test_sintercard_errors(r: Redis, argv: tuple[str, ...], error: str) -> None:
    r.set("str", "x")
    with pytest.raises(redis.ResponseError, match=r"^" + error + "$"):
        r.execute_command(*argv)


# --- SMOVE --------------------------------------------------------------------------------------------


def test_smove(r: Redis) -> None:
    r.sadd("src", "a", "b")
    r.sadd("dst", "b")
    assert r.smove("src", "dst", "a") == 1
    assert r.smembers("src") == {b"b"} and r.smembers("dst") == {b"a", b"b"}
    assert r.smove("src", "dst", "zz") == 0
    assert r.smove("src", "dst", "b") == 1  # already in dst: still moved out of src
    assert _gone(r, "src")
    assert r.smembers("dst") == {b"a", b"b"}
    assert r.smove("nokey", "dst", "a") == 0
    assert r.smove("dst", "new", "a") == 1
    assert r.smembers("new") == {b"a"}
    assert r.smove("dst", "dst", "b") == 1
    assert r.smove("dst", "dst", "zz") == 0
    assert r.smembers("dst") == {b"b"}
    r.set("str", "x")
    assert r.smove("nokey", "str", "a") == 0  # a missing source wins over a bad destination


# --- SSCAN ---------------------------------------------------------------------------------------------


def test_sscan_iterates_everything(r: Redis) -> None:
    members = {b"m%d" % i for i in range(1000)} | {b"other%d" % i for i in range(50)}
    r.sadd("s", *members)
    assert set(r.sscan_iter("s", count=37)) == members
    assert set(r.sscan_iter("s", match="other*")) == {m for m in members if m.startswith(b"other")}
    r.sadd("small", 3, 1, 2)
    assert r.sscan("small", 0) == (0, [b"1", b"2", b"3"])
    assert r.sscan("nokey", 0) == (0, [])


# --- RESP3 shapes and stock comparisons --------------------------------------------------------------------

_SCRIPT: list[tuple[str, ...]] = [
    ("SET", "str", "x"),
    ("SADD", "s1", "a", "b", "c"),
    ("SADD", "s2", "b", "c", "d"),
    ("SADD", "i1", "3", "1", "2", "10", "-5"),
    ("SADD", "i2", "2", "3", "4", "10"),
    ("SADD", "s1", "a"),
    ("SMEMBERS", "s1"),
    ("SMEMBERS", "i1"),
    ("SMEMBERS", "nokey"),
    ("SINTER", "s1", "s2"),
    ("SINTER", "i1", "i2"),
    ("SINTER", "nokey", "s1"),
    ("SUNION", "i1", "i2"),
    ("SDIFF", "i1", "i2"),
    ("SDIFF", "nokey", "s1"),
    ("SINTERSTORE", "d", "s1", "s2"),
    ("SUNIONSTORE", "d", "nokey"),
    ("SISMEMBER", "s1", "a"),
    ("SMISMEMBER", "s1", "a", "z"),
    ("SMISMEMBER", "nokey", "a"),
    ("SCARD", "s1"),
    ("SRANDMEMBER", "nokey"),
    ("SRANDMEMBER", "nokey", "2"),
    ("SRANDMEMBER", "s1", "0"),
    ("SRANDMEMBER", "s1", "5"),
    ("SRANDMEMBER", "i1", "50"),
    ("SRANDMEMBER", "str", "0"),
    ("SRANDMEMBER", "nokey", "x"),
    ("SRANDMEMBER", "s1", "-9223372036854775808"),
    ("SRANDMEMBER", "s1", "x", "y"),
    ("SPOP", "nokey"),
    ("SPOP", "nokey", "2"),
    ("SPOP", "s1", "0"),
    ("SPOP", "nokey", "0"),
    ("SPOP", "str", "0"),
    ("SPOP", "s1", "-1"),
    ("SPOP", "i1", "100"),
    ("SPOP", "i1"),
    ("SINTERCARD", "2", "s1", "s2"),
    ("SINTERCARD", "2", "s1", "s2", "LIMIT", "1"),
    ("SINTERCARD", "2", "str", "s1", "foo"),
    ("SINTERCARD", "2", "nokey", "s1", "limit", "x"),
    ("SINTERCARD", "2", "nokey", "str", "limit", "1"),
    ("SMOVE", "s1", "s2", "a"),
    ("SMOVE", "s1", "str", "zz"),
    ("SMOVE", "str", "nokey", "a"),
    ("SMOVE", "s2", "s2", "a"),
    ("SSCAN", "i2", "0"),
    ("SSCAN", "i2", "0", "MATCH", "1*"),
    ("SSCAN", "nokey", "0"),
    ("SSCAN", "str", "0"),
    ("SSCAN", "i2", "x"),
    ("SSCAN", "i2", "0", "COUNT", "0"),
    ("SCARD", "s2"),
    ("SMEMBERS", "s2"),
]


@pytest.mark.parametrize("proto", [2, 3])
def test_replies_match_stock(start_server: object, proto: int) -> None:
    ours = start_server("--save", "")  # type: ignore[operator]
    stock = start_server("--save", "", "--appendonly", "no", stock=True)  # type: ignore[operator]
    _compare(ours, stock, _SCRIPT, proto)


def test_resp3_reply_types(server: ServerProcess) -> None:
    conn = _conn(server, 3)
    conn.call("SADD", "s", "a", "b", "c")
    assert conn.call("SMEMBERS", "s")[0] == "~"
    assert conn.call("SINTER", "s", "s")[0] == "~"
    assert conn.call("SUNION", "s")[0] == "~"
    assert conn.call("SDIFF", "s", "nokey")[0] == "~"
    assert conn.call("SRANDMEMBER", "s", "2")[0] == "*"  # Redis 7.0 answers arrays here
    assert conn.call("SRANDMEMBER", "s", "-2")[0] == "*"
    assert conn.call("SMISMEMBER", "s", "a") == ("*", ((":", 1),))
    assert conn.call("SPOP", "s", "1")[0] == "~"
    assert conn.call("SPOP", "s", "0") == ("~", ())
    assert conn.call("SPOP", "nokey") == ("_", None)
    assert conn.call("SRANDMEMBER", "nokey") == ("_", None)
    assert conn.call("SPOP", "s", "10")[0] == "~"
    conn.sock.close()


# --- propagation (in-process engine with a capturing sink) --------------------------------------------


def test_spop_propagates_as_srem_and_del(eng: tuple[Engine, Client, _Capture]) -> None:
    e, c, cap = eng
    _run(e, c, "SADD", "s", *[f"m{i}" for i in range(10)])
    cap.data.clear()
    one = _run(e, c, "SPOP", "s")
    popped = one.split(b"\r\n")[1]
    assert cap.commands() == [[b"SREM", b"s", popped]]
    cap.data.clear()
    rep = _run(e, c, "SPOP", "s", "3")
    got = rep.split(b"\r\n")[2::2][:3]
    assert sorted(cap.commands()) == sorted([b"SREM", b"s", m] for m in got)
    cap.data.clear()
    _run(e, c, "SPOP", "s", "6")  # exactly the rest: the key goes, propagated as DEL
    assert cap.commands() == [[b"DEL", b"s"]]
    assert e.keyspace[0].lookup(b"s") is None
    cap.data.clear()
    _run(e, c, "SADD", "t", "only")
    _run(e, c, "SPOP", "t")
    assert cap.commands() == [[b"SADD", b"t", b"only"], [b"SREM", b"t", b"only"]]
    assert e.keyspace[0].lookup(b"t") is None


def test_no_ops_are_not_propagated(eng: tuple[Engine, Client, _Capture]) -> None:
    e, c, cap = eng
    _run(e, c, "SADD", "s", "a")
    cap.data.clear()
    for argv in [
        ("SADD", "s", "a"),
        ("SREM", "s", "zz"),
        ("SREM", "nokey", "a"),
        ("SMOVE", "s", "s", "a"),
        ("SMOVE", "nokey", "s", "a"),
        ("SMOVE", "s", "d", "zz"),
        ("SINTERSTORE", "d", "s", "nokey"),
        ("SUNIONSTORE", "d", "nokey"),
        ("SDIFFSTORE", "d", "s", "s"),
        ("SPOP", "s", "0"),
        ("SPOP", "nokey"),
    ]:
        _run(e, c, *argv)
    assert cap.commands() == []
    _run(e, c, "SADD", "d", "x")
    cap.data.clear()
    _run(e, c, "SINTERSTORE", "d", "s", "nokey")  # deleting the destination is a change
    assert cap.commands() == [[b"SINTERSTORE", b"d", b"s", b"nokey"]]


def test_random_pool_stays_exact(eng: tuple[Engine, Client, _Capture]) -> None:
    """Whatever mix of writes happens, a pooled member list equals the set it stands for."""
    e, c, _ = eng
    rng = e.rng
    rng.seed(1234)
    _run(e, c, "SADD", "s", *[f"m{i}" for i in range(200)])
    checked = 0
    for step in range(600):
        op = rng.randrange(10)
        m, m2 = f"m{rng.randrange(260)}", f"m{rng.randrange(260)}"
        if op == 0:
            _run(e, c, "SADD", "s", m)
        elif op == 1:
            _run(e, c, "SREM", "s", m)
        elif op == 2:
            _run(e, c, "SPOP", "s")
        elif op == 3:
            _run(e, c, "SPOP", "s", str(rng.randrange(1, 5)))
        elif op == 4:
            _run(e, c, "SMOVE", "s", "other", m)
        elif op == 5:
            _run(e, c, "SRANDMEMBER", "s", "-3")
        elif op == 6:
            _run(e, c, "SMOVE", "other", "s", m)
        elif op == 7:
            _run(e, c, "SADD", "s", m, m2, m)
        elif op == 8:
            _run(e, c, "SREM", "s", m, m2, m)
        else:
            _run(e, c, "SRANDMEMBER", "s")
        s = e.keyspace[0].lookup(b"s")
        if s is None:
            _run(e, c, "SADD", "s", *[f"m{i}" for i in range(100)])
            continue
        pool = sets_mod._pools.get(id(s))
        if pool is not None and len(pool.items) == len(s) + len(pool.dead):
            checked += 1
            assert sorted(pool.items) == sorted([*s, *pool.dead]), f"stale pool after step {step}"
            assert not pool.dead & set(s), f"live member marked dead after step {step}"
    assert checked > 200  # the pools were really exercised


def test_pools_do_not_keep_deleted_sets_alive(eng: tuple[Engine, Client, _Capture]) -> None:
    e, c, _ = eng
    _run(e, c, "SADD", "a", *[f"m{i}" for i in range(100)])
    _run(e, c, "SADD", "b", *[f"m{i}" for i in range(100)])
    _run(e, c, "SRANDMEMBER", "a")
    a = e.keyspace[0].lookup(b"a")
    assert id(a) in sets_mod._pools
    del a
    _run(e, c, "DEL", "a")
    _run(e, c, "SRANDMEMBER", "b")  # building another pool sweeps the dead one
    live = {id(v) for v in e.keyspace[0].data.values()}
    assert sets_mod._pools and all(k in live for k in sets_mod._pools)


_ENCODING_SCRIPT: list[tuple[str, ...]] = [
    # Redis never converts a hashtable set back to an intset (nothing observes it in between)
    ("SADD", "a", "1", "2", "x"),
    ("SREM", "a", "x"),
    ("OBJECT", "ENCODING", "a"),
    ("SADD", "b", *[str(i) for i in range(600)]),
    ("SREM", "b", *[str(i) for i in range(200)]),
    ("OBJECT", "ENCODING", "b"),
    ("SADD", "c", "1", "2", "x"),
    ("SMOVE", "c", "elsewhere", "x"),
    ("OBJECT", "ENCODING", "c"),
    ("OBJECT", "ENCODING", "elsewhere"),
    ("SADD", "d", "1", "x"),
    ("SREM", "d", "zz", "1"),
    ("OBJECT", "ENCODING", "d"),
    ("SADD", "e", "1", "2", "3"),
    ("SREM", "e", "nothere", "3"),  # an intset stays one
    ("OBJECT", "ENCODING", "e"),
    # SPOP with a small count pops in place: the hashtable stays, whichever member went
    ("SADD", "g", *[str(i) for i in range(10)], "x"),
    ("SPOP", "g", "1"),
    ("SREM", "g", "x"),
    ("OBJECT", "ENCODING", "g"),
    ("SINTERSTORE", "h", "b", "b"),  # a stored result is built fresh
    ("OBJECT", "ENCODING", "h"),
    ("SSCAN", "a", "0", "COUNT", "1000"),
]


def test_sticky_encodings_match_stock(start_server: object) -> None:
    ours = start_server("--save", "")  # type: ignore[operator]
    stock = start_server("--save", "", "--appendonly", "no", stock=True)  # type: ignore[operator]
    a, b = _conn(ours, 2), _conn(stock, 2)
    try:
        for argv in _ENCODING_SCRIPT:
            ra, rb = a.call(*argv), b.call(*argv)
            if argv[0] in ("SPOP", "SSCAN"):
                ra, rb = (ra[0], len(ra[1])), (rb[0], len(rb[1]))
            if argv == ("SREM", "g", "x"):  # 0 or 1: the SPOP before it may have taken "x" on either side
                ra, rb = (ra[0], ra[1] in (0, 1)), (rb[0], rb[1] in (0, 1))
            assert ra == rb, f"{argv}: ours={ra!r} stock={rb!r}"
    finally:
        a.sock.close()
        b.sock.close()


def test_spop_with_a_big_count_rebuilds_the_encoding(r: Redis) -> None:
    """Redis 7.0 pops most of a set by building a new one from the few members that remain,
    so the survivors get a fresh encoding (an intset again if they are all integers)."""
    for _ in range(20):
        r.delete("f")
        r.sadd("f", *range(9), "x")
        assert r.object("encoding", "f") == b"hashtable"
        r.spop("f", 9)
        (left,) = r.smembers("f")
        assert r.object("encoding", "f") == (b"hashtable" if left == b"x" else b"intset")
