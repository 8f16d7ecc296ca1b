"""Real clients against hasentinel-server: redis-py (sync and asyncio, RESP2 and RESP3, hiredis and
pure-Python parsers, pipelines, pub/sub), redis-cli (commands, RESP3, inline, --pipe mass
insertion, output identical to stock Redis) and a quick redis-benchmark run.

Why: applications reach the server through these clients, which each rely on details of the
protocol (RESP3 types, HELLO, CLIENT SETINFO, pipelining, pub/sub framing) that unit tests of
single commands do not exercise.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aredis
from redis._parsers import (
    _AsyncHiredisParser,
    _AsyncRESP2Parser,
    _AsyncRESP3Parser,
    _HiredisParser,
    _RESP2Parser,
    _RESP3Parser,
)

from tests.conftest import ServerProcess

Start = Callable[..., ServerProcess]

needs_cli = pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
needs_benchmark = pytest.mark.skipif(
    shutil.which("redis-benchmark") is None, reason="redis-benchmark is not installed"
)

# (protocol, parser class): redis-py picks hiredis when installed; the pure-Python parsers read the
# byte stream themselves and are stricter about some framing details, so both are exercised.
SYNC_VARIANTS = [
    pytest.param(2, _HiredisParser, id="resp2-hiredis"),
    pytest.param(2, _RESP2Parser, id="resp2-python"),
    pytest.param(3, _HiredisParser, id="resp3-hiredis"),
    pytest.param(3, _RESP3Parser, id="resp3-python"),
]
ASYNC_VARIANTS = [
    pytest.param(2, _AsyncHiredisParser, id="resp2-hiredis"),
    pytest.param(2, _AsyncRESP2Parser, id="resp2-python"),
    pytest.param(3, _AsyncHiredisParser, id="resp3-hiredis"),
    pytest.param(3, _AsyncRESP3Parser, id="resp3-python"),
]


@pytest.fixture
def server(start_server: Start) -> ServerProcess:
    """hasentinel-server, or stock Redis with HASENTINEL_TEST_AGAINST_STOCK=1 (to check that the
    expectations written here are Redis's own)."""
    if os.environ.get("HASENTINEL_TEST_AGAINST_STOCK"):
        return start_server("--save", "", "--appendonly", "no", stock=True)
    return start_server("--save", "")


def sync_client(server: ServerProcess, protocol: int, parser: type, **kw: Any) -> redis.Redis:
    """A client owning its pool (closing it closes the sockets), with the given parser."""
    pool = redis.ConnectionPool(
        host="127.0.0.1", port=server.port, protocol=protocol, parser_class=parser, socket_timeout=10, **kw
    )
    return redis.Redis.from_pool(pool)


# --- redis-py, sync ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "parser"), SYNC_VARIANTS)
def test_redis_py_strings_and_keys(server: ServerProcess, protocol: int, parser: type) -> None:
    r = sync_client(server, protocol, parser)
    try:
        assert r.ping() is True
        assert r.set("s", "v") is True
        assert r.get("s") == b"v"
        assert r.get("missing") is None
        assert r.set("s", "w", nx=True) is None
        assert r.set("s", "w", xx=True, get=True) == b"v"
        assert r.mset({"a": "1", "b": "2"}) is True
        assert r.mget("a", "missing", "b") == [b"1", None, b"2"]
        assert r.incr("a") == 2
        assert r.incrbyfloat("a", 0.5) == 2.5
        assert r.append("s", "xyz") == 4
        assert r.getrange("s", 1, -1) == b"xyz"
        assert r.set("t", "v", ex=100) is True
        assert 99 <= r.ttl("t") <= 100
        assert r.exists("a", "b", "missing") == 2
        assert r.delete("a", "b", "missing") == 2
        assert r.type("s") == b"string"
        with pytest.raises(redis.ResponseError, match="not an integer"):
            r.incr("s")
    finally:
        r.close()


@pytest.mark.parametrize(("protocol", "parser"), SYNC_VARIANTS)
def test_redis_py_collections_reply_types(server: ServerProcess, protocol: int, parser: type) -> None:
    """RESP3 maps, sets and doubles decode to the same Python values redis-py gives on RESP2."""
    r = sync_client(server, protocol, parser)
    try:
        assert r.hset("h", mapping={"f1": "1", "f2": "2"}) == 2
        assert r.hgetall("h") == {b"f1": b"1", b"f2": b"2"}
        assert r.hincrbyfloat("h", "f1", 1.5) == 2.5
        assert r.sadd("st", "a", "b", "c") == 3
        assert r.smembers("st") == {b"a", b"b", b"c"}
        assert r.rpush("l", "x", "y", "z") == 3
        assert r.lrange("l", 0, -1) == [b"x", b"y", b"z"]
        assert r.lpop("l", 2) == [b"x", b"y"]
        assert r.zadd("z", {"m1": 1.5, "m2": -2}) == 2
        # redis-py gives tuples on RESP2 and lists on RESP3 (as it does with stock Redis).
        assert [tuple(x) for x in r.zrange("z", 0, -1, withscores=True)] == [(b"m2", -2.0), (b"m1", 1.5)]
        assert r.zscore("z", "m1") == 1.5
        assert r.zincrby("z", 1, "m2") == -1.0
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            r.lpush("h", "x")
    finally:
        r.close()


@pytest.mark.parametrize(("protocol", "parser"), SYNC_VARIANTS)
def test_redis_py_pipelines(server: ServerProcess, protocol: int, parser: type) -> None:
    r = sync_client(server, protocol, parser)
    try:
        with r.pipeline(transaction=False) as p:
            for i in range(500):
                p.set(f"k{i}", i)
                p.get(f"k{i}")
            out = p.execute()
        assert out[0::2] == [True] * 500
        assert out[1::2] == [str(i).encode() for i in range(500)]
        with r.pipeline(transaction=True) as p:
            p.incr("counter")
            p.incr("counter")
            p.get("counter")
            p.hset("h", "f", "v")
            p.hget("h", "f")
            assert p.execute() == [1, 2, b"2", 1, b"v"]
        # An error inside EXEC is one reply among the others; the transaction still commits.
        with r.pipeline(transaction=True) as p:
            p.set("x", "str")
            p.lpush("x", "boom")
            p.set("y", "1")
            res = p.execute(raise_on_error=False)
        assert res[0] is True and isinstance(res[1], redis.ResponseError) and res[2] is True
        assert r.get("y") == b"1"
    finally:
        r.close()


@pytest.mark.parametrize(("protocol", "parser"), SYNC_VARIANTS)
def test_redis_py_watch_transaction(server: ServerProcess, protocol: int, parser: type) -> None:
    r = sync_client(server, protocol, parser)
    other = sync_client(server, protocol, parser)
    try:
        r.set("w", "1")
        with r.pipeline() as p:
            p.watch("w")
            other.set("w", "2")  # touched by another client between WATCH and EXEC
            p.multi()
            p.set("w", "3")
            with pytest.raises(redis.WatchError):
                p.execute()
        assert r.get("w") == b"2"

        def bump(p: redis.client.Pipeline) -> None:
            v = int(p.get("w") or 0)
            p.multi()
            p.set("w", v + 1)

        r.transaction(bump, "w")
        assert r.get("w") == b"3"
    finally:
        r.close()
        other.close()


@pytest.mark.parametrize(("protocol", "parser"), SYNC_VARIANTS)
def test_redis_py_pubsub(server: ServerProcess, protocol: int, parser: type) -> None:
    r = sync_client(server, protocol, parser)
    ps = r.pubsub()
    try:
        ps.subscribe("news")
        ps.psubscribe("wea*")
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < deadline:  # the two subscribe confirmations
            m = ps.get_message(timeout=0.5)
            if m:
                got.append(m)
        assert [m["type"] for m in got] == ["subscribe", "psubscribe"]
        assert r.publish("news", "hello") == 1
        assert r.publish("weather", "rain") == 1
        msgs: list[dict[str, Any]] = []
        while len(msgs) < 2 and time.monotonic() < deadline:
            m = ps.get_message(timeout=0.5, ignore_subscribe_messages=True)
            if m:
                msgs.append(m)
        assert [(m["type"], m["channel"], m["data"]) for m in msgs] == [
            ("message", b"news", b"hello"),
            ("pmessage", b"weather", b"rain"),
        ]
        assert msgs[1]["pattern"] == b"wea*"
        assert r.pubsub_numsub("news") == [(b"news", 1)]
    finally:
        ps.close()
        r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_hello_client_info_and_select(server: ServerProcess, protocol: int) -> None:
    """redis-py's connect-time handshake (HELLO, CLIENT SETINFO, SELECT) and CLIENT commands."""
    r = redis.Redis(
        host="127.0.0.1", port=server.port, protocol=protocol, db=3, client_name="app-1", socket_timeout=10
    )
    try:
        r.set("in3", "x")
        info = r.client_info()
        assert info["name"] == "app-1" and int(info["db"]) == 3
        assert int(info["resp"]) == protocol
        # redis-py's RESP2 and RESP3 callbacks for CLIENT GETNAME differ (str vs bytes).
        assert r.client_getname() == ("app-1" if protocol == 2 else b"app-1")
        r0 = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=10)
        assert r0.get("in3") is None
        r0.close()
    finally:
        r.close()


