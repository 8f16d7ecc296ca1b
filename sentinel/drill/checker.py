"""What a trial measured, and whether it met the targets (docs/drills.md).

Input: the workload's op records, each host sampler's records, the runner's marks, the final
read-back and convergence check. All times on one clock (the monotonic clock when the backend
has `shared_clock`); results are in seconds relative to the start of the workload.

* downtime: the longest time without a successful write (an acknowledged SET), from the last
  acknowledgement before the first fault to the end of the observation;
* recovery after a heal: from each "heal" mark to the first acknowledgement of a write sent
  after it (the largest);
* acknowledged writes lost: acknowledged keys missing (or different) on the final master;
  those also acknowledged by `WAIT 1` (>= 1 replica) are counted apart;
* writes accepted by a fenced master: acknowledgements by a server that had been the announced
  master and was replaced (a higher config epoch named another) before the write was sent;
* VIP holders: time with two or more holders (address on an interface that is up), and with
  none, from the first fault to the end; resolution = the samplers' period (10 ms);
* failovers: changes of the announced master (highest config epoch seen by any sentinel);
  beyond the scenario's expectation they are false failovers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from sentinel.drill.backend import LabProfile
from sentinel.drill.scenarios import Scenario

RECOVERY_TARGET_S = 1.0


@dataclass
class TrialData:
    scenario: Scenario
    profile: LabProfile
    host_addr: dict[str, str]  # host -> "ip:port" of its server
    ops: list[dict[str, Any]]
    samples: dict[str, list[dict[str, Any]]]
    events: list[dict[str, Any]]
    verify: dict[str, Any] | None
    convergence: dict[str, Any]
    t_origin: float
    t_end: float
    clock: str = "t"  # the samples' and marks' time key ("t" monotonic, "w" wall)
    powered_off: list[str] = field(default_factory=list)


def _op_times(op: dict[str, Any], clock: str) -> tuple[float, float]:
    if clock == "t":
        return float(op["t0"]), float(op["t1"])
    lat = float(op["t1"]) - float(op["t0"])
    return float(op["w1"]) - lat, float(op["w1"])


def announced_master(d: TrialData) -> list[tuple[float, str, int]]:
    """(time, host, epoch) at each change of the master announced with the highest epoch.

    A change at the same epoch counts: a stock leader takes the new config epoch when its
    promoted replica reports role:master but keeps announcing the old address until the end of
    its failover (sentinelFailoverSwitchToPromotedSlave), so the new address arrives with an
    epoch already seen (counting only epoch increases missed stock's failovers)."""
    by_addr = {a: h for h, a in d.host_addr.items()}
    recs = sorted(
        (r[d.clock], r)
        for recs in d.samples.values()
        for r in recs
        if r.get("k") == "sen" and r.get("epoch") is not None
    )
    out: list[tuple[float, str, int]] = []
    best_epoch = -1
    for t, r in recs:
        host = by_addr.get(str(r["master"]), str(r["master"]))
        ep = int(r["epoch"])
        if ep >= best_epoch:
            best_epoch = ep
            if not out or out[-1][1] != host:
                out.append((t, host, ep))
            else:
                out[-1] = (out[-1][0], host, ep)
    return out


def vip_intervals(d: TrialData, certain: bool = True) -> dict[str, list[tuple[float, float]]]:
    """Per host, the intervals in which it held the VIP (on an interface that was up).

    `certain=True`: only what the samples prove (from the read that first saw it held to the
    last read that still saw it), for dual holders; `certain=False`: everything that may have been
    held (from the previous read before the first sight to the read that saw it gone), for time
    with no holder. A sampler reads every 10 ms, so the two differ by up to a read period at
    each end; records without the previous read's time count as exact."""
    pkey = "pt" if d.clock == "t" else "pw"
    out: dict[str, list[tuple[float, float]]] = {}
    for h, recs in d.samples.items():
        iv: list[tuple[float, float]] = []
        since: float | None = None
        for r in recs:
            if r.get("k") != "vip":
                continue
            holds = bool(r["held"]) and bool(r["up"])
            seen, before = r[d.clock], r.get(pkey, r[d.clock])
            if holds and since is None:
                since = seen if certain else before
            elif not holds and since is not None:
                end = before if certain else seen
                if end > since:
                    iv.append((since, end))
                since = None
        if since is not None:
            iv.append((since, d.t_end))
        out[h] = iv
    return out


def holder_counts(d: TrialData, start: float, end: float) -> tuple[float, float]:
    """Seconds with >= 2 holders (proved by the samples) and with 0 holders (no host may have
    held it) between start and end."""

    def sweep(certain: bool) -> tuple[float, float]:
        edges: list[tuple[float, int]] = []
        for iv in vip_intervals(d, certain=certain).values():
            for a, b in iv:
                a, b = max(a, start), min(b, end)
                if a < b:
                    edges += [(a, 1), (b, -1)]
        edges.sort()
        dual = none = 0.0
        n = 0
        prev = start
        for t, delta in [*edges, (end, 0)]:
            if n >= 2:
                dual += t - prev
            elif n == 0:
                none += t - prev
            n += delta
            prev = t
        return dual, none

    return sweep(True)[0], sweep(False)[1]


def role_intervals(d: TrialData) -> dict[str, list[tuple[float, float, str]]]:
    """Per host, (start, end, role) of its server as its sampler saw it (role "down" if none)."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    for h, recs in d.samples.items():
        iv: list[tuple[float, float, str]] = []
        cur: tuple[float, str] | None = None
        for r in recs:
            if r.get("k") != "srv":
                continue
            role = str(r["role"] or "down")
            if cur is not None and cur[1] != role:
                iv.append((cur[0], r[d.clock], cur[1]))
                cur = None
            if cur is None:
                cur = (r[d.clock], role)
        if cur is not None:
            iv.append((cur[0], d.t_end, cur[1]))
        out[h] = iv
    return out


def check(d: TrialData) -> dict[str, Any]:
    """The metrics and targets of one trial (JSON-ready)."""
    rel = lambda t: round(t - d.t_origin, 3)  # noqa: E731
    faults = [e[d.clock] for e in d.events if e["label"] == "fault"]
    fault_t = min(faults) if faults else d.t_origin
    heals = [e[d.clock] for e in d.events if e["label"] == "heal"]

    ops = sorted(d.ops, key=lambda o: _op_times(o, d.clock)[1])
    acks = [o for o in ops if o["ok"]]
    ack_times = [_op_times(o, d.clock)[1] for o in acks]

    # downtime: longest gap between acknowledgements, from the last one before the first fault
    before = [t for t in ack_times if t <= fault_t]
    after = [t for t in ack_times if t > fault_t]
    points = ([before[-1]] if before else [fault_t]) + after
    gaps = [(b - a, a, b) for a, b in itertools.pairwise(points)]
    gaps.append((d.t_end - points[-1], points[-1], d.t_end))  # never resumed: counts to the end
    worst = max(gaps)
    downtime = {"seconds": round(worst[0], 3), "from": rel(worst[1]), "to": rel(worst[2])}

    recovery: float | None = None
    for h in heals:
        first = [_op_times(o, d.clock)[1] for o in acks if _op_times(o, d.clock)[0] >= h]
        r = (min(first) - h) if first else d.t_end - h
        recovery = r if recovery is None else max(recovery, r)

    # lost acknowledged writes
    missing = set(d.verify.get("missing", [])) | set(d.verify.get("wrong", [])) if d.verify else set()
    acked_seqs = {int(o["seq"]) for o in acks}
    wait_seqs = {int(o["seq"]) for o in acks if o["kind"] == "wait" and (o.get("repl") or 0) >= 1}
    lost = sorted(acked_seqs & missing)
    lost_wait = sorted(wait_seqs & missing)

    # acknowledgements by a master that had been replaced
    ann = announced_master(d)
    deposed: dict[str, float] = {}
    for (_, h, _), (t2, h2, _) in itertools.pairwise(ann):
        if h2 != h and h not in deposed:
            deposed[h] = t2
    rid_host: dict[str, str] = {}
    for h, recs in d.samples.items():
        for r in recs:
            if r.get("k") == "srv" and r.get("run_id"):
                rid_host[str(r["run_id"])] = h

    def master_at(t: float) -> str | None:
        cur = None
        for t0, h, _ in ann:
            if t0 <= t:
                cur = h
        return cur

    fenced = []
    for o in acks:
        h = rid_host.get(str(o.get("rid")))
        t0 = _op_times(o, d.clock)[0]
        if h is not None and h in deposed and t0 > deposed[h] and master_at(t0) != h:
            fenced.append(int(o["seq"]))
    unknown_rid = sum(1 for o in acks if str(o.get("rid")) not in rid_host)

    dual, none = holder_counts(d, fault_t, d.t_end)
    failovers = max(0, len(ann) - 1)
    expected = d.scenario.expected_failovers
    metrics: dict[str, Any] = {
        "writes_attempted": len(ops),
        "writes_acked": len(acks),
        "writes_acked_wait1": len(wait_seqs),
        "write_errors": len(ops) - len(acks),
        "downtime": downtime,
        "recovery_after_heal_s": None if recovery is None else round(recovery, 3),
        "acked_lost": len(lost),
        "acked_lost_wait1": len(lost_wait),
        "lost_seqs": lost[:50],
        "fenced_master_acks": len(fenced),
        "acks_unknown_server": unknown_rid,
        "vip_dual_holder_ms": round(dual * 1000, 1),
        "vip_no_holder_ms": round(none * 1000, 1),
        "failovers": failovers,
        "expected_failovers": expected,
        "false_failovers": max(0, failovers - expected),
        "masters": [{"t": rel(t), "host": h, "epoch": ep} for t, h, ep in ann],
        "sampler_max_gap_ms": max(
            [float(r["vip_gap_ms"]) for recs in d.samples.values() for r in recs if r.get("k") == "tick"]
            or [0.0]
        ),
    }
    targets: list[dict[str, Any]] = [
        {"name": "acked WAIT-1 writes lost", "value": len(lost_wait), "limit": 0, "ok": len(lost_wait) == 0},
        {
            "name": "VIP dual holders (ms)",
            "value": metrics["vip_dual_holder_ms"],
            "limit": 0,
            "ok": dual == 0,
        },
        {
            "name": "false failovers",
            "value": metrics["false_failovers"],
            "limit": 0,
            "ok": failovers <= expected,
        },
        {"name": "fenced-master acks", "value": len(fenced), "limit": 0, "ok": not fenced},
        {
            "name": "converged",
            "value": bool(d.convergence.get("ok")),
            "limit": True,
            "ok": bool(d.convergence.get("ok")),
        },
        {"name": "read-back done", "value": d.verify is not None, "limit": True, "ok": d.verify is not None},
    ]
    if expected:
        targets.append(
            {"name": "failover happened", "value": failovers, "limit": expected, "ok": failovers >= expected}
        )
    if d.scenario.downtime_target is not None:
        lim = round(d.scenario.downtime_target(d.profile), 3)
        targets.append(
            {"name": "downtime (s)", "value": downtime["seconds"], "limit": lim, "ok": worst[0] <= lim}
        )
    if d.scenario.heals:
        ok = recovery is not None and recovery <= RECOVERY_TARGET_S
        targets.append(
            {
                "name": "recovery after heal (s)",
                "value": metrics["recovery_after_heal_s"],
                "limit": RECOVERY_TARGET_S,
                "ok": ok,
            }
        )
    return {"metrics": metrics, "targets": targets, "passed": all(t["ok"] for t in targets)}
