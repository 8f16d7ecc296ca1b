"""The failover state machine end to end on one core, its abort paths, and what follows it."""

from __future__ import annotations

from sentinel.core import (
    Channel,
    CoreError,
    Crash,
    ErrorReply,
    LinkDown,
    LinkUp,
    OpenLink,
    RunScript,
    SendCommand,
    Tick,
)
from sentinel.core.events import FailoverRequest, HelloReceived, SimulateFailureRequest
from sentinel.core.model import FailoverState, Reconf
from sentinel.core.replies import Reply, Status
from tests.sentinel.driver import (
    MYID,
    PEER1,
    PEER2,
    R1N,
    R2N,
    Driver,
    conf,
    healthy,
    master_info,
    peer_hello,
    replica_info,
)

M = "master mymaster 10.0.0.1 6379"
R1 = "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379"
R2 = "slave 10.0.0.3:6379 10.0.0.3 6379 @ mymaster 10.0.0.1 6379"
NEW_M = "master mymaster 10.0.0.3 6379"
NEW_R1 = "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.3 6379"
NEW_OLD = "slave 10.0.0.1:6379 10.0.0.1 6379 @ mymaster 10.0.0.3 6379"
TXN_PROMOTE = [
    ("MULTI",),
    ("SLAVEOF", "NO", "ONE"),
    ("CONFIG", "REWRITE"),
    ("CLIENT", "KILL", "TYPE", "normal"),
    ("CLIENT", "KILL", "TYPE", "pubsub"),
    ("EXEC",),
]
TXN_DETACH_TO_R2 = [
    ("MULTI",),
    ("SLAVEOF", "10.0.0.3", "6379"),
    ("CONFIG", "REWRITE"),
    ("CLIENT", "KILL", "TYPE", "normal"),
    ("CLIENT", "KILL", "TYPE", "pubsub"),
    ("INFO",),
    ("EXEC",),
]


def kill_master(d: Driver) -> None:
    """The master process dies: both links reset, reconnects refused, nothing answers."""
    d.dead.add("mymaster")
    d.down("mymaster")
    d.down("mymaster", Channel.PUBSUB)


def until(
    d: Driver, event: str, limit: int = 60_000, every: int = 100, peers: dict[str, Reply] | None = None
) -> list[tuple[str, str]]:
    """Advance until `event` is published; returns every event published meanwhile.

    Connects to a dead master are refused; `peers` answers every is-master-down ask.
    """
    seen: list[tuple[str, str]] = []
    end = d.now + limit
    while d.now < end:
        mark = len(d.log)
        acts = d.tick(d.now + every)
        for a in acts:
            if isinstance(a, OpenLink) and a.label == "mymaster" and "mymaster" in d.dead:
                d.step(LinkDown(a.link, "refused"))
        d.settle()
        for label, reply in (peers or {}).items():
            d.answer_all(label, "SENTINEL", reply)
        seen += d.events(d.log[mark:])
        if any(e == event for e, _ in seen):
            return seen
    raise AssertionError(f"{event} not published within {limit} ms: {seen}")


def to_odown(d: Driver) -> list[tuple[str, str]]:
    """Kill the master, reach SDOWN, let PEER1 agree: ODOWN and, once the random candidacy
    delay passed (a Tick at `candidacy_at`, as `next_tick_in` asks), a failover start."""
    kill_master(d)
    until(d, "+sdown")
    events = d.events(d.answer(PEER1, "SENTINEL", [1, "*", 0]))
    m = d.master
    if not m.in_failover and m.candidacy_at is not None:
        assert d.core.next_tick_in() == m.candidacy_at - d.now
        events += d.events(d.tick(m.candidacy_at))
    return events


def elected(d: Driver) -> list[tuple[str, str]]:
    """From ODOWN: PEER1 votes for us."""
    to_odown(d)
    vote_ask = d.pending(PEER1, "SENTINEL")[-1]
    assert vote_ask.argv[-2:] == ("1", MYID)
    return d.events(d.answer(PEER1, "SENTINEL", [1, MYID, 1], which=-1))


