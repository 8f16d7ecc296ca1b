"""Hash commands against a real server, with stock Redis 7.0 as the reference for replies.

Small hashes are listpack-encoded in Redis, so their field order is insertion order there as
well as here, and replies can be compared byte for byte (as typed RESP values).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from server.client import Client, NullTransport
from server.commands import hashes
from server.commands import sets as sets_mod
from server.engine import Engine
from tests.conftest import ServerProcess
from tests.server.differential import RespConn

# redis-py's annotations reject the bytes and int arguments the server takes.
Redis = Any

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def _conn(sp: ServerProcess, proto: int) -> RespConn:
    conn = RespConn(sp.port)
    if proto == 3:
        assert conn.call("HELLO", "3")[0] == "%"
    return conn


# --- the long double emulation (HINCRBYFLOAT's arithmetic), vectors taken from stock Redis 7.0 ----------


def _incr(value: str | None, incr: str) -> str | None:
    """What HINCRBYFLOAT stores for `value` + `incr`, or None where Redis replies an error."""
    a = hashes.ld_parse(incr.encode())
    if a is None or a is hashes._LD_INF:
        return None
    b = hashes._LD_ZERO if value is None else hashes.ld_parse(value.encode())
    if b is None or b is hashes._LD_INF:
        return None
    s = hashes.ld_add(b, a)
    return None if s is None else hashes.ld_format_human(s).decode()


@pytest.mark.parametrize(
    "value,incr,expected",
    [
        (None, "0.1", "0.1"),
        ("0.1", "0.2", "0.3"),
        ("0.3", "1e-30", "0.3"),
        ("12", "1.5", "13.5"),
        ("13.5", "0x10", "29.5"),
        (None, "1.23456789012345678901", "1.23456789012345679"),
        (None, "-0.0", "0"),
        (None, "-1e-20", "0"),
        (None, "5.0e3", "5000"),
        (None, "+5", "5"),
        (None, ".5", "0.5"),
        (None, "5.", "5"),
        ("1e17", "3", "100000000000000003"),
        (None, "123456789012345678901234567890", "123456789012345678899921813504"),
        (None, "0.000000000000000001", "0"),
        (None, "3.0000000000000000005", "3"),
        (None, "0x1.8p1", "3"),
        ("3", "0X.8P-1", "3.25"),
        (None, "0.5e-17", "0"),
        (None, "1.5e-17", "0.00000000000000002"),
        (None, "2.5e-17", "0.00000000000000002"),
        ("1e4932", "1e4932", None),  # overflow: "increment would produce NaN or Infinity"
        ("1e5000", "1", None),  # the stored value overflows: "hash value is not a float"
        (None, "1e-5000", None),  # underflow to zero: not a valid float
        (None, "inf", None),
        (None, "nan", None),
        (None, " 1", None),
        (None, "1 ", None),
        (None, "1_0", None),
        (None, "0x", None),
        (None, "1e", None),
    ],
)
def test_long_double_arithmetic(value: str | None, incr: str, expected: str | None) -> None:
    assert _incr(value, incr) == expected


def test_long_double_extremes() -> None:
    big = _incr(None, "1.18973149535723176502e+4932")
    assert big is not None and len(big) == 4933 and big.startswith("118973149535723176502126385303")
    assert _incr("-1.18973149535723176502e+4932", "0") == "-" + big
    assert _incr(None, "1e-4950") is not None
    # 2e4900 has 4901 digits: beyond Python's default int<->str limit, still exact
    two = _incr("1e4900", "1e4900")
    assert two is not None and len(two) == 4901 and two.startswith("20000000000000000000541662446")


# --- basics --------------------------------------------------------------------------------------------


def test_hset_family(r: Redis) -> None:
    assert r.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert r.execute_command("HSET", "h", "a", "10", "c", "3", "c", "4") == 1
    assert r.hget("h", "a") == b"10"
    assert r.hget("h", "c") == b"4"
    assert r.hget("h", "zz") is None
    assert r.hget("nokey", "a") is None
    assert r.execute_command("HMSET", "h", "d", "5") is True  # redis-py's reading of +OK
    assert r.hsetnx("h", "d", "new") == 0
    assert r.hsetnx("h", "e", "6") == 1
    assert r.hget("h", "d") == b"5"
    assert r.hmget("h", "a", "zz", "e") == [b"10", None, b"6"]
    assert r.hmget("nokey", "a", "b") == [None, None]
    assert r.hlen("h") == 5
    assert r.hlen("nokey") == 0
    assert r.hexists("h", "a") and not r.hexists("h", "zz") and not r.hexists("nokey", "a")
    assert r.hstrlen("h", "a") == 2
    assert r.hstrlen("h", "zz") == 0
    assert r.hstrlen("nokey", "a") == 0
    assert r.hgetall("h") == {b"a": b"10", b"b": b"2", b"c": b"4", b"d": b"5", b"e": b"6"}
    assert r.hgetall("nokey") == {}
    assert r.hkeys("h") == [b"a", b"b", b"c", b"d", b"e"]
    assert r.hvals("h") == [b"10", b"2", b"4", b"5", b"6"]
    assert r.hkeys("nokey") == [] and r.hvals("nokey") == []
    r.hset("bin", b"\x00\xff", b"\r\n")
    assert r.hget("bin", b"\x00\xff") == b"\r\n"


def test_field_order_is_insertion_order(r: Redis) -> None:
    r.hset("h", mapping={"z": "1", "a": "2", "m": "3"})
    r.hdel("h", "a")
    r.hset("h", "a", "9")
    r.hset("h", "z", "0")  # updating keeps the position
    assert r.hkeys("h") == [b"z", b"m", b"a"]


def test_hdel_deletes_the_emptied_key(r: Redis) -> None:
    r.hset("h", mapping={"a": "1", "b": "2"})
    assert r.hdel("h", "a", "zz", "a") == 1
    assert r.hdel("nokey", "a") == 0
    assert r.hdel("h", "b", "b") == 1
    assert r.exists("h") == 0
    assert r.hlen("h") == 0


def test_hset_odd_arguments_and_arity(r: Redis) -> None:
    for argv in [("HSET", "h", "a", "1", "b"), ("HSET", "h", "a"), ("HMSET", "h", "a", "1", "b")]:
        with pytest.raises(redis.ResponseError, match=f"^wrong number of arguments for '{argv[0].lower()}'"):
            r.execute_command(*argv)
    assert r.exists("h") == 0  # nothing was created by a rejected call
    for argv in [("HGET", "h"), ("HDEL", "h"), ("HMGET", "h"), ("HSETNX", "h", "a"), ("HINCRBY", "h", "a")]:
        with pytest.raises(redis.ResponseError, match=r"^wrong number of arguments"):
            r.execute_command(*argv)


def test_wrongtype_on_every_hash_command(r: Redis) -> None:
    r.set("str", "x")
    calls = [
        ("HSET", "str", "a", "1"),
        ("HMSET", "str", "a", "1"),
        ("HSETNX", "str", "a", "1"),
        ("HGET", "str", "a"),
        ("HMGET", "str", "a"),
        ("HGETALL", "str"),
        ("HKEYS", "str"),
        ("HVALS", "str"),
        ("HLEN", "str"),
        ("HEXISTS", "str", "a"),
        ("HSTRLEN", "str", "a"),
        ("HDEL", "str", "a"),
        ("HINCRBY", "str", "a", "1"),
        ("HINCRBYFLOAT", "str", "a", "1"),
        ("HRANDFIELD", "str"),
        ("HRANDFIELD", "str", "0"),
        ("HRANDFIELD", "str", "2", "WITHVALUES"),
        ("HSCAN", "str", "0"),
    ]
    for argv in calls:
        with pytest.raises(redis.ResponseError, match=r"^" + WRONGTYPE):
            r.execute_command(*argv)
    assert r.get("str") == b"x"


# --- increments ------------------------------------------------------------------------------------------


def test_hincrby(r: Redis) -> None:
    assert r.hincrby("h", "n", 5) == 5
    assert r.hincrby("h", "n", -7) == -2
    assert r.hget("h", "n") == b"-2"
    r.hset("h", "s", "abc")
    with pytest.raises(redis.ResponseError, match=r"^hash value is not an integer$"):
        r.hincrby("h", "s", 1)
    r.hset("h", "sp", " 1")
    with pytest.raises(redis.ResponseError, match=r"^hash value is not an integer$"):
        r.hincrby("h", "sp", 1)
    with pytest.raises(redis.ResponseError, match=r"^value is not an integer or out of range$"):
        r.execute_command("HINCRBY", "h", "n", "1.5")
    # the increment is parsed before the key's type is checked
    r.set("str", "x")
    with pytest.raises(redis.ResponseError, match=r"^value is not an integer or out of range$"):
        r.execute_command("HINCRBY", "str", "n", "x")
    assert r.hincrby("h", "max", 9223372036854775807) == 9223372036854775807
    with pytest.raises(redis.ResponseError, match=r"^increment or decrement would overflow$"):
        r.hincrby("h", "max", 1)
    assert r.hincrby("h", "min", -9223372036854775808) == -9223372036854775808
    with pytest.raises(redis.ResponseError, match=r"^increment or decrement would overflow$"):
        r.hincrby("h", "min", -1)
    assert r.hget("h", "max") == b"9223372036854775807"


def test_hincrbyfloat(r: Redis, server: ServerProcess) -> None:
    conn = _conn(server, 2)

    def incr(field: str, by: str) -> bytes:
        kind, value = conn.call("HINCRBYFLOAT", "h", field, by)
        assert kind == "$", value
        assert isinstance(value, bytes)
        return value

    assert incr("f", "10.5") == b"10.5"
    assert incr("f", "0.1") == b"10.6"
    assert incr("f", "-10.6") == b"0"
    assert incr("f", "5.0e3") == b"5000"
    assert r.hget("h", "f") == b"5000"
    r.hset("h", "i", "3")
    assert incr("i", "0x10") == b"19"
    r.hset("h", "s", "abc")
    assert conn.call("HINCRBYFLOAT", "h", "s", "1") == ("-", b"ERR hash value is not a float")
    assert conn.call("HINCRBYFLOAT", "h", "f", "nan") == ("-", b"ERR value is not a valid float")
    assert conn.call("HINCRBYFLOAT", "h", "f", "+inf") == ("-", b"ERR value is NaN or Infinity")
    r.hset("h", "inf", "inf")
    assert conn.call("HINCRBYFLOAT", "h", "inf", "1") == ("-", b"ERR increment would produce NaN or Infinity")
    r.hset("h", "big", "1e4932")
    assert conn.call("HINCRBYFLOAT", "h", "big", "1e4932") == (
        "-",
        b"ERR increment would produce NaN or Infinity",
    )
    assert r.hget("h", "big") == b"1e4932"  # a failed increment changes nothing
    conn.sock.close()


def test_hincrbyfloat_matches_stock(server: ServerProcess, stock: ServerProcess) -> None:
    """Random increments (decimal, exponent, hex, huge and tiny) give byte-identical results."""
    ours, ref = server.client(), stock.client()
    rng = random.Random(2024)

    def number() -> str:
        k = rng.random()
        if k < 0.3:
            return repr(rng.uniform(-1e6, 1e6))
        if k < 0.5:
            return f"{rng.uniform(-100, 100):.{rng.randrange(0, 25)}f}"
        if k < 0.6:
            return f"{rng.randrange(-999, 999)}e{rng.randrange(-4960, 4940)}"
        if k < 0.7:
            return f"0x{rng.randrange(1, 1 << 70):x}p{rng.randrange(-16500, 16400)}"
        if k < 0.8:
            return str(rng.randrange(-(10**25), 10**25))
        if k < 0.9:
            return f"{rng.uniform(-1, 1):.25e}"
        return rng.choice(["0.1", "-0.1", "1e-17", "5e-18", "0.3", "2.5e-17", "-5e-18", "x", "inf"])

    for _ in range(600):
        field, incr = f"f{rng.randrange(12)}", number()
        results = []
        for client in (ours, ref):
            try:
                results.append(client.execute_command("HINCRBYFLOAT", "h", field, incr))
            except redis.ResponseError as e:
                results.append(f"error: {e}")
        assert results[0] == results[1], (field, incr)
        if isinstance(results[0], str):
            ours.hset("h", field, "0")
            ref.hset("h", field, "0")
    assert ours.hgetall("h") == ref.hgetall("h")


# --- HRANDFIELD -------------------------------------------------------------------------------------------


def test_hrandfield(r: Redis, server: ServerProcess) -> None:
    h = {b"a": b"1", b"b": b"2", b"c": b"3"}
    r.hset("h", mapping=h)
    assert r.hrandfield("h") in h
    assert r.hrandfield("nokey") is None
    assert r.hrandfield("nokey", 3) == []
    assert r.hrandfield("h", 0) == []
    two = r.hrandfield("h", 2)
    assert len(two) == 2 and len(set(two)) == 2 and set(two) <= set(h)
    assert r.hrandfield("h", 10) == [b"a", b"b", b"c"]  # the whole hash, in its order
    rep = r.hrandfield("h", -10)
    assert len(rep) == 10 and set(rep) <= set(h)
    conn = _conn(server, 2)
    kind, flat = conn.call("HRANDFIELD", "h", "-6", "WITHVALUES")
    assert kind == "*" and len(flat) == 12  # RESP2: field, value, field, value ...
    values = [v for _, v in flat]
    assert all(h[f] == v for f, v in zip(values[::2], values[1::2], strict=True))
    kind, flat = conn.call("HRANDFIELD", "h", "2", "withvalues")
    assert kind == "*" and len(flat) == 4 and flat[0] != flat[2]
    assert r.hlen("h") == 3
    conn.sock.close()


@pytest.mark.parametrize(
    "argv,error",
    [
        (("HRANDFIELD", "h", "-9223372036854775808"), "value is out of range, value must between"),
        (("HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"), "value is out of range$"),
        (("HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"), "value is out of range$"),
        (("HRANDFIELD", "nokey", "4611686018427387904", "WITHVALUES"), "value is out of range$"),
        (("HRANDFIELD", "h", "1", "WITHVALUES", "x"), "syntax error"),
        (("HRANDFIELD", "h", "1", "x"), "syntax error"),
        (("HRANDFIELD", "nokey", "0", "foo"), "syntax error"),
        (("HRANDFIELD", "h", "x", "WITHVALUES"), "value is not an integer or out of range"),
        (("HRANDFIELD", "str", "x"), "value is not an integer or out of range"),
    ],
)
def test_hrandfield_errors(r: Redis, argv: tuple[str, ...], error: str) -> None:
    r.hset("h", "a", "1")
    r.set("str", "x")
    with pytest.raises(redis.ResponseError, match=r"^" + error):
        r.execute_command(*argv)


def test_hrandfield_is_uniform_on_a_big_hash(r: Redis) -> None:
    fields = {b"f%d" % i: b"v%d" % i for i in range(150)}
    r.hset("h", mapping=fields)
    seen = {r.hrandfield("h") for _ in range(2500)}
    assert seen == set(fields)
    counts = Counter(r.hrandfield("h", -15000))
    assert set(counts) == set(fields) and min(counts.values()) > 40 and max(counts.values()) < 180
    r.hdel("h", "f7")  # a deleted field must never be picked again
    assert b"f7" not in r.hrandfield("h", -3000)
    assert b"f7" not in {r.hrandfield("h") for _ in range(300)}
    r.hset("h", "new", "x")  # and a new one must be pickable
    assert b"new" in r.hrandfield("h", -6000)
    distinct = r.hrandfield("h", 100)
    assert len(set(distinct)) == 100


def test_hrandfield_resp3_shapes(server: ServerProcess) -> None:
    conn = _conn(server, 3)
    conn.call("HSET", "h", "a", "1", "b", "2")
    kind, pairs = conn.call("HRANDFIELD", "h", "-3", "WITHVALUES")
    assert kind == "*" and len(pairs) == 3
    assert all(p[0] == "*" and len(p[1]) == 2 for p in pairs)
    assert conn.call("HRANDFIELD", "h", "2")[0] == "*"
    assert conn.call("HRANDFIELD", "nokey") == ("_", None)
    assert conn.call("HGETALL", "h") == ("%", ((("$", b"a"), ("$", b"1")), (("$", b"b"), ("$", b"2"))))
    assert conn.call("HGETALL", "nokey") == ("%", ())
    assert conn.call("HMGET", "h", "zz") == ("*", (("_", None),))
    conn.sock.close()


# --- HSCAN ------------------------------------------------------------------------------------------------


def test_hscan(r: Redis) -> None:
    big = {b"f%d" % i: b"v%d" % i for i in range(700)}
    r.hset("h", mapping=big)
    assert dict(r.hscan_iter("h", count=25)) == big
    assert dict(r.hscan_iter("h", match="f1*")) == {k: v for k, v in big.items() if k.startswith(b"f1")}
    r.hset("small", mapping={"b": "1", "a": "2"})
    assert r.hscan("small", 0) == (0, {b"b": b"1", b"a": b"2"})
    assert r.hscan("nokey", 0) == (0, {})


# --- stock comparison ----------------------------------------------------------------------------------------

_SCRIPT: list[tuple[str, ...]] = [
    ("SET", "str", "x"),
    ("HSET", "h", "a", "1", "b"),
    ("HSET", "h", "z", "1", "a", "2", "m", "3"),
    ("HSET", "h", "a", "1", "a", "2"),
    ("HMSET", "h", "q", "7"),
    ("HSETNX", "h", "q", "8"),
    ("HSETNX", "h", "w", "8"),
    ("HGET", "h", "a"),
    ("HGET", "h", "nope"),
    ("HGET", "nokey", "a"),
    ("HMGET", "h", "a", "nope", "m"),
    ("HMGET", "nokey", "a"),
    ("HGETALL", "h"),
    ("HGETALL", "nokey"),
    ("HKEYS", "h"),
    ("HVALS", "h"),
    ("HLEN", "h"),
    ("HEXISTS", "h", "a"),
    ("HSTRLEN", "h", "q"),
    ("HDEL", "h", "a", "zz"),
    ("HKEYS", "h"),
    ("HSET", "h", "a", "again"),
    ("HGETALL", "h"),
    ("HINCRBY", "h", "n", "10"),
    ("HINCRBY", "h", "a", "1"),
    ("HINCRBY", "str", "a", "x"),
    ("HINCRBY", "h", "n", "9223372036854775807"),
    ("HINCRBYFLOAT", "h", "n", "1.5"),
    ("HINCRBYFLOAT", "h", "a", "1"),
    ("HINCRBYFLOAT", "str", "a", "x"),
    ("HINCRBYFLOAT", "h2", "fl", "1e400"),  # a long value: Redis converts to a hashtable
    ("HINCRBYFLOAT", "h2", "fl", "-1e400"),
    ("HRANDFIELD", "nokey"),
    ("HRANDFIELD", "nokey", "3"),
    ("HRANDFIELD", "nokey", "3", "WITHVALUES"),
    ("HRANDFIELD", "h", "0"),
    ("HRANDFIELD", "h", "100"),
    ("HRANDFIELD", "h", "100", "WITHVALUES"),
    ("HRANDFIELD", "h", "1", "x"),
    ("HRANDFIELD", "str", "0"),
    ("HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"),
    ("HSCAN", "h", "0"),
    ("HSCAN", "h", "0", "MATCH", "a*"),
    ("HSCAN", "nokey", "0"),
    ("HSCAN", "str", "0"),
    ("HDEL", "h", "z", "m", "q", "w", "n", "a"),
    ("HLEN", "h"),
    ("HGETALL", "h"),
]


@pytest.mark.parametrize("proto", [2, 3])
def test_replies_match_stock(start_server: object, proto: int) -> None:
    ours = start_server("--save", "")  # type: ignore[operator]
    stock = start_server("--save", "", "--appendonly", "no", stock=True)  # type: ignore[operator]
    a, b = _conn(ours, proto), _conn(stock, proto)
    try:
        for argv in _SCRIPT:
            ra, rb = a.call(*argv), b.call(*argv)
            assert ra == rb, f"{argv}: ours={ra!r} stock={rb!r}"
    finally:
        a.sock.close()
        b.sock.close()


# --- propagation (in-process engine with a capturing sink) -------------------------------------------------


class _Capture:
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
        return out


@pytest.fixture
def eng() -> Iterator[tuple[Engine, Client, _Capture]]:
    e = Engine()
    cap = _Capture()
    e.sinks.append(cap)
    yield e, Client(e, NullTransport()), cap


def _run(e: Engine, c: Client, *args: str) -> bytes:
    r = e.execute(c, [a.encode() for a in args])
    assert isinstance(r, bytes)
    return r


def test_propagation(eng: tuple[Engine, Client, _Capture]) -> None:
    e, c, cap = eng
    _run(e, c, "HSET", "h", "f", "1.5")
    _run(e, c, "HSET", "h", "f", "1.5")  # same value: still a write, as in Redis
    _run(e, c, "HINCRBYFLOAT", "h", "f", "0.1")
    _run(e, c, "HINCRBYFLOAT", "h", "g", "3")
    _run(e, c, "HSETNX", "h", "f", "x")  # no-op
    _run(e, c, "HDEL", "h", "zz")  # no-op
    _run(e, c, "HDEL", "nokey", "zz")  # no-op
    _run(e, c, "HINCRBY", "h", "f", "1")  # error: not an integer
    _run(e, c, "HINCRBY", "h", "n", "2")
    _run(e, c, "HDEL", "h", "n")
    assert cap.commands() == [
        [b"HSET", b"h", b"f", b"1.5"],
        [b"HSET", b"h", b"f", b"1.5"],
        [b"HSET", b"h", b"f", b"1.6"],
        [b"HSET", b"h", b"g", b"3"],
        [b"HINCRBY", b"h", b"n", b"2"],
        [b"HDEL", b"h", b"n"],
    ]


def test_field_pool_stays_exact(eng: tuple[Engine, Client, _Capture]) -> None:
    """A pooled field list used by HRANDFIELD equals the hash's fields whenever lengths agree."""
    e, c, _ = eng
    rng = random.Random(99)
    _run(e, c, "HSET", "h", *[x for i in range(120) for x in (f"f{i}", "v")])
    checked = 0
    for step in range(800):
        op = rng.randrange(7)
        f = f"f{rng.randrange(160)}"
        if op == 0:
            _run(e, c, "HSET", "h", f, "v")
        elif op == 1:
            _run(e, c, "HDEL", "h", f, f"f{rng.randrange(160)}")
        elif op == 2:
            _run(e, c, "HRANDFIELD", "h")
        elif op == 3:
            _run(e, c, "HRANDFIELD", "h", "-4", "WITHVALUES")
        elif op == 4:
            _run(e, c, "HINCRBY", "h", f, "1")
        elif op == 5:
            _run(e, c, "HSETNX", "h", f, "v")
        else:
            _run(e, c, "HINCRBYFLOAT", "h", f, "1.5")
        h = e.keyspace[0].lookup(b"h")
        if h is None:
            _run(e, c, "HSET", "h", *[x for i in range(rng.choice([10, 64, 100])) for x in (f"f{i}", "v")])
            continue
        pool = sets_mod._pools.get(id(h))
        if pool is not None and len(pool.items) == len(h) + len(pool.dead):
            checked += 1
            assert sorted(pool.items) == sorted([*h, *pool.dead]), f"stale pool after step {step}"
            assert not pool.dead & set(h), f"live member marked dead after step {step}"
    assert checked > 266  # the pools were really exercised


