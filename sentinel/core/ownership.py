"""VIP ownership, the lease and self-fencing: who may hold the virtual IP (ours, sans-IO).

For every master with `sentinel vip`, at the end of every step (`evaluate_all`):

* **lease**: we heard from a majority of the sentinel set within T_lease. "Heard" means a reply
  arrived on our own command link to that sentinel (`Peer.last_reply_time`: PING, VIP-STATUS,
  anything); we count ourselves. The set is the known peers of the master plus us, or
  `vip-sentinels` if that is larger (so a sentinel that has not discovered its peers yet has no
  majority). The lease runs until the (majority-1)-th most recent peer reply + T_lease; we act
  `lead` ms before that (lead = min(100, T_lease / 10)) so the release and the fence are in
  place by then.
* **entitled** = lease AND our local server (`vip-local-server`) is the master of the highest
  config epoch we know (the master's current address).
* **the address**: held while entitled. It is *added* only when, in addition, every known peer
  is clear:
    - it answered `SENTINEL VIP-STATUS` saying it does not hold the VIP and knows a config epoch
      >= ours (it can never take it back for an older epoch: epochs only grow), or it has no VIP
      configured for this master;
    - or nothing was heard from it for T_lease + margin (its own lease has lapsed by then if it
      was cut off from us and the majority, so it has released);
    - or it is a stock sentinel (it answers VIP-STATUS with an error) and T_lease + margin
      have passed since we became entitled (it cannot confirm anything: fall back to the wait).
  Lost entitlement: the VIP is released at once (no lease, or another master).
* **the fence**: while our local server may accept writes (our view says it is the master, or
  it is a replica whose last INFO did not say `role:slave`) and we are not entitled, we keep
  `CLIENT PAUSE <fence> WRITE` on it, renewed every fence / 4; `CLIENT UNPAUSE` lifts it. A pause
  holds writes (the client waits) instead of failing them; what happens to them is decided by
  how the fence ends: demotion (CLIENT KILL + SLAVEOF by the sentinels: they never run) or us
  becoming entitled again (they run on the rightful master). If the sentinel dies while fencing,
  the pause outlives it by up to `fence` ms: the safe direction (see docs/vip.md).
* **startup**: for `startup_ms` (min(T_lease, 3 s)) after Start, a missing lease (links opening)
  does not remove a VIP found on the interface, so restarting the sentinel of a healthy master
  does not blink the VIP. The fence does not wait: writes are paused until the sentinel is
  entitled (a round trip or two), since the server may be a stale master nobody watched.
  Losing entitlement for another reason acts at once.

* **the address's lifetime**: the kernel itself drops the address when our lease would no
  longer cover it, even if this process is frozen (SIGSTOP, a stalled VM thread, swap) or
  killed without its supervisor's clean-up: every address we add carries a lifetime (whole
  seconds, the kernel's unit), renewed as the lease moves on (`VipRenew`), ending no later than
  `address_deadline` = lease end + margin - (one heartbeat + a round trip + the kernel's lag):
  before a successor's T_lease + margin wait can end (docs/vip.md, "The address lifetime").
  If T_lease + margin is too short for a whole second to fit, addresses are permanent (shown in
  VIP-STATUS as `address-lifetime off`).

Heartbeats: VIP-STATUS to every peer every T_lease / 4 (stock peers: PING), and every
POLL_PERIOD to the peers we are waiting for. The runtime executes `VipAcquire` / `VipRelease` in
order and answers `VipDone`; it feeds `VipObserved` with what the interface really carries right
after Start and whenever a periodic check finds a difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sentinel.core.actions import Channel, Level, VipAcquire, VipAnnounce, VipRelease, VipRenew
from sentinel.core.config import VipSettings
from sentinel.core.info import Role
from sentinel.core.links import event, open_link, send, send_cmd, send_ping
from sentinel.core.model import Ctx, Instance, Master, Peer, Purpose, Replica, World, new_replica
from sentinel.core.replies import ErrorReply, Reply
from sentinel.core.timers import MAX_PENDING_COMMANDS

POLL_PERIOD = 10
"""VIP-STATUS cadence to a peer whose release we are waiting for (ms)."""
FENCE_RECONNECT = 100
"""While a fence is wanted and the local server's link is down, reconnect this often (ms; the
general throttle is a ping period): a restarted server comes back without its pause."""
RETRY_DELAY = 1_000
"""After a failed acquire or release, the next attempt waits this long (ms)."""
DEFAULT_FENCE = 60_000
"""CLIENT PAUSE duration of the fence when `vip-fence-ms` is not set (renewed every quarter)."""
STATUS_COMMAND = "VIP-STATUS"
ROUND_TRIP = 50
"""Budget for a reply's delivery, in the address deadline (ms)."""
KERNEL_LAG = 100
"""How late the kernel may drop an expired address (measured: 15-35 ms; its check runs on a
timer rounded to the second, and at every address change) plus the gap between the core's
decision and the netlink call (ms)."""
SECOND = 1000
"""The kernel's unit for address lifetimes (ms)."""


