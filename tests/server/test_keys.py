"""Generic keyspace commands and the SCAN cursor engine: behaviour through a real server,
byte-exact replies against stock Redis 7.0, propagation, WATCH/blocking side effects of the
multi-db commands, and the scan guarantee (checked in-process, up to a million keys)."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from server.blocking import Block
from server.client import Client, NullTransport
from server.commands import scan as scanmod
from server.commands.keys import copy_value
from server.config import Config
from server.datatypes import ZSet
from server.keyspace import now_ms
from tests.server.differential import RespConn
from tests.server.test_strings import Local, assert_same, lines


@pytest.fixture
def local() -> Local:
    return Local()


@pytest.fixture
def both(server: Any, stock: Any) -> Iterator[tuple[RespConn, RespConn]]:
    ours, theirs = RespConn(server.port), RespConn(stock.port)
    yield ours, theirs
    ours.close()
    theirs.close()


def parse_scan(reply: bytes) -> tuple[int, list[bytes]]:
    """Decode an encoded SCAN reply: (next cursor, items)."""
    from tests.server.differential import parse_replies

    (rep,) = parse_replies(reply)
    cursor, items = rep[1]
    return int(cursor[1]), [i[1] for i in items[1]]


# --- errors and edge cases against stock ---------------------------------------------------------


def test_keyspace_errors_match_stock(both: tuple[RespConn, RespConn]) -> None:
    assert_same(
        both,
        lines(
            """
            flushall
            set k v
            object help
            object help x
            object foo
            object encoding
            object encoding nokey
            object refcount nokey
            object idletime nokey
            object freq nokey
            object freq k
            set k 100
            object refcount k
            object encoding k
            set k 10000
            object refcount k
            set k -1
            object refcount k
            object encoding k
            set k 12345678901234567890
            object encoding k
            set k 01
            object encoding k
            set k aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
            object encoding k
            set k aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
            object encoding k
            set k 9223372036854775807
            object encoding k
            set k 9223372036854775808
            object encoding k
            flushdb foo
            flushdb sync async
            flushall ASYNC
            flushdb SYNC
            flushall sync
            swapdb 0 abc
            swapdb abc 0
            swapdb 0 16
            swapdb 0 0
            swapdb 0 -1
            swapdb 0 99999999999
            set k v
            move k 0
            move k 16
            move k abc
            move k -1
            move nokey 1
            copy k k
            copy k k db 0
            copy k x db 16
            copy k x db abc
            copy k x foo
            copy k x db
            copy nokey x
            expire k 10 nx xx
            expire k 10 gt lt
            expire k 10 nx gt
            expire k 10 foo
            expire k abc foo
            expire nokey abc
            expire nokey 10
            expire k 9223372036854776
            expire k -9223372036854776
            pexpire k 9223372036854775807
            expireat k 9223372036854776
            rename nokey x
            rename k k
            renamenx k k
            renamenx nokey nokey
            type k
            type nokey
            rpush l a
            type l
            exists k k nokey l
            dbsize
            keys
            scan abc
            scan 0 count 0
            scan 0 count -1
            scan 0 count abc
            scan 0 match
            scan 0 foo bar
            scan 0 type
            scan 1.5
            scan " 1"
            scan 18446744073709551616
            scan -18446744073709551616
            scan 0 type foo
            hscan nokey 0 count 0
            hscan nokey abc
            hscan k abc
            hscan k 0
            sscan k 0
            hscan l 0 type string
            flushall
            scan 0
            randomkey
            """
        ),
    )


# --- expiry -----------------------------------------------------------------------------------------


def test_expire_options(r: redis.Redis) -> None:
    r.set("k", "v")
    assert r.expire("k", 100, xx=True) is False
    assert r.expire("k", 100, gt=True) is False  # no TTL counts as infinite
    assert r.expire("k", 100, nx=True) is True
    assert r.expire("k", 200, nx=True) is False
    assert r.expire("k", 50, gt=True) is False
    assert r.expire("k", 500, gt=True) is True
    assert 498 <= r.ttl("k") <= 500
    assert r.expire("k", 600, lt=True) is False
    assert r.expire("k", 60, lt=True) is True
    assert 58 <= r.ttl("k") <= 60
    assert r.expire("k", 70, xx=True) is True
    r.persist("k")
    assert r.expire("k", 10, lt=True) is True  # no TTL is infinite: any time is less
    assert r.expire("missing", 10) is False


def test_expire_forms_and_ttl_readers(r: redis.Redis) -> None:
    r.set("k", "v")
    assert r.ttl("k") == -1 and r.pttl("k") == -1
    assert r.expiretime("k") == -1 and r.execute_command("PEXPIRETIME", "k") == -1
    assert r.ttl("nokey") == -2 and r.pttl("nokey") == -2 and r.expiretime("nokey") == -2
    assert r.pexpire("k", 5000)
    assert 4000 < r.pttl("k") <= 5000
    assert r.ttl("k") == 5  # rounded to the nearest second
    at = int(time.time()) + 1000
    assert r.expireat("k", at)
    assert r.expiretime("k") == at
    assert r.execute_command("PEXPIRETIME", "k") == at * 1000
    assert r.pexpireat("k", at * 1000 + 499)
    assert r.expiretime("k") == at  # (ms + 500) / 1000
    assert r.pexpireat("k", at * 1000 + 500)
    assert r.expiretime("k") == at + 1
    assert r.persist("k") is True
    assert r.persist("k") is False
    assert r.persist("nokey") is False
    assert r.ttl("k") == -1


def test_past_expiry_deletes(r: redis.Redis) -> None:
    for cmd, arg in (("expire", -1), ("pexpire", 0), ("expireat", 1), ("pexpireat", now_ms() - 1)):
        r.set("k", "v")
        assert r.execute_command(cmd.upper(), "k", arg) == 1
        assert r.exists("k") == 0, cmd


def test_expired_keys_vanish(r: redis.Redis) -> None:
    r.set("a", "1", px=30)
    r.set("b", "2", px=30)
    r.set("c", "3")
    time.sleep(0.08)
    assert r.keys("*") == [b"c"]
    assert r.exists("a", "b", "c") == 1
    assert r.ttl("a") == -2
    assert r.type("b") == b"none"


def test_expire_propagation(local: Local) -> None:
    local("set", "k", "v")
    local.cap.take()
    before = now_ms()
    assert local("expire", "k", "100", "nx") == b":1\r\n"
    (cmd,) = local.cap.take()
    assert cmd[0] == b"PEXPIREAT" and cmd[1] == b"k" and cmd[3:] == [b"nx"]
    assert before + 100_000 <= int(cmd[2]) <= now_ms() + 100_000
    local("pexpire", "k", "5000")
    (cmd,) = local.cap.take()
    assert cmd[0] == b"PEXPIREAT" and before + 5000 <= int(cmd[2]) <= now_ms() + 5000
    local("expireat", "k", "99999999999")
    assert local.cap.take() == [[b"PEXPIREAT", b"k", b"99999999999000"]]
    local("pexpireat", "k", "99999999999999", "gt")
    assert local.cap.take() == [[b"pexpireat", b"k", b"99999999999999", b"gt"]]
    local("expire", "k", "100", "nx")  # refused: nothing propagated
    local("expire", "nokey", "100")
    assert local.cap.take() == []
    local("expire", "k", "-1")
    assert local.cap.take() == [[b"DEL", b"k"]]
    local("set", "k", "v")
    local("expireat", "k", "1")
    assert local.cap.take() == [[b"set", b"k", b"v"], [b"DEL", b"k"]]
    local("set", "k", "v", "ex", "100")
    local("persist", "k")
    local("persist", "k")
    assert local.cap.take()[1:] == [[b"persist", b"k"]]


def test_replica_does_not_delete_on_past_expire(local: Local) -> None:
    """From the master's stream, a past deadline is stored, not acted on (the master sends DEL)."""
    local("set", "k", "v")
    local.client.kind = "master"
    assert local("pexpireat", "k", "1") == b":1\r\n"
    assert b"k" in local.client.db.data
    assert local.client.db.expires[b"k"] == 1


