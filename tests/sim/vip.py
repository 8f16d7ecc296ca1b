"""Who holds the VIP: a model of issue 5's ownership rule, outside the core (for now).

Issue 5's rule: *a host holds the VIP only while its local server is the master of the highest
config epoch it knows AND it has heard from a majority of sentinels within T_lease; the new
master's host adds the VIP only once the old holder confirmed release or T_lease + margin passed
since the old holder was last heard from.*

Every host runs an agent (part of its sentinel process: a stopped sentinel's supervisor removes
the address, ExecStopPost). Its inputs are observable: its own core's view (master address and
config epoch of `mymaster`), its local server's role, and what it hears from the other hosts:
the core's command replies from peer sentinels, and the agents' **status datagrams** (every
200 ms and at once on a change: holding?, the sender's view), lost, duplicated and reordered by
the network, time-stamped at arrival by the kernel (SO_TIMESTAMP) so a stalled process cannot
take an old datagram for a fresh one.

(A) "its local server is the master of the highest config epoch it knows": the core's master
    address is our server and the server is alive and reports role master (and, in the
    agreement reading, no status received names a higher config epoch).

Two readings of the rest, both implemented (`rule=`):

* `"agreement"` (default). (B) "heard from a majority within T_lease": a majority of sentinels,
  ourselves included, *agree with our view*: each peer's latest status, received within
  T_lease, names our server at our config epoch. Acquire when (A) and (B) hold and either every
  other host confirmed it knows our config epoch (or a later one) and does not hold the VIP, or
  a majority has agreed with our view continuously for T_lease + margin. Safety: an older
  holder's majority and ours intersect in a sentinel `j`; `j` stopped agreeing with the old
  view before it started agreeing with ours, so the old lease ended at most T_lease (+ one
  datagram delay) after that, and we waited T_lease + margin after it.
* `"literal"`. (B) a peer counts when one of our core's commands to it got a reply within
  T_lease; acquire when (A) and (B) hold and every other host either sent a "not holding"
  status naming a config epoch >= ours, or was not heard from for T_lease + margin. The
  simulator finds two holders with this reading (tests/sim/test_findings.py): after a partition
  heals, the stale old master's host re-acquires with a confirmation sent before the failover
  and the timeout on the real holder; and a round trip says nothing about the peer's view.

`write_gate` is the server side (issue 5's self-fencing: a master "refuses writes when it has
not seen a majority of sentinels for T_lease"): with `gate="vip"` (default) a server accepts a
write only while its host holds the VIP; `gate="lease"` is the rule as written, (A) and (B)
only, which lets a just-promoted master accept writes during the hand-over while the old one
still may (also in test_findings.py).

Clock faults: leases are measured on each host's own clock; they are safe while drift and
forward jumps stay below `margin` (SimConfig.max_clock_jump).

**Seam.** `VipOwnership` is what the world calls. `LeaseVipModel` implements issue 5's rule from
the cores' observable state; `CoreVipOwnership` drives the rule the core now owns
(sentinel/core/ownership.py) by executing its actions (`SimConfig.vip="core"`); `World.make_vip`
chooses. The invariants only use `holds()` and `write_gate()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sentinel.core.actions import VipAcquire, VipAnnounce, VipRelease, VipRenew
from sentinel.core.events import VipDone, VipObserved
from sentinel.core.ownership import vip_status
from sentinel.core.replies import ErrorReply, Reply
from tests.sim.engine import MS

if TYPE_CHECKING:
    from tests.sim.server import Server
    from tests.sim.world import World

VipAction = VipAcquire | VipRenew | VipRelease | VipAnnounce

KERNEL_LAG_MAX = 40
"""How late the kernel drops an expired address (ms; measured 15-35)."""

MASTER_NAME = "mymaster"
STATUS_PERIOD = 200

View = tuple[tuple[str, int], int]
"""(master address, config epoch)."""


class VipOwnership(Protocol):
    """What the simulator needs from whoever decides VIP ownership."""

    def agent_start(self, host: str, now: int) -> None:
        """The host's sentinel (re)started at local ms `now` (Start was just fed)."""

    def agent_stop(self, host: str) -> None:
        """The host's sentinel stopped (crash, power loss)."""

    def heard_round_trip(self, host: str, peer: str, now: int) -> None:
        """`host`'s sentinel got a reply from the sentinel on `peer`."""

    def heard_any(self, host: str, peer: str, now: int) -> None:
        """`host`'s sentinel received something from `peer`."""

    def evaluate(self, host: str) -> None:
        """An evaluation point of `host`'s agent (its sentinel ran a tick)."""

    def holds(self, host: str) -> bool:
        """`host` holds the VIP right now."""

    def write_gate(self, server: Server) -> bool:
        """The lease lets `server` accept a write right now."""

    def execute(self, host: str, action: VipAction) -> None:
        """A VIP action of `host`'s core (only when the core owns the rule)."""

    def power(self, host: str, on: bool) -> None:
        """The host lost power or booted (the address does not survive either)."""


