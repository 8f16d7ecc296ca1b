"""Seed sweeps: many independent runs, in parallel worker processes, reported with the command
that replays any failing seed."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.sim.world import Result, SimConfig, run_seed

MODES = ("ci", "long")


def config_for(mode: str, vip: str = "model") -> SimConfig:
    """The run configuration of a sweep mode: "ci" (20 s of faults per seed) or "long" (60 s);
    `vip`: "model" (vip.py's model of issue 5's rule) or "core" (the core's own rule)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (one of {MODES})")
    return SimConfig(safety=60000 if mode == "long" else 20000, vip=vip)


def replay_command(seed: int, mode: str = "ci", vip: str = "model") -> str:
    """The one-line command that replays `seed` (run from the repository root)."""
    long = " --long" if mode == "long" else ""
    core = " --vip core" if vip == "core" else ""
    return f".venv/bin/python -m tests.sim replay {seed}{long}{core}"


@dataclass
class SweepReport:
    """What a sweep found."""

    start: int
    count: int
    mode: str
    vip: str = "model"
    wall: float = 0.0
    sim_ms: int = 0
    failures: list[Result] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    converged: list[tuple[int, int]] = field(default_factory=list)
    """(ms from the heal to convergence, seed) of every successful run."""

    @property
    def seeds_per_s(self) -> float:
        """Throughput."""
        return self.count / self.wall if self.wall else 0.0

    def summary(self) -> str:
        """Human-readable lines: throughput, counts, and each failure with its replay command."""
        conv = sorted(self.converged)
        lines = [
            f"sim sweep ({self.mode}{', core VIP rule' if self.vip == 'core' else ''}): seeds {self.start}..{self.start + self.count - 1}: "
            f"{self.count} runs in {self.wall:.1f} s = {self.seeds_per_s:.1f} seeds/s "
            f"({self.sim_ms / 1000 / max(self.wall, 1e-9):.0f}x real time), "
            f"{len(self.failures)} failed",
            f"  profiles: one-fault {self.stats['profile:one-fault']}, chaos {self.stats['profile:chaos']}; "
            f"elections {self.stats['elections']}, switches {self.stats['switches']}, "
            f"TILTs {self.stats['tilts']}, hooks {self.stats['hooks']}, "
            f"WAIT-1 writes acknowledged {self.stats['client:ok-wait1']}",
        ]
        if conv:
            lines.append(
                f"  liveness: converged after the heal in median {conv[len(conv) // 2][0]} ms, "
                f"p99 {conv[min(len(conv) - 1, len(conv) * 99 // 100)][0]} ms, "
                f"max {conv[-1][0]} ms (seed {conv[-1][1]}; bound {config_for(self.mode, self.vip).liveness_bound()} ms)"
            )
        for r in self.failures:
            lines.append(f"  seed {r.seed}: {r.violation}")
            lines.append(f"    replay: {replay_command(r.seed, self.mode, self.vip)}")
        return "\n".join(lines)


def _run(args: tuple[int, str, SimConfig | None]) -> Result:
    seed, mode, cfg = args
    r = run_seed(seed, cfg or config_for(mode))
    if r.ok:
        r.trace = []
    return r


def default_workers() -> int:
    """One worker per CPU (the sweep is CPU-bound)."""
    return max(1, len(os.sched_getaffinity(0)))


def sweep(
    start: int, count: int, mode: str = "ci", workers: int | None = None, vip: str = "model"
) -> SweepReport:
    """Run seeds start..start+count-1."""
    workers = workers or default_workers()
    report = SweepReport(start, count, mode, vip)
    t0 = time.perf_counter()
    cfg = config_for(mode, vip) if vip != "model" else None
    jobs: list[tuple[int, str, SimConfig | None]] = [(s, mode, cfg) for s in range(start, start + count)]
    if workers == 1:
        results = map(_run, jobs)
        _collect(report, results)
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            _collect(report, pool.imap_unordered(_run, jobs, chunksize=4))
    report.wall = time.perf_counter() - t0
    report.failures.sort(key=lambda r: r.seed)
    return report


def _collect(report: SweepReport, results: object) -> None:
    assert hasattr(results, "__iter__")
    for r in results:
        assert isinstance(r, Result)
        report.sim_ms += r.sim_ms
        report.stats.update(r.stats)
        if not r.ok:
            report.failures.append(r)
        elif r.converged_after is not None:
            report.converged.append((r.converged_after, r.seed))


def first_failure(
    start: int, budget: int, mode: str = "ci", workers: int | None = None, cfg: SimConfig | None = None
) -> Result | None:
    """The first seed (in order) among start..start+budget-1 whose run fails, or None
    (`cfg` replaces the mode's configuration)."""
    workers = workers or default_workers()
    jobs: list[tuple[int, str, SimConfig | None]] = [(s, mode, cfg) for s in range(start, start + budget)]
    if workers == 1:
        return next((r for r in map(_run, jobs) if not r.ok), None)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for r in pool.imap(_run, jobs, chunksize=1):
            if not r.ok:
                pool.terminate()
                return r
    return None
