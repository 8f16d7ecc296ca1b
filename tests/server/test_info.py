"""INFO: the exact wire format and Redis 7.0.15's sections, field names and order (stock
Sentinel and redis-py parse it), and that the figures follow what the server does."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.server.rawresp import Raw, wait_until

_DYNAMIC = re.compile(r"^(cmdstat_|latency_percentiles_usec_|errorstat_|db\d+:)")


def info_text(port: int, *sections: str) -> str:
    with Raw(port) as c:
        reply = c.call("INFO", *sections)
    assert reply.startswith(b"$")
    body = reply.split(b"\r\n", 1)[1][:-2]
    return body.decode()


def field_names(text: str) -> list[str]:
    return [ln.split(":", 1)[0] for ln in text.split("\r\n") if ln and not _DYNAMIC.match(ln)]


@pytest.fixture
def pair(server: Any, stock: Any) -> Iterator[tuple[Any, Any]]:
    yield server, stock


def test_field_names_and_order_match_stock(pair: tuple[Any, Any]) -> None:
    ours, stock = pair
    for args in ((), ("everything",), ("all",), ("default",), ("server", "clients"), ("memory",), ("stats",)):
        assert field_names(info_text(ours.port, *args)) == field_names(info_text(stock.port, *args)), args


def test_section_selection_matches_stock(pair: tuple[Any, Any]) -> None:
    ours, stock = pair
    for args in (
        (),
        ("all",),
        ("everything",),
        ("default",),
        ("default", "commandstats"),
        ("errorstats", "commandstats"),
        ("KEYSPACE",),
        ("nosuchsection",),
        ("server", "server"),
        ("modules", "keyspace", "cluster"),
        ("latencystats",),
    ):
        want = [ln for ln in info_text(stock.port, *args).split("\r\n") if ln.startswith("#")]
        got = [ln for ln in info_text(ours.port, *args).split("\r\n") if ln.startswith("#")]
        assert got == want, args


def test_wire_format(pair: tuple[Any, Any]) -> None:
    replies = []
    for srv in pair:
        with Raw(srv.port) as c:
            c.call("SET", "k", "v")
            replies.append(
                (
                    c.call("INFO", "modules", "keyspace", "cluster"),
                    c.call("INFO", "nosuchsection"),
                    c.call("HELLO", "3") and c.call("INFO", "cluster"),
                )
            )
    assert replies[0] == replies[1]
    body = b"# Modules\r\n\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"
    assert replies[0][0] == b"$%d\r\n%b\r\n" % (len(body), body)
    assert replies[0][1] == b"$0\r\n\r\n"
    assert replies[0][2] == b"=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n"


def test_server_section_values(server: Any) -> None:
    info = server.client().info("server")
    assert info["redis_version"] == "7.0.15"
    assert re.fullmatch(r"[0-9a-f]{40}", info["run_id"])
    assert info["tcp_port"] == server.port
    assert info["process_id"] == server.proc.pid
    assert info["redis_mode"] == "standalone"
    assert info["arch_bits"] == 64
    assert info["uptime_in_seconds"] >= 0 and info["uptime_in_days"] == 0
    assert info["hz"] == 10 and info["configured_hz"] == 10
    assert abs(info["server_time_usec"] / 1e6 - time.time()) < 5
    # run_id is per process and stays put.
    assert server.client().info("server")["run_id"] == info["run_id"]


def test_clients_section(server: Any) -> None:
    r = server.client()
    others = [Raw(server.port) for _ in range(3)]
    for o in others:
        assert o.call("PING") == b"+PONG\r\n"
    info = r.info("clients")
    assert info["connected_clients"] == 4
    assert info["blocked_clients"] == 0 and info["clients_in_timeout_table"] == 0
    others[0].send("BLPOP", "nolist", "0")
    assert wait_until(lambda: r.info("clients")["blocked_clients"] == 1)
    others[1].send("BLPOP", "nolist", "100")
    assert wait_until(lambda: r.info("clients")["blocked_clients"] == 2)
    assert r.info("clients")["clients_in_timeout_table"] == 1
    r.rpush("nolist", "a", "b")
    assert others[0].read() == b"*2\r\n$6\r\nnolist\r\n$1\r\na\r\n"
    assert wait_until(lambda: r.info("clients")["blocked_clients"] == 0)
    for o in others:
        o.close()
    assert wait_until(lambda: r.info("clients")["connected_clients"] == 1)
    assert r.info("clients")["maxclients"] == 10000


def test_stats_follow_commands(pair: tuple[Any, Any]) -> None:
    """The same session on both servers moves the same counters by the same amounts."""
    got = []
    for srv in pair:
        r = srv.client()
        r.ping()
        before = r.info("stats")
        r.set("a", "1")
        r.get("a")
        r.get("a")
        r.get("missing")
        r.mget("a", "missing", "missing2")
        r.set("short", "x", px=50)
        time.sleep(0.15)
        r.get("short")  # expired on access
        with pytest.raises(redis.ResponseError):
            r.execute_command("NOSUCH")
        after = r.info("stats")
        got.append(
            {
                k: after[k] - before[k]
                for k in (
                    "keyspace_hits",
                    "keyspace_misses",
                    "expired_keys",
                    "total_commands_processed",
                    "total_error_replies",
                    "total_connections_received",
                    "rejected_connections",
                    "evicted_keys",
                )
            }
        )
    assert got[0] == got[1]
    assert got[0]["keyspace_hits"] == 3 and got[0]["expired_keys"] == 1


def test_ops_per_sec_and_net_bytes(server: Any) -> None:
    r = server.client()
    pipe = r.pipeline(transaction=False)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5:
        for _ in range(200):
            pipe.ping()
        pipe.execute()
    info = r.info("stats")
    assert info["instantaneous_ops_per_sec"] > 100
    assert info["instantaneous_input_kbps"] > 0
    assert info["total_net_input_bytes"] > 14 * 200
    assert info["total_net_output_bytes"] > 7 * 200


def test_errorstats(server: Any) -> None:
    with Raw(server.port) as c:
        assert c.call("INFO", "errorstats") == b"$14\r\n# Errorstats\r\n\r\n"
        assert c.call("INFO", "stats").count(b"total_error_replies:0\r\n") == 1
        c.call("NOSUCH")
        c.call("SET", "l", "x")
        c.call("LPUSH", "l", "y")  # WRONGTYPE
        c.call("GET")  # arity
        text = info_text(server.port, "errorstats")
        assert text == "# Errorstats\r\nerrorstat_ERR:count=2\r\nerrorstat_WRONGTYPE:count=1\r\n"
        assert c.call("INFO", "stats").count(b"total_error_replies:3\r\n") == 1


def test_commandstats(server: Any) -> None:
    with Raw(server.port) as c:
        c.call("SET", "k", "v")
        c.call("SET", "k", "v", "NX")
        c.call("LPUSH", "k", "x")  # fails inside the command: failed_calls
        c.call("GET")  # rejected before running: rejected_calls
        c.call("CONFIG", "GET", "hz")
        text = info_text(server.port, "commandstats")
    lines = dict(ln.split(":", 1) for ln in text.split("\r\n")[1:] if ln)
    assert re.fullmatch(
        r"calls=2,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,failed_calls=0", lines["cmdstat_set"]
    )
    assert re.fullmatch(
        r"calls=1,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,failed_calls=1", lines["cmdstat_lpush"]
    )
    assert re.fullmatch(
        r"calls=0,usec=0,usec_per_call=0\.00,rejected_calls=1,failed_calls=0", lines["cmdstat_get"]
    )
    assert lines["cmdstat_config|get"].startswith("calls=1,")
    assert "cmdstat_config" not in lines


def test_latencystats_and_usec_are_measured(server: Any) -> None:
    r = server.client()
    r.config_set("slowlog-log-slower-than", 0)  # every command timed exactly
    for _ in range(50):
        r.execute_command("DEBUG", "SLEEP", "0.002")
    info = r.info("all")
    debug = info["cmdstat_debug"]
    assert debug["calls"] == 50
    assert debug["usec"] >= 50 * 2000
    assert debug["usec_per_call"] >= 2000
    p = info["latency_percentiles_usec_debug"]
    assert p["p50"] >= 2000 and p["p99"] >= p["p50"] and p["p99.9"] >= p["p99"]
    r.config_set("latency-tracking", "no")
    assert "latency_percentiles_usec_debug" not in r.info("latencystats")


def test_keyspace_section(server: Any) -> None:
    r = server.client()
    r.set("a", 1)
    r.set("b", 2, ex=1000)
    r.execute_command("SELECT", 3)
    r3 = redis.Redis(port=server.port, db=3)
    r3.set("c", 3)
    text = info_text(server.port, "keyspace")
    lines = text.split("\r\n")
    assert lines[0] == "# Keyspace"
    m = re.fullmatch(r"db0:keys=2,expires=1,avg_ttl=(\d+)", lines[1])
    assert m and 990_000 < int(m.group(1)) <= 1_000_000
    assert lines[2] == "db3:keys=1,expires=0,avg_ttl=0"


def test_persistence_and_replication_sections(server: Any) -> None:
    r = server.client()
    info = r.info("persistence")
    assert info["loading"] == 0 and info["aof_enabled"] == 0
    before = info["rdb_changes_since_last_save"]
    r.set("x", 1)
    r.set("y", 2)
    assert r.info("persistence")["rdb_changes_since_last_save"] == before + 2
    assert abs(info["rdb_last_save_time"] - time.time()) < 60
    repl = r.info("replication")
    assert repl["role"] == "master"
    assert repl["connected_slaves"] == 0
    assert repl["master_failover_state"] == "no-failover"
    assert re.fullmatch(r"[0-9a-f]{40}", repl["master_replid"])
    assert "\r\nmaster_replid2:0000000000000000000000000000000000000000\r\n" in info_text(
        server.port, "replication"
    )
    assert repl["second_repl_offset"] == -1
    assert repl["repl_backlog_size"] == 1048576


def test_info_without_hooks_prints_redis_defaults() -> None:
    """An engine without persistence/replication layers prints a plain master's sections."""
    from server.client import Client, NullTransport
    from server.engine import Engine

    e = Engine()
    e.hooks.pop("info_persistence", None)
    e.hooks.pop("info_replication", None)
    c = Client(e, NullTransport())
    e.execute(c, [b"SET", b"k", b"v"])
    out = e.execute(c, [b"INFO", b"persistence", b"replication"])
    assert isinstance(out, bytes)
    text = out.split(b"\r\n", 1)[1].decode()
    fields = dict(ln.split(":", 1) for ln in text.split("\r\n") if ":" in ln)
    assert fields["rdb_changes_since_last_save"] == "1"
    assert fields["rdb_bgsave_in_progress"] == "0"
    assert fields["aof_enabled"] == "0"
    assert fields["role"] == "master"
    assert fields["master_replid"] == e.replid
    assert fields["master_repl_offset"] == "0"
    assert fields["repl_backlog_active"] == "0"
    assert list(fields)[:3] == ["loading", "async_loading", "current_cow_peak"]


