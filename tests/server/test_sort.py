"""SORT and SORT_RO: replies compared byte for byte with stock Redis 7.0 (scripted cases and
seeded random streams, including the tie orders of Redis's partial quicksort), the changes a
STORE counts and what it propagates, key positions, WATCH and blocked clients on the
destination, and keyspace statistics of BY/GET lookups."""

from __future__ import annotations

import random
import shlex
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis

from server.client import Client, NullTransport
from server.commands.sort import strtod_score
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


def raw_call(conn: RespConn, argv: Sequence[bytes]) -> bytes:
    """The exact bytes of the reply to one command."""
    before = len(conn.raw_log)
    conn.call(*argv)
    return bytes(conn.raw_log[before:])


def lines(text: str) -> list[list[bytes]]:
    return [
        [a.encode("latin-1") for a in shlex.split(line)] for line in text.strip().splitlines() if line.strip()
    ]


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


def assert_same(
    both: tuple[RespConn, RespConn], script: list[list[bytes]], check_changes: bool = False
) -> None:
    """Every reply byte for byte as stock Redis's (and, if asked, the changes each counts)."""
    ours, theirs = both
    for argv in script:
        before = (changes(theirs), changes(ours)) if check_changes else (0, 0)
        want = raw_call(theirs, argv)
        got = raw_call(ours, argv)
        assert got == want, f"{argv}: stock {want!r}, ours {got!r}"
        if check_changes:
            assert changes(ours) - before[1] == changes(theirs) - before[0], f"changes after {argv}"


_DATA = r"""
rpush l 3 1 2 10 -5 1.5 2
rpush words banana apple Cherry apple2 "" "x y"
sadd iset 5 3 -1 100 7
sadd mixed b a 10 2
zadd z 3 c 1 a 2 b 2 bb -1 neg
set w_1 30
set w_2 10
set w_3 20
set w_10 -1
set w_-5 abc
set wn_1 1
set wn_2 x
hset h_1 f 3 g one
hset h_2 f 1 g two
hset h_3 f 2
hset h_10 g ten
set w_a 2
set w_b 1
set w_c 3
"""


def test_sort_basics_match_stock(both: tuple[RespConn, RespConn]) -> None:
    assert_same(
        both,
        lines(
            _DATA
            + r"""
            sort l
            sort l desc
            sort l alpha
            sort l alpha desc
            sort l limit 1 3
            sort l limit 0 0
            sort l limit -5 2
            sort l limit 2 -1
            sort l limit 100 2
            sort l limit 1 9223372036854775807
            sort l limit 9223372036854775807 9223372036854775807
            sort l limit x 1
            sort l limit 1 x
            sort l limit 1
            sort words
            sort words alpha
            sort words alpha desc limit 1 2
            sort iset
            sort iset desc
            sort mixed alpha
            sort mixed
            object encoding z
            sort_ro z limit 0 0
            object encoding z
            sort z
            sort z alpha
            sort z desc alpha
            sort_ro l desc limit 0 3
            sort nokey
            sort nokey alpha limit 0 5
            sort_ro nokey
            sort l asc desc asc
            sort l alpha alpha
            sort l bogus
            sort_ro l store dst
            sort l store
            set str x
            sort str
            sort_ro str
            hset hh a b
            sort hh
            sort l by
            sort l get
            """
        ),
    )


def test_sort_by_and_get_match_stock(both: tuple[RespConn, RespConn]) -> None:
    assert_same(
        both,
        lines(
            _DATA
            + r"""
            rpush n 1 2 3 10
            sort n by w_*
            sort n by w_* desc
            sort n by w_* get #
            sort n by w_* get # get w_* get h_*->f get h_*->g get nokey get h_*-> get *
            sort n by h_*->f
            sort n by h_*->g alpha
            sort n by h_*->g alpha desc
            sort n by h_*->f get h_*->g
            sort n by wn_*
            sort n by nosort
            sort n by nosort desc
            sort n by nosort limit 1 2
            sort n by nosort desc limit 1 2
            sort n by nosort get w_*
            sort n by nosort alpha
            sort z by nosort
            sort z by nosort desc
            sort z by nosort limit 1 2
            sort z by nosort desc limit 1 3
            sort z by nosort desc limit 10 3
            sort z by w_*
            sort z by w_* get # get w_*
            sort iset by nosort
            sort iset by nosort desc limit 1 2
            sort n by w_* limit 1 2
            sort n by w_* alpha limit 0 2
            sort n by h_* get h_*
            sort n get #
            sort n get # get #
            sort n by # get #
            sort l by w_*
            sort words by w_*
            sort words by w_* alpha
            sort n by w_*->f
            set w_3 3.5e300
            sort n by w_*
            set w_3 1e400
            sort n by w_*
            sort n by w_* alpha
            sort n by nosort by w_*
            sort n by w_* by nosort
            """
        ),
    )


