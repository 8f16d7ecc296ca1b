"""Replica selection: stock order and exclusions, plus "never behind a reachable replica"."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sentinel.core.config import MasterConfig
from sentinel.core.info import Role
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
        (
            lambda r: setattr(r, "master_link_down_ms", 50_001),
            "master link down for 50001 ms (limit 50000)",
        ),
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


# --- an interrupted promotion (sim finding F2) ------------------------------------------------

OLD = "a" * 40
NEW = "b" * 40


def _info(role: str, replid: str, replid2: str = "0" * 40, offset: int = 0, second: int = -1) -> str:
    lines = [f"role:{role}"]
    if role == "slave":
        lines += ["master_host:10.0.0.1", "master_port:6379", f"slave_repl_offset:{offset}"]
    lines += [
        f"master_replid:{replid}",
        f"master_replid2:{replid2}",
        f"master_repl_offset:{offset}",
        f"second_repl_offset:{second}",
    ]
    return "\r\n".join(lines) + "\r\n"


def _slave_of_master(**kw: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "role_reported": Role.SLAVE,
        "slave_master_host": "10.0.0.1",
        "slave_master_port": 6379,
    }
    spec.update(kw)
    return spec


def test_a_replica_promoted_out_of_this_history_ranks_at_its_offset_in_it() -> None:
    """A failover's leader crashed after SLAVEOF NO ONE: the replica reports role:master (a
    restarted core never read its slave offset: repl_offset 0). It continued the master's history
    (replid2 = the id the other replica follows) up to offset 900: it beats the replica at 500."""
    m = make(
        {"role_reported": Role.MASTER, "repl_offset": 0, "info_text": _info("master", NEW, OLD, 950, 901)},
        _slave_of_master(repl_offset=500, info_text=_info("slave", OLD, offset=500)),
    )
    sel = select_replica(m, T, NOW)
    assert sel.chosen is not None and sel.chosen.name == "10.0.0.2:6379"
    assert [(r.name, why) for r, why in sel.excluded] == [
        ("10.0.0.3:6379", "offset 500 behind 10.0.0.2:6379 at 900")
    ]


def test_a_replica_ahead_in_the_history_beats_an_interrupted_promotion() -> None:
    """The old master kept streaming to the other replica after the promotion (offset 1200 of
    the shared history, beyond the promoted one's 900): that replica has writes the other lacks."""
    m = make(
        {"role_reported": Role.MASTER, "info_text": _info("master", NEW, OLD, 950, 901)},
        _slave_of_master(repl_offset=1200, info_text=_info("slave", OLD, offset=1200)),
    )
    assert chosen(m) == "10.0.0.3:6379"


def test_an_interrupted_promotion_is_preferred_at_equal_offsets() -> None:
    m = make(
        _slave_of_master(repl_offset=900, info_text=_info("slave", OLD, offset=900), runid="0" * 40),
        {"role_reported": Role.MASTER, "info_text": _info("master", NEW, OLD, 930, 901), "runid": "f" * 40},
    )
    assert chosen(m) == "10.0.0.3:6379"


def test_the_masters_own_replid_identifies_the_history() -> None:
    m = make({"role_reported": Role.MASTER, "info_text": _info("master", NEW, OLD, 950, 901)})
    m.info_text = _info("master", OLD, offset=900)
    lone = select_replica(m, T, NOW)
    assert lone.chosen is not None
    m2 = make(
        {"role_reported": Role.MASTER, "info_text": _info("master", NEW, OLD, 950, 901), "repl_offset": 0},
        {"repl_offset": 500},
    )
    m2.info_text = _info("master", OLD, offset=900)
    assert chosen(m2) == "10.0.0.2:6379"


def test_a_stale_former_master_of_another_history_is_not_ranked_by_its_offset() -> None:
    """role:master with an unrelated history (a former master not converted yet): its offset
    (hellos keep it growing) does not compare; it keeps the offset we last saw (0 here)."""
    m = make(
        {
            "role_reported": Role.MASTER,
            "repl_offset": 0,
            "info_text": _info("master", "c" * 40, "d" * 40, 5000, 10),
        },
        _slave_of_master(repl_offset=500, info_text=_info("slave", OLD, offset=500)),
    )
    assert chosen(m) == "10.0.0.3:6379"


# --- the master-link age rule after a late (re)start (sim finding F3) -------------------------


def test_replicas_that_lost_the_master_together_are_eligible_after_a_late_start() -> None:
    """The master died 60 s ago while no sentinel ran; we started 10 s ago (SDOWN for 5 s). Both
    replicas lost their link when it died: each one's view dates the master's death, neither was
    disconnected before it."""
    m = make(
        _slave_of_master(master_link_down_ms=60_000, repl_offset=300),
        _slave_of_master(master_link_down_ms=60_100, repl_offset=300),
        master_sdown_for=5_000,
    )
    assert chosen(m) == "10.0.0.2:6379"


def test_a_replica_disconnected_long_before_the_others_is_still_excluded() -> None:
    m = make(
        _slave_of_master(master_link_down_ms=200_000, repl_offset=300),
        _slave_of_master(master_link_down_ms=60_000, repl_offset=300),
        master_sdown_for=5_000,
    )
    sel = select_replica(m, T, NOW)
    assert sel.chosen is not None and sel.chosen.name == "10.0.0.3:6379"
    assert [(r.name, why) for r, why in sel.excluded] == [
        ("10.0.0.2:6379", "master link down for 200000 ms (limit 110100)")
    ]


def test_a_replica_still_linked_to_the_master_dates_it_now() -> None:
    m = make(
        _slave_of_master(master_link_down_ms=60_000, repl_offset=300),
        _slave_of_master(master_link_up=True, repl_offset=300),
        master_sdown_for=5_000,
    )
    sel = select_replica(m, T, NOW)
    assert [r.name for r, _ in sel.excluded] == ["10.0.0.2:6379"]


def test_our_own_last_info_from_the_master_dates_it() -> None:
    m = make(_slave_of_master(master_link_down_ms=60_000), master_sdown_for=5_000)
    assert chosen(m) is None  # a lone replica nobody can date: stock's reference (SDOWN start)
    m.info_refresh, m.last_avail_time = NOW - 59_000, NOW - 59_000
    assert chosen(m) == "10.0.0.2:6379"


def test_the_exit_time_its_supervisor_reported_dates_the_master() -> None:
    """A lone replica that lost its link when the master's process exited (sim seed 3321: a
    sentinel restarted after the death, the supervisor holding the master back for a failover)."""
    m = make(_slave_of_master(master_link_down_ms=60_000), master_sdown_for=5_000)
    assert chosen(m) is None
    m.exit_reported = (m.addr_generation, NOW - 60_500)  # exited 60.5 s ago, the link dropped after
    assert chosen(m) == "10.0.0.2:6379"
    # a report for an older address of this master is no evidence
    m.exit_reported = (m.addr_generation - 1, NOW - 60_500)
    assert chosen(m) is None
    # evidence only narrows: a replica disconnected long before the exit stays excluded
    m2 = make(_slave_of_master(master_link_down_ms=200_000), master_sdown_for=5_000)
    m2.exit_reported = (m2.addr_generation, NOW - 60_500)
    sel = select_replica(m2, T, NOW)
    assert sel.chosen is None and "master link down for 200000 ms" in sel.why_none()
