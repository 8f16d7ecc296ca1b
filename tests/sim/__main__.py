"""Command line: replay one seed, or sweep many.

    .venv/bin/python -m tests.sim replay 1234            # one run: violation + trace tail
    .venv/bin/python -m tests.sim replay 1234 --long     # a seed from a --long sweep
    .venv/bin/python -m tests.sim sweep --count 1000     # what CI runs (pytest -m sim)
    .venv/bin/python -m tests.sim sweep --long --count 20000 --start 100000
    .venv/bin/python -m tests.sim sweep --vip core --count 500     # the core's own VIP rule

Run from the repository root. Exit status 1: `replay`, the run violated an invariant; `sweep`,
a run violated one in a way no open finding (tests/sim/checks.py KNOWN,
docs/simulation.md#findings) explains.
"""

from __future__ import annotations

import argparse
import sys

from tests.sim.planted import BUGS, planted
from tests.sim.sweep import config_for, replay_command, sweep
from tests.sim.world import run_seed


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rp = sub.add_parser("replay", help="run one seed and print its trace")
    rp.add_argument("seed", type=int)
    rp.add_argument("--long", action="store_true", help="the seed came from a --long sweep")
    rp.add_argument("--trace", type=int, default=120, help="trace lines to print (default 120)")
    rp.add_argument("--plant", choices=BUGS, help="with a planted bug")
    rp.add_argument("--vip", choices=("model", "core"), default="model", help="VIP rule (default: model)")
    sp = sub.add_parser("sweep", help="run many seeds")
    sp.add_argument("--start", type=int, default=0)
    sp.add_argument("--count", type=int, default=1000)
    sp.add_argument("--long", action="store_true", help="60 s of faults per seed instead of 20 s")
    sp.add_argument("--workers", type=int, default=None)
    sp.add_argument("--plant", choices=BUGS, help="with a planted bug")
    sp.add_argument("--vip", choices=("model", "core"), default="model", help="VIP rule (default: model)")
    args = ap.parse_args(argv)
    mode = "long" if args.long else "ci"
    with planted(args.plant):
        if args.cmd == "replay":
            r = run_seed(args.seed, config_for(mode, args.vip))
            print("\n".join(r.trace[-args.trace :]))
            status = "ok" if r.ok else f"VIOLATION {r.violation}"
            print(
                f"seed {r.seed} ({mode}): {status}; {r.sim_ms} ms simulated in {r.wall:.2f} s, "
                f"{r.steps} core steps, digest {r.digest}"
            )
            return 0 if r.ok else 1
        rep = sweep(args.start, args.count, mode, args.workers, args.vip)
        print(rep.summary())
        new = [r for r in rep.failures if not r.known]
        if new:
            print(f"first unexplained failure: {replay_command(new[0].seed, mode, args.vip)}")
        return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
