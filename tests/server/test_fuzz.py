"""Property-based fuzzing of every registered command, in-process and over the network.

For each command in `server.commands.registry.TABLE` (subcommands included), Hypothesis draws
argument vectors: plausible keys of every type, option keywords, huge/negative/boundary numbers,
floats, binary junk. Properties:

* in-process (`Engine.execute` on a client with a capturing transport): no exception escapes, no handler
  hits the engine's "internal error" net, and every reply is exactly one well-formed RESP value;
* over a socket to a real server: every reply is well-formed (hiredis and the strict parser of
  `tests.server.differential` agree), the connection only closes after QUIT/CLIENT KILL, and the
  server keeps answering PING on a fresh connection.

Exclusions (commands that would stop, stall, fork or leave the test machine) are listed with
their reasons in EXCLUDED and the sanitizers below. HASENTINEL_FUZZ_EXAMPLES scales the effort.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
import traceback
from collections.abc import Iterator

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.blocking import Block
from server.client import Client
from server.commands.registry import TABLE, Command
from server.engine import Engine
from tests.server import differential as d

EXAMPLES = int(os.environ.get("HASENTINEL_FUZZ_EXAMPLES", "150"))

# Commands never sent, with why.
EXCLUDED: dict[str, str] = {
    "shutdown": "stops the server under test",
    "save": "synchronous RDB write of the whole dataset: slow, tested by the persistence suite",
    "bgsave": "forks a child process (slow; the in-process fuzz would fork pytest)",
    "bgrewriteaof": "forks a child process (slow; the in-process fuzz would fork pytest)",
    "sync": "turns the connection into a replica link: the RDB payload that follows is not RESP",
    "psync": "turns the connection into a replica link: the RDB payload that follows is not RESP",
    "replicaof": "would make the server connect to arbitrary hosts (traffic must stay on 127.0.0.1)",
    "slaveof": "would make the server connect to arbitrary hosts (traffic must stay on 127.0.0.1)",
    "failover": "pauses writes and coordinates with replicas; covered by the replication suite",
    "migrate": "opens connections to arbitrary hosts",
    "monitor": "streams every other command to this connection (in-process it has no effect to check)",
    "module": "MODULE LOAD would dlopen arbitrary paths",
}

# DEBUG subcommands that are safe to fuzz; anything else becomes an unknown subcommand, because
# DEBUG SLEEP/SEGFAULT/PANIC/ASSERT/OOM/LEAK/RELOAD/POPULATE/RESTART/PAUSE-CRON... crash, stall,
# leak or rebuild the server.
DEBUG_ALLOWED = {
    b"help", b"object", b"sdslen", b"digest", b"digest-value", b"protocol", b"stringmatch-len",
    b"listpack", b"quicklist-packed-threshold", b"change-repl-id", b"set-active-expire", b"error", b"log",
}  # fmt: skip

# CONFIG SET parameters left alone, with why: they would cut the test off from the server
# (bind/port/requirepass/timeout/maxclients/protected-mode/*-buffer-limit/proto-max-bulk-len),
# make it write files elsewhere or fork (dir/dbfilename/logfile/pidfile/save/appendonly/...),
# or turn every later write into an error (maxmemory).
CONFIG_DENIED = {
    b"bind", b"port", b"unixsocket", b"unixsocketperm", b"tls-port", b"requirepass", b"masterauth", b"masteruser",
    b"timeout", b"maxclients", b"protected-mode", b"client-output-buffer-limit", b"client-query-buffer-limit",
    b"proto-max-bulk-len", b"dir", b"dbfilename", b"logfile", b"pidfile", b"save", b"appendonly",
    b"appendfilename", b"appenddirname", b"replicaof", b"slaveof", b"maxmemory", b"aclfile",
    b"enable-debug-command", b"enable-protected-configs", b"tcp-keepalive", b"rename-command",
    b"min-replicas-to-write", b"min-slaves-to-write", b"replica-read-only", b"slave-read-only",
    b"busy-reply-threshold", b"lua-time-limit", b"shutdown-timeout", b"oom-score-adj", b"oom-score-adj-values",
    b"io-threads", b"daemonize", b"supervised", b"syslog-enabled", b"always-show-logo",
}  # fmt: skip

BLOCKING_TIMEOUT_LAST = {b"blpop", b"brpop", b"brpoplpush", b"blmove", b"bzpopmin", b"bzpopmax"}
BLOCKING_TIMEOUT_FIRST = {b"blmpop", b"bzmpop"}
RANDOM_COUNT = {b"srandmember", b"hrandfield", b"zrandmember"}

KEYWORDS = [
    b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR", b"EX", b"PX", b"EXAT", b"PXAT", b"KEEPTTL", b"GET", b"PERSIST",
    b"WITHSCORES", b"WITHVALUES", b"LIMIT", b"BYSCORE", b"BYLEX", b"REV", b"COUNT", b"MATCH", b"TYPE", b"WEIGHTS",
    b"AGGREGATE", b"SUM", b"MIN", b"MAX", b"LEFT", b"RIGHT", b"BEFORE", b"AFTER", b"RANK", b"MAXLEN", b"IDX",
    b"LEN", b"MINMATCHLEN", b"WITHMATCHLEN", b"STORE", b"ALPHA", b"ASC", b"DESC", b"BY", b"REPLACE", b"DB",
    b"ASYNC", b"SYNC", b"ID", b"USER", b"ADDR", b"LADDR", b"SKIPME", b"ON", b"OFF", b"SKIP", b"WRITE", b"ALL",
    b"AUTH", b"SETNAME", b"ABSTTL", b"IDLETIME", b"FREQ", b"BYTE", b"BIT", b"SAMPLES", b"LIB-NAME", b"LIB-VER",
    b"NOW", b"FORCE", b"TIMEOUT", b"ABORT", b"default", b"string", b"list", b"hash", b"set", b"zset", b"*", b"-",
    b"+", b"[a", b"(1", b"-inf", b"+inf",
]  # fmt: skip
NUMBERS = [
    b"0", b"1", b"-1", b"2", b"3", b"10", b"100", b"-100", b"9223372036854775807", b"-9223372036854775808",
    b"9223372036854775808", b"18446744073709551615", b"4294967295", b"4294967296", b"2147483648", b"-2147483649",
    b"1.5", b"-0", b"0.0", b"inf", b"-inf", b"nan", b"1e400", b"1e-400", b"0x10", b" 1", b"1 ", b"+1", b"01",
]  # fmt: skip
KEYS = [b"s", b"l", b"h", b"st", b"z", b"n", b"missing", b"", b"s\x00x"]


def arg_strategy() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from(KEYS),
        st.sampled_from(KEYWORDS),
        st.sampled_from(NUMBERS),
        st.integers(min_value=-(2**65), max_value=2**65).map(lambda i: str(i).encode()),
        st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).encode()),
        st.binary(max_size=40),
        st.text(max_size=20).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.sampled_from([b"a" * 1000, b"\xff" * 300, b"\r\n" * 50]),
    )


def all_commands() -> list[tuple[bytes, Command]]:
    return sorted((n, c) for n, c in TABLE.items() if n.decode() not in EXCLUDED)


def _int(b: bytes) -> int | None:
    try:
        return int(b)
    except ValueError:
        return None


def _float(b: bytes) -> float | None:
    try:
        return float(b)
    except ValueError:
        return None


def sanitize(argv: list[bytes]) -> list[bytes]:
    """Keep a random command from costing unbounded time or memory (or blocking for long), while
    leaving its error paths reachable: only values in the expensive-but-valid range are clamped."""
    name = argv[0].lower()
    sub = argv[1].lower() if len(argv) > 1 else b""
    out = list(argv)
    if name == b"debug" and len(out) > 1 and sub not in DEBUG_ALLOWED:
        out[1] = b"nosuch-debug-sub"
    if name == b"config" and sub == b"set":
        for i in range(2, len(out), 2):
            if out[i].lower() in CONFIG_DENIED:
                out[i] = b"no-such-param"
    if name == b"client" and sub == b"pause" and len(out) > 2:
        v = _int(out[2])
        if v is not None and v > 20:
            out[2] = b"20"  # a long CLIENT PAUSE would stall every client of the shared server
    if name == b"wait" and len(out) > 2:
        v = _int(out[2])
        if v is not None and (v == 0 or v > 20):
            out[2] = b"20"  # WAIT n 0 blocks forever
    if name in BLOCKING_TIMEOUT_LAST and len(out) > 2:
        out[-1] = _short_timeout(out[-1])
    if name in BLOCKING_TIMEOUT_FIRST and len(out) > 1:
        out[1] = _short_timeout(out[1])
    if name == b"setrange" and len(out) > 2:
        v = _int(out[2])
        if v is not None and 100_000 < v < 2**29:
            out[2] = b"100000"  # a valid offset up to 512 MB would allocate it
    if name == b"setbit" and len(out) > 2:
        v = _int(out[2])
        if v is not None and 800_000 < v < 2**32:
            out[2] = b"800000"
    if name in RANDOM_COUNT and len(out) > 2:
        v = _int(out[2])
        if v is not None and -(2**61) < v < -1000:
            out[2] = b"-1000"  # a negative count repeats members: |count| replies
    return out


def _short_timeout(b: bytes) -> bytes:
    """A blocking timeout of 10 ms, unless the value is surely rejected (negative or not a number
    at all). Redis parses timeouts with strtold, which also takes hex ('0x10') and spaces."""
    v = _float(b.strip())
    # Redis takes ceil(seconds * 1000) ms: only values <= -0.001 are negative (others block forever).
    if v is not None and (v <= -0.001 or v != v or v in (float("inf"), float("-inf"))):
        return b
    if v is None and not any(ch in b"0123456789" for ch in b):
        return b
    return b"0.01"


@st.composite
def command_for(draw: st.DrawFn, name: bytes, cmd: Command) -> list[bytes]:
    args: list[bytes] = []
    if cmd.subcommands:
        subs = sorted(cmd.subcommands)
        args.append(
            draw(st.one_of(st.sampled_from(subs), st.sampled_from([s.upper() for s in subs]), arg_strategy()))
        )
    args += draw(st.lists(arg_strategy(), max_size=8))
    shown = draw(st.sampled_from([name, name.upper(), name.capitalize()]))
    return sanitize([shown, *args])


@st.composite
def any_command(draw: st.DrawFn) -> list[bytes]:
    name, cmd = draw(st.sampled_from(all_commands()))
    return draw(command_for(name, cmd))


# Typed keys every batch starts from, so commands meet every type (and WRONGTYPE paths).
SEED = [
    [b"FLUSHALL"],
    [b"SET", b"s", b"hello"],
    [b"SET", b"n", b"42"],
    [b"RPUSH", b"l", b"a", b"b", b"1", b"2"],
    [b"HSET", b"h", b"f", b"v", b"g", b"7"],
    [b"SADD", b"st", b"a", b"b", b"3"],
    [b"ZADD", b"z", b"1", b"a", b"2.5", b"b", b"-inf", b"c"],
]


# --- in-process -----------------------------------------------------------------------------------


class CaptureTransport:
    """Collects what the engine pushes to the client out of band (pub/sub confirmations...)."""

    pending_bytes = 0

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass


PUBSUB_CMDS = {b"subscribe", b"unsubscribe", b"psubscribe", b"punsubscribe", b"ssubscribe", b"sunsubscribe"}


class Harness:
    """A fresh engine and client per example, with the engine's internal-error hook recorded."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.errors: list[str] = []
        self.engine.hooks["internal_error"] = self._record
        self.transport = CaptureTransport()
        self.client = Client(self.engine, self.transport, addr="127.0.0.1:1", laddr="127.0.0.1:2")
        self.engine.add_client(self.client)
        for argv in SEED:
            self.run(argv)

    def _record(self, cmd: Command, argv: list[bytes], exc: BaseException) -> None:
        self.errors.append(
            f"{cmd.full_name} {d.show_argv(argv)}: " + "".join(traceback.format_exception(exc))
        )

    def run(self, argv: list[bytes]) -> bytes:
        """Execute; the reply plus anything pushed out of band meanwhile (pub/sub)."""
        r = self.engine.execute(self.client, argv)
        if isinstance(r, Block):
            r = r.on_timeout
        assert isinstance(r, bytes), f"{d.show_argv(argv)} returned {type(r).__name__}"
        pushed = bytes(self.transport.data)
        self.transport.data.clear()
        return pushed + r


