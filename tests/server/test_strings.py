"""String commands: behaviour through a real server, byte-exact replies against stock Redis 7.0,
and what each write propagates (checked in-process on an Engine with a capturing sink)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from server.client import Client, NullTransport
from server.engine import Engine
from server.keyspace import now_ms
from tests.server.differential import RespConn, parse_replies

# --- helpers -------------------------------------------------------------------------------------


class Capture:
    """A propagation sink that remembers every command fed to the AOF/replicas."""

    def __init__(self) -> None:
        self.fed: list[tuple[int, bytes]] = []

    def feed(self, db_id: int, data: bytes) -> None:
        self.fed.append((db_id, data))

    def commands(self) -> list[list[bytes]]:
        out = []
        for _, data in self.fed:
            for rep in parse_replies(data):
                out.append([item[1] for item in rep[1]])
        return out

    def take(self) -> list[list[bytes]]:
        cmds = self.commands()
        self.fed.clear()
        return cmds


class Local:
    """An in-process engine with one client, for propagation and data-structure checks."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.cap = Capture()
        self.engine.sinks.append(self.cap)
        self.client = Client(self.engine, NullTransport())
        self.engine.add_client(self.client)

    def __call__(self, *args: bytes | str | int) -> bytes:
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        r = self.engine.execute(self.client, argv)
        assert isinstance(r, bytes)
        return r


@pytest.fixture
def local() -> Local:
    return Local()


@pytest.fixture
def both(server: Any, stock: Any) -> Iterator[tuple[RespConn, RespConn]]:
    """Raw connections to our server and to stock Redis (replies compared as typed RESP)."""
    ours, theirs = RespConn(server.port), RespConn(stock.port)
    yield ours, theirs
    ours.close()
    theirs.close()


def assert_same(both: tuple[RespConn, RespConn], script: list[list[str | bytes]]) -> None:
    """Run `script` on both servers; every reply must be equal (HELLO's client id aside)."""
    ours, theirs = both
    for argv in script:
        want = theirs.call(*argv)
        got = ours.call(*argv)
        if str(argv[0]).lower() == "hello":
            assert got[0] == want[0]
            continue
        assert got == want, f"{argv}: stock {want!r}, ours {got!r}"


def lines(text: str) -> list[list[str | bytes]]:
    import shlex

    return [list(shlex.split(line)) for line in text.strip().splitlines() if line.strip()]


# --- SET / GET -----------------------------------------------------------------------------------


def test_set_get_roundtrip_binary(r: redis.Redis) -> None:
    value = bytes(range(256)) * 5
    assert r.set("bin", value) is True
    assert r.get("bin") == value
    assert r.get("missing") is None
    assert r.set("", "") is True
    assert r.get("") == b""


def test_set_options_match_stock(both: tuple[RespConn, RespConn]) -> None:
    assert_same(
        both,
        lines(
            """
            flushall
            set k v EX 10 EX 20
            set k v EX 10 PX 20
            set k v KEEPTTL EX 1
            set k v EX 1 KEEPTTL
            set k v PX 1 PXAT 5
            set k v nx nx
            set k v xx nx
            set k v nx xx
            set k v px 0
            set k v ex -1
            set k v ex abc
            set k v ex
            set k v ex 9223372036854776
            set k v ex 9223372036854775
            set k v px 9223372036854775807
            set k v exat 0
            set k v get get
            set k2 v get xx
            set k2 v get nx
            set k2 w get nx
            get k2
            set k v foo
            set k v ex 10 foo
            set k v ex abc foo
            set k v nx get
            rpush l a
            set l v get
            set l v nx get
            set l v xx
            get l
            set l v2 get
            get l
            """
        ),
    )


def test_set_expiry_forms(r: redis.Redis) -> None:
    r.set("a", "v", ex=100)
    assert 99_000 < r.pttl("a") <= 100_000
    r.set("a", "v", px=5000)
    assert 4000 < r.pttl("a") <= 5000
    r.set("a", "v", exat=int(time.time()) + 200)
    assert 198 <= r.ttl("a") <= 200
    r.set("a", "v", pxat=now_ms() + 3000)
    assert 2000 < r.pttl("a") <= 3000
    assert r.set("a", "w", keepttl=True)
    assert 2000 < r.pttl("a") <= 3000
    assert r.set("a", "x")
    assert r.ttl("a") == -1
    # An absolute time in the past: stored, then gone at the next access.
    assert r.set("past", "v", exat=1)
    assert r.get("past") is None
    assert r.exists("past") == 0