def test_sort_scores_as_strtod_reads_them(both: tuple[RespConn, RespConn]) -> None:
    """Numbers as C's strtod accepts them (hex, inf, leading spaces, "" as 0, text after a NUL
    ignored) and rejects them (trailing text, NaN, overflow, inexact underflow).

    Redis tests errno without clearing it first, so after an ERANGE on a connection, stock
    rejects every later score until something else resets errno: the accepted values go first.
    """
    accepted = ["2.2250738585072014e-308", "0x1p-1074", "0x1.8p-1070", "0x0p-99999999", "  5", ""]
    accepted += ["inf", "-Infinity", "+.5", "0X1P3", "7\x00junk", "-0", "0", "00012", "1.", "\t\n3"]
    rejected = [" ", "5 ", "nan", "0x", "1e", ".", "1_0", "infx"]  # no ERANGE: errno untouched
    rejected += ["1e-310", "1e-400", "4.9e-324", "0x1p-1080", "1e400", "0x1p2000", "0x1p-99999999"]
    script = []
    for v in accepted + rejected:
        script += [[b"DEL", b"sl"], [b"RPUSH", b"sl", v.encode("latin-1"), b"0", b"1"], [b"SORT", b"sl"]]
    assert_same(both, script)
    for v in accepted:
        assert strtod_score(v.encode("latin-1")) is not None, v
    for v in rejected:
        assert strtod_score(v.encode("latin-1")) is None, v
    assert strtod_score(b"12") == 12.0
    assert strtod_score(b"0x10") == 16.0


def test_sort_alpha_collation_and_nul_bytes(both: tuple[RespConn, RespConn]) -> None:
    """ALPHA compares with strcoll (C.UTF-8: strcmp, so up to a NUL; ties keep list order);
    with STORE it compares binary strings."""
    rng = random.Random(5)
    alphabet = [0x00, 0x41, 0x61, 0x5A, 0x7A, 0x30, 0x20, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xFF, 0x80, 0x2D]
    for _ in range(40):
        vals = [bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 5))) for _ in range(12)]
        script = [[b"DEL", b"cl"], [b"RPUSH", b"cl", *vals]]
        script += [
            [b"SORT", b"cl", b"ALPHA"],
            [b"SORT", b"cl", b"ALPHA", b"DESC"],
            [b"SORT", b"cl", b"ALPHA", b"STORE", b"cd"],
            [b"LRANGE", b"cd", b"0", b"-1"],
            [b"SORT", b"cl", b"ALPHA", b"LIMIT", b"2", b"5"],
        ]
        assert_same(both, script)


def test_sort_store_matches_stock(both: tuple[RespConn, RespConn]) -> None:
    """Replies and the changes STORE counts (the number of stored elements; 1 for deleting the
    destination; none for an empty result with no destination)."""
    assert_same(
        both,
        lines(
            _DATA
            + r"""
            sort l store dst
            lrange dst 0 -1
            type dst
            object encoding dst
            sort l desc limit 1 2 store dst
            lrange dst 0 -1
            sort l by w_* get # get w_* get h_*->g store dst
            lrange dst 0 -1
            set dst2 abc ex 100
            sort l store dst2
            ttl dst2
            type dst2
            sort nokey store dst2
            exists dst2
            sort nokey store dst2
            sort l limit 0 0 store dst
            exists dst
            sort mixed by nosort store dst
            lrange dst 0 -1
            sort mixed store dst
            sort mixed alpha store dst
            lrange dst 0 -1
            sort mixed by nosort alpha desc store dst
            lrange dst 0 -1
            sort iset by nosort store dst
            lrange dst 0 -1
            sort l store dst store dst3
            exists dst dst3
            lrange dst3 0 -1
            sort l store l
            lrange l 0 -1
            sort words by w_* store dst
            set w_banana x
            sort words by w_* store dst
            sort words by w_* alpha store dst
            lrange dst 0 -1
            sort str store dst
            """
        ),
        check_changes=True,
    )


# --- seeded random streams ---------------------------------------------------------------------------


_VALUES = [b"1", b"2", b"10", b"-3", b"3.5", b"a", b"b", b"B", b"", b"1e3", b"0x10", b" 4", b"abc\x00z"]
_VALUES += [b"abc\x00a", b"7", b"inf", b"-inf", b"z", b"\xc3\xa9", b"010"]


def _val(rng: random.Random) -> bytes:
    return rng.choice(_VALUES)


