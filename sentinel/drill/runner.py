"""Run drills: for each trial a fresh cluster, the samplers and the workload, the scenario, a
bounded wait for convergence, the read-back, the checker, and the trial's files.

    report = run_drill(NetnsLab(), ["kill-master-server"], trials=1, out=Path("drill-report"))

Every wait is bounded; the backend's `down()` runs whatever happens (try/finally).
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sentinel.drill.backend import CLIENT, LabBackend
from sentinel.drill.checker import TrialData, check
from sentinel.drill.report import SCHEMA_ID, timeline_png, validate_report, write_json
from sentinel.drill.scenarios import SCENARIOS, Scenario

UP_TIMEOUT = 90.0
FIRST_ACK_TIMEOUT = 20.0
BASELINE_S = 2.0
SETTLE_TIMEOUT = 30.0
TAIL_S = 1.5


@dataclass
class Stream:
    """A spawned process's JSON lines, collected by a thread."""

    node: str
    proc: Any
    records: list[dict[str, Any]] = field(default_factory=list)
    on_record: Callable[[str, dict[str, Any]], None] | None = None
    thread: threading.Thread | None = None

    def start(self) -> Stream:
        def read() -> None:
            for line in self.proc.stdout:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                self.records.append(rec)
                if self.on_record is not None:
                    self.on_record(self.node, rec)

        self.thread = threading.Thread(target=read, daemon=True)
        self.thread.start()
        return self


class Live:
    """The latest sampler records per host (for the scenarios' waits and the convergence check)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: dict[tuple[str, str], dict[str, Any]] = {}
        self.acks = 0

    def on_record(self, node: str, rec: dict[str, Any]) -> None:
        with self.lock:
            if node == CLIENT:
                if rec.get("ok"):
                    self.acks += 1
            else:
                self.last[(node, str(rec.get("k")))] = rec

    def get(self, host: str, kind: str) -> dict[str, Any] | None:
        with self.lock:
            return self.last.get((host, kind))


class DrillContext:
    """`scenarios.Ctx` on top of a backend and the samplers' live view."""

    def __init__(
        self, backend: LabBackend, live: Live, events: list[dict[str, Any]], say: Callable[[str], None]
    ):
        self.backend = backend
        self.live = live
        self.events = events
        self.say = say
        self.powered_off: set[str] = set()
        self.addr_host = {f"{backend.address(h)}:{backend.server_port}": h for h in backend.hosts}

    def mark(self, label: str, detail: str = "") -> None:
        self.events.append({"t": time.monotonic(), "w": time.time(), "label": label, "detail": detail})
        self.say(f"    {label}: {detail}")

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, 120.0))

    def master(self) -> str | None:
        best: tuple[int, str] | None = None
        for h in self.backend.hosts:
            s = self.live.get(h, "sen")
            if (
                s
                and s.get("epoch") is not None
                and s.get("master")
                and (best is None or s["epoch"] > best[0])
            ):
                best = (int(s["epoch"]), str(s["master"]))
        return self.addr_host.get(best[1]) if best else None

    def wait_for(self, what: str, pred: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.02)
        ok = pred()
        if not ok:
            self.mark("timeout", f"{what}: not within {timeout:.0f} s")
        return ok

    def server_role(self, host: str) -> str | None:
        s = self.live.get(host, "srv")
        return None if s is None else s.get("role")

    def failover_running(self) -> list[str]:
        return [h for h in self.backend.hosts if (self.live.get(h, "sen") or {}).get("failover")]

    def convergence(self) -> tuple[str | None, str | None]:
        """(master host, None) when converged, else (None, why)."""
        b = self.backend
        hosts = [h for h in b.hosts if h not in self.powered_off]
        masters = [h for h in hosts if self.server_role(h) == "master"]
        if len(masters) != 1:
            return None, f"servers in role master: {masters or 'none'}"
        m = masters[0]
        maddr = f"{b.address(m)}:{b.server_port}"
        for h in hosts:
            if h == m:
                continue
            s = self.live.get(h, "srv") or {}
            if s.get("role") != "slave" or s.get("master") != maddr or s.get("link") != "connected":
                return None, f"{h}: {s.get('role')} of {s.get('master')} ({s.get('link')})"
        views = {(s.get("master"), s.get("epoch")) for h in hosts for s in [self.live.get(h, "sen") or {}]}
        if views != {(maddr, next(iter(views))[1])} or next(iter(views))[1] is None:
            return None, f"sentinels' views: {sorted(map(str, views))}"
        holders = [h for h in b.hosts if (v := self.live.get(h, "vip")) and v.get("held") and v.get("up")]
        if holders != [m]:
            return None, f"VIP on {holders or 'no host'}, master {m}"
        return m, None