def test_set_nx_xx_get(r: redis.Redis) -> None:
    assert r.set("k", "1", nx=True) is True
    assert r.set("k", "2", nx=True) is None
    assert r.set("new", "1", xx=True) is None
    assert r.exists("new") == 0
    assert r.set("k", "3", xx=True) is True
    assert r.set("k", "4", get=True) == b"3"
    assert r.set("k", "5", nx=True, get=True) == b"4"  # NX failed, old value still returned
    assert r.get("k") == b"4"
    assert r.set("fresh", "1", get=True) is None
    r.rpush("lst", "a")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.set("lst", "v", get=True)
    assert r.type("lst") == b"list"


def test_set_propagates_pxat(local: Local) -> None:
    before = now_ms()
    assert local("set", "k", "v", "EX", "100") == b"+OK\r\n"
    (cmd,) = local.cap.take()
    assert cmd[:4] == [b"SET", b"k", b"v", b"PXAT"]
    assert before + 100_000 <= int(cmd[4]) <= now_ms() + 100_000
    local("set", "k", "v", "px", "5000", "get", "xx")
    (cmd,) = local.cap.take()
    assert cmd[:4] == [b"SET", b"k", b"v", b"PXAT"]
    local("set", "k", "v", "pxat", "99999999999999", "get")
    assert local.cap.take() == [[b"SET", b"k", b"v", b"PXAT", b"99999999999999"]]
    local("set", "k", "v", "exat", "99999999999")
    assert local.cap.take() == [[b"SET", b"k", b"v", b"PXAT", b"99999999999000"]]
    local("set", "k", "w", "keepttl")
    assert local.cap.take() == [[b"set", b"k", b"w", b"keepttl"]]
    local("set", "k", "w", "nx")  # not performed: nothing propagated
    local("set", "k", "w", "ex", "0")  # error: nothing propagated
    assert local.cap.take() == []


# --- the rest of the family against stock ----------------------------------------------------------


def test_string_family_matches_stock(both: tuple[RespConn, RespConn]) -> None:
    assert_same(
        both,
        lines(
            """
            flushall
            getex nokey ex 0
            getex nokey ex 10 persist
            getex nokey persist ex 10
            getex nokey ex abc
            getex nokey foo
            set k v
            getex k ex 0
            getex k ex abc
            getex k px -5
            getex k
            getex k persist
            getex k exat 1
            exists k
            rpush l2 a
            getex l2 ex 10
            getex l2 foo
            mset a
            mset a 1 b
            msetnx a 1 a 2
            get a
            msetnx a 3 b 4
            mget a b l2 nokey
            mset a 1 b 2 a 3
            mget a b
            decrby a -9223372036854775808
            decrby nokey abc
            set n 9223372036854775807
            incr n
            incrby n 0
            decr nokey
            incrby nokey -5
            set n -9223372036854775808
            decr n
            decrby n 1
            incrby n -1
            set n " 1"
            incr n
            set n 01
            incr n
            set n +1
            incr n
            set n 12345678901234567890123
            incr n
            incrby n 1.0
            incrby n 99999999999999999999
            incr l2
            decr l2
            setrange s -1 x
            setrange s 0 ""
            exists s
            setrange s abc x
            setrange s 4294967296000 x
            set s hello
            setrange s 2 ""
            setrange s 10 X
            get s
            setrange s 1 abc
            get s
            getrange s 0 -1
            getrange s -3 -5
            getrange s -100 100
            getrange s 5 3
            getrange s -1 -1
            getrange s 0 0
            getrange s 9223372036854775807 9223372036854775807
            getrange s -9223372036854775808 -1
            getrange nokey 0 -1
            getrange s a 1
            substr s 1 3
            substr s 1 a
            set e ""
            getrange e 0 -1
            getrange e 0 0
            append l2 x
            append s appended
            append newkey abc
            strlen l2
            strlen s
            strlen nokey
            getrange l2 0 1
            setrange l2 0 x
            getset l2 x
            getset nokey2 v
            getdel nokey2
            getdel nokey2
            getdel l2
            setnx a x
            setnx newnx x
            get newnx
            setex se 0 v
            setex se -1 v
            setex se abc v
            setex se 9223372036854775 v
            psetex pse 0 v
            psetex pse abc v
            setex se 100 v
            psetex pse 100000 v
            """
        ),
    )