class AddrState(StrEnum):
    """Where the VIP is on this host, as far as the core knows."""

    UNKNOWN = "unknown"
    """Not observed yet (reported as held: never let a peer take it on a guess)."""
    ABSENT = "absent"
    ACQUIRING = "acquiring"
    HELD = "held"
    RELEASING = "releasing"


@dataclass(slots=True)
class PeerVip:
    """What one peer told us about its VIP (its `SENTINEL VIP-STATUS` reply)."""

    known: bool = False
    """It answered VIP-STATUS at least once (one of ours)."""
    stock: bool = False
    """It answered VIP-STATUS with an unknown-command error (a stock sentinel)."""
    unmanaged: bool = False
    """One of ours without a VIP for this master: it never holds it."""
    held: bool = True
    epoch: int = 0
    local: str = ""
    reply_time: int | None = None
    answered: int | None = None
    """When the request the latest reply answers was sent (replies come in order on a link): a
    reply counts as fresh for a decision only if its request left after that decision's start."""
    sent_at: int | None = None
    inflight: list[int] = field(default_factory=list)
    """Send times of the requests not answered yet, oldest first."""
    link: int | None = None
    """The link the outstanding requests went on (a new link forgets them)."""
    silent: bool = False
    """Nothing heard for T_lease: its next reply is a rejoin (re-announce our VIP)."""
    ages: dict[str, int] | None = None
    """Its latest reply's `peer-ages`: per peer runid, how long (ms, its clock) since it last
    heard that peer. None: the reply had no such field (a version before it)."""


@dataclass(slots=True)
class Ownership:
    """The VIP state of one master on this host."""

    vip: str
    iface: str
    started: int
    addr: AddrState = AddrState.UNKNOWN
    inflight: list[str] = field(default_factory=list)
    """Operations asked of the runtime and not answered yet, in order."""
    retry_at: int = 0
    last_error: str = ""
    changed_at: int = 0
    lease: bool = False
    lease_until: int | None = None
    """None: no lease possible (too few sentinels heard); see `lease_forever`."""
    lease_forever: bool = False
    heard: int = 1
    need: int = 1
    total: int = 1
    lease_since: int | None = None
    """When the lease was (re)gained; None without a lease."""
    current: bool = False
    """A majority answered VIP-STATUS after `lease_since` and nobody knows a newer config epoch:
    our view of who the master is can be trusted (see `_current`)."""
    entitled: bool = False
    entitled_since: int | None = None
    waiting: tuple[str, ...] = ()
    local_master_epoch: int | None = None
    """The latest config epoch at which our view had our local server as the master."""
    fence_want: bool | None = None
    """True: fenced (or to be), False: lifted, None: unknown (just started)."""
    fence_link: int | None = None
    fence_sent: int | None = None
    fence_error: str = ""
    expires: int | None = None
    """When the kernel drops the address unless renewed (our estimate, core ms); None: permanent,
    or not set by us yet (an address found at start)."""
    peers: dict[str, PeerVip] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        """What we tell peers: anything but a verified absence counts as held."""
        return self.addr is not AddrState.ABSENT or bool(self.inflight)


# --- settings --------------------------------------------------------------------------------


def lease_ms(m: Master, cfg: VipSettings) -> int:
    """T_lease: `vip-lease-ms`, default the master's down-after-milliseconds."""
    return cfg.lease or m.down_after


