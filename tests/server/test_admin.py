"""Server administration commands against stock Redis 7.0: COMMAND, DEBUG, SLOWLOG, LATENCY,
MONITOR, MEMORY, MODULE, ROLE, TIME, LOLWUT; replies compared byte for byte where Redis's are
deterministic, behaviour checked where they are not."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.server.rawresp import Raw, wait_until


@pytest.fixture
def debug_stock(start_server: Any) -> Any:
    """Stock Redis with DEBUG enabled (our server allows DEBUG from local connections)."""
    return start_server("--save", "", "--appendonly", "no", "--enable-debug-command", "yes", stock=True)


@pytest.fixture
def both(server: Any, debug_stock: Any) -> Iterator[tuple[Raw, Raw]]:
    ours, theirs = Raw(server.port), Raw(debug_stock.port)
    yield ours, theirs
    ours.close()
    theirs.close()


def same(both: tuple[Raw, Raw], *cmds: list[str | bytes | int]) -> None:
    ours, theirs = both
    for cmd in cmds:
        want = theirs.call(*cmd)
        got = ours.call(*cmd)
        assert got == want, f"{cmd}: stock {want!r}, ours {got!r}"


def parse(reply: bytes) -> Any:
    """A small RESP2/RESP3 decoder for structure checks (maps become lists of pairs)."""

    def at(i: int) -> tuple[Any, int]:
        nl = reply.index(b"\r\n", i)
        t, head, j = reply[i : i + 1], reply[i + 1 : nl], nl + 2
        if t in (b"+", b"-"):
            return head.decode(), j
        if t == b":":
            return int(head), j
        if t == b",":
            return float(head), j
        if t in (b"$", b"="):
            n = int(head)
            return (None, j) if n < 0 else (reply[j : j + n], j + n + 2)
        if t == b"_":
            return None, j
        if t in (b"*", b"~", b"%"):
            n = int(head)
            if n < 0:
                return None, j
            items = []
            for _ in range(n * (2 if t == b"%" else 1)):
                v, j = at(j)
                items.append(v)
            if t == b"%":
                return [(items[k], items[k + 1]) for k in range(0, len(items), 2)], j
            return items, j
        raise AssertionError(reply[i : i + 20])

    return at(0)[0]


# --- COMMAND ---------------------------------------------------------------------------------------


def test_command_info_matches_stock(both: tuple[Raw, Raw]) -> None:
    same(
        both,
        ["COMMAND", "INFO", "get", "set", "info", "debug", "role", "time", "lolwut", "monitor"],
        ["COMMAND", "INFO", "config|get", "memory|usage", "slowlog|get", "command|getkeys"],
        ["COMMAND", "INFO", "nosuchcommand", "get"],
        ["COMMAND", "DOCS", "get", "set", "config|set", "nosuch"],
        ["COMMAND", "DOCS", "nosuchcommand"],
        ["COMMAND", "COUNT", "x"],
        ["COMMAND", "FOO"],
        ["COMMAND", "HELP"],
    )


def test_command_info_container_matches_stock_up_to_order(both: tuple[Raw, Raw]) -> None:
    ours, theirs = both
    for c in both:
        c.call("HELLO", "3")
    for name in ("config", "memory", "slowlog", "latency", "command"):
        mine, stock = (
            parse(ours.call("COMMAND", "INFO", name))[0],
            parse(theirs.call("COMMAND", "INFO", name))[0],
        )
        assert mine[:9] == stock[:9]
        assert sorted(mine[9], key=lambda s: s[0]) == sorted(stock[9], key=lambda s: s[0])
        d_mine = dict(parse(ours.call("COMMAND", "DOCS", name))[0][1])
        d_stock = dict(parse(theirs.call("COMMAND", "DOCS", name))[0][1])
        assert dict(d_mine.pop(b"subcommands")) == dict(d_stock.pop(b"subcommands"))
        assert d_mine == d_stock


def test_command_docs_shape_for_redis_cli(server: Any) -> None:
    """redis-cli 7 reads COMMAND DOCS at start-up: a map of name -> doc map, every command."""
    with Raw(server.port) as c:
        c.call("HELLO", "3")
        docs = parse(c.call("COMMAND", "DOCS"))
        listed = parse(c.call("COMMAND", "LIST"))
        count = parse(c.call("COMMAND", "COUNT"))
    names = [n for n, _ in docs]
    assert len(names) == count == len([n for n in listed if b"|" not in n])
    for name, doc in docs:
        fields = dict(doc)
        assert b"group" in fields, name
    get_doc = dict(dict(docs)[b"get"])
    assert get_doc[b"summary"] == b"Get the value of a key"
    assert get_doc[b"since"] == b"1.0.0"
    assert get_doc[b"complexity"] == b"O(1)"


def test_bare_command_lists_every_command(server: Any) -> None:
    with Raw(server.port) as c:
        everything = parse(c.call("COMMAND"))
        count = parse(c.call("COMMAND", "COUNT"))
    assert len(everything) == count
    by_name = {e[0]: e for e in everything}
    assert by_name[b"get"][1:6] == [2, ["readonly", "fast"], 1, 1, 1]
    assert [s[0] for s in by_name[b"config"][9]]  # subcommands listed


def test_command_list_filters_match_stock(both: tuple[Raw, Raw]) -> None:
    ours, theirs = both
    for args in (
        ["FILTERBY", "PATTERN", "CONFIG*"],
        ["FILTERBY", "PATTERN", "xx*"],
        ["FILTERBY", "ACLCAT", "@admin"],
        ["FILTERBY", "MODULE", "foo"],
    ):
        got = sorted(parse(ours.call("COMMAND", "LIST", *args)))
        want = sorted(parse(theirs.call("COMMAND", "LIST", *args)))
        assert got == want, args
    mine = set(parse(ours.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", "HyperLogLog")))
    assert mine <= set(parse(theirs.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", "hyperloglog")))
    admin = set(parse(ours.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", "admin")))
    assert {b"config|set", b"debug", b"monitor", b"slowlog|get"} <= admin
    same(both, ["COMMAND", "LIST", "FILTERBY", "FOO", "x"], ["COMMAND", "LIST", "FOO"])


def test_command_getkeys_matches_stock(both: tuple[Raw, Raw]) -> None:
    same(
        both,
        ["COMMAND", "GETKEYS", "set", "a", "b"],
        ["COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"],
        ["COMMAND", "GETKEYS", "zunionstore", "d", "2", "a", "b"],
        ["COMMAND", "GETKEYS", "lmove", "a", "b", "left", "right"],
        ["COMMAND", "GETKEYS", "foo", "a"],
        ["COMMAND", "GETKEYS", "set", "a"],
        ["COMMAND", "GETKEYS", "config", "get", "x"],
        ["COMMAND", "GETKEYS", "ping"],
        ["COMMAND", "GETKEYSANDFLAGS", "set", "a", "b"],
        ["COMMAND", "GETKEYSANDFLAGS", "set", "a", "b", "get"],
        ["COMMAND", "GETKEYSANDFLAGS", "lmove", "a", "b", "left", "right"],
        ["COMMAND", "GETKEYSANDFLAGS", "get", "a"],
        ["COMMAND", "GETKEYSANDFLAGS", "del", "a", "b"],
    )


# --- simple commands ---------------------------------------------------------------------------------


def test_time_role_lolwut(both: tuple[Raw, Raw]) -> None:
    ours, _ = both
    sec, usec = parse(ours.call("TIME"))
    assert abs(int(sec) + int(usec) / 1e6 - time.time()) < 2
    assert 0 <= int(usec) < 1_000_000
    same(
        both,
        ["ROLE"],
        ["LOLWUT"],
        ["LOLWUT", "VERSION", "4"],
        ["LOLWUT", "VERSION", "x"],
        ["LOLWUT", "foo"],
        ["TIME", "x"],
    )
    v5 = parse(ours.call("LOLWUT", "VERSION", "5", "20", "4", "4")).decode()
    assert v5.endswith("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. 7.0.15\n")
    art = v5.split("\n")[0]
    assert len(art) == 20 and all(0x2800 <= ord(ch) <= 0x28FF for ch in art)
    v6 = parse(ours.call("LOLWUT", "VERSION", "6", "10", "3")).decode()
    rows = v6.split("\n")[:3]
    assert all(row.count("\x1b[0m") == 10 for row in rows)
    assert v6.endswith("Original 8 bit image from Plaguemon by hikikomori. Redis ver. 7.0.15\n")


def test_module_matches_stock(both: tuple[Raw, Raw]) -> None:
    same(both, ["MODULE", "LIST"], ["MODULE", "LOAD", "/nonexistent.so"], ["MODULE", "UNLOAD", "x"])


def test_help_texts_match_stock(both: tuple[Raw, Raw]) -> None:
    same(
        both,
        ["CONFIG", "HELP"],
        ["SLOWLOG", "HELP"],
        ["LATENCY", "HELP"],
        ["MEMORY", "HELP"],
        ["MEMORY", "FOO"],
        ["SLOWLOG", "FOO"],
    )


# --- DEBUG -------------------------------------------------------------------------------------------


def test_debug_errors_and_protocol_match_stock(both: tuple[Raw, Raw]) -> None:
    cmds: list[list[str | bytes | int]] = [
        ["DEBUG", "foo"],
        ["DEBUG", "set-active-expire"],
        ["DEBUG", "quicklist-packed-threshold", "x"],
        ["DEBUG", "quicklist-packed-threshold", "5gb"],
        ["DEBUG", "quicklist-packed-threshold", "100"],
        ["DEBUG", "error", "foo bar"],
        ["DEBUG", "error", "-FOO bar"],
        ["DEBUG", "object", "nokey"],
        ["DEBUG", "sleep", "0"],
        ["DEBUG", "sleep", "x"],
        ["DEBUG", "reload", "foo"],
        ["DEBUG", "populate", "-1"],
        ["DEBUG", "protocol", "foo"],
    ]
    for t in (
        "string",
        "integer",
        "double",
        "bignum",
        "null",
        "array",
        "set",
        "map",
        "attrib",
        "push",
        "verbatim",
        "true",
        "false",
    ):
        cmds.append(["DEBUG", "PROTOCOL", t])
    same(both, *cmds)
    ours, theirs = both
    ours.call("HELLO", "3")
    theirs.call("HELLO", "3")
    same(both, *[c for c in cmds if c[1] == "PROTOCOL"])


def test_debug_digest_and_populate_match_stock(both: tuple[Raw, Raw]) -> None:
    setup: list[list[str | bytes | int]] = [
        ["DEBUG", "DIGEST"],
        ["SET", "s", "hello"],
        ["SET", "n", "12345"],
        ["RPUSH", "l", "a", "b", "c"],
        ["SADD", "st", "x", "y", "1"],
        ["HSET", "h", "f1", "v1", "f2", "v2"],
        ["ZADD", "z", "1.5", "a", "2", "b", "3.25e10", "c", "-inf", "d"],
        ["SET", "e", "v", "EX", "1000"],
        ["SELECT", "2"],
        ["DEBUG", "POPULATE", "10"],
        ["DEBUG", "POPULATE", "5", "pre", "20"],
        ["DEBUG", "POPULATE", "12"],
        ["DBSIZE"],
        ["GET", "key:3"],
        ["GET", "pre:4"],
        ["SELECT", "0"],
        ["DEBUG", "DIGEST-VALUE", "s", "n", "l", "st", "h", "z", "e", "nokey"],
        ["DEBUG", "DIGEST"],
    ]
    same(both, *setup)


def test_debug_object(both: tuple[Raw, Raw]) -> None:
    ours, theirs = both
    for value in ("hello", "12345", "x" * 100):
        for c in both:
            c.call("SET", "k", value)
        got, want = ours.call("DEBUG", "OBJECT", "k"), theirs.call("DEBUG", "OBJECT", "k")
        pat = rb"\+Value at:0x[0-9a-f]+ refcount:\d+ encoding:(\w+) serializedlength:(\d+) lru:\d+ lru_seconds_idle:\d+\r\n"
        m1, m2 = re.fullmatch(pat, got), re.fullmatch(pat, want)
        assert m1 and m2
        assert m1.groups() == m2.groups(), value
    for c in both:
        c.call("RPUSH", "l", "a", "b", "c")
    got = ours.call("DEBUG", "OBJECT", "l")
    want = theirs.call("DEBUG", "OBJECT", "l")
    assert got.split(b" encoding:")[1].split(b" lru:")[0] == want.split(b" encoding:")[1].split(b" lru:")[0]
    assert got.split(b"lru_seconds_idle:0 ")[1] == want.split(b"lru_seconds_idle:0 ")[1]


def test_debug_sleep_blocks_the_whole_server(server: Any) -> None:
    r = server.client()
    other = server.client()
    other.ping()
    done: list[float] = []

    def sleeper() -> None:
        r.execute_command("DEBUG", "SLEEP", "0.5")
        done.append(time.monotonic())

    t = threading.Thread(target=sleeper)
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert other.ping() is True
    waited = time.monotonic() - t0
    t.join()
    assert waited >= 0.3


def test_debug_set_active_expire(server: Any) -> None:
    r = server.client()
    assert r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0") == b"OK"
    for i in range(20):
        r.set(f"k{i}", "v", px=50)
    time.sleep(0.5)
    assert r.dbsize() == 20  # nobody touched them and the active cycle is off
    assert r.get("k0") is None  # lazy expiry still works
    assert r.dbsize() == 19
    assert r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1") == b"OK"
    assert wait_until(lambda: r.dbsize() == 0, timeout=5)


def test_debug_change_repl_id_and_reload(server: Any) -> None:
    r = server.client()
    before = r.info("replication")["master_replid"]
    assert r.execute_command("DEBUG", "CHANGE-REPL-ID") == b"OK"
    after = r.info("replication")["master_replid"]
    assert after != before and re.fullmatch(r"[0-9a-f]{40}", after)
    r.set("k", "v")
    r.rpush("l", "a", "b")
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    assert r.get("k") == b"v" and r.lrange("l", 0, -1) == [b"a", b"b"]


def test_debug_refused_when_disabled(start_server: Any) -> None:
    outs = []
    for stock in (False, True):
        srv = start_server("--save", "", "--enable-debug-command", "no", stock=stock)
        with Raw(srv.port) as c:
            outs.append((c.call("DEBUG", "HELP"), c.call("DEBUG", "SLEEP", "0")))
    assert outs[0] == outs[1]
    assert outs[0][0].startswith(b"-ERR DEBUG command not allowed.")


def test_debug_help_lists_registered_subcommands(server: Any) -> None:
    with Raw(server.port) as c:
        lines = parse(c.call("DEBUG", "HELP"))
    assert lines[0] == "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert (
        "SLEEP <seconds>" in lines
        and "RELOAD [option ...]" in lines
        and lines[-2:] == ["HELP", "    Prints this help."]
    )


def test_debug_subcommand_registry_is_extensible(server: Any) -> None:
    """Other layers register DEBUG subcommands; checked in-process on an engine."""
    from server.client import Client, NullTransport
    from server.commands.admin import DEBUG_SUBCOMMANDS, debug_subcommand
    from server.engine import Engine
    from server.protocol import resp

    @debug_subcommand("test-echo", 3, ("TEST-ECHO <x>", "    Echo."))
    def _echo(c: Client, argv: list[bytes]) -> bytes:
        return resp.bulk(argv[2])

    try:
        e = Engine()
        c = Client(e, NullTransport(), addr="127.0.0.1:1")
        assert e.execute(c, [b"DEBUG", b"TEST-ECHO", b"hi"]) == b"$2\r\nhi\r\n"
        assert e.execute(c, [b"DEBUG", b"test-echo"]) == (
            b"-ERR unknown subcommand or wrong number of arguments for 'test-echo'. Try DEBUG HELP.\r\n"
        )
    finally:
        DEBUG_SUBCOMMANDS.pop(b"test-echo")


def test_debug_segfault_kills_the_server(start_server: Any) -> None:
    srv = start_server("--save", "")
    c = Raw(srv.port)
    c.send("DEBUG", "SEGFAULT")
    assert c.wait_closed(timeout=10) == b""
    assert srv.proc.wait(timeout=10) == -signal.SIGSEGV


# --- SLOWLOG -----------------------------------------------------------------------------------------


def test_slowlog_entries_match_stock_format(both: tuple[Raw, Raw]) -> None:
    ours, theirs = both
    long_arg = "y" * 200
    many = [str(i) for i in range(40)]
    results = []
    for c in both:
        c.call("CONFIG", "SET", "slowlog-log-slower-than", "0")
        c.call("SLOWLOG", "RESET")
        c.call("CLIENT", "SETNAME", "tester")
        c.call("SET", "k", long_arg)
        c.call("RPUSH", "l", *many)
        c.call("CONFIG", "SET", "requirepass", "secret")
        c.call("AUTH", "secret")
        c.call("CONFIG", "SET", "requirepass", "")
        entries = parse(c.call("SLOWLOG", "GET", "-1"))
        results.append([(e[3], e[5]) for e in entries])
        for e in entries:
            assert re.fullmatch(rb"127\.0\.0\.1:\d+", e[4])
            assert abs(e[1] - time.time()) < 10
            assert e[2] >= 0
        ids = [e[0] for e in entries]
        assert ids == sorted(ids, reverse=True)
    assert results[0] == results[1]
    assert results[0][0][1] == b"tester"
    same(
        both,
        ["SLOWLOG", "GET", "x"],
        ["SLOWLOG", "GET", "-2"],
        ["SLOWLOG", "GET", "1", "2"],
    )
    for c in both:
        c.call("SLOWLOG", "RESET")
    assert ours.call("SLOWLOG", "LEN") == theirs.call("SLOWLOG", "LEN") == b":1\r\n"  # the RESET itself


def test_slowlog_max_len(server: Any) -> None:
    r = server.client()
    r.config_set("slowlog-log-slower-than", 0)
    r.config_set("slowlog-max-len", 5)
    for i in range(20):
        r.set(f"k{i}", i)
    assert r.slowlog_len() == 5
    assert r.slowlog_get(1)[0]["command"] == b"SLOWLOG LEN"


def test_log_everything_applies_from_the_next_command_of_the_same_pipeline(server: Any) -> None:
    """The network layer's direct dispatch picks up the timed call a CONFIG SET put in place."""
    r = server.client()
    r.slowlog_reset()
    p = r.pipeline(transaction=False)
    p.config_set("slowlog-log-slower-than", 0)
    p.set("a", "1")
    p.get("a")
    p.incr("n")
    p.execute()
    got = [e["command"] for e in r.slowlog_get(10)]
    r.config_set("slowlog-log-slower-than", 10000)
    assert got[:3] == [b"INCRBY n 1", b"GET a", b"SET a 1"], got


