"""Operator requests handled by the core: MONITOR, REMOVE, SET, CONFIG SET, DEBUG, RESET, ..."""

from __future__ import annotations

import pytest

from sentinel.core import CloseLink, OpenLink, PersistState, ReplyTo, SentinelState
from sentinel.core.events import (
    ConfigSetRequest,
    DebugRequest,
    FlushConfigRequest,
    MonitorRequest,
    RemoveRequest,
    ResetRequest,
    SetRequest,
    SimulateFailureRequest,
)
from sentinel.core.replies import ErrorReply, Reply, Status
from tests.sentinel.driver import PEER1, R1N, Driver, conf, healthy

OK = Status("OK")


def last_reply(d: Driver) -> Reply:
    replies = [a for a in d.last if isinstance(a, ReplyTo)]
    assert len(replies) == 1
    return replies[0].reply


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("x", "10.0.0.9", "6400", "q"), "ERR Invalid quorum"),
        (("x", "10.0.0.9", "p", "1"), "ERR Invalid port"),
        (("x", "10.0.0.9", "6400", "0"), "ERR Quorum must be 1 or greater."),
        (("x", "redis.example", "6400", "1"), "ERR Invalid IP address or hostname specified"),
        (("mymaster", "10.0.0.9", "6400", "1"), "ERR Duplicate master name."),
        (("x", "10.0.0.9", "70000", "1"), "ERR Invalid port number"),
    ],
)
def test_monitor_errors(args: tuple[str, str, str, str], error: str) -> None:
    d = Driver.create()
    acts = d.step(MonitorRequest(1, *args))
    assert d.replies[1] == ErrorReply(error)
    assert not any(isinstance(a, PersistState) for a in acts)


def test_monitor_adds_a_master() -> None:
    d = Driver.create()
    acts = d.step(MonitorRequest(1, "extra", "10.0.0.9", "6400", "1"))
    assert isinstance(acts[0], PersistState) and d.replies[1] == OK
    assert d.events(acts) == [("+monitor", "master extra 10.0.0.9 6400 quorum 1")]
    m = d.world.masters["extra"]
    assert (m.down_after, m.failover_timeout) == (30_000, 180_000)
    acts = d.tick(d.now + 100)
    assert {a.label for a in acts if isinstance(a, OpenLink)} == {"extra"}


def test_monitor_hostname_with_resolve_hostnames() -> None:
    d = Driver.create(conf(extra="sentinel resolve-hostnames yes\n"))
    d.step(MonitorRequest(1, "extra", "redis.example", "6400", "1"))
    assert d.replies[1] == OK


def test_remove() -> None:
    d = healthy(Driver.create())
    acts = d.step(RemoveRequest(1, "mymaster"))
    assert d.events(acts) == [("-monitor", "master mymaster 10.0.0.1 6379")]
    assert isinstance(acts[0], PersistState) and d.replies[1] == OK
    assert sum(isinstance(a, CloseLink) for a in acts) == 2 + 4 + 2  # master, replicas, peers
    assert d.world.masters == {} and d.world.links == {}
    d.step(RemoveRequest(2, "mymaster"))
    assert d.replies[2] == ErrorReply("ERR No such master with that name")


def test_set_options_and_events() -> None:
    d = healthy(Driver.create())
    acts = d.step(
        SetRequest(
            1,
            "mymaster",
            (
                "down-after-milliseconds",
                "1000",
                "failover-timeout",
                "9000",
                "parallel-syncs",
                "3",
                "QUORUM",
                "1",
            ),
        )
    )
    assert d.replies[1] == OK and isinstance(acts[0], PersistState)
    s = d.master.settings
    assert (s.down_after, s.failover_timeout, s.parallel_syncs, s.quorum) == (1000, 9000, 3, 1)
    assert d.events(acts) == [
        ("+set", "master mymaster 10.0.0.1 6379 down-after-milliseconds 1000"),
        ("+set", "master mymaster 10.0.0.1 6379 failover-timeout 9000"),
        ("+set", "master mymaster 10.0.0.1 6379 parallel-syncs 3"),
        ("+set", "master mymaster 10.0.0.1 6379 QUORUM 1"),
    ]
    stored = SentinelState.from_json(acts[0].state)
    assert stored.masters["mymaster"].settings.down_after == 1000


