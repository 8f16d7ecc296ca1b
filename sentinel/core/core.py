"""`SentinelCore`: the sans-IO sentinel, driven by `step(now, event) -> list[Action]`.

Pure and deterministic: given the same configuration, stored state, seed and sequence of
(now, event), it returns the same actions. No clock, sockets, files, logging or global random:
`now` is the runtime's monotonic clock in milliseconds, randomness comes from the injected
`random.Random`, and everything the core wants done is returned as an action.
See docs/sentinel-core.md for how a runtime drives it.
"""

from __future__ import annotations

import random

from sentinel.core import admin, hint, ownership
from sentinel.core.actions import Action, Channel, Level, PersistState
from sentinel.core.config import SentinelConfig
from sentinel.core.detach import on_detach_reply
from sentinel.core.detect import check_sdown, check_tilt, expire_peer_replies, tilt_continues
from sentinel.core.discovery import process_hello
from sentinel.core.election import ask_peers, record_ask_reply
from sentinel.core.events import (
    CommandReply,
    ConfigSetRequest,
    DebugRequest,
    Event,
    FailoverRequest,
    FlushConfigRequest,
    HelloReceived,
    IsMasterDownRequest,
    LinkDown,
    LinkUp,
    MaintenanceRequest,
    MasterDownHintRequest,
    MonitorRequest,
    PubSubMessage,
    RemoveRequest,
    ResetRequest,
    ScriptExited,
    ScriptStarted,
    SetRequest,
    SimulateFailureRequest,
    Start,
    SwitchoverRequest,
    Tick,
    VipDone,
    VipObserved,
)
from sentinel.core.failover import evaluate, on_switchover_reply, run_state_machine
from sentinel.core.links import event as emit_event
from sentinel.core.model import (
    Ctx,
    FailoverState,
    Peer,
    Purpose,
    Replica,
    Settings,
    World,
    new_master,
    new_peer,
    new_replica,
)
from sentinel.core.monitor import (
    link_down,
    link_up,
    master_of,
    on_hello_published,
    on_info_reply,
    on_ping_reply,
    on_subscribe_reply,
    periodic,
    reconnect,
)
from sentinel.core.scripts import ScriptQueue
from sentinel.core.state import MasterState, SentinelState, reconcile
from sentinel.core.timers import HELLO_CHANNEL, Timers


class CoreError(RuntimeError):
    """The core was driven against its contract (no Start, or used after a Crash)."""