# --- DEL / EXISTS / TOUCH / TYPE / KEYS / RANDOMKEY / DBSIZE ------------------------------------------


def test_del_exists_touch_count(r: redis.Redis) -> None:
    r.mset({"a": 1, "b": 2})
    assert r.exists("a", "a", "b", "nokey") == 3  # duplicates count
    assert r.touch("a", "a", "nokey") == 2
    assert r.delete("a", "a", "nokey") == 1
    assert r.unlink("b", "b") == 1
    assert r.dbsize() == 0


def test_del_propagates_only_when_something_was_deleted(local: Local) -> None:
    local("del", "nokey")
    assert local.cap.take() == []
    local("set", "a", "1")
    local("del", "a", "nokey")
    assert local.cap.take() == [[b"set", b"a", b"1"], [b"del", b"a", b"nokey"]]


def test_type_of_each_kind(r: redis.Redis) -> None:
    r.set("s", "v")
    r.rpush("l", "v")
    r.hset("h", "f", "v")
    r.sadd("st", "v")
    r.zadd("z", {"v": 1})
    assert [r.type(k) for k in ("s", "l", "h", "st", "z", "none")] == [
        b"string",
        b"list",
        b"hash",
        b"set",
        b"zset",
        b"none",
    ]


def test_keys_patterns(r: redis.Redis) -> None:
    r.mset({"foo": 1, "foobar": 2, "bar": 3, "f?o": 4, "": 5})
    assert sorted(r.keys("*")) == [b"", b"bar", b"f?o", b"foo", b"foobar"]
    assert sorted(r.keys("foo*")) == [b"foo", b"foobar"]
    assert sorted(r.keys("f?o")) == [b"f?o", b"foo"]
    assert r.keys("f\\?o") == [b"f?o"]
    assert sorted(r.keys("[bf]*")) == [b"bar", b"f?o", b"foo", b"foobar"]
    assert r.keys("nomatch*") == []


