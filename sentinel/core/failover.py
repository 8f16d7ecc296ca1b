"""The failover state machine, the address switch and master resets.

States and their bounds (docs/sentinel-core.md has the full table):

| state | leaves when | bound |
|---|---|---|
| wait_start | elected (or forced) | min(election-timeout, failover-timeout) after the start, or at once when every vote is known and nobody can win, then `-failover-abort-not-elected` |
| select_slave | every reachable replica answered a fresh INFO | replica-info-wait, then select with what is known; no candidate: `-failover-abort-no-good-slave` |
| send_slaveof_noone | the promoted replica's link is up: send the promotion | failover-timeout, then `-failover-abort-slave-timeout` |
| wait_promotion | its INFO (polled every promotion-poll-period) says role:master | failover-timeout, then `-failover-abort-slave-timeout` |
| reconf_slaves | every replica to repoint that is not SDOWN is done | failover-timeout, then `+failover-end-for-timeout` |
| update_config | at once | - |

Differences from stock, on purpose:

* The leader switches the master address (`+switch-master`) as soon as the promotion is
  confirmed, in the same step as `+promoted-slave`, and repoints the other replicas afterwards
  (still throttled by parallel-syncs, still in state reconf_slaves). Stock only switches after
  every replica resynced. SENTINEL MASTER(S) therefore shows the new master at once.
* Every state (reconf_slaves included, even with the new master SDOWN) ends within its bound.
* The state machine is run again as soon as an event can make it progress (a vote reply, the
  promoted replica's link or INFO), not only on the next tick.
* After any address switch the peers' down flags and votes are forgotten, and replies to
  questions about the old address are dropped (stock could reach ODOWN on the new master from
  answers about the old one and fail over a second time).
"""

from __future__ import annotations

from dataclasses import replace

from sentinel.core.actions import Crash, Level, Log
from sentinel.core.detach import detach_others, reset_detach
from sentinel.core.detect import check_odown
from sentinel.core.election import after_not_elected, ask_peers, election_hopeless, get_leader, same_id
from sentinel.core.info import Role
from sentinel.core.links import close_instance, event, force_hello, send_cmd, send_info, send_slaveof
from sentinel.core.model import (
    Ctx,
    FailoverRecord,
    FailoverState,
    Link,
    Master,
    Purpose,
    Reconf,
    Replica,
    World,
    format_addr,
    new_replica,
)
from sentinel.core.replies import ErrorReply, Reply
from sentinel.core.selection import select_replica, switchover_problem

CRASH_CODE = 99
SWITCHOVER_MARGIN = 2000
"""ms a switchover waits for the target's role:master beyond the master's FAILOVER timeout."""


def start_failover(w: World, ctx: Ctx, master: Master, forced: bool = False) -> None:
    """Enter wait_start with a new epoch (`+new-epoch`, `+try-failover`)."""
    master.failover_state = FailoverState.WAIT_START
    master.failover_state_change_time = ctx.now
    w.current_epoch += 1
    master.failover_epoch = w.current_epoch
    master.forced = forced
    master.failover_kind = "forced" if forced else "failover"
    master.failover_started_at = ctx.now
    master.candidacy_at = None
    ctx.persist()
    event(w, ctx, Level.WARNING, "+new-epoch", master, master, raw=str(w.current_epoch))
    event(w, ctx, Level.WARNING, "+try-failover", master, master)
    master.failover_start_time = ctx.now + w.rng.randrange(w.timers.max_desync)
    master.next_failover_at = master.failover_start_time + 2 * master.failover_timeout
    master.next_failover_reason = f"failover attempt of epoch {master.failover_epoch}"
    master.delay_logged = False


