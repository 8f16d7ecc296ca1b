"""Bitmap commands (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO): replies compared
byte for byte with stock Redis 7.0 (scripted edge cases and seeded random streams), what each
write counts as a change and propagates, keyspace statistics, and the in-place write path for
big strings (identity, isolation from other holders, cost)."""

from __future__ import annotations

import random
import shlex
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis

from server.client import Client, NullTransport
from server.commands import bitmaps
from server.engine import Engine
from tests.server.differential import RespConn, parse_replies

# --- helpers -------------------------------------------------------------------------------------


class Capture:
    """A propagation sink remembering every command fed to the AOF/replicas."""

    def __init__(self) -> None:
        self.fed: list[bytes] = []

    def feed(self, db_id: int, data: bytes) -> None:
        self.fed.append(data)

    def take(self) -> list[list[bytes]]:
        out = [[item[1] for item in rep[1]] for data in self.fed for rep in parse_replies(data)]
        self.fed.clear()
        return out


class Local:
    """An in-process engine with one client and a capturing sink."""

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
    ours, theirs = RespConn(server.port), RespConn(stock.port)
    yield ours, theirs
    ours.close()
    theirs.close()


def raw_call(conn: RespConn, argv: list[bytes]) -> bytes:
    """The exact bytes of the reply to one command."""
    before = len(conn.raw_log)
    conn.call(*argv)
    return bytes(conn.raw_log[before:])


def encode(args: Sequence[str | bytes]) -> list[bytes]:
    return [a if isinstance(a, bytes) else a.encode() for a in args]


def assert_same(both: tuple[RespConn, RespConn], script: list[list[bytes]]) -> None:
    """Every reply byte for byte as stock Redis's."""
    ours, theirs = both
    for argv in script:
        want = raw_call(theirs, argv)
        got = raw_call(ours, argv)
        assert got == want, f"{argv}: stock {want!r}, ours {got!r}"


def lines(text: str) -> list[list[bytes]]:
    return [encode(shlex.split(line)) for line in text.strip().splitlines() if line.strip()]


def changes(conn: RespConn) -> int:
    info = conn.call("INFO", "persistence")[1].decode()
    for line in info.splitlines():
        if line.startswith("rdb_changes_since_last_save:"):
            return int(line.split(":")[1])
    raise AssertionError("no rdb_changes_since_last_save in INFO")


def keyspace_stats(conn: RespConn) -> tuple[int, int]:
    info = conn.call("INFO", "stats")[1].decode()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return int(fields["keyspace_hits"]), int(fields["keyspace_misses"])


# --- scripted comparisons with stock -----------------------------------------------------------------


def test_setbit_getbit_match_stock(both: tuple[RespConn, RespConn]) -> None:
    assert_same(
        both,
        lines(
            """
            setbit k 7 1
            get k
            setbit k 7 1
            setbit k 7 0
            setbit k 0 1
            get k
            setbit k 100 1
            strlen k
            get k
            getbit k 100
            getbit k 101
            getbit k 100000
            getbit nokey 5
            setbit k -1 1
            setbit k 1.5 1
            setbit k 01 1
            setbit k +1 1
            setbit k "" 1
            setbit k 4294967295 x
            setbit k 4294967296 1
            setbit k 1 2
            setbit k 1 -1
            setbit k 1 01
            setbit k 1 ""
            setbit k x y
            getbit k -1
            getbit k x
            getbit k 4294967296
            set n 12345
            getbit n 2
            getbit n 3
            setbit n 3 1
            get n
            object encoding n
            set e ""
            getbit e 0
            setbit e 0 1
            object encoding e
            rpush l a
            setbit l 0 1
            getbit l 0
            setbit l x 1
            setbit l 0 2
            getbit l x
            set t abc EX 100
            setbit t 1 1
            ttl t
            """
        ),
    )