def test_randomkey(r: redis.Redis) -> None:
    assert r.randomkey() is None
    keys = {f"k{i}".encode() for i in range(20)}
    r.mset({k: 1 for k in keys})
    seen = {r.randomkey() for _ in range(200)}
    assert seen <= keys and len(seen) > 10
    r.flushall()
    r.set("live", "1")
    for i in range(30):
        r.set(f"dying{i}", "1", px=20)
    time.sleep(0.06)
    assert r.randomkey() == b"live"  # expired keys met on the way are skipped


# --- RENAME / COPY / MOVE ------------------------------------------------------------------------------


def test_rename_keeps_ttl_and_overwrites(r: redis.Redis) -> None:
    r.set("a", "1", ex=100)
    r.set("b", "2")
    assert r.rename("a", "b") is True
    assert r.get("b") == b"1" and r.exists("a") == 0
    assert 98 <= r.ttl("b") <= 100
    r.set("c", "3", ex=50)
    assert r.rename("b", "c")
    assert 98 <= r.ttl("c") <= 100  # the source's TTL wins, the target's is dropped
    assert r.renamenx("c", "c") is False  # same key, existing: 0
    assert r.rename("c", "c") is True
    r.set("d", "4")
    assert r.renamenx("c", "d") is False
    assert r.renamenx("c", "e") is True
    assert r.get("e") == b"1"
    with pytest.raises(redis.ResponseError, match=r"^no such key$"):
        r.rename("nokey", "x")
    r.rpush("lst", "x")
    assert r.rename("lst", "lst2") and r.lrange("lst2", 0, -1) == [b"x"]


def test_copy_is_deep_and_keeps_ttl(server: Any) -> None:
    r = server.client()
    r.rpush("l", "a", "b")
    r.expire("l", 100)
    assert r.copy("l", "l2") is True
    assert 98 <= r.ttl("l2") <= 100
    r.rpush("l", "c")
    assert r.lrange("l2", 0, -1) == [b"a", b"b"]
    r.hset("h", mapping={"f": "v"})
    assert r.copy("h", "l2") is False
    assert r.copy("h", "l2", replace=True) is True
    assert r.hgetall("l2") == {b"f": b"v"}
    assert r.ttl("l2") == -1
    assert r.copy("h", "h", destination_db=1) is True
    r.hset("h", "g", "w")
    assert server.client(db=1).hgetall("h") == {b"f": b"v"}


def test_copy_value_is_deep_for_every_type() -> None:
    z = ZSet()
    z.add(b"a", 1.0)
    z.add(b"b", 2.0)
    originals: list[Any] = [b"s", deque([b"x"]), {b"f": b"v"}, {b"m"}, z]
    for v in originals:
        c = copy_value(v)
        assert c.__class__ is v.__class__
        if isinstance(v, bytes):
            assert c == v
            continue
        assert c is not v
        if isinstance(v, ZSet):
            v.add(b"c", 3.0)
            assert list(c) == [(b"a", 1.0), (b"b", 2.0)]
            assert c.rank(b"b") == 1
        elif isinstance(v, deque):
            v.append(b"y")
            assert list(c) == [b"x"]
        elif isinstance(v, dict):
            v[b"g"] = b"w"
            assert c == {b"f": b"v"}
        else:
            v.add(b"n")
            assert c == {b"m"}


