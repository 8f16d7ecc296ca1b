"""A small deterministic harness: N sentinel cores + simulated Redis instances, in memory.

Every action is executed synchronously (zero latency): commands to instances are answered
from a tiny model of Redis replication, commands to another sentinel become that core's events
(HelloReceived, IsMasterDownRequest) and its ReplyTo comes back as the asker's CommandReply.
Ticks are staggered per core and follow `next_tick_in()` (asked again after every event, as the
runtime does). Faults: kill/restart an instance,
freeze one (SIGSTOP), cut the network between two nodes, crash/restart a sentinel from its
persisted state. After every step the harness checks: PersistState first, at most one leader
per epoch.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass, field

from sentinel.core import (
    Action,
    Channel,
    CloseLink,
    CommandReply,
    Crash,
    HelloReceived,
    IsMasterDownRequest,
    LinkDown,
    LinkUp,
    OpenLink,
    PersistState,
    Publish,
    PubSubMessage,
    ReplyTo,
    RunScript,
    ScriptExited,
    ScriptStarted,
    SendCommand,
    SentinelCore,
    SentinelState,
    Start,
    Tick,
    parse_config,
)
from sentinel.core.events import Event
from sentinel.core.replies import Reply, Status

Addr = tuple[str, int]
MASTER_NAME = "mymaster"


@dataclass
class FakeRedis:
    """Just enough of a Redis server for a sentinel: role, replication, pub/sub, SLAVEOF."""

    host: str
    port: int
    runid: str
    role: str = "master"
    master: Addr | None = None
    offset: int = 0
    priority: int = 100
    alive: bool = True
    frozen: bool = False
    link_down_since: int | None = None
    subscribers: set[tuple[int, int]] = field(default_factory=set)

    @property
    def addr(self) -> Addr:
        """(host, port)."""
        return self.host, self.port


@dataclass
class LinkInfo:
    """One connection opened by a core."""

    core: int
    target: Addr
    sentinel: int | None
    channel: Channel


class Cluster:
    """N cores monitoring one master with replicas."""

    def __init__(
        self,
        n: int = 3,
        replicas: int = 2,
        quorum: int = 2,
        down_after: int = 1000,
        failover_timeout: int = 10000,
        parallel_syncs: int = 1,
        offsets: tuple[int, ...] | None = None,
        priorities: tuple[int, ...] | None = None,
        seed: int = 0,
        latency: int = 0,
    ) -> None:
        self.now = 0
        self.latency = latency
        self.net = random.Random(seed)
        self.delayed: list[tuple[int, int, int, Event]] = []
        self.last_delivery = [0] * n
        self.seq = 0
        self.seed = seed
        self.n = n
        self.instances: dict[Addr, FakeRedis] = {}
        master = FakeRedis("10.0.0.1", 6379, "1" * 40, offset=1000)
        self.instances[master.addr] = master
        for k in range(replicas):
            r = FakeRedis(f"10.0.0.{k + 2}", 6379, str(k + 2) * 40, role="slave", master=master.addr)
            r.offset = offsets[k] if offsets else 1000
            r.priority = priorities[k] if priorities else 100
            self.instances[r.addr] = r
        self.frozen_offsets = offsets is not None
        self.confs = [
            f"port 26379\nsentinel myid {chr(ord('a') + i) * 40}\n"
            f"sentinel monitor {MASTER_NAME} 10.0.0.1 6379 {quorum}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {down_after}\n"
            f"sentinel failover-timeout {MASTER_NAME} {failover_timeout}\n"
            f"sentinel parallel-syncs {MASTER_NAME} {parallel_syncs}\n"
            for i in range(n)
        ]
        self.cores: list[SentinelCore | None] = [None] * n
        self.states: list[str | None] = [None] * n
        self.events: list[list[tuple[int, str, str]]] = [[] for _ in range(n)]
        self.links: dict[tuple[int, int], LinkInfo] = {}
        self.requests: dict[int, tuple[int, int]] = {}
        self.next_request = 1
        self.queue: deque[tuple[int, Event]] = deque()
        self.next_tick = [13 * i % 100 + 1 for i in range(n)]
        self.cuts: set[frozenset[str]] = set()
        self.leaders: dict[int, set[int]] = {}
        self.steps = 0
        for i in range(n):
            self.start_core(i)

    # --- addressing ---------------------------------------------------------------------------

    @staticmethod
    def sentinel_addr(i: int) -> Addr:
        """Where core i listens."""
        return f"10.0.1.{i + 1}", 26379

    def node(self, addr: Addr) -> str:
        """Network node name of an address (host)."""
        return addr[0]

    def reachable(self, a: str, b: str) -> bool:
        """Not cut apart."""
        return frozenset((a, b)) not in self.cuts

    def core_node(self, i: int) -> str:
        """Network node of core i."""
        return self.sentinel_addr(i)[0]

    # --- faults -------------------------------------------------------------------------------

    def cut(self, a: str, b: str) -> None:
        """Drop all traffic between nodes a and b (existing links go silent)."""
        self.cuts.add(frozenset((a, b)))

    def heal(self) -> None:
        """Remove every cut."""
        self.cuts.clear()

    def kill(self, addr: Addr) -> None:
        """Kill an instance: its connections reset at once."""
        inst = self.instances[addr]
        inst.alive = False
        inst.subscribers.clear()
        for key, li in list(self.links.items()):
            if li.target == addr and li.sentinel is None:
                del self.links[key]
                self.post((li.core, LinkDown(key[1], "reset")))
        self.pump()

    def freeze(self, addr: Addr, frozen: bool = True) -> None:
        """SIGSTOP (or SIGCONT) an instance: connections stay open, nothing is answered."""
        self.instances[addr].frozen = frozen

    def restart(self, addr: Addr) -> None:
        """Bring a killed instance back with the role and data it had."""
        self.instances[addr].alive = True

    def start_core(self, i: int) -> None:
        """(Re)create core i from its persisted state and Start it."""
        stored = self.states[i]
        state = SentinelState.from_json(stored) if stored else None
        core = SentinelCore(parse_config(self.confs[i]), state, random.Random(self.seed * 1000 + i))
        self.cores[i] = core
        self.deliver(i, Start())

    def crash_core(self, i: int) -> None:
        """Core i dies: its links and peers' links to it reset."""
        self.cores[i] = None
        for key, li in list(self.links.items()):
            if li.core == i or li.sentinel == i:
                del self.links[key]
                if li.core != i:
                    self.post((li.core, LinkDown(key[1], "reset")))
        for inst in self.instances.values():
            inst.subscribers = {s for s in inst.subscribers if s[0] != i}
        self.pump()

    def write(self, n: int = 10) -> None:
        """Writes on the current master(s) advance their offset."""
        for inst in self.instances.values():
            if inst.alive and inst.role == "master":
                inst.offset += n

    # --- running ------------------------------------------------------------------------------

    def post(self, item: tuple[int, Event]) -> None:
        """Queue an event for a core: at once, or (with `latency`) after a random delay that
        keeps each core's events in order."""
        if not self.latency:
            self.queue.append(item)
            return
        i, ev = item
        at = max(self.now + self.net.randint(0, self.latency), self.last_delivery[i])
        self.last_delivery[i] = at
        self.seq += 1
        heapq.heappush(self.delayed, (at, self.seq, i, ev))

    def deliver(self, i: int, ev: Event) -> None:
        """Process an event for core i now, then everything it causes that is due."""
        self.queue.append((i, ev))
        self.pump()

    def pump(self) -> None:
        """Process queued events (and delayed ones that are due) until none is left."""
        while True:
            while self.delayed and self.delayed[0][0] <= self.now:
                _, _, i, ev = heapq.heappop(self.delayed)
                self.queue.append((i, ev))
            if not self.queue:
                return
            while self.queue:
                i, ev = self.queue.popleft()
                core = self.cores[i]
                if core is None:
                    continue
                actions = core.step(self.now, ev)
                self.steps += 1
                # as the runtime: an event may bring the next tick forward (candidacy, polls)
                self.next_tick[i] = min(self.next_tick[i], self.now + core.next_tick_in())
                self.apply(i, actions)
                self.check(i, core)

    def run(self, ms: int) -> None:
        """Advance simulated time by `ms`, ticking every core on its own schedule."""
        end = self.now + ms
        while True:
            live = [i for i in range(self.n) if self.cores[i] is not None]
            if not live:
                self.now = end
                return
            t = min(self.next_tick[i] for i in live)
            if self.delayed and self.delayed[0][0] < t:
                self.now = max(self.now, self.delayed[0][0])
                if self.now > end:
                    self.now = end
                    return
                self.pump()
                continue
            if t > end:
                self.now = end
                return
            self.now = t
            self.replicate()
            for i in live:
                if self.next_tick[i] == t:
                    core = self.cores[i]
                    assert core is not None
                    self.next_tick[i] = t + core.next_tick_in()
                    self.deliver(i, Tick())

    def run_until(self, pred: object, limit: int = 60000, step: int = 100) -> int:
        """Run until `pred()` holds (checked every `step` ms); returns the elapsed ms."""
        assert callable(pred)
        start = self.now
        while not pred():
            assert self.now - start < limit, f"condition not reached within {limit} ms"
            self.run(step)
        return self.now - start

    # --- invariants ---------------------------------------------------------------------------

    def check(self, i: int, core: SentinelCore) -> None:
        """Leaders per epoch are recorded as they are elected (see `apply`)."""
        for epoch, who in self.leaders.items():
            assert len(who) <= 1, f"two leaders in epoch {epoch}: {who}"

    # --- executing actions --------------------------------------------------------------------

    def apply(self, i: int, actions: list[Action]) -> None:
        """Execute core i's actions in order."""
        for k, a in enumerate(actions):
            if isinstance(a, PersistState):
                assert k == 0, "PersistState must come first"
                self.states[i] = a.state
            elif isinstance(a, OpenLink):
                self.open_link(i, a)
            elif isinstance(a, CloseLink):
                self.close_link(i, a.link)
            elif isinstance(a, SendCommand):
                self.command(i, a)
            elif isinstance(a, Publish):
                self.events[i].append((self.now, a.event, a.payload))
                if a.event == "+elected-leader":
                    core = self.cores[i]
                    assert core is not None
                    epoch = core.world.masters[MASTER_NAME].failover_epoch
                    self.leaders.setdefault(epoch, set()).add(i)
            elif isinstance(a, RunScript):
                self.post((i, ScriptStarted(a.job, 1000 + a.job)))
                self.post((i, ScriptExited(a.job, 0)))
            elif isinstance(a, ReplyTo):
                asker = self.requests.pop(a.request, None)
                if asker is not None:
                    self.post((asker[0], CommandReply(asker[1], a.reply)))
            elif isinstance(a, Crash):
                self.crash_core(i)
                return

    def open_link(self, i: int, a: OpenLink) -> None:
        target = (a.host, a.port)
        sentinel = next((j for j in range(self.n) if self.sentinel_addr(j) == target), None)
        if sentinel is not None:
            ok = self.cores[sentinel] is not None
        else:
            inst = self.instances.get(target)
            ok = inst is not None and inst.alive
        if ok and self.reachable(self.core_node(i), self.node(target)):
            self.links[(i, a.link)] = LinkInfo(i, target, sentinel, a.channel)
            self.post((i, LinkUp(a.link, self.core_node(i))))
        else:
            self.post((i, LinkDown(a.link, "connect failed")))

    def close_link(self, i: int, link: int) -> None:
        li = self.links.pop((i, link), None)
        if li is not None and li.sentinel is None:
            self.instances[li.target].subscribers.discard((i, link))

    def command(self, i: int, a: SendCommand) -> None:
        li = self.links.get((i, a.link))
        if li is None or not self.reachable(self.core_node(i), self.node(li.target)):
            return  # black hole
        if li.sentinel is not None:
            self.sentinel_command(i, li.sentinel, a)
            return
        inst = self.instances[li.target]
        if not inst.alive or inst.frozen:
            return
        reply = self.instance_command(i, a.link, li, inst, a.argv)
        self.post((i, CommandReply(a.tag, reply)))

    def sentinel_command(self, i: int, j: int, a: SendCommand) -> None:
        name = a.argv[0].upper()
        if name == "PUBLISH":
            self.post((j, HelloReceived(a.argv[2])))
            self.post((i, CommandReply(a.tag, 1)))
        elif name == "SENTINEL":
            req = self.next_request
            self.next_request += 1
            self.requests[req] = (i, a.tag)
            _, _, ip, port, epoch, runid = a.argv
            self.post((j, IsMasterDownRequest(req, ip, int(port), int(epoch), runid)))
        else:
            self.post((i, CommandReply(a.tag, Status("PONG" if name == "PING" else "OK"))))

    def instance_command(
        self, i: int, link: int, li: LinkInfo, inst: FakeRedis, argv: tuple[str, ...]
    ) -> Reply:
        name = argv[0].upper()
        if name == "PING":
            return Status("PONG")
        if name == "INFO":
            return self.info(inst)
        if name == "SUBSCRIBE":
            inst.subscribers.add((i, link))
            return ["subscribe", argv[1], 1]
        if name == "PUBLISH":
            for core, lid in sorted(inst.subscribers):
                if self.reachable(self.core_node(core), inst.host):
                    self.post((core, PubSubMessage(lid, argv[1], argv[2])))
            return len(inst.subscribers)
        if name == "SLAVEOF":
            if argv[1].upper() == "NO":
                inst.role, inst.master = "master", None
            else:
                inst.role, inst.master = "slave", (argv[1], int(argv[2]))
            return Status("QUEUED")
        if name == "CLIENT" and argv[1].upper() == "KILL":
            kill_pubsub = argv[3] == "pubsub"
            for key, other in list(self.links.items()):
                if other.target != inst.addr or other.sentinel is not None or key == (i, link):
                    continue
                if (other.channel is Channel.PUBSUB) == kill_pubsub:
                    del self.links[key]
                    inst.subscribers.discard(key)
                    self.post((key[0], LinkDown(key[1], "killed")))
            return Status("QUEUED")
        if name == "EXEC":
            return [Status("OK")] * 5
        return Status("OK")

    def replicate(self) -> None:
        """Replicas with a working link catch up with their master instantly."""
        for inst in self.instances.values():
            up = self.link_up(inst)
            if up:
                assert inst.master is not None
                if not self.frozen_offsets:
                    inst.offset = self.instances[inst.master].offset
                inst.link_down_since = None
            elif inst.role == "slave" and inst.link_down_since is None:
                inst.link_down_since = self.now

    def link_up(self, inst: FakeRedis) -> bool:
        """A replica's replication link works."""
        if inst.role != "slave" or inst.master is None or not inst.alive:
            return False
        m = self.instances.get(inst.master)
        return (
            m is not None
            and m.alive
            and not m.frozen
            and m.role == "master"
            and self.reachable(inst.host, m.host)
        )

    def info(self, inst: FakeRedis) -> str:
        """INFO text as Redis 7 prints the parts a sentinel reads."""
        lines = ["# Server", f"run_id:{inst.runid}", "", "# Replication", f"role:{inst.role}"]
        if inst.role == "slave":
            assert inst.master is not None
            up = self.link_up(inst)
            lines += [
                f"master_host:{inst.master[0]}",
                f"master_port:{inst.master[1]}",
                f"master_link_status:{'up' if up else 'down'}",
                f"slave_repl_offset:{inst.offset}",
            ]
            if not up:
                since = inst.link_down_since if inst.link_down_since is not None else self.now
                lines.append(f"master_link_down_since_seconds:{(self.now - since) // 1000}")
            lines += [f"slave_priority:{inst.priority}", "replica_announced:1"]
        replicas = [
            r for r in self.instances.values() if r.alive and r.master == inst.addr and self.link_up(r)
        ]
        lines.append(f"connected_slaves:{len(replicas)}")
        for k, r in enumerate(replicas):
            lines.append(f"slave{k}:ip={r.host},port={r.port},state=online,offset={r.offset},lag=0")
        lines.append(f"master_repl_offset:{inst.offset}")
        return "\r\n".join(lines) + "\r\n"

    # --- observations -------------------------------------------------------------------------

    def core(self, i: int) -> SentinelCore:
        """Core i (must be running)."""
        c = self.cores[i]
        assert c is not None
        return c

    def master_addr(self, i: int) -> Addr:
        """The master address core i believes in."""
        return self.core(i).world.masters[MASTER_NAME].addr

    def config_epoch(self, i: int) -> int:
        """Core i's config epoch for the master."""
        return self.core(i).world.masters[MASTER_NAME].config_epoch

    def names(self, i: int) -> list[str]:
        """Event names published by core i, in order."""
        return [e for _, e, _ in self.events[i]]

    def agreed(self) -> bool:
        """Every running core believes in the same master and config epoch, none failing over."""
        live = [i for i in range(self.n) if self.cores[i] is not None]
        views = {(self.master_addr(i), self.config_epoch(i)) for i in live}
        busy = any(self.core(i).world.masters[MASTER_NAME].in_failover for i in live)
        return len(views) == 1 and not busy

    def masters(self) -> list[Addr]:
        """Instances that are alive and act as master."""
        return [a for a, inst in self.instances.items() if inst.alive and inst.role == "master"]
