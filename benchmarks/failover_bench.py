"""Failover time, our sentinel vs stock redis-sentinel, measured the way a client sees it.

    .venv/bin/python benchmarks/failover_bench.py [--trials 20] [--down-after 500,1000] [--snapshot HEAD]
        [--sentinels ours,stock] [--servers ours[,stock]] [--quiet 5] [--quick] [--logs DIR]

Each trial builds a fresh cluster (tests/sentinel/cluster_harness.py): a master and 2 replicas,
3 sentinels of one kind (quorum 2, the given down-after-milliseconds, failover-timeout 10 s,
parallel-syncs 1), and a writer that goes through redis-py's `Sentinel.master_for()` with short
socket timeouts, writing in a loop (every `--interval` s) and retrying at once (after
`--retry-delay` s) on any error: connection refused, timeouts, READONLY, no master found. The
master is killed with SIGKILL; the trial's time is from just before the signal to the
acknowledgement of the first write by the new master. Then the cluster is watched for `--quiet`
seconds: every `+switch-master` beyond the one failover (any sentinel switching again, to any
address) counts as a false failover. Trials of the different configurations are interleaved.

Printed: a Markdown table per server kind, with median and max, the ratio of ours to stock, the
target (down-after + 0.25 s, for the max) and the false failovers, and a second table with the
time to the first `+switch-master` and who led.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.sentinel.cluster_harness import (
    Cluster,
    Kind,
    SentinelSettings,
    Writer,
    our_sentinel_available,
    wait_until,
)

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Trial:
    servers: Kind
    sentinels: Kind
    down_after_ms: int
    ok: bool
    first_write_s: float | None = None  # kill -> first write acknowledged by the new master
    switch_s: float | None = None  # kill -> first +switch-master on any sentinel
    leader: str = ""  # kind and index of the sentinel that published +elected-leader
    false_failovers: int = 0
    elections: int = 0  # +elected-leader events (more than 1: a failover was retried)
    client_errors: int = 0
    error: str = ""
    extra: dict[str, int] = field(default_factory=dict)


def run_trial(
    workdir: Path,
    servers: Kind,
    sentinels: Kind,
    down_after_ms: int,
    args: argparse.Namespace,
    logs: Path | None,
    label: str,
) -> Trial:
    settings = SentinelSettings(down_after_ms=down_after_ms, failover_timeout_ms=args.failover_timeout)
    tr = Trial(servers, sentinels, down_after_ms, ok=False)
    with Cluster(workdir, servers_kind=servers, sentinel_kinds=(sentinels,) * 3, settings=settings) as c:
        w: Writer | None = None
        try:
            c.start(discovery_timeout=40)
            assert c.initial_master is not None
            old_port = c.initial_master.port
            w = Writer(
                c.sentinel_addrs(),
                socket_timeout=args.socket_timeout,
                interval=args.interval,
                retry_delay=args.retry_delay,
                prefix="b:",
            )
            w.start_writing()
            wait_until(lambda: len(w.writes()) >= 20 if w else False, 15, "writes before the kill")
            settle_errors = w.error_count
            t_kill = c.kill_master()
            first = wait_until(
                lambda: w.first_write_after(t_kill, exclude_port=old_port) if w else None,
                args.timeout,
                "the first write on the new master",
            )
            t_first = time.monotonic()
            time.sleep(max(0.0, args.quiet - (time.monotonic() - t_first)))
            w.stop()
            tr.first_write_s = first.t - t_kill
            tr.client_errors = w.error_count - settle_errors
            switches = c.switches()
            before = [e for e in switches if e.t < t_kill]
            after = [e for e in switches if e.t >= t_kill]
            if after:
                tr.switch_s = min(e.t for e in after) - t_kill
            # One failover = one distinct +switch-master payload (published once by each sentinel);
            # any other payload is another failover, whichever sentinel published it.
            per_sentinel = Counter(e.sentinel for e in after)
            distinct = {e.payload for e in after}
            tr.false_failovers = len(before) + max(0, len(distinct) - 1)
            leaders = c.leaders(since=t_kill)
            tr.elections = len(leaders)
            tr.leader = ",".join(f"{c.sentinels[i].kind}{i}" for i in leaders)
            t_switch = t_kill + tr.switch_s if tr.switch_s is not None else t_kill
            master_sdowns = [
                e for e in c.events.all("+sdown", since=t_switch) if e.payload.startswith("master ")
            ]
            tr.extra = {"tilt": len(c.events.all("+tilt")), "master_sdown_after_switch": len(master_sdowns)}
            new_ports = {int(p.split()[-1]) for p in distinct}
            tr.ok = first.port in new_ports and len(set(per_sentinel)) == len(c.sentinels)
            if not tr.ok:
                tr.error = f"first write on {first.port}, switches {sorted(distinct)}, per sentinel {dict(per_sentinel)}"
        except (AssertionError, OSError, RuntimeError, TimeoutError) as e:
            tr.error = str(e).splitlines()[0][:300]
        finally:
            if w is not None and w.is_alive():
                w.stop()
            if logs is not None and (not tr.ok or tr.false_failovers or args.keep_all_logs):
                logs.mkdir(parents=True, exist_ok=True)
                (logs / f"{label}.txt").write_text(f"{json.dumps(asdict(tr))}\n{c.report(log_tail=400)}\n")
    return tr


def use_snapshot(rev: str, into: Path) -> str:
    """Extract `git archive rev` into `into` and make every child process import from it.

    The work tree may be edited while a long run goes on (it is shared); a snapshot keeps every
    trial on the same code. The servers and sentinels are started with `python -m`, so a
    PYTHONPATH entry takes precedence over the editable install.
    """
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev], check=True, capture_output=True, text=True
    ).stdout.strip()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", sha], check=True, capture_output=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(into) + (os.pathsep + old if old else "")
    return f"commit {sha} (a snapshot)"


def fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f} s"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def summarize(
    trials: list[Trial], servers_kinds: list[Kind], sentinel_kinds: list[Kind], down_afters: list[int]
) -> str:
    out: list[str] = []
    out.append(
        "| servers | sentinels | down-after | trials | median | max | median / stock | max / stock "
        "| target (max) | max within target | false failovers | failed trials |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    stats: dict[tuple[str, str, int], tuple[float | None, float | None]] = {}
    for srv in servers_kinds:
        for da in down_afters:
            for kind in sentinel_kinds:
                ts = [t for t in trials if (t.servers, t.sentinels, t.down_after_ms) == (srv, kind, da)]
                times = [t.first_write_s for t in ts if t.ok and t.first_write_s is not None]
                med = statistics.median(times) if times else None
                mx = max(times) if times else None
                stats[(srv, kind, da)] = (med, mx)
    for srv in servers_kinds:
        for da in down_afters:
            for kind in sentinel_kinds:
                ts = [t for t in trials if (t.servers, t.sentinels, t.down_after_ms) == (srv, kind, da)]
                med, mx = stats[(srv, kind, da)]
                smed, smx = stats.get((srv, "stock", da), (None, None))
                target = da / 1000 + 0.25
                within = "-" if mx is None else ("yes" if mx <= target and all(t.ok for t in ts) else "no")
                failed = sum(1 for t in ts if not t.ok)
                out.append(
                    f"| {srv} | {kind} | {da} ms | {len(ts)} | {fmt_s(med)} | {fmt_s(mx)} | {ratio(med, smed)} "
                    f"| {ratio(mx, smx)} | {target:.2f} s | {within} | "
                    f"{sum(t.false_failovers for t in ts)} | {failed} |"
                )
    out.append("")
    out.append(
        "| servers | sentinels | down-after | median to +switch-master | max to +switch-master "
        "| elections > 1 | leaders | TILT | client errors (median) |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|")
    for srv in servers_kinds:
        for da in down_afters:
            for kind in sentinel_kinds:
                ts = [t for t in trials if (t.servers, t.sentinels, t.down_after_ms) == (srv, kind, da)]
                sw = [t.switch_s for t in ts if t.switch_s is not None]
                leaders = Counter(t.leader.split(",")[0] for t in ts if t.leader)
                multi = sum(1 for t in ts if t.elections > 1)
                tilt = sum(t.extra.get("tilt", 0) for t in ts)
                errs = statistics.median([t.client_errors for t in ts]) if ts else 0
                out.append(
                    f"| {srv} | {kind} | {da} ms | {fmt_s(statistics.median(sw) if sw else None)} "
                    f"| {fmt_s(max(sw) if sw else None)} | {multi} | "
                    f"{' '.join(f'{k}:{v}' for k, v in sorted(leaders.items()))} | {tilt} | {errs:g} |"
                )
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="3 trials")
    ap.add_argument("--down-after", default="500,1000", help="comma-separated down-after-milliseconds values")
    ap.add_argument("--sentinels", default="ours,stock", help="sentinel kinds to compare")
    ap.add_argument("--servers", default="ours", help="monitored server kinds: ours, stock or ours,stock")
    ap.add_argument("--failover-timeout", type=int, default=10000, help="ms")
    ap.add_argument(
        "--quiet", type=float, default=5.0, help="seconds watched for false failovers after each trial"
    )
    ap.add_argument(
        "--timeout", type=float, default=40.0, help="seconds to wait for the first write after the kill"
    )
    ap.add_argument("--socket-timeout", type=float, default=0.2)
    ap.add_argument("--interval", type=float, default=0.005, help="pause between successful writes (s)")
    ap.add_argument("--retry-delay", type=float, default=0.005, help="pause after a failed write (s)")
    ap.add_argument(
        "--logs", type=Path, default=None, help="write event logs and sentinel logs of failed trials here"
    )
    ap.add_argument("--keep-all-logs", action="store_true")
    ap.add_argument(
        "--snapshot",
        metavar="REV",
        default=None,
        help="run servers and sentinels from `git archive REV` (e.g. HEAD), not the live work tree",
    )
    ap.add_argument("--json", type=Path, default=None, help="write every trial's result here")
    args = ap.parse_args()
    trials_n = 3 if args.quick else args.trials
    down_afters = [int(x) for x in args.down_after.split(",") if x]
    sentinel_kinds: list[Kind] = [k for k in ("ours", "stock") if k in args.sentinels.split(",")]
    servers_kinds: list[Kind] = [k for k in ("ours", "stock") if k in args.servers.split(",")]
    if "ours" in sentinel_kinds and not our_sentinel_available():
        print("our sentinel (python -m sentinel) is not available", file=sys.stderr)
        return 2
    trials: list[Trial] = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="failover-bench-") as tmp:
        code = "the work tree"
        if args.snapshot:
            code = use_snapshot(args.snapshot, Path(tmp) / "snapshot")
        print(f"servers and sentinels run from {code}", file=sys.stderr, flush=True)
        n = 0
        for i in range(trials_n):
            for da in down_afters:
                for srv in servers_kinds:
                    for kind in sentinel_kinds:
                        n += 1
                        label = f"{srv}-servers-{kind}-sentinels-{da}ms-trial{i + 1}"
                        tr = run_trial(Path(tmp) / label, srv, kind, da, args, args.logs, label)
                        trials.append(tr)
                        status = "ok" if tr.ok else f"FAILED: {tr.error}"
                        print(
                            f"[{time.monotonic() - t0:6.0f}s] {label}: first write {fmt_s(tr.first_write_s)}, "
                            f"switch {fmt_s(tr.switch_s)}, leader {tr.leader or '-'}, "
                            f"false failovers {tr.false_failovers}, {status}",
                            file=sys.stderr,
                            flush=True,
                        )
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(t) for t in trials], indent=1))
    print(f"\nCode: {code}.")
    print(
        f"\nFailover through redis-py's Sentinel client: kill -9 of the master -> first write acknowledged "
        f"by the new master ({trials_n} trials each, 3 sentinels, quorum 2, 2 replicas, "
        f"quiet period {args.quiet:g} s)\n"
    )
    print(summarize(trials, servers_kinds, sentinel_kinds, down_afters))
    return 0 if all(t.ok for t in trials) else 1


if __name__ == "__main__":
    sys.exit(main())