def test_bitcount_bitpos_match_stock(both: tuple[RespConn, RespConn]) -> None:
    assert_same(
        both,
        lines(
            r"""
            set k foobar
            bitcount k
            bitcount k 0 0
            bitcount k 1 1
            bitcount k 1 -1
            bitcount k -100 100
            bitcount k -1 -2
            bitcount k -1 -2 bad
            bitcount k 5 1
            bitcount k 0 -1 BIT
            bitcount k 5 30 bit
            bitcount k 1 1 BYTE
            bitcount k -9 -2 bit
            bitcount k 0 47 bit
            bitcount k 0 48 bit
            bitcount k 3 3 bit
            bitcount k 1 2 bad
            bitcount k 1
            bitcount k 1 2 3 4
            bitcount k x 1
            bitcount k 1 x
            bitcount k 9223372036854775807 -9223372036854775808 bit
            bitcount k -9223372036854775808 9223372036854775807 bit
            bitcount nokey
            bitcount nokey x y z
            bitcount nokey 1
            set n 1234
            bitcount n
            bitcount n 1 2
            set z "\x00\x00\x00"
            bitpos z 1
            bitpos z 0
            bitpos z 0 1
            set f "\xff\xff\xff"
            bitpos f 0
            bitpos f 0 1
            bitpos f 0 0 -1
            bitpos f 0 0 -1 bit
            bitpos f 0 3 bit
            bitpos f 1 3 bit
            set g "\xff\xf0\x00"
            bitpos g 0
            bitpos g 1 2
            bitpos g 0 1 1
            bitpos g 1 12 bit
            bitpos g 0 5 bit
            bitpos g 0 5 10 bit
            bitpos g 1 12 14 bit
            bitpos g 0 12 14 bit
            bitpos g 1 -12 -1 bit
            bitpos g 0 -3 -1 bit
            bitpos g 1 2 1
            bitpos g 1 100
            bitpos g 0 100
            bitpos g 2
            bitpos g -1
            bitpos g x
            bitpos g 1 x
            bitpos g 1 0 x
            bitpos g 1 0 BIT
            bitpos g 1 0 1 bad
            bitpos g 1 x 1 bad
            bitpos g 1 0 x bad
            bitpos g 1 0 1 bit extra
            bitpos nokey 1
            bitpos nokey 0
            bitpos nokey 0 x y z w
            bitpos nokey 2
            set e ""
            bitpos e 0
            bitpos e 1
            bitpos e 0 0 -1
            bitcount e
            bitcount e 0 -1 bit
            rpush l a
            bitcount l
            bitcount l x
            bitpos l 1
            bitpos l 2
            """
        ),
    )


def test_bitop_matches_stock(both: tuple[RespConn, RespConn]) -> None:
    assert_same(
        both,
        lines(
            r"""
            set a "\x0f\xf0\xaa"
            set b "\xff"
            set c "1"
            bitop and d a b
            get d
            bitop or d a b c
            get d
            bitop xor d a b c
            get d
            bitop not d a
            get d
            object encoding d
            bitop AnD d a nokey
            get d
            bitop and d nokey
            exists d
            bitop or d nokey nokey2
            bitop not d b
            object encoding d
            bitop not d a b
            bitop not d
            bitop foo d a
            bitop and d
            set t x EX 100
            bitop or t a
            ttl t
            rpush l x
            bitop or d a l
            bitop or l a
            type l
            get l
            bitop and l2 nokey
            set e ""
            bitop not d e
            exists d
            bitop or d e e
            """
        ),
    )