def maybe_start_failover(w: World, ctx: Ctx, master: Master) -> bool:
    """Start a failover if the master is ODOWN, none runs, no back-off applies and our random
    candidacy delay has passed.

    Ours, the candidacy delay (Raft's randomized election timeout): when all of this first holds,
    the candidacy is set for now + random 0..candidacy-delay-1 ms (`master.candidacy_at`; the
    runtime ticks at that time, see `SentinelCore.next_tick_in`). Meanwhile we still answer
    is-master-down requests as usual: if a peer asks for our vote first, we vote for it, which
    sets the stock back-off (2 x failover-timeout), so we do not also become a candidate in its
    epoch. Without the delay, a kill -9 seen by every sentinel within a few ms makes them all
    candidates of the same epoch before any vote request arrives: a split vote.
    """
    if not master.odown or master.in_failover:
        master.candidacy_at = None
        if not master.odown and not master.in_failover:
            master.split_votes = 0  # a later outage starts again from the shortest retry
        return False
    if master.maintenance:
        master.candidacy_at = None
        if not master.delay_logged:
            master.delay_logged = True
            ctx.emit(
                Log(
                    Level.WARNING,
                    f"Not starting a failover for {master.name}: maintenance mode is on "
                    "(SENTINEL MAINTENANCE / hasentinel resume)",
                )
            )
        return False
    if ctx.now < master.next_failover_at:
        if not master.delay_logged:
            master.delay_logged = True
            ctx.emit(
                Log(
                    Level.WARNING,
                    f"Next failover delay: I will not start a failover for {master.name} before "
                    f"{master.next_failover_at - ctx.now} ms from now ({master.next_failover_reason})",
                )
            )
        master.candidacy_at = None
        return False
    if master.candidacy_at is None:
        master.candidacy_at = ctx.now + w.rng.randrange(w.timers.candidacy_delay)
        if master.candidacy_at > ctx.now:
            ctx.emit(
                Log(
                    Level.NOTICE,
                    f"Failover candidacy for {master.name} in {master.candidacy_at - ctx.now} ms "
                    "(random delay: a sentinel that asks for our vote first gets it)",
                )
            )
    if ctx.now < master.candidacy_at:
        return False
    master.candidacy_at = None
    start_failover(w, ctx, master)
    return True


def abort_failover(w: World, ctx: Ctx, master: Master, why: str) -> None:
    """Back to none (legal before reconf_slaves). The back-off set at the start stays."""
    assert master.failover_state <= FailoverState.WAIT_PROMOTION
    master.failover_state = FailoverState.NONE
    master.failover_state_change_time = ctx.now
    master.forced = False
    if master.promoted is not None:
        master.promoted.promoted = False
        master.promoted = None
    reset_detach(master)
    if master.switchover is not None:
        # A refused planned switchover must not delay an automatic failover the master may need.
        master.switchover = None
        master.next_failover_at = 0
        master.next_failover_reason = ""
    if master.next_failover_at > ctx.now:
        master.next_failover_reason = f"failover of epoch {master.failover_epoch} aborted: {why}"
    master.delay_logged = False


def evaluate(w: World, ctx: Ctx, master: Master) -> None:
    """ODOWN, maybe start a failover, run the state machine (never called in TILT)."""
    check_odown(w, ctx, master)
    if maybe_start_failover(w, ctx, master):
        run_state_machine(w, ctx, master)
        ask_peers(w, ctx, master, forced=True)
    else:
        run_state_machine(w, ctx, master)


def run_state_machine(w: World, ctx: Ctx, master: Master) -> None:
    """Run state handlers while they make progress within this step."""
    for _ in range(len(FailoverState) + 1):
        before = master.failover_state
        if before is FailoverState.NONE or ctx.crashed:
            return
        _HANDLERS[before](w, ctx, master)
        if master.failover_state is before:
            return


def _wait_start(w: World, ctx: Ctx, master: Master) -> None:
    leader = get_leader(w, ctx, master, master.failover_epoch)
    if not same_id(leader, w.myid) and not master.forced:
        election_timeout = min(w.timers.election_timeout, master.failover_timeout)
        if ctx.now - master.failover_start_time > election_timeout or election_hopeless(
            master, master.failover_epoch
        ):
            event(w, ctx, Level.WARNING, "-failover-abort-not-elected", master, master)
            abort_failover(w, ctx, master, "not elected")
            after_not_elected(w, ctx, master)
        return
    event(w, ctx, Level.WARNING, "+elected-leader", master, master)
    master.split_votes = 0
    if "crash-after-election" in w.simulate_failure:
        _crash(ctx)
        return
    master.failover_state = FailoverState.SELECT_SLAVE
    master.failover_state_change_time = ctx.now
    event(w, ctx, Level.WARNING, "+failover-state-select-slave", master, master)
    for r in master.replicas.values():
        if not r.sdown:
            send_info(w, ctx, r, master)


