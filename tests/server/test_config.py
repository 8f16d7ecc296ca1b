"""CONFIG GET/SET/REWRITE/RESETSTAT and redis.conf parsing, checked against stock Redis 7.0:
the directive table (names, defaults, formats), Redis's exact error texts, all-or-nothing
CONFIG SET, and the settings that must take effect at run time."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from server.config import Config, ConfigError, format_memory, parse_memory
from tests.conftest import REPO, free_port
from tests.server.rawresp import Raw, wait_until

# Values that legitimately differ between two servers started side by side.
_VOLATILE = {"dir", "port", "enable-debug-command", "unixsocket"}


@pytest.fixture
def both(server: Any, stock: Any) -> Iterator[tuple[Raw, Raw]]:
    ours, theirs = Raw(server.port), Raw(stock.port)
    yield ours, theirs
    ours.close()
    theirs.close()


def same(both: tuple[Raw, Raw], *cmds: list[str]) -> None:
    """Every command gets byte-identical replies from ours and stock."""
    ours, theirs = both
    for cmd in cmds:
        want = theirs.call(*cmd)
        got = ours.call(*cmd)
        assert got == want, f"{cmd}: stock {want!r}, ours {got!r}"


def config_map(r: redis.Redis, pattern: str = "*") -> dict[str, str]:
    raw = r.execute_command("CONFIG", "GET", pattern)
    if isinstance(raw, dict):
        return {k.decode(): v.decode() for k, v in raw.items()}
    return {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}


# --- CONFIG GET ------------------------------------------------------------------------------------


def test_config_get_star_matches_stock(server: Any, stock: Any) -> None:
    ours = config_map(server.client())
    theirs = {k: v for k, v in config_map(stock.client()).items() if not k.startswith("tls-")}
    assert set(ours) == set(theirs)
    diff = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k] and k not in _VOLATILE}
    assert diff == {}
    assert ours["port"] == str(server.port)
    assert Path(ours["dir"]).resolve() == Path(server.cwd).resolve()


def test_config_get_what_tools_read(r: redis.Redis) -> None:
    """redis-benchmark reads save/appendonly, redis-sentinel and redis-cli more."""
    got = config_map(r, "save")
    assert got == {"save": ""}
    assert config_map(r, "appendonly") == {"appendonly": "no"}
    assert config_map(r, "maxmemory") == {"maxmemory": "0"}
    assert config_map(r, "tcp-keepalive") == {"tcp-keepalive": "300"}
    assert config_map(r, "slave-read-only") == {"slave-read-only": "yes"}
    assert config_map(r, "replica-priority") == {"replica-priority": "100"}
    assert config_map(r, "databases") == {"databases": "16"}


def test_config_get_patterns_and_case(both: tuple[Raw, Raw]) -> None:
    same(
        both,
        ["CONFIG", "GET", "MAXMEMORY"],
        ["CONFIG", "GET", "MaxMemory-Policy"],
        ["CONFIG", "GET", "nosuchthing"],
        ["CONFIG", "GET", "hz", "hz"],
        ["CONFIG", "GET", "maxmemory-sa?ples"],
        ["CONFIG", "GET", "lazyfree-lazy-user-[d]el"],
        ["CONFIG", "GET", "client-output-buffer-limit"],
        ["CONFIG", "GET"],
    )
    # Several matches come in Redis's hash-table order, which varies: compare them as maps.
    ours, theirs = both
    for cmd in (
        ["CONFIG", "GET", "hz", "timeout"],
        ["CONFIG", "GET", "*max-*"],
        ["CONFIG", "GET", "repl*", "hz"],
    ):
        got, want = ours.call(*cmd), theirs.call(*cmd)
        assert pairs(got) == pairs(want), cmd


def pairs(reply: bytes) -> set[tuple[bytes, bytes]]:
    """The (name, value) pairs of a RESP2 CONFIG GET reply."""
    parts = reply.split(b"\r\n")
    items = [parts[i] for i in range(2, len(parts) - 1, 2)]
    return set(zip(items[0::2], items[1::2], strict=True))


def test_config_get_glob_uses_redis_rules(r: redis.Redis) -> None:
    names = set(config_map(r, "slave*"))
    assert names == {
        "slave-lazy-flush",
        "slave-read-only",
        "slave-priority",
        "slave-serve-stale-data",
        "slave-ignore-maxmemory",
        "slaveof",
        "slave-announce-port",
        "slave-announce-ip",
    }
    assert set(config_map(r, "MAXMEM*")) == {
        "maxmemory",
        "maxmemory-policy",
        "maxmemory-samples",
        "maxmemory-clients",
        "maxmemory-eviction-tenacity",
    }
    # Hidden configs answer exact names only.
    assert "key-load-delay" not in config_map(r, "*")
    assert config_map(r, "key-load-delay") == {"key-load-delay": "0"}


# --- CONFIG SET errors ----------------------------------------------------------------------------


def test_config_set_errors_match_stock(both: tuple[Raw, Raw]) -> None:
    same(
        both,
        ["CONFIG", "SET", "maxmemory", "10", "port"],
        ["CONFIG", "SET", "foo", "1"],
        ["CONFIG", "SET", "maxmemory", "abc"],
        ["CONFIG", "SET", "maxmemory", "-1"],
        ["CONFIG", "SET", "maxmemory", "1.5mb"],
        ["CONFIG", "SET", "daemonize", "yes"],
        ["CONFIG", "SET", "maxmemory", "1", "maxmemory", "2"],
        ["CONFIG", "SET", "maxmemory", "1", "MAXMEMORY", "2"],
        ["CONFIG", "SET", "maxmemory-policy", "foo"],
        ["CONFIG", "SET", "hz", "abc"],
        ["CONFIG", "SET", "appendonly", "maybe"],
        ["CONFIG", "SET", "save", "1 2 3"],
        ["CONFIG", "SET", "save", "abc 3"],
        ["CONFIG", "SET", "timeout", "-1"],
        ["CONFIG", "SET", "maxclients", "0"],
        ["CONFIG", "SET", "loglevel", "nothing"],
        ["CONFIG", "SET", "dir", "/tmp"],
        ["CONFIG", "SET", "dbfilename", "x.rdb"],
        ["CONFIG", "SET", "client-output-buffer-limit", "foo 1 2 3"],
        ["CONFIG", "SET", "client-output-buffer-limit", "normal 1 2"],
        ["CONFIG", "SET", "client-output-buffer-limit", "normal x 2 3"],
        ["CONFIG", "SET", "maxmemory-samples", "1k"],
        ["CONFIG", "SET", "maxmemory-samples", "2147483648"],
        ["CONFIG", "SET", "notify-keyspace-events", "Q"],
        ["CONFIG", "SET", "slave-priority", "abc"],
        ["CONFIG", "SET", "SLAVE-PRIORITY", "abc"],
        ["CONFIG", "SET", "maxmemory-clients", "200%"],
        ["CONFIG", "SET", "unixsocketperm", "777"],
        ["CONFIG", "SET", "activedefrag", "yes"],
        ["CONFIG", "SET", "latency-tracking-info-percentiles", "50 101"],
        ["CONFIG", "SET", "oom-score-adj-values", "0 200"],
        ["CONFIG", "SET", "proc-title-template", "{foo}"],
        ["CONFIG", "SET", "shutdown-on-sigint", "save nosave"],
        ["CONFIG", "SET", "shutdown-on-sigint", "foo"],
        ["CONFIG", "SET", "replicaof", "127.0.0.1 1"],
        ["CONFIG", "SET", "proto-max-bulk-len", "1000"],
        ["CONFIG", "SET", "x"],
    )


def test_config_set_values_read_back_like_stock(both: tuple[Raw, Raw]) -> None:
    pairs = [
        ("maxmemory", "1MB"),
        ("maxmemory", "10k"),
        ("maxmemory", "mb"),
        ("maxmemory", "0"),
        ("hz", "1000"),
        ("hz", "0"),
        ("hz", "10"),
        ("notify-keyspace-events", "KA"),
        ("notify-keyspace-events", "An"),
        ("notify-keyspace-events", "Ed"),
        ("notify-keyspace-events", ""),
        ("maxmemory-clients", "10%"),
        ("maxmemory-clients", "0"),
        ("save", "100 10 20 5"),
        ("save", ""),
        ("client-output-buffer-limit", "pubsub 1mb 512k 30"),
        ("shutdown-on-sigterm", "now save"),
        ("shutdown-on-sigterm", "default"),
        ("latency-tracking-info-percentiles", "50 99.5"),
        ("loglevel", "WARNING"),
        ("maxmemory-policy", "ALLKEYS-LRU"),
        ("slave-read-only", "no"),
        ("replica-read-only", "yes"),
    ]
    for name, value in pairs:
        same(both, ["CONFIG", "SET", name, value], ["CONFIG", "GET", name])
    same(both, ["CONFIG", "GET", "client-output-buffer-limit"], ["CONFIG", "GET", "loglevel"])


def test_config_set_is_all_or_nothing(r: redis.Redis) -> None:
    assert r.config_set("maxmemory-samples", 7) is True
    with pytest.raises(redis.ResponseError, match="possibly related to argument 'hz'"):
        r.execute_command("CONFIG", "SET", "maxmemory-samples", "9", "timeout", "30", "hz", "x")
    assert config_map(r, "maxmemory-samples") == {"maxmemory-samples": "7"}
    assert config_map(r, "timeout") == {"timeout": "0"}
    assert r.execute_command("CONFIG", "SET", "maxmemory-samples", "9", "timeout", "30") == b"OK"
    assert config_map(r, "maxmemory-samples") == {"maxmemory-samples": "9"}
    assert config_map(r, "timeout") == {"timeout": "30"}


def test_config_set_maxclients_beyond_the_fd_limit_is_refused(server: Any) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard open-files limit to exceed")
    ours = Raw(server.port)
    got = ours.call("CONFIG", "SET", "maxclients", str(hard + 1000))
    assert (
        got
        == f"-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with {hard - 32}\r\n".encode()
    )
    assert ours.call("CONFIG", "GET", "maxclients") == b"*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n"


# --- run-time effects ----------------------------------------------------------------------------


def test_requirepass_applies_to_new_connections(server: Any) -> None:
    admin = server.client()
    other = Raw(server.port)
    assert admin.config_set("requirepass", "s3cret") is True
    fresh = Raw(server.port)
    assert fresh.call("GET", "k") == b"-NOAUTH Authentication required.\r\n"
    assert other.call("GET", "k") == b"$-1\r\n"  # authenticated before the change: stays so
    assert fresh.call("AUTH", "s3cret") == b"+OK\r\n"
    assert fresh.call("GET", "k") == b"$-1\r\n"
    locked = Raw(server.port)
    assert locked.call("PING") == b"-NOAUTH Authentication required.\r\n"
    assert fresh.call("CONFIG", "SET", "requirepass", "") == b"+OK\r\n"
    # No password any more: the default user is "nopass", nobody needs AUTH.
    assert locked.call("PING") == b"+PONG\r\n"
    assert Raw(server.port).call("PING") == b"+PONG\r\n"
    for c in (other, fresh, locked):
        c.close()


def test_timeout_closes_idle_clients(server: Any) -> None:
    r = server.client()
    idle = Raw(server.port)
    assert idle.call("PING") == b"+PONG\r\n"
    assert r.config_set("timeout", 1) is True
    assert idle.wait_closed(timeout=5.0) == b""
    assert idle.eof
    assert r.ping() is True  # the admin connection was busy, not idle


def test_maxclients_applies_at_run_time(server: Any) -> None:
    r = server.client()
    r.ping()
    assert r.config_set("maxclients", 2) is True
    second = Raw(server.port)
    assert second.call("PING") == b"+PONG\r\n"
    third = Raw(server.port)
    assert third.read(timeout=5) == b"-ERR max number of clients reached\r\n"
    second.close()
    third.close()
    assert r.config_set("maxclients", 100) is True
    assert wait_until(lambda: Raw(server.port).call("PING") == b"+PONG\r\n")


def test_hz_and_save_and_appendonly_read_back(r: redis.Redis) -> None:
    assert r.config_set("hz", 1000) is True
    assert config_map(r, "hz") == {"hz": "500"}
    assert r.info("server")["hz"] == 500
    assert r.config_set("save", "900 1 300 10") is True
    assert config_map(r, "save") == {"save": "900 1 300 10"}
    assert r.config_set("appendonly", "yes") is True
    assert wait_until(lambda: r.info("persistence")["aof_enabled"] == 1)
    assert r.config_set("appendonly", "no") is True
    assert wait_until(lambda: r.info("persistence")["aof_enabled"] == 0)


def test_loglevel_takes_effect(start_server: Any) -> None:
    srv = start_server("--save", "", "--loglevel", "warning")
    r = srv.client()

    def protocol_error() -> None:
        c = Raw(srv.port)
        c.send_raw(b"*1\r\n$x\r\n")  # logged at notice level ("protocol error from client")
        c.wait_closed()

    protocol_error()
    r.execute_command("DEBUG", "LOG", "marker-one")  # warning level: always logged
    assert wait_until(lambda: "marker-one" in srv.log())
    assert "protocol error" not in srv.log()
    assert r.config_set("loglevel", "notice") is True
    protocol_error()
    assert wait_until(lambda: "protocol error" in srv.log())


def test_client_output_buffer_limit_applies(server: Any) -> None:
    r = server.client()
    assert r.config_set("client-output-buffer-limit", "pubsub 64kb 0 0") is True
    sub = Raw(server.port, rcvbuf=4096)
    assert sub.call("SUBSCRIBE", "ch").startswith(b"*3")
    big = b"x" * 65536
    for _ in range(64):
        r.publish("ch", big)
    assert wait_until(lambda: len(r.client_list()) == 1)  # the subscriber was disconnected
    sub.close()


def test_proto_max_bulk_len_applies_to_new_connections(server: Any, stock: Any) -> None:
    got = []
    for srv in (server, stock):
        assert srv.client().config_set("proto-max-bulk-len", "1mb") is True
        c = Raw(srv.port)
        c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n")
        got.append(c.read(timeout=5))
        c.close()
    assert got[0] == got[1] == b"-ERR Protocol error: invalid bulk length\r\n"


def test_slowlog_threshold_set_at_run_time(r: redis.Redis) -> None:
    r.slowlog_reset()
    assert r.config_set("slowlog-log-slower-than", 0) is True
    r.set("a", "b")
    entries = r.slowlog_get(10)
    assert any(e["command"] == b"SET a b" for e in entries)
    assert r.config_set("slowlog-log-slower-than", -1) is True
    r.slowlog_reset()
    r.set("a", "c")
    assert r.slowlog_len() == 0


# --- CONFIG REWRITE -------------------------------------------------------------------------------


def test_config_rewrite_without_file_matches_stock(both: tuple[Raw, Raw]) -> None:
    same(both, ["CONFIG", "REWRITE"])


def _start_with_conf(start_server: Any, tmp_path: Path, text: str, stock: bool = False) -> tuple[Any, Path]:
    port = free_port()
    conf = tmp_path / f"{'stock' if stock else 'ours'}-{port}.conf"
    d = tmp_path / f"data-{port}"
    d.mkdir()
    conf.write_text(text + f"port {port}\nbind 127.0.0.1\ndir {d}\n")
    argv = ["redis-server"] if stock else [sys.executable, "-m", "server"]
    proc = subprocess.Popen([*argv, str(conf)], cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    from tests.conftest import ServerProcess, wait_for_port

    sp = ServerProcess([], port, d, d / "log")
    sp.proc = proc
    wait_for_port(port, proc)
    return sp, conf


def test_config_rewrite_keeps_comments_and_replaces_lines(start_server: Any, tmp_path: Path) -> None:
    text = "# my comments stay\nmaxmemory 1mb\nsave 900 1\nsave 300 10\nslave-read-only yes\n\n\n\nhz 10\n"
    servers = []
    try:
        for stock in (False, True):
            sp, conf = _start_with_conf(start_server, tmp_path, text, stock=stock)
            servers.append(sp)
            r = sp.client()
            r.execute_command(
                "CONFIG", "SET", "maxmemory", "2mb", "hz", "20", "maxmemory-policy", "allkeys-lru"
            )
            r.execute_command("CONFIG", "SET", "save", "60 5", "replica-read-only", "no")
            assert r.execute_command("CONFIG", "REWRITE") == b"OK"
            lines = conf.read_text().splitlines()
            assert lines[0] == "# my comments stay"
            assert lines[1] == "maxmemory 2mb"
            assert lines[2] == "save 60 5"
            assert "save 300 10" not in lines
            assert "replica-read-only no" in lines or "slave-read-only no" in lines
            assert "hz 20" in lines
            assert "# Generated by CONFIG REWRITE" in lines
            assert "maxmemory-policy allkeys-lru" in lines
            assert not any(a == b == "" for a, b in itertools.pairwise(lines))
        # The rewritten file starts a server with the same settings.
        sp = servers[0]
        sp.stop()
        conf = next(tmp_path.glob("ours-*.conf"))
        r = redis.Redis(port=sp.port)
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", str(conf)], cwd=sp.cwd, stdout=subprocess.DEVNULL
        )
        sp.proc = proc
        from tests.conftest import wait_for_port

        wait_for_port(sp.port, proc)
        assert config_map(r, "maxmemory") == {"maxmemory": "2097152"}
        assert config_map(r, "save") == {"save": "60 5"}
        assert config_map(r, "maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        assert config_map(r, "replica-read-only") == {"replica-read-only": "no"}
    finally:
        for sp in servers:
            sp.stop()


def test_config_rewrite_comments_unknown_lines(tmp_path: Path) -> None:
    conf = tmp_path / "r.conf"
    conf.write_text("maxmemory 1mb\n")
    cfg = Config.from_argv([str(conf)])
    conf.write_text('maxmemory 1mb\nfoo-bar 3\nrename-command FLUSHALL ""\n')
    cfg.maxmemory = 3 * 1024 * 1024
    cfg.rewrite()
    lines = conf.read_text().splitlines()
    assert lines[:3] == ["maxmemory 3mb", "# ??? foo-bar 3", 'rename-command FLUSHALL ""']
    assert 'save ""' not in lines  # save is at its default: written as the default points
    assert "save 3600 1" in lines


# --- CONFIG RESETSTAT -------------------------------------------------------------------------------


def test_config_resetstat(r: redis.Redis) -> None:
    r.set("a", "b")
    r.get("a")
    r.get("nope")
    before = r.info("errorstats").get("errorstat_ERR", {"count": 0})["count"]  # CLIENT SETINFO may fail
    with pytest.raises(redis.ResponseError):
        r.execute_command("NOSUCHCOMMAND")
    info = r.info("all")
    assert info["keyspace_hits"] == 1 and info["keyspace_misses"] == 1
    assert info["errorstat_ERR"] == {"count": before + 1}
    assert info["cmdstat_set"]["calls"] == 1
    assert r.config_resetstat() is True
    info = r.info("all")
    assert info["keyspace_hits"] == 0 and info["keyspace_misses"] == 0
    assert info["total_commands_processed"] == 1  # CONFIG RESETSTAT itself
    assert info["total_error_replies"] == 0
    assert "errorstat_ERR" not in info
    assert "cmdstat_set" not in info
    assert r.get("a") == b"b"


# --- redis.conf parsing ---------------------------------------------------------------------------


def test_save_lines_accumulate_and_first_replaces_defaults(tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text("save 900 1\nsave 300 10\n")
    assert Config.from_argv([str(conf)]).save == [(900, 1), (300, 10)]
    assert Config.from_argv([str(conf), "--save", "60", "5"]).save == [(900, 1), (300, 10), (60, 5)]
    assert Config.from_argv(["--save", ""]).save == []
    assert Config.from_argv([]).save == [(3600, 1), (300, 100), (60, 10000)]


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "1", "--foo", "bar"],
        ["--save", "1"],
        ["--maxmemory", "1x"],
        ["--maxmemory-policy", "lru"],
        ["--port", "70000"],
        ["--appendonly", "maybe"],
        ["--slaveof", "127.0.0.1"],
        ["--dbfilename", "a/b"],
    ],
)
def test_config_load_errors_match_stock(args: list[str], tmp_path: Path) -> None:
    theirs = subprocess.run(["redis-server", *args], capture_output=True, text=True, timeout=10, cwd=tmp_path)
    ours = subprocess.run(
        [sys.executable, "-m", "server", *args], capture_output=True, text=True, timeout=20, cwd=REPO
    )
    assert ours.returncode == 1 and theirs.returncode == 1
    want = theirs.stderr.strip().splitlines()[1:]  # the first line names the server
    got = ours.stderr.strip().splitlines()[1:]
    assert got == want


def test_include_and_rename_command(tmp_path: Path) -> None:
    inc = tmp_path / "inc.conf"
    inc.write_text("maxmemory 5mb\n")
    main = tmp_path / "main.conf"
    main.write_text(f"include {inc}\nhz 20\n")
    cfg = Config.from_argv([str(main)])
    assert cfg.maxmemory == 5 * 1024 * 1024 and cfg.hz == 20
    with pytest.raises(ConfigError, match="No such command in rename-command"):
        Config.from_argv(["--rename-command", "nosuchcmd", "x"])


def test_memory_units() -> None:
    assert parse_memory("1gb") == 1024**3
    assert parse_memory("1G") == 1000**3
    assert parse_memory("100mb") == 100 * 1024**2
    assert parse_memory("64k") == 64000
    assert parse_memory("5") == 5
    for bad in ("-1", "1.5", "+5", " 5", "1tb"):
        with pytest.raises(ConfigError):
            parse_memory(bad)
    assert format_memory(2 * 1024**3) == "2gb"
    assert format_memory(3 * 1024**2) == "3mb"
    assert format_memory(1000) == "1000"


def test_tcp_keepalive_is_a_real_directive(tmp_path: Path) -> None:
    cfg = Config.from_argv(["--tcp-keepalive", "60"])
    assert cfg.tcp_keepalive == 60
    assert cfg.get_matching(["tcp-keepalive"]) == {"tcp-keepalive": "60"}
    cfg.set_many([("tcp-keepalive", "0")])
    assert cfg.tcp_keepalive == 0


def test_dir_is_absolute_and_checked(tmp_path: Path) -> None:
    rel = os.path.relpath(tmp_path)
    cfg = Config.from_argv(["--dir", rel])
    assert cfg.dir == str(tmp_path.resolve()) or Path(cfg.dir).resolve() == tmp_path.resolve()
    with pytest.raises(ConfigError, match="No such file or directory"):
        cfg.set_many([("dir", str(tmp_path / "nope"))], allow_protected=True)
    cfg.set_many([("dir", str(tmp_path))], allow_protected=True)
    assert cfg.dir == str(tmp_path)


def test_protected_config_with_enable_protected_configs(start_server: Any, tmp_path: Path) -> None:
    srv = start_server("--save", "", "--enable-protected-configs", "local")
    r = srv.client()
    newdir = tmp_path / "elsewhere"
    newdir.mkdir()
    assert r.config_set("dir", str(newdir)) is True
    assert config_map(r, "dir") == {"dir": str(newdir)}
    assert r.config_set("dbfilename", "other.rdb") is True
    r.set("k", "v")
    assert r.save() is True
    assert (newdir / "other.rdb").exists()