def test_happy_path_through_every_state() -> None:
    d = healthy(Driver.create(), offsets=(100, 200))
    events = to_odown(d)
    assert events == [
        ("+odown", f"{M} #quorum 2/2"),
        ("+new-epoch", "1"),
        ("+try-failover", M),
        ("+vote-for-leader", f"{MYID} 1"),
    ]
    assert d.master.failover_state is FailoverState.WAIT_START
    # the vote requests go out in the same step, after the vote was persisted
    asks = [a.argv[-2:] for a in d.last if isinstance(a, SendCommand) and a.argv[0] == "SENTINEL"]
    assert asks == [("1", MYID), ("1", MYID)]

    events = d.events(d.answer(PEER1, "SENTINEL", [1, MYID, 1], which=-1))
    assert events == [("+elected-leader", M), ("+failover-state-select-slave", M)]
    # select_slave asks every replica for a fresh INFO first
    assert d.pending(R1N, "INFO") and d.pending(R2N, "INFO")
    assert d.events(d.info(R1N, replica_info(offset=100))) == []
    acts = d.info(R2N, replica_info(offset=200))
    assert d.events(acts) == [
        ("+selected-slave", R2),
        ("+failover-state-send-slaveof-noone", R2),
        ("+failover-state-wait-promotion", R2),
    ]
    sent = [(d.link_label[a.link][0], a.argv) for a in acts if isinstance(a, SendCommand)]
    # ours (detach.py): R1 leaves the old master for R2 first, an INFO inside the transaction;
    # the driver's R1 answers at once: it reached offset 100 <= R2's 200, R2 may be promoted
    assert sent[:7] == [(R1N, argv) for argv in TXN_DETACH_TO_R2]
    assert [argv for _, argv in sent[7:13]] == TXN_PROMOTE and sent[13] == (R2N, ("INFO",))
    assert d.master.failover_state is FailoverState.WAIT_PROMOTION

    acts = d.info(R2N, replica_info(role="master", run_id="3" * 40))
    assert d.events(acts) == [
        ("-role-change", f"{R2} new reported role is master"),
        ("+promoted-slave", R2),
        ("+failover-state-reconf-slaves", M),
        ("+switch-master", "mymaster 10.0.0.1 6379 10.0.0.3 6379"),
        ("+slave", NEW_R1),
        ("+slave", NEW_OLD),
        ("+slave-reconf-sent", NEW_R1),
    ]
    m = d.master
    assert m.addr == ("10.0.0.3", 6379) and m.config_epoch == 1 and m.runid == "3" * 40
    assert m.failover_state is FailoverState.RECONF_SLAVES
    r1_cmds = [a.argv for a in acts if isinstance(a, SendCommand) and d.link_label[a.link][0] == R1N]
    assert ("SLAVEOF", "10.0.0.3", "6379") not in r1_cmds  # done before the promotion (detach.py)
    hellos = [a.argv[2] for a in acts if isinstance(a, SendCommand) and a.argv[0] == "PUBLISH"]
    assert len(hellos) == 4 and all(h.endswith(",mymaster,10.0.0.3,6379,1") for h in hellos)

    d.settle()
    d.infos[R1N] = replica_info(master_host="10.0.0.3", link_up=False)
    events = until(d, "+slave-reconf-inprog", every=100)
    assert events[-1] == ("+slave-reconf-inprog", NEW_R1)
    d.infos[R1N] = replica_info(master_host="10.0.0.3", link_up=True)
    events = until(d, "+failover-end")
    assert events[-2:] == [("+slave-reconf-done", NEW_R1), ("+failover-end", NEW_M)]
    assert m.failover_state is FailoverState.NONE and m.next_failover_at == 0
    assert all(r.reconf is Reconf.NONE for r in m.replicas.values())


def test_promotion_is_polled_fast() -> None:
    d = healthy(Driver.create(), offsets=(100, 200))
    elected(d)
    d.info(R1N, replica_info(offset=100))
    d.info(R2N, replica_info(offset=200))
    assert d.core.next_tick_in() == 50
    d.settle()
    del d.infos[R2N]
    infos = 0
    for _ in range(10):
        acts = d.tick(d.now + 50)
        infos += sum(
            1
            for a in acts
            if isinstance(a, SendCommand) and a.argv == ("INFO",) and d.link_label[a.link][0] == R2N
        )
    assert infos >= 8  # stock would poll once a second


