"""Unit tests of the production runtime: reply parsing, the state file, links against an in-process
RESP peer, persist-before-act, ticks (Trio's MockClock), scripts (real processes), config overrides.
"""

from __future__ import annotations

import itertools
import json
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from sentinel.core import (
    Channel,
    CommandReply,
    ConfigSetRequest,
    Crash,
    ErrorReply,
    FlushConfigRequest,
    LinkDown,
    LinkUp,
    OpenLink,
    PersistState,
    PubSubMessage,
    ReplyTo,
    SentinelCore,
    Start,
    Status,
    Tick,
    parse_config,
)
from sentinel.core.events import Event, ScriptExited, ScriptStarted
from sentinel.core.replies import Reply
from sentinel.runtime import CrashRequested, FatalError, Runtime
from sentinel.runtime.links import Link
from sentinel.runtime.main import config_text
from sentinel.runtime.resp import ReplyParser, ReplyProtocolError, encode_command
from sentinel.runtime.runtime import event_fields
from sentinel.runtime.scripts import ScriptRunner
from sentinel.runtime.statefile import StateWriteError, load_state, state_path, write_state
from server.protocol.parser import RequestParser

# --- RESP ----------------------------------------------------------------------------------


def parse_all(data: bytes, chunk: int = 0) -> list[Reply]:
    p = ReplyParser()
    out: list[Reply] = []
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]
    for piece in pieces:
        p.feed(piece)
        while True:
            ok, r = p.gets()
            if not ok:
                break
            out.append(r)
    return out


WIRE = (
    b"+PONG\r\n$4\r\nPONG\r\n-ERR bad\r\n:42\r\n$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n"
    b"*3\r\n$7\r\nmessage\r\n$18\r\n__sentinel__:hello\r\n$3\r\na,b\r\n"
    b"*2\r\n*1\r\n:1\r\n$2\r\n\xff\xfe\r\n"
    b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nd\r\n%1\r\n$1\r\nk\r\n#t\r\n_\r\n,1.5\r\n=8\r\ntxt:info\r\n!3\r\nERR\r\n"
)
EXPECTED: list[Reply] = [
    Status("PONG"),
    "PONG",
    ErrorReply("ERR bad"),
    42,
    None,
    None,
    [],
    "",
    ["message", "__sentinel__:hello", "a,b"],
    [[1], b"\xff\xfe".decode("utf-8", "surrogateescape")],
    ["message", "c", "d"],
    ["k", 1],
    None,
    "1.5",
    "info",
    ErrorReply("ERR"),
]


@pytest.mark.parametrize("chunk", [0, 1, 3, 7])
def test_reply_parser_types_and_fragmentation(chunk: int) -> None:
    """Status and bulk stay distinct; any fragmentation gives the same replies."""
    assert parse_all(WIRE, chunk) == EXPECTED


def test_reply_parser_rejects_garbage() -> None:
    with pytest.raises(ReplyProtocolError):
        parse_all(b"?what\r\n")
    with pytest.raises(ReplyProtocolError):
        parse_all(b":12x\r\n")


def test_encode_command_round_trips_bytes() -> None:
    argv = ("PUBLISH", "__sentinel__:hello", b"\xff ok".decode("utf-8", "surrogateescape"))
    data = encode_command(argv)
    assert data == b"*3\r\n$7\r\nPUBLISH\r\n$18\r\n__sentinel__:hello\r\n$4\r\n\xff ok\r\n"
    p = RequestParser()
    p.feed(data)
    assert p.next_command() == [b"PUBLISH", b"__sentinel__:hello", b"\xff ok"]


# --- state file ----------------------------------------------------------------------------


