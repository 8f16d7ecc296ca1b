"""Scripted runs: a fixed sequence of faults through the World API (no random nemesis), for the
open findings' reproducers (test_findings.py) and the Hypothesis state machine's operations."""

from __future__ import annotations

from collections.abc import Callable

from sentinel.core import SimulateFailureRequest
from sentinel.core.model import FailoverState
from tests.sim.checks import Violation
from tests.sim.engine import MS
from tests.sim.runtime import MASTER_NAME
from tests.sim.world import Result, SimConfig, World, liveness

_requests = iter(range(2_000_000, 3_000_000))


def scripted(seed: int, script: Callable[[World], None], cfg: SimConfig | None = None) -> Result:
    """Warm up, run `script`, then the liveness phase and the final checks (one-fault rules:
    durability is checked). Returns the result; never raises a Violation."""
    cfg = cfg or SimConfig(profile="one-fault", minority=False)
    w = World(seed, cfg)
    res = Result(seed=seed, ok=True)
    try:
        w.warm_up()
        script(w)
        liveness(w, res)
    except Violation as v:
        res.ok, res.kind, res.violation, res.known = False, v.kind, str(v), v.known
    res.sim_ms = w.sched.now // MS
    res.trace = w.trace_tail()
    return res


def arm(w: World, host: str, flag: str) -> None:
    """SENTINEL SIMULATE-FAILURE <flag> on `host`'s sentinel."""
    p = w.sentinels[host]
    p.run(lambda: p.feed(SimulateFailureRequest(next(_requests), (flag,))))


def disarm_all(w: World) -> None:
    """Forget every armed crash point (as if SIMULATE-FAILURE had not been sent)."""
    for p in w.sentinels.values():
        if p.core is not None:
            p.core.world.simulate_failure.clear()


def advance_until(w: World, pred: Callable[[], bool], limit_ms: int, step_ms: int = 1) -> bool:
    """Advance in small steps until `pred()` (or `limit_ms` passed); True if it held."""
    end = w.sched.now + limit_ms * MS
    while w.sched.now < end:
        if pred():
            return True
        w.advance(step_ms)
    return pred()


def leader_selected(w: World) -> bool:
    """Some sentinel has chosen the replica to promote in a failover of the current master."""
    return any(
        p.core is not None
        and p.core.world.masters[MASTER_NAME].failover_state >= FailoverState.SEND_SLAVEOF_NOONE
        for p in w.sentinels.values()
    )


# --- the open findings --------------------------------------------------------------------------


def f1_stalled_master(w: World) -> None:
    """F1. The master's server stops (SIGSTOP) for longer than down-after while its host and
    sentinel keep running, so its host keeps the lease. It resumes right after the leader read
    the replicas' offsets: it serves the writes queued meanwhile, a replica not yet repointed
    acknowledges them (WAIT 1), and the full resync from the new master erases them."""
    w.start_client()
    w.advance(1000)
    w.hosts["h0"].freeze("server")
    advance_until(w, lambda: leader_selected(w), 10_000)
    w.hosts["h0"].thaw("server")
    w.advance(3000)


def f2_interrupted_promotion(w: World) -> None:
    """F2. The replica on h2 stops receiving the stream (one-way cut h0 -> h2), so WAIT-1
    writes are acknowledged by h1's replica only. The master's server dies; every sentinel is
    armed to crash right after `+promoted-slave`. The leader promotes h1's replica (highest
    offset) and crashes before switching. Restarted, it runs the next failover itself: h1's
    server now reports role:master, whose offset the core ranks as 0, so it promotes h2's
    replica, which is behind, and repoints h1's server: the full resync erases the writes."""
    w.start_client()
    w.block("h0", "h2")
    w.advance(2500)
    for h in w.host_names:
        arm(w, h, "crash-after-promotion")
    w.hosts["h0"].server.crash()
    w.hosts["h0"].supervise_server()
    advance_until(w, lambda: any(not p.alive for p in w.sentinels.values()), 10_000)
    disarm_all(w)
    w.unblock("h0", "h2")
    w.advance(6000)


def f3_sentinels_restart_late(w: World) -> None:
    """F3. The master's server dies while every sentinel is stopped (or in TILT) for more than
    10 x down-after. When they come back, each measures the replicas' master-link downtime
    against its own, recent, SDOWN start: every replica is 'disconnected too long' and no
    failover is ever possible, though both replicas are healthy and connected."""
    w.start_client()
    for p in w.sentinels.values():
        p.crash()
    w.hosts["h0"].server.crash()
    w.hosts["h0"].supervise_server()
    w.advance(12_000)
    for h in w.hosts.values():
        h.sentinel.boot()
    w.advance(1000)


# --- findings about issue 5's rule (not the core) ----------------------------------------------



def f5_lone_replica_after_a_late_restart(w: World) -> None:
    """F5. As F3, but the other replica's host is off: when the sentinels come back, the one
    replica left lost its link when the master died, and nothing they see dates that death (no
    INFO from the master since they started, no other replica linked to it). The supervisor
    holds the crashed master back for a failover that the master-link age rule never allowed
    (sim seed 3321). Its hint now says when the process exited."""
    w.start_client()
    for p in w.sentinels.values():
        p.crash()
    w.hosts["h2"].power_off()
    w.hosts["h0"].server.crash()
    w.hosts["h0"].supervise_server()
    w.advance(12_000)
    for h in ("h0", "h1"):
        w.hosts[h].sentinel.boot()


def isolate_master_host(w: World) -> None:
    """The master's host is cut from everybody for 8 s (failover elsewhere), then healed."""
    w.start_client()
    w.advance(1000)
    pairs = w.isolate("h0", client_too=False)
    w.advance(8000)
    for a, b in pairs:
        w.unblock(a, b)
    w.advance(4000)