def test_bitfield_matches_stock(both: tuple[RespConn, RespConn]) -> None:
    assert_same(
        both,
        lines(
            r"""
            bitfield k
            bitfield k get u8 0 get i64 0 get u63 1
            exists k
            bitfield k get u64 0
            bitfield k get i65 0
            bitfield k get u0 0
            bitfield k get x8 0
            bitfield k get "" 0
            bitfield k get i08 0
            bitfield k get u8 #1 get u8 #-1
            bitfield k get u8 -1
            bitfield k set u8 0
            bitfield k set u8 0 1x
            bitfield k incrby u8 0 1.5
            bitfield k overflow foo get u8 0
            bitfield k overflow
            bitfield k get u8
            bitfield k bogus
            bitfield_ro k set u8 0 1
            bitfield_ro k incrby u8 0 1
            bitfield_ro k get u8 0 set u8 0 x
            bitfield_ro k get u8 0 overflow sat
            exists k
            bitfield k overflow fail set u8 0 256 get u8 0
            exists k
            get k
            bitfield k overflow sat set u8 0 -1 incrby i8 8 200 incrby i8 8 -1000 overflow wrap incrby u4 0 100
            bitfield k incrby i64 0 9223372036854775807 incrby i64 0 9223372036854775807
            bitfield k overflow sat incrby i64 0 9223372036854775807 incrby i64 0 -9223372036854775808
            bitfield k overflow fail incrby i64 0 -9223372036854775808 incrby u63 1 -1
            get k
            bitfield k overflow sat set i9 5 -9223372036854775808 get i9 5
            bitfield k overflow wrap set i9 5 -9223372036854775808 get i9 5
            bitfield k overflow fail set i9 5 -9223372036854775808 get i9 5
            bitfield k overflow sat set i9 5 -9223372036854775553 set i9 5 -9223372036854775552 get i9 5
            bitfield k overflow sat set u9 5 -1 get u9 5 set u9 5 -512 get u9 5
            bitfield k set i1 0 1 get i1 0 get u1 0 set i1 0 -1 get i1 0
            bitfield k set u8 #2 200 get u8 #2 get u8 16 set i16 #3 -2 get i16 48
            bitfield k incrby u2 100 1 incrby u2 100 1 incrby u2 100 1 incrby u2 100 1
            bitfield k overflow fail incrby u2 102 5 incrby u2 102 -1 overflow sat incrby u2 102 -1
            bitfield k get i64 #9223372036854775807
            bitfield k get u8 4294967295
            bitfield k get u8 4294967296
            bitfield k set u8 4294967296 1
            bitfield k GET u8 0 SeT u8 0 7 InCrBy u8 0 1 OvErFlOw WrAp get u8 0
            get k
            object encoding k
            set t abcdef EX 100
            bitfield t set u8 0 65
            ttl t
            get t
            set n 77
            bitfield n get u8 0 set u8 8 97
            get n
            object encoding n
            rpush l a
            bitfield l get u8 0
            bitfield l set u8 0 1
            bitfield_ro l get u8 0
            bitfield l get u99 0
            """
        ),
    )


def test_bitfield_fail_null_in_resp3(both: tuple[RespConn, RespConn]) -> None:
    ours, theirs = both
    for conn in both:
        conn.call("HELLO", "3")
    assert_same((ours, theirs), lines("bitfield k overflow fail incrby u2 0 4 get u2 0\nbitfield k get i8 0"))


def test_offset_limit_follows_proto_max_bulk_len(both: tuple[RespConn, RespConn]) -> None:
    assert_same(
        both,
        lines(
            """
            config set proto-max-bulk-len 1mb
            setbit k 8388607 1
            setbit k 8388608 1
            getbit k 8388608
            bitfield k get u8 8388607
            bitfield k get u8 8388608
            bitfield k set u8 8388607 255
            bitfield k set u8 #1048575 1
            strlen k
            """
        ),
    )


# --- seeded random streams against stock --------------------------------------------------------------

_KEYS = [b"k1", b"k2", b"k3", b"lst"]