def test_redis_py_connection_pool_reconnects_after_server_side_kill(server: ServerProcess) -> None:
    """CLIENT KILL closes the pooled connection; redis-py's retry reconnects transparently."""
    r = server.client()
    admin = server.client()
    try:
        r.set("a", "1")
        my_id = r.client_id()
        assert admin.client_kill_filter(_id=str(my_id)) == 1
        assert r.get("a") == b"1"
        assert r.client_id() != my_id
    finally:
        r.close()
        admin.close()


# --- redis-py, asyncio ------------------------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "parser"), ASYNC_VARIANTS)
def test_redis_py_asyncio_concurrency_and_pipeline(
    server: ServerProcess, protocol: int, parser: type
) -> None:
    async def main() -> None:
        pool = aredis.BlockingConnectionPool(
            host="127.0.0.1",
            port=server.port,
            protocol=protocol,
            parser_class=parser,
            max_connections=20,
            timeout=20,
        )
        r = aredis.Redis.from_pool(pool)
        try:
            await r.delete("ctr")
            # 400 INCRs over up to 20 concurrent connections: none lost, none doubled.
            results = await asyncio.gather(*(r.incr("ctr") for _ in range(400)))
            assert sorted(results) == list(range(1, 401))
            assert await r.get("ctr") == b"400"
            async with r.pipeline(transaction=True) as p:
                p.hset("ah", mapping={"a": "1", "b": "2"})
                p.hgetall("ah")
                p.sadd("as", "x")
                p.smembers("as")
                out = await p.execute()
            assert out == [2, {b"a": b"1", b"b": b"2"}, 1, {b"x"}]
            async with r.pipeline(transaction=False) as p:
                for i in range(300):
                    p.rpush("alist", i)
                await p.execute()
            assert await r.llen("alist") == 300
            assert await r.lrange("alist", -2, -1) == [b"298", b"299"]
        finally:
            await r.aclose()

    asyncio.run(asyncio.wait_for(main(), 60))


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_asyncio_pubsub(server: ServerProcess, protocol: int) -> None:
    async def main() -> None:
        r = aredis.Redis(host="127.0.0.1", port=server.port, protocol=protocol)
        ps = r.pubsub()
        try:
            await ps.subscribe("ch")
            msg = await ps.get_message(timeout=5)
            assert msg is not None and msg["type"] == "subscribe"
            pub = aredis.Redis(host="127.0.0.1", port=server.port, protocol=protocol)
            for i in range(5):
                assert await pub.publish("ch", f"m{i}") == 1
            await pub.aclose()
            got = []
            for _ in range(50):
                m = await ps.get_message(timeout=0.2, ignore_subscribe_messages=True)
                if m:
                    got.append(m["data"])
                if len(got) == 5:
                    break
            assert got == [f"m{i}".encode() for i in range(5)]
        finally:
            await ps.aclose()
            await r.aclose()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_redis_py_asyncio_blocking_pop_is_served_by_push(server: ServerProcess) -> None:
    """BLPOP parks one client; a push from another wakes it (the event loop never stalls)."""

    async def main() -> None:
        a = aredis.Redis(host="127.0.0.1", port=server.port)
        b = aredis.Redis(host="127.0.0.1", port=server.port)
        try:

            async def pop() -> Any:
                return await a.blpop(["q"], timeout=10)

            waiter = asyncio.create_task(pop())
            await asyncio.sleep(0.2)
            assert not waiter.done()
            assert await b.ping() is True  # the server is not stuck behind the blocked client
            await b.rpush("q", "job")
            assert tuple(await asyncio.wait_for(waiter, 10)) == (b"q", b"job")
        finally:
            await a.aclose()
            await b.aclose()

    asyncio.run(asyncio.wait_for(main(), 60))


