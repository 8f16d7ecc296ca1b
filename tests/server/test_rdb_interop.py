"""RDB files exchanged with stock Redis 7.0: its dump.rdb loads into ours, ours loads into it.

Every comparison covers each key's type, full value and absolute expiry (PEXPIRETIME), across
several databases, with collections on both sides of Redis's compact-encoding thresholds.
"""

from __future__ import annotations

import math
import random
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from server.persistence.encodings import encode_intset, encode_ziplist, encode_zipmap
from server.persistence.rdb import (
    TYPE_HASH_ZIPLIST,
    TYPE_HASH_ZIPMAP,
    TYPE_LIST_QUICKLIST,
    TYPE_LIST_ZIPLIST,
    TYPE_SET_INTSET,
    TYPE_ZSET,
    TYPE_ZSET_ZIPLIST,
    RdbError,
    dump_value,
    encode_length,
    encode_string,
    load_rdb_file,
    restore_value,
    save_rdb_file,
)
from tests.conftest import ServerProcess
from tests.server.rdb_helpers import (
    Canon,
    blob,
    canon,
    craft_rdb,
    fill_keyspace,
    keyspace_snapshot,
    make_zset,
    new_keyspace,
)

Dataset = dict[int, dict[bytes, tuple[Any, int | None]]]
Snapshot = dict[int, dict[bytes, tuple[Canon, int | None]]]
StartServer = Callable[..., ServerProcess]

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="stock redis-server not installed"
)

INTS = [0, 1, 12, 13, 127, 128, -1, -128, -129, 4095, 4096, -4097, 32767, 32768, -32769, (1 << 23) + 1,
        -(1 << 23) - 1, (1 << 31) - 1, 1 << 31, -(1 << 31) - 1, (1 << 63) - 1, -(1 << 63)]  # fmt: skip
INT_STRINGS = [b"%d" % i for i in INTS] + [b"9223372036854775808", b"007", b"+5", b"-0", b"1.5", b" 3"]


def dataset(seed: int = 7) -> Dataset:
    """Every type, both sides of the listpack thresholds (128 entries, 64-byte values), 4 dbs."""
    rng = random.Random(seed)
    future = int(time.time() * 1000) + 86_400_000

    def rb(n: int) -> bytes:
        return rng.randbytes(n)

    db0: dict[bytes, tuple[Any, int | None]] = {}
    for i, s in enumerate(INT_STRINGS):
        db0[b"int:%d" % i] = (s, future + i if i % 3 == 0 else None)
    db0[b""] = (b"the empty key", None)
    db0[b"\x00\xff\r\n binary"] = (bytes(range(256)), future)
    db0[b"empty-string"] = (b"", None)
    for n in (20, 21, 63, 64, 16383, 16384):
        db0[b"len:%d" % n] = (b"a" * n, None)
        db0[b"rnd:%d" % n] = (rb(n), None)
    db0[b"compressible"] = (b"0123456789abcdef" * 10000, future + 1)

    db0[b"list:small"] = (deque([b"a", b"", *INT_STRINGS[:10], rb(30)]), None)
    db0[b"list:ints"] = (deque(INT_STRINGS), future + 2)
    db0[b"list:128"] = (deque(b"e%d" % i for i in range(128)), None)
    db0[b"list:129"] = (deque(b"e%d" % i for i in range(129)), None)
    db0[b"list:val64"] = (deque([b"x" * 64, b"y"]), None)
    db0[b"list:val65"] = (deque([b"x" * 65, b"y"]), None)
    db0[b"list:big"] = (deque(rb(rng.randrange(1, 40)) for _ in range(10_000)), None)
    db0[b"list:huge-element"] = (deque([b"small", rb(20_000), b"z" * 50_000, b"tail"]), None)

    db0[b"set:int16"] = ({b"1", b"2", b"-3", b"30000"}, None)
    db0[b"set:int32"] = ({b"1", b"40000", b"-2000000000"}, future + 3)
    db0[b"set:int64"] = ({b"1", b"3000000000", b"%d" % -(1 << 63)}, None)
    db0[b"set:int512"] = ({b"%d" % i for i in range(512)}, None)
    db0[b"set:int513"] = ({b"%d" % i for i in range(513)}, None)
    db0[b"set:strings"] = ({b"a", b"b", b"", b"007"}, None)
    db0[b"set:128"] = ({b"m%d" % i for i in range(128)}, None)
    db0[b"set:129"] = ({b"m%d" % i for i in range(129)}, None)
    db0[b"set:val65"] = ({b"v" * 65, rb(100)}, None)

    db0[b"hash:small"] = ({b"f": b"v", b"n": b"42", b"": b"", b"neg": b"-70000", rb(5): rb(9)}, None)
    db0[b"hash:128"] = ({b"f%d" % i: b"%d" % (i * 1000) for i in range(128)}, future + 4)
    db0[b"hash:129"] = ({b"f%d" % i: b"v%d" % i for i in range(129)}, None)
    db0[b"hash:val64"] = ({b"f": b"v" * 64}, None)
    db0[b"hash:val65"] = ({b"f": b"v" * 65}, None)
    db0[b"hash:field65"] = ({b"f" * 65: b"v"}, None)
    db0[b"hash:ints"] = ({b"k%d" % i: s for i, s in enumerate(INT_STRINGS)}, None)

    scores = {b"a": 1.5, b"b": -math.inf, b"c": math.inf, b"d": 0.0, b"e": 1e300, b"f": -2.5e-300,
              b"g": float(1 << 53), b"h": -7.0, b"i": 1 / 3, b"j": 12345.0}  # fmt: skip
    db0[b"zset:small"] = (make_zset(scores), None)
    db0[b"zset:128"] = (make_zset({b"m%d" % i: i * 0.5 for i in range(128)}), future + 5)
    db0[b"zset:129"] = (make_zset({b"m%d" % i: -float(i) for i in range(129)}), None)
    db0[b"zset:val64"] = (make_zset({b"m" * 64: 1.0}), None)
    db0[b"zset:val65"] = (make_zset({b"m" * 65: 1.0, b"x": 2.0}), None)
    db0[b"zset:big"] = (make_zset({rb(8): rng.uniform(-1e6, 1e6) for _ in range(3000)}), None)

    db1: dict[bytes, tuple[Any, int | None]] = {
        b"k%d" % i: (b"v%d" % i, future + i if i % 2 else None) for i in range(1000)
    }
    db5: dict[bytes, tuple[Any, int | None]] = {
        b"h": ({rb(10): rb(rng.randrange(0, 200)) for _ in range(2000)}, None),
        b"s": ({rb(12) for _ in range(2000)}, future + 6),
        b"l": (deque([rb(100)] * 300), None),
    }
    db15: dict[bytes, tuple[Any, int | None]] = {b"last": (b"db15", future + 7)}
    return {0: db0, 1: db1, 5: db5, 15: db15}