def margin_ms(m: Master, cfg: VipSettings) -> int:
    """The extra wait past T_lease for a silent holder: `vip-lease-margin-ms`, default
    max(500, T_lease / 10) (clock rate error, scheduling and the release itself)."""
    return cfg.margin or max(500, lease_ms(m, cfg) // 10)


def fence_ms(cfg: VipSettings) -> int:
    """Duration of each CLIENT PAUSE of the fence."""
    return cfg.fence or DEFAULT_FENCE


def lead_ms(lease: int) -> int:
    """How long before the lease runs out we release and fence: min(250, T_lease / 5). It covers
    a late tick and the delivery of the CLIENT PAUSE, so the fence is in force by the deadline."""
    return min(250, lease // 5)


def address_deadline(m: Master, cfg: VipSettings, until: int) -> int:
    """The latest moment the kernel may still carry the address, for a lease that ends at
    `until`. A successor acquires no earlier than T_lease + margin after it last heard us; our
    lease may rest on a reply up to one heartbeat (VIP-STATUS every T_lease / 4, PING every
    second) and a round trip younger than that, and the kernel drops an expired address a little
    late."""
    lease = lease_ms(m, cfg)
    return until + margin_ms(m, cfg) - min(heartbeat_ms(lease), SECOND) - ROUND_TRIP - KERNEL_LAG


def lifetimes_possible(m: Master, cfg: VipSettings) -> bool:
    """Whether a whole second fits between a fresh lease and its address deadline (else the
    address is permanent: the kernel cannot count less than a second)."""
    return address_deadline(m, cfg, lease_ms(m, cfg)) >= SECOND


def renew_step(lease: int) -> int:
    """Renew the lifetime when it would move on by at least this much (ms)."""
    return min(heartbeat_ms(lease), SECOND) // 2


def startup_ms(lease: int) -> int:
    """After Start, how long a missing lease changes nothing (a VIP found stays, no fence is
    added): min(T_lease, 3 s). Links and the first answers take milliseconds, or about a second
    on a loaded host; the sentinel was not managing anything while it was down anyway."""
    return min(lease, 3000)


def heartbeat_ms(lease: int) -> int:
    """VIP-STATUS cadence to every peer."""
    return max(10, lease // 4)


# --- events from the runtime -----------------------------------------------------------------


def on_observed(w: World, ctx: Ctx, name: str, present: bool) -> None:
    """The runtime read the interface: adopt what it carries (unless an operation is running)."""
    o = w.ownership.get(name)
    if o is None:
        m = w.masters.get(name)
        if m is None or m.settings.vip is None:
            return
        o = _ownership(w, ctx, m, m.settings.vip)
    if o.inflight or o.addr in (AddrState.ACQUIRING, AddrState.RELEASING):
        return
    was = o.addr
    now_state = AddrState.HELD if present else AddrState.ABSENT
    if was is now_state:
        return
    o.addr, o.changed_at = now_state, ctx.now
    m = w.masters.get(name)
    if m is not None and was is not AddrState.UNKNOWN:
        event(
            w, ctx, Level.WARNING, "-vip-changed", m, m, f" vip {o.vip} dev {o.iface} found {now_state.value}"
        )


def on_done(w: World, ctx: Ctx, name: str, op: str, ok: bool, error: str) -> None:
    """A VipAcquire / VipRelease finished."""
    o = w.ownership.get(name)
    if o is None:
        return
    if op in o.inflight:
        o.inflight.remove(op)
    m = w.masters.get(name)
    if not ok:
        o.last_error = f"{op}: {error}"
        o.retry_at = ctx.now + RETRY_DELAY
        if m is not None:
            event(w, ctx, Level.WARNING, "-vip-error", m, m, f" {op} {error}")
        if op == "acquire" and o.addr is AddrState.ACQUIRING:
            _release(w, ctx, m, o, "acquire-failed")  # the address may be half there: make sure
        elif op == "release" and not o.inflight:
            o.addr, o.changed_at = AddrState.UNKNOWN, ctx.now  # maybe still there: held for peers
        return
    o.last_error = ""
    if o.inflight:
        return  # a later operation decides the state
    if op == "acquire" and o.addr is AddrState.ACQUIRING:
        o.addr, o.changed_at = AddrState.HELD, ctx.now
        if m is not None:
            event(w, ctx, Level.WARNING, "+vip-acquired", m, m, f" vip {o.vip} dev {o.iface}")
    elif op == "release" and o.addr is AddrState.RELEASING:
        o.addr, o.changed_at = AddrState.ABSENT, ctx.now
        if m is not None:
            event(w, ctx, Level.WARNING, "+vip-released", m, m, f" vip {o.vip} dev {o.iface}")
        else:
            del w.ownership[name]  # the master (or its VIP) is gone and so is the address


def on_status_reply(w: World, ctx: Ctx, peer: Peer, m: Master, reply: Reply) -> None:
    """A peer answered our SENTINEL VIP-STATUS."""
    o = w.ownership.get(m.name)
    if o is None or peer.runid is None:
        return
    v = o.peers.setdefault(peer.runid, PeerVip())
    v.answered = v.inflight.pop(0) if v.inflight and v.link == peer.cc.id else None
    v.reply_time = ctx.now
    if isinstance(reply, ErrorReply):
        text = reply.text.lower()
        if "no vip" in text:
            v.unmanaged, v.known, v.held = True, True, False
        else:
            v.stock = True  # unknown subcommand: a stock sentinel
        return
    fields = _pairs(reply)
    if fields is None or "held" not in fields:
        return
    v.known, v.stock, v.unmanaged = True, False, False
    v.held = fields.get("held") != "0"
    try:
        v.epoch = int(fields.get("config-epoch", "0"))
    except ValueError:
        v.epoch = 0
    v.local = fields.get("local-server", "")
    v.ages = _ages(fields["peer-ages"]) if "peer-ages" in fields else None


def _ages(text: str) -> dict[str, int]:
    """`runid:ms,runid:ms` (entries that do not parse are left out: not reported)."""
    out: dict[str, int] = {}
    for item in text.split(","):
        runid, sep, ms = item.partition(":")
        if sep and runid and ms.isdigit():
            out[runid] = int(ms)
    return out


def on_peer_reply(w: World, ctx: Ctx, peer: Peer, m: Master) -> None:
    """Any reply from a peer: it is heard now; a rejoin after a silence re-announces our VIP."""
    peer.last_reply_time = ctx.now
    o = w.ownership.get(m.name)
    if o is None or peer.runid is None:
        return
    v = o.peers.setdefault(peer.runid, PeerVip())
    if v.silent:
        v.silent = False
        if o.addr is AddrState.HELD and m.settings.vip is not None:
            ctx.emit(VipAnnounce(m.name, o.vip, o.iface))


def on_fence_reply(w: World, ctx: Ctx, m: Master, reply: Reply) -> None:
    """The local server answered CLIENT PAUSE / UNPAUSE."""
    o = w.ownership.get(m.name)
    if o is None:
        return
    if isinstance(reply, ErrorReply):
        if o.fence_error != reply.text:
            event(w, ctx, Level.WARNING, "-vip-fence-error", m, m, f" {reply.text}")
        o.fence_error = reply.text
    else:
        o.fence_error = ""


def _pairs(reply: Reply) -> dict[str, str] | None:
    if not isinstance(reply, list) or len(reply) % 2:
        return None
    out: dict[str, str] = {}
    for k, v in zip(reply[::2], reply[1::2], strict=True):
        if isinstance(k, str) and isinstance(v, str):
            out[k] = v
    return out


# --- the decision ----------------------------------------------------------------------------


def _ownership(w: World, ctx: Ctx, m: Master, cfg: VipSettings) -> Ownership:
    o = w.ownership.get(m.name)
    if o is None:
        o = Ownership(vip=cfg.address, iface=cfg.iface, started=w.started_at, changed_at=ctx.now)
        w.ownership[m.name] = o
    return o


def evaluate_all(w: World, ctx: Ctx) -> None:
    """Run the ownership rule for every master with a VIP (and release VIPs whose master went)."""
    for name, o in list(w.ownership.items()):
        m = w.masters.get(name)
        if m is None or m.settings.vip is None:
            if o.addr is AddrState.ABSENT and not o.inflight:
                del w.ownership[name]
            elif o.addr is not AddrState.RELEASING and ctx.now >= o.retry_at:
                _release(w, ctx, m, o, "no-vip-configured")
    for m in w.masters.values():
        if m.settings.vip is not None:
            evaluate(w, ctx, m, m.settings.vip)


def lease_state(m: Master, cfg: VipSettings) -> tuple[int | None, bool, int, int, int]:
    """(until, forever, heard, need, total): until when the lease holds, from peer replies."""
    lease = lease_ms(m, cfg)
    total = max(cfg.sentinels, len(m.peers) + 1)
    need = total // 2 + 1
    heard = sorted(
        (p.last_reply_time for p in m.peers.values() if p.last_reply_time is not None), reverse=True
    )
    if need <= 1:
        return None, True, 1 + len(heard), need, total
    if len(heard) < need - 1:
        return None, False, 1 + len(heard), need, total
    return heard[need - 2] + lease, False, 1 + len(heard), need, total


def evaluate(w: World, ctx: Ctx, m: Master, cfg: VipSettings) -> None:
    """The ownership rule for one master (module docstring)."""
    now = ctx.now
    o = _ownership(w, ctx, m, cfg)
    lease_len = lease_ms(m, cfg)
    margin = margin_ms(m, cfg)
    until, forever, heard, need, total = lease_state(m, cfg)
    o.lease_until, o.lease_forever, o.heard, o.need, o.total = until, forever, heard, need, total
    lease = forever or (until is not None and now < until - lead_ms(lease_len))
    if lease != o.lease:
        o.lease = lease
        o.lease_since = now if lease else None
        if lease:
            event(w, ctx, Level.NOTICE, "+vip-lease", m, m, f" heard {heard}/{total}")
            if o.addr is AddrState.HELD:
                ctx.emit(VipAnnounce(m.name, o.vip, o.iface))
        elif now >= o.started + startup_ms(lease_len):
            event(w, ctx, Level.WARNING, "-vip-lease", m, m, f" heard {heard}/{total} need {need}")
    local_is_master = cfg.is_local(m.host, m.port)
    current, behind = _current(o, m, need, forever)
    if current != o.current:
        o.current = current
        if not current and lease and local_is_master and behind:
            event(w, ctx, Level.WARNING, "-vip-stale", m, m, " a peer knows a newer config epoch")
    entitled = lease and local_is_master and current
    # Right after Start the links are still opening: for startup_ms, a missing lease (or
    # missing answers) changes nothing while our view says the master is ours.
    startup = not entitled and not behind and now < o.started + startup_ms(lease_len)
    if entitled != o.entitled:
        o.entitled = entitled
        o.entitled_since = now if entitled else None
    for p in m.peers.values():
        if p.runid is None:
            continue
        v = o.peers.setdefault(p.runid, PeerVip())
        last = p.last_reply_time
        if last is not None and now - last > lease_len:
            v.silent = True
    waiting = _waiting(o, m, now, lease_len + margin) if entitled and o.addr is not AddrState.HELD else ()
    if waiting != o.waiting:
        o.waiting = waiting
        if waiting:
            event(w, ctx, Level.NOTICE, "+vip-wait", m, m, " for " + ",".join(r[:8] for r in waiting))
    urgent = set(waiting)
    if waiting:  # fresh peer-ages from everyone, to rule out a lease a silent peer gets elsewhere
        urgent |= {p.runid for p in m.peers.values() if p.runid is not None}
    if lease and not current and o.lease_since is not None:
        urgent |= {
            p.runid
            for p in m.peers.values()
            if p.runid is not None and not _fresh(o.peers.get(p.runid), p, o.lease_since)
        }
    _heartbeats(w, ctx, m, o, lease_len, urgent)
    _address(w, ctx, m, cfg, o, entitled, startup, local_is_master)
    _lifetime(ctx, m, cfg, o)
    _fence(w, ctx, m, cfg, o, entitled, local_is_master)


def _fresh(v: PeerVip | None, p: Peer, since: int) -> bool:
    """The peer answered a VIP-STATUS sent at or after `since` (a stock one: any reply since)."""
    if v is None:
        return False
    if v.stock:
        return p.last_reply_time is not None and p.last_reply_time > since
    return v.answered is not None and v.answered >= since


def _current(o: Ownership, m: Master, need: int, forever: bool) -> tuple[bool, bool]:
    """(current, behind). Behind: a peer reported a config epoch above ours (we have not heard of
    the newer configuration yet: a stale master must not serve). Current: not behind, and a
    majority (us included) answered since the lease was (re)gained, so after a partition heals we
    look at the peers' epochs before we trust our own view (and lift a fence)."""
    behind = any(v.known and not v.unmanaged and v.epoch > m.config_epoch for v in o.peers.values())
    if behind:
        return False, True
    if forever:
        return True, False
    if o.lease_since is None:
        return False, False
    fresh = 1 + sum(
        1 for p in m.peers.values() if p.runid is not None and _fresh(o.peers.get(p.runid), p, o.lease_since)
    )
    return fresh >= need, False


def _waiting(o: Ownership, m: Master, now: int, silence: int) -> tuple[str, ...]:
    """Peers that are not clear (see the module docstring), by runid."""
    since = o.entitled_since if o.entitled_since is not None else now
    out = []
    for p in m.peers.values():
        if p.runid is None:
            continue
        v = o.peers.get(p.runid)
        if v is not None:
            if v.unmanaged:
                continue
            if (
                v.known
                and not v.held
                and v.epoch >= m.config_epoch
                and v.answered is not None
                and v.answered >= since
            ):
                continue  # confirmed, by a reply to a request sent since we became entitled
            if v.stock and o.entitled_since is not None and now >= o.entitled_since + silence:
                continue
        heard = max(p.last_reply_time or 0, p.last_avail_time)  # never heard: since it was added
        if now >= heard + silence and not _may_have_lease(o, m, p.runid, since, silence):
            continue
        out.append(p.runid)
    return tuple(sorted(out))


def _may_have_lease(o: Ownership, m: Master, runid: str, since: int, silence: int) -> bool:
    """Whether the peer `runid`, silent on our link for `silence`, may still hold a lease from
    the others: silence on our link proves nothing about theirs (an asymmetric partition: we are
    cut from it, a third sentinel is not). Its lease needs replies from need - 1 sentinels other
    than itself; we are not one (silent for `silence`). Another sentinel is ruled out only by a
    reply to a VIP-STATUS we sent since `since` (our entitlement) that knows our config epoch or
    a newer one and reports (`peer-ages`) that it has not heard the peer for `silence` either;
    any other peer may be answering it, except those that cannot report at all (stock, no VIP
    for this master, a version without `peer-ages`): for them the silence rule stays as it was
    (docs/vip.md, the asymmetric-partition limitation)."""
    if o.need <= 1:
        return False
    possible = 0
    for q in m.peers.values():
        if q.runid is None or q.runid == runid:
            continue
        v = o.peers.get(q.runid)
        if v is not None and (v.stock or v.unmanaged or (v.known and v.ages is None)):
            continue  # cannot report
        if (
            v is not None
            and v.ages is not None
            and v.answered is not None
            and v.answered >= since
            and v.epoch >= m.config_epoch
            and v.ages.get(runid, 0) >= silence
        ):
            continue  # it has not heard the peer for `silence` either
        possible += 1
    return possible >= o.need - 1


def _heartbeats(w: World, ctx: Ctx, m: Master, o: Ownership, lease: int, waiting: set[str]) -> None:
    """VIP-STATUS to each peer every heartbeat (POLL_PERIOD while waiting for it); PING to stock."""
    now = ctx.now
    hb = heartbeat_ms(lease)
    for p in m.peers.values():
        if p.runid is None or not p.cc.up or p.cc.pending >= MAX_PENDING_COMMANDS:
            continue
        v = o.peers.setdefault(p.runid, PeerVip())
        if v.link != p.cc.id:
            v.link, v.sent_at = p.cc.id, None
            v.inflight.clear()
        if v.stock:
            last = max(p.last_reply_time or 0, p.last_ping_time or 0)
            if now - last >= (POLL_PERIOD if p.runid in waiting else hb):
                send_ping(w, ctx, p, m)
            continue
        urgent = p.runid in waiting
        period = POLL_PERIOD if urgent else hb
        if v.sent_at is not None and now - v.sent_at < period:
            continue
        if v.inflight and now - v.inflight[-1] < (POLL_PERIOD if urgent else lease):
            continue  # one at a time; a silent link is the watchdog's business
        if send(w, ctx, p, Purpose.VIP_STATUS, ("SENTINEL", STATUS_COMMAND, m.name)) is not None:
            v.sent_at = now
            v.inflight.append(now)
            del v.inflight[:-MAX_PENDING_COMMANDS]


def _release(w: World, ctx: Ctx, m: Master | None, o: Ownership, why: str) -> None:
    o.inflight.append("release")
    o.addr, o.changed_at = AddrState.RELEASING, ctx.now
    ctx.emit(VipRelease(m.name if m is not None else _name_of(w, o), o.vip, o.iface))
    if m is not None:
        event(w, ctx, Level.NOTICE, "+vip-release", m, m, f" vip {o.vip} dev {o.iface} reason {why}")


def _name_of(w: World, o: Ownership) -> str:
    return next(n for n, x in w.ownership.items() if x is o)


def _address(
    w: World,
    ctx: Ctx,
    m: Master,
    cfg: VipSettings,
    o: Ownership,
    entitled: bool,
    startup: bool,
    local_is_master: bool,
) -> None:
    now = ctx.now
    if not entitled:
        if startup and local_is_master:
            return  # links still opening: keep what we found
        if o.addr is AddrState.ACQUIRING or (
            o.addr in (AddrState.HELD, AddrState.UNKNOWN) and not o.inflight and now >= o.retry_at
        ):
            _release(w, ctx, m, o, "no-lease" if local_is_master else "not-master")
        return
    if (
        o.addr in (AddrState.ABSENT, AddrState.UNKNOWN)
        and not o.inflight
        and not o.waiting
        and now >= o.retry_at
    ):
        o.inflight.append("acquire")
        o.addr, o.changed_at = AddrState.ACQUIRING, now
        event(
            w, ctx, Level.NOTICE, "+vip-acquire", m, m, f" vip {o.vip} dev {o.iface} epoch {m.config_epoch}"
        )
        # At least a second: when the deadline is nearer (the latest reply is a few hundred ms
        # old), the first lifetime is one second and the next reply's renewal brings it back
        # within the bound.
        target = _lease_target(m, cfg, o)
        expires = None if target is None else max(target, now + SECOND)
        o.expires = None if expires is None else _kernel_expiry(now, expires)
        ctx.emit(VipAcquire(m.name, o.vip, o.iface, expires))


def _lease_target(m: Master, cfg: VipSettings, o: Ownership) -> int | None:
    """The address deadline of the lease in force; None when addresses are permanent (no lease
    needed, none held, or too short for a whole second)."""
    if o.lease_forever or o.lease_until is None or not lifetimes_possible(m, cfg):
        return None
    return address_deadline(m, cfg, o.lease_until)


def _kernel_expiry(now: int, deadline: int) -> int:
    """When the kernel drops an address given a lifetime ending by `deadline`: whole seconds."""
    return now + (deadline - now) // SECOND * SECOND


def _lifetime(ctx: Ctx, m: Master, cfg: VipSettings, o: Ownership) -> None:
    """Renew the held address's lifetime as the lease moves on (module docstring)."""
    target = _lease_target(m, cfg, o)
    if o.addr is not AddrState.HELD or o.inflight or not o.entitled or target is None:
        return
    now = ctx.now
    if target - now < SECOND:
        return  # the current, earlier lifetime stands
    new = _kernel_expiry(now, target)
    if o.expires is None or new - o.expires >= renew_step(lease_ms(m, cfg)):
        o.expires = new
        ctx.emit(VipRenew(m.name, o.vip, o.iface, target))


def local_instance(w: World, ctx: Ctx, m: Master, cfg: VipSettings, local_is_master: bool) -> Instance:
    """Our local server: the master, or a replica (added if the master did not list it yet, so
    there is a link to fence it on)."""
    if local_is_master:
        return m
    r = m.replica_at(cfg.local_host, cfg.local_port)
    if r is None:
        r = new_replica(m, cfg.local_host, cfg.local_port, ctx.now)
        m.replicas[r.name] = r
        event(w, ctx, Level.NOTICE, "+slave", r, m)
        ctx.persist()
    return r


def _fence(
    w: World,
    ctx: Ctx,
    m: Master,
    cfg: VipSettings,
    o: Ownership,
    entitled: bool,
    local_is_master: bool,
) -> None:
    now = ctx.now
    li = local_instance(w, ctx, m, cfg, local_is_master)
    if local_is_master:
        o.local_master_epoch = m.config_epoch
    want = not entitled and local_may_write(o, m, li)
    # While o.fence_want is not False no hello goes to our server (links.may_be_write_paused).
    # No startup exemption here (unlike the address): a sentinel that starts fences its master
    # until it is entitled, a round trip or two on a healthy cluster, because the server may be
    # a stale master that restarted while nobody watched it.
    if want and li.cc.id is None and li.port:
        last = li.cc.last_attempt
        if last is None or now - last >= FENCE_RECONNECT:
            li.cc.last_attempt = now
            open_link(w, ctx, li, Channel.CMD)
    if not li.cc.up or li.cc.id is None:
        if want and o.fence_want is not True:
            o.fence_want = True
            o.fence_link = None
            event(w, ctx, Level.WARNING, "+vip-fence", li, m, " pending (no link)")
        return
    duration = fence_ms(cfg)
    if want:
        due = (
            o.fence_want is not True
            or o.fence_link != li.cc.id
            or o.fence_sent is None
            or now - o.fence_sent >= duration // 4
        )
        if (
            due
            and send_cmd(w, ctx, li, m, Purpose.FENCE, "CLIENT", "PAUSE", str(duration), "WRITE") is not None
        ):
            if o.fence_want is not True:
                event(w, ctx, Level.WARNING, "+vip-fence", li, m, f" pause {duration}")
            o.fence_want, o.fence_link, o.fence_sent = True, li.cc.id, now
    elif (
        o.fence_want is not False and send_cmd(w, ctx, li, m, Purpose.FENCE, "CLIENT", "UNPAUSE") is not None
    ):
        if o.fence_want is True:
            event(w, ctx, Level.NOTICE, "-vip-fence", li, m)
        o.fence_want, o.fence_link, o.fence_sent = False, li.cc.id, now


def local_may_write(o: Ownership, m: Master, li: Instance) -> bool:
    """Whether our local server may be accepting writes it should not.

    It does if our view says it is the master. As one of the master's replicas:
    - one whose INFO we have not read yet (a pause for one round trip if it is a replica);
    - a former master of ours that a newer config epoch replaced, until seen as `role:slave`:
      the stale master of a partition that healed, before the sentinels demote it;
    - a replica reporting `role:master` while our master is healthy (not SDOWN, ODOWN or failing
      over): a stale master we do not remember (our sentinel restarted since), or rarely a
      planned switch whose hello has not reached us yet (a short pause).
    Not a replica reporting `role:master` while the master is down: most likely the one a
    failover just promoted, before its hello reached us; pausing it would stall the new master
    (and every sentinel's PUBLISH to it)."""
    if li is m:
        return True
    if not isinstance(li, Replica):
        return False
    if li.info_refresh is None:
        return True  # not heard yet (just started, or it restarted): it may be a stale master
    replaced = o.local_master_epoch is not None and o.local_master_epoch < m.config_epoch
    if li.role_reported is Role.SLAVE:
        return False
    return replaced or not (m.sdown or m.odown or m.in_failover)


# --- timing and views ------------------------------------------------------------------------


def next_deadline(w: World, now: int) -> int | None:
    """The earliest time the rule wants a step (lease end, polls, renewals), or None."""
    best: int | None = None

    def at(t: int) -> None:
        nonlocal best
        best = t if best is None or t < best else best

    for name, o in w.ownership.items():
        m = w.masters.get(name)
        if m is None or m.settings.vip is None:
            if o.retry_at > now:
                at(o.retry_at)
            continue
        cfg = m.settings.vip
        lease = lease_ms(m, cfg)
        if o.lease and o.lease_until is not None:
            at(o.lease_until - lead_ms(lease))
        if not o.entitled and now < o.started + startup_ms(lease):
            at(o.started + startup_ms(lease))
        if o.retry_at > now:
            at(o.retry_at)
        if o.fence_want and o.fence_sent is not None:
            at(o.fence_sent + fence_ms(cfg) // 4)
        if o.fence_want:
            li = m if cfg.is_local(m.host, m.port) else m.replica_at(cfg.local_host, cfg.local_port)
            if li is not None and li.cc.id is None and li.cc.last_attempt is not None:
                at(li.cc.last_attempt + FENCE_RECONNECT)
        hb = heartbeat_ms(lease)
        urgent = (o.lease and not o.current) or bool(o.waiting)
        for runid, v in o.peers.items():
            if v.sent_at is not None:
                at(v.sent_at + (POLL_PERIOD if urgent or runid in o.waiting else hb))
        if o.entitled and o.entitled_since is not None and o.waiting:
            at(o.entitled_since + lease + margin_ms(m, cfg))
            for p in m.peers.values():
                if p.runid in o.waiting:
                    heard = max(p.last_reply_time or 0, p.last_avail_time)
                    at(heard + lease + margin_ms(m, cfg))
    return best


def vip_status(w: World, name: str, now: int) -> list[tuple[str, Reply]] | ErrorReply:
    """`SENTINEL VIP-STATUS <name>`: what peers need (held, config-epoch, local-server) and what
    an operator wants to see. Pairs of bulk strings, like SENTINEL MASTER."""
    m = w.masters.get(name)
    if m is None:
        return ErrorReply("ERR No such master with that name")
    cfg = m.settings.vip
    o = w.ownership.get(name)
    if cfg is None or o is None:
        return ErrorReply("ERR No VIP configured for this master")
    if o.lease_forever:
        remaining = -1
    elif o.lease and o.lease_until is not None:
        remaining = max(0, o.lease_until - lead_ms(lease_ms(m, cfg)) - now)
    else:
        remaining = 0
    return [
        ("name", m.name),
        ("vip", cfg.address),
        ("interface", cfg.iface),
        ("local-server", f"{cfg.local_host}:{cfg.local_port}"),
        ("held", "1" if o.held else "0"),
        ("state", o.addr.value),
        ("config-epoch", str(m.config_epoch)),
        ("master", f"{m.host}:{m.port}"),
        ("entitled", "1" if o.entitled else "0"),
        ("current", "1" if o.current else "0"),
        ("lease", "1" if o.lease else "0"),
        ("lease-remaining-ms", str(remaining)),
        ("lease-ms", str(lease_ms(m, cfg))),
        ("lease-margin-ms", str(margin_ms(m, cfg))),
        ("sentinels-heard", f"{o.heard}/{o.total}"),
        ("sentinels-needed", str(o.need)),
        ("waiting-for", ",".join(o.waiting)),
        ("fence", {True: "on", False: "off", None: "unknown"}[o.fence_want]),
        ("fence-ms", str(fence_ms(cfg))),
        ("fence-error", o.fence_error),
        ("last-error", o.last_error),
        ("state-age-ms", str(max(0, now - o.changed_at))),
        ("address-lifetime", "on" if lifetimes_possible(m, cfg) and not o.lease_forever else "off"),
        ("address-expires-ms", _expires_in(o, now)),
        ("peer-ages", peer_ages(m, now)),
    ]


def _expires_in(o: Ownership, now: int) -> str:
    """Until the kernel drops the address, as we set it: ms, -1 permanent, "" not held by us."""
    if o.addr is not AddrState.HELD:
        return ""
    return "-1" if o.expires is None else str(max(0, o.expires - now))


def peer_ages(m: Master, now: int) -> str:
    """`runid:ms,...`: per known peer, how long since we last heard it on our link (since it was
    added if never); a peer deciding whether a silent holder's lease lapsed reads it."""
    return ",".join(
        f"{p.runid}:{max(0, now - max(p.last_reply_time or 0, p.last_avail_time))}"
        for p in m.peers.values()
        if p.runid is not None
    )