def _random_op(rng: random.Random) -> list[bytes]:
    which = rng.randrange(12)
    if which == 0:
        return [b"RPUSH", b"l", *(_val(rng) for _ in range(rng.randrange(1, 6)))]
    if which == 1:
        return [b"SADD", b"s", *(_val(rng) for _ in range(rng.randrange(1, 6)))]
    if which == 2:
        pairs = [[str(rng.randint(-3, 3)).encode(), _val(rng)] for _ in range(rng.randrange(1, 4))]
        return [b"ZADD", b"z", *(x for p in pairs for x in p)]
    if which == 3:
        return [b"SET", b"w_" + _val(rng), rng.choice([_val(rng), str(rng.randint(-5, 5)).encode()])]
    if which == 4:
        value = rng.choice([_val(rng), str(rng.randint(-5, 5)).encode()])
        return [b"HSET", b"h_" + _val(rng), rng.choice([b"f", b"g"]), value]
    if which == 5:
        return [b"DEL", rng.choice([b"l", b"s", b"z", b"dst"])]
    src = rng.choice([b"l", b"l", b"s", b"z", b"dst", b"nokey"])
    argv = [rng.choice([b"SORT", b"SORT", b"SORT_RO"]), src]
    opts: list[list[bytes]] = []
    if rng.random() < 0.4:
        opts.append([b"BY", rng.choice([b"w_*", b"h_*->f", b"nosort", b"h_*->", b"*", b"w_*x", b"h_*->g"])])
    if rng.random() < 0.3:
        opts.append([b"LIMIT", str(rng.randint(-2, 6)).encode(), str(rng.randint(-2, 6)).encode()])
    for _ in range(rng.randrange(3)):
        if rng.random() < 0.4:
            opts.append([b"GET", rng.choice([b"#", b"w_*", b"h_*->f", b"nokey", b"h_*->g"])])
    if rng.random() < 0.4:
        opts.append([rng.choice([b"ASC", b"DESC"])])
    if rng.random() < 0.5:
        opts.append([b"ALPHA"])
    if rng.random() < 0.25:
        opts.append([b"STORE", b"dst"])
    rng.shuffle(opts)
    for o in opts:
        argv += o
    if src in (b"s", b"z") and [b"ALPHA"] in opts and any(o[0] == b"BY" and b"*" in o[1] for o in opts):
        # ties among equal BY values come out in hash order, which only stock Redis knows
        return [b"SORT_RO", src, b"BY", b"nosort", b"GET", b"#", b"LIMIT", b"0", b"0"]
    return argv


def _hash_ordered(argv: list[bytes]) -> bool:
    """Replies whose order depends on Redis's hash order of a set or sorted set."""
    up = [a.upper() for a in argv]
    return up[0].startswith(b"SORT") and argv[1] in (b"s", b"z") and (b"ALPHA" in up or b"BY" in up)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_sort_streams_match_stock(both: tuple[RespConn, RespConn], seed: int) -> None:
    ours, theirs = both
    rng = random.Random(seed)
    for i in range(600):
        argv = _random_op(rng)
        before = changes(theirs), changes(ours)
        want, got = raw_call(theirs, argv), raw_call(ours, argv)
        if _hash_ordered(argv) and b"STORE" not in argv and want[:1] == b"*":
            if b"LIMIT" in [a.upper() for a in argv]:
                want, got = want.split(b"\r\n", 1)[0], got.split(b"\r\n", 1)[0]  # the count only
            else:
                want_items = sorted(map(repr, parse_replies(want)[0][1]))
                got_items = sorted(map(repr, parse_replies(got)[0][1]))
                assert got_items == want_items, f"seed {seed} op {i} {argv}"
                continue
        assert got == want, f"seed {seed} op {i} {argv}: stock {want!r}, ours {got!r}"
        assert changes(ours) - before[1] == changes(theirs) - before[0], f"seed {seed} op {i} {argv}"
    assert raw_call(ours, [b"LRANGE", b"dst", b"0", b"-1"]) == raw_call(
        theirs, [b"LRANGE", b"dst", b"0", b"-1"]
    )


def test_partial_quicksort_ties_match_stock(both: tuple[RespConn, RespConn]) -> None:
    """BY with LIMIT runs Redis's partial quicksort: with many equal BY values (ALPHA keeps
    ties unresolved) the elements in the range, and their order, are those of stock Redis."""
    ours, theirs = both
    rng = random.Random(3)
    for trial in range(40):
        n = rng.choice([6, 8, 20, 41, 60, 150])
        elems = [b"e%d" % i for i in range(n)]
        rng.shuffle(elems)
        distinct = rng.choice([1, 2, 3, 50])
        setup: list[list[bytes]] = [[b"FLUSHALL"], [b"RPUSH", b"pl", *elems]]
        for e in elems:
            if rng.random() < 0.8:
                setup.append([b"SET", b"w_" + e, b"v%d" % rng.randrange(distinct)])
        for argv in setup:
            ours.call(*argv)
            theirs.call(*argv)
        for _ in range(6):
            argv = [b"SORT", b"pl", b"BY", b"w_*", b"ALPHA", b"LIMIT"]
            argv += [b"%d" % rng.randrange(-1, n + 1), b"%d" % rng.randrange(-1, n + 1)]
            if rng.random() < 0.5:
                argv.append(b"DESC")
            if rng.random() < 0.3:
                argv += [b"GET", b"#", b"GET", b"w_*"]
            assert raw_call(ours, argv) == raw_call(theirs, argv), f"trial {trial}: {argv}"