# --- redis-cli ----------------------------------------------------------------------------------------


def cli(
    port: int, *args: str, stdin: bytes | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
    )


@needs_cli
def test_redis_cli_basic_commands(server: ServerProcess) -> None:
    assert cli(server.port, "PING").stdout == b"PONG\n"
    assert cli(server.port, "SET", "k", "hello world").stdout == b"OK\n"
    assert cli(server.port, "GET", "k").stdout == b"hello world\n"
    assert cli(server.port, "--no-raw", "GET", "k").stdout == b'"hello world"\n'
    assert cli(server.port, "GET", "nokey").stdout == b"\n"
    assert cli(server.port, "--no-raw", "GET", "nokey").stdout == b"(nil)\n"
    assert cli(server.port, "-n", "2", "SET", "db2", "x").stdout == b"OK\n"
    assert cli(server.port, "-n", "2", "GET", "db2").stdout == b"x\n"
    assert cli(server.port, "GET", "db2").stdout == b"\n"
    out = cli(server.port, "-r", "5", "INCR", "c")
    assert out.stdout == b"1\n2\n3\n4\n5\n"
    out = cli(server.port, "-x", "SET", "fromstdin", stdin=b"line1\nline2")
    assert out.stdout == b"OK\n"
    assert cli(server.port, "STRLEN", "fromstdin").stdout == b"11\n"
    err = cli(server.port, "INCR", "k")
    assert err.stdout == b"ERR value is not an integer or out of range\n\n"  # redis-cli's own framing


