"""Failure detection: SDOWN timing and PING validity, ODOWN counting and expiry, TILT."""

from __future__ import annotations

import pytest

from sentinel.core import Channel, CloseLink, LinkDown, OpenLink, SendCommand
from sentinel.core.events import IsMasterDownRequest, LinkUp
from sentinel.core.replies import ErrorReply, Reply, Status
from tests.sentinel.driver import PEER1, PEER2, R1N, Driver, conf, healthy, master_info, replica_info


def sdown_time(d: Driver, label_event: str = "+sdown", until: int = 20_000, every: int = 10) -> int | None:
    """Tick in small steps; the time the first `label_event` for the master is published."""
    end = d.now + until
    while d.now < end:
        acts = d.tick(d.now + every)
        d.settle()
        if any(e == label_event and p.startswith("master ") for e, p in d.events(acts)):
            return d.now
    return None


def test_sdown_counts_from_the_oldest_unanswered_ping() -> None:
    d = healthy(Driver.create())
    d.dead.add("mymaster")
    d.advance(1500)
    first = d.master.act_ping_time
    assert first is not None and len(d.pending("mymaster", "PING")) >= 1
    t = sdown_time(d)
    # more PINGs went out meanwhile (every ping-period/2), the clock still counts from the first
    assert t is not None and first + 5000 < t <= first + 5000 + 10
    assert len(d.pending("mymaster", "PING")) > 3


@pytest.mark.parametrize(
    ("reply", "valid"),
    [
        (Status("PONG"), True),
        (ErrorReply("LOADING Redis is loading the dataset in memory"), True),
        (ErrorReply("MASTERDOWN Link with MASTER is down"), True),
        ("PONG", False),
        (ErrorReply("NOAUTH Authentication required."), False),
        (ErrorReply("ERR unknown command 'PING'"), False),
        (ErrorReply("MISCONF Errors writing to disk"), False),
        (Status("OK"), False),
        (1, False),
    ],
)
def test_ping_reply_validity(reply: Reply, valid: bool) -> None:
    d = healthy(Driver.create())
    d.advance(1500, settle=False)
    m = d.master
    sent = m.act_ping_time
    assert sent is not None
    d.answer("mymaster", "PING", reply)
    assert m.last_pong_time == d.now  # any reply counts for last-ping-reply
    if valid:
        assert m.act_ping_time is None and m.last_avail_time == d.now
    else:
        assert m.act_ping_time == sent and m.last_avail_time < sent


def test_sdown_recovers_with_a_pong() -> None:
    d = healthy(Driver.create())
    d.dead.add("mymaster")
    assert sdown_time(d) is not None
    d.dead.discard("mymaster")
    acts = d.advance(200)
    assert ("-sdown", "master mymaster 10.0.0.1 6379") in d.events(acts)
    assert not d.master.sdown


def test_sdown_when_master_reports_slave_too_long() -> None:
    d = healthy(Driver.create())
    t0 = d.now
    d.infos["mymaster"] = replica_info(master_host="10.0.0.9")
    d.advance(10_100)  # next INFO to the master carries role:slave
    role_time = d.master.role_reported_time
    assert d.master.role_reported.value == "slave" and role_time > t0
    t = sdown_time(d, until=40_000, every=100)
    assert t is not None and t - role_time > 5000 + 2 * 10_000
    assert t - role_time <= 5000 + 2 * 10_000 + 100


def test_master_reboot_down_after_period() -> None:
    d = healthy(Driver.create(conf(extra="sentinel master-reboot-down-after-period mymaster 3000\n")))
    d.infos["mymaster"] = master_info(run_id="n" * 40)
    acts = d.advance(10_100)
    assert ("+reboot", "master mymaster 10.0.0.1 6379") in d.events(acts)
    assert d.master.reboot
    rebooted = d.master.reboot_since
    # it answers -LOADING: alive for PING purposes, but the reboot rule still applies
    d.dead.add("mymaster")
    t = None
    while t is None:
        acts = d.tick(d.now + 100)
        d.answer_all("mymaster", "PING", ErrorReply("LOADING loading"))
        d.dead.discard("mymaster")
        d.settle()
        d.dead.add("mymaster")
        if "+sdown" in d.names(acts):
            t = d.now
    assert t - rebooted > 3000
    d.dead.discard("mymaster")
    acts = d.advance(2000)
    assert "-sdown" in d.names(acts) and not d.master.reboot


