"""Drill output: the JSON report (its schema, documented in docs/drills.md), the terminal table,
and the PNG timeline of a trial."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sentinel.cli.schema import validate

SCHEMA_ID = "hasentinel-drill/1"

_NUM = {"type": "number"}
_ONUM = {"type": ["number", "null"]}
_INT = {"type": "integer", "minimum": 0}
_STR = {"type": "string"}


def _obj(props: dict[str, Any], extra: bool = False) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": extra}


METRICS_SCHEMA = _obj(
    {
        "writes_attempted": _INT,
        "writes_acked": _INT,
        "writes_acked_wait1": _INT,
        "write_errors": _INT,
        "downtime": _obj({"seconds": _NUM, "from": _NUM, "to": _NUM}),
        "recovery_after_heal_s": _ONUM,
        "acked_lost": _INT,
        "acked_lost_wait1": _INT,
        "lost_seqs": {"type": "array", "items": _INT},
        "fenced_master_acks": _INT,
        "acks_unknown_server": _INT,
        "vip_dual_holder_ms": _NUM,
        "vip_no_holder_ms": _NUM,
        "failovers": _INT,
        "expected_failovers": _INT,
        "false_failovers": _INT,
        "masters": {"type": "array", "items": _obj({"t": _NUM, "host": _STR, "epoch": _INT})},
        "sampler_max_gap_ms": _NUM,
    }
)

TRIAL_SCHEMA = _obj(
    {
        "schema": {"enum": [SCHEMA_ID]},
        "scenario": _STR,
        "summary": _STR,
        "trial": _INT,
        "backend": _STR,
        "profile": _obj({"down_after_ms": _INT, "failover_timeout_ms": _INT, "master_restart": _STR}),
        "started_at": _STR,
        "duration_s": _NUM,
        "events": {"type": "array", "items": _obj({"t": _NUM, "label": _STR, "detail": _STR})},
        "metrics": METRICS_SCHEMA,
        "targets": {
            "type": "array",
            "items": _obj(
                {
                    "name": _STR,
                    "value": {"type": ["number", "boolean", "null"]},
                    "limit": {"type": ["number", "boolean"]},
                    "ok": {"type": "boolean"},
                }
            ),
        },
        "passed": {"type": "boolean"},
        "convergence": _obj(
            {
                "ok": {"type": "boolean"},
                "seconds": _NUM,
                "master": {"type": ["string", "null"]},
                "why": {"type": ["string", "null"]},
            }
        ),
        "error": {"type": ["string", "null"]},
        "files": _obj({"timeline_png": _STR, "ops": _STR, "samples": _STR}),
    }
)

REPORT_SCHEMA = _obj(
    {
        "schema": {"enum": [SCHEMA_ID]},
        "backend": _STR,
        "scenarios": {"type": "array", "items": _STR},
        "trials": {"type": "array", "items": TRIAL_SCHEMA},
        "passed": {"type": "boolean"},
    }
)


def validate_report(report: dict[str, Any]) -> list[str]:
    """Violations of REPORT_SCHEMA (empty: valid)."""
    return validate(report, REPORT_SCHEMA)


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n")


# -- terminal -----------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if v else "0"
    return str(v)


def table(trials: list[dict[str, Any]]) -> Any:
    """A rich Table, one row per trial."""
    from rich.table import Table

    t = Table(title="hasentinel drill", show_lines=False)
    for col in (
        "scenario", "trial", "downtime s", "recovery s", "acked lost", "WAIT-1 lost", "fenced acks",
        "dual VIP ms", "no VIP ms", "failovers", "false", "converged", "result",
    ):  # fmt: skip
        t.add_column(col, justify="left" if col == "scenario" else "right")
    for tr in trials:
        m = tr["metrics"]
        failed = [x["name"] for x in tr["targets"] if not x["ok"]]
        result = "[green]pass[/green]" if tr["passed"] else "[red]FAIL[/red]: " + ", ".join(failed)
        if tr.get("error"):
            result = f"[red]ERROR[/red]: {tr['error']}"
        t.add_row(
            tr["scenario"], str(tr["trial"]), _fmt(m["downtime"]["seconds"]), _fmt(m["recovery_after_heal_s"]),
            f"{m['acked_lost']}/{m['writes_acked']}", str(m["acked_lost_wait1"]), str(m["fenced_master_acks"]),
            _fmt(m["vip_dual_holder_ms"]), _fmt(m["vip_no_holder_ms"]),
            f"{m['failovers']} (exp {m['expected_failovers']})", str(m["false_failovers"]),
            "yes" if tr["convergence"]["ok"] else "no", result,
        )  # fmt: skip
    return t


def markdown_table(trials: list[dict[str, Any]]) -> str:
    """The same table in Markdown (for docs)."""
    head = "| scenario | trial | downtime s | recovery s | acked lost | WAIT-1 lost | fenced acks | dual VIP ms | no VIP ms | failovers (expected) | converged | result |"
    lines = [head, "|" + "---|" * 12]
    for tr in trials:
        m = tr["metrics"]
        failed = [x["name"] for x in tr["targets"] if not x["ok"]]
        lines.append(
            f"| {tr['scenario']} | {tr['trial']} | {_fmt(m['downtime']['seconds'])} | {_fmt(m['recovery_after_heal_s'])} "
            f"| {m['acked_lost']}/{m['writes_acked']} | {m['acked_lost_wait1']} | {m['fenced_master_acks']} "
            f"| {_fmt(m['vip_dual_holder_ms'])} | {_fmt(m['vip_no_holder_ms'])} | {m['failovers']} ({m['expected_failovers']}) "
            f"| {'yes' if tr['convergence']['ok'] else 'no'} | {'pass' if tr['passed'] else 'FAIL: ' + ', '.join(failed)} |"
        )
    return "\n".join(lines)


# -- timeline -----------------------------------------------------------------------------------

ROLE_COLORS = {"master": "tab:red", "slave": "tab:blue", "down": "lightgrey"}


def timeline_png(path: Path, title: str, data: Any, result: dict[str, Any]) -> None:
    """Lanes per host (server role, VIP holder), the announced master, the writes, the marks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sentinel.drill.checker import TrialData, announced_master, role_intervals, vip_intervals

    d: TrialData = data
    o = d.t_origin
    hosts = sorted(d.samples)
    fig, ax = plt.subplots(figsize=(13, 2.2 + 0.55 * (2 * len(hosts) + 3)))
    lanes: list[str] = []
    y = 0

    def lane(label: str) -> int:
        nonlocal y
        lanes.append(label)
        y += 1
        return y - 1

    roles = role_intervals(d)
    vips = vip_intervals(d)
    for h in hosts:
        k = lane(f"{h} server")
        for a, b, role in roles.get(h, []):
            ax.broken_barh([(a - o, b - a)], (k - 0.35, 0.7), color=ROLE_COLORS.get(role, "grey"))
    for h in hosts:
        k = lane(f"{h} VIP")
        ax.broken_barh([(a - o, b - a) for a, b in vips.get(h, [])], (k - 0.35, 0.7), color="tab:green")
    k = lane("announced master")
    ann = announced_master(d)
    colors = {
        h: c for h, c in zip(hosts, ["tab:purple", "tab:orange", "tab:cyan", "tab:olive"], strict=False)
    }
    for i, (t, h, ep) in enumerate(ann):
        end = ann[i + 1][0] if i + 1 < len(ann) else d.t_end
        ax.broken_barh([(t - o, end - t)], (k - 0.35, 0.7), color=colors.get(h, "grey"))
        ax.text(t - o, k, f" {h} e{ep}", va="center", fontsize=7)
    kw = lane("writes")
    ok = [(op["t1"] - o) for op in d.ops if op["ok"] and op["kind"] == "set"]
    okw = [(op["t1"] - o) for op in d.ops if op["ok"] and op["kind"] == "wait"]
    err = [(op["t1"] - o) for op in d.ops if not op["ok"]]
    ax.scatter(ok, [kw + 0.2] * len(ok), s=4, marker="|", color="tab:green", label="SET ack")
    ax.scatter(okw, [kw] * len(okw), s=4, marker="|", color="tab:blue", label="SET+WAIT ack")
    ax.scatter(err, [kw - 0.2] * len(err), s=6, marker="x", color="tab:red", label="error")
    for e in d.events:
        x = e[d.clock] - o
        ax.axvline(x, color="black", lw=0.8, ls="--")
        ax.text(x, y - 0.4, f" {e['label']}", fontsize=7, rotation=0, va="bottom")
    dt = result["metrics"]["downtime"]
    ax.axvspan(dt["from"], dt["to"], color="red", alpha=0.08)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(-0.8, y + 0.2)
    ax.set_xlim(0, d.t_end - o)
    ax.set_xlabel("seconds since the workload started")
    verdict = "pass" if result["passed"] else "FAIL"
    ax.set_title(
        f"{title}: {verdict}; downtime {dt['seconds']} s (shaded); server: red master, blue replica, grey down; VIP green"
    )
    ax.legend(loc="lower right", fontsize=7, markerscale=3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