@needs_cli
def test_redis_cli_commands_from_stdin_and_resp3(server: ServerProcess) -> None:
    """redis-cli reading a script from stdin, in RESP2 and (-3) RESP3."""
    script = b'SET a 1\nINCRBY a 41\nGET a\nHSET h f "v v"\nHGET h f\n'
    out = cli(server.port, stdin=script)
    assert out.stdout == b"OK\n42\n42\n1\nv v\n"
    out3 = cli(server.port, "-3", "--no-raw", "HGETALL", "h")
    assert out3.stdout == b'1# "f" => "v v"\n'
    out3 = cli(server.port, "-3", "--no-raw", "GET", "nokey")
    assert out3.stdout == b"(nil)\n"


# Commands whose redis-cli rendering must be identical on both servers (RESP2 and RESP3).
CLI_SCRIPT = [
    ["SET", "s", "value"],
    ["GET", "s"],
    ["GET", "nokey"],
    ["INCRBYFLOAT", "f", "1.1"],
    ["HSET", "h", "f1", "v1"],
    ["HGETALL", "h"],
    ["RPUSH", "l", "a", "b", "c"],
    ["LRANGE", "l", "0", "-1"],
    ["LPOP", "l", "5"],
    ["LPOP", "l"],
    ["ZADD", "z", "1.5", "m", "2", "n"],
    ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    ["ZSCORE", "z", "m"],
    ["SADD", "st", "one"],
    ["SMEMBERS", "st"],
    ["SISMEMBER", "st", "one"],
    ["TYPE", "z"],
    ["EXISTS", "s", "h", "nokey"],
    ["LPUSH", "s", "x"],
    ["NOSUCHCMD", "a"],
    ["MGET", "s", "nokey"],
    ["CONFIG", "GET", "maxmemory"],
    ["OBJECT", "ENCODING", "l"],
    ["TTL", "s"],
    ["DBSIZE"],
    ["ZSCORE", "z", "nomember"],
    ["HINCRBYFLOAT", "h", "f2", "0.1"],
    ["SMISMEMBER", "st", "one", "two"],
    ["BLPOP", "emptylist", "0.01"],
    ["HELLO"],
]


@needs_cli
@pytest.mark.parametrize("proto", ["2", "3"])
def test_redis_cli_output_matches_stock(server: ServerProcess, stock: ServerProcess, proto: str) -> None:
    """redis-cli's human rendering depends on exact reply types: compare it with stock's."""
    for argv in CLI_SCRIPT:
        if argv == ["HELLO"]:
            continue  # ids and versions differ legitimately
        extra = ["-3"] if proto == "3" else []
        ours = cli(server.port, *extra, "--no-raw", *argv)
        ref = cli(stock.port, *extra, "--no-raw", *argv)
        assert (ours.stdout, ours.returncode) == (ref.stdout, ref.returncode), f"redis-cli {' '.join(argv)}"


@needs_cli
def test_redis_cli_pipe_mass_insertion(server: ServerProcess, tmp_path: Path) -> None:
    """`redis-cli --pipe` (the documented mass-insertion path): all replies read, zero errors."""
    n = 20000
    data = b"".join(
        b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(k), k, len(v), v)
        for k, v in ((b"key:%d" % i, b"value:%d" % i) for i in range(n))
    )
    data += b"*2\r\n$4\r\nINCR\r\n$7\r\nkey:100\r\n"  # one error in the stream: counted, not fatal
    out = cli(server.port, "--pipe", stdin=data, timeout=120)
    text = out.stdout.decode() + out.stderr.decode()
    assert f"errors: 1, replies: {n + 1}" in text, text
    r = server.client()
    try:
        assert r.dbsize() == n
        assert r.get("key:19999") == b"value:19999"
    finally:
        r.close()


