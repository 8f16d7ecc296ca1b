"""A thin test driver around one SentinelCore: tracks link ids and unanswered commands by label.

Tests speak in instance names ("mymaster", "10.0.0.2:6379", a runid) and command names; the
driver finds the link ids and tags. It also checks the persist-first rule on every step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sentinel.core import (
    Action,
    Channel,
    CloseLink,
    CommandReply,
    LinkDown,
    LinkUp,
    OpenLink,
    PersistState,
    Publish,
    ReplyTo,
    SendCommand,
    SentinelCore,
    SentinelState,
    Start,
    Tick,
    Timers,
    parse_config,
)
from sentinel.core.events import Event, HelloReceived
from sentinel.core.hello import format_hello
from sentinel.core.model import Master, World
from sentinel.core.replies import Reply, Status

MYID = "a" * 40
PEER1 = "b" * 40
PEER2 = "c" * 40

BASE_CONF = """
port 26379
sentinel myid {myid}
sentinel monitor mymaster 10.0.0.1 6379 {quorum}
sentinel down-after-milliseconds mymaster {down_after}
sentinel failover-timeout mymaster {failover_timeout}
sentinel parallel-syncs mymaster {parallel_syncs}
"""


def conf(
    quorum: int = 2,
    down_after: int = 5000,
    failover_timeout: int = 60000,
    parallel_syncs: int = 1,
    extra: str = "",
    myid: str = MYID,
) -> str:
    """A sentinel.conf for master `mymaster` at 10.0.0.1:6379."""
    return (
        BASE_CONF.format(
            myid=myid,
            quorum=quorum,
            down_after=down_after,
            failover_timeout=failover_timeout,
            parallel_syncs=parallel_syncs,
        )
        + extra
    )


def master_info(replicas: list[tuple[str, int, int]] | None = None, run_id: str = "m" * 40) -> str:
    """INFO of a master with replicas (ip, port, offset)."""
    replicas = replicas or []
    lines = [
        "# Server",
        f"run_id:{run_id}",
        "",
        "# Replication",
        "role:master",
        f"connected_slaves:{len(replicas)}",
    ]
    for i, (ip, port, off) in enumerate(replicas):
        lines.append(f"slave{i}:ip={ip},port={port},state=online,offset={off},lag=0")
    return "\r\n".join(lines) + "\r\n"


def replica_info(
    master_host: str = "10.0.0.1",
    master_port: int = 6379,
    link_up: bool = True,
    offset: int = 100,
    priority: int = 100,
    run_id: str | None = None,
    down_since: int | None = None,
    announced: bool = True,
    role: str = "slave",
) -> str:
    """INFO of a replica (or, with role='master', of a promoted one)."""
    lines = ["# Server"]
    if run_id:
        lines.append(f"run_id:{run_id}")
    lines += ["", "# Replication", f"role:{role}"]
    if role == "slave":
        lines += [
            f"master_host:{master_host}",
            f"master_port:{master_port}",
            f"master_link_status:{'up' if link_up else 'down'}",
            f"slave_repl_offset:{offset}",
        ]
        if down_since is not None:
            lines.append(f"master_link_down_since_seconds:{down_since}")
        lines += [f"slave_priority:{priority}", f"replica_announced:{1 if announced else 0}"]
    else:
        lines.append("connected_slaves:0")
    return "\r\n".join(lines) + "\r\n"


@dataclass
class Sent:
    """A command the core sent and the test has not answered yet."""

    label: str
    channel: Channel
    cmd: SendCommand


@dataclass
class Driver:
    """Drives one core; `now` only moves forward."""

    core: SentinelCore
    now: int = 0
    link_label: dict[int, tuple[str, Channel]] = field(default_factory=dict)
    open: dict[tuple[str, Channel], int] = field(default_factory=dict)
    outbox: list[Sent] = field(default_factory=list)
    log: list[Action] = field(default_factory=list)
    """Every action since Start."""
    persisted: list[str] = field(default_factory=list)
    replies: dict[int, Reply] = field(default_factory=dict)
    last: list[Action] = field(default_factory=list)
    dead: set[str] = field(default_factory=set)
    """Labels whose commands `settle` leaves unanswered (a hung or dead instance)."""
    infos: dict[str, str] = field(default_factory=dict)
    """The INFO text `settle` answers with, per label."""
    auto_detach: bool = True
    """A live replica (not in `dead`, with an INFO text in `infos`) answers the transaction that
    repoints it before a promotion (sentinel/core/detach.py: MULTI ... INFO EXEC) in the same
    step, as the real one would within a round trip: EXEC returns the INFO text. False: the test
    answers it."""

    @classmethod
    def create(
        cls,
        text: str | None = None,
        seed: int = 1,
        state: SentinelState | None = None,
        timers: Timers | None = None,
        start: int = 0,
    ) -> Driver:
        """Parse `text` (default `conf()`), build the core and feed Start at `start`."""
        core = SentinelCore(
            parse_config(text if text is not None else conf()), state, random.Random(seed), timers
        )
        d = cls(core, now=start)
        d.step(Start())
        return d

    # --- stepping ---------------------------------------------------------------------------

    def step(self, ev: Event, at: int | None = None) -> list[Action]:
        """Feed one event (optionally at time `at`) and absorb the actions."""
        if at is not None:
            assert at >= self.now
            self.now = at
        actions = self.core.step(self.now, ev)
        persists = [i for i, a in enumerate(actions) if isinstance(a, PersistState)]
        assert persists in ([], [0]), f"PersistState must be first and unique: {actions}"
        for a in actions:
            if isinstance(a, PersistState):
                SentinelState.from_json(a.state)  # always loadable
                self.persisted.append(a.state)
            elif isinstance(a, OpenLink):
                self.link_label[a.link] = (a.label, a.channel)
                self.open[(a.label, a.channel)] = a.link
            elif isinstance(a, CloseLink):
                self._drop(a.link)
            elif isinstance(a, SendCommand):
                label, channel = self.link_label[a.link]
                self.outbox.append(Sent(label, channel, a))
            elif isinstance(a, ReplyTo):
                self.replies[a.request] = a.reply
        self.log += actions
        if self.auto_detach:
            actions = actions + self._answer_detach()
        self.last = actions
        return actions

    def _answer_detach(self) -> list[Action]:
        out: list[Action] = []
        for s in list(self.outbox):
            if s not in self.outbox or s.cmd.argv[0].upper() != "EXEC" or s.label in self.dead:
                continue
            txn = [x for x in self.outbox if x.label == s.label and x.channel is s.channel]
            names = [x.cmd.argv[0].upper() for x in txn]
            end = txn.index(s)
            start = max((i for i in range(end) if names[i] == "MULTI"), default=-1)
            if start < 0 or "INFO" not in names[start:end] or s.label not in self.infos:
                continue
            for x in txn[start : end + 1]:
                self.outbox.remove(x)
            for x in txn[start:end]:
                ok = Status("OK" if x.cmd.argv[0].upper() == "MULTI" else "QUEUED")
                out += self.step(CommandReply(x.cmd.tag, ok))
            exec_reply: Reply = [Status("OK"), Status("OK"), 0, 0, self.infos[s.label]]
            out += self.step(CommandReply(s.cmd.tag, exec_reply))
        return out

    def _drop(self, link: int) -> None:
        key = self.link_label.get(link)
        if key is not None and self.open.get(key) == link:
            del self.open[key]
        self.outbox = [s for s in self.outbox if s.cmd.link != link]

    def tick(self, at: int | None = None) -> list[Action]:
        """A Tick at `at` (default: now)."""
        return self.step(Tick(), at)

    def advance(self, ms: int, every: int = 100, settle: bool = True) -> list[Action]:
        """Tick every `every` ms for `ms` ms (settling routine commands after each tick)."""
        out: list[Action] = []
        end = self.now + ms
        while self.now < end:
            out += self.tick(min(self.now + every, end))
            if settle:
                mark = len(self.log)
                self.settle()
                out += self.log[mark:]
        return out

    # --- links ------------------------------------------------------------------------------

    def link(self, label: str, channel: Channel = Channel.CMD) -> int:
        """The open link id for an instance label."""
        return self.open[(label, channel)]

    def up(self, label: str, local_ip: str = "10.0.1.1") -> list[Action]:
        """LinkUp for every open link of `label` (cc then pc)."""
        out: list[Action] = []
        for channel in (Channel.CMD, Channel.PUBSUB):
            if (label, channel) in self.open:
                out += self.step(LinkUp(self.open[(label, channel)], local_ip))
        return out

    def down(self, label: str, channel: Channel = Channel.CMD) -> list[Action]:
        """LinkDown for one link of `label`."""
        link = self.open.pop((label, channel))
        self.outbox = [s for s in self.outbox if s.cmd.link != link]
        return self.step(LinkDown(link, "test"))

    # --- commands ---------------------------------------------------------------------------

    def pending(self, label: str, name: str | None = None) -> list[SendCommand]:
        """Unanswered commands to `label` (optionally only those whose argv[0] is `name`)."""
        return [
            s.cmd
            for s in self.outbox
            if s.label == label and (name is None or s.cmd.argv[0].upper() == name.upper())
        ]

    def answer(self, label: str, name: str, reply: Reply, which: int = 0) -> list[Action]:
        """Answer the `which`-th unanswered `name` command sent to `label`."""
        matches = [s for s in self.outbox if s.label == label and s.cmd.argv[0].upper() == name.upper()]
        assert matches, (
            f"no pending {name} to {label}; outbox: {[(s.label, s.cmd.argv) for s in self.outbox]}"
        )
        s = matches[which]
        self.outbox.remove(s)
        return self.step(CommandReply(s.cmd.tag, reply))

    def answer_all(self, label: str, name: str, reply: Reply) -> list[Action]:
        """Answer the `name` commands to `label` unanswered now (not those sent meanwhile)."""
        out: list[Action] = []
        for cmd in self.pending(label, name):
            self.outbox = [s for s in self.outbox if s.cmd is not cmd]
            out += self.step(CommandReply(cmd.tag, reply))
        return out

    def settle(self) -> None:
        """Answer the routine commands of live instances (not in `dead`): PING +PONG,
        PUBLISH :1, SUBSCRIBE, INFO with the last text given for that label (`infos`), the
        rest +OK. SENTINEL commands, and INFO without a known text, are left to the test."""

        def routine(s: Sent) -> bool:
            name = s.cmd.argv[0].upper()
            if s.label in self.dead or name == "SENTINEL":
                return False
            return name != "INFO" or s.label in self.infos

        while True:
            todo = [s for s in self.outbox if routine(s)]
            if not todo:
                return
            s = todo[0]
            self.outbox.remove(s)
            name = s.cmd.argv[0].upper()
            reply: Reply
            if name == "INFO":
                reply = self.infos[s.label]
            elif name == "PING":
                reply = Status("PONG")
            elif name == "PUBLISH":
                reply = 1
            elif name == "SUBSCRIBE":
                reply = ["subscribe", s.cmd.argv[1], 1]
            else:
                reply = Status("OK")
            self.step(CommandReply(s.cmd.tag, reply))

    def pong(self, label: str) -> list[Action]:
        """Answer every pending PING of `label` with +PONG."""
        return self.answer_all(label, "PING", Status("PONG"))

    def info(self, label: str, text: str) -> list[Action]:
        """Answer every pending INFO of `label` with `text` (and use it for later INFOs)."""
        self.infos[label] = text
        return self.answer_all(label, "INFO", text)

    # --- observations -----------------------------------------------------------------------

    @staticmethod
    def events(actions: list[Action]) -> list[tuple[str, str]]:
        """(event, payload) of every Publish."""
        return [(a.event, a.payload) for a in actions if isinstance(a, Publish)]

    @staticmethod
    def names(actions: list[Action]) -> list[str]:
        """Event names of every Publish."""
        return [a.event for a in actions if isinstance(a, Publish)]

    def all_events(self) -> list[tuple[str, str]]:
        """Every Publish since the start."""
        return self.events(self.log)

    @property
    def world(self) -> World:
        """The core's world."""
        return self.core.world

    @property
    def master(self) -> Master:
        """The master `mymaster`."""
        return self.core.world.masters["mymaster"]


