"""`hasentinel` operator commands against a real local cluster: our server as master with two
replicas and three of our sentinels on loopback (tests/cli/cluster.py), driven with typer's
CliRunner.

* status: exit codes 0/1/2 (healthy, degraded, down), `--json` valid against the documented
  schema, the table within 80 columns, the VIP as observed, actionable errors;
* switchover: every write acknowledged during the switch is on the new master; new epoch agreed;
  the leader's metrics count it;
* pause / resume: a master killed while paused is not failed over; resume fails it over;
* events, check.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.sentinel
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from typer.testing import CliRunner, Result

from sentinel.cli.app import app
from sentinel.cli.render import render_status
from sentinel.cli.schema import STATUS_SCHEMA, validate
from tests.cli.cluster import Cluster, start_cluster
from tests.conftest import free_port
from tests.sentinel.test_sentinel_e2e_basic import SentinelProcess, sentinel_conf, smaster, wait_until

RUNNER = CliRunner()
ENV = {
    "COLUMNS": "80",
    "HASENTINEL_VIP_CONF": "/nonexistent/vip.conf",
    "HASENTINEL_VIP": "",
    "HASENTINEL_SUPERVISOR_STATUS": "",  # the `fresh` sentinels get one; the CLI here is not supervised
}


def cli(*args: str) -> Result:
    """Run `hasentinel <args>` in-process (the default config path is patched away below)."""
    return RUNNER.invoke(app, list(args), env=ENV)


def status_json(c: Cluster, *extra: str) -> tuple[int, dict[str, Any]]:
    r = cli("status", "--json", *c.sentinel_args(), *extra)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    doc = json.loads(r.stdout)
    assert validate(doc, STATUS_SCHEMA) == [], validate(doc, STATUS_SCHEMA)
    assert doc["exit_code"] == r.exit_code
    return r.exit_code, doc


def wide_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > 80]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A healthy cluster shared by the read-only tests (tests that disturb it restore it)."""
    c = start_cluster(tmp_path_factory.mktemp("cli-cluster"))
    try:
        yield c
    finally:
        c.stop()


def supervisor_file(path: Path, server_state: str = "up", restarts: int = 2) -> Path:
    """A status file in the supervisor's format (docs/operations.md), from a live process."""
    now = time.time()
    children = [
        {"name": "sentinel", "state": "up", "pid": os.getpid(), "role": None, "restarts": 0,
         "consecutive_crashes": 0, "last_exit": None, "held": None, "started_at": now - 50, "uptime_seconds": 50.0},
        {"name": "server", "state": server_state, "pid": os.getpid(), "role": "as master", "restarts": restarts,
         "consecutive_crashes": 0, "last_exit": "exit 1", "held": None, "started_at": now - 40, "uptime_seconds": 40.0},
    ]
    path.write_text(json.dumps({
        "version": 1, "pid": os.getpid(), "host_config": "/etc/hasentinel/host.toml", "master_name": "mymaster",
        "this_server": "127.0.0.1:6379", "updated_at": now, "status": "server up as master; sentinel up",
        "ready": True, "stopping": False, "crash_loop": None, "exit_code": None, "children": children,
    }))
    return path


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """A cluster of its own, for tests that fail it over (its sentinels believe they are
    supervised: HASENTINEL_SUPERVISOR_STATUS points at a status file)."""
    monkeypatch.setenv("HASENTINEL_SUPERVISOR_STATUS", str(supervisor_file(tmp_path / "supervisor.status.json")))
    c = start_cluster(tmp_path, metrics=True)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(autouse=True)
def _no_default_sentinel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read this machine's /etc/hasentinel/sentinel.conf."""
    monkeypatch.setattr("sentinel.cli.client.DEFAULT_CONFIG", Path("/nonexistent/sentinel.conf"))