def test_move(r: redis.Redis) -> None:
    r.set("k", "v", ex=100)
    assert r.move("k", 1) is True
    assert r.exists("k") == 0
    r.execute_command("SELECT", 1)
    assert r.get("k") == b"v" and 98 <= r.ttl("k") <= 100
    r.set("other", "x")
    r.execute_command("SELECT", 0)
    r.set("other", "y")
    assert r.move("other", 1) is False  # exists in the target
    assert r.get("other") == b"y"
    assert r.move("nokey", 1) is False
    with pytest.raises(redis.ResponseError, match=r"^source and destination objects are the same$"):
        r.move("other", 0)


def test_move_and_copy_signal_the_target_db(local: Local) -> None:
    """WATCH on the target db's key is invalidated; a client blocked there is served."""
    eng = local.engine
    db0, db1 = eng.keyspace[0], eng.keyspace[1]
    watcher = Client(eng, NullTransport())
    db1.watched[b"k"] = [watcher]
    local("rpush", "k", "a")
    assert local("move", "k", "1") == b":1\r\n"
    assert watcher.dirty_cas
    assert b"k" not in db0.data and list(db1.data[b"k"]) == [b"a"]

    watcher.dirty_cas = False
    db1.watched = {b"c": [watcher]}
    local("set", "src", "v")
    assert local("copy", "src", "c", "db", "1") == b":1\r\n"
    assert watcher.dirty_cas
    assert db1.data[b"c"] == b"v"


# --- SWAPDB / FLUSH* -------------------------------------------------------------------------------------


def test_swapdb_clients_keep_their_index(server: Any) -> None:
    a, b = server.client(db=0), server.client(db=1)
    a.set("x", "in0", ex=100)
    b.set("y", "in1")
    assert a.swapdb(0, 1) is True
    assert a.get("x") is None and a.get("y") == b"in1"
    assert b.get("x") == b"in0" and 98 <= b.ttl("x") <= 100
    assert a.dbsize() == 1 and b.dbsize() == 1


def test_swapdb_invalidates_watches_in_both_dbs(local: Local) -> None:
    eng = local.engine
    db0, db1 = eng.keyspace[0], eng.keyspace[1]
    w_exists0, w_exists1, w_nowhere = (Client(eng, NullTransport()) for _ in range(3))
    db0.data[b"a"] = b"1"
    db1.data[b"b"] = b"2"
    db0.watched = {b"b": [w_exists1], b"zz": [w_nowhere]}  # b exists only in the other db
    db1.watched = {b"a": [w_exists0]}
    assert local("swapdb", "0", "1") == b"+OK\r\n"
    assert w_exists0.dirty_cas and w_exists1.dirty_cas
    assert not w_nowhere.dirty_cas
    assert db0.data == {b"b": b"2"} and db1.data == {b"a": b"1"}
    assert local.cap.take() == [[b"swapdb", b"0", b"1"]]


def test_swapdb_wakes_clients_blocked_in_the_swapped_db(local: Local) -> None:
    eng = local.engine
    db0, db1 = eng.keyspace[0], eng.keyspace[1]
    waiter = Client(eng, NullTransport())  # blocked on list "q" in db 0
    served: list[bytes] = []

    def retry() -> bytes | None:
        v = db0.lookup(b"q")
        if v is None:
            return None
        served.append(v.popleft())
        if not v:
            db0.delete(b"q")
        return b"served"

    blk = Block(keys=[b"q"], retry=retry, on_timeout=b"*-1\r\n")
    eng.register_block(waiter, blk)
    db1.data[b"q"] = deque([b"item"])
    local("swapdb", "0", "1")
    assert served == [b"item"]
    assert waiter.block is None and blk.reply == b"served"


def test_flush_touches_only_existing_watched_keys(local: Local) -> None:
    eng = local.engine
    w_missing, w_present = Client(eng, NullTransport()), Client(eng, NullTransport())
    local("set", "present", "1")
    db0 = eng.keyspace[0]
    db0.watched = {b"missing": [w_missing], b"present": [w_present]}
    assert local("flushall") == b"+OK\r\n"
    assert w_present.dirty_cas and not w_missing.dirty_cas
    assert local("flushdb", "async") == b"+OK\r\n"  # an empty db is still propagated
    cmds = local.cap.take()
    assert cmds[-2:] == [[b"flushall"], [b"flushdb", b"async"]]


def test_flush_commands(server: Any) -> None:
    a, b = server.client(db=0), server.client(db=1)
    a.set("x", 1)
    b.set("y", 1)
    assert a.flushdb() is True
    assert a.dbsize() == 0 and b.dbsize() == 1
    a.set("x", 1)
    assert a.flushall(asynchronous=True) is True
    assert a.dbsize() == 0 and b.dbsize() == 0
    with pytest.raises(redis.ResponseError, match=r"^syntax error$"):
        a.execute_command("FLUSHALL", "LAZY")