class SentinelCore:
    """One sentinel's decision logic. Create it, feed `Start`, then every event in order."""

    def __init__(
        self,
        config: SentinelConfig,
        state: SentinelState | None,
        rng: random.Random,
        timers: Timers | None = None,
    ) -> None:
        """`state` is the stored state (None at first start); `rng` is the only randomness."""
        self.config = config
        self._initial = reconcile(config, state, rng)
        ss = self._initial.sentinel_settings
        settings = Settings(
            port=config.port,
            requirepass=config.requirepass,
            announce_ip=ss.get("announce_ip"),
            announce_port=int(ss.get("announce_port") or 0),
            resolve_hostnames=bool(ss.get("resolve_hostnames")),
            announce_hostnames=bool(ss.get("announce_hostnames")),
            sentinel_user=ss.get("sentinel_user"),
            sentinel_pass=ss.get("sentinel_pass"),
            deny_scripts_reconfig=config.deny_scripts_reconfig,
        )
        self.world = World(
            myid=self._initial.myid,
            rng=rng,
            timers=timers or Timers(),
            settings=settings,
            scripts=ScriptQueue(),
            current_epoch=self._initial.current_epoch,
            removed=dict(self._initial.removed),
            sentinel_snapshot=self._initial.sentinel_snapshot,
        )
        self._crashed = False
        self._last_now = 0

    # --- public API -----------------------------------------------------------------------

    @property
    def myid(self) -> str:
        """Our 40-hex-character id."""
        return self.world.myid

    def step(self, now: int, ev: Event) -> list[Action]:
        """Process one event at monotonic time `now` (ms); return the actions, in order.

        PersistState, when present, is always first (and only once): execute it atomically
        before anything else in the list.
        """
        if self._crashed:
            raise CoreError("this core crashed (SIMULATE-FAILURE): create a new one from the stored state")
        w = self.world
        if not w.started and not isinstance(ev, Start):
            raise CoreError("the first event must be Start")
        ctx = Ctx(now)
        self._last_now = now
        self._dispatch(ctx, ev)
        if not ctx.crashed:
            hint.progress_all(w, ctx)
            ownership.evaluate_all(w, ctx)
            w.scripts.run_pending(ctx)
        else:
            self._crashed = True
        actions = ctx.actions
        if ctx.dirty:
            actions.insert(0, PersistState(self.state().to_json()))
        return actions

    def state(self) -> SentinelState:
        """The persistent state as of now (what PersistState carries)."""
        w = self.world
        masters: dict[str, MasterState] = {}
        for m in w.masters.values():
            masters[m.name] = MasterState(
                settings=m.settings,
                file_snapshot=dict(m.file_snapshot) if m.file_snapshot is not None else None,
                config_epoch=m.config_epoch,
                leader=m.leader,
                leader_epoch=m.leader_epoch,
                known_replicas=[r.addr for r in m.replicas.values()],
                known_sentinels=[(p.host, p.port, p.runid) for p in m.peers.values() if p.runid],
                maintenance=m.maintenance,
            )
        s = w.settings
        return SentinelState(
            myid=w.myid,
            current_epoch=w.current_epoch,
            masters=masters,
            removed=dict(w.removed),
            sentinel_settings={
                "announce_ip": s.announce_ip,
                "announce_port": s.announce_port,
                "resolve_hostnames": s.resolve_hostnames,
                "announce_hostnames": s.announce_hostnames,
                "sentinel_user": s.sentinel_user,
                "sentinel_pass": s.sentinel_pass,
            },
            sentinel_snapshot=dict(w.sentinel_snapshot) if w.sentinel_snapshot is not None else None,
        )

    def next_tick_in(self) -> int:
        """Milliseconds until the core wants its next Tick (shorter while a promotion is polled
        or a failover candidacy is due)."""
        t = self.world.timers
        wait = t.tick_interval
        polled = (FailoverState.SEND_SLAVEOF_NOONE, FailoverState.WAIT_PROMOTION)  # detach.py, promotion
        if any(m.failover_state in polled for m in self.world.masters.values()):
            wait = min(wait, t.promotion_poll_period)
        for m in self.world.masters.values():
            if m.candidacy_at is not None:  # ours: start the candidacy on time, not on the next tick
                wait = min(wait, max(1, m.candidacy_at - self._last_now))
        hint_due = hint.next_deadline(self.world)
        if hint_due is not None:  # ours: a master-down hint's check ends on time
            wait = min(wait, max(1, hint_due - self._last_now))
        if self.world.ownership:  # ours: the VIP rule's deadlines (lease end, polls, renewals)
            due = ownership.next_deadline(self.world, self._last_now)
            if due is not None:
                wait = min(wait, max(1, due - self._last_now))
        return wait

    # --- dispatch -------------------------------------------------------------------------

    def _dispatch(self, ctx: Ctx, ev: Event) -> None:
        w = self.world
        if isinstance(ev, Tick):
            self._tick(ctx)
        elif isinstance(ev, CommandReply):
            self._command_reply(ctx, ev)
        elif isinstance(ev, LinkUp):
            self._link_up(ctx, ev)
        elif isinstance(ev, LinkDown):
            ref = w.links.get(ev.link)
            if ref is not None:
                hint.on_link_down(ref.instance, ref.channel)
                link_down(w, ctx, ref.instance, ref.channel)
        elif isinstance(ev, PubSubMessage):
            ref = w.links.get(ev.link)
            if ref is not None and ref.channel is Channel.PUBSUB:
                ref.instance.pc_last_activity = ctx.now
                if ev.channel == HELLO_CHANNEL:
                    process_hello(w, ctx, ev.payload)
        elif isinstance(ev, HelloReceived):
            process_hello(w, ctx, ev.payload)
        elif isinstance(ev, IsMasterDownRequest):
            admin.is_master_down(w, ctx, ev.request, ev.ip, ev.port, ev.epoch, ev.runid)
        elif isinstance(ev, ScriptStarted):
            w.scripts.started(ev.job, ev.pid)
        elif isinstance(ev, ScriptExited):
            w.scripts.exited(ctx, w.timers, ev.job, ev.exit_code, ev.signal)
        elif isinstance(ev, MasterDownHintRequest):
            hint.on_hint(w, ctx, ev.request, ev.name, ev.ip, ev.port, ev.exited_ms_ago)
        elif isinstance(ev, FailoverRequest):
            admin.failover(w, ctx, ev.request, ev.name)
        elif isinstance(ev, SwitchoverRequest):
            admin.switchover(w, ctx, ev.request, ev.name, ev.host, ev.port, ev.timeout)
        elif isinstance(ev, MaintenanceRequest):
            admin.maintenance(w, ctx, ev.request, ev.name, ev.on)
        elif isinstance(ev, ResetRequest):
            admin.reset(w, ctx, ev.request, ev.pattern)
        elif isinstance(ev, MonitorRequest):
            admin.monitor(w, ctx, ev.request, ev.name, ev.ip, ev.port, ev.quorum)
        elif isinstance(ev, RemoveRequest):
            admin.remove(w, ctx, ev.request, ev.name)
        elif isinstance(ev, SetRequest):
            admin.set_options(w, ctx, ev.request, ev.name, ev.args, ev.executable)
        elif isinstance(ev, ConfigSetRequest):
            admin.config_set(w, ctx, ev.request, ev.args)
        elif isinstance(ev, DebugRequest):
            admin.debug(w, ctx, ev.request, ev.args)
        elif isinstance(ev, FlushConfigRequest):
            admin.flushconfig(ctx, ev.request)
        elif isinstance(ev, SimulateFailureRequest):
            admin.simulate_failure(w, ctx, ev.request, ev.flags)
        elif isinstance(ev, VipObserved):
            ownership.on_observed(w, ctx, ev.master, ev.present)
        elif isinstance(ev, VipDone):
            ownership.on_done(w, ctx, ev.master, ev.op, ev.ok, ev.error)
        elif isinstance(ev, Start):
            self._start(ctx)
        else:  # pragma: no cover - exhaustive over Event
            raise CoreError(f"unknown event {ev!r}")

    def _start(self, ctx: Ctx) -> None:
        """Build instances from the reconciled state, announce them, persist, open links."""
        w = self.world
        if w.started:
            raise CoreError("Start fed twice")
        w.started = True
        w.started_at = ctx.now
        w.last_tick = ctx.now
        for name, ms in self._initial.masters.items():
            m = new_master(ms.settings, ctx.now)
            m.file_snapshot = dict(ms.file_snapshot) if ms.file_snapshot is not None else None
            m.config_epoch = ms.config_epoch
            m.leader = ms.leader
            m.leader_epoch = ms.leader_epoch
            m.maintenance = ms.maintenance
            for host, port in ms.known_replicas:
                if (host, port) != m.addr and m.replica_at(host, port) is None:
                    r = new_replica(m, host, port, ctx.now)
                    m.replicas[r.name] = r
            for host, port, runid in ms.known_sentinels:
                if runid != w.myid and runid not in m.peers:
                    m.peers[runid] = new_peer(m, host, port, runid, ctx.now)
            w.masters[name] = m
        for m in w.masters.values():
            emit_event(w, ctx, Level.WARNING, "+monitor", m, m, f" quorum {m.quorum}")
        ctx.persist()
        for m in w.masters.values():
            for inst in (m, *m.replicas.values(), *m.peers.values()):
                reconnect(w, ctx, inst)

    def _tick(self, ctx: Ctx) -> None:
        """The periodic work of stock sentinelTimer, in stock order."""
        w = self.world
        check_tilt(w, ctx)
        tilt = tilt_continues(w, ctx)
        for m in list(w.masters.values()):
            instances = (m, *m.replicas.values(), *m.peers.values())
            for inst in instances:
                reconnect(w, ctx, inst)
                periodic(w, ctx, inst, m)
            expire_peer_replies(w, ctx, m)
            if tilt:
                continue
            for inst in instances:
                if check_sdown(w, ctx, inst, m) and inst is m:
                    ask_peers(w, ctx, m, forced=True)  # ours: ask at once, not on the next tick
            evaluate(w, ctx, m)
            ask_peers(w, ctx, m, forced=False)
            if ctx.crashed:
                return
        w.scripts.kill_timed_out(ctx, w.timers)

    def _link_up(self, ctx: Ctx, ev: LinkUp) -> None:
        w = self.world
        ref = w.links.get(ev.link)
        if ref is None:
            return
        inst = ref.instance
        link = inst.cc if ref.channel is Channel.CMD else inst.pc
        if link is None or link.id != ev.link:
            return
        m = master_of(w, inst)
        if m is None:
            return
        link_up(w, ctx, inst, m, ref.channel, ev.local_ip)
        if not w.tilt and m.failover_state is FailoverState.SEND_SLAVEOF_NOONE and inst is m.promoted:
            run_state_machine(w, ctx, m)

    def _command_reply(self, ctx: Ctx, ev: CommandReply) -> None:
        w = self.world
        pending = w.pending.pop(ev.tag, None)
        if pending is None:
            return  # the link was closed since: a late reply
        ref = w.links.get(pending.link)
        if ref is None:
            return
        inst = ref.instance
        link = inst.cc if ref.channel is Channel.CMD else inst.pc
        if link is not None and link.id == pending.link and link.pending > 0:
            link.pending -= 1
        m = master_of(w, inst)
        if m is None:
            return
        if isinstance(inst, Peer) and ref.channel is Channel.CMD:
            ownership.on_peer_reply(w, ctx, inst, m)
        purpose = pending.purpose
        if purpose is Purpose.VIP_STATUS and isinstance(inst, Peer):
            ownership.on_status_reply(w, ctx, inst, m, ev.reply)
        elif purpose is Purpose.FENCE:
            ownership.on_fence_reply(w, ctx, m, ev.reply)
        elif purpose is Purpose.PING:
            on_ping_reply(w, ctx, inst, m, ev.reply)
        elif purpose is Purpose.INFO:
            on_info_reply(w, ctx, inst, m, ev.reply)
        elif purpose is Purpose.HELLO:
            on_hello_published(inst, ctx, ev.reply)
        elif purpose is Purpose.SUBSCRIBE:
            on_subscribe_reply(w, ctx, inst, ev.reply)
        elif purpose is Purpose.SWITCHOVER and inst is m:
            on_switchover_reply(w, ctx, m, ev.reply)
        elif purpose is Purpose.DETACH and isinstance(inst, Replica):
            on_detach_reply(w, ctx, m, inst, ev.reply)
            if not w.tilt and m.failover_state is FailoverState.SEND_SLAVEOF_NOONE:
                run_state_machine(w, ctx, m)
        elif purpose is Purpose.ASK and isinstance(inst, Peer):
            target = w.masters.get(pending.master)
            if (
                target is not None
                and record_ask_reply(w, ctx, inst, target, pending, ev.reply)
                and not w.tilt
            ):
                evaluate(w, ctx, target)