@needs_cli
def test_redis_cli_scan_and_bigkeys(server: ServerProcess) -> None:
    r = server.client()
    try:
        with r.pipeline(transaction=False) as p:
            for i in range(300):
                p.set(f"user:{i}", "x" * (i % 7))
            p.rpush("biglist", *range(100))
            p.hset("bighash", mapping={f"f{i}": i for i in range(50)})
            p.execute()
    finally:
        r.close()
    out = cli(server.port, "--scan", "--pattern", "user:1*")
    keys = set(out.stdout.decode().split())
    assert keys == {f"user:{i}" for i in range(300) if str(i).startswith("1")}
    big = cli(server.port, "--bigkeys", timeout=60)
    assert big.returncode == 0, big.stderr
    text = big.stdout.decode()
    assert "Biggest   list found '\"biglist\"' has 100 items" in text, text
    assert "Biggest   hash found '\"bighash\"' has 50 fields" in text, text
    assert "Sampled 302 keys in the keyspace!" in text, text


# --- inline protocol (telnet style) ------------------------------------------------------------------


def raw_exchange(port: int, data: bytes, expect_len: int, timeout: float = 10) -> bytes:
    """Send `data`, collect replies until `expect_len` bytes, EOF or `timeout` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + timeout
        while len(got) < expect_len and (left := deadline - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            got += chunk
        return got


def test_inline_commands(server: ServerProcess) -> None:
    expected = b'+OK\r\n$8\r\nhello "x\r\n+PONG\r\n:1\r\n$1\r\n1\r\n$-1\r\n'
    got = raw_exchange(
        server.port,
        b'SET k \'hello "x\'\r\nGET k\nPING\r\n\r\nRPUSH l "\\x31"\r\nLPOP l\r\nGET missing\r\n',
        len(expected),
    )
    assert got == expected


def test_inline_and_multibulk_interleaved_with_stock(server: ServerProcess, stock: ServerProcess) -> None:
    data = (
        b'PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nECHO "a\\tb"\r\n*1\r\n$4\r\nPING\r\nSET "" x\r\nGET ""\r\n'
    )
    ref = raw_exchange(stock.port, data, 10_000, timeout=1)
    assert ref.count(b"\r\n") >= 6
    assert raw_exchange(server.port, data, len(ref)) == ref


# --- redis-benchmark ----------------------------------------------------------------------------------


@needs_benchmark
@pytest.mark.parametrize("pipeline", ["1", "16"])
def test_redis_benchmark_quick_run_all_requests_succeed(server: ServerProcess, pipeline: str) -> None:
    """redis-benchmark exits non-zero on the first error reply; every test must report a rate and the
    counters it maintains must be exact (the INCR key and the list lengths)."""
    n = 2000
    tests = "ping_inline,ping_mbulk,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset"
    out = subprocess.run(
        [
            "redis-benchmark",
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-n",
            str(n),
            "-c",
            "8",
            "-P",
            pipeline,
            "-t",
            tests,
            "--csv",
        ],
        capture_output=True,
        timeout=240,
    )
    text = out.stdout.decode()
    assert out.returncode == 0, text + out.stderr.decode()
    assert "error" not in (text + out.stderr.decode()).lower()
    rows = {line.split(",")[0].strip('"') for line in text.splitlines()[1:] if line}
    for name in (
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "MSET (10 keys)",
    ):
        assert name in rows, (name, rows)
    assert any(r.startswith("LRANGE_100") for r in rows), rows
    r = server.client()
    try:
        assert r.get("counter:__rand_int__") == str(n).encode()
        assert r.exists("key:__rand_int__") == 1
    finally:
        r.close()


@pytest.fixture
def many_keys(server: ServerProcess) -> Iterator[ServerProcess]:
    r = server.client()
    with r.pipeline(transaction=False) as p:
        for i in range(1000):
            p.set(f"k{i}", i)
        p.execute()
    r.close()
    yield server


def test_redis_py_scan_iter_sees_every_key(many_keys: ServerProcess) -> None:
    r = many_keys.client()
    try:
        assert {k.decode() for k in r.scan_iter(count=37)} == {f"k{i}" for i in range(1000)}
        assert {k.decode() for k in r.scan_iter(match="k99*")} == {"k99", *(f"k99{i}" for i in range(10))}
    finally:
        r.close()