def test_hooks_extend_sections() -> None:
    from server.client import Client, NullTransport
    from server.engine import Engine

    e = Engine()
    e.hooks["info_replication"] = lambda: [("role", "slave"), ("master_host", "10.0.0.1")]
    e.hooks["info_stats"] = lambda: [("sync_full", 7), ("custom_field", "x")]
    c = Client(e, NullTransport())
    out = e.execute(c, [b"INFO", b"replication", b"stats"])
    assert isinstance(out, bytes)
    text = out.decode()
    assert "# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\n" in text
    assert "\r\nsync_full:7\r\n" in text
    assert "reply_buffer_expands:0\r\ncustom_field:x\r\n\r\n# Replication" in text


def test_memory_section_is_believable(server: Any, stock: Any) -> None:
    ours = server.client().info("memory")
    theirs = stock.client().info("memory")
    assert set(ours) == set(theirs)
    assert 500_000 < ours["used_memory"] < 5_000_000  # an empty server, like Redis's ~1 MB
    assert ours["used_memory_rss"] > ours["used_memory"]
    assert ours["used_memory_peak"] >= ours["used_memory"]
    assert ours["maxmemory"] == 0 and ours["maxmemory_policy"] == "noeviction"
    assert ours["mem_allocator"] == "libc"
    assert ours["total_system_memory"] == theirs["total_system_memory"]
    human = ours["used_memory_human"]
    assert re.fullmatch(r"\d+\.\d\d[KMG]", human)
    assert ours["mem_fragmentation_ratio"] == pytest.approx(
        ours["used_memory_rss"] / ours["used_memory"], rel=0.05
    )


def test_redis_py_parses_everything(server: Any) -> None:
    r = server.client()
    r.set("k", "v")
    info = r.info("everything")
    assert info["cluster_enabled"] == 0
    assert info["db0"] == {"keys": 1, "expires": 0, "avg_ttl": 0}
    assert isinstance(info["cmdstat_set"], dict)
    assert isinstance(info["used_cpu_sys"], float)