def test_status_healthy_everyone_side_by_side(cluster: Cluster) -> None:
    code, doc = status_json(cluster, "--vip", "127.0.0.1")
    assert code == 0 and doc["health"] == "healthy", doc["problems"]
    # One --sentinel given: the other two were discovered from it.
    assert len(doc["sentinels"]) == 3 and all(s["reachable"] for s in doc["sentinels"])
    assert {"option"} in [set(s["sources"]) for s in doc["sentinels"]]
    (m,) = doc["masters"]
    assert m["name"] == "mymaster" and m["address"] == f"127.0.0.1:{cluster.master.port}"
    assert m["agreed"] and len(m["views"]) == 3 and all(v["quorum_ok"] for v in m["views"])
    assert {r["address"] for r in m["replicas"]} == {f"127.0.0.1:{r.port}" for r in cluster.replicas}
    assert all(r["role"] == "slave" and r["link"] == "up" and r["lag_bytes"] is not None for r in m["replicas"])
    # The VIP as observed: 127.0.0.1 is local here, and the service behind it is the master.
    assert m["vip"]["state"] == "master" and m["vip"]["holder"] == m["address"]
    assert doc["supervisor"]["available"] is False and "no supervisor status file" in doc["supervisor"]["reason"]


def test_status_shows_this_hosts_supervisor(cluster: Cluster, tmp_path: Path) -> None:
    path = supervisor_file(tmp_path / "s.json")
    code, doc = status_json(cluster, "--supervisor-status", str(path))
    assert code == 0, doc["problems"]
    sup = doc["supervisor"]
    assert sup["available"] and sup["running"]
    assert [(c["name"], c["state"], c["restarts"]) for c in sup["children"]] == [("sentinel", "up", 0), ("server", "up", 2)]
    assert sup["children"][1]["uptime_seconds"] >= 40
    r = cli("status", *cluster.sentinel_args(), "--supervisor-status", str(path))
    assert "supervisor (this host)" in r.output and "as master" in r.output and wide_lines(r.output) == []
    # A child that is not up is degraded; so is a supervisor that is gone.
    code, doc = status_json(cluster, "--supervisor-status", str(supervisor_file(path, server_state="backoff")))
    assert code == 1 and any("supervisor: server is backoff" in p["message"] for p in doc["problems"])
    stale = json.loads(path.read_text())
    stale["pid"] = 999_999_999
    path.write_text(json.dumps(stale))
    code, doc = status_json(cluster, "--supervisor-status", str(path))
    assert code == 1 and any("the supervisor is gone" in p["message"] for p in doc["problems"])


def test_status_table_fits_80_columns(cluster: Cluster) -> None:
    r = cli("status", *cluster.sentinel_args(), "--vip", "127.0.0.1")
    assert r.exit_code == 0, r.output
    assert "mymaster" in r.output and "HEALTHY" in r.output
    assert wide_lines(r.output) == []
    # The same document drawn by a recording console of exactly 80 columns, plus a worst case:
    # disagreement, unreachable sentinels, long errors, a last failover.
    _, doc = status_json(cluster, "--vip", "127.0.0.1")
    worst = json.loads(json.dumps(doc))
    m = worst["masters"][0]
    m["agreed"] = False
    m["views"][1]["agrees"] = False
    m["views"][1]["address"] = "[2001:db8::1234:5678:9abc]:63790"
    m["last_failover"] = {
        "epoch": 12, "kind": "switchover", "at": doc["time"], "duration_ms": 412,
        "from": "10.200.300.400:6379", "to": "10.200.300.401:6379", "reported_by": "10.200.300.402:26379",
    }
    worst["problems"] = [{"severity": "down", "master": "mymaster", "message": "x" * 300}]
    worst["sentinels"].append({**worst["sentinels"][0], "address": "very-long-host-name.example.internal:26379",
                               "reachable": False, "error": "refused " * 20})
    for d in (doc, worst):
        console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        render_status(d, console)
        text = console.export_text()
        assert wide_lines(text) == [], text


