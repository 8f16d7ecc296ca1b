"""Side-by-side summaries of drill reports (scripts/side_by_side.py): per scenario and flavour,
downtime median / max, lost acknowledged writes, time with two VIP holders and with none,
false failovers; and the stock / hasentinel ratio of each."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

COLUMNS: list[tuple[str, str]] = [
    ("downtime_median_s", "downtime median (s)"),
    ("downtime_max_s", "downtime max (s)"),
    ("acked_lost", "acked writes lost"),
    ("acked_lost_wait1", "WAIT-1 acked lost"),
    ("vip_dual_ms_max", "2 VIP holders max (ms)"),
    ("vip_none_ms_median", "no VIP holder median (ms)"),
    ("failovers", "failovers"),
    ("false_failovers", "false failovers"),
]
"""(Summary field, column title): the numbers compared."""


@dataclass(frozen=True)
class Summary:
    """One flavour's trials of one scenario."""

    flavour: str
    scenario: str
    trials: int
    passed: int
    errors: int
    downtime_median_s: float
    downtime_max_s: float
    acked_lost: int  # total over the trials
    acked_lost_wait1: int
    vip_dual_ms_max: float
    vip_none_ms_median: float
    failovers: int  # total
    false_failovers: int  # total

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(flavour: str, trials: list[dict[str, Any]]) -> dict[str, Summary]:
    """Trial reports (the drill's schema, `report["trials"]`) -> scenario -> Summary."""
    by: dict[str, list[dict[str, Any]]] = {}
    for t in trials:
        by.setdefault(str(t["scenario"]), []).append(t)
    out: dict[str, Summary] = {}
    for scenario, ts in by.items():
        ms = [t["metrics"] for t in ts]
        down = [float(m["downtime"]["seconds"]) for m in ms]
        out[scenario] = Summary(
            flavour=flavour,
            scenario=scenario,
            trials=len(ts),
            passed=sum(1 for t in ts if t.get("passed")),
            errors=sum(1 for t in ts if t.get("error")),
            downtime_median_s=round(statistics.median(down), 3),
            downtime_max_s=round(max(down), 3),
            acked_lost=sum(int(m["acked_lost"]) for m in ms),
            acked_lost_wait1=sum(int(m["acked_lost_wait1"]) for m in ms),
            vip_dual_ms_max=round(max(float(m["vip_dual_holder_ms"]) for m in ms), 1),
            vip_none_ms_median=round(statistics.median(float(m["vip_no_holder_ms"]) for m in ms), 1),
            failovers=sum(int(m["failovers"]) for m in ms),
            false_failovers=sum(int(m["false_failovers"]) for m in ms),
        )
    return out


def ratio(stock: float, ours: float) -> float | None:
    """stock / ours; None when undefined (ours 0 and stock not 0); 1.0 when both are 0."""
    if ours == 0:
        return 1.0 if stock == 0 else None
    return round(stock / ours, 2)


def fmt_ratio(r: float | None, stock: float) -> str:
    """A ratio for the table; `inf (ours 0, stock 3)` when undefined."""
    return f"{r:g}x" if r is not None else f"inf (ours 0, stock {stock:g})"


def comparison(ours: dict[str, Summary], stock: dict[str, Summary]) -> list[dict[str, Any]]:
    """Per scenario present in both: both summaries and the ratios (JSON-ready)."""
    rows = []
    for scenario in [s for s in ours if s in stock]:
        a, b = ours[scenario], stock[scenario]
        rows.append(
            {
                "scenario": scenario,
                "hasentinel": a.as_dict(),
                "stock": b.as_dict(),
                "ratio_stock_over_hasentinel": {
                    key: ratio(float(getattr(b, key)), float(getattr(a, key))) for key, _ in COLUMNS
                },
            }
        )
    return rows


def table_rows(row: dict[str, Any]) -> list[list[str]]:
    """One scenario of `comparison()` as text rows: [metric, hasentinel, stock, stock / hasentinel]."""
    a, b, r = row["hasentinel"], row["stock"], row["ratio_stock_over_hasentinel"]
    out = [["trials passed", f"{a['passed']}/{a['trials']}", f"{b['passed']}/{b['trials']}", ""]]
    for key, title in COLUMNS:
        out.append([title, f"{a[key]:g}", f"{b[key]:g}", fmt_ratio(r[key], float(b[key]))])
    return out
