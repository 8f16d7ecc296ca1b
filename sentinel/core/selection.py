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
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sentinel.core.info import Role
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


def select_replica(master: Master, timers: Timers, now: int) -> Selection:
    """Rank the replicas of `master` and pick the best one (None if none qualifies)."""
    max_link_down = master.down_after * 10
    if master.sdown and master.sdown_since is not None:
        max_link_down += now - master.sdown_since
    excluded: list[tuple[Replica, str]] = []
    reachable: list[Replica] = []
    for r in master.replicas.values():
        why = _unreachable_reason(r, master, timers, now)
        if why is not None:
            excluded.append((r, why))
        else:
            reachable.append(r)
    best_offset = max((r.repl_offset for r in reachable), default=0)
    candidates: list[Replica] = []
    for r in reachable:
        if r.slave_priority == 0:
            excluded.append((r, "priority 0"))
        elif r.master_link_down_ms > max_link_down:
            excluded.append((r, f"master link down for {r.master_link_down_ms} ms"))
        elif r.repl_offset < best_offset:
            ahead = next(x for x in reachable if x.repl_offset == best_offset)
            excluded.append((r, f"offset {r.repl_offset} behind {ahead.name} at {best_offset}"))
        else:
            candidates.append(r)
    candidates.sort(key=lambda r: (r.slave_priority, -r.repl_offset, _runid_key(r)))
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
