"""Options of the simulation tests (also settable from the environment, which works from any
directory: the options below only exist when pytest is given a path inside tests/sim).

| option | environment | default |
|---|---|---|
| `--sim-seeds N` | `SIM_SEEDS` | 1000 (`--long`: 20000) |
| `--sim-start S` | `SIM_START` | 0 (`--long`: a new range every day, printed) |
| `--sim-seed S` (replay one seed) | `SIM_SEED` | - |
| `--sim-workers W` | `SIM_WORKERS` | one per CPU |
| `--long` (nightly: more seeds, 60 s of faults each, more Hypothesis examples) | `SIM_LONG=1` | off |
| `--sim-vip core` (the sweep drives the core's own VIP rule) | `SIM_VIP=core` | model |
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import pytest

SUMMARIES: list[str] = []
"""Lines the simulation tests want printed at the end of the run (seeds/s, findings)."""


@dataclass(frozen=True)
class SimSettings:
    """Resolved options."""

    count: int
    start: int
    seed: int | None
    mode: str
    workers: int | None
    vip: str


def pytest_addoption(parser: pytest.Parser) -> None:
    """--sim-seeds, --sim-start, --sim-seed, --sim-workers, --long."""
    g = parser.getgroup("sim", "deterministic simulation (tests/sim)")
    g.addoption("--sim-seeds", type=int, default=None, help="seeds in the sweep (default 1000, --long 20000)")
    g.addoption("--sim-start", type=int, default=None, help="first seed of the sweep")
    g.addoption("--sim-seed", type=int, default=None, help="replay this one seed")
    g.addoption("--sim-workers", type=int, default=None, help="worker processes (default: one per CPU)")
    g.addoption("--long", action="store_true", default=False, help="nightly-size simulation runs")
    g.addoption("--sim-vip", choices=("model", "core"), default=None, help="VIP rule of the sweep")


def _opt(config: pytest.Config, name: str, env: str) -> int | None:
    try:
        value = config.getoption(name)
    except ValueError:
        value = None
    if value is None and os.environ.get(env):
        value = int(os.environ[env])
    return value if value is None else int(value)


def long_mode(config: pytest.Config) -> bool:
    """--long or SIM_LONG=1."""
    try:
        flag = bool(config.getoption("--long"))
    except ValueError:
        flag = False
    return flag or os.environ.get("SIM_LONG", "") not in ("", "0")


@pytest.fixture(scope="session")
def sim_settings(pytestconfig: pytest.Config) -> SimSettings:
    """The sweep's seeds and mode."""
    long = long_mode(pytestconfig)
    count = _opt(pytestconfig, "--sim-seeds", "SIM_SEEDS")
    start = _opt(pytestconfig, "--sim-start", "SIM_START")
    if start is None:
        start = 1_000_000 + (int(time.time()) // 86400 % 10_000) * 20_000 if long else 0
    return SimSettings(
        count=count if count is not None else (20_000 if long else 1000),
        start=start,
        seed=_opt(pytestconfig, "--sim-seed", "SIM_SEED"),
        mode="long" if long else "ci",
        workers=_opt(pytestconfig, "--sim-workers", "SIM_WORKERS"),
        vip=_vip(pytestconfig),
    )


def _vip(config: pytest.Config) -> str:
    try:
        value = config.getoption("--sim-vip")
    except ValueError:
        value = None
    return str(value or os.environ.get("SIM_VIP") or "model")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the simulation tests measured (always, not only on failure)."""
    if SUMMARIES:
        terminalreporter.section("deterministic simulation")
        for line in SUMMARIES:
            terminalreporter.write_line(line)