def test_actionable_errors(cluster: Cluster, tmp_path: Path) -> None:
    # Unknown master name.
    r = cli("status", *cluster.sentinel_args(), "--master", "nope")
    assert r.exit_code == 2 and "no master named 'nope'" in r.output and "mymaster" in r.output
    # Nothing listening.
    port = free_port()
    r = cli("status", "--sentinel", f"127.0.0.1:{port}")
    assert r.exit_code == 2 and f"127.0.0.1:{port} refused the connection" in r.output
    r = cli("switchover", "--sentinel", f"127.0.0.1:{port}")
    assert r.exit_code == 2 and "no sentinel could be reached" in r.output
    # A sentinel with a password (monitoring its own name, so it stays out of the cluster).
    sport = free_port()
    d = tmp_path / "pw-sentinel"
    conf = sentinel_conf(sport, d, cluster.master.port).replace("mymaster", "other") + "requirepass s3cret\n"
    sp = SentinelProcess(d, sport, conf).start()
    try:
        r = cli("status", "--sentinel", f"127.0.0.1:{sport}")
        assert r.exit_code == 2 and "requires a password" in r.output
        r = cli("status", "--sentinel", f"127.0.0.1:{sport}", "--password", "wrong")
        assert r.exit_code == 2 and "refused the password" in r.output
        r = cli("status", "--sentinel", f"127.0.0.1:{sport}", "--password", "s3cret", "--json")
        assert json.loads(r.stdout)["masters"][0]["name"] == "other"
        # The password can come from the config's requirepass.
        r = cli("status", "--json", "--config", str(sp.conf_path))
        assert json.loads(r.stdout)["sentinels"][0]["reachable"] is True
    finally:
        sp.stop()
    # A config that does not parse.
    bad = tmp_path / "bad.conf"
    bad.write_text("port 1\nsentinel monitor m 127.0.0.1 6379 0\n")
    r = cli("status", "--config", str(bad))
    assert r.exit_code == 2 and "line 2" in r.output and "Quorum must be 1 or greater" in r.output


def test_events_follow_every_sentinel(cluster: Cluster) -> None:
    clients = [s.client() for s in cluster.sentinels]

    def toggle() -> None:
        time.sleep(2.0)
        for c in clients:
            c.execute_command("SENTINEL", "MAINTENANCE", "mymaster", "ON")
        for c in clients:
            c.execute_command("SENTINEL", "MAINTENANCE", "mymaster", "OFF")

    t = threading.Thread(target=toggle)
    t.start()
    try:
        r = cli("events", "--json", *cluster.sentinel_args(), "--master", "mymaster", "--count", "6", "--for", "20")
    finally:
        t.join()
        for c in clients:
            c.close()
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    events = [(x["sentinel"], x["event"]) for x in lines if not x["event"].startswith("#")]
    ports = {f"127.0.0.1:{s.port}" for s in cluster.sentinels}
    assert sorted(events) == sorted([(p, e) for p in ports for e in ("+maintenance", "-maintenance")])
    assert {x["sentinel"] for x in lines if x["event"] == "#connected"} == ports
    assert all(x["payload"].startswith("master mymaster ") for x in lines if not x["event"].startswith("#"))
    r = cli("events", *cluster.sentinel_args(), "--for", "0.5")
    assert r.exit_code == 0 and "#connected" in r.output