def test_client_reconfig_script_runs_at_promotion() -> None:
    d = healthy(
        Driver.create(conf(extra="sentinel client-reconfig-script mymaster /bin/reconf\n")),
        offsets=(100, 200),
    )
    elected(d)
    d.info(R1N, replica_info(offset=100))
    d.info(R2N, replica_info(offset=200))
    acts = d.info(R2N, replica_info(role="master"))
    scripts = [a.argv for a in acts if isinstance(a, RunScript)]
    assert scripts == [("/bin/reconf", "mymaster", "leader", "start", "10.0.0.1", "6379", "10.0.0.3", "6379")]


def test_abort_not_elected_after_election_timeout() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)))
    to_odown(d)
    start = d.master.failover_start_time
    d.answer_all(PEER1, "SENTINEL", [1, "*", 0])
    d.answer_all(PEER2, "SENTINEL", [1, "*", 0])
    events = until(d, "-failover-abort-not-elected")
    assert events[-1] == ("-failover-abort-not-elected", M)
    assert 10_000 < d.now - start <= 10_100
    m = d.master
    assert m.failover_state is FailoverState.NONE
    assert m.next_failover_at == start + 120_000 and "another sentinel may lead" in m.next_failover_reason


def test_election_timeout_is_capped_by_failover_timeout() -> None:
    d = healthy(Driver.create(conf(failover_timeout=3000)))
    to_odown(d)
    start = d.master.failover_start_time
    until(d, "-failover-abort-not-elected")
    assert 3000 < d.now - start <= 3100


def test_split_vote_retries_in_the_next_epoch_quickly() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)))
    to_odown(d)
    started = d.now
    peers: dict[str, Reply] = {PEER1: [1, PEER1, 1], PEER2: [1, PEER2, 1]}
    until(d, "-failover-abort-not-elected", peers=peers)
    assert d.now - started <= 200  # every vote known, nobody can win: no election timeout
    assert d.master.next_failover_reason == "split vote in epoch 1"
    aborted = d.now
    events = until(d, "+try-failover", peers=peers)
    assert ("+new-epoch", "2") in events and d.now - aborted < 2100


def test_abort_no_good_slave() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)), priorities=(0, 0))
    elected(d)
    d.info(R1N, replica_info(priority=0))
    acts = d.info(R2N, replica_info(priority=0))
    assert d.events(acts) == [("-failover-abort-no-good-slave", M)]
    assert "priority 0" in d.master.next_failover_reason


def test_select_waits_at_most_replica_info_wait_for_fresh_info() -> None:
    d = healthy(Driver.create(), offsets=(100, 200))
    elected(d)
    d.info(R1N, replica_info(offset=100))
    del d.infos[R2N]  # R2 never answers INFO: selection goes ahead without it after 1 s
    events = until(d, "+selected-slave", every=100)
    assert ("+selected-slave", R1) in events


def test_abort_when_the_selected_replica_stays_unreachable() -> None:
    d = healthy(Driver.create(conf(failover_timeout=5000)), offsets=(100, 200))
    elected(d)
    d.info(R1N, replica_info(offset=100))
    d.down(R2N)  # gone just before the INFO answer arrives
    d.dead.add(R2N)
    d.info(R1N, replica_info(offset=100))
    events = until(d, "+selected-slave")
    assert ("+selected-slave", R1) in events  # R2 excluded (disconnected): R1 is the best left


def _stuck_in_send_slaveof_noone(d: Driver) -> None:
    """A failover in send_slaveof_noone whose selected replica (R2) lost its command link."""
    d.advance(1000)
    d.step(FailoverRequest(1, "mymaster"))
    m = d.master
    r = m.replicas[R2N]
    m.failover_state = FailoverState.SEND_SLAVEOF_NOONE
    m.failover_state_change_time = d.now
    m.promoted, r.promoted = r, True
    d.dead.add(R2N)
    d.down(R2N)  # the core reconnects at once: that attempt is left pending here


def test_abort_slave_timeout_in_send_slaveof_noone() -> None:
    d = healthy(Driver.create(conf(failover_timeout=5000)), offsets=(100, 200))
    _stuck_in_send_slaveof_noone(d)
    entered = d.now
    refused = [R2N]
    events: list[tuple[str, str]] = []
    while not any(e == "-failover-abort-slave-timeout" for e, _ in events):
        acts = d.tick(d.now + 100)
        for a in acts:
            if isinstance(a, OpenLink) and a.label in refused and a.channel is Channel.CMD:
                d.step(LinkDown(a.link, "refused"))
        d.settle()
        events += d.events(acts)
        assert d.now - entered < 6000
    assert 5000 < d.now - entered <= 5100
    assert not d.master.replicas[R2N].promoted