def run_trial(
    backend: LabBackend, scenario: Scenario, trial: int, out: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    """One trial; returns its report (also written to out/<scenario>-<trial>/trial.json)."""
    tdir = out / f"{scenario.name}-{trial}"
    tdir.mkdir(parents=True, exist_ok=True)
    live = Live()
    events: list[dict[str, Any]] = []
    ctx = DrillContext(backend, live, events, say)
    streams: dict[str, Stream] = {}
    verify: dict[str, Any] | None = None
    conv: dict[str, Any] = {"ok": False, "seconds": 0.0, "master": None, "why": "not reached"}
    error: str | None = None
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t_origin = time.monotonic()
    prefix = f"drill:{scenario.name}:{trial}:"
    say(f"  {scenario.name} #{trial}: starting a fresh cluster")
    try:
        backend.up(UP_TIMEOUT)
        py = backend.python
        for h in backend.hosts:
            argv = [py, "-m", "sentinel.drill.sampler", "--vip", backend.vip, "--server-port", str(backend.server_port),
                    "--sentinel-port", str(backend.sentinel_port), "--master-name", backend.master_name]  # fmt: skip
            streams[h] = Stream(h, backend.spawn(h, argv), on_record=live.on_record).start()
        wl = [py, "-m", "sentinel.drill.workload", "write", "--host", backend.vip, "--port", str(backend.server_port),
              "--prefix", prefix]  # fmt: skip
        t_origin = time.monotonic()
        streams[CLIENT] = Stream(CLIENT, backend.spawn(CLIENT, wl), on_record=live.on_record).start()
        if not ctx.wait_for("first acknowledged write", lambda: live.acks > 0, FIRST_ACK_TIMEOUT):
            raise RuntimeError("the workload got no acknowledgement through the VIP")
        ctx.wait_for("every sampler reporting", lambda: all(live.get(h, "sen") for h in backend.hosts), 10.0)
        time.sleep(BASELINE_S)
        scenario.run(ctx)
        t_settle = time.monotonic()
        m: str | None = None
        why: str | None = "not checked"
        while time.monotonic() - t_settle < SETTLE_TIMEOUT:
            m, why = ctx.convergence()
            if m is not None:
                break
            time.sleep(0.1)
        conv = {
            "ok": m is not None,
            "seconds": round(time.monotonic() - t_settle, 3),
            "master": m,
            "why": why,
        }
        ctx.mark("converged" if m else "not-converged", f"master {m}" if m else str(why))
        time.sleep(TAIL_S)
    except KeyboardInterrupt:
        error = "interrupted"  # no read-back; the lab is still removed below
        raise
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        say(f"    error: {error}")
        (tdir / "error.txt").write_text(traceback.format_exc())
    finally:
        t_end = time.monotonic()
        for s in streams.values():
            backend.stop(s.proc)
        for s in streams.values():
            if s.thread is not None:
                s.thread.join(timeout=5)
        ops = [r for r in streams[CLIENT].records if r.get("k") == "op"] if CLIENT in streams else []
        if ops and error is None:
            last = max(int(o["seq"]) for o in ops)
            r = backend.run(CLIENT, [backend.python, "-m", "sentinel.drill.workload", "verify", "--host", backend.vip,
                                     "--port", str(backend.server_port), "--prefix", prefix, "--max-seq", str(last)],
                            timeout=60)  # fmt: skip
            for line in r.stdout.splitlines():
                rec = json.loads(line) if line.startswith("{") else {}
                if rec.get("k") == "verify":
                    verify = rec
            if verify is None:
                say(f"    read-back failed: {(r.stdout + r.stderr).strip()[-300:]}")
        collect = getattr(backend, "collect_logs", None)  # optional: the hosts' service logs
        if collect is not None:
            try:
                collect(tdir)
            except Exception as e:
                say(f"    could not collect the hosts' logs: {e}")
        try:
            backend.down()
        except Exception as e:
            say(f"    lab teardown failed: {e}")
            error = error or f"teardown: {e}"
    samples = {h: streams[h].records if h in streams else [] for h in backend.hosts}
    data = TrialData(
        scenario=scenario,
        profile=backend.profile,
        host_addr={h: f"{backend.address(h)}:{backend.server_port}" for h in backend.hosts},
        ops=ops,
        samples=samples,
        events=events,
        verify=verify,
        convergence=conv,
        t_origin=t_origin,
        t_end=t_end,
        clock="t" if backend.shared_clock else "w",
        powered_off=sorted(ctx.powered_off),
    )
    result = check(data)
    with open(tdir / "ops.jsonl", "w") as f:
        for o in ops:
            f.write(json.dumps(o) + "\n")
    with open(tdir / "samples.jsonl", "w") as f:
        for h, recs in samples.items():
            for rec in recs:
                f.write(json.dumps({"host": h, **rec}) + "\n")
    clock = data.clock
    report: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "scenario": scenario.name,
        "summary": scenario.summary,
        "trial": trial,
        "backend": backend.name,
        "profile": asdict(backend.profile),
        "started_at": started,
        "duration_s": round(t_end - t_origin, 3),
        "events": [
            {
                "t": round(e[clock] - (t_origin if clock == "t" else 0.0), 3),
                "label": e["label"],
                "detail": e["detail"],
            }
            for e in events
        ],
        **result,
        "convergence": conv,
        "error": error,
        "files": {"timeline_png": "timeline.png", "ops": "ops.jsonl", "samples": "samples.jsonl"},
    }
    if error is not None:
        report["passed"] = False
    if clock == "w":  # events relative to the workload's start on the wall clock
        w0 = min((float(o["w1"]) - (float(o["t1"]) - float(o["t0"])) for o in ops), default=0.0)
        for ev in report["events"]:
            ev["t"] = round(ev["t"] - w0, 3)
    try:
        timeline_png(tdir / "timeline.png", f"{scenario.name} #{trial}", data, result)
    except Exception as e:  # a plotting failure must not hide the results
        say(f"    timeline failed: {e}")
    write_json(tdir / "trial.json", report)
    return report


def run_drill(
    backend: LabBackend,
    names: list[str],
    trials: int,
    out: Path,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every trial of every named scenario; the summary is written to out/report.json."""
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    out.mkdir(parents=True, exist_ok=True)
    reports = []
    for name in names:
        for i in range(1, trials + 1):
            reports.append(run_trial(backend, SCENARIOS[name], i, out, say))
    report = {
        "schema": SCHEMA_ID,
        "backend": backend.name,
        "scenarios": names,
        "trials": reports,
        "passed": all(r["passed"] for r in reports),
    }
    problems = validate_report(report)
    if problems:  # our own output must match the documented schema
        raise RuntimeError("drill report does not match its schema: " + "; ".join(problems[:5]))
    write_json(out / "report.json", report)
    return report
