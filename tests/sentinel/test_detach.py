"""Before promoting, the leader detaches the other replicas from the old master (detach.py,
simulator finding F1): only the promoted replica can acknowledge the old master's writes."""

from __future__ import annotations

from sentinel.core import SendCommand
from sentinel.core.model import FailoverState, Reconf
from sentinel.core.replies import Status
from tests.sentinel.driver import MYID, PEER1, R1N, R2N, Driver, healthy, replica_info
from tests.sentinel.test_failover import TXN_DETACH_TO_R2, TXN_PROMOTE, to_odown


def elected_and_selected(d: Driver, r1: int = 100, r2: int = 200) -> list[tuple[str, tuple[str, ...]]]:
    """Elected, fresh INFO from both replicas (R2 ahead: chosen); the commands sent then."""
    to_odown(d)
    d.answer(PEER1, "SENTINEL", [1, MYID, 1], which=-1)
    d.info(R1N, replica_info(offset=r1))
    acts = d.info(R2N, replica_info(offset=r2))
    return [(d.link_label[a.link][0], a.argv) for a in acts if isinstance(a, SendCommand)]


def answer_detach(d: Driver, label: str, offset: int) -> list[tuple[str, tuple[str, ...]]]:
    """`label` runs its detach transaction: it had reached `offset` from the old master."""
    for name in ("MULTI", "SLAVEOF", "CONFIG", "CLIENT", "CLIENT", "INFO"):
        d.answer(label, name, Status("QUEUED"))
    info = replica_info(master_host="10.0.0.3", link_up=False, offset=offset)
    acts = d.answer(label, "EXEC", [Status("OK"), Status("OK"), 0, 0, info])
    return [(d.link_label[a.link][0], a.argv) for a in acts if isinstance(a, SendCommand)]


def manual() -> Driver:
    d = healthy(Driver.create(), offsets=(100, 200))
    d.auto_detach = False
    return d


def test_no_promotion_before_the_other_replicas_left_the_old_master() -> None:
    d = manual()
    sent = elected_and_selected(d)
    assert sent == [(R1N, argv) for argv in TXN_DETACH_TO_R2]  # no SLAVEOF NO ONE yet
    assert d.master.failover_state is FailoverState.SEND_SLAVEOF_NOONE
    d.advance(500, settle=False)
    assert not [s for s in d.pending(R2N) if s.argv[:3] == ("SLAVEOF", "NO", "ONE")]
    sent = answer_detach(d, R1N, 150)  # R1 had 150 when it left; R2 was seen at 200
    assert [argv for _, argv in sent[:6]] == TXN_PROMOTE and {label for label, _ in sent[:6]} == {R2N}
    assert d.master.failover_state is FailoverState.WAIT_PROMOTION


def test_a_replica_that_left_ahead_of_the_chosen_one_makes_the_leader_wait_for_it() -> None:
    """The old master resumed meanwhile: R1 acknowledged up to 260 before it left. R2 still
    replicates the old master and gets the same stream: it is polled until it holds 260."""
    d = manual()
    elected_and_selected(d)
    sent = answer_detach(d, R1N, 260)
    assert sent == []  # R2's INFO is younger than a poll period
    assert d.master.failover_state is FailoverState.SEND_SLAVEOF_NOONE
    assert d.core.next_tick_in() == 50
    acts = d.tick(d.now + 50)
    assert [(d.link_label[a.link][0], a.argv) for a in acts if isinstance(a, SendCommand)] == [
        (R2N, ("INFO",))
    ]
    acts = d.info(R2N, replica_info(offset=240))
    assert not [a for a in acts if isinstance(a, SendCommand) and a.argv[0] == "MULTI"]
    d.advance(100, settle=False)
    acts = d.info(R2N, replica_info(offset=260))
    sent_argv = [a.argv for a in acts if isinstance(a, SendCommand)]
    assert sent_argv[:6] == TXN_PROMOTE
    assert not any(e == "-failover-detach-timeout" for e, _ in d.all_events())


def test_the_wait_is_bounded_by_replica_info_wait() -> None:
    d = manual()
    elected_and_selected(d)
    start = d.now
    events: list[tuple[str, str]] = []
    while not events and d.now - start < 5000:
        events = [e for e in d.events(d.tick(d.now + 50)) if e[0] == "-failover-detach-timeout"]
    assert events and events[0][1].endswith("no answer from 10.0.0.2:6379")
    assert 1000 <= d.now - start <= 1100
    assert d.master.failover_state is FailoverState.WAIT_PROMOTION  # promoted anyway


def test_detached_replicas_are_not_repointed_a_second_time() -> None:
    d = healthy(Driver.create(), offsets=(100, 200))  # the driver's R1 answers its detach at once
    elected_and_selected(d)
    assert d.master.failover_state is FailoverState.WAIT_PROMOTION
    acts = d.info(R2N, replica_info(role="master", run_id="3" * 40))
    r1 = [a.argv for a in acts if isinstance(a, SendCommand) and d.link_label[a.link][0] == R1N]
    assert not [argv for argv in r1 if argv[0] == "SLAVEOF"]
    assert ("+slave-reconf-sent", "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.3 6379") in d.events(
        acts
    )
    assert d.master.replicas[R1N].reconf is Reconf.SENT


def test_an_abort_forgets_the_detach() -> None:
    d = manual()
    elected_and_selected(d)
    assert d.master.detached == {R1N: None}
    d.dead.add(R2N)
    d.down(R2N)
    # the chosen replica stays unreachable: the failover aborts and forgets the detach
    for _ in range(300):
        d.tick(d.now + 1000)
        if d.master.failover_state is FailoverState.NONE:
            break
    assert d.master.failover_state is FailoverState.NONE
    assert d.master.detached == {} and d.master.detach_started is None
