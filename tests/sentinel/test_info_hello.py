"""INFO parsing (stock rules of sentinelRefreshInstanceInfo) and the hello payload."""

from __future__ import annotations

import pytest

from sentinel.core.hello import Hello, format_hello, parse_hello
from sentinel.core.info import Role, parse_info, parse_repl_ids

RUNID = "0123456789abcdef0123456789abcdef01234567"


def crlf(*lines: str) -> str:
    return "\r\n".join(lines) + "\r\n"


def test_master_info() -> None:
    r = parse_info(
        crlf(
            "# Server",
            f"run_id:{RUNID}",
            "# Replication",
            "role:master",
            "connected_slaves:2",
            "slave0:ip=10.0.0.2,port=6379,state=online,offset=100,lag=0",
            "slave1:ip=::1,port=6380,state=wait_bgsave,offset=0,lag=1",
            "master_repl_offset:100",
        )
    )
    assert r.run_id == RUNID and r.role is Role.MASTER
    assert r.replicas == [("10.0.0.2", 6379), ("::1", 6380)]
    assert r.master_host is None and r.slave_priority is None and r.master_link_down_ms == 0


def test_old_slave_line_format() -> None:
    assert parse_info(crlf("role:master", "slave0:10.0.0.2,6379,online")).replicas == [("10.0.0.2", 6379)]


def test_slave_lines_ignored_unless_master_and_digit() -> None:
    text = crlf(
        "role:master", "slave0:ip=1.2.3.4,port=1,state=online", "slave_read_repl_offset:5", "slaves:x"
    )
    assert parse_info(text).replicas == [("1.2.3.4", 1)]
    assert parse_info(text, as_master=False).replicas == []


def test_replica_info() -> None:
    r = parse_info(
        crlf(
            f"run_id:{RUNID}",
            "role:slave",
            "master_host:10.0.0.1",
            "master_port:6379",
            "master_link_status:down",
            "master_last_io_seconds_ago:-1",
            "slave_read_repl_offset:90",
            "slave_repl_offset:88",
            "master_link_down_since_seconds:-1",
            "slave_priority:10",
            "slave_read_only:1",
            "replica_announced:0",
        )
    )
    assert r.role is Role.SLAVE
    assert (r.master_host, r.master_port, r.master_link_up) == ("10.0.0.1", 6379, False)
    assert (r.slave_repl_offset, r.slave_priority, r.replica_announced) == (88, 10, False)
    assert r.master_link_down_ms == -1000


def test_replica_fields_before_role_line_are_ignored() -> None:
    r = parse_info(crlf("master_host:10.9.9.9", "slave_priority:5", "role:slave", "master_port:6379"))
    assert r.master_host is None and r.slave_priority is None and r.master_port == 6379


def test_link_status_case_and_down_since() -> None:
    r = parse_info(crlf("role:slave", "master_link_status:UP", "master_link_down_since_seconds:12"))
    assert r.master_link_up is True and r.master_link_down_ms == 12000


def test_run_id_needs_47_chars_and_role_may_be_missing() -> None:
    r = parse_info(crlf("run_id:short"))
    assert r.run_id is None and r.role is Role.UNKNOWN
    assert parse_info(crlf(f"run_id:{RUNID}extra")).run_id == RUNID


def test_replication_ids_and_master_offset_any_role() -> None:
    """Ours (ranking an interrupted promotion): parsed whatever the role line says."""
    text = (
        "role:master\r\nmaster_replid:"
        + "b" * 40
        + "\r\nmaster_replid2:"
        + "a" * 40
        + "\r\nmaster_repl_offset:950\r\nsecond_repl_offset:901\r\n"
    )
    r = parse_repl_ids(text)
    assert (r.master_replid, r.master_replid2) == ("b" * 40, "a" * 40)
    assert (r.master_repl_offset, r.second_repl_offset) == (950, 901)
    blank = parse_repl_ids("role:slave\r\nmaster_host:x\r\n")
    assert blank.master_replid is None and blank.master_repl_offset is None


def test_hello_roundtrip() -> None:
    payload = format_hello("10.0.1.1", 26379, "a" * 40, 7, "mymaster", "10.0.0.1", 6379, 5)
    assert payload == f"10.0.1.1,26379,{'a' * 40},7,mymaster,10.0.0.1,6379,5"
    h = parse_hello(payload)
    assert h == Hello("10.0.1.1", 26379, "a" * 40, 7, "mymaster", "10.0.0.1", 6379, 5)
    assert h.format() == payload


@pytest.mark.parametrize(
    "payload",
    ["1,2,3,4,5,6,7", "1,2,3,4,5,6,7,8,9", "", "10.0.1.1 26379"],
)
def test_hello_needs_exactly_8_tokens(payload: str) -> None:
    assert parse_hello(payload) is None


def test_hello_numbers_parse_like_atoi() -> None:
    h = parse_hello("10.0.1.1,26379x,r,12abc,m,10.0.0.1,6379,3")
    assert h is not None and (h.port, h.current_epoch, h.master_config_epoch) == (26379, 12, 3)