def _awaiting_fresh_info(w: World, ctx: Ctx, master: Master) -> bool:
    """Ours: wait (up to replica-info-wait) for an INFO read after the election from every
    replica we can talk to, so offsets are compared as they are now that the master is gone."""
    if ctx.now - master.failover_state_change_time >= w.timers.replica_info_wait:
        return False
    return any(
        not r.sdown
        and r.cc.up
        and (r.info_refresh is None or r.info_refresh < master.failover_state_change_time)
        for r in master.replicas.values()
    )


def _select_slave(w: World, ctx: Ctx, master: Master) -> None:
    if _awaiting_fresh_info(w, ctx, master):
        return
    if master.switchover is not None:
        name = master.switchover.target
        r = master.replicas.get(name)
        why = "unknown replica" if r is None else switchover_problem(r, master, w.timers, ctx.now)
        if r is None or why is not None:
            event(w, ctx, Level.WARNING, "-failover-abort-no-good-slave", master, master)
            abort_failover(w, ctx, master, f"switchover target {name}: {why}")
            return
    else:
        sel = select_replica(master, w.timers, ctx.now)
        if sel.chosen is None:
            event(w, ctx, Level.WARNING, "-failover-abort-no-good-slave", master, master)
            abort_failover(w, ctx, master, f"no good replica ({sel.why_none()})")
            return
        r = sel.chosen
    event(w, ctx, Level.WARNING, "+selected-slave", r, master)
    r.promoted = True
    master.promoted = r
    reset_detach(master)
    master.failover_state = FailoverState.SEND_SLAVEOF_NOONE
    master.failover_state_change_time = ctx.now
    event(w, ctx, Level.NOTICE, "+failover-state-send-slaveof-noone", r, master)


def _send_slaveof_noone(w: World, ctx: Ctx, master: Master) -> None:
    r = master.promoted
    assert r is not None
    if master.switchover is not None:
        _hand_over(w, ctx, master, r)
        return
    if not r.cc.up:
        if ctx.now - master.failover_state_change_time > master.failover_timeout:
            event(w, ctx, Level.WARNING, "-failover-abort-slave-timeout", master, master)
            abort_failover(w, ctx, master, "the selected replica stayed unreachable")
        return
    if not detach_others(w, ctx, master, r):
        return  # ours: the other replicas leave the old master first (detach.py, finding F1)
    if not send_slaveof(w, ctx, r, master, None):
        return
    event(w, ctx, Level.NOTICE, "+failover-state-wait-promotion", r, master)
    master.failover_state = FailoverState.WAIT_PROMOTION
    master.failover_state_change_time = ctx.now
    send_info(w, ctx, r, master)  # start polling at once; see promotion_poll_period


def _wait_promotion(w: World, ctx: Ctx, master: Master) -> None:
    if master.switchover is not None:
        if ctx.now - master.failover_state_change_time > master.switchover.timeout + SWITCHOVER_MARGIN:
            # The master gives up by itself at its TIMEOUT; the ABORT covers a slow master.
            send_cmd(w, ctx, master, master, Purpose.DISCARD, "FAILOVER", "ABORT")
            abort_switchover(w, ctx, master, "the target did not become master in time")
        return
    if ctx.now - master.failover_state_change_time > master.failover_timeout:
        event(w, ctx, Level.WARNING, "-failover-abort-slave-timeout", master, master)
        abort_failover(w, ctx, master, "the selected replica did not report role:master")


