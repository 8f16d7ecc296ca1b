"""The drill scenarios: faults as steps on a `LabBackend`, with their expectations.

Each scenario runs against the cluster as it is (the master is whoever the sentinels say at the
start, normally the first host), marks what it does (`ctx.mark`: the checker and the timeline
use the marks; a mark labelled "heal" starts the recovery clock) and waits, bounded, for what
must happen before the next step. Expectations (`expected_failovers`, `downtime_target`,
`heals`) are what the checker turns into targets (sentinel/drill/checker.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sentinel.drill.backend import CLIENT, LabBackend, LabProfile, Netem


class Ctx(Protocol):
    """What a scenario gets from the runner."""

    backend: LabBackend
    powered_off: set[str]

    def mark(self, label: str, detail: str = "") -> None:
        """Record a step (time now)."""

    def sleep(self, seconds: float) -> None:
        """Sleep (bounded by the caller)."""

    def master(self) -> str | None:
        """The host of the master announced with the highest config epoch, per the samplers."""

    def wait_for(self, what: str, pred: Callable[[], bool], timeout: float) -> bool:
        """Poll `pred` until true or `timeout`; marks a timeout."""

    def server_role(self, host: str) -> str | None:
        """The host's server role per its sampler ("master", "slave", None when down)."""

    def failover_running(self) -> list[str]:
        """Hosts whose sentinel reports a failover in progress."""


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    expected_failovers: int
    run: Callable[[Ctx], None]
    downtime_target: Callable[[LabProfile], float] | None = None
    heals: bool = False  # the scenario ends a fault with a "heal" mark: recovery target 1 s


HOLD = 6.0  # seconds a partition or netem lasts: > down-after + failover + VIP lease (1 s profile)


def _master(ctx: Ctx) -> str:
    m = ctx.master()
    if m is None:
        raise RuntimeError("no master known before the fault")
    return m


def _others(ctx: Ctx, host: str) -> list[str]:
    return [h for h in ctx.backend.hosts if h != host]


def _failover_from(ctx: Ctx, old: str, timeout: float = 20.0) -> bool:
    return ctx.wait_for(f"a failover away from {old}", lambda: ctx.master() not in (None, old), timeout)


def kill_master_server(ctx: Ctx) -> None:
    m = _master(ctx)
    pids = ctx.backend.kill(m, "server")
    ctx.mark("fault", f"kill -9 the master's server on {m} (pid {', '.join(map(str, pids))})")
    _failover_from(ctx, m)


def kill_master_host(ctx: Ctx) -> None:
    m = _master(ctx)
    ctx.backend.power_off(m)
    ctx.powered_off.add(m)
    ctx.mark("fault", f"{m} powered off (link down, supervisor, sentinel, server SIGKILLed)")
    _failover_from(ctx, m)


def partition_master(ctx: Ctx) -> None:
    m = _master(ctx)
    for o in _others(ctx, m):
        ctx.backend.cut(m, o)
    ctx.mark("fault", f"{m} cut from {', '.join(_others(ctx, m))} (the client still reaches every host)")
    _failover_from(ctx, m)
    ctx.sleep(max(0.0, HOLD - 3.0))
    ctx.backend.heal()
    ctx.mark("heal", "partition healed")
    ctx.wait_for(f"{m} demoted", lambda: ctx.server_role(m) == "slave", 20.0)


def partition_one_sentinel(ctx: Ctx) -> None:
    m = _master(ctx)
    port = ctx.backend.sentinel_port
    for o in _others(ctx, m):
        ctx.backend.cut(m, o, port=port)
    ctx.mark("fault", f"the sentinel on {m} (the master's host) cut from the other sentinels (port {port})")
    ctx.sleep(HOLD)
    ctx.backend.heal()
    ctx.mark("heal", "sentinel links restored")


def partition_replica_sentinel(ctx: Ctx) -> None:
    m = _master(ctx)
    r = _others(ctx, m)[-1]
    port = ctx.backend.sentinel_port
    for o in _others(ctx, r):
        ctx.backend.cut(r, o, port=port)
    ctx.mark("fault", f"the sentinel on {r} (a replica's host) cut from the other sentinels (port {port})")
    ctx.sleep(HOLD)
    ctx.backend.heal()
    ctx.mark("heal", "sentinel links restored")


def isolate_replica(ctx: Ctx) -> None:
    m = _master(ctx)
    r = _others(ctx, m)[-1]
    for o in _others(ctx, r):
        ctx.backend.cut(r, o)
    ctx.mark("fault", f"replica {r} cut from {', '.join(_others(ctx, r))}")
    ctx.sleep(HOLD)
    ctx.backend.heal()
    ctx.mark("heal", f"{r} reconnected")


FLAKY = Netem(delay_ms=20, jitter_ms=10, loss_pct=2)