def test_send_slaveof_noone_proceeds_as_soon_as_the_link_is_back() -> None:
    d = healthy(Driver.create(conf(failover_timeout=5000)), offsets=(100, 200))
    _stuck_in_send_slaveof_noone(d)
    d.advance(1000)
    assert d.master.failover_state is FailoverState.SEND_SLAVEOF_NOONE
    acts = d.step(LinkUp(d.link(R2N), "10.0.1.1"))
    assert ("SLAVEOF", "NO", "ONE") in [a.argv for a in acts if isinstance(a, SendCommand)]
    assert d.names(acts)[-1] == "+failover-state-wait-promotion"


def test_abort_slave_timeout_in_wait_promotion() -> None:
    d = healthy(Driver.create(conf(failover_timeout=5000)), offsets=(100, 200))
    elected(d)
    d.info(R1N, replica_info(offset=100))
    d.info(R2N, replica_info(offset=200))
    entered = d.now
    events = until(d, "-failover-abort-slave-timeout")
    assert events[-1] == ("-failover-abort-slave-timeout", M)
    assert 5000 < d.now - entered <= 5100
    assert not d.master.replicas[R2N].promoted and d.master.promoted is None
    assert "did not report role:master" in d.master.next_failover_reason


def _promoted(d: Driver) -> None:
    elected(d)
    d.info(R1N, replica_info(offset=100))
    d.info(R2N, replica_info(offset=200))
    d.info(R2N, replica_info(role="master"))
    assert d.master.failover_state is FailoverState.RECONF_SLAVES
    d.settle()


def test_reconf_sent_timeout_then_end() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)), offsets=(100, 200))
    _promoted(d)
    sent = d.now
    events = until(d, "+failover-end")
    assert ("-slave-reconf-sent-timeout", NEW_R1) in events
    assert 10_000 < d.now - sent <= 10_100


def test_reconf_end_for_timeout_sends_best_effort() -> None:
    d = healthy(Driver.create(conf(failover_timeout=20_000)), offsets=(100, 200))
    _promoted(d)
    entered = d.master.failover_state_change_time
    d.infos[R1N] = replica_info(master_host="10.0.0.3", link_up=False)  # in progress forever
    events = until(d, "+failover-end", limit=30_000)
    assert events[-3:] == [
        ("+failover-end-for-timeout", NEW_M),
        ("+failover-end", NEW_M),
        ("+slave-reconf-sent-be", NEW_R1),
    ]
    assert 20_000 < d.now - entered <= 20_100


def test_reconf_ends_on_timeout_even_with_the_new_master_down() -> None:
    d = healthy(Driver.create(conf(failover_timeout=20_000)), offsets=(100, 200))
    _promoted(d)
    d.dead.add(R2N)  # the new master (its links were R2's) stops answering
    d.dead.add(R1N)
    events = until(d, "+failover-end", limit=30_000)
    assert ("+failover-end-for-timeout", NEW_M) in events
    assert d.master.failover_state is FailoverState.NONE


def test_parallel_syncs_throttles_repointing() -> None:
    """Of the replicas not repointed before the promotion (detach.py: here their transactions
    fail: EXEC answers +OK instead of the replies)."""
    text = conf(parallel_syncs=2, failover_timeout=60_000)
    d = Driver.create(text)
    d.auto_detach = False
    replicas = [(f"10.0.0.{i}", 6379, 100) for i in range(2, 7)]
    replicas[1] = ("10.0.0.3", 6379, 200)
    d.up("mymaster")
    d.settle()
    d.info("mymaster", master_info(replicas))
    d.step(HelloReceived(peer_hello(PEER1, "10.0.1.2")))
    d.step(HelloReceived(peer_hello(PEER2, "10.0.1.3")))
    d.tick(d.now + 100)
    for h, p, off in replicas:
        d.up(f"{h}:{p}")
        d.settle()
        d.info(f"{h}:{p}", replica_info(offset=off))
    d.up(PEER1)
    d.up(PEER2)
    d.settle()
    elected(d)
    for h, p, off in replicas:
        d.info(f"{h}:{p}", replica_info(offset=off))
    assert d.master.failover_state is FailoverState.SEND_SLAVEOF_NOONE
    events = until(d, "+failover-state-wait-promotion")
    assert [p.split()[1] for e, p in events if e == "-slave-detach-failed"] == [
        "10.0.0.2:6379",
        "10.0.0.4:6379",
        "10.0.0.5:6379",
        "10.0.0.6:6379",
    ]
    d.infos[R2N] = replica_info(role="master")
    acts = d.advance(100)
    sent = [p for e, p in d.events(acts) if e == "+slave-reconf-sent"]
    assert len(sent) == 2
    m = d.master
    assert sum(1 for r in m.replicas.values() if r.reconf is Reconf.SENT) == 2
    assert sum(1 for r in m.replicas.values() if r.reconf is Reconf.PENDING) == 2
    first = next(r for r in m.replicas.values() if r.reconf is Reconf.SENT)
    d.settle()
    d.infos[first.name] = replica_info(master_host="10.0.0.3", link_up=True)
    acts = d.advance(1100)
    assert [e for e, _ in d.events(acts) if e.startswith("+slave-reconf")].count("+slave-reconf-sent") == 1
    assert sum(1 for r in m.replicas.values() if r.reconf in (Reconf.SENT, Reconf.INPROG)) == 2