def _random_op(rng: random.Random) -> list[bytes]:
    def num(lo: int, hi: int) -> bytes:
        return str(rng.randint(lo, hi)).encode()

    k = rng.choice(_KEYS)
    which = rng.randrange(10)
    if which == 0:
        return [b"SETBIT", k, num(0, 100), rng.choice([b"0", b"1", b"1", b"2", b"x"])]
    if which == 1:
        return [b"GETBIT", k, num(0, 100)]
    if which == 2:
        argv = [b"BITCOUNT", k]
        if rng.random() < 0.7:
            argv += [num(-20, 20), num(-20, 20)]
        if rng.random() < 0.4:
            argv.append(rng.choice([b"BIT", b"BYTE", b"bit", b"x"]))
        return argv
    if which == 3:
        argv = [b"BITPOS", k, rng.choice([b"0", b"1"])]
        argv += [num(-40, 40) for _ in range(rng.randrange(3))]
        if len(argv) == 5 and rng.random() < 0.6:
            argv.append(rng.choice([b"BIT", b"BYTE"]))
        return argv
    if which == 4:
        name = rng.choice([b"AND", b"OR", b"XOR", b"NOT"])
        return [b"BITOP", name, rng.choice(_KEYS), *(rng.choice(_KEYS) for _ in range(rng.randrange(1, 4)))]
    if which == 5:
        return [b"SET", k, bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12)))]
    if which == 6:
        return [b"RPUSH", b"lst", b"x"] if rng.random() < 0.5 else [b"DEL", k]
    argv = [rng.choice([b"BITFIELD", b"BITFIELD", b"BITFIELD_RO"]), k]
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(5)
        width = rng.choice([1, 2, 3, 5, 7, 8, 9, 15, 16, 31, 32, 33, 63, 64])
        typ = rng.choice([b"u", b"i"]) + str(width).encode()
        off = (b"#" if rng.random() < 0.2 else b"") + num(0, 90)
        amount = rng.choice([0, 1, -1, 5, 100, -100, 255, 256, 2**31, -(2**63), 2**63 - 1])
        if rng.random() < 0.3:
            amount = rng.randint(-(2**63), 2**63 - 1)
        v = str(amount).encode()
        if op == 0:
            argv += [b"GET", typ, off]
        elif op == 1:
            argv += [b"SET", typ, off, v]
        elif op == 2:
            argv += [b"INCRBY", typ, off, v]
        else:
            argv += [b"OVERFLOW", rng.choice([b"WRAP", b"SAT", b"FAIL"])]
    return argv


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_bit_streams_match_stock(both: tuple[RespConn, RespConn], seed: int) -> None:
    """Replies and the changes each command counts (what gets propagated) equal stock's."""
    ours, theirs = both
    rng = random.Random(seed)
    for i in range(700):
        argv = _random_op(rng)
        before = changes(theirs), changes(ours)
        want, got = raw_call(theirs, argv), raw_call(ours, argv)
        assert got == want, f"seed {seed} op {i} {argv}: stock {want!r}, ours {got!r}"
        delta_stock, delta_ours = changes(theirs) - before[0], changes(ours) - before[1]
        assert delta_ours == delta_stock, f"seed {seed} op {i} {argv}: changes {delta_ours} vs {delta_stock}"
    for k in _KEYS:
        for argv in ([b"TYPE", k], [b"GET", k], [b"OBJECT", b"ENCODING", k]):
            if argv[0] == b"GET" and theirs.call(b"TYPE", k)[1] != b"string":
                continue
            assert raw_call(ours, argv) == raw_call(theirs, argv), argv


def test_keyspace_hits_and_misses_match_stock(both: tuple[RespConn, RespConn]) -> None:
    """Reads count hits/misses (GETBIT BITCOUNT BITPOS BITOP's sources, BITFIELD with only
    GETs); writes (SETBIT, BITFIELD with SET/INCRBY) do not."""
    ours, theirs = both
    script = lines(
        """
        setbit a 3 1
        setbit nokey0 1 0
        getbit a 3
        getbit missing 3
        bitcount a
        bitcount missing
        bitpos a 1
        bitpos missing 1
        bitop or d a missing b2
        bitfield a get u8 0
        bitfield missing get u8 0
        bitfield a set u8 0 1
        bitfield missing2 incrby u8 0 1 get u8 0
        bitfield_ro a get u8 0
        bitfield_ro missing3 get u8 0
        """
    )
    for argv in script:
        ours.call(*argv)
        theirs.call(*argv)
        assert keyspace_stats(ours) == keyspace_stats(theirs), argv


# --- propagation (in-process) ------------------------------------------------------------------------


