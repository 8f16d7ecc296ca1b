"""Ours: before promoting, detach the other replicas from the old master (finding F1).

The danger. `WAIT 1` acknowledges a write once one replica has it. The leader compares the
replicas' offsets and promotes the best one, R. If the old master was not dead but stalled (a
long GC, swap, SIGSTOP, a partition that healed: down for the sentinels, alive for its
replicas), it may resume right after the offsets were read, execute the writes its sockets
queued meanwhile, and stream them to every replica still attached to it. R stops taking that
stream when it executes SLAVEOF NO ONE, but the other replicas are repointed only after the
promotion (reconf_slaves): until then one of them may acknowledge those writes, the client gets
`WAIT 1` = 1, and the full resync from R erases them. A lease or a fence on the old master does
not close this: a stalled server executes what its sockets hold, whatever a fence sent
meanwhile, and in whatever order its event loop reads them.

The rule. No write is acknowledged unless a replica has it; so once every other replica has
stopped replicating the old master, only R can acknowledge its writes, and R has them. In state
send_slaveof_noone, before SLAVEOF NO ONE, the leader repoints every other replica it has a
link to at R (the stock reconfiguration transaction, which rewrites their config, with an INFO
inside it: the offset each one reached from the old master, read atomically with the switch).
They now replicate from R (a replica may serve replicas; their PSYNC is partial: R's history is
theirs). Then R must hold at least as much as any of them held: R's INFO is polled until its
offset reaches theirs (R still replicates the old master, which sent the same stream to all of
them). Then R is promoted. Bounded by replica-info-wait from the first detach: a replica that
does not answer, or R that does not catch up (the old master died again meanwhile, or R's link
to it broke), does not block the failover: `-failover-detach-timeout` is emitted and the
promotion goes on (the old window, for the replica concerned). A replica we consider SDOWN is
sent the transaction but not waited for. R is polled every promotion-poll-period while it
catches up.

Cost: one round trip to the replicas before the promotion, usually a few ms. The replicas are
repointed all at once (parallel-syncs no longer throttles this first step: they resync
partially from R), and are treated as already sent in reconf_slaves (no second transaction).
A replica we have no link to cannot be detached: it is the same risk as before, and the
simulator claims durability under one server fault at a time only.
"""

from __future__ import annotations

from sentinel.core.actions import Level, Log
from sentinel.core.info import Role, parse_info, parse_repl_ids
from sentinel.core.links import event, send_cmd, send_info
from sentinel.core.model import Ctx, Master, Purpose, Replica, World
from sentinel.core.replies import Reply

FAILED = -1
"""`Master.detached` value of a replica whose transaction failed (no offset known)."""


def send_detach(w: World, ctx: Ctx, r: Replica, master: Master, target: tuple[str, int]) -> bool:
    """MULTI, SLAVEOF target, CONFIG REWRITE, CLIENT KILL normal|pubsub, INFO, EXEC: the stock
    reconfiguration plus the INFO that tells what `r` had when it left the old master."""
    if r.cc.id is None or not r.cc.up:
        return False
    for argv in (
        ("MULTI",),
        ("SLAVEOF", target[0], str(target[1])),
        ("CONFIG", "REWRITE"),
        ("CLIENT", "KILL", "TYPE", "normal"),
        ("CLIENT", "KILL", "TYPE", "pubsub"),
        ("INFO",),
    ):
        send_cmd(w, ctx, r, master, Purpose.DISCARD, *argv)
    return send_cmd(w, ctx, r, master, Purpose.DETACH, "EXEC") is not None


def on_detach_reply(w: World, ctx: Ctx, master: Master, r: Replica, reply: Reply) -> None:
    """The EXEC of a detach: record the offset the replica reached (FAILED if it did not run)."""
    if r.name not in master.detached:
        return  # a late reply (the failover ended or was aborted)
    offset = FAILED
    if isinstance(reply, list) and reply and isinstance(reply[-1], str):
        rep = parse_info(reply[-1], as_master=False)
        if rep.slave_repl_offset is not None:
            offset = rep.slave_repl_offset
        else:
            own = parse_repl_ids(reply[-1]).master_repl_offset
            offset = FAILED if own is None else own
    master.detached[r.name] = offset
    if offset == FAILED:
        event(w, ctx, Level.WARNING, "-slave-detach-failed", r, master)
    else:
        ctx.emit(Log(Level.NOTICE, f"Replica {r.name} of {master.name} detached at offset {offset}"))


def detach_others(w: World, ctx: Ctx, master: Master, chosen: Replica) -> bool:
    """Run the rule (module docstring); True once `chosen` may be promoted."""
    now = ctx.now
    if master.detach_started is None:
        master.detach_started = now
        master.detached.clear()
        for r in master.replicas.values():
            if r is not chosen and send_detach(w, ctx, r, master, chosen.addr) and not r.sdown:
                master.detached[r.name] = None  # an SDOWN one is repointed but not waited for
        if master.detached:
            names = ",".join(master.detached)
            ctx.emit(Log(Level.NOTICE, f"Repointing {names} at {chosen.name} before its promotion"))
            return False
        return True
    pending = [name for name, off in master.detached.items() if off is None]
    need = max((off for off in master.detached.values() if off is not None), default=0)
    held = _held(chosen)
    if not pending and held >= need:
        return True
    if now - master.detach_started < w.timers.replica_info_wait:
        last = chosen.info_refresh
        if (
            not pending
            and chosen.info_in_flight is None
            and (last is None or now - last >= w.timers.promotion_poll_period)
        ):
            send_info(w, ctx, chosen, master)  # catching up: poll it (on ticks, every 50 ms)
        return False
    why = f"no answer from {','.join(pending)}" if pending else f"offset {held} < {need}"
    event(w, ctx, Level.WARNING, "-failover-detach-timeout", chosen, master, f" {why}")
    return True


def _held(r: Replica) -> int:
    """The offset `r` holds: its replica offset, or its own when it already reports role:master
    (an interrupted promotion chosen again, selection.ranking_offset)."""
    if r.role_reported is Role.MASTER and r.info_text is not None:
        own = parse_repl_ids(r.info_text).master_repl_offset
        if own is not None:
            return own
    return r.repl_offset


def reset_detach(master: Master) -> None:
    """Forget the detach state (failover over, aborted or switched)."""
    master.detached.clear()
    master.detach_started = None