def check_reply(argv: list[bytes], reply: bytes, count: int | None = 1) -> None:
    """`reply` is `count` (None: any number of) complete, well-formed RESP values, none of them
    the engine's internal-error reply."""
    try:
        replies = d.parse_replies(reply)
    except d.MalformedReply as e:
        raise AssertionError(f"{d.show_argv(argv)}: malformed reply {reply[:300]!r}: {e}") from None
    if count is not None:
        assert len(replies) == count, f"{d.show_argv(argv)}: {len(replies)} replies in {reply[:300]!r}"
    for rep in replies:
        if rep[0] == "-":
            assert b"internal error" not in rep[1], f"{d.show_argv(argv)} -> {rep[1]!r}"


def _run_in_process(cmds: list[list[bytes]], resp3: bool) -> None:
    h = Harness()
    if resp3:
        h.run([b"HELLO", b"3"])
    reply_mode_changed = False
    for argv in cmds:
        name = argv[0].lower()
        reply_mode_changed |= name == b"client" and len(argv) > 1 and argv[1].lower() == b"reply"
        try:
            reply = h.run(argv)
        except Exception as e:  # the engine must turn every failure into a reply
            raise AssertionError(f"{d.show_argv(argv)} raised {e!r}\n{traceback.format_exc()}") from None
        assert not h.errors, h.errors[0]
        if name in PUBSUB_CMDS or h.client.subscriptions or reply_mode_changed:
            check_reply(argv, reply, count=None)  # one reply per channel, pushes, or none (CLIENT REPLY)
        else:
            check_reply(argv, reply)


