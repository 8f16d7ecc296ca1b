"""What the simulator found. Each finding has a scripted reproducer (fixed world seeds, faults in
a fixed order) that asserts the invariant. An open finding's reproducer is a strict xfail until
the core is fixed (then it fails as XPASS, and the finding must be closed: moved from
checks.KNOWN to checks.CLOSED, docs/simulation.md updated, the xfail removed). F1-F3 are closed:
their reproducers are regression tests over ten seeds each (before the fixes 8, 6 and 10 of those
seeds failed). The sweep reports runs explained by an open finding by name.

Two more findings are about issue 5's VIP rule (not in the core yet): the simulator shows that
two literal readings of it are unsafe; those tests assert that the violation *is* found.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.sim import scenarios
from tests.sim.conftest import SUMMARIES
from tests.sim.sweep import config_for, first_failure
from tests.sim.world import Result, SimConfig, World, liveness, run_seed

pytestmark = pytest.mark.sim


def one_fault(**kw: object) -> SimConfig:
    """The durability-checked configuration, no minority left out."""
    return SimConfig(profile="one-fault", minority=False, **kw)  # type: ignore[arg-type]


def test_f1_stalled_master_resumes_after_the_offsets_were_read() -> None:
    """F1 (closed). A master's server stalls past down-after while its host keeps the lease; it
    resumes just after the leader read the replicas' offsets and used to get the writes queued
    meanwhile acknowledged (WAIT 1) by a replica not repointed yet, which the new master did not
    have (8 of these 10 seeds lost acknowledged writes). The leader now repoints the other
    replicas at the chosen one before promoting it (sentinel/core/detach.py): only the chosen
    one can acknowledge the old master's writes."""
    for seed in range(10):
        r = scenarios.scripted(seed, scenarios.f1_stalled_master, one_fault())
        assert r.ok, f"seed {seed}: {r.violation}"


def test_f2_interrupted_promotion_keeps_the_promoted_replica_data() -> None:
    """F2 (closed). The leader crashes between its replica's promotion and the switch; the next
    failover used to rank that replica (now reporting role:master) at offset 0 and promote one
    that is behind (6 of these 10 seeds lost acknowledged writes). Now it is ranked at its offset
    in the master's history (selection.ranking_offset) and kept."""
    for seed in range(10):
        r = scenarios.scripted(seed, scenarios.f2_interrupted_promotion, one_fault())
        assert r.ok, f"seed {seed}: {r.violation}"


def test_f3_master_dies_while_the_sentinels_are_down() -> None:
    """F3 (closed). The master dies while every sentinel is down for more than 10 x down-after:
    once back, none could ever fail over (every replica 'disconnected too long' measured from a
    recent SDOWN; all 10 seeds). The link age is now measured from when the master was last known
    up (the other replica saw it until its own link dropped: selection.link_down_limit)."""
    for seed in range(10):
        r = scenarios.scripted(seed, scenarios.f3_sentinels_restart_late, one_fault())
        assert r.ok, f"seed {seed}: {r.violation}"


def test_f5_lone_replica_dated_by_the_supervisors_exit_time() -> None:
    """F5 (closed; sim seed 3321). F3 with a single replica left (the third host stays off): no
    failover was ever possible while the supervisor held the crashed master back (10 of these
    10 seeds). The supervisor's hint now carries the exit time (EXITED-MS-AGO), which dates the
    master (selection.link_down_limit): the lone replica is promoted."""
    for seed in range(10):
        w = World(seed, one_fault())
        w.warm_up()
        scenarios.f5_lone_replica_after_a_late_restart(w)

        def promoted(w: World = w) -> bool:
            addrs = {
                w.sentinels[h].core.world.masters["mymaster"].addr  # type: ignore[union-attr]
                for h in ("h0", "h1")
                if w.sentinels[h].core is not None
            }
            return addrs == {("10.0.0.2", 6379)} and w.servers["h1"].role == "master"

        assert scenarios.advance_until(w, promoted, 60_000, step_ms=100), f"seed {seed}: {w.describe()}"


def test_f3_minimal_script_found_by_the_state_machine() -> None:
    """The script Hypothesis shrank F3 to while the state machine was being tuned (it raised
    no-convergence before the fix)."""
    from tests.sim.test_stateful import SentinelQuorum

    m = SentinelQuorum()
    m.warm_up()
    m.crash_server("master")
    m.crash_sentinel("master")
    m.crash_sentinel("h1")
    m.advance(5000)
    m.advance(5000)
    m.crash_sentinel("h2")
    liveness(m.w, Result(seed=7, ok=True))


@pytest.mark.parametrize("seed", [81, 300])
def test_f4_a_frozen_holder_drops_the_vip_by_its_address_lifetime(seed: int) -> None:
    """F4 (closed). With the core's VIP rule (`--vip core`), a holder's sentinel stalled (or its
    host paused) past T_lease + margin cannot release the address, which its kernel keeps
    answering ARP for, while the new master's host rightly takes the VIP: two holders (these two
    seeds of 0..499, the only ones). Fixed by the address lifetime the core sets and renews with
    the lease (ownership.address_deadline, docs/vip.md): the kernel drops the address itself.
    The same seeds without lifetimes still show the two holders, so the test can fail."""
    cfg = config_for("ci", "core")
    r = run_seed(seed, cfg)
    assert r.ok, f"seed {seed}: {r.violation}"
    before = run_seed(seed, dataclasses.replace(cfg, vip_lifetimes=False))
    assert not before.ok and "holder" in (before.violation or ""), before.violation


def test_vip_gate_as_written_lets_two_masters_accept_writes() -> None:
    """Issue 5's self-fencing read literally (a server accepts writes while its host sees
    itself master with a majority heard within T_lease) lets the new master accept writes
    while the isolated old master's lease still runs: the server gate must be the hand-over
    itself (the host holds the VIP), as the simulator's default `gate="vip"` does."""
    r = scenarios.scripted(0, scenarios.isolate_master_host, one_fault(gate="lease"))
    assert not r.ok and r.kind == "two-writable-masters", r.violation
    assert scenarios.scripted(0, scenarios.isolate_master_host, one_fault()).ok


def test_literal_vip_rule_lets_a_stale_holder_take_the_vip_back() -> None:
    """Issue 5's rule with "heard from" = any reply and "confirmed release" = any status saying
    so: after a partition heals, the isolated old master's host takes the VIP back with a
    confirmation sent before the failover and the timeout on the real holder, before its
    sentinel has heard of the new config epoch. The sweep finds it within a few hundred seeds;
    the default (agreement) reading passes the same seed."""
    r = first_failure(0, 300, cfg=SimConfig(vip_rule="literal"))
    assert r is not None and r.kind == "two-vip-holders", r and r.violation
    SUMMARIES.append(f"issue 5's rule read literally: two VIP holders at seed {r.seed}")
    assert run_seed(r.seed).ok