def test_slowlog_default_threshold_catches_slow_commands_only(server: Any) -> None:
    r = server.client()
    assert r.config_get("slowlog-log-slower-than") == {"slowlog-log-slower-than": "10000"}
    r.slowlog_reset()
    for _ in range(200):
        r.ping()
    r.execute_command("DEBUG", "SLEEP", "0.05")
    entries = r.slowlog_get(10)
    assert [e["command"] for e in entries] == [b"DEBUG SLEEP 0.05"]
    assert 50_000 <= entries[0]["duration"] < 150_000
    # A CPU-bound command: found by the watchdog, not by timing every command.
    r.execute_command("DEBUG", "POPULATE", "200000")
    r.slowlog_reset()
    t0 = time.monotonic()
    keys = r.keys("*")
    elapsed = time.monotonic() - t0
    assert len(keys) == 200000
    if elapsed < 0.03:
        pytest.skip(f"KEYS took only {elapsed * 1000:.1f} ms here")
    assert wait_until(lambda: any(e["command"] == b"KEYS *" for e in r.slowlog_get(10)), timeout=3)
    entry = next(e for e in r.slowlog_get(10) if e["command"] == b"KEYS *")
    assert 10_000 <= entry["duration"] <= elapsed * 1_000_000 * 1.5 + 20_000


