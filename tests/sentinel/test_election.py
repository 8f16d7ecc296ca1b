"""Votes (one per epoch, persisted before the reply), leader election and split-vote retries."""

from __future__ import annotations

import pytest

from sentinel.core import Log, PersistState, ReplyTo, SentinelState
from sentinel.core.election import after_not_elected, election_hopeless, get_leader, needed_votes, vote
from sentinel.core.events import IsMasterDownRequest
from sentinel.core.instances import instance_map
from sentinel.core.model import Ctx, FailoverState, new_peer
from sentinel.core.replies import Reply
from tests.sentinel.driver import MYID, PEER1, PEER2, Driver, conf, healthy

PEER3 = "d" * 40
PEER4 = "e" * 40


def ask(d: Driver, req: int, epoch: int, runid: str, ip: str = "10.0.0.1", port: int = 6379) -> Reply:
    d.step(IsMasterDownRequest(req, ip, port, epoch, runid))
    return d.replies[req]


def test_first_requester_gets_the_vote_and_it_is_persisted_before_the_reply() -> None:
    d = healthy(Driver.create())
    acts = d.step(IsMasterDownRequest(1, "10.0.0.1", 6379, 1, PEER1))
    assert isinstance(acts[0], PersistState)
    reply_at = next(i for i, a in enumerate(acts) if isinstance(a, ReplyTo))
    assert reply_at > 0
    assert d.events(acts) == [("+new-epoch", "1"), ("+vote-for-leader", f"{PEER1} 1")]
    assert d.replies[1] == [0, PEER1, 1]
    stored = SentinelState.from_json(acts[0].state)
    assert stored.current_epoch == 1
    assert (stored.masters["mymaster"].leader, stored.masters["mymaster"].leader_epoch) == (PEER1, 1)


def test_one_vote_per_epoch() -> None:
    d = healthy(Driver.create())
    assert ask(d, 1, 1, PEER1) == [0, PEER1, 1]
    acts = d.step(IsMasterDownRequest(2, "10.0.0.1", 6379, 1, PEER2))
    assert d.replies[2] == [0, PEER1, 1]  # the earlier vote is returned
    assert not any(isinstance(a, PersistState) for a in acts) and d.names(acts) == []


def test_higher_epoch_is_adopted_and_lower_is_refused() -> None:
    d = healthy(Driver.create())
    assert ask(d, 1, 1, PEER1) == [0, PEER1, 1]
    assert ask(d, 2, 3, PEER2) == [0, PEER2, 3]
    assert d.world.current_epoch == 3
    assert ask(d, 3, 2, PEER1) == [0, PEER2, 3]
    assert d.world.current_epoch == 3


def test_no_vote_when_not_asked_or_unknown_master() -> None:
    d = healthy(Driver.create())
    assert ask(d, 1, 4, "*") == [0, "*", 0]
    assert d.world.current_epoch == 0  # "*" requests do not even adopt the epoch
    assert ask(d, 2, 5, PEER1, ip="10.9.9.9") == [0, "*", 0]
    assert d.world.current_epoch == 0


def test_isdown_reflects_our_sdown() -> None:
    d = healthy(Driver.create())
    d.dead.add("mymaster")
    d.advance(7000)
    assert d.master.sdown
    assert ask(d, 1, 0, "*") == [1, "*", 0]


def test_voting_for_another_backs_off_and_says_so() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)))
    ask(d, 1, 1, PEER1)
    mm = dict(instance_map(d.master, d.master, d.now))
    wait = int(mm["next-failover-in"])
    assert 120_000 <= wait < 121_000
    assert mm["next-failover-reason"] == f"voted for {PEER1} in epoch 1"


def test_voting_for_ourselves_does_not_back_off() -> None:
    d = healthy(Driver.create())
    ask(d, 1, 1, MYID)
    assert d.master.next_failover_at == 0


def test_vote_survives_a_restart() -> None:
    d = healthy(Driver.create())
    ask(d, 1, 4, PEER1)
    d2 = Driver.create(conf(), state=SentinelState.from_json(d.persisted[-1]), start=d.now)
    healthy(d2)
    assert ask(d2, 2, 4, PEER2) == [0, PEER1, 4]
    assert d2.world.current_epoch == 4


def test_no_vote_for_others_while_leading() -> None:
    d = healthy(Driver.create())
    m = d.master
    m.failover_state = FailoverState.WAIT_PROMOTION
    m.failover_epoch = m.leader_epoch = d.world.current_epoch = 3
    m.leader = MYID
    acts = d.step(IsMasterDownRequest(1, "10.0.0.1", 6379, 4, PEER1))
    assert d.replies[1] == [0, MYID, 3]
    assert d.world.current_epoch == 4 and "+vote-for-leader" not in d.names(acts)
    assert any(isinstance(a, Log) and "leading the failover of epoch 3" in a.message for a in acts)


@pytest.mark.parametrize(
    ("peers", "quorum", "needed"),
    [(0, 1, 1), (1, 1, 2), (2, 1, 2), (2, 2, 2), (2, 3, 3), (4, 2, 3), (4, 4, 4), (5, 2, 4), (6, 7, 7)],
)
def test_needed_votes_is_max_of_quorum_and_majority(peers: int, quorum: int, needed: int) -> None:
    d = Driver.create(conf(quorum=quorum))
    for i in range(peers):
        d.master.peers[str(i) * 40] = new_peer(d.master, f"10.0.1.{i + 2}", 26379, str(i) * 40, 0)
    assert needed_votes(d.master) == needed