# --- keys, WATCH, blocking, stats ------------------------------------------------------------------


def test_sort_key_positions_match_stock(both: tuple[RespConn, RespConn]) -> None:
    assert_same(
        both,
        lines(
            """
            command getkeys sort a
            command getkeys sort a store d
            command getkeys sort a by b store c limit 0 1 store d get x
            command getkeys sort a store
            command getkeys sort a get store limit store 1 by store
            command getkeys sort_ro a by b get c
            """
        ),
    )


def test_sort_store_signals_only_the_destination(r: redis.Redis) -> None:
    r.rpush("src", "2", "1")
    p = r.pipeline()
    p.watch("src")
    r.sort("src", store="dst")
    p.multi()
    p.set("x", "1")
    assert p.execute() == [True]  # the sorted key was only read
    p = r.pipeline()
    p.watch("dst")
    r.sort("src", store="dst", desc=True)
    p.multi()
    p.set("x", "2")
    with pytest.raises(redis.WatchError):
        p.execute()
    assert r.lrange("dst", 0, -1) == [b"2", b"1"]


def test_sort_store_wakes_a_blocked_client(server: Any) -> None:
    waiter = server.client()
    writer = server.client()
    writer.rpush("src", "b", "a")
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(waiter.blpop(["dst"], timeout=10)))
    t.start()
    for _ in range(200):
        if writer.info("clients")["blocked_clients"] == 1:
            break
        threading.Event().wait(0.01)
    assert writer.sort("src", alpha=True, store="dst") == 2
    t.join(timeout=10)
    assert got == [(b"dst", b"a")]
    assert writer.lrange("dst", 0, -1) == [b"b"]


def test_sort_keyspace_stats_match_stock(both: tuple[RespConn, RespConn]) -> None:
    """The sorted key, every BY and GET lookup count as reads ("#" and constant patterns do
    not); STORE's write does not."""
    ours, theirs = both
    script = lines(
        _DATA
        + """
        sort l
        sort nokey
        sort l by w_*
        sort l by nosort get # get w_* get h_*->f get const
        sort l by w_* store dst
        sort l limit 0 2 get w_*
        sort_ro z by h_*->f get h_*->g
        """
    )
    for argv in script:
        ours.call(*argv)
        theirs.call(*argv)
        assert keyspace_stats(ours) == keyspace_stats(theirs), argv


# --- propagation (in-process) ------------------------------------------------------------------------


def test_sort_store_propagation(local: Local) -> None:
    local("rpush", "l", "2", "1", "3")
    local.cap.take()
    local("sort", "l")
    local("sort_ro", "l")
    local("sort", "l", "by", "nosort")
    assert local.cap.take() == []
    dirty = local.engine.dirty
    assert local("sort", "l", "store", "d") == b":3\r\n"
    assert local.engine.dirty == dirty + 3
    assert local.cap.take() == [[b"sort", b"l", b"store", b"d"]]
    assert local("lrange", "d", "0", "-1") == b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
    local("sort", "nokey", "store", "d")  # empty result: deletes the destination
    assert local.cap.take() == [[b"sort", b"nokey", b"store", b"d"]]
    local("sort", "nokey", "store", "d")  # nothing to delete any more: no change
    local("sort", "l", "limit", "x", "1", "store", "d")  # error: no change
    local("rpush", "bad", "x")
    local.cap.take()
    assert local("sort", "bad", "store", "d").startswith(b"-ERR One or more scores")
    assert local.cap.take() == []
    assert local("exists", "d") == b":0\r\n"


def test_command_info_and_docs_match_stock(both: tuple[RespConn, RespConn]) -> None:
    """Arity, flags (movablekeys), key specs, ACL categories and docs as registered."""
    assert_same(both, [[b"COMMAND", sub, n] for n in (b"sort", b"sort_ro") for sub in (b"INFO", b"DOCS")])


def test_sort_get_nulls_in_resp3(both: tuple[RespConn, RespConn]) -> None:
    for conn in both:
        conn.call("HELLO", "3")
    assert_same(
        both,
        lines(
            """
            rpush l 2 1 3
            set w_1 x
            hset h_2 f y
            sort l get # get w_* get h_*->f get nokey
            sort_ro l by nosort get w_*
            sort l by w_* alpha limit 1 1 get h_*->f
            sort l store d
            """
        ),
    )
