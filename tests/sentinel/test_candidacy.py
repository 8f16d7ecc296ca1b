"""Ours (issue #4): the random candidacy delay after ODOWN, the quick bounded split-vote retry,
and no votes for a master we just switched to and see up. One core, fake clock (Driver)."""

from __future__ import annotations

import random

from sentinel.core import Log, Timers
from sentinel.core.election import SPLIT_VOTE_MAX_DOUBLINGS, after_not_elected
from sentinel.core.events import DebugRequest, HelloReceived, IsMasterDownRequest, MaintenanceRequest
from sentinel.core.model import Ctx, FailoverState
from sentinel.core.replies import Reply
from tests.sentinel.cluster import Cluster
from tests.sentinel.driver import MYID, PEER1, PEER2, R2N, Driver, conf, healthy, master_info, peer_hello
from tests.sentinel.test_cluster import MASTER, R2, settled
from tests.sentinel.test_failover import elected, kill_master, to_odown, until

NEW = ("10.0.0.3", 6379)


def _odown(d: Driver) -> list[tuple[str, str]]:
    """Kill the master, reach SDOWN, PEER1 agrees: ODOWN (without waiting for the candidacy)."""
    kill_master(d)
    until(d, "+sdown")
    return d.events(d.answer(PEER1, "SENTINEL", [1, "*", 0]))


def _delay(seed: int, timers: Timers | None = None) -> int:
    d = healthy(Driver.create(seed=seed, timers=timers))
    _odown(d)
    assert d.master.odown
    if d.master.in_failover:
        return 0
    assert d.master.candidacy_at is not None
    return d.master.candidacy_at - d.now


# --- 1. the candidacy delay ---------------------------------------------------------------------


def test_candidacy_waits_its_random_delay_then_starts() -> None:
    d = healthy(Driver.create(seed=1))
    events = _odown(d)
    assert [e for e, _ in events] == ["+odown"]  # no candidacy yet
    m = d.master
    assert m.candidacy_at is not None
    delay = m.candidacy_at - d.now
    assert 0 < delay < 150
    assert any(isinstance(a, Log) and f"candidacy for mymaster in {delay} ms" in a.message for a in d.last)
    assert not any(a.argv[-1] == MYID for a in d.pending(PEER2, "SENTINEL"))  # no vote asked yet
    assert d.core.next_tick_in() == delay  # the runtime ticks exactly when it is due
    acts = d.tick(m.candidacy_at - 1)
    assert "+try-failover" not in d.names(acts) and not m.in_failover
    acts = d.tick(m.candidacy_at)
    assert d.names(acts) == ["+new-epoch", "+try-failover", "+vote-for-leader"]
    assert m.failover_state is FailoverState.WAIT_START and m.candidacy_at is None
    assert [c.argv[-2:] for c in d.pending(PEER2, "SENTINEL") if c.argv[-1] == MYID] == [("1", MYID)]
    assert d.core.next_tick_in() == 100


def test_candidacy_delay_is_seeded_and_bounded() -> None:
    delays = [_delay(seed) for seed in range(40)]
    assert all(0 <= x < 150 for x in delays)
    assert len(set(delays)) > 20  # random, not a constant
    assert delays == [_delay(seed) for seed in range(40)]  # same seed, same delay


def test_candidacy_delay_1_means_no_delay_and_is_a_debug_timer() -> None:
    d = healthy(Driver.create(timers=Timers(candidacy_delay=1)))
    assert [e for e, _ in _odown(d)] == ["+odown", "+new-epoch", "+try-failover", "+vote-for-leader"]
    d2 = Driver.create()
    d2.step(DebugRequest(1, ("candidacy-delay", "400", "split-vote-jitter", "50")))
    assert (d2.world.timers.candidacy_delay, d2.world.timers.split_vote_jitter) == (400, 50)