@dataclass(slots=True)
class Peer:
    """What an agent knows of another host."""

    last_rt: int | None = None
    """Local ms of the last reply from its sentinel (literal reading)."""
    last_any: int = 0
    """Local ms of the last thing heard from it."""
    view: View | None = None
    """Its view in its latest status."""
    view_at: int = 0
    """Local arrival ms of that status."""
    agree_since: int | None = None
    """Since when its statuses continuously named our view."""
    confirmed: int = -1
    """Highest config epoch it said it knows while not holding (and not being that master)."""


@dataclass(slots=True)
class Agent:
    """The VIP agent of one host."""

    running: bool = False
    acquired: bool = False
    peers: dict[str, Peer] = field(default_factory=dict)
    view: View | None = None
    view_since: int = 0
    max_seen: int = -1
    """Highest config epoch named by any status (A: the highest we know)."""
    last_status: int = -(10**9)


class LeaseVipModel:
    """Issue 5's rule (see the module docstring for both readings)."""

    def __init__(self, world: World, t_lease: int, margin: int, gate: str, rule: str) -> None:
        self.world = world
        self.t_lease = t_lease
        self.margin = margin
        self.gate = gate
        self.rule = rule
        self.agents: dict[str, Agent] = {h: Agent() for h in world.host_names}
        self.majority = len(world.host_names) // 2 + 1

    # --- inputs -------------------------------------------------------------------------------

    def agent_start(self, host: str, now: int) -> None:
        """Fresh agent: holds nothing, treats now as the last time it heard from everybody."""
        self.agents[host] = Agent(
            running=True,
            peers={k: Peer(last_any=now) for k in self.world.host_names if k != host},
            view_since=now,
        )

    def agent_stop(self, host: str) -> None:
        """The sentinel stopped: its supervisor removes the VIP."""
        ag = self.agents[host]
        if ag.acquired:
            self.world.trace(host, "VIP removed (sentinel stopped)")
        ag.running = False
        ag.acquired = False

    def heard_round_trip(self, host: str, peer: str, now: int) -> None:
        """A reply from the sentinel on `peer`."""
        p = self.agents[host].peers.get(peer)
        if p is not None:
            p.last_rt = now
            p.last_any = max(p.last_any, now)

    def heard_any(self, host: str, peer: str, now: int) -> None:
        """Anything from `peer`."""
        p = self.agents[host].peers.get(peer)
        if p is not None:
            p.last_any = max(p.last_any, now)

    def _status(self, host: str, sender: str, arrival: int, holding: bool, view: View | None) -> None:
        ag = self.agents[host]
        p = ag.peers.get(sender)
        if not ag.running or p is None:
            return
        at = self.world.hosts[host].clock.local(arrival) // MS
        p.last_any = max(p.last_any, at)
        if view is None:
            return
        if at >= p.view_at:
            if p.view != view or p.agree_since is None or at - p.view_at > self.t_lease:
                p.agree_since = at
            p.view, p.view_at = view, at
        sender_server = self.world.servers[sender].addr
        if view[1] > ag.max_seen:
            ag.max_seen = view[1]
        if not holding and view[0] != sender_server and view[1] > p.confirmed:
            p.confirmed = view[1]

    # --- the rule -----------------------------------------------------------------------------

    def _view(self, host: str) -> View | None:
        """Our core's view, if it names our server (alive, role master) at the highest known epoch."""
        proc = self.world.sentinels[host]
        core = proc.core
        if core is None or not proc.alive:
            return None
        m = core.world.masters.get(MASTER_NAME)
        srv = self.world.servers[host]
        if m is None or m.addr != srv.addr or not srv.alive or srv.role != "master":
            return None
        if self.rule == "agreement" and self.agents[host].max_seen > m.config_epoch:
            return None
        return m.addr, m.config_epoch

    def _track_view(self, host: str, now: int) -> View | None:
        ag = self.agents[host]
        v = self._view(host)
        if v != ag.view:
            ag.view, ag.view_since = v, now
        return v

    def _lease(self, host: str, view: View, now: int) -> bool:
        """(B)."""
        ag = self.agents[host]
        if self.rule == "literal":
            n = 1 + sum(
                1 for p in ag.peers.values() if p.last_rt is not None and now - p.last_rt <= self.t_lease
            )
        else:
            n = 1 + sum(1 for p in ag.peers.values() if p.view == view and now - p.view_at <= self.t_lease)
        return n >= self.majority

    def holds(self, host: str) -> bool:
        """Acquired, and (A) and (B) still hold (else it is released now)."""
        ag = self.agents[host]
        if not ag.acquired:
            return False
        now = self.world.local_ms(host)
        v = self._track_view(host, now)
        if v is not None and self._lease(host, v, now):
            return True
        ag.acquired = False
        self.world.trace(host, "VIP released")
        self._send_status(host)
        return False

    def write_gate(self, server: Server) -> bool:
        """Self-fencing of the server's host (see the module docstring)."""
        host = server.host
        if self.gate == "vip":
            return self.holds(host)
        if not self.agents[host].running:
            return False
        now = self.world.local_ms(host)
        v = self._track_view(host, now)
        return v is not None and self._lease(host, v, now)

    def evaluate(self, host: str) -> None:
        """Acquire when allowed; send the status when due or changed."""
        ag = self.agents[host]
        if not ag.running:
            return
        now = self.world.local_ms(host)
        before = ag.view
        if not self.holds(host):
            v = self._track_view(host, now)
            if v is not None and self._lease(host, v, now) and self._may_acquire(host, v, now):
                ag.acquired = True
                self.world.trace(host, f"VIP acquired (config epoch {v[1]})")
                self._send_status(host)
                self.world.after_core_change()
        else:
            self._track_view(host, now)
        if now - ag.last_status >= STATUS_PERIOD or ag.view != before:
            self._send_status(host)

    def _may_acquire(self, host: str, view: View, now: int) -> bool:
        """The hand-over condition."""
        ag = self.agents[host]
        wait = self.t_lease + self.margin
        epoch = view[1]
        if self.rule == "literal":
            return all(p.confirmed >= epoch or now - p.last_any >= wait for p in ag.peers.values())
        if all(p.confirmed >= epoch for p in ag.peers.values()):
            return True
        steady = 1 if now - ag.view_since >= wait else 0
        steady += sum(
            1
            for p in ag.peers.values()
            if p.view == view
            and now - p.view_at <= self.t_lease
            and p.agree_since is not None
            and now - p.agree_since >= wait
        )
        return steady >= self.majority

    def execute(self, host: str, action: VipAction) -> None:
        """Never called: without `sentinel vip` in its config the core emits no VIP action."""
        raise AssertionError(f"{host}: unexpected {action!r} (the core does not own the rule here)")

    def power(self, host: str, on: bool) -> None:
        """Nothing: the agent lives in the sentinel process (agent_stop covers power loss)."""

    def _send_status(self, host: str) -> None:
        ag = self.agents[host]
        ag.last_status = self.world.local_ms(host)
        core = self.world.sentinels[host].core
        m = core.world.masters.get(MASTER_NAME) if core is not None else None
        view: View | None = (m.addr, m.config_epoch) if m is not None else None
        holding = ag.acquired
        for k in self.world.host_names:
            if k != host:
                self.world.net.send_datagram(
                    host, k, self._status_fn(k, host, holding, view), self.world.sentinels[k]
                )

    def _status_fn(self, host: str, sender: str, holding: bool, view: View | None) -> Callable[[int], None]:
        return lambda arrival: self._status(host, sender, arrival, holding, view)