R1 = ("10.0.0.2", 6379)
R2 = ("10.0.0.3", 6379)
R1N = "10.0.0.2:6379"
R2N = "10.0.0.3:6379"


def peer_hello(
    runid: str, ip: str, epoch: int = 0, config_epoch: int = 0, master: tuple[str, int] = ("10.0.0.1", 6379)
) -> str:
    """A hello payload from a peer sentinel at ip:26379."""
    return format_hello(ip, 26379, runid, epoch, "mymaster", master[0], master[1], config_epoch)


def healthy(
    d: Driver,
    offsets: tuple[int, ...] = (100, 100),
    peers: tuple[str, ...] = (PEER1, PEER2),
    priorities: tuple[int, ...] = (100, 100),
) -> Driver:
    """Bring `d` to steady state: master up with replicas R1/R2 (given offsets), peers known and up."""
    addrs = [R1, R2][: len(offsets)]
    d.up("mymaster")
    d.settle()
    d.info("mymaster", master_info([(h, p, o) for (h, p), o in zip(addrs, offsets, strict=True)]))
    for i, runid in enumerate(peers):
        d.step(HelloReceived(peer_hello(runid, f"10.0.1.{i + 2}")))
    d.tick(d.now + 100)
    for (h, p), off, prio in zip(addrs, offsets, priorities, strict=True):
        name = f"{h}:{p}"
        d.up(name)
        d.settle()
        d.info(name, replica_info(offset=off, priority=prio, run_id=f"{name[-6]}" * 40))
    for runid in peers:
        d.up(runid)
    d.settle()
    return d