def test_a_peer_asking_first_gets_our_vote_and_we_do_not_run() -> None:
    d = healthy(Driver.create(seed=1))
    _odown(d)
    m = d.master
    assert m.candidacy_at is not None
    due = m.candidacy_at
    acts = d.step(IsMasterDownRequest(7, "10.0.0.1", 6379, 1, PEER1), at=due - 1)
    assert d.replies[7] == [1, PEER1, 1]
    assert ("+vote-for-leader", f"{PEER1} 1") in d.events(acts)
    assert m.candidacy_at is None and d.core.next_tick_in() == 100
    # the stock back-off of a vote for another sentinel now applies: no candidacy of ours
    events = d.events(d.advance(3000, every=10))
    assert "+try-failover" not in [e for e, _ in events] and not m.in_failover
    assert m.next_failover_at - d.now > 100_000 and m.next_failover_reason == f"voted for {PEER1} in epoch 1"


def test_odown_lost_during_the_delay_cancels_the_candidacy() -> None:
    d = healthy(Driver.create(seed=1, timers=Timers(candidacy_delay=60_000)))
    _odown(d)
    m = d.master
    assert m.candidacy_at is not None and m.candidacy_at - d.now > 3000  # this seed's draw
    until(d, "-odown", peers={PEER1: [0, "*", 0], PEER2: [0, "*", 0]})  # next asks: not down
    assert m.candidacy_at is None
    events = until(d, "+odown", peers={PEER1: [1, "*", 0]})
    assert "+try-failover" not in [e for e, _ in events]
    assert m.candidacy_at is not None  # a new draw for the new ODOWN


def test_maintenance_during_the_delay_cancels_the_candidacy() -> None:
    d = healthy(Driver.create(seed=1))
    _odown(d)
    d.step(MaintenanceRequest(3, "mymaster", True))
    d.tick(d.now + 200)
    assert d.master.candidacy_at is None and not d.master.in_failover


def test_forced_failover_is_not_delayed() -> None:
    from sentinel.core.events import FailoverRequest

    d = healthy(Driver.create(seed=1), offsets=(100, 200))
    acts = d.step(FailoverRequest(1, "mymaster"))
    assert "+try-failover" in d.names(acts) and "+elected-leader" in d.names(acts)


# --- 2. the quick, bounded split-vote retry -------------------------------------------------------


def _split(d: Driver, epoch: int) -> int:
    """Lose a provable three-way split in `epoch`; return the retry delay chosen."""
    m = d.master
    d.world.current_epoch = epoch
    m.failover_epoch = epoch
    m.failover_state = FailoverState.NONE
    m.failover_start_time = d.now
    m.leader, m.leader_epoch = MYID, epoch
    for runid in (PEER1, PEER2):
        m.peers[runid].leader, m.peers[runid].leader_epoch = runid, epoch
    after_not_elected(d.world, Ctx(d.now), m)
    return m.next_failover_at - d.now


def test_consecutive_split_votes_double_the_retry_up_to_a_cap() -> None:
    d = healthy(Driver.create(conf(failover_timeout=600_000)))
    waits = [_split(d, e) for e in range(1, 10)]
    for k, wait in enumerate(waits):
        scale = 1 << min(k, SPLIT_VOTE_MAX_DOUBLINGS)
        assert 100 * scale <= wait < 400 * scale, (k, wait)
    assert max(waits) < 6400
    assert d.master.split_votes == 9
    assert d.master.next_failover_reason == "split vote in epoch 9 (9 in a row)"


def test_split_vote_retry_never_exceeds_the_stock_back_off() -> None:
    d = healthy(Driver.create(conf(failover_timeout=500)))
    waits = [_split(d, e) for e in range(1, 8)]
    assert all(w <= 1000 for w in waits) and waits[-1] == 1000


def test_split_count_restarts_after_an_election_a_vote_for_another_or_a_doubt() -> None:
    d = healthy(Driver.create(conf(failover_timeout=600_000)))
    _split(d, 1)
    _split(d, 2)
    assert d.master.split_votes == 2
    d.step(IsMasterDownRequest(1, "10.0.0.1", 6379, 3, PEER1))  # we vote for PEER1
    assert d.master.split_votes == 0
    _split(d, 4)
    m = d.master
    m.peers[PEER2].leader = None  # an unknown vote: another sentinel may lead
    m.failover_epoch = 5
    m.leader_epoch = 5
    after_not_elected(d.world, Ctx(d.now), m)
    assert m.split_votes == 0 and m.next_failover_at - d.now == 1_200_000


