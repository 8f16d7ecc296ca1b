"""Pub/Sub against stock Redis 7.0: wire framing (RESP2 arrays, RESP3 pushes), counts, the RESP2
subscriber context, PUBSUB introspection, ordering of messages among replies, and redis-py's
PubSub on both protocols.

Why: Sentinel and applications depend on exact pub/sub framing and on which commands a
subscribed RESP2 connection may send; these are easy to get subtly wrong (null channel in an
empty UNSUBSCRIBE, counts that exclude shard channels, a message overtaking an earlier reply).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis

from server.client import Client, NullTransport
from server.engine import Engine
from tests.conftest import ServerProcess
from tests.server.rawresp import Raw, client_id, start_module_server, transcript, wait_until


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    sp = start_module_server(tmp_path_factory.mktemp("pubsub"))
    yield sp
    sp.stop()


@pytest.fixture(scope="module")
def stock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    sp = start_module_server(tmp_path_factory.mktemp("pubsub-stock"), stock=True)
    yield sp
    sp.stop()


@pytest.fixture(params=["ours", "stock"])
def srv(request: pytest.FixtureRequest) -> ServerProcess:
    """Each behavioural test runs against ours and against stock Redis (which proves the test
    encodes Redis's behaviour, not ours)."""
    return request.getfixturevalue(request.param)


# --- byte-for-byte against stock ------------------------------------------------------------------

SCRIPTS: dict[str, list[list[str]]] = {
    "resp2-subscribe-family": [
        ["UNSUBSCRIBE"],
        ["PUNSUBSCRIBE"],
        ["SUNSUBSCRIBE"],
        ["SUBSCRIBE", "d1:a", "d1:b"],
        ["SUBSCRIBE", "d1:a"],
        ["PSUBSCRIBE", "d1:*"],
        ["SSUBSCRIBE", "d1:s1", "d1:s2"],
        ["PING"],
        ["PING", "hi"],
        ["GET", "x"],
        ["CLIENT", "LIST"],
        ["CLIENT", "FOO"],
        ["PUBLISH", "x", "y"],
        ["UNSUBSCRIBE", "d1:b", "d1:zz"],
        ["PUNSUBSCRIBE", "d1:*"],
        ["SUNSUBSCRIBE", "d1:s1"],
        ["UNSUBSCRIBE", "d1:a"],
        ["GET", "x"],  # still in the context: one shard channel left
        ["SUNSUBSCRIBE", "d1:s2"],
        ["GET", "x"],
        ["SUBSCRIBE"],
        ["PSUBSCRIBE"],
        ["SSUBSCRIBE"],
    ],
    "resp3-pushes-and-any-command": [
        ["HELLO", "3"],
        ["UNSUBSCRIBE"],
        ["SUBSCRIBE", "d2:a"],
        ["PSUBSCRIBE", "d2:a*"],
        ["SSUBSCRIBE", "d2:a"],
        ["GET", "d2:nokey"],
        ["PING"],
        ["PUBLISH", "d2:a", "hello"],  # to itself: message, pmessage, then the count
        ["SPUBLISH", "d2:a", "hi"],
        ["PUBSUB", "NUMSUB", "d2:a", "d2:b"],
        ["PUBSUB", "SHARDNUMSUB", "d2:a", "d2:z"],
        ["PUBSUB", "CHANNELS", "d2:*"],
        ["PUBSUB", "SHARDCHANNELS", "d2:*"],
        ["UNSUBSCRIBE"],
        ["PUNSUBSCRIBE"],
        ["SUNSUBSCRIBE"],
        ["UNSUBSCRIBE"],
        ["PUNSUBSCRIBE"],
        ["SUNSUBSCRIBE"],
    ],
    "resp3-message-keeps-its-place-in-a-pipeline": [
        ["HELLO", "3"],
        ["SUBSCRIBE", "d3:ch"],
        ["ECHO", "before"],
        ["PUBLISH", "d3:ch", "m1"],
        ["ECHO", "between"],
        ["PUBLISH", "d3:ch", "m2"],
        ["ECHO", "after"],
    ],
    "subscribe-inside-exec": [
        ["MULTI"],
        ["SUBSCRIBE", "d4:x"],
        ["PING"],
        ["EXEC"],
        ["PING"],
        ["HELLO", "3"],
        ["MULTI"],
        ["SUBSCRIBE", "d4:y"],
        ["PUBLISH", "d4:y", "m"],
        ["EXEC"],
    ],
    "reply-off-keeps-pubsub-output": [
        ["CLIENT", "REPLY", "OFF"],
        ["SET", "d5:k", "1"],
        ["SUBSCRIBE", "d5:ch"],
        ["PING"],
        ["CLIENT", "REPLY", "SKIP"],
        ["UNSUBSCRIBE"],
        ["CLIENT", "REPLY", "ON"],
        ["HELLO", "3"],
        ["SUBSCRIBE", "d5:ch"],
        ["CLIENT", "REPLY", "OFF"],
        ["PUBLISH", "d5:ch", "x"],
        ["CLIENT", "REPLY", "ON"],
    ],
    "pubsub-command-errors-and-help": [
        ["PUBSUB", "CHANNELS", "a", "b"],
        ["PUBSUB", "NUMPAT", "x"],
        ["PUBSUB", "foo"],
        ["PUBSUB"],
        ["PUBLISH", "a"],
        ["SPUBLISH", "a", "b", "c"],
        ["PUBSUB", "NUMSUB"],
        ["PUBSUB", "SHARDNUMSUB"],
        ["PUBSUB", "CHANNELS", "d6:nothing*"],
        ["PUBSUB", "HELP"],
        ["PUBLISH", "d6:nobody", "x"],
        ["SPUBLISH", "d6:nobody", "x"],
    ],
    "reset-leaves-the-subscriber-context": [
        ["SUBSCRIBE", "d7:a"],
        ["PSUBSCRIBE", "d7:*"],
        ["RESET"],
        ["GET", "d7:k"],
        ["UNSUBSCRIBE"],
    ],
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_script_matches_stock_byte_for_byte(ours: ServerProcess, stock: ServerProcess, name: str) -> None:
    script = SCRIPTS[name]
    expected = transcript(stock.port, script)
    assert transcript(ours.port, script) == expected


# --- messages between connections ------------------------------------------------------------------


@pytest.mark.parametrize("proto", [2, 3])
def test_message_pmessage_smessage_framing(srv: ServerProcess, proto: int) -> None:
    hdr3 = b">3\r\n" if proto == 3 else b"*3\r\n"
    hdr4 = b">4\r\n" if proto == 3 else b"*4\r\n"
    with Raw(srv.port) as sub, Raw(srv.port) as pub:
        if proto == 3:
            assert sub.call("HELLO", "3").startswith(b"%7\r\n")
        assert sub.call("SUBSCRIBE", "m:ch") == hdr3 + b"$9\r\nsubscribe\r\n$4\r\nm:ch\r\n:1\r\n"
        assert sub.call("PSUBSCRIBE", "m:*") == hdr3 + b"$10\r\npsubscribe\r\n$3\r\nm:*\r\n:2\r\n"
        # Shard channels are counted on their own.
        assert sub.call("SSUBSCRIBE", "m:ch") == hdr3 + b"$10\r\nssubscribe\r\n$4\r\nm:ch\r\n:1\r\n"
        assert pub.call("PUBLISH", "m:ch", "hello") == b":2\r\n"
        assert sub.read() == hdr3 + b"$7\r\nmessage\r\n$4\r\nm:ch\r\n$5\r\nhello\r\n"
        assert sub.read() == hdr4 + b"$8\r\npmessage\r\n$3\r\nm:*\r\n$4\r\nm:ch\r\n$5\r\nhello\r\n"
        assert pub.call("SPUBLISH", "m:ch", "s") == b":1\r\n"
        assert sub.read() == hdr3 + b"$8\r\nsmessage\r\n$4\r\nm:ch\r\n$1\r\ns\r\n"
        assert pub.call("PUBLISH", "m:other", "p") == b":1\r\n"
        assert sub.read() == hdr4 + b"$8\r\npmessage\r\n$3\r\nm:*\r\n$7\r\nm:other\r\n$1\r\np\r\n"
        assert sub.nothing_within(0.2)


def test_unsubscribe_without_arguments_reports_every_channel(srv: ServerProcess) -> None:
    """Redis replies once per channel, in its own (hash) order, counting down to zero."""
    with Raw(srv.port) as c:
        for i, ch in enumerate(["u:a", "u:b", "u:c"], 1):
            assert c.call("SUBSCRIBE", ch).endswith(b":%d\r\n" % i)
        assert c.call("PSUBSCRIBE", "u:p1", "u:p2") == b"*3\r\n$10\r\npsubscribe\r\n$4\r\nu:p1\r\n:4\r\n"
        assert c.read() == b"*3\r\n$10\r\npsubscribe\r\n$4\r\nu:p2\r\n:5\r\n"
        seen = []
        counts = []
        c.send("UNSUBSCRIBE")
        for _ in range(3):
            r = c.read()
            assert r.startswith(b"*3\r\n$11\r\nunsubscribe\r\n")
            parts = r.split(b"\r\n")
            seen.append(parts[4])
            counts.append(parts[5])
        assert sorted(seen) == [b"u:a", b"u:b", b"u:c"]
        assert counts == [b":4", b":3", b":2"]  # the patterns still count
        c.send("PUNSUBSCRIBE")
        pats = [c.read() for _ in range(2)]
        assert sorted(p.split(b"\r\n")[4] for p in pats) == [b"u:p1", b"u:p2"]
        assert [p.split(b"\r\n")[5] for p in pats] == [b":1", b":0"]
        assert c.call("GET", "u:k") == b"$-1\r\n"  # out of the subscriber context


def test_numpat_counts_distinct_patterns_and_numsub_only_channels(srv: ServerProcess) -> None:
    with Raw(srv.port) as a, Raw(srv.port) as b, Raw(srv.port) as q:
        base = int(q.call("PUBSUB", "NUMPAT")[1:-2])
        a.call("PSUBSCRIBE", "n:*")
        b.call("PSUBSCRIBE", "n:*")
        b.call("PSUBSCRIBE", "n:x*")
        a.call("SUBSCRIBE", "n:ch")
        assert q.call("PUBSUB", "NUMPAT") == b":%d\r\n" % (base + 2)
        assert (
            q.call("PUBSUB", "NUMSUB", "n:ch", "n:none")
            == b"*4\r\n$4\r\nn:ch\r\n:1\r\n$6\r\nn:none\r\n:0\r\n"
        )
        assert q.call("PUBSUB", "CHANNELS", "n:*") == b"*1\r\n$4\r\nn:ch\r\n"
        # A client on the channel and on two matching patterns receives it three times.
        b.call("SUBSCRIBE", "n:ch")
        assert q.call("PUBLISH", "n:ch", "z") == b":4\r\n"


def test_disconnected_subscriber_is_forgotten(srv: ServerProcess) -> None:
    with Raw(srv.port) as q:
        sub = Raw(srv.port)
        sub.call("SUBSCRIBE", "gone:ch")
        sub.call("SSUBSCRIBE", "gone:s")
        sub.call("PSUBSCRIBE", "gone:*")
        assert q.call("PUBLISH", "gone:ch", "x") == b":2\r\n"
        sub.close()
        assert wait_until(lambda: q.call("PUBSUB", "NUMSUB", "gone:ch").endswith(b":0\r\n"))
        assert q.call("PUBLISH", "gone:ch", "x") == b":0\r\n"
        assert q.call("SPUBLISH", "gone:s", "x") == b":0\r\n"
        assert q.call("PUBSUB", "CHANNELS", "gone:*") == b"*0\r\n"


def test_killed_subscriber_no_longer_counts_for_the_next_publish(srv: ServerProcess) -> None:
    """CLIENT KILL frees the client at once in Redis: a PUBLISH right after counts nobody."""
    with Raw(srv.port) as sub, Raw(srv.port) as q:
        cid = client_id(sub)
        sub.call("SUBSCRIBE", "k:ch")
        q.send("CLIENT", "KILL", "ID", cid)
        q.send("PUBLISH", "k:ch", "x")
        assert q.read() == b":1\r\n"
        assert q.read() == b":0\r\n"
        assert sub.wait_closed() == b""


# --- redis-py ------------------------------------------------------------------------------------


def _get(p: redis.client.PubSub, timeout: float = 5.0) -> dict[str, object]:
    """The next message (bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = p.get_message(timeout=0.1)
        if m is not None:
            return m
    raise AssertionError("no pub/sub message within the time limit")


@pytest.mark.parametrize("proto", [2, 3])
def test_redis_py_pubsub(srv: ServerProcess, proto: int) -> None:
    r = redis.Redis(host="127.0.0.1", port=srv.port, protocol=proto, socket_timeout=10)
    p = r.pubsub()
    try:
        p.subscribe("py:ch")
        assert _get(p) == {"type": "subscribe", "pattern": None, "channel": b"py:ch", "data": 1}
        p.psubscribe("py:*")
        assert _get(p) == {"type": "psubscribe", "pattern": None, "channel": b"py:*", "data": 2}
        assert r.pubsub_numsub("py:ch") == [(b"py:ch", 1)]
        assert r.pubsub_numpat() >= 1
        assert r.publish("py:ch", "hello") == 2
        assert _get(p) == {"type": "message", "pattern": None, "channel": b"py:ch", "data": b"hello"}
        assert _get(p) == {"type": "pmessage", "pattern": b"py:*", "channel": b"py:ch", "data": b"hello"}
        p.unsubscribe("py:ch")
        assert _get(p) == {"type": "unsubscribe", "pattern": None, "channel": b"py:ch", "data": 1}
        p.punsubscribe()
        assert _get(p) == {"type": "punsubscribe", "pattern": None, "channel": b"py:*", "data": 0}
        assert r.publish("py:ch", "nobody") == 0
    finally:
        p.close()
        r.close()


def test_resp2_subscriber_context_error_text(srv: ServerProcess) -> None:
    with Raw(srv.port) as c:
        c.call("SUBSCRIBE", "ctx:a")
        assert c.call("SET", "k", "v") == (
            b"-ERR Can't execute 'set': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
            b"are allowed in this context\r\n"
        )
        assert c.call("CLIENT", "ID").startswith(b"-ERR Can't execute 'client|id'")
        assert c.call("QUIT") == b"+OK\r\n"
        assert c.wait_closed() == b""


# --- propagation (engine level: a sink stands for the AOF, a stub for the replication layer) ------


class _Sink:
    def __init__(self) -> None:
        self.fed: list[bytes] = []

    def feed(self, db_id: int, data: bytes) -> None:
        self.fed.append(data)


def test_publish_goes_to_replicas_but_not_to_the_aof() -> None:
    """Redis propagates PUBLISH with PROPAGATE_REPL only: replicas deliver it to their own
    subscribers (Sentinel hellos via replicas), the AOF must not replay it."""
    eng = Engine()
    aof = _Sink()
    repl = _Sink()
    eng.sinks.append(aof)
    eng.repl = repl
    c = Client(eng, NullTransport())
    eng.add_client(c)
    assert eng.execute(c, [b"PUBLISH", b"ch", b"msg"]) == b":0\r\n"
    assert eng.execute(c, [b"SPUBLISH", b"sch", b"msg"]) == b":0\r\n"
    assert aof.fed == []
    assert repl.fed == [
        b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$3\r\nmsg\r\n",
        b"*3\r\n$8\r\nSPUBLISH\r\n$3\r\nsch\r\n$3\r\nmsg\r\n",
    ]


def test_replica_delivers_published_messages(start_server: Callable[..., ServerProcess]) -> None:
    """End to end: a subscriber on a replica receives what is published on its master (once the
    link is up: until then PUBLISH on the master reaches no replica, so keep publishing)."""
    master = start_server("--save", "", "--repl-diskless-sync-delay", "0")
    replica = start_server("--save", "", "--replicaof", "127.0.0.1", str(master.port))
    with Raw(replica.port) as sub, Raw(master.port) as pub:
        sub.call("SUBSCRIBE", "repl:ch")
        deadline = time.monotonic() + 30
        got = b""
        i = 0
        while not got and time.monotonic() < deadline:
            i += 1
            assert pub.call("PUBLISH", "repl:ch", f"m{i}") == b":0\r\n"  # nobody on the master
            try:
                got = sub.read(timeout=0.25)
            except TimeoutError:
                continue
        assert got.startswith(b"*3\r\n$7\r\nmessage\r\n$7\r\nrepl:ch\r\n$"), got
        n = int(got.split(b"\r\n")[6][1:])
        assert 1 <= n <= i