# --- LATENCY -----------------------------------------------------------------------------------------


def test_latency_monitor(both: tuple[Raw, Raw]) -> None:
    same(
        both,
        ["LATENCY", "LATEST"],
        ["LATENCY", "DOCTOR"],
        ["LATENCY", "HISTORY", "command"],
        ["LATENCY", "GRAPH", "command"],
        ["LATENCY", "RESET"],
        ["LATENCY", "RESET", "foo", "command"],
    )
    for c in both:
        assert c.call("CONFIG", "SET", "latency-monitor-threshold", "10") == b"+OK\r\n"
        c.call("DEBUG", "SLEEP", "0.05")
    for c in both:
        latest = parse(c.call("LATENCY", "LATEST"))
        assert len(latest) == 1
        name, ts, last, worst = latest[0]
        assert name == b"command" and abs(ts - time.time()) < 10 and 50 <= last <= worst < 200
        hist = parse(c.call("LATENCY", "HISTORY", "command"))
        assert len(hist) == 1 and 50 <= hist[0][1] < 200
        graph = parse(c.call("LATENCY", "GRAPH", "command")).decode()
        assert re.match(r"command - high \d+ ms, low \d+ ms \(all time high \d+ ms\)\n-{80}\n", graph)
        assert b"Dave, I have observed latency spikes" in c.call("LATENCY", "DOCTOR")
        assert c.call("LATENCY", "RESET", "command") == b":1\r\n"
        assert c.call("LATENCY", "LATEST") == b"*0\r\n"


