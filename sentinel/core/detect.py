"""Failure detection: TILT, SDOWN (with the idle-link watchdog) and ODOWN.

Stock rules (sentinelCheckTiltCondition, sentinelCheckSubjectivelyDown,
sentinelCheckObjectivelyDown). `now` is monotonic, so TILT only measures how late our own ticks
are (a stalled process or host), never a wall-clock jump.
"""

from __future__ import annotations

from sentinel.core.actions import Level
from sentinel.core.info import Role
from sentinel.core.links import close_link, event
from sentinel.core.model import Ctx, Instance, Master, World


def check_tilt(w: World, ctx: Ctx) -> None:
    """On every tick: a gap since the previous tick above tilt-trigger (re)starts TILT."""
    if w.last_tick is not None:
        delta = ctx.now - w.last_tick
        if delta < 0 or delta > w.timers.tilt_trigger:
            w.tilt = True
            w.tilt_start = ctx.now
            event(w, ctx, Level.WARNING, "+tilt", None, None, raw="#tilt mode entered")
    w.last_tick = ctx.now


def tilt_continues(w: World, ctx: Ctx) -> bool:
    """True while TILT lasts; leaves it (`-tilt`) once tilt-period passed since the last trigger."""
    if not w.tilt:
        return False
    if ctx.now - w.tilt_start < w.timers.tilt_period:
        return True
    w.tilt = False
    event(w, ctx, Level.WARNING, "-tilt", None, None, raw="#tilt mode exited")
    return False


def unresponsive_for(inst: Instance, now: int) -> int:
    """How long the instance has not answered: from the oldest unanswered PING, else (when the
    command link is down) from the last valid reply.

    Ours, two changes to stock's measure, both about links the instance itself closed (CLIENT
    KILL in the reconfiguration transaction) with down-after close to the ping period:
    * only the command link counts: stock also counts a missing pub/sub link, whose loss says
      nothing about whether the instance answers PING;
    * with the command link down and no PING outstanding, the clock starts no earlier than the
      loss of the established link (stock: the last PONG, up to a ping period earlier). Links
      that never came up do not move the clock, so an unreachable instance still times out.
    """
    if inst.act_ping_time is not None:
        return now - inst.act_ping_time
    if not inst.cc.up:
        return now - max(inst.last_avail_time, inst.link_lost_time or 0)
    return 0


def watchdog(w: World, ctx: Ctx, inst: Instance, master: Master) -> None:
    """Close a cc that is up but silent for down-after/2, and a pc without traffic for 3 publish periods."""
    t = w.timers
    cc = inst.cc
    half = master.down_after // 2
    if (
        cc.up
        and ctx.now - cc.since > t.min_link_reconnect_period
        and inst.act_ping_time is not None
        and ctx.now - inst.act_ping_time > half
        and ctx.now - inst.last_pong_time > half
    ):
        close_link(w, ctx, cc)
    pc = inst.pc
    if (
        pc is not None
        and pc.up
        and ctx.now - pc.since > t.min_link_reconnect_period
        and ctx.now - inst.pc_last_activity > t.publish_period * 3
    ):
        close_link(w, ctx, pc)


def hint_says_down(master: Master) -> bool:
    """Ours: a master-down hint confirmed by our own check (hint.py) for the current address, and
    no valid PING reply since the hint."""
    h = master.hint
    return (
        h is not None
        and h.confirmed is not None
        and h.generation == master.addr_generation
        and master.last_avail_time < h.started
    )


def sdown_condition(w: World, inst: Instance, master: Master, now: int) -> bool:
    """The three stock SDOWN conditions, plus ours: a confirmed master-down hint (hint.py)."""
    if unresponsive_for(inst, now) > master.down_after:
        return True
    if inst is master and hint_says_down(master):
        return True
    if (
        inst is master
        and inst.role_reported is Role.SLAVE
        and now - inst.role_reported_time > master.down_after + 2 * w.timers.info_period
    ):
        return True
    return (
        inst is master
        and master.reboot
        and master.settings.reboot_down_after > 0
        and now - master.reboot_since > master.settings.reboot_down_after
    )


def check_sdown(w: World, ctx: Ctx, inst: Instance, master: Master) -> bool:
    """Update SDOWN for one instance (`+sdown` / `-sdown`); returns True if it just went down."""
    watchdog(w, ctx, inst, master)
    if sdown_condition(w, inst, master, ctx.now):
        if not inst.sdown:
            inst.sdown = True
            inst.sdown_since = ctx.now
            event(w, ctx, Level.WARNING, "+sdown", inst, master)
            return True
    elif inst.sdown:
        inst.sdown = False
        inst.script_kill_sent = False
        event(w, ctx, Level.WARNING, "-sdown", inst, master)
    return False


def odown_votes(master: Master) -> int:
    """Sentinels that agree the master is down: us (if SDOWN) + peers with a fresh master_down."""
    if not master.sdown:
        return 0
    return 1 + sum(1 for p in master.peers.values() if p.master_down)


def check_odown(w: World, ctx: Ctx, master: Master) -> None:
    """ODOWN when agreeing sentinels >= quorum (`+odown ... #quorum n/q`), else `-odown`."""
    votes = odown_votes(master)
    if master.sdown and votes >= master.quorum:
        if not master.odown:
            master.odown = True
            master.odown_since = ctx.now
            event(w, ctx, Level.WARNING, "+odown", master, master, f" #quorum {votes}/{master.quorum}")
    elif master.odown:
        master.odown = False
        event(w, ctx, Level.WARNING, "-odown", master, master)


def no_down_for(inst: Instance, ms: int, now: int) -> bool:
    """No SDOWN/ODOWN started within the last `ms` (stock sentinelRedisInstanceNoDownFor)."""
    recent = inst.sdown_since or 0
    if isinstance(inst, Master) and inst.odown_since and inst.odown_since > recent:
        recent = inst.odown_since
    return recent == 0 or now - recent > ms


def expire_peer_replies(w: World, ctx: Ctx, master: Master) -> None:
    """Forget peers' down flags and votes older than 5 ask periods."""
    for p in master.peers.values():
        if (
            p.last_master_down_reply_time is None
            or ctx.now - p.last_master_down_reply_time > w.timers.ask_validity
        ):
            p.master_down = False
            p.leader = None