# --- OBJECT ----------------------------------------------------------------------------------------------


def _encoding_cases() -> list[tuple[str, list[list[Any]], Any]]:
    """(name, commands building key "k" in stock Redis, the equivalent Python value)."""
    z_small, z_big, z_long = ZSet(), ZSet(), ZSet()
    for i in range(128):
        z_small.add(b"m%d" % i, float(i))
    for i in range(129):
        z_big.add(b"m%d" % i, float(i))
    z_long.add(b"x" * 65, 1.0)
    return [
        (
            "hash-128",
            [["hset", "k", *(x for i in range(128) for x in [f"f{i}", "v"])]],
            {b"f%d" % i: b"v" for i in range(128)},
        ),
        (
            "hash-129",
            [["hset", "k", *(x for i in range(129) for x in [f"f{i}", "v"])]],
            {b"f%d" % i: b"v" for i in range(129)},
        ),
        ("hash-long-value", [["hset", "k", "f", "v" * 65]], {b"f": b"v" * 65}),
        ("hash-64-value", [["hset", "k", "f" * 64, "v" * 64]], {b"f" * 64: b"v" * 64}),
        ("set-ints", [["sadd", "k", *range(512)]], {b"%d" % i for i in range(512)}),
        ("set-513-ints", [["sadd", "k", *range(513)]], {b"%d" % i for i in range(513)}),
        ("set-text", [["sadd", "k", "a"]], {b"a"}),
        ("set-negative-big-int", [["sadd", "k", "-9223372036854775808"]], {b"-9223372036854775808"}),
        ("set-int-overflow", [["sadd", "k", "9223372036854775808"]], {b"9223372036854775808"}),
        ("set-leading-zero", [["sadd", "k", "01"]], {b"01"}),
        ("zset-128", [["zadd", "k", *(x for i in range(128) for x in [str(i), f"m{i}"])]], z_small),
        ("zset-129", [["zadd", "k", *(x for i in range(129) for x in [str(i), f"m{i}"])]], z_big),
        ("zset-long-member", [["zadd", "k", "1", "x" * 65]], z_long),
        ("list", [["rpush", "k", "a"]], deque([b"a"])),
        ("string-int", [["set", "k", "123"]], b"123"),
        ("string-embstr", [["set", "k", "x" * 44]], b"x" * 44),
        ("string-raw", [["set", "k", "x" * 45]], b"x" * 45),
    ]


def test_object_encoding_matches_stock_for_fresh_values(stock: Any) -> None:
    """For each shape, OBJECT ENCODING of a freshly built value equals stock Redis's answer."""
    s = stock.client()
    config = Config()
    for name, cmds, value in _encoding_cases():
        s.delete("k")
        for cmd in cmds:
            s.execute_command(*cmd)
        assert scanmod.object_encoding(value, config) == s.object("encoding", "k"), name


def test_object_subcommands(r: redis.Redis) -> None:
    r.set("k", "5")
    assert r.object("encoding", "k") == b"int"
    assert r.object("refcount", "k") == 2147483647  # a shared integer
    r.set("k", "text")
    assert r.object("refcount", "k") == 1
    assert r.object("idletime", "k") == 0
    with pytest.raises(redis.ResponseError, match=r"^An LFU maxmemory policy is not selected"):
        r.object("freq", "k")
    assert r.object("encoding", "nokey") is None


def test_object_under_lfu_policy(start_server: Any) -> None:
    c = start_server("--save", "", "--maxmemory-policy", "allkeys-lfu").client()
    c.set("k", "v")
    assert c.object("freq", "k") >= 0
    with pytest.raises(redis.ResponseError, match=r"^An LFU maxmemory policy is selected"):
        c.object("idletime", "k")
    c.set("n", "5")
    assert c.object("refcount", "n") == 2147483647  # maxmemory 0: integers are still shared


# --- SCAN --------------------------------------------------------------------------------------------------


def full_scan(r: redis.Redis, **kw: Any) -> tuple[list[bytes], int]:
    cursor, seen, calls = 0, [], 0
    while True:
        cursor, batch = r.scan(cursor, **kw)
        seen.extend(batch)
        calls += 1
        if cursor == 0:
            return seen, calls
        assert calls < 100_000