def test_counters_keep_ttl_and_type(r: redis.Redis) -> None:
    r.set("n", "10", ex=100)
    assert r.incr("n") == 11
    assert r.decrby("n", 20) == -9
    assert r.incrby("n", 5) == -4
    assert r.decr("n") == -5
    assert r.ttl("n") > 90
    assert r.get("n") == b"-5"
    assert r.incr("fresh") == 1
    assert r.ttl("fresh") == -1
    r.set("big", str(2**63 - 1))
    with pytest.raises(redis.ResponseError, match=r"^increment or decrement would overflow$"):
        r.incr("big")
    assert r.get("big") == str(2**63 - 1).encode()
    with pytest.raises(redis.ResponseError, match=r"^value is not an integer or out of range$"):
        r.incrby("n", "1.5")
    r.set("f", "1.5")
    with pytest.raises(redis.ResponseError, match=r"^value is not an integer or out of range$"):
        r.incr("f")


def test_append_setrange_keep_ttl(r: redis.Redis) -> None:
    r.set("s", "ab", ex=100)
    assert r.append("s", "cd") == 4
    assert r.setrange("s", 6, "x") == 7
    assert r.get("s") == b"abcd\x00\x00x"
    assert r.ttl("s") > 90
    assert r.setrange("new", 3, "yz") == 5
    assert r.get("new") == b"\x00\x00\x00yz"
    assert r.strlen("new") == 5


def test_getex_options(r: redis.Redis) -> None:
    r.set("k", "v")
    assert r.getex("k", ex=100) == b"v"
    assert 99 <= r.ttl("k") <= 100
    assert r.getex("k", px=50_000) == b"v"
    assert 49_000 < r.pttl("k") <= 50_000
    assert r.getex("k", exat=int(time.time()) + 300) == b"v"
    assert 298 <= r.ttl("k") <= 300
    assert r.getex("k", pxat=now_ms() + 7000) == b"v"
    assert 6000 < r.pttl("k") <= 7000
    assert r.getex("k") == b"v"
    assert 6000 < r.pttl("k") <= 7000
    assert r.getex("k", persist=True) == b"v"
    assert r.ttl("k") == -1
    assert r.getex("k", pxat=1) == b"v"  # a past absolute time deletes the key
    assert r.exists("k") == 0
    assert r.getex("k", ex=10) is None


def test_getex_getdel_getset_propagation(local: Local) -> None:
    local("set", "k", "v")
    local.cap.take()
    before = now_ms()
    assert local("getex", "k", "ex", "100") == b"$1\r\nv\r\n"
    (cmd,) = local.cap.take()
    assert cmd[:2] == [b"PEXPIREAT", b"k"] and before + 100_000 <= int(cmd[2]) <= now_ms() + 100_000
    local("getex", "k", "pxat", "99999999999999")
    assert local.cap.take() == [[b"PEXPIREAT", b"k", b"99999999999999"]]
    local("getex", "k", "persist")
    assert local.cap.take() == [[b"PERSIST", b"k"]]
    local("getex", "k", "persist")  # no TTL left: nothing changes, nothing propagated
    local("getex", "k")
    assert local.cap.take() == []
    local("getex", "k", "exat", "1")
    assert local.cap.take() == [[b"DEL", b"k"]]
    local("set", "k", "v", "ex", "100")
    local.cap.take()
    assert local("getset", "k", "w") == b"$1\r\nv\r\n"
    assert local.cap.take() == [[b"SET", b"k", b"w"]]
    assert local("ttl", "k") == b":-1\r\n"  # GETSET drops the TTL
    assert local("getdel", "k") == b"$1\r\nw\r\n"
    assert local.cap.take() == [[b"DEL", b"k"]]
    assert local("getdel", "k") == b"$-1\r\n"
    assert local.cap.take() == []


def test_setex_psetex_propagate_pxat(local: Local) -> None:
    before = now_ms()
    local("setex", "a", "100", "v")
    local("psetex", "b", "2500", "w")
    (c1, c2) = local.cap.take()
    assert c1[:4] == [b"SET", b"a", b"v", b"PXAT"] and int(c1[4]) >= before + 100_000
    assert c2[:4] == [b"SET", b"b", b"w", b"PXAT"] and int(c2[4]) >= before + 2500
    local("msetnx", "a", "1", "c", "2")  # a exists: nothing set, nothing propagated
    assert local.cap.take() == []
    assert local("exists", "c") == b":0\r\n"


