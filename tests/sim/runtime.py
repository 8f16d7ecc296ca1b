"""The sentinel process of one host: the real `SentinelCore` driven the way the Trio runtime
drives it (docs/sentinel-runtime.md), over the simulated network, disk and clock.

* One event at a time; a due Tick goes first; `now` is the host's clock in ms.
* `PersistState` is written atomically with a small latency: the process is blocked meanwhile
  and executes `actions[1:]` only once the write is durable. A crash before that leaves the
  previous file and executes nothing (what makes persist-before-act observable).
* `OpenLink` connects with a 2 s timeout, then `LinkUp(link, host ip)` or `LinkDown`; replies
  are matched to tags in order; on a pub/sub link `["message", ch, payload]` becomes
  `PubSubMessage`. A connection that ends feeds `LinkDown`; `CloseLink` reports nothing.
* The API side (peers connect to our port 26379): PING, AUTH, CLIENT, `PUBLISH
  __sentinel__:hello` (answered `:1` at once, fed as `HelloReceived`), `SENTINEL
  is-master-down-by-addr` (fed as `IsMasterDownRequest`, answered by the core's `ReplyTo`) and
  `SENTINEL VIP-STATUS` (answered from the core's state between steps, when it owns the VIP).
  Commands of one connection are served in order, one at a time, as the API's per-client task.
* Scripts: `RunScript` starts a hook process on the host (`Hooks`), which outlives a crash of
  the sentinel; its exit comes back as `ScriptExited` to the incarnation that started it.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sentinel.core import (
    Channel,
    CloseLink,
    CommandReply,
    Crash,
    HelloReceived,
    IsMasterDownRequest,
    KillScript,
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
    Timers,
    parse_config,
)
from sentinel.core.actions import Action, VipAcquire, VipAnnounce, VipRelease, VipRenew
from sentinel.core.events import Event
from sentinel.core.replies import ErrorReply, Reply, Status
from tests.sim.engine import MS, Conn, Network, Process

if TYPE_CHECKING:
    from tests.sim.world import World

SENTINEL_PORT = 26379
CONNECT_TIMEOUT = 2000
"""ms, as the Trio runtime."""
HELLO_CHANNEL = "__sentinel__:hello"
MASTER_NAME = "mymaster"
HOOK_PATH = "/sim/client-reconfig-hook"


@dataclass(slots=True)
class OutLink:
    """A link the core opened."""

    channel: Channel
    peer: str
    target_host: str | None
    conn: Conn | None = None
    cancel: Callable[[], None] | None = None
    tags: deque[int] = field(default_factory=deque)


@dataclass(slots=True)
class ApiClient:
    """A peer's connection to our API port."""

    conn: Conn
    queue: deque[tuple[str, ...]] = field(default_factory=deque)
    waiting: int | None = None


