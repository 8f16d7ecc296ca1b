"""SENTINEL IS-MASTER-DOWN-HINT in the core (sentinel/core/hint.py): the hint starts a check of
our own; only a failed link or a missing valid PING reply (within min(down-after, 1 s)) makes
the master SDOWN early; ODOWN still needs the quorum. Deterministic: fake clock, one core."""

from __future__ import annotations

from sentinel.core import Channel, CloseLink, Log, OpenLink, SendCommand
from sentinel.core.events import MasterDownHintRequest, ResetRequest
from sentinel.core.hint import HINT_CHECK_MAX
from sentinel.core.replies import ErrorReply, Status
from tests.sentinel.driver import PEER1, PEER2, Driver, conf, healthy

ASK = ("is-master-down-by-addr", "10.0.0.1", "6379", "0", "*")


def hint(
    d: Driver,
    request: int = 1,
    name: str = "mymaster",
    ip: str = "10.0.0.1",
    port: int = 6379,
    exited_ms_ago: int | None = None,
) -> list:
    return d.step(MasterDownHintRequest(request, name, ip, port, exited_ms_ago))


def pings(acts: list) -> list[SendCommand]:
    return [a for a in acts if isinstance(a, SendCommand) and a.argv == ("PING",)]


def asks(d: Driver) -> list[tuple[str, ...]]:
    return [a.argv[1:] for a in d.pending(PEER1, "SENTINEL") + d.pending(PEER2, "SENTINEL")]


def dead_master(down_after: int = 10_000, quorum: int = 2) -> Driver:
    """Steady state, then the master stops answering (its process is gone, links not yet)."""
    d = healthy(Driver.create(conf(quorum=quorum, down_after=down_after)))
    d.advance(2000)
    d.dead.add("mymaster")
    return d


def test_unknown_master_and_wrong_address_are_refused_and_change_nothing() -> None:
    d = dead_master()
    for req, (name, ip, port) in enumerate(
        [("nosuch", "10.0.0.1", 6379), ("mymaster", "10.0.0.9", 6379), ("mymaster", "10.0.0.1", 6380)], 1
    ):
        acts = hint(d, req, name, ip, port)
        assert d.names(acts) == [] and pings(acts) == []
        assert not any(isinstance(a, (OpenLink, CloseLink)) for a in acts)
        assert d.master.hint is None
    assert d.replies[1] == ErrorReply("ERR No such master with that name")
    assert d.replies[2] == ErrorReply(
        "ERR master address mismatch: mymaster is at 10.0.0.1:6379, not 10.0.0.9:6379"
    )
    assert isinstance(d.replies[3], ErrorReply) and d.replies[3].text.startswith(
        "ERR master address mismatch"
    )
    # the master is not down early: only the normal down-after applies
    d.advance(5000)
    assert not d.master.sdown


def test_hint_is_checked_a_live_master_is_not_marked_down() -> None:
    d = healthy(Driver.create(conf(down_after=10_000)))
    d.advance(2000)
    acts = hint(d)
    assert d.replies[1] == Status("OK")
    assert ("+master-down-hint", "master mymaster 10.0.0.1 6379 #checking 1000 ms") in d.events(acts)
    assert len(pings(acts)) == 1  # our own PING, at once
    acts = d.pong("mymaster")
    assert (
        "-master-down-hint",
        "master mymaster 10.0.0.1 6379 #master answered PING: hint ignored",
    ) in d.events(acts)
    assert d.master.hint is None
    acts = d.advance(3000)
    assert not d.master.sdown and "+sdown" not in d.names(acts)
    assert asks(d) == []


def test_an_error_that_proves_life_cancels_it_too() -> None:
    d = healthy(Driver.create(conf(down_after=10_000)))
    d.advance(2000)
    hint(d)
    acts = d.answer("mymaster", "PING", ErrorReply("LOADING Redis is loading the dataset in memory"))
    assert "-master-down-hint" in d.names(acts) and d.master.hint is None


def test_no_valid_reply_within_the_bound_is_sdown_then_peers_asked_at_once() -> None:
    d = dead_master(down_after=10_000)
    t0 = d.now
    acts = hint(d)
    assert d.replies[1] == Status("OK") and len(pings(acts)) == 1
    # the core asks for a tick at the check's deadline
    assert d.core.next_tick_in() <= 100
    # an invalid reply (not +PONG/-LOADING/-MASTERDOWN) proves nothing
    d.answer("mymaster", "PING", ErrorReply("NOAUTH Authentication required."))
    sdown_at = None
    while d.now < t0 + 3000 and sdown_at is None:
        acts = d.tick(d.now + 10)
        if "+sdown" in d.names(acts):
            sdown_at = d.now
            assert asks(d) == [ASK, ASK]  # asked in the same step
            logs = [a.message for a in acts if isinstance(a, Log)]
            assert any("confirmed (no valid PING reply within 1000 ms)" in m for m in logs), logs
    assert sdown_at is not None and t0 + HINT_CHECK_MAX <= sdown_at <= t0 + HINT_CHECK_MAX + 10
    # well before down-after (10 s) would have allowed
    assert d.master.sdown and not d.master.odown


def test_link_failure_after_the_hint_is_sdown_at_once() -> None:
    d = dead_master()
    t0 = d.now
    hint(d)
    assert not d.master.sdown
    acts = d.down("mymaster")  # connection reset: the process is gone
    assert "+sdown" in d.names(acts) and d.now == t0
    assert asks(d) == [ASK, ASK]
    logs = [a.message for a in acts if isinstance(a, Log)]
    assert any("confirmed (our connection to it failed)" in m for m in logs), logs