def test_state_path_rules(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "sentinel.conf"
    assert state_path(conf, parse_config("")) == (tmp_path / "etc" / "sentinel.conf.state.json").resolve()
    assert state_path(conf, parse_config(f"dir {tmp_path}/var\n")) == tmp_path / "var" / "sentinel.conf.state.json"


def test_write_state_atomic_and_load(tmp_path: Path) -> None:
    core = SentinelCore(parse_config("sentinel monitor m 127.0.0.1 6379 1\n"), None, __import__("random").Random(1))
    path = tmp_path / "s.conf.state.json"
    assert load_state(path) is None
    write_state(path, core.state().to_json())
    write_state(path, core.state().to_json())  # replaces
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    loaded = load_state(path)
    assert loaded is not None and loaded.myid == core.myid
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("{broken")
    with pytest.raises(ValueError):
        load_state(path)


def test_write_state_failure_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateWriteError):
        write_state(blocker / "state.json", "{}")  # parent is a file: ENOTDIR


# --- the runtime's step execution ----------------------------------------------------------


def make_runtime(conf: str = "port 0\n", **kw: Any) -> tuple[Runtime, list[str]]:
    import random

    persisted: list[str] = kw.pop("persisted", [])
    core = SentinelCore(parse_config(conf), None, random.Random(7))
    kw.setdefault("persist", persisted.append)
    rt = Runtime(core, core.config, listen=False, exit_on_crash=False, **kw)
    return rt, persisted


async def test_persist_failure_is_fatal_and_nothing_else_runs() -> None:
    def fail(text: str) -> None:
        raise OSError(28, "No space left on device")

    rt, _ = make_runtime(persist=fail)
    waiter_done = trio.Event()

    async def ask() -> None:
        await rt.request(lambda r: FlushConfigRequest(r))
        waiter_done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(FatalError):
            rt.execute([PersistState("{}"), ReplyTo(1, Status("OK"))])
        assert not waiter_done.is_set()
        nursery.cancel_scope.cancel()


async def test_crash_stops_execution() -> None:
    rt, persisted = make_runtime()
    with pytest.raises(CrashRequested) as exc:
        rt.execute([Crash(99), PersistState("never")])
    assert exc.value.code == 99 and persisted == []


async def test_request_reply_after_persist(autojump_clock: trio.testing.MockClock) -> None:
    """FLUSHCONFIG: the state is written, then the reply is delivered (persist-before-act)."""
    order: list[str] = []
    rt, _ = make_runtime(persist=lambda text: order.append("persist"))
    async with trio.open_nursery() as nursery:
        await nursery.start(rt.run)
        order.clear()
        reply = await rt.request(lambda r: FlushConfigRequest(r))
        order.append("reply")
        assert reply == Status("OK")
        assert order == ["persist", "reply"]
        rt.shutdown("test")


async def test_loglevel_change_reconfigures_logging(autojump_clock: trio.testing.MockClock) -> None:
    levels: list[str] = []
    rt, _ = make_runtime(on_loglevel=levels.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(rt.run)
        assert await rt.request(lambda r: ConfigSetRequest(r, ("loglevel", "debug"))) == Status("OK")
        assert await rt.request(lambda r: ConfigSetRequest(r, ("announce-port", "1"))) == Status("OK")
        rt.shutdown("test")
    assert levels == ["debug"]


async def test_ticks_on_time(autojump_clock: trio.testing.MockClock) -> None:
    """Ticks every next_tick_in() ms (virtual time), never late enough for TILT."""
    rt, persisted = make_runtime()
    ticks: list[int] = []
    step = rt.core.step

    def counting(now: int, ev: Event) -> list[Any]:
        if isinstance(ev, Tick):
            ticks.append(now)
        return step(now, ev)

    rt.core.step = counting  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        await nursery.start(rt.run)
        assert json.loads(persisted[0])["myid"] == rt.core.myid  # Start persisted first
        await trio.sleep(10)
        rt.shutdown("test")
    assert 95 <= len(ticks) <= 101
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) <= 101
    assert not rt.core.world.tilt


def test_event_fields() -> None:
    import random

    core = SentinelCore(parse_config("sentinel monitor m 127.0.0.1 6379 1\n"), None, random.Random(1))
    core.step(0, Start())
    f = event_fields(core, "+sdown", "slave 10.0.0.2:6379 10.0.0.2 6379 @ m 127.0.0.1 6379")
    assert f["master"] == "m" and f["current_epoch"] == 0 and f["config_epoch"] == 0
    assert event_fields(core, "+switch-master", "m 1.1.1.1 1 2.2.2.2 2")["master"] == "m"
    assert event_fields(core, "+new-epoch", "7")["epoch"] == 7
    v = event_fields(core, "+vote-for-leader", "abc 3")
    assert v["leader"] == "abc" and v["epoch"] == 3 and "master" not in v