def test_scan_returns_every_key(r: redis.Redis) -> None:
    keys = {f"key:{i}".encode() for i in range(2000)}
    pipe = r.pipeline(transaction=False)
    for k in keys:
        pipe.set(k, "1")
    pipe.execute()
    seen, calls = full_scan(r, count=100)
    assert set(seen) == keys
    assert 10 <= calls <= 40  # about COUNT per call, not everything at once
    seen, _ = full_scan(r, match="key:1*", count=50)
    assert set(seen) == {k for k in keys if k.startswith(b"key:1")}


def test_scan_type_filter(r: redis.Redis) -> None:
    r.set("s", "1")
    r.rpush("l", "1")
    r.hset("h", "f", "v")
    assert full_scan(r, _type="list")[0] == [b"l"]
    assert full_scan(r, _type="STRING")[0] == [b"s"]
    assert full_scan(r, _type="nosuchtype")[0] == []


def test_scan_skips_expired_keys(r: redis.Redis) -> None:
    r.set("live", "1")
    for i in range(20):
        r.set(f"dying{i}", "1", px=20)
    time.sleep(0.06)
    assert full_scan(r)[0] == [b"live"]


def test_scan_guarantee_under_concurrent_writes(local: Local) -> None:
    """Keys present for the whole scan are all returned, whatever is added/removed meanwhile."""
    rng = random.Random(5)
    db = local.engine.keyspace[0]
    stable = {b"stable:%d" % i for i in range(3000)}
    for k in stable:
        db.set(k, b"1")
    transient = [b"t:%d" % i for i in range(3000)]
    for k in transient[:1500]:
        db.set(k, b"1")
    cursor, seen, calls = 0, set(), 0
    while True:
        cursor, batch = parse_scan(local("scan", cursor, "count", "37"))
        seen.update(batch)
        calls += 1
        for _ in range(20):  # churn between calls
            k = rng.choice(transient)
            if k in db.data:
                db.delete(k)
            else:
                db.set(k, b"1")
        if cursor == 0:
            break
    assert stable <= seen
    assert seen <= stable | set(transient)
    assert calls < 300