class CoreVipOwnership:
    """The core's own rule (sentinel/core/ownership.py, docs/vip.md): each core is configured
    with `sentinel vip`, the simulator executes its `VipAcquire` / `VipRelease` (the address
    flag of the host's interface, then `VipDone`), feeds `VipObserved` after every Start, and
    answers peers' `SENTINEL VIP-STATUS` from the target core (`status`); servers model the
    `CLIENT PAUSE ... WRITE` fence the core keeps on its local server.

    A host holds the VIP while the address is on its interface, its lifetime has not run out
    (the kernel drops it by itself, a little late, on the host's own clock) and its kernel runs:
    the address survives a sentinel crash or stall until its lifetime ends (the kernel keeps
    answering ARP for it), not a power loss; a paused VM (every process of the host stopped)
    answers nothing while paused. A renewal is executed like the runtime's: whole seconds from
    the moment of the call, skipped under one second, never re-adding an expired address. The
    core tracks leases and peers itself, so the agent hooks of the model are no-ops here."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.present: dict[str, bool] = {h: False for h in world.host_names}
        self.expires: dict[str, int | None] = {h: None for h in world.host_names}
        """Host-local ms at which the kernel has dropped the address (None: permanent)."""
        self.announces = 0
        self.renewals = 0

    def agent_start(self, host: str, now: int) -> None:
        """Tell the restarted core what the interface carries."""
        proc = self.world.sentinels[host]
        proc.feed(VipObserved(MASTER_NAME, self.present[host]))

    def agent_stop(self, host: str) -> None:
        """The address stays on the interface when the sentinel dies."""

    def heard_round_trip(self, host: str, peer: str, now: int) -> None:
        """The core tracks replies itself."""

    def heard_any(self, host: str, peer: str, now: int) -> None:
        """The core tracks what it hears itself."""

    def evaluate(self, host: str) -> None:
        """The core evaluates at the end of every step itself."""

    def execute(self, host: str, action: VipAction) -> None:
        """Add or remove the address (at once), answer VipDone after the netlink call."""
        if isinstance(action, VipAnnounce):
            self.announces += 1
            return
        now = self.world.local_ms(host)
        if isinstance(action, VipRenew):
            seconds = (action.expires - now) // 1000
            if seconds < 1:
                return
            if not self._present(host):
                proc = self.world.sentinels[host]
                inc = proc.incarnation

                def observed() -> None:
                    if proc.alive and proc.incarnation == inc:
                        proc.run(lambda: proc.feed(VipObserved(action.master, False)))

                self.world.sched.after(0, observed)
                return
            self.renewals += 1
            self.expires[host] = self._expiry(host, now, seconds)
            return
        acquire = isinstance(action, VipAcquire)
        self.present[host] = acquire
        if isinstance(action, VipAcquire):
            seconds = None if action.expires is None else max(1, (action.expires - now) // 1000)
            self.expires[host] = None if seconds is None else self._expiry(host, now, seconds)
        self.world.trace(host, f"VIP {'added' if acquire else 'removed'} by the core")
        proc = self.world.sentinels[host]
        inc = proc.incarnation
        op = "acquire" if acquire else "release"

        def done() -> None:
            if proc.alive and proc.incarnation == inc:
                proc.run(lambda: proc.feed(VipDone(action.master, op, True)))

        self.world.sched.after(self.world.rng.randrange(200, 3000), done)
        self.world.after_core_change()

    def power(self, host: str, on: bool) -> None:
        """The address is in the kernel's memory: gone with the power."""
        self.present[host] = False
        self.expires[host] = None

    def _expiry(self, host: str, now: int, seconds: int) -> int | None:
        if not self.world.cfg.vip_lifetimes:
            return None
        expiry = now + seconds * 1000 + self.world.rng.randrange(KERNEL_LAG_MAX + 1)
        # A check when it runs out, so the invariants see the moment the address goes.
        self.world.sched.at(self.world.real_at(host, expiry * MS), self.world.after_core_change)
        return expiry

    def _present(self, host: str) -> bool:
        """The address is on the interface (its lifetime not run out), whatever the host's state."""
        exp = self.expires[host]
        if self.present[host] and exp is not None and self.world.local_ms(host) >= exp:
            self.present[host], self.expires[host] = False, None
            self.world.trace(host, "VIP lifetime ran out: the kernel dropped it")
        return self.present[host]

    def holds(self, host: str) -> bool:
        """The address is on the interface of a running host."""
        h = self.world.hosts[host]
        return self._present(host) and h.up and not h.vm_paused

    def write_gate(self, server: Server) -> bool:
        """Clients reach a server through the VIP (the fence itself is the server's pause)."""
        return self.holds(server.host)

    def status(self, host: str, name: str) -> Reply:
        """`SENTINEL VIP-STATUS <name>` answered by `host`'s core, flattened into pairs."""
        core = self.world.sentinels[host].core
        if core is None:
            return ErrorReply("ERR No such master with that name")
        st = vip_status(core.world, name, self.world.local_ms(host))
        return st if isinstance(st, ErrorReply) else [x for kv in st for x in kv]
