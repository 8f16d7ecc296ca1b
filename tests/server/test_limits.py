"""Connection-level limits over real sockets, each checked against stock Redis 7.0 too:
maxclients, idle `timeout`, the pub/sub output-buffer limits (hard and soft),
client-query-buffer-limit, proto-max-bulk-len, and protected mode (in-process, with a
non-loopback peer address faked on a socketpair, since tests only use 127.0.0.1).

Why: these limits are what keeps one misbehaving client (a subscriber that stopped reading, a
huge or endless request, a connection flood) from taking the server down with it, and Redis's
exact behaviour (which error, whether a reply is sent, when the connection closes) is what
clients and operators expect.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from server.config import Config
from server.engine import Engine
from server.network import PROTECTED_MODE_DENIED, Server
from tests.conftest import ServerProcess
from tests.server.rawresp import Closed, Raw, client_id, encode, wait_until

Start = Callable[..., ServerProcess]

BOTH = pytest.mark.parametrize("stock", [False, True], ids=["ours", "stock"])


# --- maxclients --------------------------------------------------------------------------------------


@BOTH
def test_maxclients_rejects_with_error_and_closes(start_server: Start, stock: bool) -> None:
    sp = start_server("--save", "", "--maxclients", "3", stock=stock)
    first = Raw(sp.port)
    # The start-up probe's connection may not be freed yet: wait until `first` is alone.
    assert wait_until(lambda: first.call("CLIENT", "LIST").count(b"id=") == 1)
    conns = [first, Raw(sp.port), Raw(sp.port)]
    try:
        for c in conns:
            assert c.call("PING") == b"+PONG\r\n"
        with Raw(sp.port) as extra:
            assert extra.wait_closed() == b"-ERR max number of clients reached\r\n"
        conns.pop().close()

        def admitted() -> bool:
            with Raw(sp.port) as again:
                try:
                    return again.call("PING") == b"+PONG\r\n"
                except Closed:
                    return False

        assert wait_until(admitted)
    finally:
        for c in conns:
            c.close()


# --- timeout ----------------------------------------------------------------------------------------


@BOTH
def test_idle_timeout_spares_subscribers_blocked_and_active_clients(start_server: Start, stock: bool) -> None:
    sp = start_server("--save", "", "--timeout", "1", stock=stock)
    with Raw(sp.port) as idle, Raw(sp.port) as sub, Raw(sp.port) as blocked, Raw(sp.port) as active:
        t0 = time.monotonic()
        assert idle.call("PING") == b"+PONG\r\n"
        assert sub.call("SUBSCRIBE", "to:ch") == b"*3\r\n$9\r\nsubscribe\r\n$5\r\nto:ch\r\n:1\r\n"
        blocked.send("BLPOP", "to:list", "0")
        while time.monotonic() - t0 < 3.0:
            assert active.call("PING") == b"+PONG\r\n"
            time.sleep(0.25)
        assert idle.wait_closed(timeout=5) == b""  # closed silently, as Redis does
        assert sub.call("PING") == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
        assert active.call("RPUSH", "to:list", "x") == b":1\r\n"
        if not stock:
            assert blocked.read() == b"*2\r\n$7\r\nto:list\r\n$1\r\nx\r\n"
            return
        # Stock can free the client it just unblocked (idle > timeout, no longer blocked) in the
        # serverCron of the same event-loop turn, before its reply is written: a rare race of its own.
        try:
            assert blocked.read() == b"*2\r\n$7\r\nto:list\r\n$1\r\nx\r\n"
        except Closed as e:
            assert e.args == (b"",), e.args


@BOTH
def test_client_held_by_pause_is_blocked_not_idle(start_server: Start, stock: bool) -> None:
    sp = start_server("--save", "", "--timeout", "1", stock=stock)
    with Raw(sp.port) as admin, Raw(sp.port) as c:
        cid = client_id(c)
        assert admin.call("CLIENT", "PAUSE", "2500", "WRITE") == b"+OK\r\n"
        c.send("SET", "held", "1")
        assert wait_until(lambda: b" flags=b " in admin.call("CLIENT", "LIST", "ID", str(cid)))
        assert c.read(timeout=10) == b"+OK\r\n"  # 2.5s held, more than the 1s timeout


# --- client-output-buffer-limit (pubsub) ------------------------------------------------------------

MESSAGE = b"x" * 65536


@BOTH
def test_pubsub_hard_limit_disconnects_a_subscriber_that_stops_reading(
    start_server: Start, stock: bool
) -> None:
    sp = start_server(
        "--save", "", "--client-output-buffer-limit", "pubsub", "256kb", "128kb", "60", stock=stock
    )
    with Raw(sp.port, rcvbuf=4096) as sub, Raw(sp.port) as pub:
        assert sub.call("SUBSCRIBE", "ob:ch").endswith(b":1\r\n")
        sent = 0
        while sent < 64 * 1024 * 1024:  # kernel buffers first, then the 256kb: far less than this
            n = pub.call("PUBLISH", "ob:ch", MESSAGE)
            if n == b":0\r\n":
                break
            assert n == b":1\r\n"
            sent += len(MESSAGE)
        assert 256 * 1024 < sent < 64 * 1024 * 1024
        assert pub.call("PUBSUB", "NUMSUB", "ob:ch") == b"*2\r\n$5\r\nob:ch\r\n:0\r\n"
        received = sub.wait_closed(timeout=20)
        assert len(received) < sent  # what was queued past the limit was dropped


@BOTH
def test_pubsub_soft_limit_needs_the_configured_seconds(start_server: Start, stock: bool) -> None:
    sp = start_server("--save", "", "--client-output-buffer-limit", "pubsub", "0", "128kb", "1", stock=stock)
    with Raw(sp.port, rcvbuf=4096) as sub, Raw(sp.port) as pub:
        assert sub.call("SUBSCRIBE", "sl:ch").endswith(b":1\r\n")
        for _ in range(200):  # 12.5 MiB: well past the kernel's buffers and the soft limit
            assert pub.call("PUBLISH", "sl:ch", MESSAGE) == b":1\r\n"
        assert pub.call("PUBSUB", "NUMSUB", "sl:ch") == b"*2\r\n$5\r\nsl:ch\r\n:1\r\n"  # not yet
        # More than 1s above the soft limit (Redis counts whole seconds): closed by the periodic
        # check, without any further write to it.
        assert wait_until(lambda: pub.call("PUBSUB", "NUMSUB", "sl:ch").endswith(b":0\r\n"), timeout=6)
        assert pub.call("PUBLISH", "sl:ch", b"y") == b":0\r\n"
        sub.wait_closed(timeout=20)
        assert sub.eof


@BOTH
def test_normal_clients_have_no_output_limit_by_default(start_server: Start, stock: bool) -> None:
    sp = start_server("--save", "", stock=stock)
    with Raw(sp.port, rcvbuf=4096) as slow, Raw(sp.port) as c:
        assert c.call("SET", "big", MESSAGE * 4) == b"+OK\r\n"
        slow.send_raw(encode(["GET", "big"]) * 40)  # 10 MiB of replies it does not read yet
        time.sleep(0.5)
        assert c.call("PING") == b"+PONG\r\n"
        expected = b"$262144\r\n" + MESSAGE * 4 + b"\r\n"
        for _ in range(40):
            assert slow.read(timeout=20) == expected


# --- request limits -------------------------------------------------------------------------------------


@BOTH
def test_query_buffer_limit_closes_without_a_reply(start_server: Start, stock: bool) -> None:
    sp = start_server("--save", "", "--client-query-buffer-limit", "1mb", stock=stock)
    with Raw(sp.port) as c:
        try:
            c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n" + b"v" * 1_500_000)
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed while we were still sending: what is checked next
        assert c.wait_closed() == b""
    # Many small pipelined commands never fill it: each is consumed as it completes.
    with Raw(sp.port) as c:
        cmd = encode(["SET", "k", "v" * 100])
        n = (4 * 1024 * 1024) // len(cmd)
        c.send_raw(cmd * n)
        for _ in range(n):
            assert c.read() == b"+OK\r\n"


@BOTH
def test_proto_max_bulk_len(start_server: Start, stock: bool) -> None:
    sp = start_server("--save", "", "--proto-max-bulk-len", "1mb", stock=stock)
    with Raw(sp.port) as c:
        value = b"v" * (1024 * 1024)
        assert c.call("SET", "k", value) == b"+OK\r\n"  # exactly the limit is fine
        assert c.call("STRLEN", "k") == b":1048576\r\n"
        c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n")  # rejected on the header alone
        assert c.wait_closed() == b"-ERR Protocol error: invalid bulk length\r\n"


# --- protected mode ---------------------------------------------------------------------------------------


async def _serve_one(cfg: Config, peer: tuple[str, int], request: bytes) -> bytes:
    """Serve one connection whose peer address is `peer` (a socketpair stands for the TCP socket:
    tests only use loopback, so a remote peer can only be faked) and return what it answers."""
    engine = Engine(cfg)
    srv = Server(engine)
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    out = b""
    theirs.setblocking(False)
    sent = False
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(srv._serve_client, ours, peer)
            idle = 0
            while True:
                await trio.sleep(0.01)
                try:
                    data = theirs.recv(65536)
                except BlockingIOError:
                    idle += 1
                    if not sent and idle >= 20:  # no greeting (no DENIED): send the request
                        theirs.sendall(request)
                        sent = True
                    elif out.endswith(b"\r\n"):
                        theirs.shutdown(socket.SHUT_WR)  # done: let the server see EOF
                    continue
                if not data:
                    break
                out += data
    theirs.close()
    return out


@pytest.mark.parametrize(
    ("protected", "password", "peer", "denied"),
    [
        (True, "", ("10.1.2.3", 40000), True),
        (True, "", ("192.168.0.9", 40000), True),
        (True, "", ("::ffff:10.0.0.1", 40000), True),
        (True, "", ("127.0.0.1", 40000), False),
        (True, "", ("127.8.9.10", 40000), False),
        (True, "", ("::1", 40000), False),
        (True, "pw", ("10.1.2.3", 40000), False),  # a password is set: not protected
        (False, "", ("10.1.2.3", 40000), False),
    ],
)
async def test_protected_mode(protected: bool, password: str, peer: tuple[str, int], denied: bool) -> None:
    cfg = Config()
    cfg.protected_mode = protected
    cfg.requirepass = password
    out = await _serve_one(cfg, peer, b"PING\r\n")
    if denied:
        assert out == PROTECTED_MODE_DENIED
    else:
        assert out == (b"-NOAUTH Authentication required.\r\n" if password else b"+PONG\r\n")


def test_protected_mode_text_is_redis_7_0_15() -> None:
    """The DENIED text, byte for byte as the stock binary has it."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("stock redis-server is not installed")
    data = Path(exe).read_bytes()
    start = data.find(b"-DENIED Redis is running in protected mode")
    assert start >= 0
    assert data[start : data.index(b"\x00", start)] == PROTECTED_MODE_DENIED