def test_setbit_propagates_only_changes(local: Local) -> None:
    """Redis 7.0.15 counts a SETBIT as a change only if the string grew or the bit flipped."""
    local("setbit", "k", "3", "1")
    local("setbit", "k", "3", "1")  # same bit: nothing to propagate
    local("setbit", "k", "3", "0")
    local("setbit", "k", "20", "0")  # grows the string: a change though no bit is set
    assert local.cap.take() == [
        [b"setbit", b"k", b"3", b"1"],
        [b"setbit", b"k", b"3", b"0"],
        [b"setbit", b"k", b"20", b"0"],
    ]
    local("setbit", "k", "-1", "1")  # errors change nothing
    local("setbit", "k", "1", "2")
    local("getbit", "k", "3")
    assert local.cap.take() == []
    assert local("get", "k") == b"$3\r\n\x00\x00\x00\r\n"


def test_bitop_propagation(local: Local) -> None:
    local("set", "a", "x")
    local.cap.take()
    local("bitop", "or", "d", "a", "missing")
    assert local.cap.take() == [[b"bitop", b"or", b"d", b"a", b"missing"]]
    local("bitop", "and", "e", "missing")  # empty result, no destination to delete
    assert local.cap.take() == []
    local("bitop", "and", "d", "missing")  # empty result deletes the destination
    assert local.cap.take() == [[b"bitop", b"and", b"d", b"missing"]]
    assert local("exists", "d") == b":0\r\n"


def test_bitfield_propagation(local: Local) -> None:
    local("bitfield", "k", "get", "u8", "0")
    local("bitfield_ro", "k", "get", "u8", "0")
    assert local.cap.take() == []
    # refused by FAIL: no change, so not propagated, though the key was created (as in Redis)
    local("bitfield", "k", "overflow", "fail", "incrby", "u2", "0", "9")
    assert local.cap.take() == []
    assert local("get", "k") == b"$1\r\n\x00\r\n"
    local("bitfield", "k", "set", "u8", "0", "0", "incrby", "u8", "0", "0")  # same values
    assert local.cap.take() == []
    local("bitfield", "k", "set", "u8", "0", "1", "get", "u8", "0")
    assert local.cap.take() == [[b"bitfield", b"k", b"set", b"u8", b"0", b"1", b"get", b"u8", b"0"]]
    dirty = local.engine.dirty
    local("bitfield", "k", "set", "u8", "8", "0", "set", "u8", "0", "1")  # grows: both count
    assert local.engine.dirty == dirty + 2
    assert local.cap.take() == [[b"bitfield", b"k", b"set", b"u8", b"8", b"0", b"set", b"u8", b"0", b"1"]]


def test_bitop_signals_only_its_destination(r: redis.Redis) -> None:
    """WATCH on a source key survives BITOP; WATCH on the destination does not."""
    r.set("src", "a")
    p = r.pipeline()
    p.watch("src")
    r.bitop("OR", "dst", "src")
    p.multi()
    p.set("x", "1")
    assert p.execute() == [True]
    p = r.pipeline()
    p.watch("dst")
    r.bitop("AND", "dst", "src")
    p.multi()
    p.set("x", "2")
    with pytest.raises(redis.WatchError):
        p.execute()


# --- in-place writes to big strings ---------------------------------------------------------------

needs_inplace = pytest.mark.skipif(not bitmaps.INPLACE, reason="in-place writes are off on this interpreter")


@needs_inplace
def test_setbit_changes_an_exclusive_big_string_in_place(local: Local) -> None:
    size = 2 * bitmaps.INPLACE_MIN
    local("setbit", "bm", size * 8 - 1, 1)
    db = local.engine.keyspace[0]
    local("setbit", "bm", 0, 1)  # the value created above may still be shared: a copy at most
    ident = id(db.data[b"bm"])
    h = hash(db.data[b"bm"])  # cache a hash in the object
    assert local("setbit", "bm", 9, 1) == b":0\r\n"
    value = db.data[b"bm"]
    assert id(value) == ident  # the same object, changed
    assert value[:2] == b"\x80\x40" and value[-1] == 1 and len(value) == size
    assert hash(value) == hash(bytes(value)) != h  # the cached hash was reset
    del value
    local("bitfield", "bm", "set", "u16", "#1", "65535", "incrby", "i8", "0", "-1")
    value = db.data[b"bm"]
    assert id(value) == ident
    assert value[:4] == b"\x7f\x40\xff\xff"


