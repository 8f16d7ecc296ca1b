"""Choosing the replica to promote (stock sentinelSelectSlave, plus one safety rule).

Stock exclusions: SDOWN, link disconnected, no valid PING reply for 5 ping periods, priority 0,
INFO older than 5 ping periods (master SDOWN) or 3 info periods (otherwise), and a master link
down for longer than the master's SDOWN time + 10 x down-after. Order: lower priority, higher offset, smaller runid
(case-insensitive, unknown runid last).

Ours: a replica whose replication offset is behind the offset of another *reachable* replica
(same tests as above minus priority and master-link age: we can talk to it and its INFO is
fresh) is never promoted, whatever its priority. Promoting it would throw away writes that a
reachable replica holds. If that leaves no candidate, the failover aborts with
`-failover-abort-no-good-slave` and the reason is shown in `next-failover-reason`.

Ours, an interrupted promotion (`ranking_offset`): a replica that reports `role:master` while
its `master_replid2` is the history the master's replicas follow (the master's own
`master_replid`, or that of a replica reporting role:slave of this master) was promoted out of
this master's history by a failover that did not finish (its leader crashed, or lost it before
the switch). It holds that history up to `second_repl_offset` - 1: it is ranked at that offset
(a replica reporting role:slave has no `slave_repl_offset` once promoted, and stock keeps the
last one it saw, or 0 after a restart), and preferred to a replica at the same offset. A replica
reporting role:master of an unrelated history (a stale former master not converted yet) keeps
the last offset we saw it replicate at (0 if never): its offset does not compare.

Ours, the master-link age rule (`link_down_limit`): stock excludes a replica whose master link
has been down longer than 10 x down-after + (now - the master's SDOWN start): "disconnected for
long before the master failed", so its data is old. The SDOWN start stands for the time the
master was last seen alive, which is wrong for a sentinel that (re)started, or left TILT, after
the master died: its SDOWN is recent, every replica's link has been down since the death, and
no failover is ever possible. We measure against the last time the master is known to have
been up: our own last INFO reply from it, and the other replicas' views (a replica of this
master whose link is up saw it up now; one whose link went down saw it up until then), and
the exit time its supervisor reported in a master-down hint (hint.py: the process was up until
it exited). A replica is excluded when it lost its link more than 10 x down-after before that.
Without any such evidence (no INFO from the master since we started, no other replica, no
reported exit) stock's reference is kept: a lone replica nobody can date is not promoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sentinel.core.info import Role, parse_repl_ids
from sentinel.core.model import Master, Replica
from sentinel.core.timers import Timers


@dataclass(slots=True)
class Selection:
    """The outcome, with reasons, so callers can report why a replica was passed over."""

    chosen: Replica | None
    ranked: list[Replica] = field(default_factory=list)
    excluded: list[tuple[Replica, str]] = field(default_factory=list)

    def why_none(self) -> str:
        """Short explanation when nothing was chosen."""
        if not self.excluded:
            return "no replicas known"
        return "; ".join(f"{r.name}: {why}" for r, why in self.excluded)


def _unreachable_reason(r: Replica, master: Master, timers: Timers, now: int) -> str | None:
    """Why we cannot trust what we know of this replica (None: reachable and fresh)."""
    if r.sdown:
        return "s_down"
    if r.disconnected:
        return "disconnected"
    validity = timers.info_validity
    if now - r.last_avail_time > validity:
        return f"no valid ping reply for {now - r.last_avail_time} ms"
    info_validity = validity if master.sdown else timers.info_period * 3
    if r.info_refresh is None or now - r.info_refresh > info_validity:
        return "INFO too old" if r.info_refresh is not None else "no INFO yet"
    return None


def _runid_key(r: Replica) -> tuple[int, str]:
    return (1, "") if r.runid is None else (0, r.runid.lower())


NO_REPLID = "0" * 40


def _history_ids(master: Master, replicas: list[Replica]) -> set[str]:
    """Replication ids of the history the master serves: its own `master_replid` (its last INFO)
    and the `master_replid` of the replicas reporting role:slave of it."""
    ids: set[str] = set()
    if master.info_text is not None:
        rid = parse_repl_ids(master.info_text).master_replid
        if rid:
            ids.add(rid.lower())
    for r in replicas:
        if r.role_reported is Role.SLAVE and r.info_text is not None and _follows(r, master):
            rid = parse_repl_ids(r.info_text).master_replid
            if rid:
                ids.add(rid.lower())
    ids.discard(NO_REPLID)
    return ids


def _follows(r: Replica, master: Master) -> bool:
    return r.slave_master_port == master.port and (r.slave_master_host or "").lower() == master.host.lower()


def interrupted_promotion_offset(r: Replica, history: set[str]) -> int | None:
    """For a replica reporting role:master promoted out of `history` (see the module docstring):
    how much of that history it holds. None otherwise."""
    if r.role_reported is not Role.MASTER or r.info_text is None:
        return None
    rep = parse_repl_ids(r.info_text)
    if not rep.master_replid2 or rep.master_replid2.lower() not in history:
        return None
    if rep.second_repl_offset is None or rep.second_repl_offset <= 0:
        return None
    return rep.second_repl_offset - 1


def ranking_offset(r: Replica, history: set[str]) -> int:
    """The offset a replica is ranked (and compared) at."""
    promoted = interrupted_promotion_offset(r, history)
    return r.repl_offset if promoted is None else promoted


def link_down_limit(master: Master, r: Replica, reachable: list[Replica], now: int) -> int:
    """The longest master-link downtime that leaves `r` eligible (see the module docstring)."""
    seen_up: int | None = None
    if master.info_refresh is not None:
        seen_up = max(master.info_refresh, master.last_avail_time)
    ex = master.exit_reported
    if ex is not None and ex[0] == master.addr_generation:
        seen_up = ex[1] if seen_up is None else max(seen_up, ex[1])
    for o in reachable:
        if o is r or o.role_reported is not Role.SLAVE or not _follows(o, master):
            continue
        at = o.info_refresh if o.info_refresh is not None else now  # when its INFO said so
        if o.master_link_up and o.master_link_down_ms == 0:
            t = at
        elif o.master_link_down_ms > 0:
            t = at - o.master_link_down_ms
        else:
            continue
        seen_up = t if seen_up is None else max(seen_up, t)
    limit = master.down_after * 10
    if seen_up is not None:
        return limit + max(0, now - seen_up)
    if master.sdown and master.sdown_since is not None:
        limit += now - master.sdown_since
    return limit


def select_replica(master: Master, timers: Timers, now: int) -> Selection:
    """Rank the replicas of `master` and pick the best one (None if none qualifies)."""
    excluded: list[tuple[Replica, str]] = []
    reachable: list[Replica] = []
    for r in master.replicas.values():
        why = _unreachable_reason(r, master, timers, now)
        if why is not None:
            excluded.append((r, why))
        else:
            reachable.append(r)
    history = _history_ids(master, reachable)
    offset = {r.name: ranking_offset(r, history) for r in reachable}
    promoted = {r.name for r in reachable if interrupted_promotion_offset(r, history) is not None}
    best_offset = max(offset.values(), default=0)
    candidates: list[Replica] = []
    for r in reachable:
        max_link_down = link_down_limit(master, r, reachable, now)
        if r.slave_priority == 0:
            excluded.append((r, "priority 0"))
        elif r.master_link_down_ms > max_link_down:
            excluded.append((r, f"master link down for {r.master_link_down_ms} ms (limit {max_link_down})"))
        elif offset[r.name] < best_offset:
            ahead = next(x for x in reachable if offset[x.name] == best_offset)
            excluded.append((r, f"offset {offset[r.name]} behind {ahead.name} at {best_offset}"))
        else:
            candidates.append(r)
    candidates.sort(key=lambda r: (r.slave_priority, -offset[r.name], r.name not in promoted, _runid_key(r)))
    return Selection(candidates[0] if candidates else None, candidates, excluded)


def switchover_problem(r: Replica, master: Master, timers: Timers, now: int) -> str | None:
    """Why `r` cannot be the target of a switchover (None: it can).

    Offsets do not matter here: the master itself waits until the target has its offset. The
    target must be reachable with fresh INFO, report role slave of this master with its link up,
    and not have priority 0 (an operator's "never promote").
    """
    why = _unreachable_reason(r, master, timers, now)
    if why is not None:
        return why
    if r.role_reported is not Role.SLAVE:
        return "does not report role slave"
    if r.slave_master_port != master.port or (r.slave_master_host or "").lower() != master.host.lower():
        return "replicates another master"
    if not r.master_link_up:
        return "master link down"
    if r.slave_priority == 0:
        return "priority 0"
    return None


def switchover_target(master: Master, timers: Timers, now: int) -> Selection:
    """The best switchover target: eligible replicas by priority, then offset, then runid."""
    excluded: list[tuple[Replica, str]] = []
    candidates: list[Replica] = []
    for r in master.replicas.values():
        why = switchover_problem(r, master, timers, now)
        if why is None:
            candidates.append(r)
        else:
            excluded.append((r, why))
    candidates.sort(key=lambda r: (r.slave_priority, -r.repl_offset, _runid_key(r)))
    return Selection(candidates[0] if candidates else None, candidates, excluded)
