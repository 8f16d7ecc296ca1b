"""A Hypothesis `RuleBasedStateMachine` over the same world: scripts of partition, heal, crash,
restart, advance, write and clock_jump; every invariant is checked after every simulated step
(a violation raises inside the rule), and teardown runs the liveness phase and the final
durability check. Hypothesis shrinks a failing script to a minimal one.

Server-impairing rules (partition, crashing a server) follow the one-fault rule of the sweep's
one-fault profile: one at a time, from a healthy cluster, so durability is checked too.
The world's own randomness (delays, jitter) comes from a fixed seed: the script is the only
input, so a failing example replays exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.sim.checks import KNOWN, Violation
from tests.sim.conftest import SUMMARIES, long_mode
from tests.sim.planted import planted
from tests.sim.world import Result, SimConfig, World, liveness

pytestmark = pytest.mark.sim

HOSTS = st.sampled_from(["master", "h0", "h1", "h2"])
"""A host by name, or "master": wherever most sentinels believe the master is."""

KNOWN_SEEN: list[str] = []
"""Open findings (checks.KNOWN) the machine ran into: reported, not failed (as in the sweep)."""

F = TypeVar("F", bound=Callable[..., None])


def guarded(fn: F) -> F:
    """Run a rule unless the example already ended on an open finding; a violation explained
    by one ends the example (recorded in KNOWN_SEEN), any other fails it."""

    @functools.wraps(fn)
    def run(self: SentinelQuorum, *args: Any, **kwargs: Any) -> None:
        if self.finding:
            return
        try:
            fn(self, *args, **kwargs)
        except Violation as v:
            if not v.known:
                raise
            self.finding = v.known
            KNOWN_SEEN.append(v.known)

    return run  # type: ignore[return-value]


class SentinelQuorum(RuleBasedStateMachine):
    """Three hosts, scripted faults."""

    def __init__(self) -> None:
        super().__init__()
        self.cfg = SimConfig(profile="one-fault", minority=False)
        self.w = World(7, self.cfg)
        self.impaired: set[str] = set()
        self.cut: list[tuple[str, str]] = []
        self.finding = ""

    @initialize()
    @guarded
    def warm_up(self) -> None:
        """Discovery done, VIP held; the client writes in the background from now on."""
        self.w.warm_up()
        self.w.start_client()

    def _may_impair(self) -> bool:
        return not self.impaired and self.w.healthy()

    def _host(self, target: str) -> str:
        if target == "master":
            return self.w.master_host() or "h0"
        return target

    @precondition(lambda self: self._may_impair())
    @rule(a=HOSTS, b=HOSTS)
    @guarded
    def partition(self, a: str, b: str) -> None:
        """Cut a from b (a == b: cut that host from everybody)."""
        w = self.w
        a, b = self._host(a), self._host(b)
        if a == b:
            self.cut = w.isolate(a, client_too=False)
        else:
            self.cut = [(a, b), (b, a)]
            for x, y in self.cut:
                w.block(x, y)
        self.impaired = {a, b}

    @rule()
    @guarded
    def heal(self) -> None:
        """Every cut undone."""
        for x, y in self.cut:
            self.w.unblock(x, y)
        self.cut = []
        self.impaired = {h for h in self.impaired if not self.w.servers[h].alive or h in self._frozen()}

    def _frozen(self) -> set[str]:
        return {h for h, host in self.w.hosts.items() if host.freezes["server"]}

    @rule(host=HOSTS)
    @guarded
    def crash_sentinel(self, host: str) -> None:
        """kill -9 a sentinel (restarted by the `restart` rule)."""
        self.w.sentinels[self._host(host)].crash()

    @precondition(lambda self: self._may_impair())
    @rule(host=HOSTS)
    @guarded
    def crash_server(self, host: str) -> None:
        """kill -9 a server (restarted by the `restart` rule, as a replica)."""
        host = self._host(host)
        self.w.servers[host].crash()
        self.w.after_core_change()
        self.impaired.add(host)

    @rule(host=HOSTS)
    @guarded
    def restart(self, host: str) -> None:
        """Supervisor restarts whatever is down on `host` (the server by its rule)."""
        host = self._host(host)
        h = self.w.hosts[host]
        if not h.sentinel.alive:
            h.sentinel.boot()
        if not h.server.alive:
            h.supervise_server(delay=0)
        if not self.cut:
            self.impaired.discard(host)

    @rule(ms=st.sampled_from([50, 300, 1000, 2500, 5000]))
    @guarded
    def advance(self, ms: int) -> None:
        """Let time pass."""
        self.w.advance(ms)

    @rule(wait=st.booleans())
    @guarded
    def write(self, wait: bool) -> None:
        """A client write through the VIP (with or without WAIT 1)."""
        self.w.client.write(wait)

    @rule(host=HOSTS, ms=st.integers(min_value=100, max_value=2500))
    @guarded
    def clock_jump(self, host: str, ms: int) -> None:
        """The host's clock jumps forward (within the lease margin in total)."""
        host = self._host(host)
        if self.w.hosts[host].jumped + ms <= self.cfg.max_clock_jump:
            self.w.clock_jump(host, ms)

    def teardown(self) -> None:
        """Liveness phase and final checks (a violation fails the example)."""
        self._liveness()

    @guarded
    def _liveness(self) -> None:
        liveness(self.w, Result(seed=7, ok=True))


def _run(examples: int, steps: int) -> None:
    run_state_machine_as_test(
        SentinelQuorum,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=True,
            report_multiple_bugs=False,
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_scripts_keep_every_invariant(pytestconfig: pytest.Config) -> None:
    """Random scripts (derandomized: the same scripts on every run)."""
    long = long_mode(pytestconfig)
    KNOWN_SEEN.clear()
    _run(examples=3000 if long else 300, steps=40 if long else 30)
    if KNOWN_SEEN:
        seen = {k: KNOWN_SEEN.count(k) for k in sorted(set(KNOWN_SEEN))}
        SUMMARIES.append(
            "state machine: open findings seen: "
            + ", ".join(f"{k} x{n} ({KNOWN[k]})" for k, n in seen.items())
        )


def test_a_planted_bug_shrinks_to_a_minimal_script() -> None:
    """With votes not persisted before they are sent, Hypothesis finds a failing script and
    shrinks it to a crash of the master's server and enough time for a failover."""
    with planted("vote-not-persisted"), pytest.raises(Violation) as info:
        _run(examples=30, steps=15)
    assert info.value.kind == "vote-not-durable"
    notes = [n for n in getattr(info.value, "__notes__", []) if n.startswith("state.")]
    steps = [n for n in notes if not n.startswith(("state.warm_up", "state.teardown"))]
    assert len(steps) <= 3, notes