def _hand_over(w: World, ctx: Ctx, master: Master, r: Replica) -> None:
    """Switchover: ask the live master to hand over to `r` (`FAILOVER TO ip port TIMEOUT ms`).

    The master pauses writes, waits until `r` acknowledged its whole offset, turns itself into a
    replica of `r` and has `r` promote itself (Redis 6.2 FAILOVER): no acknowledged write can be
    missing on `r`. Writes sent meanwhile wait, then get -READONLY once the master is a replica.
    We then confirm the promotion from `r`'s INFO as in any failover (new config epoch, switch).
    """
    assert master.switchover is not None
    if not (r.cc.up and master.cc.up):
        if ctx.now - master.failover_state_change_time > master.failover_timeout:
            abort_switchover(w, ctx, master, "the master or the target stayed unreachable")
        return
    timeout = master.switchover.timeout
    argv = ("FAILOVER", "TO", r.host, str(r.port), "TIMEOUT", str(timeout))
    tag = send_cmd(w, ctx, master, master, Purpose.SWITCHOVER, *argv)
    if tag is None:
        return
    extra = f" to {r.host} {r.port} timeout {timeout}"
    event(w, ctx, Level.WARNING, "+switchover-pause-writes", master, master, extra)
    event(w, ctx, Level.NOTICE, "+failover-state-wait-promotion", r, master)
    master.failover_state = FailoverState.WAIT_PROMOTION
    master.failover_state_change_time = ctx.now
    send_info(w, ctx, r, master)


def abort_switchover(w: World, ctx: Ctx, master: Master, why: str) -> None:
    """`-failover-abort-switchover <master> <why>`, back to no failover, no back-off."""
    event(w, ctx, Level.WARNING, "-failover-abort-switchover", master, master, f" {why}")
    abort_failover(w, ctx, master, f"switchover aborted: {why}")


def on_switchover_reply(w: World, ctx: Ctx, master: Master, reply: Reply) -> None:
    """The master's answer to `FAILOVER TO ...`: an error means nothing happened, abort."""
    if (
        isinstance(reply, ErrorReply)
        and master.switchover is not None
        and master.failover_state is FailoverState.WAIT_PROMOTION
    ):
        abort_switchover(w, ctx, master, f"the master refused: {reply.text}")


def _reconf_slaves(w: World, ctx: Ctx, master: Master) -> None:
    reconf_next_replicas(w, ctx, master)
    detect_end(w, ctx, master)


def _update_config(w: World, ctx: Ctx, master: Master) -> None:
    """The switch already happened at promotion: just close the failover."""
    finish_failover(master)


_HANDLERS = {
    FailoverState.WAIT_START: _wait_start,
    FailoverState.SELECT_SLAVE: _select_slave,
    FailoverState.SEND_SLAVEOF_NOONE: _send_slaveof_noone,
    FailoverState.WAIT_PROMOTION: _wait_promotion,
    FailoverState.RECONF_SLAVES: _reconf_slaves,
    FailoverState.UPDATE_CONFIG: _update_config,
}


def _crash(ctx: Ctx) -> None:
    ctx.crashed = True
    ctx.emit(Crash(CRASH_CODE))


def promotion_confirmed(w: World, ctx: Ctx, master: Master, replica: Replica) -> None:
    """The promoted replica reported role:master: new config epoch, switch, repoint the rest."""
    master.config_epoch = master.failover_epoch
    master.failover_state = FailoverState.RECONF_SLAVES
    master.failover_state_change_time = ctx.now
    ctx.persist()
    event(w, ctx, Level.WARNING, "+promoted-slave", replica, master)
    if "crash-after-promotion" in w.simulate_failure:
        _crash(ctx)
        return
    event(w, ctx, Level.WARNING, "+failover-state-reconf-slaves", master, master)
    old, new = master.addr, replica.addr
    if master.switchover is not None:
        # The target promoted itself: still rewrite its config and drop its clients, as stock's
        # promotion does (SLAVEOF NO ONE is a no-op on a master).
        send_slaveof(w, ctx, replica, master, None)
    call_reconfig_script(w, ctx, master, "leader", old, new)
    switch_master(w, ctx, master, new, leader=True)
    force_hello(w, ctx, master)


