"""`hasentinel drill SCENARIO... [--lab netns] [--trials N] [--report DIR]` (docs/drills.md)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import typer

# --lab NAME -> "module:factory"; a backend module provides a zero-argument factory returning a
# LabBackend (sentinel/drill/backend.py). The Vagrant backend registers itself here.
BACKENDS = {
    "netns": "sentinel.drill.netns:NetnsLab",
    "vagrant": "sentinel.drill.vagrant:VagrantLab",
    "netns-stock": "sentinel.drill.stock:StockNetnsLab",  # stock Redis 7, for comparisons
}


def make_backend(name: str) -> object:
    """Instantiate the backend registered as `name` (typer.Exit(2) if unknown or unavailable)."""
    if name not in BACKENDS:
        typer.echo(f"hasentinel drill: unknown lab {name!r}; one of {', '.join(BACKENDS)}", err=True)
        raise typer.Exit(2)
    mod, _, attr = BACKENDS[name].partition(":")
    try:
        factory = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as e:
        typer.echo(f"hasentinel drill: the {name} lab is not available here ({e})", err=True)
        raise typer.Exit(2) from None
    return factory()


def drill(
    scenarios: list[str] = typer.Argument(None, help="scenario names, or `all` (see --list)"),
    lab: str = typer.Option("netns", "--lab", help="where to run: netns (this machine, root), vagrant, or netns-stock (stock Redis 7, root)"),
    trials: int = typer.Option(1, "--trials", min=1, max=100, help="trials per scenario (a fresh cluster each)"),
    report: Path = typer.Option(Path("drill-report"), "--report", help="directory for report.json and per-trial files"),
    list_: bool = typer.Option(False, "--list", help="list the scenarios and exit"),
) -> None:
    """Failure drills: break a real three-host cluster under a client workload and check the
    result (downtime, lost acknowledged writes, VIP holders, failovers, convergence). Exit 0 all
    targets met, 1 a target failed, 2 not run (usage, no root, lab unavailable)."""
    from sentinel.drill.scenarios import SCENARIOS

    if list_:
        for s in SCENARIOS.values():
            typer.echo(f"{s.name:32} {s.summary} (expected failovers: {s.expected_failovers})")
        raise typer.Exit(0)
    names = list(SCENARIOS) if not scenarios or scenarios == ["all"] else list(scenarios)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        typer.echo(f"hasentinel drill: unknown scenario(s) {', '.join(unknown)}; `--list` shows them", err=True)
        raise typer.Exit(2)
    if lab in ("netns", "netns-stock") and os.geteuid() != 0:
        typer.echo(
            "hasentinel drill --lab netns needs root: it builds network namespaces, a bridge, tc "
            "filters and netem (CAP_SYS_ADMIN, CAP_NET_ADMIN). Run it as root.",
            err=True,
        )
        raise typer.Exit(2)
    from rich.console import Console

    from sentinel.drill.report import table
    from sentinel.drill.runner import run_drill

    backend = make_backend(lab)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a log file or pipe: the whole table, not an 80-column one
    say = lambda m: console.print(m, markup=False, highlight=False)  # noqa: E731
    result = run_drill(backend, names, trials, report, say=say)  # type: ignore[arg-type]
    console.print(table(result["trials"]))
    console.print(f"report: {report / 'report.json'}; timelines: {report}/<scenario>-<trial>/timeline.png")
    raise typer.Exit(0 if result["passed"] else 1)
