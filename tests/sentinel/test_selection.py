"""Replica selection: stock order and exclusions, plus "never behind a reachable replica"."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sentinel.core.config import MasterConfig
from sentinel.core.model import Master, Replica, new_master, new_replica
from sentinel.core.selection import select_replica
from sentinel.core.timers import Timers

NOW = 100_000
T = Timers()


def make(*specs: dict[str, object], master_sdown_for: int | None = None) -> Master:
    """A master (down-after 5000) with one fresh, connected replica per spec."""
    m = new_master(MasterConfig("m", "10.0.0.1", 6379, 2, down_after=5000), 0)
    if master_sdown_for is not None:
        m.sdown, m.sdown_since = True, NOW - master_sdown_for
    for i, spec in enumerate(specs):
        r = new_replica(m, f"10.0.0.{i + 2}", 6379, 0)
        r.cc.up = True
        assert r.pc is not None
        r.pc.up = True
        r.last_avail_time = NOW - 100
        r.info_refresh = NOW - 100
        r.runid = f"{i + 2}" * 40
        r.repl_offset = 100
        for k, v in spec.items():
            setattr(r, k, v)
        m.replicas[r.name] = r
    return m


def chosen(m: Master) -> str | None:
    sel = select_replica(m, T, NOW)
    return sel.chosen.name if sel.chosen else None


def test_lower_priority_wins() -> None:
    m = make({"slave_priority": 100}, {"slave_priority": 10}, {"slave_priority": 50})
    assert chosen(m) == "10.0.0.3:6379"
    assert [r.name for r in select_replica(m, T, NOW).ranked] == [
        "10.0.0.3:6379",
        "10.0.0.4:6379",
        "10.0.0.2:6379",
    ]


def test_higher_offset_wins_at_equal_priority() -> None:
    assert chosen(make({"repl_offset": 100}, {"repl_offset": 300}, {"repl_offset": 200})) == "10.0.0.3:6379"


def test_smaller_runid_wins_case_insensitively_and_unknown_last() -> None:
    m = make({"runid": "B" * 40}, {"runid": "a" * 40}, {"runid": None})
    assert [r.name for r in select_replica(m, T, NOW).ranked] == [
        "10.0.0.3:6379",
        "10.0.0.2:6379",
        "10.0.0.4:6379",
    ]


def _disconnect(r: Replica) -> None:
    r.cc.up = False


def _pubsub_down(r: Replica) -> None:
    assert r.pc is not None
    r.pc.up = False


@pytest.mark.parametrize(
    ("tweak", "reason"),
    [
        (lambda r: setattr(r, "sdown", True), "s_down"),
        (_disconnect, "disconnected"),
        (lambda r: _pubsub_down(r), "disconnected"),
        (lambda r: setattr(r, "last_avail_time", NOW - 5001), "no valid ping reply for 5001 ms"),
        (lambda r: setattr(r, "slave_priority", 0), "priority 0"),
        (lambda r: setattr(r, "info_refresh", NOW - 30_001), "INFO too old"),
        (lambda r: setattr(r, "info_refresh", None), "no INFO yet"),
        (lambda r: setattr(r, "master_link_down_ms", 50_001), "master link down for 50001 ms"),
    ],
)
def test_each_exclusion(tweak: Callable[[Replica], object], reason: str) -> None:
    m = make({})
    tweak(next(iter(m.replicas.values())))
    sel = select_replica(m, T, NOW)
    assert sel.chosen is None
    assert [(r.name, why) for r, why in sel.excluded] == [("10.0.0.2:6379", reason)]


def test_info_validity_is_shorter_while_master_is_sdown() -> None:
    m = make({"info_refresh": NOW - 6000})
    assert chosen(m) == "10.0.0.2:6379"
    m = make({"info_refresh": NOW - 6000}, master_sdown_for=1000)
    assert chosen(m) is None


def test_master_link_down_allowance_grows_with_master_sdown_time() -> None:
    assert chosen(make({"master_link_down_ms": 60_000}, master_sdown_for=20_000)) == "10.0.0.2:6379"
    assert chosen(make({"master_link_down_ms": 60_000}, master_sdown_for=5_000)) is None


def test_never_promote_behind_a_reachable_replica_whatever_the_priority() -> None:
    m = make({"slave_priority": 1, "repl_offset": 100}, {"slave_priority": 100, "repl_offset": 200})
    assert chosen(m) == "10.0.0.3:6379"
    sel = select_replica(m, T, NOW)
    assert [(r.name, why) for r, why in sel.excluded] == [
        ("10.0.0.2:6379", "offset 100 behind 10.0.0.3:6379 at 200")
    ]


def test_a_reachable_replica_ahead_with_priority_0_blocks_the_others() -> None:
    m = make({"slave_priority": 0, "repl_offset": 500}, {"repl_offset": 400})
    sel = select_replica(m, T, NOW)
    assert sel.chosen is None
    assert "offset 400 behind 10.0.0.2:6379 at 500" in sel.why_none()


def test_an_unreachable_replica_ahead_does_not_block() -> None:
    m = make({"repl_offset": 500, "sdown": True}, {"repl_offset": 400})
    assert chosen(m) == "10.0.0.3:6379"


def test_equal_offsets_are_not_behind() -> None:
    m = make({"slave_priority": 50, "repl_offset": 300}, {"slave_priority": 10, "repl_offset": 300})
    assert chosen(m) == "10.0.0.3:6379"


def test_no_replicas() -> None:
    sel = select_replica(make(), T, NOW)
    assert sel.chosen is None and sel.why_none() == "no replicas known"