def test_set_auth_pass_is_redacted_and_reconnects() -> None:
    d = healthy(Driver.create())
    acts = d.step(SetRequest(1, "mymaster", ("auth-pass", "secret", "auth-user", "bob")))
    assert d.events(acts) == [
        ("+set", "master mymaster 10.0.0.1 6379 auth-pass ******"),
        ("+set", "master mymaster 10.0.0.1 6379 auth-user bob"),
    ]
    closed = {d.link_label[a.link][0] for a in acts if isinstance(a, CloseLink)}
    assert closed == {"mymaster", R1N, "10.0.0.3:6379"}
    assert (d.master.settings.auth_pass, d.master.settings.auth_user) == ("secret", "bob")
    d.step(SetRequest(2, "mymaster", ("auth-pass", "")))
    assert d.master.settings.auth_pass is None


def test_set_errors_keep_earlier_options() -> None:
    d = healthy(Driver.create())
    acts = d.step(SetRequest(1, "mymaster", ("quorum", "3", "down-after-milliseconds", "-20")))
    assert d.replies[1] == ErrorReply("ERR Invalid argument '-20' for SENTINEL SET 'down-after-milliseconds'")
    assert d.master.quorum == 3 and isinstance(acts[0], PersistState)
    d.step(SetRequest(2, "mymaster", ("quorum", "abc")))
    assert d.replies[2] == ErrorReply("ERR Invalid argument 'abc' for SENTINEL SET 'quorum'")
    d.step(SetRequest(3, "mymaster", ("frob", "1")))
    assert d.replies[3] == ErrorReply("ERR Unknown option or number of arguments for SENTINEL SET 'frob'")
    d.step(SetRequest(4, "mymaster", ("quorum",)))
    assert d.replies[4] == ErrorReply("ERR Unknown option or number of arguments for SENTINEL SET 'quorum'")
    d.step(SetRequest(5, "nope", ("quorum", "1")))
    assert d.replies[5] == ErrorReply("ERR No such master with that name")
    d.step(SetRequest(6, "mymaster", ("master-reboot-down-after-period", "0")))
    assert d.replies[6] == OK


def test_set_scripts() -> None:
    d = healthy(Driver.create())
    d.step(SetRequest(1, "mymaster", ("notification-script", "/bin/n")))
    assert isinstance(d.replies[1], ErrorReply) and "deny-scripts-reconfig" in d.replies[1].text
    d = healthy(Driver.create(conf(extra="sentinel deny-scripts-reconfig no\n")))
    d.step(SetRequest(1, "mymaster", ("notification-script", "/bin/n")))
    assert d.replies[1] == ErrorReply("ERR Notification script seems non existing or non executable")
    d.step(SetRequest(2, "mymaster", ("client-reconfig-script", "/bin/r")))
    assert d.replies[2] == ErrorReply(
        "ERR Client reconfiguration script seems non existing or non executable"
    )
    d.step(SetRequest(3, "mymaster", ("notification-script", "/bin/n"), frozenset({"/bin/n"})))
    assert d.replies[3] == OK and d.master.settings.notification_script == "/bin/n"
    d.step(SetRequest(4, "mymaster", ("notification-script", "")))
    assert d.replies[4] == OK and d.master.settings.notification_script is None


def test_set_rename_command() -> None:
    d = healthy(Driver.create())
    acts = d.step(SetRequest(1, "mymaster", ("rename-command", "CONFIG", "CFG")))
    assert d.master.settings.renamed_commands == (("CONFIG", "CFG"),)
    assert d.events(acts) == [("+set", "master mymaster 10.0.0.1 6379 rename-command CONFIG CFG")]
    d.step(SetRequest(2, "mymaster", ("rename-command", "config", "config")))
    assert d.master.settings.renamed_commands == ()
    d.step(SetRequest(3, "mymaster", ("rename-command", "", "x")))
    assert d.replies[3] == ErrorReply("ERR Invalid argument '' for SENTINEL SET 'rename-command'")