def test_post_switch_reset_forgets_peer_state_and_stale_answers() -> None:
    d = healthy(Driver.create(), offsets=(100, 200))
    elected(d)
    stale = d.pending(PEER2, "SENTINEL")  # asked about 10.0.0.1 before the switch
    assert stale
    d.info(R1N, replica_info(offset=100))
    d.info(R2N, replica_info(offset=200))
    d.info(R2N, replica_info(role="master"))
    m = d.master
    assert all(not p.master_down and p.leader is None and p.leader_epoch == 0 for p in m.peers.values())
    assert m.leader is None and m.leader_epoch == 1  # our vote's epoch is kept: one vote per epoch
    d.answer(PEER2, "SENTINEL", [1, MYID, 1])
    assert not m.peers[PEER2].master_down and m.peers[PEER2].leader is None
    assert not m.sdown and not m.odown


def test_returning_old_master_is_converted_after_the_wait() -> None:
    d = healthy(Driver.create(conf(failover_timeout=60_000)), offsets=(100, 200))
    _promoted(d)
    d.infos[R1N] = replica_info(master_host="10.0.0.3")
    until(d, "+failover-end")
    old = "10.0.0.1:6379"
    d.dead.discard("mymaster")
    # its links are opened under its replica name now
    for _ in range(20):
        d.tick(d.now + 100)
        if (old, Channel.CMD) in d.open:
            break
    d.up(old)
    d.settle()
    acts = d.info(old, master_info())
    assert ("-role-change", f"{NEW_OLD} new reported role is master") in d.events(acts)
    seen = d.now
    events = until(d, "+convert-to-slave", limit=20_000)
    assert events[-1] == ("+convert-to-slave", NEW_OLD)
    assert d.now - seen > 8000
    conv = [
        a.argv
        for a in d.log
        if isinstance(a, SendCommand) and a.argv[0] == "SLAVEOF" and d.link_label[a.link][0] == old
    ]
    assert conv == [("SLAVEOF", "10.0.0.3", "6379")]


def test_fix_slave_config_waits_failover_timeout() -> None:
    d = healthy(Driver.create(conf(failover_timeout=20_000)))
    d.infos[R1N] = replica_info(master_host="10.0.0.9")
    d.advance(10_100)
    changed = d.master.replicas[R1N].slave_conf_change_time
    events = until(d, "+fix-slave-config", limit=40_000)
    assert events[-1] == ("+fix-slave-config", R1)
    assert d.now - changed > 20_000


def test_a_replica_left_on_the_dead_old_master_is_repointed_at_once() -> None:
    """Ours: after the switch, a replica still following the old master (the leader did not
    know it), link down, while the old master is down: repointed at the new master without the
    failover-timeout wait (stock's wait leaves min-replicas-to-write refusing every write)."""
    d = healthy(Driver.create(conf(failover_timeout=60_000)), offsets=(100, 200))
    _promoted(d)
    until(d, "+failover-end")
    old = "10.0.0.1:6379"
    assert d.master.replicas[old].sdown or until(d, "+sdown", limit=20_000)
    start = d.now
    d.infos[R1N] = replica_info(master_host="10.0.0.1", link_up=False)
    events = until(d, "+fix-slave-config", limit=20_000)
    assert events[-1] == ("+fix-slave-config", NEW_R1)
    assert d.now - start < 15_000  # an INFO period or so, not failover-timeout (60 s)
    fix = [
        a.argv
        for a in d.log
        if isinstance(a, SendCommand) and a.argv[0] == "SLAVEOF" and d.link_label[a.link][0] == R1N
    ]
    assert fix[-1] == ("SLAVEOF", "10.0.0.3", "6379")