def test_config_overrides(tmp_path: Path) -> None:
    conf = tmp_path / "s.conf"
    conf.write_text("port 1\nsentinel monitor m 127.0.0.1 6379 1\n")
    text = config_text(conf, ["--port", "2345", "--sentinel", "--sentinel", "down-after-milliseconds", "m", "500"])
    cfg = parse_config(text)
    assert cfg.port == 2345
    assert cfg.masters[0].down_after == 500


# --- links against an in-process peer -----------------------------------------------------


Handler = Callable[[trio.SocketStream], Awaitable[None]]


async def serve_once(nursery: trio.Nursery, handler: Handler) -> int:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = int(listeners[0].socket.getsockname()[1])

    async def run() -> None:
        stream = await listeners[0].accept()
        async with stream:
            await handler(stream)
        await listeners[0].aclose()

    nursery.start_soon(run)
    return port


async def read_commands(stream: trio.SocketStream, n: int) -> list[list[bytes]]:
    p = RequestParser()
    out: list[list[bytes]] = []
    while len(out) < n:
        data = await stream.receive_some(65536)
        if not data:
            break
        p.feed(data)
        while (cmd := p.next_command()) is not None:
            out.append(cmd)
    return out


class Collector:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.changed = trio.Event()

    def feed(self, ev: Event) -> None:
        self.events.append(ev)
        self.changed.set()

    async def wait_for(self, pred: Callable[[list[Event]], bool]) -> None:
        with trio.fail_after(5):
            while not pred(self.events):
                self.changed = trio.Event()
                await self.changed.wait()


async def test_link_pipelines_and_matches_replies_in_order() -> None:
    got = Collector()

    async def peer(stream: trio.SocketStream) -> None:
        cmds = await read_commands(stream, 4)
        assert [c[0] for c in cmds] == [b"CLIENT", b"PING", b"INFO", b"PUBLISH"]
        await stream.send_all(b"+OK\r\n$4\r\nPONG\r\n$5\r\nhello\r\n:1\r\n")
        await stream.receive_some(10)  # until the link is closed

    async with trio.open_nursery() as nursery:
        port = await serve_once(nursery, peer)
        link = Link(OpenLink(1, "127.0.0.1", port, Channel.CMD, "master", "m"), got.feed, 2.0)
        nursery.start_soon(link.run)
        await got.wait_for(lambda evs: len(evs) == 1)
        assert isinstance(got.events[0], LinkUp) and got.events[0].local_ip == "127.0.0.1"
        for tag, argv in enumerate([("CLIENT", "SETNAME", "x"), ("PING",), ("INFO",), ("PUBLISH", "c", "m")], 10):
            link.send(tag, argv)
        await got.wait_for(lambda evs: len(evs) == 5)
        assert got.events[1:] == [
            CommandReply(10, Status("OK")),
            CommandReply(11, "PONG"),
            CommandReply(12, "hello"),
            CommandReply(13, 1),
        ]
        link.close()
    assert len(got.events) == 5  # CloseLink: no LinkDown


async def test_pubsub_link_messages() -> None:
    got = Collector()

    async def peer(stream: trio.SocketStream) -> None:
        await read_commands(stream, 1)
        await stream.send_all(
            b"*3\r\n$9\r\nsubscribe\r\n$18\r\n__sentinel__:hello\r\n:1\r\n"
            b"*3\r\n$7\r\nmessage\r\n$18\r\n__sentinel__:hello\r\n$5\r\nhello\r\n"
        )

    async with trio.open_nursery() as nursery:
        port = await serve_once(nursery, peer)
        link = Link(OpenLink(2, "localhost", port, Channel.PUBSUB, "master", "m"), got.feed, 2.0)
        nursery.start_soon(link.run)
        await got.wait_for(lambda evs: len(evs) == 1)
        link.send(5, ("SUBSCRIBE", "__sentinel__:hello"))
        await got.wait_for(lambda evs: len(evs) == 4)
    assert got.events[1:] == [
        CommandReply(5, ["subscribe", "__sentinel__:hello", 1]),
        PubSubMessage(2, "__sentinel__:hello", "hello"),
        LinkDown(2, "connection closed by peer"),
    ]