@pytest.mark.parametrize(("name", "cmd"), [pytest.param(n, c, id=n.decode()) for n, c in all_commands()])
def test_in_process_every_command(name: bytes, cmd: Command) -> None:
    """Each command with random arguments, against keys of every type, RESP2 and RESP3."""

    @settings(max_examples=max(EXAMPLES // 12, 8), deadline=None, database=None)
    @given(cmds=st.lists(command_for(name, cmd), min_size=1, max_size=4), resp3=st.booleans())
    def prop(cmds: list[list[bytes]], resp3: bool) -> None:
        _run_in_process(cmds, resp3)

    prop()


@settings(max_examples=EXAMPLES * 2, deadline=None)
@given(cmds=st.lists(any_command(), min_size=1, max_size=12), resp3=st.booleans())
def test_in_process_command_sequences(cmds: list[list[bytes]], resp3: bool) -> None:
    """Mixed sequences: state left by one command (MULTI, SELECT, SUBSCRIBE, CLIENT REPLY, ...)
    meets the next."""
    _run_in_process(cmds, resp3)


def test_in_process_harness_catches_internal_errors() -> None:
    """The property fails when a handler crashes (the engine's net turns it into an error reply)."""
    h = Harness()
    cmd = TABLE[b"get"]
    original = cmd.handler
    try:
        cmd.handler = lambda c, argv: 1 // 0
        reply = h.run([b"GET", b"s"])
    finally:
        cmd.handler = original
    assert reply.startswith(b"-ERR internal error")
    assert h.errors and "ZeroDivisionError" in h.errors[0]
    with pytest.raises(AssertionError, match="internal error"):
        check_reply([b"GET", b"s"], reply)


# --- over the network -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[d.ServerPair]:
    """A dedicated hasentinel-server (and an idle stock peer, unused) for the network fuzz."""
    if shutil.which("redis-server") is None:
        pytest.skip("stock redis-server is not installed")
    p = d.ServerPair(tmp_path_factory.mktemp("fuzz"))
    yield p
    p.stop()


CLOSING = {b"quit"}


def _may_close(cmds: list[list[bytes]]) -> bool:
    for argv in cmds:
        name = argv[0].lower()
        if name in CLOSING or (name == b"client" and len(argv) > 1 and argv[1].lower() == b"kill"):
            return True
    return False


def run_batch(port: int, cmds: list[list[bytes]]) -> None:
    """Pipeline the batch, then RESET and a PING with a nonce; read until the nonce comes back.

    RESET leaves MULTI, pub/sub, MONITOR and RESP3 and turns CLIENT REPLY back on, so the nonce
    is always answered (as a plain bulk) by a server that behaves like Redis."""
    nonce = secrets.token_hex(12).encode()
    payload = b"".join(d.encode_command(a) for a in cmds)
    payload += d.encode_command([b"RESET"]) + d.encode_command([b"PING", nonce])
    conn = d.RespConn(port, timeout=10)
    try:
        conn.send_raw(payload)
        seen = 0
        while True:
            try:
                rep = conn.read(timeout=10)
            except d.ConnectionClosed:
                if _may_close(cmds):
                    break
                raise AssertionError(
                    f"connection closed unexpectedly after {seen} replies to:\n" + _show(cmds)
                ) from None
            except d.ReplyTimeout:
                raise AssertionError(
                    f"no nonce after {seen} replies (server stuck?) for:\n" + _show(cmds)
                ) from None
            except d.MalformedReply as e:
                raise AssertionError(
                    f"malformed reply ({e}) after {seen} replies for:\n" + _show(cmds)
                ) from None
            seen += 1
            if rep == ("$", nonce):
                break
            if rep[0] == "-":
                assert b"internal error" not in rep[1], f"{rep[1]!r} in batch:\n" + _show(cmds)
        # hiredis must accept the very same bytes.
        reader = hiredis.Reader()
        reader.feed(bytes(conn.raw_log))
        n = 0
        while reader.gets() is not False:
            n += 1
        assert n == seen, f"hiredis parsed {n} replies, the strict parser {seen}"
    finally:
        conn.close()


def _show(cmds: list[list[bytes]]) -> str:
    return "\n".join("  " + d.show_argv(a)[:300] for a in cmds)


def _alive(pair: d.ServerPair) -> None:
    assert pair.alive(), "hasentinel-server died:\n" + pair.ours_log()[-3000:]
    with d.RespConn(pair.ours_port, timeout=10) as c:
        assert c.call(b"PING") == ("+", b"PONG")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cmds=st.lists(any_command(), min_size=1, max_size=8), resp3=st.booleans())
def test_network_random_commands(fuzz_server: d.ServerPair, cmds: list[list[bytes]], resp3: bool) -> None:
    batch = [*SEED, *([[b"HELLO", b"3"]] if resp3 else []), *cmds]
    run_batch(fuzz_server.ours_port, batch)
    _alive(fuzz_server)


@pytest.mark.parametrize("group", sorted({c.group for n, c in all_commands()}))
def test_network_every_command_of_a_group(fuzz_server: d.ServerPair, group: str) -> None:
    """Every command of the group at least a few times (sampling alone may miss rare ones)."""
    cmds = [(n, c) for n, c in all_commands() if c.group == group]

    @settings(
        max_examples=max(EXAMPLES // 10, 5),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        batch = [data.draw(command_for(n, c)) for n, c in cmds]
        run_batch(fuzz_server.ours_port, [*SEED, *batch])

    prop()
    _alive(fuzz_server)


def _fake_server(answer: bytes) -> tuple[int, threading.Thread]:
    """A one-shot TCP server on a free port: reads a request, sends `answer`, closes."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(10)
    port = ls.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = ls.accept()
            with conn:
                conn.settimeout(5)
                conn.recv(65536)
                conn.sendall(answer)
        except OSError:
            pass
        finally:
            ls.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return port, t


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"+PONG\r\n", "closed unexpectedly"),
        (b"+PONG\n", "malformed reply"),
        (b"-ERR internal error in 'ping': ZeroDivisionError\r\n", "internal error"),
    ],
)
def test_network_batch_detects_failures(answer: bytes, problem: str) -> None:
    """The network property can fail: against fake servers that close early, send broken RESP or
    report an internal error, run_batch raises."""
    port, t = _fake_server(answer)
    with pytest.raises(AssertionError, match=problem):
        run_batch(port, [[b"PING"]])
    t.join(timeout=10)


# --- differential fuzz: random arguments to deterministic data commands, ours vs stock ---------------

# Data-plane groups whose replies are deterministic given the dataset (random picks, TTLs and
# unordered collections are normalised by `differential.replies_match`).
DIFF_GROUPS = {"string", "list", "hash", "set", "sorted-set", "generic", "transactions", "bitmap"}
# Commands of those groups left out, with why.
DIFF_EXCLUDED = {
    b"scan": "cursors are opaque: only SCAN 0 to completion is comparable (the stream tests do that)",
    b"sscan": "cursors are opaque",
    b"hscan": "cursors are opaque",
    b"zscan": "cursors are opaque",
    b"object": "OBJECT FREQ/IDLETIME depend on the clock and the eviction policy",
    b"randomkey": "random (its shape is compared by the stream tests)",
    b"dump": "the payload embeds encodings and a checksum (compared by the RDB suite)",
    b"restore": "needs payloads from DUMP",
    b"wait": "replication-dependent",
    b"watch": "open mismatch: set STORE commands invalidate WATCH on source keys (reproducer in test_differential)",
}
EXPIRY_COMMANDS = {b"expire", b"pexpire", b"set", b"setex", b"psetex", b"getex"}


def diff_commands() -> list[tuple[bytes, Command]]:
    return [(n, c) for n, c in all_commands() if c.group in DIFF_GROUPS and n not in DIFF_EXCLUDED]


def printable_arg_strategy() -> st.SearchStrategy[bytes]:
    """Like arg_strategy, but ASCII-only: error texts that quote arguments differ for other bytes
    (an open mismatch, see test_differential's error-text reproducers)."""
    return arg_strategy().map(lambda b: bytes(ch if 32 <= ch < 127 else 0x5F for ch in b))


def diff_sanitize(argv: list[bytes]) -> list[bytes]:
    """sanitize(), plus: relative expiries in (0, 100000) become 100000 so that no key expires
    while the two servers are compared (Redis's own result would depend on timing)."""
    out = sanitize(argv)
    if out[0].lower() in EXPIRY_COMMANDS:
        for i in range(2, len(out)):
            v = _int(out[i])
            if v is not None and 0 < v < 100_000:
                out[i] = b"100000"
    return out


@st.composite
def diff_command(draw: st.DrawFn) -> list[bytes]:
    name, _cmd = draw(st.sampled_from(diff_commands()))
    args = draw(st.lists(printable_arg_strategy(), max_size=7))
    return diff_sanitize([draw(st.sampled_from([name, name.upper()])), *args])


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cmds=st.lists(diff_command(), min_size=1, max_size=10), resp3=st.booleans())
def test_random_arguments_same_replies_as_stock(
    fuzz_server: d.ServerPair, cmds: list[list[bytes]], resp3: bool
) -> None:
    """Random arguments to every deterministic data command: the same replies as stock Redis,
    errors included (Hypothesis shrinks a mismatch to a minimal command list)."""
    fuzz_server.reset()
    runner = d.StreamRunner(fuzz_server.ours_port, fuzz_server.stock_port, 3 if resp3 else 2, timeout=10)
    try:
        found = runner.run([*SEED[1:], *cmds], seed=-1)
    finally:
        runner.close()
    if found:
        m = found[0]
        m.replay = "(hypothesis: see the falsifying example above)"
        raise AssertionError(m.report())
