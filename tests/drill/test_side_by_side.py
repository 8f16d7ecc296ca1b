"""The stock drill backend's configs and restart loop, the side-by-side summaries, and
scripts/side_by_side.py's argument checks (no root needed; the real run needs root and takes
minutes: `scripts/side_by_side.py --trials 1`)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from sentinel.drill.backend import LabBackend, LabProfile
from sentinel.drill.compare import COLUMNS, comparison, ratio, summarize, table_rows
from sentinel.drill.netns import EXAMPLES
from sentinel.drill.stock import RESTART_LOOP, RESTART_TAG, StockNetnsLab, is_restart_loop, stock_program

REPO = Path(__file__).resolve().parents[2]


def test_stock_lab_configs(tmp_path: Path) -> None:
    lab = StockNetnsLab(profile=LabProfile(down_after_ms=1200, failover_timeout_ms=7000))
    assert isinstance(lab, LabBackend) and lab.prefix != "hsdrill-" and lab.name == "netns-stock"
    out = lab.write_configs(tmp_path)
    assert set(out) == {"host1", "host2", "host3"}
    server = (tmp_path / "host2" / "etc" / "server.conf").read_text()
    assert server.startswith(
        lab._render((EXAMPLES / "host2" / "server.conf").read_text(), tmp_path / "host2")
    )
    assert "bind 10.253.0.2 10.253.0.100 127.0.0.1\n" in server
    assert "replicaof 10.253.0.1 6379\n" in server
    assert server.endswith(f"port 6379\ndir {tmp_path}/host2/data\n")
    sentinel = (tmp_path / "host2" / "etc" / "sentinel.conf").read_text()
    assert "sentinel monitor mymaster 10.253.0.1 6379 2\n" in sentinel
    assert "sentinel down-after-milliseconds mymaster 1200\n" in sentinel
    assert "sentinel failover-timeout mymaster 7000\n" in sentinel
    assert f"sentinel client-reconfig-script mymaster {lab.reconfig_script()}\n" in sentinel
    assert lab.reconfig_script().exists()
    assert "sentinel vip " not in sentinel and "known-sentinel" not in sentinel  # stock, as deployed
    assert sentinel.endswith(f"port 26379\ndir {tmp_path}/host2/sentinel\n")
    assert (
        tmp_path / "host2" / "etc" / "vip.conf"
    ).read_text() == "vip = 10.253.0.100/24\ninterface = eth0\n"


def test_stock_process_recognition() -> None:
    assert stock_program(["/usr/bin/redis-server 10.253.0.1:6379"]) == "redis-server"
    assert stock_program(["/usr/bin/redis-sentinel 10.253.0.1:26379 [sentinel]"]) == "redis-sentinel"
    assert stock_program(["/usr/bin/redis-server", "/run/x/server.conf"]) == "redis-server"
    assert stock_program(["/usr/bin/python3", "-m", "sentinel.vip.reconfig"]) is None
    assert stock_program([]) is None and stock_program([""]) is None
    loop = ["sh", "-c", RESTART_LOOP, RESTART_TAG, "0.1", "/usr/bin/redis-server", "/x/server.conf"]
    assert is_restart_loop(loop) and stock_program(loop) is None
    assert not is_restart_loop(["sh", "-c", "true"])


def test_restart_loop_restarts_after_the_delay(tmp_path: Path) -> None:
    """The loop that stands for Debian's Restart=always units, run for real: a program that
    exits is started again after the delay."""
    marks = tmp_path / "starts"
    prog = ["sh", "-c", f"echo start >> {marks}; exit 1"]
    p = subprocess.Popen(["sh", "-c", RESTART_LOOP, RESTART_TAG, "0.2", *prog], start_new_session=True)
    try:
        time.sleep(1.1)
        n = len(marks.read_text().splitlines())
        assert 3 <= n <= 7, n  # ~every 0.2 s (bounded loosely: the host is shared)
        argv = Path(f"/proc/{p.pid}/cmdline").read_bytes().decode().split("\0")
        assert is_restart_loop(argv)
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # our own loop's process group
        p.wait(timeout=5)


def _trial(
    scenario: str,
    down: float,
    lost: int = 0,
    dual: float = 0.0,
    none: float = 0.0,
    fo: int = 1,
    false: int = 0,
) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "passed": lost == 0 and dual == 0,
        "error": None,
        "metrics": {
            "downtime": {"seconds": down, "from": 1.0, "to": 1.0 + down},
            "acked_lost": lost,
            "acked_lost_wait1": 0,
            "vip_dual_holder_ms": dual,
            "vip_no_holder_ms": none,
            "failovers": fo,
            "false_failovers": false,
        },
    }


def test_summaries_and_ratios() -> None:
    ours = summarize(
        "hasentinel",
        [_trial("kill", 1.0, none=10), _trial("kill", 3.0, none=30), _trial("kill", 2.0, none=20)],
    )
    stock = summarize(
        "stock", [_trial("kill", 6.0, lost=2, dual=100, none=50, fo=2, false=1), _trial("part", 9.0)]
    )
    k = ours["kill"]
    assert (k.trials, k.passed, k.downtime_median_s, k.downtime_max_s, k.vip_none_ms_median) == (
        3,
        3,
        2.0,
        3.0,
        20.0,
    )
    rows = comparison(ours, stock)
    assert [r["scenario"] for r in rows] == ["kill"]  # only scenarios both ran
    r = rows[0]["ratio_stock_over_hasentinel"]
    assert r["downtime_median_s"] == 3.0 and r["downtime_max_s"] == 2.0
    assert r["acked_lost"] is None  # ours 0, stock 2: no finite ratio
    assert r["false_failovers"] is None and r["failovers"] == round(2 / 3, 2)
    assert ratio(0, 0) == 1.0 and ratio(1, 4) == 0.25
    text = table_rows(rows[0])
    assert text[0] == ["trials passed", "3/3", "0/1", ""]
    assert [x[0] for x in text[1:]] == [title for _, title in COLUMNS]
    assert text[1] == ["downtime median (s)", "2", "6", "3x"]
    assert text[3][3].startswith("inf (ours 0, stock 2")


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("side_by_side", REPO / "scripts" / "side_by_side.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_side_by_side_refuses_what_it_cannot_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mod = _script()
    assert mod.main(["--scenarios", "no-such-drill", "--trials", "1"]) == 2
    assert "unknown scenario(s) no-such-drill" in capsys.readouterr().err
    assert mod.main(["--trials", "0"]) == 2
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert mod.main(["--trials", "1"]) == 2
    assert "needs root" in capsys.readouterr().err


def test_side_by_side_from_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--from-reports: the tables and side_by_side.json from two flavours' report.json files."""
    import json

    for flavour, trials in {
        "hasentinel": [_trial("kill-master-server", 0.5, none=40)],
        "stock": [_trial("kill-master-server", 4.0, none=190, fo=0)],
    }.items():
        (tmp_path / flavour).mkdir()
        (tmp_path / flavour / "report.json").write_text(json.dumps({"trials": trials}))
    mod = _script()
    assert mod.main(["--from-reports", "--report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "kill-master-server: hasentinel vs stock Redis 7 (1 vs 1 trial(s))" in out
    assert "downtime median (s)" in out and "8x" in out
    saved = json.loads((tmp_path / "side_by_side.json").read_text())
    assert saved["comparison"][0]["ratio_stock_over_hasentinel"]["downtime_median_s"] == 8.0
    assert mod.main(["--from-reports", "--report", str(tmp_path / "nothing")]) == 2


def test_registered_as_a_drill_lab() -> None:
    from sentinel.drill.cli import make_backend

    lab = make_backend("netns-stock")  # `hasentinel drill ... --lab netns-stock`
    assert isinstance(lab, StockNetnsLab) and lab.restart_delay == 0.1