class SentinelProc(Process):
    """The sentinel process of host `host`."""

    def __init__(self, world: World, net: Network, host: str, ip: str, conf: str, timers: Timers) -> None:
        super().__init__(net, host, f"sentinel@{host}")
        self.world = world
        self.ip = ip
        self.conf = conf
        self.base_timers = timers
        self.core: SentinelCore | None = None
        self.durable: str | None = None
        """The state file's content (what survives a crash)."""
        self.links: dict[int, OutLink] = {}
        self.conn_link: dict[int, int] = {}
        self.api: dict[int, ApiClient] = {}
        self.requests: dict[int, ApiClient] = {}
        self.next_request = 1
        self.events: deque[Event] = deque()
        self.tick_due = False
        self.last_tick = 0
        self.next_tick = 0
        self.busy = False
        self.executing = False
        self.steps = 0
        net.listen(self, ip, SENTINEL_PORT)

    # --- lifecycle ----------------------------------------------------------------------------

    def boot(self) -> None:
        """Start (or restart) from the state file."""
        self.start_process()
        self.links.clear()
        self.conn_link.clear()
        self.api.clear()
        self.requests.clear()
        self.events.clear()
        self.busy = self.executing = self.tick_due = False
        state = SentinelState.from_json(self.durable) if self.durable else None
        self.world.checks.on_boot(self, state)
        self.core = SentinelCore(
            parse_config(self.conf),
            state,
            random.Random(self.world.rng.getrandbits(64)),
            replace(self.base_timers),
        )
        now = self.now()
        self.last_tick = now
        self.next_tick = -1  # no timer of this incarnation is pending yet
        self.world.trace(self.host, f"sentinel boot (epoch {state.current_epoch if state else 0})")
        self.feed(Start())
        self.world.vip.agent_start(self.host, now)
        self._reschedule_tick()

    def crash(self, fin: bool = True) -> None:
        """The process dies: links reset, pending writes lost, the VIP dropped (vip.py)."""
        if not self.alive:
            return
        self.world.trace(self.host, "sentinel crash")
        for sl in self.links.values():
            if sl.cancel is not None:
                sl.cancel()
        self.core = None
        self.die(fin)
        self.links.clear()
        self.conn_link.clear()
        self.api.clear()
        self.requests.clear()
        self.events.clear()
        self.busy = self.executing = False
        self.world.vip.agent_stop(self.host)
        self.world.after_core_change()

    def now(self) -> int:
        """Local ms."""
        return self.world.local_ms(self.host)

    # --- the loop -----------------------------------------------------------------------------

    def feed(self, ev: Event) -> None:
        """Queue an event and run what can run."""
        self.events.append(ev)
        self.pump()

    def pump(self) -> None:
        """Step the core while it can: not frozen, not inside a step, not waiting for a write."""
        while self.alive and not self.frozen and not self.busy and not self.executing:
            if self.tick_due:
                self.tick_due = False
                self.last_tick = self.now()
                self._step(Tick())
            elif self.events:
                self._step(self.events.popleft())
            else:
                return

    def _reschedule_tick(self) -> None:
        core = self.core
        if core is None:
            return
        want = self.last_tick + core.next_tick_in()
        if want == self.next_tick and not self.tick_due:
            return
        self.next_tick = want
        inc = self.incarnation

        def fire() -> None:
            if self.alive and self.incarnation == inc:
                self.run(self._tick_timer)

        self.world.sched.at(self.world.real_at(self.host, want * MS), fire)

    def _tick_timer(self) -> None:
        if self.now() >= self.next_tick:
            self.tick_due = True
            self.pump()

    def on_thaw(self) -> None:
        """Resumed: an overdue tick goes first (a long stall shows as a late tick: TILT)."""
        if self.now() >= self.next_tick:
            self.tick_due = True
        self.inbox.appendleft(self.pump)

    def _step(self, ev: Event) -> None:
        core = self.core
        assert core is not None
        self.executing = True
        actions = core.step(self.now(), ev)
        self.steps += 1
        self.world.checks.after_step(self, ev, actions)
        if actions and isinstance(actions[0], PersistState):
            self.busy = True
            state = actions[0].state
            rest = actions[1:]
            inc = self.incarnation

            def written() -> None:
                if not self.alive or self.incarnation != inc:
                    return  # crashed before the rename: the old file stays, nothing else happens
                self.durable = state
                self.world.checks.on_durable(self, state)
                self.run(lambda: self._after_write(rest, inc))

            self.world.sched.after(self.world.rng.randrange(100, 3000), written)
            self.executing = False
        else:
            self._execute(actions)
            self.executing = False
            self._reschedule_tick()
        if isinstance(ev, Tick):
            self.world.vip.evaluate(self.host)
        self.world.after_core_change()

    def _after_write(self, rest: list[Action], inc: int) -> None:
        if not self.alive or self.incarnation != inc:
            return
        self.busy = False
        self.executing = True
        self._execute(rest)
        self.executing = False
        self._reschedule_tick()
        self.world.after_core_change()
        self.pump()

    # --- actions ------------------------------------------------------------------------------

    def _execute(self, actions: list[Action]) -> None:
        for a in actions:
            if not self.alive:
                return
            if isinstance(a, SendCommand):
                self._send(a)
            elif isinstance(a, Publish):
                self.world.on_sentinel_event(self, a.event, a.payload)
            elif isinstance(a, OpenLink):
                self._open(a)
            elif isinstance(a, CloseLink):
                sl = self.links.pop(a.link, None)
                if sl is not None:
                    if sl.conn is not None:
                        self.conn_link.pop(sl.conn.id, None)
                        sl.conn.close(self)
                    elif sl.cancel is not None:
                        sl.cancel()
            elif isinstance(a, ReplyTo):
                self._reply(a.request, a.reply)
            elif isinstance(a, RunScript):
                self.world.hosts[self.host].hooks.run(self, a.job, a.argv)
            elif isinstance(a, KillScript):
                self.world.hosts[self.host].hooks.kill(self, a.job)
            elif isinstance(a, (VipAcquire, VipRenew, VipRelease, VipAnnounce)):
                self.world.vip.execute(self.host, a)
            elif isinstance(a, Crash):
                self.world.trace(self.host, f"SIMULATE-FAILURE crash {a.code}")
                self.crash()
                self.world.hosts[self.host].supervise_sentinel()
                return
            elif isinstance(a, PersistState):
                raise AssertionError("PersistState after the first action")

    def _open(self, a: OpenLink) -> None:
        target = self.net.ips.get(a.host)
        sl = OutLink(a.channel, a.peer, target)
        self.links[a.link] = sl
        link = a.link

        def up(conn: Conn) -> None:
            if self.links.get(link) is not sl:
                conn.close(self)
                return
            sl.conn = conn
            sl.cancel = None
            self.conn_link[conn.id] = link
            self.feed(LinkUp(link, self.ip))

        def fail(reason: str) -> None:
            if self.links.get(link) is sl:
                del self.links[link]
                self.feed(LinkDown(link, reason))

        sl.cancel = self.net.connect(self, a.host, a.port, "sentinel", CONNECT_TIMEOUT * MS, up, fail)

    def _send(self, a: SendCommand) -> None:
        sl = self.links.get(a.link)
        if sl is None or sl.conn is None or not sl.conn.open[sl.conn.side_of(self)]:
            return  # the link ended: its LinkDown is already queued
        self.world.checks.on_send(self, a.argv)
        sl.tags.append(a.tag)
        sl.conn.send(self, ("CMD", a.argv))

    def _reply(self, request: int, reply: Reply) -> None:
        client = self.requests.pop(request, None)
        self.world.checks.on_reply(self, reply)
        if client is None:
            return
        client.waiting = None
        client.conn.send(self, ("R", reply))
        self._serve(client)

    # --- network ------------------------------------------------------------------------------

    def accept(self, conn: Conn, port: int) -> bool:
        """A peer (or anyone) connects to our API port."""
        if not self.alive:
            return False
        self.api[conn.id] = ApiClient(conn)
        return True

    def on_message(self, conn: Conn, msg: Any) -> None:
        """A reply on one of our links, or a command to our API."""
        link = self.conn_link.get(conn.id)
        if link is not None:
            sl = self.links.get(link)
            if sl is None or sl.conn is not conn:
                return
            reply = msg[1]
            if (
                sl.channel is Channel.PUBSUB
                and isinstance(reply, list)
                and len(reply) == 3
                and reply[0] == "message"
            ):
                self.feed(PubSubMessage(link, reply[1], reply[2]))
                return
            if not sl.tags:
                return
            tag = sl.tags.popleft()
            if sl.peer == "sentinel" and sl.target_host is not None:
                self.world.vip.heard_round_trip(self.host, sl.target_host, self.now())
            self.feed(CommandReply(tag, reply))
            return
        client = self.api.get(conn.id)
        if client is not None and msg[0] == "CMD":
            client.queue.append(msg[1])
            self._serve(client)

    def _serve(self, client: ApiClient) -> None:
        """Serve a peer's commands in order; a SENTINEL request waits for the core's ReplyTo."""
        while client.waiting is None and client.queue and self.alive:
            argv = client.queue.popleft()
            name = argv[0].upper()
            reply: Reply
            if name == "PING":
                reply = Status("PONG")
            elif name in ("AUTH", "CLIENT"):
                reply = Status("OK")
            elif name == "PUBLISH" and len(argv) == 3:
                if argv[1] != HELLO_CHANNEL:
                    reply = ErrorReply("ERR Only HELLO messages are accepted by Sentinel instances.")
                else:
                    reply = 1
                    self.world.vip.heard_any(self.host, client.conn.peer(self).host, self.now())
                    client.conn.send(self, ("R", reply))
                    self.feed(HelloReceived(argv[2]))
                    continue
            elif name == "SENTINEL" and len(argv) == 3 and argv[1].upper() == "VIP-STATUS":
                reply = self.world.vip_status(self.host, argv[2])
            elif name == "SENTINEL" and len(argv) == 6 and argv[1].lower() == "is-master-down-by-addr":
                req = self.next_request
                self.next_request += 1
                client.waiting = req
                self.requests[req] = client
                self.feed(IsMasterDownRequest(req, argv[2], int(argv[3]), int(argv[4]), argv[5]))
                continue
            else:
                reply = ErrorReply(f"ERR unknown command '{argv[0]}'")
            client.conn.send(self, ("R", reply))

    def on_closed(self, conn: Conn, reason: str) -> None:
        """A link's connection ended (LinkDown), or a peer left our API."""
        link = self.conn_link.pop(conn.id, None)
        if link is not None:
            sl = self.links.get(link)
            if sl is not None and sl.conn is conn:
                del self.links[link]
                self.feed(LinkDown(link, reason))
            return
        client = self.api.pop(conn.id, None)
        if client is not None:
            for req, c in list(self.requests.items()):
                if c is client:
                    del self.requests[req]
        conn.close(self)

    # --- scripts ------------------------------------------------------------------------------

    def script_started(self, inc: int, job: int, pid: int) -> None:
        """Feed ScriptStarted to the incarnation that ran the script."""
        if self.alive and self.incarnation == inc:
            self.run(lambda: self.feed(ScriptStarted(job, pid)))

    def script_exited(self, inc: int, job: int, code: int, signal: int) -> None:
        """Feed ScriptExited to the incarnation that ran the script."""
        if self.alive and self.incarnation == inc:
            self.run(lambda: self.feed(ScriptExited(job, code, signal)))


