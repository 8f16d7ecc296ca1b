"""Asking sentinels for the master and sending the hint, against fake RESP sentinels and a real one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sentinel.supervisor.policy import MasterView
from sentinel.supervisor.sentinels import (
    SentinelAnswer,
    SentinelTarget,
    ask_sentinel,
    combine,
    send_hint,
    state_file_peers,
    targets,
)
from tests.conftest import free_port, wait_for_port
from tests.supervisor.fakechild import FakeSentinel


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[tuple[FakeSentinel, Path, Path]]:
    view = tmp_path / "view.json"
    record = tmp_path / "record.jsonl"
    f = FakeSentinel(free_port(), view, record).serve_in_thread()
    yield f, view, record
    f.close()


def test_ask_a_sentinel(fake: tuple[FakeSentinel, Path, Path]) -> None:
    f, view, _ = fake
    t = SentinelTarget("127.0.0.1", f.port, local=True)
    view.write_text(
        json.dumps({"masters": {"mymaster": {"addr": ["10.0.0.2", 6380], "epoch": 7, "replicas": 2}}})
    )
    a = ask_sentinel(t, "mymaster")
    assert a == SentinelAnswer(t, addr=("10.0.0.2", 6380), config_epoch=7, replicas=2)
    # a sentinel that does not know the name answered: no address, no error
    assert ask_sentinel(t, "other") == SentinelAnswer(t)


def test_unreachable_sentinel_is_an_error_answer() -> None:
    t = SentinelTarget("127.0.0.1", free_port())
    a = ask_sentinel(t, "mymaster", timeout=0.5)
    assert a.error is not None and a.addr is None


def test_hint_outcomes(fake: tuple[FakeSentinel, Path, Path]) -> None:
    f, view, record = fake
    t = SentinelTarget("127.0.0.1", f.port)
    view.write_text(json.dumps({"hint": "unsupported"}))
    assert send_hint(t, "mymaster", "10.0.0.1", 6379).outcome == "unsupported"
    view.write_text(json.dumps({"hint": "ok"}))
    r = send_hint(t, "mymaster", "10.0.0.1", 6379)
    assert r.outcome == "accepted"
    cmds = [json.loads(line)["argv"] for line in record.read_text().splitlines()]
    assert ["SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "10.0.0.1", "6379"] in cmds
    assert send_hint(t, "mymaster", "10.0.0.1", 6379, exited_ms_ago=1500).outcome == "accepted"
    cmds = [json.loads(line)["argv"] for line in record.read_text().splitlines()]
    assert ["SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "10.0.0.1", "6379", "EXITED-MS-AGO", "1500"] in cmds
    assert (
        send_hint(SentinelTarget("127.0.0.1", free_port()), "m", "h", 1, timeout=0.5).outcome == "unreachable"
    )


def _t(port: int, local: bool = False) -> SentinelTarget:
    return SentinelTarget("127.0.0.1", port, local=local)


def test_combine_highest_epoch_wins_local_breaks_ties() -> None:
    a = SentinelAnswer(_t(1, local=True), addr=("10.0.0.1", 6379), config_epoch=3, replicas=2)
    b = SentinelAnswer(_t(2), addr=("10.0.0.2", 6379), config_epoch=4, replicas=1)
    c = SentinelAnswer(_t(3), addr=("10.0.0.2", 6379), config_epoch=4, replicas=2)
    d = SentinelAnswer(_t(4), error="ConnectionError")
    v = combine([a, b, c, d])
    assert v == MasterView(
        ("10.0.0.2", 6379),
        config_epoch=4,
        replicas=2,
        answered=3,
        asked=4,
        sources=("127.0.0.1:2", "127.0.0.1:3"),
    )
    tie = combine(
        [
            SentinelAnswer(_t(2), addr=("x", 1), config_epoch=4),
            SentinelAnswer(_t(1, True), addr=("y", 1), config_epoch=4),
        ]
    )
    assert tie.addr == ("y", 1)
    assert combine([d]) == MasterView(None, answered=0, asked=1)
    assert combine([SentinelAnswer(_t(1))]) == MasterView(None, answered=1, asked=1)


def test_targets_local_first_and_deduplicated(tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    state.write_text(
        json.dumps(
            {"masters": {"mymaster": {"known_sentinels": [["10.0.0.3", 26379, "id"], ["10.0.0.9", 1, "x"]]}}}
        )
    )
    tg = targets(
        local=("10.0.0.1", 26379),
        local_password="p1",
        peer_user="u",
        peer_password="p2",
        peer_lists=[[("10.0.0.2", 26379), ("10.0.0.1", 26379)], state_file_peers(state, "mymaster")],
    )
    assert [(t.label, t.local, t.password, t.username) for t in tg] == [
        ("10.0.0.1:26379", True, "p1", None),
        ("10.0.0.2:26379", False, "p2", "u"),
        ("10.0.0.3:26379", False, "p2", "u"),
        ("10.0.0.9:1", False, "p2", "u"),
    ]
    assert state_file_peers(tmp_path / "missing.json", "mymaster") == []
    assert state_file_peers(state, "other") == []


def test_real_sentinel_answers_and_refuses_the_unknown_hint(tmp_path: Path) -> None:
    """Our sentinel runtime: the view, and what it answers to the hint today."""
    port, mport = free_port(), free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {mport} 2\n")
    log = open(tmp_path / "sentinel.log", "wb")  # noqa: SIM115
    p = subprocess.Popen([sys.executable, "-m", "sentinel", str(conf)], cwd=tmp_path, stdout=log, stderr=log)
    try:
        wait_for_port(port, p)
        t = _t(port, local=True)
        a = ask_sentinel(t, "mymaster")
        assert a.error is None and a.addr == ("127.0.0.1", mport) and a.config_epoch == 0
        h = send_hint(t, "mymaster", "127.0.0.1", mport)
        assert h.outcome in ("unsupported", "accepted"), h
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
        log.close()


def test_combine_collects_the_replica_addresses_of_the_winning_answers() -> None:
    a = SentinelAnswer(_t(1, local=True), addr=("m", 1), config_epoch=2, replicas=1, replica_addrs=(("r1", 6379),))
    b = SentinelAnswer(_t(2), addr=("m", 1), config_epoch=2, replicas=2, replica_addrs=(("r1", 6379), ("r2", 6379)))
    c = SentinelAnswer(_t(3), addr=("old", 1), config_epoch=1, replicas=1, replica_addrs=(("x", 1),))
    v = combine([a, b, c])
    assert v.replicas == 2 and v.replica_addrs == (("r1", 6379), ("r2", 6379))


def test_probe_replicas_on_real_servers(start_server: Any) -> None:
    """Empty only when every known replica answers and holds no key; anything else keeps the
    empty-master rule."""
    from sentinel.supervisor.replicas import probe_replicas

    a, b = start_server(), start_server()
    addrs = (("127.0.0.1", a.port), ("127.0.0.1", b.port))
    r = probe_replicas(addrs, 2, None)
    assert r.empty, r.detail
    r = probe_replicas(addrs[:1], 2, None)  # fewer addresses than known replicas
    assert not r.empty and r.unknown
    b.client().set("k", "v")
    r = probe_replicas(addrs, 2, None)
    assert not r.empty and not r.unknown and f"{b.port} holds 1 key(s)" in r.detail
    gone = (("127.0.0.1", free_port()),)
    r = probe_replicas(gone, 1, None, timeout=0.5)
    assert not r.empty and r.unknown and "did not answer" in r.detail
    p = start_server("--requirepass", "s3cret")
    r = probe_replicas((("127.0.0.1", p.port),), 1, None)  # NOAUTH: cannot tell
    assert not r.empty and r.unknown
    assert probe_replicas((("127.0.0.1", p.port),), 1, "s3cret").empty