def test_latency_histogram(server: Any) -> None:
    with Raw(server.port) as c:
        c.call("HELLO", "3")
        c.call("CONFIG", "SET", "slowlog-log-slower-than", "0")  # time every command
        for i in range(30):
            c.call("SET", f"k{i}", "v")
        hist = dict(parse(c.call("LATENCY", "HISTOGRAM", "set", "nosuch")))
        assert list(hist) == [b"set"]
        body = dict(hist[b"set"])
        assert body[b"calls"] == 30
        buckets = body[b"histogram_usec"]
        assert buckets[-1][1] == 30
        assert all(b & (b - 1) == 0 for b, _ in buckets)  # powers of two
        assert [n for _, n in buckets] == sorted(n for _, n in buckets)  # cumulative


# --- MONITOR -----------------------------------------------------------------------------------------


def test_monitor_stream(server: Any) -> None:
    mon = Raw(server.port)
    assert mon.call("MONITOR") == b"+OK\r\n"
    with Raw(server.port) as c:
        c.call("SET", "k", 'v\n\x01"')
        c.call("SELECT", "3")
        c.call("GET", "k")
        c.call("CONFIG", "GET", "hz")  # admin: not shown
        c.call("MULTI")
        c.call("SET", "a", "1")
        c.call("INCR", "a")
        c.call("EXEC")
        c.call("AUTH", "pw")
        c.call("NOSUCH")  # rejected before running: not shown
        c.call("PING")
        port = c.sock.getsockname()[1]
    text = mon.read_until(b'"PING"\r\n').decode()
    lines = text.split("\r\n")[:-1]
    pat = re.compile(r"\+(\d+)\.(\d{6}) \[(\d+) 127\.0\.0\.1:(\d+)\] (.*)")
    parsed = []
    for ln in lines:
        m = pat.fullmatch(ln)
        assert m, ln
        assert int(m.group(4)) == port
        assert abs(int(m.group(1)) - time.time()) < 10
        parsed.append((int(m.group(3)), m.group(5)))
    assert parsed == [
        (0, '"SET" "k" "v\\n\\x01\\""'),
        (3, '"SELECT" "3"'),
        (3, '"GET" "k"'),
        (3, '"MULTI"'),
        (3, '"SET" "a" "1"'),
        (3, '"INCR" "a"'),
        (3, '"EXEC"'),
        (3, '"AUTH" "(redacted)"'),
        (3, '"PING"'),
    ]
    mon.close()
    r = server.client()
    assert wait_until(lambda: r.set("x", "y") and r.info("clients")["connected_clients"] == 1)