def _candidate(d: Driver, peers: list[str], epoch: int = 5) -> Ctx:
    m = d.master
    for i, runid in enumerate(peers):
        if runid not in m.peers:
            m.peers[runid] = new_peer(m, f"10.0.1.{i + 10}", 26379, runid, 0)
    d.world.current_epoch = epoch
    m.failover_epoch = epoch
    m.failover_state = FailoverState.WAIT_START
    return Ctx(d.now)


def _votes(d: Driver, votes: dict[str, tuple[str | None, int]]) -> None:
    for runid, (leader, epoch) in votes.items():
        p = d.master.peers[runid]
        p.leader, p.leader_epoch = leader, epoch


def test_leader_needs_majority_of_all_known_sentinels() -> None:
    d = healthy(Driver.create(conf(quorum=2)))
    ctx = _candidate(d, [PEER1, PEER2, PEER3, PEER4])  # 5 sentinels: 3 votes needed
    _votes(d, {PEER1: (MYID, 5)})
    assert get_leader(d.world, ctx, d.master, 5) is None  # 2 votes: quorum reached, majority not
    _votes(d, {PEER2: (MYID, 5)})
    assert get_leader(d.world, ctx, d.master, 5) == MYID


def test_leader_needs_quorum_even_with_majority() -> None:
    d = healthy(Driver.create(conf(quorum=3)))
    ctx = _candidate(d, [PEER1, PEER2])
    _votes(d, {PEER1: (MYID, 5)})
    assert get_leader(d.world, ctx, d.master, 5) is None
    _votes(d, {PEER2: (MYID, 5)})
    assert get_leader(d.world, ctx, d.master, 5) == MYID


def test_only_votes_of_the_failover_epoch_count() -> None:
    d = healthy(Driver.create(conf(quorum=2)))
    ctx = _candidate(d, [PEER1, PEER2])
    _votes(d, {PEER1: (MYID, 4), PEER2: (MYID, 6)})
    assert get_leader(d.world, ctx, d.master, 5) is None


def test_we_vote_for_the_most_voted_candidate() -> None:
    d = healthy(Driver.create(conf(quorum=2)))
    ctx = _candidate(d, [PEER1, PEER2])
    _votes(d, {PEER2: (PEER1, 5)})
    assert get_leader(d.world, ctx, d.master, 5) == PEER1.lower()
    assert (d.master.leader, d.master.leader_epoch) == (PEER1, 5)


def test_vote_direct_api_returns_recorded_vote() -> None:
    d = healthy(Driver.create())
    ctx = Ctx(d.now)
    assert vote(d.world, ctx, d.master, 2, PEER1) == (PEER1, 2)
    assert vote(d.world, ctx, d.master, 2, PEER2) == (PEER1, 2)
    assert ctx.dirty


def _lost(d: Driver, votes: dict[str, tuple[str | None, int]], ours: str = MYID) -> tuple[int, str]:
    ctx = _candidate(d, list(votes))
    m = d.master
    m.leader, m.leader_epoch = ours, 5
    m.failover_start_time = d.now
    _votes(d, votes)
    after_not_elected(d.world, ctx, m)
    return m.next_failover_at - d.now, m.next_failover_reason


def test_split_vote_retries_quickly() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)))
    wait, reason = _lost(d, {PEER1: (PEER1, 5), PEER2: (PEER2, 5)})
    assert 100 <= wait < 400 and reason == "split vote in epoch 5"


def test_third_party_vote_for_another_backs_off() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)))
    wait, reason = _lost(d, {PEER1: (PEER1, 5), PEER2: (PEER1, 5)})
    assert wait == 120_000 and reason.startswith("not elected in epoch 5, another sentinel may lead")
    assert f"{PEER2} voted for {PEER1}" in reason


def test_unknown_vote_of_a_reachable_peer_backs_off() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)))
    wait, reason = _lost(d, {PEER1: (PEER1, 5), PEER2: (None, 0)})
    assert wait == 120_000 and "unknown" in reason


def test_unreachable_peers_do_not_block_a_quick_retry() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)))
    d.master.peers[PEER2].sdown = True
    wait, reason = _lost(d, {PEER1: (PEER1, 5), PEER2: (None, 0)})
    assert wait < 2000 and reason == "split vote in epoch 5"


def test_having_voted_for_another_backs_off() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)))
    wait, reason = _lost(d, {PEER1: (PEER1, 5), PEER2: (PEER2, 5)}, ours=PEER1)
    assert wait == 120_000 and reason == f"voted for {PEER1} in epoch 5"


def test_election_is_hopeless_only_when_every_vote_is_known() -> None:
    d = healthy(Driver.create(conf(quorum=2)))
    _candidate(d, [PEER1, PEER2])
    m = d.master
    m.leader, m.leader_epoch = MYID, 5
    _votes(d, {PEER1: (PEER1, 5), PEER2: (None, 0)})
    assert not election_hopeless(m, 5)  # PEER2 may still vote for us or for PEER1
    _votes(d, {PEER2: (PEER2, 5)})
    assert election_hopeless(m, 5)  # three candidates, one vote each, two needed
    _votes(d, {PEER2: (PEER2, 6)})
    assert not election_hopeless(m, 5)  # its vote in epoch 5 is unknown
    _votes(d, {PEER2: (PEER1, 5)})
    assert not election_hopeless(m, 5)  # PEER1 won


def test_split_vote_ends_before_the_election_timeout() -> None:
    from tests.sentinel.test_failover import to_odown

    d = healthy(Driver.create(conf(failover_timeout=60_000)))
    to_odown(d)
    d.answer_all(PEER1, "SENTINEL", [1, PEER1, 1])
    acts = d.answer_all(PEER2, "SENTINEL", [1, PEER2, 1])
    assert d.names(acts)[-1] == "-failover-abort-not-elected"
    assert d.master.next_failover_reason == "split vote in epoch 1"
