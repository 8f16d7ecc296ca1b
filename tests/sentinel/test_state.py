"""The persisted state: JSON round trip, reconciliation with the (read-only) user file, restarts."""

from __future__ import annotations

import json
import random

import pytest

from sentinel.core import PersistState, SentinelState, parse_config
from sentinel.core.events import MonitorRequest, RemoveRequest, SetRequest
from sentinel.core.state import MasterState, generate_myid, reconcile
from tests.sentinel.driver import MYID, PEER1, R2N, Driver, conf, healthy

FILE = "sentinel monitor m 10.0.0.1 6379 2\nsentinel down-after-milliseconds m 5000\n"


def _state_after(d: Driver) -> SentinelState:
    return SentinelState.from_json(d.persisted[-1])


def test_json_roundtrip() -> None:
    cfg = parse_config(FILE)
    st = reconcile(cfg, None, random.Random(1))
    st.masters["m"].known_replicas = [("10.0.0.2", 6379)]
    st.masters["m"].known_sentinels = [("10.0.1.2", 26379, PEER1)]
    st.masters["m"].leader, st.masters["m"].leader_epoch = PEER1, 4
    st.current_epoch = 9
    again = SentinelState.from_json(st.to_json())
    assert again == st
    doc = json.loads(st.to_json())
    assert doc["version"] == 1 and doc["myid"] == st.myid


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"version": 2, "myid": "' + "a" * 40 + '"}',
        '{"version": 1, "myid": "short"}',
        '{"version": 1, "myid": "' + "a" * 40 + '", "masters": {"m": {"settings": {}}}}',
    ],
)
def test_from_json_rejects_bad_documents(text: str) -> None:
    with pytest.raises(ValueError):
        SentinelState.from_json(text)


def test_generated_myid_is_deterministic_hex() -> None:
    a = generate_myid(random.Random(5))
    assert a == generate_myid(random.Random(5)) and len(a) == 40 and int(a, 16) >= 0


def test_first_start_seeds_from_stock_lines() -> None:
    cfg = parse_config(
        FILE
        + "sentinel config-epoch m 3\nsentinel leader-epoch m 2\nsentinel known-replica m 10.0.0.2 6379\n"
        f"sentinel known-sentinel m 10.0.1.2 26379 {PEER1}\nsentinel current-epoch 4\nsentinel myid {MYID}\n"
    )
    st = reconcile(cfg, None, random.Random(0))
    assert st.myid == MYID and st.current_epoch == 4
    ms = st.masters["m"]
    assert (ms.config_epoch, ms.leader_epoch) == (3, 2)
    assert ms.known_replicas == [("10.0.0.2", 6379)]
    assert ms.known_sentinels == [("10.0.1.2", 26379, PEER1)]
    assert ms.file_snapshot == cfg.masters[0].to_fields()


def _stored(file: str, **changes: object) -> SentinelState:
    cfg = parse_config(file)
    st = reconcile(cfg, None, random.Random(0))
    ms = st.masters["m"]
    fields = ms.settings.to_fields() | changes
    st.masters["m"] = MasterState(
        settings=type(ms.settings).from_fields("m", fields),
        file_snapshot=ms.file_snapshot,
        config_epoch=5,
        leader="x" * 40,
        leader_epoch=5,
        known_replicas=[("10.0.0.1", 6379)],
    )
    st.current_epoch = 5
    return st


def test_failover_address_survives_restart_with_unchanged_file() -> None:
    stored = _stored(FILE, host="10.0.0.2")
    st = reconcile(parse_config(FILE), stored, random.Random(0))
    ms = st.masters["m"]
    assert (ms.settings.host, ms.settings.port) == ("10.0.0.2", 6379)
    assert (ms.config_epoch, ms.leader, ms.leader_epoch) == (5, "x" * 40, 5)
    assert ms.known_replicas == [("10.0.0.1", 6379)]
    assert st.current_epoch == 5


def test_file_edit_of_address_wins_and_forgets_replicas() -> None:
    stored = _stored(FILE, host="10.0.0.2")
    edited = FILE.replace("10.0.0.1 6379", "10.0.0.7 6379")
    ms = reconcile(parse_config(edited), stored, random.Random(0)).masters["m"]
    assert (ms.settings.host, ms.settings.port) == ("10.0.0.7", 6379)
    assert ms.known_replicas == []
    assert ms.config_epoch == 5  # epochs never go backwards


def test_runtime_set_persists_until_the_file_changes_that_setting() -> None:
    stored = _stored(FILE, down_after=1234, quorum=3)
    ms = reconcile(parse_config(FILE), stored, random.Random(0)).masters["m"]
    assert (ms.settings.down_after, ms.settings.quorum) == (1234, 3)
    edited = FILE.replace("5000", "7000")
    ms = reconcile(parse_config(edited), stored, random.Random(0)).masters["m"]
    assert (ms.settings.down_after, ms.settings.quorum) == (7000, 3)


def test_masters_added_and_removed_at_runtime() -> None:
    d = Driver.create(conf())
    d.step(MonitorRequest(1, "extra", "10.0.0.9", "6400", "1"))
    d.step(RemoveRequest(2, "mymaster"))
    st = _state_after(d)
    assert list(st.masters) == ["extra"] and st.masters["extra"].file_snapshot is None
    assert "mymaster" in st.removed
    # restart with the same file: extra is kept, mymaster stays removed
    again = reconcile(parse_config(conf()), st, random.Random(0))
    assert list(again.masters) == ["extra"] and "mymaster" in again.removed
    # the operator edits mymaster's entry in the file: it is monitored again
    edited = conf().replace("down-after-milliseconds mymaster 5000", "down-after-milliseconds mymaster 6000")
    again = reconcile(parse_config(edited), st, random.Random(0))
    assert list(again.masters) == ["mymaster", "extra"] and not again.removed


def test_master_deleted_from_file_is_dropped() -> None:
    stored = _stored(FILE)
    st = reconcile(parse_config("sentinel monitor n 10.0.0.5 6379 1\n"), stored, random.Random(0))
    assert list(st.masters) == ["n"]
    assert st.current_epoch == 5


def test_sentinel_settings_follow_the_same_rule() -> None:
    cfg = parse_config(FILE + "sentinel announce-ip 1.2.3.4\n")
    st = reconcile(cfg, None, random.Random(0))
    st.sentinel_settings["announce_ip"] = "5.6.7.8"  # as if CONFIG SET
    assert reconcile(cfg, st, random.Random(0)).sentinel_settings["announce_ip"] == "5.6.7.8"
    cfg2 = parse_config(FILE + "sentinel announce-ip 9.9.9.9\n")
    assert reconcile(cfg2, st, random.Random(0)).sentinel_settings["announce_ip"] == "9.9.9.9"


def test_core_restart_from_persisted_state() -> None:
    d = healthy(Driver.create())
    d.step(SetRequest(1, "mymaster", ("quorum", "1")))
    persisted = _state_after(d)
    assert persisted.masters["mymaster"].settings.quorum == 1
    assert persisted.masters["mymaster"].known_replicas == [("10.0.0.2", 6379), ("10.0.0.3", 6379)]
    assert {r for _, _, r in persisted.masters["mymaster"].known_sentinels} == {PEER1, "c" * 40}
    d2 = Driver.create(conf(), state=persisted, start=d.now)
    m = d2.master
    assert m.quorum == 1 and list(m.replicas) == ["10.0.0.2:6379", R2N] and len(m.peers) == 2
    first = d2.log[0]
    assert isinstance(first, PersistState)