@needs_inplace
def test_in_place_write_never_touches_another_holder(local: Local) -> None:
    """A reference held anywhere else (here: a test variable, as an argv, reply or encoding mark
    would) makes SETBIT copy: the other holder keeps the old contents."""
    size = 2 * bitmaps.INPLACE_MIN
    local("setbit", "bm", size * 8 - 1, 1)
    db = local.engine.keyspace[0]
    local("setbit", "bm", 0, 1)
    held = db.data[b"bm"]
    snapshot = bytes(bytearray(held))
    local("setbit", "bm", 5, 1)
    local("bitfield", "bm", "set", "u8", "#3", "7")
    assert held == snapshot  # untouched
    assert db.data[b"bm"] is not held
    assert db.data[b"bm"][0] == 0x84 and db.data[b"bm"][3] == 7


@needs_inplace
def test_in_place_keeps_ttl_and_growth_copies(local: Local) -> None:
    size = 2 * bitmaps.INPLACE_MIN
    local("setbit", "bm", size * 8 - 1, 1)
    local("pexpire", "bm", "100000")
    local("setbit", "bm", 1, 1)
    local("setbit", "bm", 2, 1)
    assert 0 < int(local("pttl", "bm")[1:-2]) <= 100000
    assert local("setbit", "bm", size * 8, 1) == b":0\r\n"  # grows: a new, longer string
    assert local("strlen", "bm") == b":%d\r\n" % (size + 1)
    assert local("bitcount", "bm") == b":4\r\n"
    assert local("object", "encoding", "bm") == b"$3\r\nraw\r\n"


@needs_inplace
def test_setbit_on_a_big_bitmap_costs_no_copy(local: Local) -> None:
    """SETBIT at random offsets of an 8 MB bitmap: a copy per call would cost about a
    millisecond each; in place it is a few microseconds."""
    size = 8 << 20
    local("setbit", "bm", size * 8 - 1, 1)
    local("setbit", "bm", 0, 1)
    rng = random.Random(7)
    offsets = [rng.randrange(size * 8) for _ in range(300)]
    t = time.perf_counter()
    for off in offsets:
        local("setbit", "bm", off, 1)
    per_call = (time.perf_counter() - t) / len(offsets)
    assert per_call < 200e-6, f"{per_call * 1e6:.0f} us per SETBIT on 8 MB"
    assert local("bitcount", "bm") == b":%d\r\n" % len(set(offsets) | {0, size * 8 - 1})


def test_bit_commands_on_a_big_string_match_stock(both: tuple[RespConn, RespConn]) -> None:
    """The in-place path through the network (values larger than INPLACE_MIN), against stock."""
    rng = random.Random(11)
    size = 3 * bitmaps.INPLACE_MIN + 5
    script = [[b"SET", b"big", bytes(rng.randrange(256) for _ in range(size))]]
    for _ in range(150):
        off = str(rng.randrange(size * 8)).encode()
        script.append(
            rng.choice(
                [
                    [b"SETBIT", b"big", off, rng.choice([b"0", b"1"])],
                    [b"GETBIT", b"big", off],
                    [b"BITFIELD", b"big", b"INCRBY", b"i13", off, b"1000", b"GET", b"u7", off],
                    [b"BITPOS", b"big", rng.choice([b"0", b"1"]), b"%d" % rng.randrange(size)],
                    [b"BITCOUNT", b"big", b"%d" % rng.randrange(size), b"-1"],
                ]
            )
        )
    script += [[b"GET", b"big"], [b"OBJECT", b"ENCODING", b"big"]]
    assert_same(both, script)


def test_command_info_and_docs_match_stock(both: tuple[RespConn, RespConn]) -> None:
    """Arity, flags, key positions, ACL categories and docs as registered."""
    names = ["setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield", "bitfield_ro"]
    assert_same(both, [[b"COMMAND", sub, n.encode()] for n in names for sub in (b"INFO", b"DOCS")])