_LONG = "x" * 65
_ENCODING_SCRIPT: list[tuple[str, ...]] = [
    # Redis never converts a hashtable hash back to a listpack (nothing observes it in between)
    ("HSET", "a", "f", _LONG, "g", "1"),
    ("HSET", "a", "f", "short"),
    ("OBJECT", "ENCODING", "a"),
    ("HSET", "b", "f", _LONG, "g", "1"),
    ("HDEL", "b", "f"),
    ("OBJECT", "ENCODING", "b"),
    ("HSET", "c", *[x for i in range(200) for x in (f"f{i}", "v")]),
    ("HDEL", "c", *[f"f{i}" for i in range(150)]),
    ("OBJECT", "ENCODING", "c"),
    ("HSET", "d", "f", "1"),
    ("HINCRBYFLOAT", "d", "f", "1e100"),
    ("HINCRBYFLOAT", "d", "f", "-1e100"),
    ("OBJECT", "ENCODING", "d"),
    ("HSET", "e", "f", "1", "g", "2"),
    ("HDEL", "e", "f"),  # a listpack stays one
    ("HSET", "e", "g", "3"),
    ("OBJECT", "ENCODING", "e"),
    ("HMSET", "h", "f", _LONG, "g", "1"),
    ("HMSET", "h", "g", "2", "f", "3"),
    ("OBJECT", "ENCODING", "h"),
    ("HSCAN", "a", "0", "COUNT", "1000"),
    ("HSCAN", "c", "0", "COUNT", "1000"),
]


def test_sticky_encodings_match_stock(start_server: object) -> None:
    ours = start_server("--save", "")  # type: ignore[operator]
    stock = start_server("--save", "", "--appendonly", "no", stock=True)  # type: ignore[operator]
    a, b = _conn(ours, 2), _conn(stock, 2)
    try:
        for argv in _ENCODING_SCRIPT:
            ra, rb = a.call(*argv), b.call(*argv)
            if argv[0] == "HSCAN":  # a hashtable's order is its own: compare cursor and contents
                ra = (ra[1][0], sorted(ra[1][1][1]))
                rb = (rb[1][0], sorted(rb[1][1][1]))
            assert ra == rb, f"{argv}: ours={ra!r} stock={rb!r}"
    finally:
        a.sock.close()
        b.sock.close()
