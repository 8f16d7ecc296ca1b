"""The seed sweep: N complete runs (safety phase with faults, then liveness), every invariant
checked after every step. Any failure prints its seed and the command that replays it.

    pytest -m sim                                    # CI size: seeds 0..999
    pytest tests/sim -m sim --sim-seed 1234          # one seed, with its trace on failure
    SIM_LONG=1 pytest -m sim                         # nightly size (or --long with a tests/sim path)
"""

from __future__ import annotations

import pytest

from tests.sim.checks import KNOWN
from tests.sim.conftest import SUMMARIES, SimSettings
from tests.sim.sweep import config_for, replay_command, sweep
from tests.sim.world import run_seed

pytestmark = pytest.mark.sim


def test_seed_sweep(sim_settings: SimSettings) -> None:
    """No run violates an invariant (violations explained by an open finding, checks.KNOWN,
    are reported by name and reproduced by the strict xfails of test_findings.py)."""
    s = sim_settings
    if s.seed is not None:
        r = run_seed(s.seed, config_for(s.mode, s.vip))
        trace = "\n".join(r.trace[-150:])
        SUMMARIES.append(f"sim replay of seed {s.seed} ({s.mode}): {'ok' if r.ok else r.violation}")
        if not r.ok:
            pytest.fail(
                f"{r.violation}\n{trace}\nreplay: {replay_command(s.seed, s.mode, s.vip)}", pytrace=False
            )
        return
    rep = sweep(s.start, s.count, s.mode, s.workers, s.vip)
    SUMMARIES.append(rep.summary())
    known = [r for r in rep.failures if r.known]
    if known:
        by = {k: sum(1 for r in known if r.known == k) for k in sorted({r.known for r in known})}
        SUMMARIES.append(
            "  open findings seen: "
            + ", ".join(f"{k} x{n} ({KNOWN[k]})" for k, n in by.items())
            + " - see docs/simulation.md#findings"
        )
    new = [r for r in rep.failures if not r.known]
    if new:
        pytest.fail(
            "\n".join(
                f"seed {r.seed}: {r.violation}\n  replay: {replay_command(r.seed, s.mode, s.vip)}"
                for r in new
            ),
            pytrace=False,
        )


CORE_SEEDS = 120
"""The core's own VIP rule (`--vip core`) in CI: fewer seeds (about 2.5 seeds/s per worker,
ten times slower than the model: every host runs a real ownership state machine)."""


def test_seed_sweep_with_the_cores_vip_rule(sim_settings: SimSettings) -> None:
    """The same invariants with the cores owning the VIP (sentinel vip, address lifetimes):
    never two holders, no stale writes (docs/simulation.md#findings: F4)."""
    s = sim_settings
    if s.seed is not None or s.vip == "core":
        pytest.skip("the main sweep runs the core's rule already (--sim-vip core) or one seed is replayed")
    rep = sweep(0, CORE_SEEDS, s.mode, s.workers, "core")
    SUMMARIES.append(rep.summary())
    if rep.failures:
        pytest.fail(
            "\n".join(
                f"seed {r.seed}: {r.violation}\n  replay: {replay_command(r.seed, s.mode, 'core')}"
                for r in rep.failures
            ),
            pytrace=False,
        )