def flaky_network(ctx: Ctx) -> None:
    for h in ctx.backend.hosts:
        ctx.backend.netem(h, FLAKY)
    if getattr(ctx.backend, "netem_mode", "netem") == "netem":
        what = f"netem on every host: delay {FLAKY.delay_ms}±{FLAKY.jitter_ms} ms, loss {FLAKY.loss_pct}%"
    else:
        what = "no sch_netem here: each host's bridge port blocked in random 50-150 ms bursts, 5% of the time"
    ctx.mark("fault", what)
    ctx.sleep(HOLD + 4.0)
    for h in ctx.backend.hosts:
        ctx.backend.clear_netem(h)
    ctx.mark("heal", "netem removed")


def restart_old_master(ctx: Ctx) -> None:
    m = _master(ctx)
    ctx.backend.power_off(m)
    ctx.powered_off.add(m)
    ctx.mark("fault", f"{m} powered off")
    if not _failover_from(ctx, m):
        return
    ctx.sleep(1.0)
    ctx.backend.power_on(m)
    ctx.powered_off.discard(m)
    ctx.mark("restart", f"{m} powered on (VIP gone from its interface, supervisor started)")
    ctx.wait_for(f"{m} back as a replica", lambda: ctx.server_role(m) == "slave", 30.0)


def kill_sentinel_during_failover(ctx: Ctx) -> None:
    m = _master(ctx)
    down_after = ctx.backend.profile.down_after_ms / 1000
    ctx.backend.kill(m, "server")
    ctx.mark("fault", f"kill -9 the master's server on {m}")
    # The failover starts once the sentinels agree (ODOWN), down-after after the kill: kill a
    # sentinel then, and any sentinel seen running the failover (the leader) within 2 s.
    ctx.sleep(max(0.0, down_after - 0.05))
    victim = _others(ctx, m)[0]
    ctx.backend.kill(victim, "sentinel")
    ctx.mark("fault", f"kill -9 the sentinel on {victim} as the sentinels reach ODOWN")
    killed = {victim}
    ctx.wait_for("a failover in progress", lambda: bool(set(ctx.failover_running()) - killed), 2.0)
    for h in set(ctx.failover_running()) - killed:
        ctx.backend.kill(h, "sentinel")
        killed.add(h)
        ctx.mark("fault", f"kill -9 the failover leader's sentinel on {h}")
    _failover_from(ctx, m, timeout=40.0)


def crash_loop_server(ctx: Ctx) -> None:
    m = _master(ctx)
    for i in range(4):  # below the supervisor's crash_loop_limit (5): it keeps restarting
        pids = ctx.backend.kill(m, "server")
        ctx.mark("fault", f"kill -9 the server on {m} ({i + 1}/4, pid {', '.join(map(str, pids)) or '-'})")
        ctx.wait_for(f"{m}'s server seen down", lambda: ctx.server_role(m) is None, 5.0)
        if i == 0:
            _failover_from(ctx, m)
        ctx.wait_for(f"{m}'s server restarted", lambda: ctx.server_role(m) is not None, 40.0)
    ctx.wait_for(f"{m} back as a replica", lambda: ctx.server_role(m) == "slave", 30.0)


def switchover_under_load(ctx: Ctx) -> None:
    m = _master(ctx)
    b = ctx.backend
    cli = os.path.join(os.path.dirname(b.python), "hasentinel")
    sentinels = [a for h in b.hosts for a in ("--sentinel", f"{b.address(h)}:{b.sentinel_port}")]
    ctx.mark("fault", f"hasentinel switchover (master {m})")
    r = b.run(CLIENT, [cli, "switchover", "-m", b.master_name, *sentinels, "--wait", "20"], timeout=40)
    ctx.mark(
        "switchover-exit", f"exit {r.returncode}: {(r.stdout + r.stderr).strip().splitlines()[-1:] or ''}"
    )
    _failover_from(ctx, m, timeout=10.0)


def _da(extra: float) -> Callable[[LabProfile], float]:
    return lambda p: p.down_after_ms / 1000 + extra


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("kill-master-server", "kill -9 the master's server process", 1, kill_master_server, _da(0.25)),
        Scenario("kill-master-host", "the master's host dies (link down, all its processes killed)", 1, kill_master_host),
        Scenario("partition-master", "the master's host cut from the other hosts, healed later", 1, partition_master, heals=True),
        # 1: the master's host cannot tell its sentinel's cut from its own isolation, so it
        # gives up the VIP and fences its server (docs/vip.md); only a failover restores service.
        Scenario("partition-one-sentinel", "the master host's sentinel cut from its peers", 1, partition_one_sentinel, heals=True),
        Scenario("partition-replica-sentinel", "a replica host's sentinel cut from its peers", 0, partition_replica_sentinel, heals=True),
        Scenario("isolate-replica", "a replica's host cut from the other hosts", 0, isolate_replica, heals=True),
        Scenario("flaky-network", "delay, jitter and loss on every host (below detection)", 0, flaky_network, heals=True),
        Scenario("restart-old-master", "the master's host dies and boots again after the failover", 1, restart_old_master),
        Scenario("kill-sentinel-during-failover", "a sentinel killed as the failover starts", 1, kill_sentinel_during_failover),
        Scenario("crash-loop-server", "the master's server killed 4 times in a row", 1, crash_loop_server),
        Scenario("switchover-under-load", "hasentinel switchover while the client writes", 1, switchover_under_load),
    ]
}  # fmt: skip