def test_config_set() -> None:
    d = healthy(Driver.create())
    acts = d.step(
        ConfigSetRequest(1, ("announce-ip", "192.0.2.7", "announce-port", "26400", "loglevel", "warning"))
    )
    assert d.replies[1] == OK and isinstance(acts[0], PersistState)
    s = d.world.settings
    assert (s.announce_ip, s.announce_port, s.loglevel) == ("192.0.2.7", 26400, "warning")
    stored = SentinelState.from_json(acts[0].state)
    assert stored.sentinel_settings["announce_ip"] == "192.0.2.7"
    acts = d.step(ConfigSetRequest(2, ("sentinel-pass", "pw")))
    closed = {d.link_label[a.link][0] for a in acts if isinstance(a, CloseLink)}
    assert closed == {PEER1, "c" * 40}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("frob", "1"), "ERR Invalid argument 'frob' to SENTINEL CONFIG SET"),
        (("announce-port", "70000"), "ERR Invalid value '70000' to SENTINEL CONFIG SET 'announce-port'"),
        (
            ("resolve-hostnames", "maybe"),
            "ERR Invalid value 'maybe' to SENTINEL CONFIG SET 'resolve-hostnames'",
        ),
        (
            ("announce-ip", "1.1.1.1", "ANNOUNCE-IP", "2.2.2.2"),
            "ERR Duplicate argument 'ANNOUNCE-IP' to SENTINEL CONFIG SET",
        ),
        (("announce-ip",), "ERR wrong number of arguments for 'sentinel|config' command"),
    ],
)
def test_config_set_errors_apply_nothing(args: tuple[str, ...], error: str) -> None:
    d = healthy(Driver.create())
    full = ("announce-hostnames", "yes", *args)
    acts = d.step(ConfigSetRequest(1, full if len(args) % 2 == 0 else args))
    assert d.replies[1] == ErrorReply(error)
    assert not d.world.settings.announce_hostnames and not any(isinstance(a, PersistState) for a in acts)


def test_debug() -> None:
    d = Driver.create()
    d.step(DebugRequest(1, ("ping-period", "500", "TILT-PERIOD", "5000", "promotion-poll-period", "20")))
    t = d.world.timers
    assert d.replies[1] == OK and (t.ping_period, t.tilt_period, t.promotion_poll_period) == (500, 5000, 20)
    d.step(DebugRequest(2, ("ping-period", "0")))
    assert d.replies[2] == ErrorReply("ERR Invalid argument '0' for SENTINEL DEBUG 'ping-period'")
    d.step(DebugRequest(3, ("nope", "1")))
    assert d.replies[3] == ErrorReply("ERR Unknown option or number of arguments for SENTINEL DEBUG 'nope'")
    d.step(DebugRequest(4, ("info-period", "1", "ping-period")))
    assert isinstance(d.replies[4], ErrorReply) and t.info_period == 10_000


def test_reset() -> None:
    d = healthy(Driver.create(conf(extra="sentinel monitor other 10.0.0.8 6379 1\n")))
    acts = d.step(ResetRequest(1, "my*"))
    assert d.replies[1] == 1 and isinstance(acts[0], PersistState)
    assert ("+reset-master", "master mymaster 10.0.0.1 6379") in d.events(acts)
    assert d.master.replicas == {} and d.master.peers == {}
    assert d.master.runid is None
    d.step(ResetRequest(2, "*"))
    assert d.replies[2] == 2
    d.step(ResetRequest(3, "zzz"))
    assert d.replies[3] == 0


def test_flushconfig_persists_then_replies() -> None:
    d = Driver.create()
    acts = d.step(FlushConfigRequest(1))
    assert isinstance(acts[0], PersistState) and acts[1] == ReplyTo(1, OK)


def test_simulate_failure_flags() -> None:
    d = Driver.create()
    d.step(SimulateFailureRequest(1, ("help",)))
    assert d.replies[1] == ["crash-after-election", "crash-after-promotion"]
    d.step(SimulateFailureRequest(2, ("crash-after-election", "CRASH-AFTER-PROMOTION")))
    assert d.replies[2] == OK and d.world.simulate_failure == {
        "crash-after-election",
        "crash-after-promotion",
    }
    d.step(SimulateFailureRequest(3, ("boom",)))
    assert d.replies[3] == ErrorReply("ERR Unknown failure simulation specified")
