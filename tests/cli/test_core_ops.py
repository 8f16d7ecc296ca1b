"""The core's side of the operator commands: SWITCHOVER (planned failover through the master's
own `FAILOVER TO`) and MAINTENANCE (no automatic failover, no votes), on one driven core."""

from __future__ import annotations

from sentinel.core import SendCommand, SentinelState
from sentinel.core.events import IsMasterDownRequest, MaintenanceRequest, SwitchoverRequest
from sentinel.core.instances import flags, info_section, instance_map
from sentinel.core.model import FailoverState
from sentinel.core.replies import ErrorReply, Status
from tests.sentinel.driver import PEER1, R1N, R2N, Driver, conf, healthy, replica_info
from tests.sentinel.test_failover import to_odown, until


def _sends(d: Driver, label: str) -> list[SendCommand]:
    """Every command sent to `label` since the start."""
    out = []
    for a in d.log:
        if isinstance(a, SendCommand) and d.link_label.get(a.link, ("", None))[0] == label:
            out.append(a)
    return out


def _ready() -> Driver:
    return healthy(Driver.create(conf(quorum=2)))


def test_switchover_hands_over_through_the_master() -> None:
    d = _ready()
    epoch = d.world.current_epoch
    d.step(SwitchoverRequest(1, "mymaster", "10.0.0.3", 6379, 3000))
    assert d.replies[1] == Status("OK")
    m = d.master
    assert m.failover_epoch == epoch + 1 and m.switchover is not None
    # Fresh INFO from the replicas first, then the FAILOVER to the master (not SLAVEOF NO ONE).
    d.settle()  # answers the FAILOVER +OK too
    sent = [c for c in _sends(d, "mymaster") if c.argv[0] == "FAILOVER"]
    assert [c.argv for c in sent] == [("FAILOVER", "TO", "10.0.0.3", "6379", "TIMEOUT", "3000")]
    assert not d.pending(R2N, "SLAVEOF")
    assert m.failover_state is FailoverState.WAIT_PROMOTION
    names = d.names(d.log)
    assert "+switchover-pause-writes" in names and "+selected-slave" in names
    # The target reports role:master: new config epoch, switch, the old master repointed too.
    d.infos[R2N] = replica_info(role="master")
    acts = d.advance(200)
    assert "+switch-master" in d.names(acts)
    assert m.addr == ("10.0.0.3", 6379) and m.config_epoch == epoch + 1
    assert m.last_failover is not None and m.last_failover.kind == "switchover"
    old = m.replicas["10.0.0.1:6379"]
    d.up("10.0.0.1:6379")
    following = replica_info(master_host="10.0.0.3", master_port=6379)
    d.infos[R1N] = d.infos["10.0.0.1:6379"] = following
    d.advance(3000)
    assert any(c.argv[:2] == ("SLAVEOF", "10.0.0.3") for c in _sends(d, "10.0.0.1:6379"))
    assert "+failover-end" in d.names(d.log) and m.failover_state is FailoverState.NONE
    assert old.reconf.name == "NONE"
    fields = dict(instance_map(m, m, d.now))
    assert fields["last-failover-kind"] == "switchover" and fields["last-failover-epoch"] == str(epoch + 1)
    assert fields["last-failover-to"] == "10.0.0.3:6379"


def test_switchover_refused_by_the_master_aborts_without_backoff() -> None:
    d = _ready()
    d.step(SwitchoverRequest(1, "mymaster", None, None, 3000))
    d.infos.pop("mymaster")
    d.dead.add("mymaster")  # leave the FAILOVER unanswered by settle
    d.settle()
    d.answer("mymaster", "FAILOVER", ErrorReply("ERR FAILOVER target HOST and PORT is not a replica."))
    m = d.master
    assert m.failover_state is FailoverState.NONE and m.switchover is None
    assert m.next_failover_at == 0
    assert "-failover-abort-switchover" in d.names(d.log)


def test_switchover_times_out_and_aborts_the_master() -> None:
    d = _ready()
    d.step(SwitchoverRequest(1, "mymaster", "10.0.0.2", 6379, 1000))
    d.settle()
    d.advance(3500)
    assert d.master.failover_state is FailoverState.NONE
    assert any(c.argv == ("FAILOVER", "ABORT") for c in _sends(d, "mymaster"))


def test_switchover_checks_before_acting() -> None:
    d = _ready()
    d.step(SwitchoverRequest(1, "nope", None, None, 1000))
    d.step(SwitchoverRequest(2, "mymaster", "10.9.9.9", 1, 1000))
    assert d.replies[1] == ErrorReply("ERR No such master with that name")
    assert isinstance(d.replies[2], ErrorReply) and "No replica 10.9.9.9:1" in d.replies[2].text
    d.master.replicas[R1N].slave_priority = 0  # as its next INFO would say
    d.step(SwitchoverRequest(3, "mymaster", "10.0.0.2", 6379, 1000))
    assert isinstance(d.replies[3], ErrorReply) and d.replies[3].text.startswith("NOGOODSLAVE")
    assert "priority 0" in d.replies[3].text
    assert d.master.failover_state is FailoverState.NONE


def test_maintenance_blocks_failover_and_votes_and_persists() -> None:
    d = _ready()
    d.step(MaintenanceRequest(1, "mymaster", True))
    assert d.replies[1] == Status("OK") and d.master.maintenance
    assert "maintenance" in flags(d.master)
    assert "maintenance=1" in info_section(d.world, d.now)
    state = SentinelState.from_json(d.persisted[-1])
    assert state.masters["mymaster"].maintenance
    # A peer asks for our vote: refused while paused.
    d.step(IsMasterDownRequest(2, "10.0.0.1", 6379, d.world.current_epoch + 1, PEER1))
    vote = d.replies[2]
    assert isinstance(vote, list) and vote[1] == "*"
    # The master dies and a peer agrees: ODOWN, but no failover.
    events = [e for e, _ in to_odown(d)]
    assert "+odown" in events and "+try-failover" not in events
    d.advance(3000)
    assert d.master.odown and d.master.failover_state is FailoverState.NONE
    assert "+try-failover" not in d.names(d.log)
    # Resume: the failover starts.
    d.step(MaintenanceRequest(3, "mymaster", False))
    assert "-maintenance" in d.names(d.last)
    until(d, "+try-failover", peers={PEER1: [1, "*", 0]})


def test_maintenance_survives_a_restart() -> None:
    d = _ready()
    d.step(MaintenanceRequest(1, "mymaster", True))
    state = SentinelState.from_json(d.persisted[-1])
    d2 = Driver.create(conf(quorum=2), state=state)
    assert d2.master.maintenance