def expected(ds: Dataset) -> Snapshot:
    return {d: {k: (canon(v), t) for k, (v, t) in keys.items()} for d, keys in ds.items() if keys}


def write_to_stock(srv: ServerProcess, ds: Dataset) -> None:
    for dbid, keys in ds.items():
        c = srv.client(db=dbid)
        p = c.pipeline(transaction=False)
        for k, (v, ttl) in keys.items():
            if isinstance(v, bytes):
                p.set(k, v)
            elif isinstance(v, deque):
                items = list(v)
                for i in range(0, len(items), 1000):
                    p.rpush(k, *items[i : i + 1000])
            elif isinstance(v, set):
                items = list(v)
                for i in range(0, len(items), 1000):
                    p.sadd(k, *items[i : i + 1000])
            elif isinstance(v, dict):
                p.hset(k, mapping=v)
            else:
                p.zadd(k, dict(v.scores))
            if ttl is not None:
                p.pexpireat(k, ttl)
        p.execute()
        c.close()


def stock_snapshot(srv: ServerProcess) -> Snapshot:
    out: Snapshot = {}
    info = srv.client().info("keyspace")
    for name in info:
        dbid = int(name[2:])
        c = srv.client(db=dbid)
        keys: dict[bytes, tuple[Canon, int | None]] = {}
        for k in c.scan_iter(count=1000):
            t = c.type(k)
            v: Canon
            if t == b"string":
                v = ("string", c.get(k))
            elif t == b"list":
                v = ("list", c.lrange(k, 0, -1))
            elif t == b"set":
                v = ("set", frozenset(c.smembers(k)))
            elif t == b"hash":
                v = ("hash", c.hgetall(k))
            elif t == b"zset":
                pairs = cast(list[tuple[bytes, float]], c.zrange(k, 0, -1, withscores=True))
                v = ("zset", dict(pairs))
            else:
                raise AssertionError(f"unexpected type {t!r}")
            when = c.execute_command("PEXPIRETIME", k)
            keys[k] = (v, None if when == -1 else when)
        out[dbid] = keys
        c.close()
    return out