def test_check_before_going_live(cluster: Cluster, tmp_path: Path) -> None:
    conf = cluster.sentinels[0].conf_path
    r = cli("check", "--config", str(conf), "--json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 0, doc
    topics = " ".join(f["message"] for f in doc["findings"])
    assert "CKQUORUM" in topics and f"127.0.0.1:{cluster.master.port} answers (role master)" in topics
    for rep in cluster.replicas:
        assert f"127.0.0.1:{rep.port} answers (role slave)" in topics
    # Offline lint of a config with problems.
    bad = tmp_path / "risky.conf"
    bad.write_text(
        f"port {free_port()}\nbind 0.0.0.0\ndir {tmp_path}\nsentinel monitor m 10.0.0.1 6379 1\n"
        "sentinel down-after-milliseconds m 100\nsentinel notification-script m /nonexistent/script.sh\n"
    )
    r = cli("check", "--config", str(bad), "--offline")
    assert r.exit_code == 2, r.output
    assert "quorum 1" in r.output and "down-after-milliseconds 100" in r.output
    assert "/nonexistent/script.sh is missing" in r.output and "no requirepass" in r.output
    broken = tmp_path / "broken.conf"
    broken.write_text("sentinel monitor m 10.0.0.1 6379\n")
    r = cli("check", "--config", str(broken), "--offline")
    assert r.exit_code == 2 and "line 1" in r.output


def test_status_degraded_when_a_sentinel_is_down(cluster: Cluster) -> None:
    victim = cluster.sentinels[2]
    victim.stop()
    try:
        code, doc = status_json(cluster)
        assert code == 1 and doc["health"] == "degraded"
        addr = f"127.0.0.1:{victim.port}"
        down = [s for s in doc["sentinels"] if s["address"] == addr]
        assert down and not down[0]["reachable"] and "refused the connection" in down[0]["error"]
        assert any(addr in p["message"] for p in doc["problems"])
        # The survivors still know it: it is listed with the master, unreachable.
        (m,) = doc["masters"]
        assert any(g["address"] == addr and not g["reachable"] for g in m["sentinels"])
        r = cli("status", *cluster.sentinel_args())
        assert r.exit_code == 1 and "DEGRADED" in r.output and wide_lines(r.output) == []
    finally:
        victim.start()
    wait_until(lambda: status_json(cluster)[0] == 0, timeout=20, what="healthy again")


def _writer(sent: redis.sentinel.Sentinel, tag: str, acked: list[str], stop: threading.Event, errors: list[str]) -> None:
    mc = sent.master_for("mymaster", socket_timeout=2, socket_connect_timeout=1)
    i = 0
    while not stop.is_set():
        key = f"{tag}:{i}"
        i += 1
        try:
            if mc.set(key, i):
                acked.append(key)
            time.sleep(0.0005)  # steady, not saturating: the 2-core test host runs everything else too
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as e:
            errors.append(type(e).__name__)
            time.sleep(0.01)


def _scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _value(metrics: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float | None:
    for lab, v in metrics.get(name, []):
        if all(lab.get(k) == val for k, val in labels.items()):
            return v
    return None


def test_switchover_loses_no_acknowledged_write(fresh: Cluster) -> None:
    c = fresh
    target = c.replicas[1]
    sent = redis.sentinel.Sentinel([("127.0.0.1", s.port) for s in c.sentinels], socket_timeout=2)
    stop = threading.Event()
    acked: list[list[str]] = [[] for _ in range(4)]
    errors: list[str] = []
    threads = [
        threading.Thread(target=_writer, args=(sent, f"w{i}", acked[i], stop, errors)) for i in range(4)
    ]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: all(len(a) > 50 for a in acked), what="writes flowing")
        before = sum(len(a) for a in acked)
        r = cli("switchover", "--json", *c.sentinel_args(), "--to", f"127.0.0.1:{target.port}", "--vip", "127.0.0.1")
        after_switch = sum(len(a) for a in acked)
        wait_until(lambda: sum(len(a) for a in acked) > after_switch + 200, what="writes on the new master")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["ok"] and rep["new_master"] == f"127.0.0.1:{target.port}"
    assert rep["old_master"] == f"127.0.0.1:{c.master.port}"
    assert rep["new_epoch"] == rep["old_epoch"] + 1
    events = [e["event"] for e in rep["timeline"]]
    for e in ("+switchover-pause-writes", "+promoted-slave", "+switch-master", "+failover-end"):
        assert e in events, events
    assert events.index("+switchover-pause-writes") < events.index("+promoted-slave")
    assert f"old master 127.0.0.1:{c.master.port} reports role slave of 127.0.0.1:{target.port}" in rep["checks"]
    # On loopback the "VIP" 127.0.0.1 reaches every server: observed through the new master's port.
    assert any(x.startswith(f"VIP 127.0.0.1 leads to the new master {rep['new_master']}") for x in rep["checks"])
    # Every acknowledged write is on the new master.
    keys = [k for a in acked for k in a]
    assert len(keys) > before
    new = target.client()
    missing = []
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        values = new.mget(chunk)
        missing += [k for k, v in zip(chunk, values, strict=True) if v is None]
    assert missing == [], f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    print(f"switchover: {len(keys)} acknowledged writes, none lost; {len(errors)} refused/retried; "
          f"{rep['seconds']:.2f} s; pause->promotion "
          f"{next(e['t'] for e in rep['timeline'] if e['event'] == '+promoted-slave') - next(e['t'] for e in rep['timeline'] if e['event'] == '+switchover-pause-writes'):.3f} s")
    # Every sentinel agrees, with the new epoch.
    for s in c.sentinels:
        m = smaster(s.client())
        assert (m["port"], m["config-epoch"]) == (target.port, rep["new_epoch"])
    # The status shows the switchover as the last failover, and the old master as a replica.
    _, doc = status_json(c)
    (m,) = doc["masters"]
    assert m["address"] == f"127.0.0.1:{target.port}" and m["last_failover"]["kind"] == "switchover"
    assert m["last_failover"]["epoch"] == rep["new_epoch"] and m["last_failover"]["duration_ms"] is not None
    last: list[Any] = []

    def healthy() -> bool:
        code, d = status_json(c)
        last[:] = d["problems"]
        return code == 0

    try:
        wait_until(healthy, timeout=30, what="healthy after the switchover")
    except AssertionError as e:
        raise AssertionError(f"{e}; problems: {last}") from None
    # Metrics: the leader counted one successful switchover and its duration; all see the epoch.
    leader = next(i for i, s in enumerate(c.sentinels) if f"127.0.0.1:{s.port}" == rep["sentinel"])
    supervisor_file(Path(os.environ["HASENTINEL_SUPERVISOR_STATUS"]))  # fresh again (stale after 30 s)
    for i, port in enumerate(c.metrics_ports):
        mx = _scrape(port)
        assert _value(mx, "hasentinel_master_config_epoch", master="mymaster") == rep["new_epoch"]
        assert _value(mx, "hasentinel_instance_up", master="mymaster", role="master", addr=rep["new_master"]) == 1
        assert _value(mx, "hasentinel_master_maintenance", master="mymaster") == 0
        assert _value(mx, "hasentinel_master_quorum_ok", master="mymaster") == 1
        assert "hasentinel_vip_held" not in mx  # no VIP configured: declared, no samples
        assert _value(mx, "hasentinel_supervisor_restarts_total", child="server") == 2
        assert _value(mx, "hasentinel_supervisor_child_up", child="sentinel") == 1
        if i == leader:
            assert _value(mx, "hasentinel_failovers_total", master="mymaster", kind="switchover", result="ok") == 1
            assert _value(mx, "hasentinel_failover_duration_seconds_count", master="mymaster", kind="switchover") == 1
            assert _value(mx, "hasentinel_switches_total", master="mymaster", role="leader") == 1
        else:
            assert _value(mx, "hasentinel_switches_total", master="mymaster", role="observer") == 1
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{c.metrics_ports[0]}/nope", timeout=5)
    assert err.value.code == 404
    # The leader's log lines of the failover carry its id, master and epoch.
    lines = [json.loads(x) for x in c.sentinels[leader].log().splitlines() if x.startswith("{")]
    fo = [x for x in lines if x.get("failover_id")]
    assert len({x["failover_id"] for x in fo}) == 1
    assert fo[0]["failover_id"].startswith(f"mymaster-{rep['new_epoch']}-")
    names = {x["event"] for x in fo}
    assert {"+new-epoch", "+try-failover", "+switchover-pause-writes", "+switch-master", "+failover-end"} <= names
    assert any(n.startswith("Executing user requested SWITCHOVER") for n in names)  # a plain log line
    assert all(x.get("master") == "mymaster" and x.get("failover_epoch") == rep["new_epoch"] for x in fo)


def test_pause_blocks_automatic_failover_until_resume(fresh: Cluster) -> None:
    c = fresh
    r = cli("pause", "--json", *c.sentinel_args())
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["switched"] == 3 and res["majority"] and set(res["sentinels"].values()) == {"on"}
    code, doc = status_json(c)
    assert code == 1 and doc["masters"][0]["maintenance"]
    assert all("maintenance" in v["flags"] for v in doc["masters"][0]["views"])
    assert any("maintenance mode" in p["message"] for p in doc["problems"])
    info = c.sentinels[0].client().info("sentinel")
    assert info["master0"]["maintenance"] == 1
    # Kill the master: it goes ODOWN everywhere, and stays there.
    old = c.master.port
    c.master.kill9()
    wait_until(
        lambda: all("o_down" in smaster(s.client())["flags"] for s in c.sentinels), timeout=20, what="ODOWN everywhere"
    )
    time.sleep(3.0)
    for s in c.sentinels:
        assert smaster(s.client())["port"] == old
        assert s.events("+try-failover") == [], s.log()[-2000:]
    code, doc = status_json(c)
    assert code == 2 and doc["health"] == "down", doc["problems"]
    assert doc["masters"][0]["status"] == "odown"
    r = cli("status", *c.sentinel_args())
    assert r.exit_code == 2 and "DOWN" in r.output and wide_lines(r.output) == []
    # Maintenance survives a sentinel restart (persisted in the state file).
    c.sentinels[1].stop()
    assert json.loads(c.sentinels[1].state_path.read_text())["masters"]["mymaster"]["maintenance"] is True
    c.sentinels[1].start()
    wait_until(lambda: "maintenance" in smaster(c.sentinels[1].client())["flags"], what="still paused after restart")
    # Resume: the failover happens.
    t0 = time.monotonic()
    r = cli("resume", *c.sentinel_args())
    assert r.exit_code == 0, r.output
    replicas = {r.port for r in c.replicas}
    wait_until(
        lambda: {smaster(s.client())["port"] for s in c.sentinels} <= replicas
        and len({smaster(s.client())["port"] for s in c.sentinels}) == 1,
        timeout=40,
        what="failover after resume",
    )
    print(f"resume -> all sentinels switched in {time.monotonic() - t0:.2f} s")
    code, doc = status_json(c)
    assert code == 1, doc["problems"]  # the old master is a dead replica now
    (m,) = doc["masters"]
    assert m["last_failover"]["kind"] in ("failover", "observed")
    assert any(r["address"] == f"127.0.0.1:{old}" and not r["reachable"] for r in m["replicas"])


def test_forced_failover_reports_and_warns(cluster: Cluster) -> None:
    """`failover` on a live master: done, a new epoch everywhere, and the warning that the old
    master still accepts writes until the sentinels convert it. Runs last on the shared cluster."""
    old_port = cluster.master.port
    epoch = smaster(cluster.sentinels[0].client())["config-epoch"]
    r = cli("failover", "--json", *cluster.sentinel_args())
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["ok"] and rep["old_master"] == f"127.0.0.1:{old_port}" and rep["new_epoch"] == epoch + 1
    assert rep["new_master"] in {f"127.0.0.1:{x.port}" for x in cluster.replicas}
    assert "+promoted-slave" in [e["event"] for e in rep["timeline"]]
    # The warning is due while the old master still reports role master; on a slow run the
    # sentinels may have converted it already (seconds after the switch), and the report says so.
    old_role = [c for c in rep["checks"] if c.startswith(f"old master 127.0.0.1:{old_port} reports role")]
    assert len(old_role) == 1, rep["checks"]
    warned = any(c.startswith("WARNING: the old master is alive") for c in rep["checks"])
    if old_role[0].endswith("reports role master"):
        assert warned, rep["checks"]
    else:
        assert old_role[0].endswith(f"reports role slave of {rep['new_master']}") and not warned, rep["checks"]
    # An unknown target is refused before anything is asked of a sentinel.
    r = cli("switchover", *cluster.sentinel_args(), "--to", "127.0.0.1:1")
    assert r.exit_code == 2 and "is not a known replica" in r.output