# --- INCRBYFLOAT: 80-bit long double arithmetic and formatting --------------------------------------


@pytest.mark.parametrize(
    ("start", "incr", "expected"),
    [
        (None, "0.1", b"0.1"),
        ("0.1", "0.2", b"0.3"),  # a double sum would print 0.30000000000000004
        ("10.5", "0.1", b"10.6"),
        ("5.0e3", "2.0e2", b"5200"),
        ("1", "-1", b"0"),
        ("0", "-0.0000000000000000001", b"0"),  # "-0.00000000000000000" trims to "0"
        ("1.23456789012345678901", "0", b"1.23456789012345679"),
        ("0x10", "1", b"17"),  # strtold reads hex
        ("3", "1e-300", b"3"),
    ],
)
def test_incrbyfloat_values(r: redis.Redis, start: str | None, incr: str, expected: bytes) -> None:
    if start is not None:
        r.set("f", start)
    assert r.execute_command("INCRBYFLOAT", "f", incr) == float(expected)
    assert r.get("f") == expected  # the exact text, as stock prints it


def test_incrbyfloat_errors_and_ttl(r: redis.Redis) -> None:
    r.set("f", "1", ex=100)
    assert r.incrbyfloat("f", 1.5) == 2.5
    assert r.ttl("f") > 90
    for bad in ("abc", " 1", "1 ", "1e5000", "nan", "1_0", ""):
        with pytest.raises(redis.ResponseError, match=r"^value is not a valid float$"):
            r.incrbyfloat("f", bad)
    for inf in ("inf", "-inf", "infinity"):
        with pytest.raises(redis.ResponseError, match=r"^increment would produce NaN or Infinity$"):
            r.incrbyfloat("f", inf)
    r.set("huge", "1e4932")
    with pytest.raises(redis.ResponseError, match=r"^increment would produce NaN or Infinity$"):
        r.incrbyfloat("huge", "1e4932")
    r.set("s", "text")
    with pytest.raises(redis.ResponseError, match=r"^value is not a valid float$"):
        r.incrbyfloat("s", 1)
    r.rpush("l", "x")
    with pytest.raises(redis.ResponseError, match=r"^WRONGTYPE"):
        r.incrbyfloat("l", 1)
    assert r.get("f") == b"2.5"


def test_incrbyfloat_propagates_set_keepttl(local: Local) -> None:
    local("incrbyfloat", "f", "0.1")
    local("incrbyfloat", "f", "0.2")
    assert local.cap.take() == [[b"SET", b"f", b"0.1", b"KEEPTTL"], [b"SET", b"f", b"0.3", b"KEEPTTL"]]
    local("incrbyfloat", "f", "abc")
    assert local.cap.take() == []


def _float_text(rng: random.Random) -> str:
    k = rng.random()
    if k < 0.25:
        return f"{rng.uniform(-1000, 1000):.{rng.randint(0, 25)}f}"
    if k < 0.4:
        return f"{rng.uniform(-1, 1):.{rng.randint(1, 20)}e}{rng.randint(-30, 30)}"
    if k < 0.5:
        return str(rng.randint(-(10**20), 10**20))
    if k < 0.6:
        return f"0x{rng.randint(1, 10**6):x}.{rng.randint(0, 999):x}p{rng.randint(-20, 20)}"
    if k < 0.7:
        return f"{rng.randint(1, 9)}.{rng.randint(0, 10**20)}e{rng.randint(-4955, -4930)}"
    if k < 0.8:
        return f"-{rng.randint(1, 9)}.{rng.randint(0, 10**20)}e{rng.randint(4925, 4932)}"
    if k < 0.9:
        return f"{rng.random():.17g}"
    return rng.choice(["0.1", "0.2", "-0", ".5", "5.", "1.e2", "1e-4951", "1.1e4932", "inf", "x", "1e"])


def test_incrbyfloat_random_matches_stock(both: tuple[RespConn, RespConn]) -> None:
    """Random pairs, including subnormals, huge exponents and hex: digit-for-digit as stock."""
    rng = random.Random(20240607)
    script: list[list[str | bytes]] = []
    for _ in range(400):
        script.append(["set", "x", _float_text(rng)])
        script.append(["incrbyfloat", "x", _float_text(rng)])
        script.append(["get", "x"])
    assert_same(both, script)