def test_lost_pubsub_link_alone_is_not_down() -> None:
    d = healthy(Driver.create())
    d.down("mymaster", Channel.PUBSUB)
    for _ in range(100):
        acts = d.tick(d.now + 100)
        d.settle()
        for a in acts:
            if isinstance(a, OpenLink) and a.channel is Channel.PUBSUB:
                d.step(LinkDown(a.link, "refused"))
        assert "+sdown" not in d.names(acts)
    assert d.master.disconnected and not d.master.sdown


def test_lost_command_link_counts_from_the_loss() -> None:
    d = healthy(Driver.create())
    d.advance(900)
    last_ok = d.master.last_avail_time
    lost_at = d.now
    assert lost_at - last_ok >= 800
    acts = d.down("mymaster")
    t = None
    while t is None:
        for a in acts:
            if isinstance(a, OpenLink):
                d.step(LinkDown(a.link, "refused"))  # reconnects fail: they do not move the clock
        acts = d.tick(d.now + 10)
        if "+sdown" in d.names(acts):
            t = d.now
    assert lost_at + 5000 < t <= lost_at + 5010


def test_watchdog_reconnects_a_silent_command_link() -> None:
    d = healthy(Driver.create())
    d.advance(15_000)
    d.dead.add("mymaster")
    cc = d.link("mymaster")
    closed = None
    for _ in range(100):
        acts = d.tick(d.now + 100)
        d.settle()
        if any(isinstance(a, CloseLink) and a.link == cc for a in acts):
            closed = d.now
            break
    assert closed is not None
    assert d.master.act_ping_time is not None and closed - d.master.act_ping_time > 2500


def test_busy_sends_one_script_kill() -> None:
    d = healthy(Driver.create())
    d.dead.add("mymaster")
    assert sdown_time(d) is not None
    d.answer("mymaster", "PING", ErrorReply("BUSY Redis is busy running a script"))
    kills = [a for a in d.last if isinstance(a, SendCommand) and a.argv == ("SCRIPT", "KILL")]
    assert len(kills) == 1 and d.master.script_kill_sent
    d.answer("mymaster", "PING", ErrorReply("BUSY Redis is busy running a script"))
    assert not any(isinstance(a, SendCommand) and a.argv[0] == "SCRIPT" for a in d.last)


def test_odown_needs_quorum_of_fresh_replies() -> None:
    d = healthy(Driver.create(conf(quorum=3, failover_timeout=600_000)))
    d.dead.add("mymaster")
    assert sdown_time(d) is not None
    # forced ask at SDOWN, to both peers, without a vote request
    asks = d.pending(PEER1, "SENTINEL") + d.pending(PEER2, "SENTINEL")
    assert [a.argv[1:] for a in asks] == [("is-master-down-by-addr", "10.0.0.1", "6379", "0", "*")] * 2
    acts = d.answer(PEER1, "SENTINEL", [1, "*", 0])
    assert not d.master.odown and "+odown" not in d.names(acts)
    acts = d.answer(PEER2, "SENTINEL", [1, "*", 0])
    assert ("+odown", "master mymaster 10.0.0.1 6379 #quorum 3/3") in d.events(acts)
    # nobody answers any more: the replies expire after 5 ask periods
    assert d.master.odown
    start = d.now
    t = sdown_time(d, "-odown", until=10_000, every=100)
    assert t is not None and 5000 < t - start <= 5100


def test_asks_are_throttled_per_peer() -> None:
    d = healthy(Driver.create(conf(quorum=3)))
    d.dead.add("mymaster")
    assert sdown_time(d) is not None
    d.answer_all(PEER1, "SENTINEL", [0, "*", 0])
    d.answer_all(PEER2, "SENTINEL", [0, "*", 0])
    d.advance(900)
    assert d.pending(PEER1, "SENTINEL") == []
    d.advance(200)
    assert len(d.pending(PEER1, "SENTINEL")) == 1