def reconf_next_replicas(w: World, ctx: Ctx, master: Master) -> None:
    """Repoint pending replicas at the new master, at most parallel-syncs at a time."""
    for r in master.replicas.values():
        off = master.detached.get(r.name)
        if r.reconf is Reconf.PENDING and off is not None and off >= 0:
            # ours: repointed before the promotion (detach.py): that transaction ran
            r.reconf, r.reconf_sent_time = Reconf.SENT, ctx.now
            event(w, ctx, Level.NOTICE, "+slave-reconf-sent", r, master)
    for r in master.replicas.values():
        if r.reconf is Reconf.SENT and ctx.now - r.reconf_sent_time > w.timers.slave_reconf_timeout:
            event(w, ctx, Level.NOTICE, "-slave-reconf-sent-timeout", r, master)
            r.reconf = Reconf.DONE
    in_progress = sum(1 for r in master.replicas.values() if r.reconf in (Reconf.SENT, Reconf.INPROG))
    slots = max(1, master.settings.parallel_syncs)  # a config of 0 would never repoint anyone
    for r in master.replicas.values():
        if in_progress >= slots:
            break
        if r.reconf is not Reconf.PENDING or not r.cc.up:
            continue
        if send_slaveof(w, ctx, r, master, master.addr):
            r.reconf = Reconf.SENT
            r.reconf_sent_time = ctx.now
            event(w, ctx, Level.NOTICE, "+slave-reconf-sent", r, master)
            in_progress += 1


def detect_end(w: World, ctx: Ctx, master: Master) -> None:
    """End reconf_slaves when every replica to repoint (not SDOWN) is done, or on timeout."""
    timed_out = ctx.now - master.failover_state_change_time > master.failover_timeout
    if not timed_out:
        if master.sdown:
            return  # the new master is unreachable: wait (bounded by the timeout above)
        if any(
            r.reconf in (Reconf.PENDING, Reconf.SENT, Reconf.INPROG) and not r.sdown
            for r in master.replicas.values()
        ):
            return
    else:
        event(w, ctx, Level.WARNING, "+failover-end-for-timeout", master, master)
    event(w, ctx, Level.WARNING, "+failover-end", master, master)
    master.failover_state = FailoverState.UPDATE_CONFIG
    master.failover_state_change_time = ctx.now
    if timed_out:
        for r in master.replicas.values():
            if r.reconf not in (Reconf.PENDING, Reconf.INPROG) or not r.cc.up:
                continue
            if send_slaveof(w, ctx, r, master, master.addr):
                event(w, ctx, Level.NOTICE, "+slave-reconf-sent-be", r, master)
                r.reconf = Reconf.SENT


def finish_failover(master: Master) -> None:
    """Failover over: clear its state and flags; a new one may start as soon as needed."""
    master.failover_state = FailoverState.NONE
    master.forced = False
    master.switchover = None
    master.promoted = None
    reset_detach(master)
    master.next_failover_at = 0
    master.next_failover_reason = ""
    for r in master.replicas.values():
        r.reconf = Reconf.NONE
        r.promoted = False


def call_reconfig_script(
    w: World, ctx: Ctx, master: Master, role: str, old: tuple[str, int], new: tuple[str, int]
) -> None:
    """Queue client-reconfig-script `<name> <leader|observer> start <from> <to>`."""
    script = master.settings.client_reconfig_script
    if script:
        argv = (script, master.name, role, "start", old[0], str(old[1]), new[0], str(new[1]))
        w.scripts.schedule(ctx.now, argv, master=master.name, kind="reconfig")