def test_two_splits_in_a_row_while_odown_holds_double_the_retry() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000), seed=3))
    to_odown(d)
    for epoch in (1, 2):
        peers: dict[str, Reply] = {PEER1: [1, PEER1, epoch], PEER2: [1, PEER2, epoch]}
        until(d, "-failover-abort-not-elected", peers=peers, every=10)
        retry = d.master.next_failover_at - d.now
        scale = 1 if epoch == 1 else 2
        assert 100 * scale <= retry < 400 * scale
        assert d.master.split_votes == epoch and d.master.odown
        if epoch == 1:
            events = until(d, "+try-failover", peers=peers, every=10)
            assert ("+new-epoch", "2") in events
    assert d.master.next_failover_reason == "split vote in epoch 2 (2 in a row)"


def test_split_count_restarts_when_odown_ends() -> None:
    d = healthy(Driver.create(conf(failover_timeout=600_000)))
    _split(d, 1)
    _split(d, 2)
    assert d.master.split_votes == 2 and not d.master.odown
    d.tick(d.now + 100)  # the master is not ODOWN (healthy): a later outage starts afresh
    assert d.master.split_votes == 0


def test_after_a_split_the_next_epoch_starts_within_a_few_hundred_ms() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000), seed=3))
    to_odown(d)
    peers: dict[str, Reply] = {PEER1: [1, PEER1, 1], PEER2: [1, PEER2, 1]}
    until(d, "-failover-abort-not-elected", peers=peers, every=10)
    aborted = d.now
    retry = d.master.next_failover_at - aborted
    assert 100 <= retry < 400
    events = until(d, "+try-failover", peers=peers, every=10)
    assert ("+new-epoch", "2") in events
    # retry + candidacy delay, on a 10 ms tick
    assert retry <= d.now - aborted < retry + 150 + 10


def _kill_seen_at_once(seed: int, candidacy_delay: int | None = None) -> tuple[int, int]:
    """Three cores (tests/sentinel/cluster.py, 0-5 ms between them) that tick together, so all
    see the kill in the same ms, as with kill -9 in the benchmark. Returns (ms to the first
    +switch-master, number of lost elections)."""
    c = Cluster(offsets=(1000, 1200), seed=seed, latency=5)
    if candidacy_delay is not None:
        for i in range(3):
            c.core(i).world.timers.candidacy_delay = candidacy_delay
    settled(c)
    c.next_tick = [c.next_tick[0]] * 3
    t0 = c.now
    c.kill(MASTER)
    c.run_until(lambda: all(c.master_addr(i) == R2 for i in range(3)), limit=30_000, step=10)
    switched = min(t for i in range(3) for t, e, _ in c.events[i] if e == "+switch-master") - t0
    lost = sum(c.names(i).count("-failover-abort-not-elected") for i in range(3))
    assert len(c.leaders) == 1 and all(len(w) == 1 for w in c.leaders.values())  # one failover
    return switched, lost


def test_without_the_delay_simultaneous_candidates_split_and_retry_quickly() -> None:
    runs = [_kill_seen_at_once(seed, candidacy_delay=1) for seed in range(20)]
    assert sum(1 for _, lost in runs if lost >= 3) >= 5  # three-way splits happen (the bug)
    # each costs one quick retry (100-399 ms + ticks), not 1-2 s
    assert max(t for t, _ in runs) < 1000 + 100 + 400 + 200


def test_with_the_delay_simultaneous_detection_does_not_split() -> None:
    runs = [_kill_seen_at_once(seed) for seed in range(20)]
    assert [lost for _, lost in runs] == [0] * 20
    assert max(t for t, _ in runs) < 1000 + 100 + 150 + 100  # down-after, a tick, the delay


# --- 3. no vote for a master we just switched to and see up --------------------------------------