@dataclass(slots=True)
class HookJob:
    """One client-reconfig hook process."""

    owner: int
    """Incarnation of the sentinel that started it."""
    job: int
    pid: int
    argv: tuple[str, ...]
    started: int
    holds_lock: bool = False
    done: bool = False


class Hooks:
    """client-reconfig hook processes of one host, serialized by a host lock (as vip-reconfig's
    flock): a hook waits up to `lock_wait` for the lock, else exits 1 (the core retries it)."""

    def __init__(self, world: World, host: str, lock: bool, work: tuple[int, int]) -> None:
        self.world = world
        self.host = host
        self.lock = lock
        self.work = work
        """False removes the lock (a planted bug for the overlap invariant)."""
        self.lock_wait = 3000
        self.holder: HookJob | None = None
        self.jobs: list[HookJob] = []
        self.next_pid = 1000

    def run(self, proc: SentinelProc, job: int, argv: tuple[str, ...]) -> None:
        """RunScript: fork, report the pid, then try the lock and work."""
        self.next_pid += 1
        h = HookJob(proc.incarnation, job, self.next_pid, argv, self.world.sched.now)
        self.jobs.append(h)
        rng = self.world.rng
        self.world.sched.after(rng.randrange(200, 2000), lambda: self._forked(proc, h))

    def _forked(self, proc: SentinelProc, h: HookJob) -> None:
        proc.script_started(h.owner, h.job, h.pid)
        self._try_lock(proc, h)

    def _try_lock(self, proc: SentinelProc, h: HookJob) -> None:
        if h.done:
            return
        if self.lock and self.holder is not None:
            if self.world.sched.now - h.started > self.lock_wait * MS:
                self._exit(proc, h, 1, 0)
            else:
                self.world.sched.after(50 * MS, lambda: self._try_lock(proc, h))
            return
        h.holds_lock = True
        if self.lock:
            self.holder = h
        self.world.checks.hook_enter(self.host, h)
        rng = self.world.rng
        hangs = rng.random() < 0.04  # then the core kills it (script-max-runtime)
        work = rng.randrange(5000, 8000) if hangs else rng.randrange(*self.work)
        code = 1 if rng.random() < 0.1 else 0
        self.world.sched.after(work * MS, lambda: self._exit(proc, h, code, 0))

    def _exit(self, proc: SentinelProc, h: HookJob, code: int, signal: int) -> None:
        if h.done:
            return
        h.done = True
        if h.holds_lock:
            self.world.checks.hook_leave(self.host, h)
            if self.holder is h:
                self.holder = None
        self.jobs.remove(h)
        proc.script_exited(h.owner, h.job, code, signal)

    def power_off(self) -> None:
        """The host lost power: every hook process is gone (nobody hears of it)."""
        for h in list(self.jobs):
            h.done = True
            if h.holds_lock:
                self.world.checks.hook_leave(self.host, h)
        self.jobs.clear()
        self.holder = None

    def kill(self, proc: SentinelProc, job: int) -> None:
        """KillScript: SIGKILL (the lock goes with the process)."""
        for h in self.jobs:
            if h.owner == proc.incarnation and h.job == job:
                self.world.sched.after(100, self._kill_fn(proc, h))

    def _kill_fn(self, proc: SentinelProc, h: HookJob) -> Callable[[], None]:
        return lambda: self._exit(proc, h, 0, 9)