def test_link_already_down_a_connection_attempt_is_made_now() -> None:
    d = dead_master()
    d.down("mymaster")  # lost: the reconnect right after it was refused too
    d.down("mymaster")
    assert ("mymaster", Channel.CMD) not in d.open  # throttled: next attempt after ping-period
    d.tick(d.now + 10)
    acts = hint(d)
    opened = [
        a for a in acts if isinstance(a, OpenLink) and a.label == "mymaster" and a.channel is Channel.CMD
    ]
    assert len(opened) == 1
    assert not d.master.sdown
    acts = d.down("mymaster")  # connection refused
    assert "+sdown" in d.names(acts)


def test_attempt_in_flight_is_awaited_and_a_live_master_wins() -> None:
    d = dead_master()
    d.down("mymaster")  # lost; the reconnect attempt is in flight
    assert ("mymaster", Channel.CMD) in d.open
    acts = hint(d)
    assert not any(isinstance(a, OpenLink) for a in acts) and pings(acts) == []
    d.dead.discard("mymaster")  # it was a network blip: the new connection works
    d.up("mymaster")
    d.settle()  # handshake PING answered +PONG
    assert d.master.hint is None and not d.master.sdown
    assert "-master-down-hint" in d.names(d.log)


def test_odown_still_needs_the_quorum_then_the_failover_proceeds() -> None:
    d = dead_master(quorum=3)
    hint(d)
    d.down("mymaster")
    assert d.master.sdown
    d.answer(PEER1, "SENTINEL", [1, "*", 0])
    assert not d.master.odown  # 2 of 3
    acts = d.answer(PEER2, "SENTINEL", [0, "*", 0])
    assert not d.master.odown and "+odown" not in d.names(acts)
    # the peer confirms later (its own hint, its own check): the next ask, an ask-period on
    d.advance(1000, every=10, settle=False)
    acts = d.answer(PEER2, "SENTINEL", [1, "*", 0])
    assert ("+odown", "master mymaster 10.0.0.1 6379 #quorum 3/3") in d.events(acts)
    d.advance(1100, every=10, settle=False)
    assert "+try-failover" in d.names(d.log)


def test_repeated_hints_are_idempotent() -> None:
    d = dead_master()
    hint(d, 1)
    acts = hint(d, 2)  # check running
    assert d.replies[2] == Status("OK") and d.names(acts) == [] and pings(acts) == []
    d.down("mymaster")
    assert d.master.sdown
    acts = hint(d, 3)  # already down
    assert d.replies[3] == Status("OK") and d.names(acts) == []
    assert not any(isinstance(a, (OpenLink, SendCommand)) for a in acts)


def test_sdown_from_a_hint_ends_with_a_valid_reply() -> None:
    d = dead_master()
    hint(d)
    d.down("mymaster")
    assert d.master.sdown
    d.dead.discard("mymaster")  # something answers at that address again
    d.up("mymaster")
    d.settle()  # the handshake PING is answered +PONG
    assert d.master.hint is None
    acts = d.advance(200)
    assert "-sdown" in d.names(acts) and not d.master.sdown and d.master.hint is None
    d.advance(3000)
    assert not d.master.sdown


def test_down_after_below_the_bound_caps_the_check() -> None:
    d = dead_master(down_after=400)
    t0 = d.now
    assert not d.master.sdown
    acts = hint(d)
    assert ("+master-down-hint", "master mymaster 10.0.0.1 6379 #checking 400 ms") in d.events(acts)
    while not d.master.sdown:
        d.tick(d.now + 10)
    assert d.now <= t0 + 400 + 10


def test_tilt_refuses_the_hint() -> None:
    d = healthy(Driver.create(conf(down_after=10_000)))
    d.advance(1000)
    d.tick(d.now + 2500)
    assert d.world.tilt
    d.dead.add("mymaster")
    acts = hint(d)
    reply = d.replies[1]
    assert isinstance(reply, ErrorReply) and reply.text.startswith("TILT ")
    assert d.master.hint is None and pings(acts) == []


def test_an_address_change_voids_the_hint() -> None:
    d = dead_master()
    hint(d)
    d.step(ResetRequest(5, "mymaster"))
    assert d.master.hint is None or d.master.hint.generation != d.master.addr_generation
    d.advance(2000, settle=False)
    assert not d.master.sdown  # down-after (10 s) from the reset, not the void hint


def test_the_reported_exit_time_is_kept_also_when_the_master_is_down_already() -> None:
    """EXITED-MS-AGO is evidence for the replica selection (selection.link_down_limit), kept for
    the master's current address whatever the hint does; a later report only narrows it."""
    d = dead_master(down_after=1_000)
    d.advance(3_000)
    assert d.master.sdown
    now = d.now
    hint(d, 1, exited_ms_ago=2_500)
    assert d.replies[1] == Status("OK")
    gen = d.master.addr_generation
    assert d.master.exit_reported == (gen, now - 2_500)
    hint(d, 2, exited_ms_ago=9_000)  # an older exit: the later one stands
    assert d.master.exit_reported == (gen, now - 2_500)
    hint(d, 3, ip="10.0.0.9", exited_ms_ago=1)  # refused: changes nothing
    assert d.master.exit_reported == (gen, now - 2_500)
    hint(d, 4)  # no exit time: nothing recorded, nothing lost
    assert d.master.exit_reported == (gen, now - 2_500)