async def test_link_down_on_refused_connect() -> None:
    got = Collector()
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()  # nothing listens there now
    link = Link(OpenLink(3, "127.0.0.1", port, Channel.CMD, "slave", "r"), got.feed, 2.0)
    await link.run()
    assert len(got.events) == 1
    ev = got.events[0]
    assert isinstance(ev, LinkDown) and ev.link == 3 and ev.reason.startswith("connect")
    link.send(1, ("PING",))  # after the end: ignored, the core has the LinkDown


async def test_link_connect_timeout(autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch) -> None:
    async def hang(host: str, port: int) -> trio.SocketStream:
        await trio.sleep_forever()
        raise AssertionError

    monkeypatch.setattr(trio, "open_tcp_stream", hang)
    got = Collector()
    link = Link(OpenLink(4, "10.255.255.1", 6379, Channel.CMD, "master", "m"), got.feed, 2.0)
    t0 = trio.current_time()
    await link.run()
    assert got.events == [LinkDown(4, "connect timeout")]
    assert trio.current_time() - t0 == pytest.approx(2.0)


# --- scripts --------------------------------------------------------------------------------


def script(tmp_path: Path, name: str, body: str) -> str:
    p = tmp_path / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(0o755)
    return str(p)


async def test_scripts_exit_codes_kill_and_exec_failure(tmp_path: Path) -> None:
    got = Collector()
    runner = ScriptRunner(got.feed, lambda: 60_000)
    ok = script(tmp_path, "ok.sh", f'echo "$@" > {tmp_path}/args\nexit 3\n')
    slow = script(tmp_path, "slow.sh", "exec sleep 30\n")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner.run, 1, (ok, "+sdown", "master m 1.2.3.4 5"))
        await got.wait_for(lambda evs: any(isinstance(e, ScriptExited) for e in evs))
        nursery.start_soon(runner.run, 2, (slow,))
        await got.wait_for(lambda evs: any(isinstance(e, ScriptStarted) and e.job == 2 for e in evs))
        assert 2 in runner.running()
        runner.kill(2)
        await got.wait_for(lambda evs: any(isinstance(e, ScriptExited) and e.job == 2 for e in evs))
        nursery.start_soon(runner.run, 3, (str(tmp_path / "missing.sh"),))
        await got.wait_for(lambda evs: any(isinstance(e, ScriptExited) and e.job == 3 for e in evs))
    exits = {e.job: e for e in got.events if isinstance(e, ScriptExited)}
    assert exits[1] == ScriptExited(1, 3, 0)
    assert (tmp_path / "args").read_text() == "+sdown master m 1.2.3.4 5\n"
    assert exits[2] == ScriptExited(2, 0, 9)
    assert exits[3] == ScriptExited(3, 2, 0)
    started = [e for e in got.events if isinstance(e, ScriptStarted)]
    assert [e.job for e in started] == [1, 2] and all(e.pid > 0 for e in started)
    assert runner.running() == {}


async def test_scripts_hard_bound(tmp_path: Path) -> None:
    """A script outliving script-max-runtime + grace is killed even without a KillScript."""
    import sentinel.runtime.scripts as scripts_mod

    got = Collector()
    runner = ScriptRunner(got.feed, lambda: 100)
    old = scripts_mod.HARD_BOUND_GRACE
    scripts_mod.HARD_BOUND_GRACE = 0.1
    try:
        with trio.fail_after(10):
            await runner.run(1, (script(tmp_path, "slow.sh", "exec sleep 30\n"),))
    finally:
        scripts_mod.HARD_BOUND_GRACE = old
    assert got.events[-1] == ScriptExited(1, 0, 9)