def switch_master(w: World, ctx: Ctx, master: Master, new: tuple[str, int], *, leader: bool) -> None:
    """Move `master` to address `new` (stock sentinelResetMasterAndChangeAddress, safer).

    The replica at the new address (if known) becomes the master object, links included, so
    nothing reconnects; the old master is added as a replica. Replica objects are kept (their
    links and INFO stay valid) but their config-change time restarts, so fix-slave-config waits
    a full failover-timeout. Peers' down flags and votes are forgotten, and the address
    generation changes so in-flight is-master-down answers about the old address are dropped.
    `leader`: we led this failover and keep it in reconf_slaves to repoint the replicas.
    """
    old = master.addr
    now = ctx.now
    master.last_failover = FailoverRecord(
        epoch=master.config_epoch,
        kind=master.failover_kind if leader else "observed",
        switched_at=now,
        duration=now - master.failover_started_at if leader else None,
        old=old,
        new=new,
    )
    event(
        w,
        ctx,
        Level.WARNING,
        "+switch-master",
        master,
        master,
        raw=f"{master.name} {old[0]} {old[1]} {new[0]} {new[1]}",
    )
    close_instance(w, ctx, master)
    promoted = master.replicas.pop(format_addr(*new), None)
    if promoted is not None:
        master.cc, master.pc = promoted.cc, promoted.pc
        for link in (master.cc, master.pc):
            if link is not None and link.id is not None and link.id in w.links:
                w.links[link.id].instance = master
        for attr in (
            "runid",
            "act_ping_time",
            "last_ping_time",
            "last_avail_time",
            "last_pong_time",
            "pc_last_activity",
            "last_pub_time",
            "hello_sent",
            "info_refresh",
            "info_text",
            "info_in_flight",
        ):
            setattr(master, attr, getattr(promoted, attr))
    else:
        master.cc, master.pc = Link(), Link()
        master.runid = None
        master.act_ping_time, master.last_ping_time = now, None
        master.last_avail_time = master.last_pong_time = master.pc_last_activity = now
        master.last_pub_time = master.hello_sent = None
        master.info_refresh = master.info_in_flight = None
        master.info_text = None
    master.host, master.port = new
    master.settings = replace(master.settings, host=new[0], port=new[1])
    master.sdown = master.odown = False
    master.sdown_since = master.odown_since = None
    master.script_kill_sent = master.reboot = False
    master.role_reported, master.role_reported_time = Role.MASTER, now
    master.leader = None
    master.addr_generation += 1
    for p in master.peers.values():
        p.master_down = False
        p.leader = None
        p.leader_epoch = 0
        p.last_master_down_reply_time = None
        p.last_ask_time = None
    for r in master.replicas.values():
        r.slave_conf_change_time = now
        r.promoted = False
        r.reconf = Reconf.PENDING if leader else Reconf.NONE
    if old != new and master.replica_at(*old) is None:
        r = new_replica(master, old[0], old[1], now)
        if leader and master.switchover is not None:
            r.reconf = Reconf.PENDING  # alive and already following: config rewrite, drop clients
        master.replicas[r.name] = r
    if leader:
        master.promoted = None
    else:
        master.failover_state = FailoverState.NONE
        master.forced = False
        master.promoted = None
        master.next_failover_at = 0
    master.next_failover_reason = ""
    master.delay_logged = False
    master.candidacy_at = None
    master.split_votes = 0
    for r in master.replicas.values():
        event(w, ctx, Level.NOTICE, "+slave", r, master)
    ctx.persist()


def reset_master(w: World, ctx: Ctx, master: Master, *, drop_peers: bool) -> None:
    """Stock sentinelResetMaster: forget replicas (and peers), failover and runid; reconnect."""
    for r in master.replicas.values():
        close_instance(w, ctx, r)
    master.replicas.clear()
    if drop_peers:
        for p in master.peers.values():
            close_instance(w, ctx, p)
        master.peers.clear()
    close_instance(w, ctx, master)
    now = ctx.now
    master.sdown = master.odown = False
    master.script_kill_sent = master.reboot = False
    master.leader = None
    master.failover_state = FailoverState.NONE
    master.failover_state_change_time = 0
    master.failover_start_time = 0
    finish_failover(master)
    master.runid = None
    master.act_ping_time, master.last_ping_time = now, None
    master.last_avail_time = master.last_pong_time = now
    master.info_refresh = None
    master.info_text = None
    master.role_reported, master.role_reported_time = Role.MASTER, now
    master.addr_generation += 1
    master.delay_logged = False
    master.candidacy_at = None
    master.split_votes = 0
    ctx.persist()
