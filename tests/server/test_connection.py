"""Connection commands against stock Redis 7.0: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET, with
and without `requirepass`.

Why: every client library's handshake (HELLO, AUTH, SELECT, CLIENT SETNAME) goes through these,
and a client that reconnects relies on RESET/AUTH semantics and exact error codes (NOAUTH,
WRONGPASS, NOPROTO) to decide what to do.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.conftest import ServerProcess
from tests.server.rawresp import Raw, start_module_server, transcript

PASSWORD = "s3cret"


def _pair(
    tmp: pytest.TempPathFactory, name: str, *extra: str
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    ours = start_module_server(tmp.mktemp(name), *extra)
    try:
        stock = start_module_server(tmp.mktemp(name + "-stock"), *extra, stock=True)
    except BaseException:
        ours.stop()
        raise
    yield ours, stock
    ours.stop()
    stock.stop()


@pytest.fixture(scope="module")
def open_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    yield from _pair(tmp_path_factory, "conn")


@pytest.fixture(scope="module")
def auth_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    yield from _pair(tmp_path_factory, "conn-auth", "--requirepass", PASSWORD)


OPEN_SCRIPTS: dict[str, list[list[str]]] = {
    "ping-echo-select": [
        ["PING"],
        ["PING", "hello"],
        ["PING", "a", "b"],
        ["ECHO"],
        ["ECHO", "a"],
        ["ECHO", ""],
        ["SELECT", "4294967296"],
        ["SELECT", "-2147483649"],
        ["SELECT", "16"],
        ["SELECT", "-1"],
        ["SELECT", "x"],
        ["SELECT", "01"],
        ["SELECT", "15"],
        ["SET", "c:k", "in15"],
        ["SELECT", "0"],
        ["GET", "c:k"],
        ["SELECT", "15"],
        ["GET", "c:k"],
        ["DEL", "c:k"],
    ],
    "hello": [
        ["HELLO"],
        ["HELLO", "4"],
        ["HELLO", "1"],
        ["HELLO", "x"],
        ["HELLO", "03"],
        ["HELLO", "3", "SETNAME", "a", "b"],
        ["HELLO", "3", "FOO"],
        ["HELLO", "3", "AUTH", "default"],
        ["HELLO", "2", "SETNAME", "a b"],
        ["HELLO", "2", "AUTH", "bob", "x"],
        ["HELLO", "3", "AUTH", "default", "anything", "SETNAME", "named"],
        ["CLIENT", "GETNAME"],
        ["HELLO"],
        ["PING"],
        ["HELLO", "2"],
        ["PING"],
    ],
    "auth-without-password": [
        ["AUTH", "x"],
        ["AUTH", "a", "b", "c"],
        ["AUTH", "default", "x"],
        ["AUTH", "bob", "x"],
        ["AUTH"],
    ],
    "reset": [
        ["SELECT", "5"],
        ["CLIENT", "SETNAME", "before"],
        ["HELLO", "3"],
        ["MULTI"],
        ["SET", "c:r", "1"],
        ["RESET"],
        ["CLIENT", "GETNAME"],
        ["SET", "c:r2", "x"],
        ["SELECT", "5"],
        ["GET", "c:r2"],
        ["SELECT", "0"],
        ["GET", "c:r2"],
        ["DEL", "c:r2"],
        ["EXEC"],
        ["CLIENT", "REPLY", "OFF"],
        ["RESET"],
        ["PING"],
        ["RESET", "x"],
    ],
    "quit": [
        ["QUIT", "with", "arguments"],
        ["PING"],
    ],
}

AUTH_SCRIPTS: dict[str, list[list[str]]] = {
    "noauth-everywhere": [
        ["PING"],
        ["GET", "x"],
        ["MULTI"],
        ["EXEC"],
        ["NOSUCHCOMMAND"],
        ["CLIENT", "ID"],
        ["HELLO", "3"],
        ["HELLO", "2", "SETNAME", "x"],
        ["AUTH", "wrong"],
        ["AUTH", "default", "wrong"],
        ["AUTH", "bob", PASSWORD],
        ["PING"],
        ["AUTH", PASSWORD],
        ["PING"],
        ["AUTH", "wrong"],
        ["PING"],  # a failed AUTH does not log an authenticated connection out
        ["RESET"],
        ["PING"],
        ["HELLO", "3", "AUTH", "default", "wrong"],
        ["HELLO", "3", "AUTH", "default", PASSWORD, "SETNAME", "me"],
        ["CLIENT", "GETNAME"],
        ["RESET"],
        ["AUTH", "default", PASSWORD],
        ["PING"],
    ],
    "quit-and-reset-need-no-auth": [
        ["RESET"],
        ["QUIT"],
    ],
}


@pytest.mark.parametrize("name", list(OPEN_SCRIPTS))
def test_open_server_matches_stock(open_pair: tuple[ServerProcess, ServerProcess], name: str) -> None:
    ours, stock = open_pair
    script = OPEN_SCRIPTS[name]
    assert transcript(ours.port, script) == transcript(stock.port, script)


@pytest.mark.parametrize("name", list(AUTH_SCRIPTS))
def test_password_server_matches_stock(auth_pair: tuple[ServerProcess, ServerProcess], name: str) -> None:
    ours, stock = auth_pair
    script = AUTH_SCRIPTS[name]
    assert transcript(ours.port, script) == transcript(stock.port, script)


@pytest.mark.parametrize("which", [0, 1], ids=["ours", "stock"])
def test_hello_reply_shape(open_pair: tuple[ServerProcess, ServerProcess], which: int) -> None:
    sp = open_pair[which]
    with Raw(sp.port) as c:
        cid = int(c.call("CLIENT", "ID")[1:-2])
        r3 = c.call("HELLO", "3")
        assert r3.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n")
        assert b"$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:%d\r\n" % cid in r3
        assert r3.endswith(
            b"$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
        )
        r2 = c.call("HELLO", "2")
        assert r2.startswith(b"*14\r\n$6\r\nserver\r\n")
        assert b"$5\r\nproto\r\n:2\r\n" in r2


def test_unauthenticated_big_requests_are_protocol_errors(
    auth_pair: tuple[ServerProcess, ServerProcess],
) -> None:
    """Before AUTH, Redis caps multibulk counts (10) and bulk lengths (16 KiB) and closes."""
    for sp in auth_pair:
        with Raw(sp.port) as c:
            c.send_raw(b"*11\r\n")
            assert c.wait_closed() == b"-ERR Protocol error: unauthenticated multibulk length\r\n"
        with Raw(sp.port) as c:
            c.send_raw(b"*2\r\n$4\r\nECHO\r\n$16385\r\n")
            assert c.wait_closed() == b"-ERR Protocol error: unauthenticated bulk length\r\n"


@pytest.mark.parametrize("proto", [2, 3])
def test_redis_py_handshake_with_password_and_db(
    auth_pair: tuple[ServerProcess, ServerProcess], proto: int
) -> None:
    ours = auth_pair[0]
    r = redis.Redis(
        host="127.0.0.1",
        port=ours.port,
        password=PASSWORD,
        db=4,
        protocol=proto,
        client_name="py-app",
        socket_timeout=10,
    )
    try:
        assert r.ping() is True
        info = r.client_info()
        assert (info["db"], info["name"], info["resp"]) == (4, "py-app", str(proto))
        no_retry = Retry(NoBackoff(), 0)  # an auth failure is a ConnectionError: do not retry it
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(
                host="127.0.0.1", port=ours.port, password="wrong", socket_timeout=10, retry=no_retry
            ).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=ours.port, socket_timeout=10, retry=no_retry).ping()
    finally:
        r.close()