# --- LCS -------------------------------------------------------------------------------------------


def test_lcs_matches_stock(both: tuple[RespConn, RespConn]) -> None:
    rng = random.Random(7)
    script: list[list[str | bytes]] = [["set", "a", "ohmytext"], ["set", "b", "mynewtext"]]
    for opts in ([], ["len"], ["idx"], ["idx", "minmatchlen", "4"], ["idx", "withmatchlen"]):
        script.append(["lcs", "a", "b", *opts])
    script += lines(
        """
        lcs a nokey
        lcs a nokey idx
        lcs nokey nokey2 idx withmatchlen
        rpush l x
        lcs a l
        lcs l a len
        lcs a b idx len
        lcs a b minmatchlen
        lcs a b minmatchlen abc
        lcs a b minmatchlen -5 idx
        lcs a b foo
        lcs a a idx withmatchlen
        """
    )
    for _ in range(60):
        a = "".join(rng.choice("abc") for _ in range(rng.randint(0, 30)))
        b = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 30)))
        script.append(["mset", "x", a, "y", b])
        opts = rng.choice(
            [[], ["len"], ["idx"], ["idx", "withmatchlen"], ["idx", "minmatchlen", "2", "withmatchlen"]]
        )
        script.append(["lcs", "x", "y", *opts])
    script.append(["hello", "3"])
    script.append(["lcs", "a", "b", "idx", "withmatchlen"])
    script.append(["lcs", "x", "y", "idx"])
    assert_same(both, script)


def test_lcs_long_strings_match_stock(both: tuple[RespConn, RespConn]) -> None:
    """2000x1500 bytes: the bit-parallel table gives Redis's exact traceback, quickly."""
    rng = random.Random(3)
    a = "".join(rng.choice("ACGT") for _ in range(2000))
    b = "".join(rng.choice("ACGT") for _ in range(1500))
    start = time.monotonic()
    assert_same(
        both,
        [
            ["mset", "a", a, "b", b],
            ["lcs", "a", "b"],
            ["lcs", "a", "b", "len"],
            ["lcs", "a", "b", "idx", "minmatchlen", "3", "withmatchlen"],
        ],
    )
    assert time.monotonic() - start < 20


def test_lcs_transient_memory_limit(start_server: Any) -> None:
    srv = start_server("--save", "", "--proto-max-bulk-len", "1mb")
    c = srv.client()
    c.set("a", "x" * 600)
    c.set("b", "y" * 600)
    with pytest.raises(redis.ResponseError, match=r"^Insufficient memory, transient memory for LCS exceeds"):
        c.execute_command("LCS", "a", "b")
    c.set("b", "y" * 100)
    assert c.execute_command("LCS", "a", "b", "LEN") == 0


# --- size limits ----------------------------------------------------------------------------------


def test_proto_max_bulk_len_limits_setrange_and_append(start_server: Any) -> None:
    srv = start_server("--save", "", "--proto-max-bulk-len", "1mb")
    c = srv.client()
    limit = 1024 * 1024
    with pytest.raises(
        redis.ResponseError, match=r"^string exceeds maximum allowed size \(proto-max-bulk-len\)$"
    ):
        c.setrange("s", limit, "x")
    assert c.exists("s") == 0
    assert c.setrange("s", limit - 1, "x") == limit
    with pytest.raises(redis.ResponseError, match=r"^string exceeds maximum allowed size"):
        c.append("s", "y")
    assert c.strlen("s") == limit
    assert c.setrange("s", 0, "") == limit  # nothing to write: no limit check, just the length


def test_getrange_random_matches_stock(both: tuple[RespConn, RespConn]) -> None:
    rng = random.Random(11)
    script: list[list[str | bytes]] = [["set", "s", "0123456789"], ["set", "e", ""], ["set", "i", "-12345"]]
    for _ in range(150):
        key = rng.choice(["s", "e", "i", "nokey"])
        script.append(["getrange", key, str(rng.randint(-14, 14)), str(rng.randint(-14, 14))])
    for _ in range(40):
        script.append(
            [
                "setrange",
                "t",
                str(rng.randint(0, 20)),
                "".join(rng.choice("xyz") for _ in range(rng.randint(0, 4))),
            ]
        )
        script.append(["get", "t"])
    assert_same(both, script)
