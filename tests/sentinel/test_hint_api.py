"""SENTINEL IS-MASTER-DOWN-HINT over the wire: a real `python -m sentinel` and our server,
redis-py and raw sockets (errors byte for byte), the command table, and the effect: a live
master is not marked down; a killed one is SDOWN at once instead of after down-after."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import ServerProcess
from tests.sentinel.test_api import raw
from tests.sentinel.test_sentinel_e2e_basic import (
    FAST,
    SentinelProcess,
    sentinels,  # noqa: F401  (fixture)
    smaster,
    wait_until,
)

DOWN_AFTER = 10_000


@pytest.fixture
def monitored(
    start_server: Callable[..., ServerProcess],
    sentinels: Callable[..., SentinelProcess],  # noqa: F811
) -> Iterator[tuple[ServerProcess, SentinelProcess]]:
    m = start_server(*FAST)
    s = sentinels(m.port, quorum=1, down_after=DOWN_AFTER)
    c = s.client()
    wait_until(lambda: "disconnected" not in smaster(c)["flags"], what="links up")
    c.close()
    yield m, s


def events(p: Any, want: int, timeout: float = 10.0) -> list[tuple[str, str]]:
    got: list[tuple[str, str]] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        msg = p.get_message(timeout=0.5)
        if msg and msg["type"] == "pmessage":
            got.append((msg["channel"], msg["data"]))
    return got


def test_arity_errors_and_command_table(monitored: tuple[ServerProcess, SentinelProcess]) -> None:
    m, s = monitored
    data = raw(
        s.port,
        ["SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "127.0.0.1"],
        ["SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "127.0.0.1", str(m.port), "extra"],
        ["SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "127.0.0.1", str(m.port), "exited-ms-ago"],
        ["SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "127.0.0.1", str(m.port), "since", "5"],
        ["SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "127.0.0.1", str(m.port), "EXITED-MS-AGO", "x"],
        ["SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "127.0.0.1", str(m.port), "EXITED-MS-AGO", "-1"],
        ["SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "127.0.0.1", "x"],
        ["SENTINEL", "IS-MASTER-DOWN-HINT", "nosuch", "127.0.0.1", str(m.port)],
        ["SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "127.0.0.2", str(m.port)],
    )
    assert data == (
        b"-ERR wrong number of arguments for 'sentinel|is-master-down-hint' command\r\n"
        b"-ERR syntax error\r\n"
        b"-ERR syntax error\r\n"
        b"-ERR syntax error\r\n"
        b"-ERR value is not an integer or out of range\r\n"
        b"-ERR value is not an integer or out of range\r\n"
        b"-ERR value is not an integer or out of range\r\n"
        b"-ERR No such master with that name\r\n"
        b"-ERR master address mismatch: mymaster is at 127.0.0.1:%d, not 127.0.0.2:%d\r\n" % (m.port, m.port)
    )
    info = raw(s.port, ["COMMAND", "INFO", "sentinel|is-master-down-hint"])
    assert info.startswith(b"*1\r\n*10\r\n$28\r\nsentinel|is-master-down-hint\r\n:-5\r\n*1\r\n+admin\r\n")
    assert b"+@admin\r\n+@slow\r\n+@dangerous\r\n" in info
    helptext = s.client().execute_command("SENTINEL", "HELP")
    assert "IS-MASTER-DOWN-HINT <master-name> <ip> <port> [EXITED-MS-AGO <ms>]" in helptext
    # nothing changed
    assert "s_down" not in smaster(s.client())["flags"]


def test_a_live_master_is_checked_and_not_marked_down(
    monitored: tuple[ServerProcess, SentinelProcess],
) -> None:
    m, s = monitored
    c = s.client(protocol=3)
    p = c.pubsub()
    p.psubscribe("*master-down-hint*")
    assert p.get_message(timeout=5) is not None  # the psubscribe confirmation
    assert c.execute_command("SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "127.0.0.1", str(m.port)) == "OK"
    got = events(p, 2)
    assert got == [
        ("+master-down-hint", f"master mymaster 127.0.0.1 {m.port} #checking 1000 ms"),
        ("-master-down-hint", f"master mymaster 127.0.0.1 {m.port} #master answered PING: hint ignored"),
    ]
    time.sleep(1.5)  # past the check's bound
    assert "s_down" not in smaster(c)["flags"]
    p.close()
    c.close()


def test_a_killed_master_is_sdown_at_once(monitored: tuple[ServerProcess, SentinelProcess]) -> None:
    m, s = monitored
    c = s.client()
    m.kill9()
    t0 = time.monotonic()
    assert (
        c.execute_command(
            "SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "127.0.0.1", str(m.port), "exited-ms-ago", "20"
        )
        == "OK"
    )
    wait_until(lambda: "s_down" in smaster(c)["flags"], timeout=8, what="SDOWN from the hint")
    elapsed = time.monotonic() - t0
    # the check's bound is 1 s (a refused connection decides sooner); down-after is 10 s
    assert elapsed < DOWN_AFTER / 1000 / 2, elapsed
    assert s.events("+master-down-hint") and s.events("+sdown")
    assert any("confirmed" in line and "master-down hint" in line for line in s.log().splitlines())
    # idempotent once down
    assert c.execute_command("SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "127.0.0.1", str(m.port)) == "OK"
    assert len(s.events("+master-down-hint")) == 1
    c.close()