def test_a_replica_following_a_live_replica_keeps_the_stock_wait() -> None:
    d = healthy(Driver.create(conf(failover_timeout=20_000)))
    d.infos[R1N] = replica_info(master_host="10.0.0.3", link_up=False)  # R2, alive
    d.advance(10_100)
    changed = d.master.replicas[R1N].slave_conf_change_time
    events = until(d, "+fix-slave-config", limit=40_000)
    assert events[-1] == ("+fix-slave-config", R1)
    assert d.now - changed > 20_000


def test_forced_failover_needs_no_election() -> None:
    d = healthy(Driver.create(), offsets=(100, 200))
    d.advance(1000)
    acts = d.step(FailoverRequest(1, "mymaster"))
    assert d.replies[1] == Status("OK")
    assert d.events(acts) == [
        ("+new-epoch", "1"),
        ("+try-failover", M),
        ("+vote-for-leader", f"{MYID} 1"),
        ("+elected-leader", M),
        ("+failover-state-select-slave", M),
    ]
    d.step(FailoverRequest(2, "mymaster"))
    assert d.replies[2] == ErrorReply("INPROG Failover already in progress")
    d.info(R1N, replica_info(offset=100))
    acts = d.info(R2N, replica_info(offset=200))
    assert ("+selected-slave", R2) in d.events(acts)


def test_forced_failover_without_a_good_replica() -> None:
    d = healthy(Driver.create(), priorities=(0, 0))
    d.step(FailoverRequest(1, "mymaster"))
    assert d.replies[1] == ErrorReply("NOGOODSLAVE No suitable replica to promote")
    d.step(FailoverRequest(2, "nope"))
    assert d.replies[2] == ErrorReply("ERR No such master with that name")


def test_crash_after_election() -> None:
    d = healthy(Driver.create(), offsets=(100, 200))
    d.step(SimulateFailureRequest(1, ("crash-after-election",)))
    acts = d.step(FailoverRequest(2, "mymaster"))
    assert isinstance(acts[-1], Crash) and acts[-1].code == 99
    assert d.names(acts)[-1] == "+elected-leader"
    try:
        d.core.step(d.now, Tick())
    except CoreError:
        pass
    else:
        raise AssertionError("a crashed core must refuse further events")


def test_crash_after_promotion() -> None:
    d = healthy(Driver.create(), offsets=(100, 200))
    d.advance(1000)
    d.step(SimulateFailureRequest(1, ("crash-after-promotion",)))
    d.step(FailoverRequest(2, "mymaster"))
    d.info(R1N, replica_info(offset=100))
    d.info(R2N, replica_info(offset=200))
    acts = d.info(R2N, replica_info(role="master"))
    assert isinstance(acts[-1], Crash) and d.names(acts)[-1] == "+promoted-slave"


# --- hello processing ----------------------------------------------------------------------


def test_hello_switches_only_on_a_strictly_higher_config_epoch() -> None:
    d = healthy(Driver.create(conf(extra="sentinel client-reconfig-script mymaster /bin/reconf\n")))
    acts = d.step(
        HelloReceived(peer_hello(PEER1, "10.0.1.2", epoch=0, config_epoch=0, master=("10.0.0.3", 6379)))
    )
    assert d.events(acts) == [] and d.master.addr == ("10.0.0.1", 6379)
    acts = d.step(
        HelloReceived(peer_hello(PEER1, "10.0.1.2", epoch=3, config_epoch=3, master=("10.0.0.3", 6379)))
    )
    assert d.events(acts) == [
        ("+new-epoch", "3"),
        ("+config-update-from", f"sentinel {PEER1} 10.0.1.2 26379 @ mymaster 10.0.0.1 6379"),
        ("+switch-master", "mymaster 10.0.0.1 6379 10.0.0.3 6379"),
        ("+slave", NEW_R1),
        ("+slave", NEW_OLD),
    ]
    assert [a.argv for a in acts if isinstance(a, RunScript)] == [
        ("/bin/reconf", "mymaster", "observer", "start", "10.0.0.1", "6379", "10.0.0.3", "6379")
    ]
    m = d.master
    assert m.addr == ("10.0.0.3", 6379) and m.config_epoch == 3 and d.world.current_epoch == 3
    # the same configuration again, or an older one: nothing
    acts = d.step(
        HelloReceived(peer_hello(PEER2, "10.0.1.3", epoch=3, config_epoch=3, master=("10.0.0.3", 6379)))
    )
    assert d.events(acts) == []
    acts = d.step(
        HelloReceived(peer_hello(PEER2, "10.0.1.3", epoch=3, config_epoch=2, master=("10.0.0.2", 6379)))
    )
    assert d.events(acts) == [] and m.addr == ("10.0.0.3", 6379)
    # a newer epoch with the same address is adopted silently
    acts = d.step(
        HelloReceived(peer_hello(PEER2, "10.0.1.3", epoch=4, config_epoch=4, master=("10.0.0.3", 6379)))
    )
    assert d.events(acts) == [("+new-epoch", "4")] and m.config_epoch == 4