@BOTH
def test_limits_follow_config_set_at_once(start_server: Start, stock: bool) -> None:
    """CONFIG SET applies to connections already open (no reconnect needed)."""
    sp = start_server("--save", "", stock=stock)
    with Raw(sp.port, rcvbuf=4096) as sub, Raw(sp.port) as c:
        assert c.call("CONFIG", "SET", "client-output-buffer-limit", "pubsub 256kb 128kb 60") == b"+OK\r\n"
        assert sub.call("SUBSCRIBE", "cs:ch").endswith(b":1\r\n")
        for _ in range(1024):  # 64 MiB at most; the subscriber goes long before
            if c.call("PUBLISH", "cs:ch", MESSAGE) == b":0\r\n":
                break
        assert c.call("PUBSUB", "NUMSUB", "cs:ch") == b"*2\r\n$5\r\ncs:ch\r\n:0\r\n"
        assert c.call("CONFIG", "SET", "proto-max-bulk-len", "1mb") == b"+OK\r\n"
        c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n")
        assert c.wait_closed() == b"-ERR Protocol error: invalid bulk length\r\n"
    with Raw(sp.port) as a, Raw(sp.port) as b:
        assert a.call("CONFIG", "SET", "maxclients", "2") == b"+OK\r\n"
        assert b.call("PING") == b"+PONG\r\n"
        with Raw(sp.port) as extra:
            assert extra.wait_closed() == b"-ERR max number of clients reached\r\n"
        assert a.call("CONFIG", "SET", "maxclients", "10000") == b"+OK\r\n"