# --- MEMORY ------------------------------------------------------------------------------------------


def test_memory_commands(both: tuple[Raw, Raw]) -> None:
    same(
        both,
        ["MEMORY", "USAGE", "nokey"],
        ["SET", "k", "v"],
        ["MEMORY", "USAGE", "k", "SAMPLES", "x"],
        ["MEMORY", "USAGE", "k", "FOO"],
        ["MEMORY", "USAGE", "k", "SAMPLES"],
        ["MEMORY", "DOCTOR"],
        ["MEMORY", "PURGE"],
        ["MEMORY", "USAGE"],
    )
    ours, theirs = both
    small = parse(ours.call("MEMORY", "USAGE", "k"))
    ours.call("SET", "big", "x" * 10000)
    big = parse(ours.call("MEMORY", "USAGE", "big"))
    assert 10000 < big < 12000 and 0 < small < 300
    ours.call("RPUSH", "l", *[f"element-{i}" for i in range(1000)])
    sampled = parse(ours.call("MEMORY", "USAGE", "l"))
    full = parse(ours.call("MEMORY", "USAGE", "l", "SAMPLES", "0"))
    assert 20000 < full < 200000 and abs(sampled - full) < full * 0.2
    for c in both:
        c.call("HELLO", "3")
    stats_ours = [k for k, _ in parse(ours.call("MEMORY", "STATS"))]
    stats_stock = [k for k, _ in parse(theirs.call("MEMORY", "STATS"))]
    assert stats_ours == stats_stock
    assert parse(ours.call("MEMORY", "MALLOC-STATS")) == b"txt:Stats not supported for the current allocator"


def test_monitor_client_is_dropped_on_reset(server: Any) -> None:
    mon = Raw(server.port)
    assert mon.call("MONITOR") == b"+OK\r\n"
    mon.send("RESET")
    assert mon.read_until(b"+RESET\r\n").endswith(b"+RESET\r\n")
    with Raw(server.port) as c:
        c.call("SET", "k", "v")
    assert mon.nothing_within(0.3)


def test_watchdog_leaves_a_clean_exit(start_server: Any) -> None:
    """The SIGPROF timer is disarmed before the interpreter drops its handlers."""
    srv = start_server("--save", "")
    r = srv.client()
    r.execute_command("DEBUG", "POPULATE", "50000")
    r.keys("*")
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=10) == 0
