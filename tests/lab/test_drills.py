"""`hasentinel drill`: the checker on synthetic records (no privilege), and a bounded subset of
the real drills in the drill's own namespaces (root; marker netns).

The netns tests run kill-master-server, partition-master and restart-old-master once each on a
fresh lab private to the drill process (hsd<pid>-*; never the `hasentinel lab` namespaces nor
another drill's) and assert
the checker's results, that each trial wrote its JSON and PNG, and that the JSON validates
against the documented schema. About 2.5 minutes on the project's 2-core machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sentinel.drill.backend import LabBackend, LabProfile
from sentinel.drill.checker import TrialData, check
from sentinel.drill.netns import NetnsLab, cleanup_stale, service_of
from sentinel.drill.report import REPORT_SCHEMA, TRIAL_SCHEMA, validate_report
from sentinel.drill.scenarios import SCENARIOS
from sentinel.lab.netns import list_netns

HASENTINEL = str(Path(sys.executable).parent / "hasentinel")

# -- no privilege: the checker on records we write by hand -------------------------------------


def _op(seq: int, t: float, ok: bool, kind: str = "set", repl: int | None = None, rid: str = "r1") -> dict[str, Any]:
    return {"k": "op", "seq": seq, "kind": kind, "t0": t - 0.001, "t1": t, "w1": 1e9 + t, "ok": ok,
            "repl": repl, "rid": rid if ok else None, "err": None if ok else "ConnectionError"}  # fmt: skip


def _sen(t: float, master: str, epoch: int) -> dict[str, Any]:
    return {"k": "sen", "t": t, "w": 1e9 + t, "master": master, "epoch": epoch, "failover": False}


def _vip(t: float, held: bool) -> dict[str, Any]:
    return {"k": "vip", "t": t, "w": 1e9 + t, "held": held, "up": True}


def _srv(t: float, role: str, rid: str) -> dict[str, Any]:
    return {"k": "srv", "t": t, "w": 1e9 + t, "role": role, "master": None, "link": None, "run_id": rid}


def _trial(**over: Any) -> TrialData:
    h = {"host1": "10.0.0.1:6379", "host2": "10.0.0.2:6379"}
    ops = [_op(i, 0.1 * i, True, "wait" if i % 2 == 0 else "set", 1 if i % 2 == 0 else None) for i in range(1, 30)]
    ops += [_op(i, 0.1 * i, False) for i in range(30, 40)]  # 3.0 .. 3.9: errors
    ops += [_op(i, 0.1 * i, True, rid="r2") for i in range(40, 60)]
    d = TrialData(
        scenario=SCENARIOS["kill-master-server"],
        profile=LabProfile(down_after_ms=1000),
        host_addr=h,
        ops=ops,
        samples={
            "host1": [_srv(0.0, "master", "r1"), _sen(0.0, h["host1"], 0), _vip(0.0, True), _vip(3.5, False)],
            "host2": [_srv(0.0, "slave", "r2"), _sen(0.0, h["host1"], 0), _sen(3.6, h["host2"], 1), _vip(0.0, False), _vip(3.55, True)],
        },
        events=[{"t": 2.95, "w": 1e9 + 2.95, "label": "fault", "detail": "kill"}],
        verify={"missing": [], "wrong": []},
        convergence={"ok": True, "seconds": 1.0, "master": "host2", "why": None},
        t_origin=0.0,
        t_end=6.0,
    )
    for k, v in over.items():
        setattr(d, k, v)
    return d


def test_checker_a_clean_failover_passes() -> None:
    r = check(_trial())
    m = r["metrics"]
    assert m["downtime"]["seconds"] == pytest.approx(1.1, abs=1e-6)  # last ack 2.9 -> first 4.0
    assert m["failovers"] == 1 and m["false_failovers"] == 0
    assert m["vip_dual_holder_ms"] == 0 and m["vip_no_holder_ms"] == pytest.approx(50, abs=0.1)
    assert m["acked_lost"] == 0 and m["fenced_master_acks"] == 0
    assert r["passed"], r["targets"]


def test_checker_tells_sampling_from_a_real_overlap() -> None:
    """Each sampler reads every ~10 ms and records a change with the previous read's start
    (pt): a release seen 4 ms after the successor's add is no proof of two holders when the
    last read that still saw the VIP started before the add was seen; an overlap the reads
    bracket is one; and time with no holder counts only what no host may have held."""

    def vip(t: float, held: bool, pt: float) -> dict[str, Any]:
        return {**_vip(t, held), "pt": pt, "pw": 1e9 + pt}

    d = _trial()
    d.samples["host1"][-1] = vip(3.505, False, 3.495)  # gone between 3.495 and 3.505
    d.samples["host2"][-1] = vip(3.501, True, 3.491)  # added between 3.491 and 3.501
    m = check(d)["metrics"]
    assert m["vip_dual_holder_ms"] == 0 and m["vip_no_holder_ms"] == 0
    d.samples["host1"][-1] = vip(3.62, False, 3.61)  # still seen at 3.61, after host2's add at 3.501
    m = check(d)["metrics"]
    assert m["vip_dual_holder_ms"] == pytest.approx(109, abs=0.1)


def test_checker_finds_lost_waits_dual_holders_fenced_acks_and_slow_failover() -> None:
    d = _trial()
    d.verify = {"missing": [4, 5], "wrong": [6]}  # 4, 6: WAIT-1 acknowledged; 5: plain SET
    d.samples["host2"].append(_vip(4.0, True))
    d.samples["host1"] += [_vip(4.5, True), _vip(4.7, False)]  # two holders for 200 ms
    d.ops.append(_op(60, 5.0, True, rid="r1"))  # host1 acknowledges after host2 was announced
    d.ops = [o for o in d.ops if not (40 <= o["seq"] < 45)]  # and the client resumes later
    r = check(d)
    m = r["metrics"]
    assert (m["acked_lost"], m["acked_lost_wait1"]) == (3, 2)
    assert m["vip_dual_holder_ms"] == pytest.approx(200, abs=0.1)
    assert m["fenced_master_acks"] == 1
    failed = {t["name"] for t in r["targets"] if not t["ok"]}
    assert failed == {"acked WAIT-1 writes lost", "VIP dual holders (ms)", "fenced-master acks", "downtime (s)"}
    assert not r["passed"]


def test_checker_counts_a_stock_leaders_late_switch_as_one_failover() -> None:
    """A stock leader announces the new config epoch with the old address first (until its
    failover ends), then the new address at that same epoch: one failover, at the switch. A
    sentinel still on the old epoch changes nothing."""
    d = _trial()
    h = d.host_addr
    d.samples["host2"][1:3] = [_sen(0.0, h["host1"], 0), _sen(3.3, h["host1"], 1), _sen(3.6, h["host2"], 1)]
    d.samples["host1"].append(_sen(3.7, h["host1"], 0))  # a lagging sentinel
    m = check(d)["metrics"]
    assert m["failovers"] == 1 and m["false_failovers"] == 0


def test_checker_counts_false_failovers_and_missed_recovery() -> None:
    d = _trial(scenario=SCENARIOS["isolate-replica"])
    d.events.append({"t": 4.5, "w": 1e9 + 4.5, "label": "heal", "detail": ""})
    d.ops = [o for o in d.ops if o["t1"] < 4.5 or o["t1"] > 5.85]  # first ack after the heal at 5.9
    r = check(d)
    assert r["metrics"]["false_failovers"] == 1
    assert r["metrics"]["recovery_after_heal_s"] == pytest.approx(1.4, abs=1e-6)
    failed = {t["name"] for t in r["targets"] if not t["ok"]}
    assert failed == {"false failovers", "recovery after heal (s)"}


def test_service_of_and_backend_protocol(tmp_path: Path) -> None:
    assert service_of(["/v/bin/python", "/v/bin/hasentinel", "sentinel", "/x/sentinel.conf"]) == "sentinel"
    assert service_of(["/v/bin/python", "/v/bin/hasentinel-server", "/x/server.conf"]) == "server"
    assert service_of(["/v/bin/python", "/v/bin/hasentinel", "supervise", "/x/host.toml"]) == "supervisor"
    assert service_of(["/v/bin/python", "-m", "sentinel.drill.sampler", "--vip", "x"]) is None
    lab = NetnsLab(state_dir=tmp_path)
    assert isinstance(lab, LabBackend)
    lab.write_configs(tmp_path)
    conf = (tmp_path / "host2" / "etc" / "sentinel.conf").read_text()
    assert "sentinel vip mymaster 10.252.0.100/24 eth0" in conf
    assert "sentinel vip-local-server mymaster 10.252.0.2 6379" in conf
    assert "sentinel down-after-milliseconds mymaster 1000" in conf
    assert "client-reconfig-script" not in conf
    assert 'master_restart = "never"' in (tmp_path / "host1" / "etc" / "host.toml").read_text()


def test_cli_without_root_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from sentinel.cli.app import app

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    r = CliRunner().invoke(app, ["drill", "kill-master-server"])
    assert r.exit_code == 2 and "needs root" in r.output
    r = CliRunner().invoke(app, ["drill", "no-such-scenario"])
    assert r.exit_code == 2 and "unknown scenario" in r.output


# -- the real drills ----------------------------------------------------------------------------


def _unavailable() -> str | None:
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "the drills need root (network namespaces, tc: CAP_SYS_ADMIN, CAP_NET_ADMIN)"
    for tool in ("ip", "tc", "redis-cli"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    probe = f"hsd{os.getpid()}-probe"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=15)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, text=True, timeout=15)
    if r.returncode != 0:
        return f"`ip netns add` does not work here: {r.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def drill_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("drills")
    p = subprocess.Popen(
        [HASENTINEL, "drill", "kill-master-server", "partition-master", "restart-old-master",
         "--trials", "1", "--report", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        stdout, _ = p.communicate(timeout=230)
    finally:
        if p.poll() is None:
            p.kill()  # our own child, by PID; its lab is then stale and removed just below
            p.wait(timeout=10)
        cleanup_stale()
    # the drill's own lab (namespaces hsd<its pid>-*) is gone: removed after every trial
    assert not [n for n in list_netns() if n.startswith(f"hsd{p.pid}-")]
    assert (out / "report.json").exists(), stdout
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    report["_exit"] = p.returncode
    report["_out"] = stdout
    report["_dir"] = out
    return report


def _trial_of(report: dict[str, Any], name: str) -> dict[str, Any]:
    [t] = [t for t in report["trials"] if t["scenario"] == name]
    return t


@pytest.mark.netns
def test_drill_report_files_and_schema(drill_report: dict[str, Any]) -> None:
    out: Path = drill_report["_dir"]
    report = {k: v for k, v in drill_report.items() if not k.startswith("_")}
    assert validate_report(report) == []
    assert REPORT_SCHEMA["properties"]["trials"]["items"] is TRIAL_SCHEMA
    assert [t["scenario"] for t in report["trials"]] == ["kill-master-server", "partition-master", "restart-old-master"]
    for t in report["trials"]:
        tdir = out / f"{t['scenario']}-{t['trial']}"
        png = (tdir / "timeline.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        assert json.loads((tdir / "trial.json").read_text()) == t
        assert (tdir / "ops.jsonl").stat().st_size > 0 and (tdir / "samples.jsonl").stat().st_size > 0
    # the table and the exit status agree with the report
    assert "hasentinel drill" in drill_report["_out"]
    assert drill_report["_exit"] == (0 if report["passed"] else 1), drill_report["_out"]


def _common(t: dict[str, Any]) -> dict[str, Any]:
    m: dict[str, Any] = t["metrics"]
    assert t["error"] is None, t["error"]
    assert m["writes_acked"] > 300 and m["writes_acked_wait1"] > 100  # the workload really ran
    assert m["acks_unknown_server"] == 0
    assert m["acked_lost_wait1"] == 0, m["lost_seqs"]
    assert m["vip_dual_holder_ms"] == 0
    assert m["fenced_master_acks"] == 0
    assert m["failovers"] == 1 and m["false_failovers"] == 0, m["masters"]
    assert m["masters"][0]["host"] == "host1" and m["masters"][-1]["host"] != "host1"
    assert t["convergence"]["ok"], t["convergence"]
    assert m["sampler_max_gap_ms"] < 1000  # the VIP samples were dense enough to mean something
    return m


@pytest.mark.netns
def test_kill_master_server(drill_report: dict[str, Any]) -> None:
    t = _trial_of(drill_report, "kill-master-server")
    m = _common(t)
    [dt] = [x for x in t["targets"] if x["name"] == "downtime (s)"]
    assert dt["limit"] == 1.25 and dt["ok"] == (m["downtime"]["seconds"] <= 1.25)  # down-after + 0.25 s
    # The target itself is not asserted: on this shared 2-core machine a failover sometimes needs
    # a second election round (+1 s). What must hold: some downtime (the master really died),
    # bounded well below what a missed failover would cost, and every other target met.
    assert 0.05 < m["downtime"]["seconds"] < 3.5, m["downtime"]
    assert m["vip_no_holder_ms"] < 1000
    assert all(x["ok"] for x in t["targets"] if x["name"] != "downtime (s)"), t["targets"]


@pytest.mark.netns
def test_partition_master(drill_report: dict[str, Any]) -> None:
    t = _trial_of(drill_report, "partition-master")
    m = _common(t)
    assert [e["label"] for e in t["events"]][:2] == ["fault", "heal"]
    assert m["recovery_after_heal_s"] is not None and m["recovery_after_heal_s"] <= 1.0
    assert t["passed"], t["targets"]


@pytest.mark.netns
def test_restart_old_master(drill_report: dict[str, Any]) -> None:
    t = _trial_of(drill_report, "restart-old-master")
    _common(t)
    assert "restart" in [e["label"] for e in t["events"]]
    assert t["convergence"]["master"] != "host1"  # the old master came back as a replica
    assert t["passed"], t["targets"]