def _switched(d: Driver) -> None:
    """A peer's hello tells us about the failover of epoch 1 to 10.0.0.3 (R2, whose links we have)."""
    d.step(HelloReceived(peer_hello(PEER1, "10.0.1.2", epoch=1, config_epoch=1, master=NEW)))
    assert d.master.addr == NEW and d.master.last_failover is not None
    d.infos[R2N] = master_info([("10.0.0.2", 6379, 200)], run_id="3" * 40)  # its INFO now
    d.settle()


def test_no_vote_for_a_master_we_just_switched_to_and_see_up() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)), offsets=(100, 200))
    _switched(d)
    d.advance(1500)
    acts = d.step(IsMasterDownRequest(1, *NEW, 2, PEER2))
    assert d.replies[1] == [0, "*", 0]  # no vote recorded, not down
    assert "+vote-for-leader" not in d.names(acts)
    assert any(isinstance(a, Log) and "switched to 10.0.0.3:6379" in a.message for a in acts)
    assert d.world.current_epoch == 2  # the epoch is still adopted (stock)
    assert d.master.leader_epoch == 0
    # a peer asking only about the state ("*") is answered as usual
    d.step(IsMasterDownRequest(2, *NEW, 2, "*"))
    assert d.replies[2] == [0, "*", 0]


def test_vote_granted_once_we_see_the_new_master_down() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000, down_after=1000)), offsets=(100, 200))
    _switched(d)
    d.dead.add(R2N)  # the new master dies: PINGs stay unanswered
    acts = d.step(IsMasterDownRequest(1, *NEW, 2, PEER2))
    assert "+vote-for-leader" not in d.names(acts)  # not yet: we still see it up
    d.advance(2500)
    assert d.master.sdown
    d.step(IsMasterDownRequest(2, *NEW, 3, PEER2))
    assert d.replies[2] == [1, PEER2, 3]


def test_vote_granted_when_the_new_master_link_is_down() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)), offsets=(100, 200))
    _switched(d)
    d.dead.add(R2N)
    d.down(R2N)
    d.step(IsMasterDownRequest(1, *NEW, 2, PEER2))
    assert d.replies[1] == [0, PEER2, 2]


def test_vote_granted_after_the_post_switch_window() -> None:
    d = healthy(Driver.create(conf(failover_timeout=20_000)), offsets=(100, 200))
    _switched(d)
    d.advance(19_000)
    d.step(IsMasterDownRequest(1, *NEW, 2, PEER2))
    assert d.replies[1] == [0, "*", 0]
    d.advance(1_100)
    d.step(IsMasterDownRequest(2, *NEW, 3, PEER2))
    assert d.replies[2] == [0, PEER2, 3]


def test_window_covers_down_after_plus_the_peers_answer_validity() -> None:
    # failover-timeout below down-after + 5 x ask-period: the window is the latter (6 s here)
    d = healthy(Driver.create(conf(failover_timeout=2_000, down_after=1_000)), offsets=(100, 200))
    _switched(d)
    d.advance(5_900)
    d.step(IsMasterDownRequest(1, *NEW, 2, PEER2))
    assert d.replies[1] == [0, "*", 0]
    d.advance(200)
    d.step(IsMasterDownRequest(2, *NEW, 3, PEER2))
    assert d.replies[2] == [0, PEER2, 3]


def test_leader_of_the_switch_refuses_too() -> None:
    from tests.sentinel.driver import R1N, replica_info

    d = healthy(Driver.create(conf(failover_timeout=60_000)), offsets=(100, 200))
    elected(d)
    d.info(R1N, replica_info(offset=100))
    d.info(R2N, replica_info(offset=200))
    d.info(R2N, replica_info(role="master"))
    assert d.master.addr == NEW
    d.settle()
    acts = d.step(IsMasterDownRequest(1, *NEW, 2, PEER2))
    assert d.replies[1] == [0, "*", 1]  # no new vote (votes are forgotten at a switch, not epochs)
    assert "+vote-for-leader" not in d.names(acts) and d.master.leader_epoch == 1


def test_random_module_state_is_untouched() -> None:
    state = random.getstate()
    d = healthy(Driver.create(seed=5))
    _odown(d)
    d.tick(d.now + 200)
    assert random.getstate() == state
