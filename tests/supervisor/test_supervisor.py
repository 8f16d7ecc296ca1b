"""The supervisor with real child processes.

Real server and sentinel (`python -m server`, `python -m sentinel`): kill -9 and back-off, the
crash loop, sd_notify, stop order, and the empty-master case end to end with three real
sentinels. Fake children (tests/supervisor/fakechild.py) where the test needs to see exactly
which signal arrived when, a hung process, or exact hint commands.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import ServerProcess, free_port
from tests.sentinel.test_sentinel_e2e_basic import FAST, SentinelProcess, sentinels  # noqa: F401  (fixture)
from tests.supervisor.fakechild import FakeSentinel
from tests.supervisor.harness import (
    NotifyCapture,
    SupervisorProcess,
    child_environ,
    fake_command,
    read_jsonl,
    started,
    write_host,
)

Start = Callable[..., SupervisorProcess]


@pytest.fixture
def supervisor() -> Iterator[Start]:
    yield from started([])


@pytest.fixture
def notify() -> Iterator[NotifyCapture]:
    n = NotifyCapture()
    yield n
    n.close()


def ts(rec: dict[str, Any]) -> float:
    return datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00")).timestamp()


def client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, decode_responses=True)


def wait_until(pred: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (redis.ConnectionError, redis.ResponseError, redis.TimeoutError, OSError):
            last = None
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last {last!r})")


def kill9(pid: int) -> None:
    import os

    os.kill(pid, signal.SIGKILL)


# --- real children ------------------------------------------------------------------------------


def test_kill9_server_is_restarted_with_backoff(tmp_path: Path, supervisor: Start) -> None:
    sport, tport = free_port(), free_port()
    host = write_host(
        tmp_path / "a",
        server_port=sport,
        sentinel_port=tport,
        server_conf='bind 127.0.0.1\nsave ""\nappendonly yes\nappendfsync always\n',
        restart={"initial_delay": 0.3, "multiplier": 2, "max_delay": 5, "stable_after": 30},
    )
    sup = supervisor(host)
    sup.wait_event("ready")
    r = client(sport)
    r.set("k", "v")
    pids = []
    for n in (1, 2):
        pid = sup.current_pid("server")
        pids.append(pid)
        kill9(pid)
        ended = sup.wait_event("child ended, restarting after back-off", count=n, child="server")[-1]
        assert ended["how"] == "killed by SIGKILL"
        assert ended["consecutive_crashes"] == n
        assert ended["delay"] == pytest.approx(0.3 * 2 ** (n - 1))
        up = sup.wait_event("child is up", count=n + 1, child="server")[-1]
        spawned = sup.events("spawned", child="server")[-1]
        assert spawned["pid"] not in pids
        assert ts(spawned) - ts(ended) >= ended["delay"] - 0.01  # the back-off was respected
        # a master that the sentinel knows without replicas: nothing to wipe, back as master
        assert up["role"] == "as master"
        assert spawned["argv"][-3:] == ["--replicaof", "no", "one"]
        assert wait_until(lambda: r.get("k") == "v", what="the key, reloaded from the AOF")
    assert r.info("replication")["role"] == "master"
    r.close()
    assert sup.stop() == 0


def test_crash_loop_is_reported_not_silent(tmp_path: Path, supervisor: Start, notify: NotifyCapture) -> None:
    sport, tport = free_port(), free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", sport))
    blocker.listen(1)  # the server cannot bind its port: it exits 1 at once, every time
    try:
        host = write_host(
            tmp_path / "a",
            server_port=sport,
            sentinel_port=tport,
            restart={"initial_delay": 0.1, "multiplier": 2, "crash_loop_limit": 3},
        )
        sup = supervisor(host, env={"NOTIFY_SOCKET": notify.env_value})
        rc = sup.wait(timeout=60)
    finally:
        blocker.close()
    assert rc == 3
    assert len(sup.child_pids("server")) == 3
    loop = sup.events("crash loop: giving up")
    assert len(loop) == 1 and loop[0]["child"] == "server" and loop[0]["how"] == "exit code 1"
    assert "server ended 3 times in a row" in loop[0]["summary"]
    # the sentinel was stopped before the supervisor exited with the crash loop's status
    names = [r["event"] for r in sup.records()]
    assert (
        names.index("crash loop: giving up")
        < names.index("child stopped")
        < names.index("supervisor exiting")
    )
    assert sup.events("supervisor exiting")[0]["exit_code"] == 3
    statuses = [line for _, line in notify.assignments() if line.startswith("STATUS=")]
    assert statuses[-1].startswith("STATUS=crash loop: server ended 3 times in a row"), statuses
    assert ("STOPPING=1") in [line for _, line in notify.assignments()]
    assert "READY=1" not in [line for _, line in notify.assignments()]


def test_sd_notify_and_stop_order(tmp_path: Path, supervisor: Start, notify: NotifyCapture) -> None:
    sport, tport = free_port(), free_port()
    host = write_host(tmp_path / "a", server_port=sport, sentinel_port=tport)
    sup = supervisor(host, env={"NOTIFY_SOCKET": notify.env_value, "WATCHDOG_USEC": "300000"})
    sup.wait_event("ready")
    time.sleep(1.2)
    lines = notify.assignments()
    keys = [line for _, line in lines]
    assert keys.count("READY=1") == 1
    ready_at = next(t for t, line in lines if line == "READY=1")
    # READY only after both children answered
    ups = {r["child"] for r in sup.events("child is up")}
    assert ups == {"server", "sentinel"}
    status = [line for _, line in lines if line.startswith("STATUS=")]
    assert status and status[-1].startswith("STATUS=server up as master (pid ")
    assert "sentinel up (pid" in status[-1]
    # WATCHDOG=1 every 0.15 s (half of WATCHDOG_USEC)
    wd = [t for t, line in lines if line == "WATCHDOG=1"]
    assert len([t for t in wd if t > ready_at]) >= 5
    # systemd's variables are not passed on to the children; the status file's path is
    status_path = tmp_path / "a" / "state" / "supervisor.status.json"
    for child in ("server", "sentinel"):
        env = child_environ(sup.current_pid(child))
        assert "NOTIFY_SOCKET" not in env and "WATCHDOG_USEC" not in env
        assert env["HASENTINEL_SUPERVISOR_STATUS"] == str(status_path)
    doc = json.loads(status_path.read_text())
    assert doc["version"] == 1 and doc["pid"] == sup.pid and doc["ready"] is True
    assert doc["status"] == status[-1].removeprefix("STATUS=")
    kids = {c["name"]: c for c in doc["children"]}
    assert kids["server"]["state"] == "up" and kids["server"]["pid"] == sup.current_pid("server")
    assert kids["server"]["role"] == "as master" and kids["server"]["restarts"] == 0
    assert kids["sentinel"]["state"] == "up" and kids["sentinel"]["uptime_seconds"] > 0
    # stop: STOPPING=1, the sentinel is gone before the server is asked to stop
    sup.signal(signal.SIGTERM)
    assert sup.wait(timeout=60) == 0
    assert "STOPPING=1" in [line for _, line in notify.assignments()]
    recs = sup.records(service=None)
    sentinel_gone = next(
        i for i, r in enumerate(recs) if r.get("event") == "child stopped" and r.get("child") == "sentinel"
    )
    server_told = next(
        i for i, r in enumerate(recs) if r.get("event") == "stopping child" and r.get("child") == "server"
    )
    server_signal = next(
        i
        for i, r in enumerate(recs)
        if r.get("service") == "server" and "received signal" in r.get("event", "")
    )
    assert sentinel_gone < server_told < server_signal
    doc = json.loads(status_path.read_text())
    assert doc["exit_code"] == 0 and doc["stopping"] is True
    assert [c["state"] for c in doc["children"]] == ["stopped", "stopped"]


def test_empty_master_comes_back_as_a_replica(
    tmp_path: Path,
    supervisor: Start,
    sentinels: Callable[..., SentinelProcess],  # noqa: F811
    start_server: Callable[..., ServerProcess],
) -> None:
    """The classic trap: a master with an empty dataset restarted as master would wipe its
    replica at the next sync. The supervisor holds it back, hints the sentinels, and brings it
    back as a replica of the master they elect.

    down-after is long (10 s): the sentinels check the hint themselves (PING / connection) and
    fail over well before down-after could have elapsed."""
    down_after = 10_000
    pa, sa = free_port(), free_port()
    # host B: a replica of A and a sentinel; host C: a sentinel (real ones, ours)
    b = start_server("--replicaof", "127.0.0.1", str(pa), *FAST)
    sb = sentinels(pa, quorum=2, down_after=down_after)
    sc = sentinels(pa, quorum=2, down_after=down_after)
    host = write_host(
        tmp_path / "a",
        server_port=pa,
        sentinel_port=sa,
        server_conf="bind 127.0.0.1\nprotected-mode no\nrepl-diskless-sync-delay 0\nsave 3600 1\n",
        quorum=2,
        down_after=down_after,
        peers=[f"127.0.0.1:{sb.port}", f"127.0.0.1:{sc.port}"],
        restart={"initial_delay": 0.2, "hold_retry": 0.2},
    )
    sup = supervisor(host)
    sup.wait_event("ready")
    for s in (sa, sb.port, sc.port):  # learn about the replica quickly
        with client(s) as c:
            c.execute_command("SENTINEL", "DEBUG", "info-period", "300")
    ra, rb = client(pa), client(b.port)
    wait_until(lambda: rb.info("replication")["master_link_status"] == "up", what="B linked to A")
    for i in range(100):
        ra.set(f"k{i}", i)
    assert ra.wait(1, 5000) == 1
    with client(sa) as c:
        wait_until(
            lambda: int(c.sentinel_master("mymaster")["num-slaves"]) >= 1, what="sentinel knows the replica"
        )

    # the data dir is wiped, then the master dies
    ra.save()
    dump = tmp_path / "a" / "data" / "dump.rdb"
    assert dump.exists()
    dump.unlink()
    old = sup.current_pid("server")
    killed_at = time.time()
    kill9(old)

    held = sup.wait_event("server held back", timeout=20)[0]
    assert "dataset is empty" in held["why"] and "wipe its 1 replica" in held["why"]
    # the three sentinels were told at once, and each accepted the hint
    labels = {f"127.0.0.1:{p}" for p in (sa, sb.port, sc.port)}

    def quorum_hinted() -> list[dict[str, Any]] | None:
        # at least the quorum (2): the supervisor stops hinting once the sentinels' master has
        # changed, which can happen before its round reached the third one
        h = sup.events("master-down hint sent")
        got = {r["sentinel"] for r in h}
        return h if len(got) >= 2 and got <= labels else None

    hinted = sup.wait_for(quorum_hinted, what="the hint accepted by a quorum of sentinels")
    assert {r["outcome"] for r in hinted} == {"accepted"}
    assert all(r["master"] == f"127.0.0.1:{pa}" and r["detail"] == "OK" for r in hinted)
    assert ts(hinted[0]) - ts(held) < 2.0
    assert not [r for r in sup.records() if "does not implement" in r.get("event", "")]

    start = sup.wait_event("starting server", count=2, timeout=60)[-1]
    assert start["role"] == f"as replica of 127.0.0.1:{b.port}"
    # each sentinel checked the hint itself, and the failover did not wait for down-after
    local = [r for r in sup.records(service="sentinel") if r.get("event") == "+master-down-hint"]
    assert sum(bool(x) for x in (local, sb.events("+master-down-hint"), sc.events("+master-down-hint"))) >= 2
    switched = min(ts(r) for s in (sb, sc) for r in s.events("+switch-master"))
    assert switched - killed_at < 0.6 * down_after / 1000, switched - killed_at
    assert ts(start) - killed_at < 0.7 * down_after / 1000, ts(start) - killed_at
    # "starting server" is logged before the spawn: wait for the second spawn itself
    spawned = sup.wait_event("spawned", count=2, child="server")[-1]
    assert spawned["argv"][-3:] == ["--replicaof", "127.0.0.1", str(b.port)]
    # never started as master in between
    assert [e["role"] for e in sup.events("starting server")] == [
        "as master",
        f"as replica of 127.0.0.1:{b.port}",
    ]

    # B kept its data and is the master; A synced from it
    assert rb.info("replication")["role"] == "master"
    assert rb.dbsize() == 100
    wait_until(lambda: ra.info("replication")["master_link_status"] == "up", what="A linked to B")
    assert ra.info("replication")["role"] == "slave"
    assert wait_until(lambda: ra.dbsize() == 100, what="A has the data back")
    assert ra.get("k42") == "42"
    ra.close()
    rb.close()
    assert sup.stop() == 0


# --- fake children: exact signals, hung processes, the hint on the wire -------------------------


def _fake_host(tmp_path: Path, **kw: Any) -> tuple[Path, int, int, Path]:
    sport, tport = free_port(), free_port()
    view = tmp_path / "view.json"
    view.write_text(
        json.dumps({"masters": {"mymaster": {"addr": ["127.0.0.1", sport], "epoch": 0, "replicas": 0}}})
    )
    host = write_host(
        tmp_path / "a",
        server_port=sport,
        sentinel_port=tport,
        server_command=fake_command("server"),
        sentinel_command=fake_command("sentinel"),
        **kw,
    )
    return host, sport, tport, view


def test_signals_are_forwarded_and_stop_goes_sentinel_then_server(tmp_path: Path, supervisor: Start) -> None:
    host, _, _, view = _fake_host(tmp_path)
    rec = tmp_path / "rec"
    rec.mkdir()
    env = {"FAKE_RECORD_DIR": str(rec), "FAKE_VIEW": str(view), "FAKE_TERM_DELAY_SENTINEL": "0.4"}
    sup = supervisor(host, env=env)
    sup.wait_event("ready")
    for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        sup.signal(sig)

    def forwarded(role: str) -> bool:
        # (as a set: Python may run one pending handler inside another, so record order varies)
        got = [r["signal"] for r in read_jsonl(rec / f"{role}.jsonl") if r["kind"] == "signal"]
        return sorted(got) == ["SIGHUP", "SIGUSR1", "SIGUSR2"]

    for role in ("sentinel", "server"):
        sup.wait_for(partial(forwarded, role), what=f"{role} got the forwarded signals")
    assert not sup.events("child ended, restarting after back-off")
    sup.signal(signal.SIGTERM)
    assert sup.wait(timeout=30) == 0
    s = read_jsonl(rec / "sentinel.jsonl")
    v = read_jsonl(rec / "server.jsonl")
    s_term = next(r["t"] for r in s if r.get("signal") == "SIGTERM")
    s_exit = next(r["t"] for r in s if r["kind"] == "exit")
    v_term = next(r["t"] for r in v if r.get("signal") == "SIGTERM")
    assert s_exit - s_term >= 0.4
    assert v_term > s_exit  # the server is told to stop only after the sentinel is gone


def test_stop_timeout_escalates_to_sigkill(tmp_path: Path, supervisor: Start) -> None:
    host, _, _, view = _fake_host(tmp_path, sentinel_stop=0.5)
    rec = tmp_path / "rec"
    rec.mkdir()
    sup = supervisor(
        host, env={"FAKE_RECORD_DIR": str(rec), "FAKE_VIEW": str(view), "FAKE_IGNORE_TERM_SENTINEL": "1"}
    )
    sup.wait_event("ready")
    t0 = time.monotonic()
    sup.signal(signal.SIGTERM)
    assert sup.wait(timeout=30) == 0
    assert sup.events("child did not stop in time: SIGKILL", child="sentinel")
    stopped = sup.events("child stopped", child="sentinel")[0]
    assert stopped["how"] == "killed by SIGKILL"
    v_term = next(r["t"] for r in read_jsonl(rec / "server.jsonl") if r.get("signal") == "SIGTERM")
    assert v_term - t0 >= 0.5


def test_hung_server_is_killed_and_restarted(tmp_path: Path, supervisor: Start) -> None:
    host, _, _, view = _fake_host(tmp_path, health={"start_timeout": 1.0})
    sup = supervisor(host, env={"FAKE_VIEW": str(view), "FAKE_MUTE_SERVER": "1"})
    killed = sup.wait_event("child unresponsive: SIGKILL", timeout=20, child="server")[0]
    assert "start_timeout" in killed["why"]
    ended = sup.wait_event("child ended, restarting after back-off", child="server")[0]
    assert ended["how"] == "killed by SIGKILL"
    sup.wait_for(lambda: len(sup.child_pids("server")) >= 2, what="a second server")


def test_hint_reaches_every_sentinel_and_the_server_follows_the_new_master(
    tmp_path: Path, supervisor: Start
) -> None:
    host, sport, _, view = _fake_host(tmp_path)
    rec = tmp_path / "rec"
    rec.mkdir()
    peer = FakeSentinel(free_port(), view, rec / "peer.jsonl").serve_in_thread()
    try:
        text = host.read_text().replace("peers = []", f'peers = ["127.0.0.1:{peer.port}"]')
        host.write_text(text)
        sup = supervisor(host, env={"FAKE_RECORD_DIR": str(rec), "FAKE_VIEW": str(view)})
        sup.wait_event("ready")
        # now the sentinels know a replica, and the dataset dir is empty: the trap
        view.write_text(
            json.dumps(
                {
                    "hint": "ok",
                    "masters": {"mymaster": {"addr": ["127.0.0.1", sport], "epoch": 3, "replicas": 1}},
                }
            )
        )
        kill9(sup.current_pid("server"))
        sup.wait_event("server held back")
        hint = ["SENTINEL", "IS-MASTER-DOWN-HINT", "mymaster", "127.0.0.1", str(sport)]
        killed = time.monotonic()

        def hinted(path: Path) -> bool:
            # with when the server exited, as this supervisor saw it (ms ago, at the send)
            for argv in (r.get("argv") or [] for r in read_jsonl(path)):
                if argv[:5] == hint and argv[5:6] == ["EXITED-MS-AGO"]:
                    return 0 <= int(argv[6]) <= (time.monotonic() - killed) * 1000 + 50
            return False

        for path in (rec / "sentinel.jsonl", rec / "peer.jsonl"):
            sup.wait_for(partial(hinted, path), what=f"hint in {path.name}")
        assert sup.events("master-down hint sent")
        time.sleep(0.5)
        assert len(sup.child_pids("server")) == 1  # still held
        # the sentinels elected another master
        view.write_text(
            json.dumps({"masters": {"mymaster": {"addr": ["127.0.0.1", 1234], "epoch": 4, "replicas": 1}}})
        )
        starts = sup.wait_for(
            lambda: (
                s
                if len(s := [r for r in read_jsonl(rec / "server.jsonl") if r["kind"] == "start"]) == 2
                else None
            ),
            what="the server restarted",
        )
        assert starts[-1]["argv"][-3:] == ["--replicaof", "127.0.0.1", "1234"]
        assert sup.events("server no longer held")
    finally:
        peer.close()
