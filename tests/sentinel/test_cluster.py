"""Three cores wired together in memory (tests/sentinel/cluster.py): whole failovers."""

from __future__ import annotations

from sentinel.core.events import SimulateFailureRequest
from tests.sentinel.cluster import Cluster

MASTER = ("10.0.0.1", 6379)
R1 = ("10.0.0.2", 6379)
R2 = ("10.0.0.3", 6379)


def settled(c: Cluster) -> None:
    """Let discovery finish: every core knows both replicas and both peers."""
    c.run_until(
        lambda: all(
            len(c.core(i).world.masters["mymaster"].replicas) == 2
            and len(c.core(i).world.masters["mymaster"].peers) == 2
            for i in range(c.n)
            if c.cores[i] is not None
        ),
        limit=10_000,
    )
    c.run(2000)


def count(c: Cluster, event: str) -> list[int]:
    return [c.names(i).count(event) for i in range(c.n)]


def test_kill_master_one_leader_best_replica_all_agree() -> None:
    for seed in range(6):
        c = Cluster(offsets=(1000, 1200), seed=seed)
        settled(c)
        c.kill(MASTER)
        t0 = c.now
        switched = c.run_until(
            lambda c=c: all(c.master_addr(i) == R2 for i in range(3)), limit=10_000, step=10
        )
        assert switched < 1000 + 600, f"seed {seed}: switch took {switched} ms"  # down-after is 1000
        ended = c.run_until(c.agreed, limit=10_000, step=10)
        assert ended <= 1100, f"seed {seed}: repointing took {ended} ms more"  # one fast INFO period
        assert len(c.leaders) == 1 and all(len(w) == 1 for w in c.leaders.values()), c.leaders
        epoch = next(iter(c.leaders))
        assert {c.config_epoch(i) for i in range(3)} == {epoch}
        assert count(c, "+switch-master") == [1, 1, 1]
        c.run(15_000)
        # the other replica follows the new master; nobody fails over again
        assert c.instances[R1].master == R2 and c.link_up(c.instances[R1])
        assert c.masters() == [R2]
        assert count(c, "+try-failover") == [1 if i in c.leaders[epoch] else 0 for i in range(3)]
        assert c.agreed() and c.now - t0 > 15_000


def test_lower_priority_wins_at_equal_offset() -> None:
    c = Cluster(offsets=(1000, 1000), priorities=(10, 100), seed=1)
    settled(c)
    c.kill(MASTER)
    c.run_until(c.agreed, limit=10_000)
    c.run_until(lambda: c.agreed() and c.master_addr(0) != MASTER, limit=10_000)
    assert {c.master_addr(i) for i in range(3)} == {R1}


def test_replica_behind_is_not_promoted_whatever_its_priority() -> None:
    c = Cluster(offsets=(1200, 1000), priorities=(100, 1), seed=2)
    settled(c)
    c.kill(MASTER)
    c.run_until(lambda: c.agreed() and c.master_addr(0) != MASTER, limit=10_000)
    assert {c.master_addr(i) for i in range(3)} == {R1}


def test_returning_old_master_is_demoted() -> None:
    c = Cluster(seed=3)
    settled(c)
    c.kill(MASTER)
    c.run_until(lambda: c.agreed() and c.master_addr(0) != MASTER, limit=10_000)
    new = c.master_addr(0)
    c.run(3000)
    c.restart(MASTER)
    back = c.now
    assert sorted(c.masters()) == sorted([MASTER, new])
    c.run_until(lambda: c.masters() == [new], limit=20_000)
    assert c.now - back > 8000  # converted only after the wait
    assert c.instances[MASTER].master == new
    assert sum(count(c, "+convert-to-slave")) >= 1
    assert c.agreed()


def test_frozen_master_is_replaced_and_demoted_when_it_resumes() -> None:
    c = Cluster(seed=10, offsets=(1000, 1200))
    settled(c)
    c.freeze(MASTER)
    t0 = c.now
    c.run_until(lambda: all(c.master_addr(i) == R2 for i in range(3)), limit=10_000, step=10)
    assert c.now - t0 < 2000  # no connection reset: SDOWN from the oldest unanswered PING
    c.freeze(MASTER, False)
    c.run_until(lambda: c.masters() == [R2], limit=20_000)
    assert c.agreed() and c.instances[MASTER].master == R2