def check_rdb(path: Path) -> str:
    res = subprocess.run(["redis-check-rdb", str(path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "RDB looks OK" in res.stdout, res.stdout + res.stderr
    return res.stdout


def start_on_file(
    start_server: StartServer, tmp_path: Path, name: str, data: bytes, *extra: str
) -> ServerProcess:
    """A stock server that loads `data` as its dump file at startup."""
    d = tmp_path / name
    d.mkdir()
    (d / "dump.rdb").write_bytes(data)
    return start_server(
        "--save", "", "--appendonly", "no", "--dbfilename", "dump.rdb", *extra, stock=True, cwd=d
    )


# --- stock -> ours ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        (),
        ("--rdbcompression", "no"),
        ("--list-compress-depth", "1", "--list-max-listpack-size", "4"),
        (
            "--hash-max-listpack-entries",
            "0",
            "--zset-max-listpack-entries",
            "0",
            "--set-max-intset-entries",
            "0",
        ),
    ],
    ids=["default", "no-compression", "compressed-quicklist", "no-compact-encodings"],
)
def test_stock_dump_loads_into_ours(start_server: StartServer, config: tuple[str, ...]) -> None:
    srv = start_server("--save", "", "--appendonly", "no", *config, stock=True)
    ds = dataset()
    write_to_stock(srv, ds)
    assert stock_snapshot(srv) == expected(ds)
    srv.client().save()
    ks = new_keyspace()
    info = load_rdb_file(srv.cwd / "dump.rdb", ks)
    assert keyspace_snapshot(ks) == expected(ds)
    assert info.keys_loaded == sum(len(k) for k in ds.values())
    assert info.keys_expired_skipped == 0
    assert info.rdb_version == 10
    assert info.aux["redis-ver"] == b"7.0.15"


def test_stock_plain_quicklist_nodes(start_server: StartServer) -> None:
    srv = start_server("--save", "", "--appendonly", "no", "--enable-debug-command", "yes", stock=True)
    c = srv.client()
    c.execute_command("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100")
    items = [b"a", b"b" * 200, b"c", *[b"d" * 10] * 5, b"e" * 5000]
    c.rpush("l", *items)
    c.save()
    ks = new_keyspace()
    load_rdb_file(srv.cwd / "dump.rdb", ks)
    assert list(ks[0].data[b"l"]) == items


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu"])
def test_stock_idle_and_freq_opcodes(start_server: StartServer, policy: str) -> None:
    srv = start_server("--save", "", "--maxmemory-policy", policy, "--maxmemory", "100mb", stock=True)
    c = srv.client()
    for i in range(50):
        c.set(b"k%d" % i, b"v%d" % i)
        c.get(b"k%d" % i)
    c.save()
    raw = (srv.cwd / "dump.rdb").read_bytes()
    assert (b"\xf8" if policy.endswith("lru") else b"\xf9") in raw
    ks = new_keyspace()
    load_rdb_file(srv.cwd / "dump.rdb", ks)
    assert ks[0].data == {b"k%d" % i: b"v%d" % i for i in range(50)}


def test_stock_functions_are_skipped(start_server: StartServer) -> None:
    srv = start_server("--save", "", stock=True)
    c = srv.client()
    code = "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return 1 end)"
    c.function_load(code)
    c.set("k", "v")
    c.save()
    ks = new_keyspace()
    info = load_rdb_file(srv.cwd / "dump.rdb", ks)
    assert info.functions == [code.encode()]
    assert ks[0].data == {b"k": b"v"}


def test_stock_stream_is_refused_clearly(start_server: StartServer) -> None:
    srv = start_server("--save", "", stock=True)
    c = srv.client()
    c.set("k", "v")
    c.xadd("s", {"f": "v"})
    c.save()
    with pytest.raises(RdbError, match="stream"):
        load_rdb_file(srv.cwd / "dump.rdb", new_keyspace())


def test_stock_expired_keys(start_server: StartServer) -> None:
    srv = start_server("--save", "", stock=True)
    c = srv.client()
    deadline = int(time.time() * 1000) + 1500
    c.set("soon", "x")
    c.pexpireat("soon", deadline)
    c.set("stays", "y")
    c.save()
    while time.time() * 1000 <= deadline + 20:
        time.sleep(0.05)
    ks = new_keyspace()
    info = load_rdb_file(srv.cwd / "dump.rdb", ks)
    assert ks[0].data == {b"stays": b"y"}
    assert (info.keys_loaded, info.keys_expired_skipped) == (1, 1)
    ks = new_keyspace()
    info = load_rdb_file(srv.cwd / "dump.rdb", ks, skip_expired=False)
    assert ks[0].data == {b"soon": b"x", b"stays": b"y"}
    assert ks[0].expires == {b"soon": deadline}


# --- ours -> stock ------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
def test_our_rdb_loads_into_stock(start_server: StartServer, tmp_path: Path, compress: bool) -> None:
    ds = dataset(seed=11)
    ks = new_keyspace()
    fill_keyspace(ks, ds)
    path = tmp_path / "ours.rdb"
    save_rdb_file(path, ks.dbs, compress=compress, aux={"repl-id": "a" * 40, "repl-offset": 1234})
    out = check_rdb(path)
    assert f"{ks.total_keys()} keys read" in out
    srv = start_on_file(start_server, tmp_path, "stock", path.read_bytes())
    assert stock_snapshot(srv) == expected(ds)
    assert "DB loaded from disk" in srv.log()


def test_round_trip_through_stock(start_server: StartServer, tmp_path: Path) -> None:
    """stock -> ours -> file -> stock -> file -> ours: nothing changes on the way."""
    first = start_server("--save", "", stock=True)
    ds = dataset(seed=3)
    write_to_stock(first, ds)
    first.client().save()
    ks = new_keyspace()
    load_rdb_file(first.cwd / "dump.rdb", ks)
    path = tmp_path / "ours.rdb"
    save_rdb_file(path, ks.dbs)
    second = start_on_file(start_server, tmp_path, "second", path.read_bytes())
    second.client().save()
    ks2 = new_keyspace()
    load_rdb_file(second.cwd / "dump.rdb", ks2)
    assert keyspace_snapshot(ks2) == expected(ds)


def test_legacy_encodings_agree_with_stock(start_server: StartServer, tmp_path: Path) -> None:
    """Redis <= 6.2 encodings (ziplist, zipmap, intset, quicklist v1, string-score zset): our
    encoders write them, stock Redis 7.0 and our loader must read the same data from them."""
    h_pairs = [(b"f1", b"v1"), (b"n", b"123"), (b"neg", b"-5000000000")]
    z_flat = [b"a", b"1.5", b"b", b"-inf", b"c", b"7", b"d", b"-0.25"]
    entries = [
        (
            TYPE_LIST_ZIPLIST,
            b"lz",
            blob(encode_ziplist([b"a", b"1", b"-70000", b"b" * 100, b"%d" % (1 << 40)])),
            None,
        ),
        (TYPE_SET_INTSET, b"si16", blob(encode_intset([3, -1, 300])), None),
        (TYPE_SET_INTSET, b"si64", blob(encode_intset([3, -1, 1 << 40])), None),
        (TYPE_ZSET_ZIPLIST, b"zz", blob(encode_ziplist(z_flat)), None),
        (TYPE_HASH_ZIPLIST, b"hz", encode_string(encode_ziplist([x for p in h_pairs for x in p])), None),
        (TYPE_HASH_ZIPMAP, b"hm", blob(encode_zipmap(h_pairs)), None),
        (
            TYPE_LIST_QUICKLIST,
            b"q1",
            encode_length(2)
            + blob(encode_ziplist([b"x", b"1"]))
            + encode_string(encode_ziplist([b"y" * 30] * 50)),
            int(time.time() * 1000) + 3_600_000,
        ),
        (TYPE_ZSET, b"z1", encode_length(3) + b"\x01a\x033.5" + b"\x01b\xfe" + b"\x01c\xff", None),
    ]
    data = craft_rdb(entries, version=9, db=2)
    path = tmp_path / "legacy.rdb"
    path.write_bytes(data)
    check_rdb(path)
    ks = new_keyspace()
    load_rdb_file(path, ks)
    ours = keyspace_snapshot(ks)
    srv = start_on_file(start_server, tmp_path, "stock", data)
    assert stock_snapshot(srv) == ours
    assert ours[2][b"hm"][0] == ("hash", dict(h_pairs))
    assert ours[2][b"zz"][0] == ("zset", {b"a": 1.5, b"b": -math.inf, b"c": 7.0, b"d": -0.25})


# --- DUMP / RESTORE -----------------------------------------------------------------------------


def test_dump_payloads_both_ways(start_server: StartServer) -> None:
    srv = start_server("--save", "", stock=True)
    c = srv.client()
    ds = {0: dict(list(dataset()[0].items()))}
    write_to_stock(srv, ds)
    for k, (v, _) in ds[0].items():
        payload = c.dump(k)
        assert payload is not None
        assert canon(restore_value(payload)) == canon(v), k
        ours = dump_value(v)
        c.restore(b"copy:" + k, 0, ours)
    snap = stock_snapshot(srv)[0]
    for k, (v, _) in ds[0].items():
        assert snap[b"copy:" + k][0] == canon(v)
    with pytest.raises(redis.ResponseError, match="checksum"):
        c.restore("bad", 0, dump_value(b"x")[:-1] + b"\x00")
