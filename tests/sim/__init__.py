"""Deterministic simulation of the sentinel quorum: the real sentinel cores against simulated
hosts, network, clocks, disks and Redis servers, one seeded RNG, invariants after every step.
See docs/simulation.md; replay a seed with `python -m tests.sim replay <seed>`."""