def test_hello_switch_aborts_our_own_failover() -> None:
    d = healthy(Driver.create(), offsets=(100, 200))
    to_odown(d)
    assert d.master.in_failover
    d.step(HelloReceived(peer_hello(PEER1, "10.0.1.2", epoch=2, config_epoch=2, master=("10.0.0.2", 6379))))
    assert not d.master.in_failover and d.master.addr == ("10.0.0.2", 6379)


def test_hello_discovers_and_readdresses_sentinels() -> None:
    d = healthy(Driver.create(), peers=(PEER1,))
    acts = d.step(HelloReceived(peer_hello(PEER2, "10.0.1.3")))
    assert d.events(acts) == [("+sentinel", f"sentinel {PEER2} 10.0.1.3 26379 @ mymaster 10.0.0.1 6379")]
    acts = d.step(HelloReceived(peer_hello(PEER2, "10.0.1.9")))
    assert d.events(acts) == [("+sentinel-address-switch", f"{M} ip 10.0.1.9 port 26379 for {PEER2}")]
    assert d.master.peers[PEER2].addr == ("10.0.1.9", 26379) and len(d.master.peers) == 2
    # a sentinel restarted with a new id on the same address replaces the old one
    new = "f" * 40
    acts = d.step(HelloReceived(peer_hello(new, "10.0.1.9")))
    assert d.events(acts) == [
        ("+sentinel-invalid-addr", f"sentinel {PEER2} 10.0.1.9 26379 @ mymaster 10.0.0.1 6379"),
        ("+sentinel", f"sentinel {new} 10.0.1.9 26379 @ mymaster 10.0.0.1 6379"),
    ]
    assert set(d.master.peers) == {PEER1, new}
    assert d.persisted


def test_hello_ignored_when_own_unknown_master_or_malformed() -> None:
    d = healthy(Driver.create())
    for payload in (
        peer_hello(MYID, "10.0.1.1", config_epoch=9, master=("10.0.0.3", 6379)),
        peer_hello(PEER1, "10.0.1.2", config_epoch=9).replace("mymaster", "other"),
        "1,2,3",
    ):
        assert d.step(HelloReceived(payload)) == [] or d.names(d.last) == []
    assert d.master.config_epoch == 0 and d.master.addr == ("10.0.0.1", 6379)


def test_hello_on_pubsub_link_is_processed() -> None:
    from sentinel.core import PubSubMessage

    d = healthy(Driver.create(), peers=())
    acts = d.step(
        PubSubMessage(d.link("mymaster", Channel.PUBSUB), "__sentinel__:hello", peer_hello(PEER1, "10.0.1.2"))
    )
    assert d.names(acts) == ["+sentinel"]
    acts = d.step(PubSubMessage(d.link("mymaster", Channel.PUBSUB), "other", peer_hello(PEER2, "10.0.1.3")))
    assert d.names(acts) == []


def test_hello_publish_reflects_the_promoted_address() -> None:
    d = healthy(Driver.create(conf(extra="sentinel announce-ip 192.0.2.1\nsentinel announce-port 26999\n")))
    acts = d.advance(2100)
    hellos = {a.argv[2] for a in acts if isinstance(a, SendCommand) and a.argv[0] == "PUBLISH"}
    assert hellos == {f"192.0.2.1,26999,{MYID},0,mymaster,10.0.0.1,6379,0"}