def test_isolated_master_is_replaced_and_demoted_after_heal() -> None:
    c = Cluster(seed=4)
    settled(c)
    for i in range(3):
        c.cut(c.core_node(i), MASTER[0])
    for r in (R1, R2):
        c.cut(r[0], MASTER[0])
    c.run_until(lambda: c.agreed() and c.master_addr(0) != MASTER, limit=20_000)
    new = c.master_addr(0)
    assert sorted(c.masters()) == sorted([MASTER, new])  # the isolated one still thinks it is master
    c.heal()
    c.run_until(lambda: c.masters() == [new], limit=30_000)
    assert c.agreed() and all(len(w) == 1 for w in c.leaders.values())


def test_failover_with_one_sentinel_down_and_it_catches_up() -> None:
    c = Cluster(seed=5)
    settled(c)
    c.crash_core(2)
    c.kill(MASTER)
    c.run_until(lambda: c.agreed() and c.master_addr(0) != MASTER, limit=20_000)
    new = c.master_addr(0)
    c.start_core(2)
    c.run_until(c.agreed, limit=20_000)
    assert c.master_addr(2) == new and c.config_epoch(2) == c.config_epoch(0)


def test_no_failover_without_a_majority_of_sentinels() -> None:
    c = Cluster(quorum=1, seed=6)
    settled(c)
    c.crash_core(1)
    c.crash_core(2)
    c.kill(MASTER)
    c.run(25_000)
    assert "+odown" in c.names(0) and "-failover-abort-not-elected" in c.names(0)
    assert "+elected-leader" not in c.names(0) and c.master_addr(0) == MASTER
    assert c.masters() == []  # nothing was promoted


def test_leader_crash_after_election_is_recovered() -> None:
    c = Cluster(seed=7, failover_timeout=3000)
    settled(c)
    for i in range(3):
        c.deliver(i, SimulateFailureRequest(100 + i, ("crash-after-election",)))
    c.kill(MASTER)
    c.run_until(lambda: any(core is None for core in c.cores), limit=10_000)
    crashed = [i for i in range(3) if c.cores[i] is None]
    assert len(crashed) == 1
    c.start_core(crashed[0])  # restarted from its persisted state, without the crash flag
    for i in range(3):
        if i != crashed[0]:
            c.deliver(i, SimulateFailureRequest(200 + i, ()))
    c.run_until(lambda: c.agreed() and c.master_addr(0) != MASTER, limit=60_000)
    assert all(len(w) == 1 for w in c.leaders.values())
    assert len(c.masters()) == 1


def test_sentinel_restart_keeps_the_new_configuration() -> None:
    c = Cluster(seed=8)
    settled(c)
    c.kill(MASTER)
    c.run_until(lambda: c.agreed() and c.master_addr(0) != MASTER, limit=10_000)
    new, epoch = c.master_addr(1), c.config_epoch(1)
    c.crash_core(1)
    c.start_core(1)
    assert c.master_addr(1) == new and c.config_epoch(1) == epoch
    c.run(5000)
    assert c.agreed()


def test_two_failovers_in_a_row() -> None:
    c = Cluster(seed=9, offsets=(1000, 1200))
    settled(c)
    c.kill(MASTER)
    c.run_until(lambda: c.agreed() and c.master_addr(0) == R2, limit=10_000)
    first_epoch = c.config_epoch(0)
    c.run(5000)
    c.kill(R2)
    c.run_until(lambda: c.agreed() and c.master_addr(0) == R1, limit=20_000)
    assert c.config_epoch(0) > first_epoch
    assert c.masters() == [R1]
    assert all(len(w) == 1 for w in c.leaders.values())


def test_with_network_latency_split_votes_resolve_quickly() -> None:
    for seed in range(4):
        c = Cluster(offsets=(1000, 1200), seed=seed, latency=300)
        settled(c)
        c.kill(MASTER)
        took = c.run_until(lambda c=c: c.agreed() and c.master_addr(0) == R2, limit=30_000, step=10)
        # a split vote may cost one round: early abort + split-vote-retry, not the election timeout
        assert took < 8000, f"seed {seed}: {took} ms"
        assert all(len(w) == 1 for w in c.leaders.values())