def test_malformed_ask_replies_are_ignored() -> None:
    d = healthy(Driver.create(conf(quorum=2)))
    d.dead.add("mymaster")
    assert sdown_time(d) is not None
    bads: list[Reply] = [[1, "*"], [1, 2, 0], ["1", "*", 0], Status("OK"), ErrorReply("ERR x")]
    for bad in bads:
        d.answer(PEER1, "SENTINEL", bad)
        d.advance(1000)
        assert not d.master.odown
        assert not d.master.peers[PEER1].master_down


def test_tilt_entry_behaviour_and_exit() -> None:
    d = healthy(Driver.create())
    d.advance(1000)
    acts = d.tick(d.now + 2500)
    assert ("+tilt", "#tilt mode entered") in d.events(acts) and d.world.tilt
    d.dead.add("mymaster")
    d.advance(15_000)
    assert not d.master.sdown  # no SDOWN evaluation in TILT
    d.step(IsMasterDownRequest(7, "10.0.0.1", 6379, 5, PEER1))
    assert d.replies[7] == [0, PEER1, 5]  # isdown forced to 0, but the vote is cast
    d.dead.discard("mymaster")
    acts = d.advance(15_000)
    assert ("-tilt", "#tilt mode exited") in d.events(acts) and not d.world.tilt
    d.dead.add("mymaster")
    assert sdown_time(d) is not None


def test_tilt_restarts_on_each_gap() -> None:
    d = healthy(Driver.create())
    d.tick(d.now + 3000)
    d.advance(20_000)
    acts = d.tick(d.now + 2100)
    assert "+tilt" in d.names(acts)
    acts = d.advance(20_000)
    assert "-tilt" not in d.names(acts)
    acts = d.advance(11_000)
    assert "-tilt" in d.names(acts)


def test_link_up_sends_handshake_and_info() -> None:
    d = Driver.create(conf(extra="sentinel auth-pass mymaster pw\nsentinel auth-user mymaster u\n"))
    acts = d.step(LinkUp(d.link("mymaster"), "10.0.1.1"))
    argvs = [a.argv for a in acts if isinstance(a, SendCommand)]
    assert argvs[:3] == [("AUTH", "u", "pw"), ("CLIENT", "SETNAME", "sentinel-aaaaaaaa-cmd"), ("PING",)]
    assert ("INFO",) in argvs  # INFO at once on the first connect
    acts = d.step(LinkUp(d.link("mymaster", Channel.PUBSUB), "10.0.1.1"))
    argvs = [a.argv for a in acts if isinstance(a, SendCommand)]
    assert argvs == [
        ("AUTH", "u", "pw"),
        ("CLIENT", "SETNAME", "sentinel-aaaaaaaa-pubsub"),
        ("SUBSCRIBE", "__sentinel__:hello"),
    ]


def test_subscribe_error_closes_pubsub_link() -> None:
    d = Driver.create()
    d.up("mymaster")
    d.answer("mymaster", "SUBSCRIBE", ErrorReply("NOAUTH Authentication required."))
    assert any(isinstance(a, CloseLink) for a in d.last)
    assert d.master.disconnected


def test_renamed_commands_are_used() -> None:
    d = Driver.create(
        conf(extra="sentinel rename-command mymaster PING PONG\nsentinel rename-command mymaster INFO I\n")
    )
    acts = d.up("mymaster")
    argvs = [a.argv for a in acts if isinstance(a, SendCommand)]
    assert ("PONG",) in argvs and ("I",) in argvs and ("PING",) not in argvs


def test_replicas_are_discovered_from_master_info() -> None:
    d = Driver.create()
    d.up("mymaster")
    d.settle()
    acts = d.info("mymaster", master_info([("10.0.0.2", 6379, 5), ("10.0.0.3", 6380, 5)]))
    assert d.events(acts) == [
        ("+slave", "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379"),
        ("+slave", "slave 10.0.0.3:6380 10.0.0.3 6380 @ mymaster 10.0.0.1 6379"),
    ]
    assert d.persisted  # a new replica is persisted
    acts = d.tick(d.now + 100)
    opened = {(a.label, a.channel) for a in acts if isinstance(a, OpenLink)}
    assert opened == {
        (R1N, Channel.CMD),
        (R1N, Channel.PUBSUB),
        ("10.0.0.3:6380", Channel.CMD),
        ("10.0.0.3:6380", Channel.PUBSUB),
    }
