#!/usr/bin/env python3
"""Side-by-side failure drills: hasentinel vs stock Redis 7 + Sentinel, same namespaces setup.

    sudo .venv/bin/python scripts/side_by_side.py [--trials 20] [--scenarios kill-master-server partition-master]
                                                  [--report side-by-side] [--stock-restart-delay 5]

For each flavour, runs the drills (sentinel/drill, docs/drills.md) N trials per scenario, each
on a fresh three-host cluster in network namespaces with the same profile (down-after,
failover-timeout) and the same client workload through the VIP:

* hasentinel: NetnsLab (`hasentinel supervise` per host, the VIP owned by the sentinels);
* stock: StockNetnsLab (sentinel/drill/stock.py: Debian's redis-server + redis-sentinel 7 from
  the same example configs, the VIP moved by vip-reconfig as client-reconfig-script, each
  process restarted by a Restart=always-style loop after --stock-restart-delay seconds).

Then prints, per scenario, a hasentinel row, a stock row and their ratio (stock / hasentinel):
downtime median and max, acknowledged writes lost (all, and those acknowledged by WAIT 1), the
longest time with two VIP holders, the median time with none, failovers and false failovers.
Everything is also in <report>/side_by_side.json; each flavour's full drill report (per-trial
JSON, timelines) in <report>/hasentinel/ and <report>/stock/.

--stock-restart-delay: Debian's units restart a killed redis-server after 100 ms (RestartSec),
before the sentinels' down-after: the master is back in place and no failover happens, so a
kill-master-server trial would not compare failovers. The default, 5 s, brings the killed master
back after the failover, as `master_restart = "never"` (the drills' profile) does for ours;
pass 0.1 to measure Debian's default behaviour instead.

Exit status: 0 done (whatever the numbers), 2 not run (no root, unknown scenario, no stock Redis).
Needs root (namespaces, tc). About 40-60 s per trial.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from ipaddress import IPv4Network
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_SCENARIOS = ["kill-master-server", "partition-master"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=20, help="trials per scenario and flavour (default 20)")
    ap.add_argument(
        "--scenarios", nargs="+", default=DEFAULT_SCENARIOS, help="drill scenarios (default: %(default)s)"
    )
    ap.add_argument("--report", type=Path, default=Path("side-by-side"), help="output directory")
    ap.add_argument("--stock-restart-delay", type=float, default=5.0, help="seconds (see above; Debian: 0.1)")
    ap.add_argument("--only", choices=["hasentinel", "stock"], help="run one flavour (the table needs both)")
    ap.add_argument(
        "--from-reports",
        action="store_true",
        help="run nothing: summarize <report>/hasentinel/report.json and <report>/stock/report.json",
    )
    a = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from sentinel.drill.compare import COLUMNS, comparison, summarize, table_rows
    from sentinel.drill.netns import NetnsLab
    from sentinel.drill.runner import run_drill
    from sentinel.drill.scenarios import SCENARIOS
    from sentinel.drill.stock import StockNetnsLab

    unknown = [s for s in a.scenarios if s not in SCENARIOS]
    if unknown:
        print(
            f"side_by_side: unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}",
            file=sys.stderr,
        )
        return 2
    if a.trials < 1:
        print("side_by_side: --trials must be at least 1", file=sys.stderr)
        return 2
    if a.from_reports:
        pass
    elif os.geteuid() != 0:
        print("side_by_side: needs root (network namespaces, tc)", file=sys.stderr)
        return 2
    if a.only != "hasentinel" and (
        shutil.which("redis-server") is None or shutil.which("redis-sentinel") is None
    ):
        print(
            "side_by_side: stock redis-server / redis-sentinel not installed (scripts/install.sh --test)",
            file=sys.stderr,
        )
        return 2

    console = Console()

    def say(m: str) -> None:
        console.print(m, markup=False, highlight=False)

    # Own namespaces, subnets and state directories: never the ones of `hasentinel drill`
    # (hsdrill-) or `hasentinel lab` (hslab-), which may be in use.
    backends = {
        "hasentinel": NetnsLab(
            prefix="hsside-",
            subnet=IPv4Network("10.254.0.0/24"),
            state_dir=Path("/run/hasentinel-side-by-side"),
        ),
        "stock": StockNetnsLab(restart_delay=a.stock_restart_delay),
    }
    reports: dict[str, dict] = {}
    for flavour, backend in backends.items():
        if a.only and flavour != a.only:
            continue
        if a.from_reports:
            path = a.report / flavour / "report.json"
            if path.exists():
                reports[flavour] = json.loads(path.read_text())
            continue
        say(f"== {flavour}: {', '.join(a.scenarios)} x {a.trials}")
        reports[flavour] = run_drill(backend, a.scenarios, a.trials, a.report / flavour, say=say)  # type: ignore[arg-type]
    if not reports:
        print(
            f"side_by_side: no report.json under {a.report}/hasentinel or {a.report}/stock", file=sys.stderr
        )
        return 2

    summaries = {f: summarize(f, r["trials"]) for f, r in reports.items()}
    rows = comparison(summaries.get("hasentinel", {}), summaries.get("stock", {}))
    out = {
        "trials": max((s.trials for d in summaries.values() for s in d.values()), default=0),  # per scenario
        "scenarios": a.scenarios,
        "stock_restart_delay_s": a.stock_restart_delay,
        "profile": next(iter(reports.values()))["trials"][0].get("profile"),
        "summaries": {f: {s: v.as_dict() for s, v in d.items()} for f, d in summaries.items()},
        "comparison": rows,
    }
    a.report.mkdir(parents=True, exist_ok=True)
    (a.report / "side_by_side.json").write_text(json.dumps(out, indent=1) + "\n")

    for row in rows:
        n = f"{row['hasentinel']['trials']} vs {row['stock']['trials']} trial(s)"
        table = Table(title=f"{row['scenario']}: hasentinel vs stock Redis 7 ({n})")
        for title in ("", "hasentinel", "stock", "stock / hasentinel"):
            table.add_column(title, justify="left" if not title else "right")
        for r in table_rows(row):
            table.add_row(*r)
        console.print(table)
    if not rows:  # one flavour only: its own numbers
        for d in summaries.values():
            for s in d.values():
                say(f"{s.scenario} ({s.flavour}): " + ", ".join(f"{t} {getattr(s, k):g}" for k, t in COLUMNS))
    say(
        "failovers are the drill checker's count: changes of the master named with the highest config "
        "epoch, a change at the same epoch included (stock Sentinel announces the new epoch with the old "
        "address until its failover ends)."
    )
    say(f"report: {a.report / 'side_by_side.json'}; per flavour: {a.report}/hasentinel/, {a.report}/stock/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