def test_scan_evicted_cursor_restarts_without_losing_keys(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = local.engine.keyspace[0]
    keys = {b"k%d" % i for i in range(500)}
    for k in keys:
        db.set(k, b"1")
    cursor, first = parse_scan(local("scan", "0", "count", "10"))
    assert cursor != 0 and len(first) == 10
    monkeypatch.setattr(scanmod, "MAX_SNAPSHOTS", 1)
    other = {b"f%d" % i: b"v" for i in range(300)}
    scanmod.scan_generic(local.client, [b"hscan", b"h", b"0"], other, 2, "hash")  # evicts ours
    seen, calls = set(first), 0
    while True:
        cursor, batch = parse_scan(local("scan", cursor, "count", "50"))
        seen.update(batch)
        calls += 1
        if cursor == 0:
            break
    assert seen == keys  # started over: duplicates allowed, nothing missed
    assert calls == 10


def test_scan_made_up_cursor_ends_the_scan(local: Local) -> None:
    db = local.engine.keyspace[0]
    for i in range(50):
        db.set(b"k%d" % i, b"1")
    for cursor in ("-1", "18446744073709551615", "5", "12345678901234"):
        assert parse_scan(local("scan", cursor)) == (0, []), cursor


def test_scan_cache_is_bounded(local: Local, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanmod, "MAX_SNAPSHOTS", 4)
    monkeypatch.setattr(scanmod, "MAX_SNAPSHOT_ITEMS", 250)
    db = local.engine.keyspace[0]
    for i in range(100):
        db.set(b"k%d" % i, b"1")
    for _ in range(10):
        local("scan", "0", "count", "1")
    cache = scanmod.cache_for(local.engine)
    assert len(cache.snaps) <= 2 and cache.total_items <= 250
    local("flushall")
    assert cache.total_items == 0  # a flush releases snapshots of the old keyspace


def test_scan_a_million_keys(local: Local) -> None:
    """1M keys: the scan ends with every key, and each call returns about COUNT keys (so no call
    does unbounded work; timing is the benchmark's business, not a unit test's)."""
    db = local.engine.keyspace[0]
    db.data = dict.fromkeys((b"key:%d" % i for i in range(1_000_000)), b"v")
    cursor, total, calls, biggest = 0, 0, 0, 0
    seen: set[bytes] = set()
    while True:
        reply = local("scan", cursor, "count", "1000")
        cursor, batch = parse_scan(reply)
        biggest = max(biggest, len(batch))
        total += len(batch)
        seen.update(batch)
        calls += 1
        if cursor == 0:
            break
    assert total == 1_000_000
    assert calls == 1000
    assert biggest <= 1000
    assert len(seen) == 1_000_000  # no key twice, none missing


def test_scan_generic_collections(local: Local) -> None:
    """HSCAN/SSCAN/ZSCAN shapes: small collections whole with cursor 0, large ones paged."""
    c = local.client
    small_hash = {b"f1": b"v1", b"f2": b"v2"}
    cur, items = parse_scan(
        scanmod.scan_generic(c, [b"hscan", b"h", b"0", b"COUNT", b"1"], small_hash, 2, "hash")
    )
    assert cur == 0 and items == [b"f1", b"v1", b"f2", b"v2"]
    cur, items = parse_scan(
        scanmod.scan_generic(c, [b"hscan", b"h", b"0", b"MATCH", b"*2"], small_hash, 2, "hash")
    )
    assert items == [b"f2", b"v2"]
    intset = {b"10", b"-3", b"2"}
    assert parse_scan(scanmod.scan_generic(c, [b"sscan", b"s", b"0"], intset, 2, "set")) == (
        0,
        [b"-3", b"2", b"10"],
    )
    z = ZSet()
    z.add(b"a", 1.1)
    z.add(b"b", 2.0)
    z.add(b"c", float("inf"))
    assert parse_scan(scanmod.scan_generic(c, [b"zscan", b"z", b"0"], z, 2, "zset")) == (
        0,
        [b"a", b"1.1000000000000001", b"b", b"2", b"c", b"inf"],
    )
    big = {b"f%d" % i: b"v%d" % i for i in range(1000)}
    cursor, got, calls = 0, {}, 0
    while True:
        cursor, items = parse_scan(scanmod.scan_generic(c, [b"hscan", b"h", b"%d" % cursor], big, 2, "hash"))
        got.update(zip(items[::2], items[1::2], strict=True))
        calls += 1
        if cursor == 0:
            break
    assert got == big and calls >= 50
    bigz = ZSet()
    for i in range(200):
        bigz.add(b"m%d" % i, i + 0.5)
    cursor, pairs = 0, {}
    while True:
        cursor, items = parse_scan(
            scanmod.scan_generic(c, [b"zscan", b"z", b"%d" % cursor, b"count", b"30"], bigz, 2, "zset")
        )
        pairs.update(zip(items[::2], items[1::2], strict=True))
        if cursor == 0:
            break
    assert pairs == {b"m%d" % i: repr(i + 0.5).encode() for i in range(200)}
    with pytest.raises(Exception, match="invalid cursor"):
        scanmod.scan_generic(c, [b"sscan", b"s", b"x"], intset, 2, "set")
    assert (
        scanmod.scan_generic(c, [b"sscan", b"s", b"0", b"count", b"0"], None, 2, "set") == scanmod.EMPTY_SCAN
    )


def test_zscan_and_hscan_match_stock(both: tuple[RespConn, RespConn]) -> None:
    """Small (listpack/intset) collections come back whole, in Redis's order and score format."""
    assert_same(
        both,
        lines(
            """
            zadd z 1.1 a 2 b inf c -0 d 1e20 e 123456789012345678 f 1.5e-7 g
            zscan z 0
            zscan z 0 match [ab]
            hset h f1 v1 f2 v2 f3 v3
            hscan h 0 count 1
            hscan h 0 match f2
            sadd s 10 -3 2 7
            sscan s 0
            sscan s 0 match 1*
            """
        ),
    )


def test_cursor_parsing(local: Local) -> None:
    for cursor in ("-1", "+0", "", "18446744073709551615", "01"):
        assert local("scan", cursor).startswith(b"*2\r\n")
    for cursor in ("abc", " 1", "1 ", "18446744073709551616", "1.5", "-", "+"):
        assert local("scan", cursor) == b"-ERR invalid cursor\r\n", cursor
    assert scanmod.parse_cursor(b"-1") == 2**64 - 1
    assert scanmod.parse_cursor(b"-18446744073709551615") == 1


def test_string_encoding_history_matches_stock(both: tuple[RespConn, RespConn]) -> None:
    """APPEND and SETRANGE leave raw strings (even short or numeric ones) until overwritten;
    RENAME, MOVE, COPY and SWAPDB carry the encoding along, as in Redis."""
    assert_same(
        both,
        lines(
            """
            flushall
            set k 1
            object encoding k
            append k 2
            object encoding k
            get k
            rename k k2
            object encoding k2
            copy k2 k3
            object encoding k3
            move k3 1
            select 1
            object encoding k3
            select 0
            swapdb 0 1
            object encoding k3
            swapdb 0 1
            set k2 12
            object encoding k2
            append new 5
            object encoding new
            append new ""
            object encoding new
            set a a
            append a ""
            object encoding a
            set a a
            object encoding a
            setrange r 0 7
            object encoding r
            set r 7
            setrange r 0 ""
            object encoding r
            setrange r 0 8
            object encoding r
            incr r
            object encoding r
            append r x
            incrbyfloat r 1
            set r 1
            append r 5
            incrbyfloat r 1
            object encoding r
            object refcount r
            append r 0
            object refcount r
            getset r 5
            object refcount r
            object encoding r
            append r 0
            del r
            set r 50
            object encoding r
            append r 0
            flushall
            set r 500
            object encoding r
            """
        ),
    )


def test_collection_encoding_sticks_once_seen(both: tuple[RespConn, RespConn]) -> None:
    """Redis never converts a collection back to its small encoding when it shrinks; once our
    server has seen (or been told of) the conversion, it answers the same, COPY included."""
    script = lines(
        """
        flushall
        sadd s a 1 2
        object encoding s
        srem s a
        object encoding s
        copy s s2
        object encoding s2
        rename s2 s3
        object encoding s3
        sadd i 1 2 3
        object encoding i
        copy i i2
        object encoding i2
        """
    )
    script.append(["hset", "h", "f", "v" * 65])
    script += lines(
        """
        object encoding h
        hset h f short
        object encoding h
        hscan h 0
        """
    )
    assert_same(both, script)


def test_unsupported_option_text_matches_stock(both: tuple[RespConn, RespConn]) -> None:
    """Redis prints the option with %s: it stops at NUL, other bytes come back as sent."""
    assert_same(
        both,
        [
            ["set", "k", "v"],
            ["expire", "k", "10", b"bin\x00\xff\r\n"],
            ["pexpire", "k", "10", b"\xff\xfe"],
            ["expireat", "k", "10", b"nx", b"caf\xc3\xa9"],
        ],
    )


def test_keyspace_hits_and_misses_count_like_stock(local: Local, stock: Any) -> None:
    """Read lookups count as hits/misses (INFO stats), write lookups and SCAN/KEYS do not."""
    script = lines(
        """
        set a 1
        get a
        get nokey
        mget a nokey a
        exists a nokey
        type a
        ttl a
        pttl nokey
        expiretime a
        object encoding a
        touch a nokey
        scan 0
        keys *
        copy a b
        strlen a
        getrange a 0 1
        lcs a nokey
        getex a
        getdel nokey
        getset a 2
        set a 3 get
        append a x
        incr nokey2
        setnx a 1
        rename a c
        expire c 100
        persist c
        move c 1
        randomkey
        dbsize
        del b
        msetnx x 1
        set q v nx
        setrange q 0 x
        incrbyfloat q2 1
        """
    )
    s = stock.client()
    for argv in script:
        try:
            s.execute_command(*argv)
        except redis.ResponseError:
            pass
        local(*argv)
    info = s.info("stats")
    assert info["keyspace_hits"] == 16 and info["keyspace_misses"] == 7
    assert local.engine.stat_keyspace_hits == info["keyspace_hits"]
    assert local.engine.stat_keyspace_misses == info["keyspace_misses"]


def test_watch_is_touched_only_by_real_changes(local: Local) -> None:
    """As Redis: DEL touches only keys it deleted, COPY only its target (any db)."""
    eng = local.engine
    db0 = eng.keyspace[0]
    w = {name: Client(eng, NullTransport()) for name in ("x", "y", "k", "dst")}
    db0.watched = {b"x": [w["x"]], b"y": [w["y"]], b"k": [w["k"]], b"dst": [w["dst"]]}
    local("set", "y", "1")
    for c in w.values():
        c.dirty_cas = False
    assert local("del", "y", "x") == b":1\r\n"
    assert w["y"].dirty_cas and not w["x"].dirty_cas
    local("set", "k", "v")
    w["k"].dirty_cas = False
    assert local("copy", "k", "dst") == b":1\r\n"
    assert w["dst"].dirty_cas and not w["k"].dirty_cas
    w["dst"].dirty_cas = False
    assert local("copy", "k", "dst", "db", "0", "replace") == b":1\r\n"
    assert w["dst"].dirty_cas and not w["k"].dirty_cas
