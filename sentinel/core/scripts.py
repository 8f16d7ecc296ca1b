"""Script queue: notification and client-reconfig scripts, serialized, retried, recorded.

The core decides what runs and when; the runtime forks (RunScript), reports the pid
(ScriptStarted) and the end (ScriptExited), and kills on request (KillScript).

Stock's rules that stay: a job running longer than script-max-runtime is killed
(`-script-timeout`); exit 1 or a signal is retried up to 10 attempts, 30 s x 2^(attempt-1) later;
exit >= 2 (or retries used up) gives `-script-error`; the arguments are stock's.

Ours (issue: hooks that run out of order or get killed by the next hook, keepalived#996,
patroni#2445):

* **One script at a time per host** (stock runs up to 16 at once): hooks never overlap, so two
  VIP moves can never interleave their add/remove steps.
* **Event order per stream.** A stream is one script path for one master. A job never starts
  before an earlier job of its stream has finished (done, given up, or superseded), so a retry
  keeps its place: a reconfig for failover 1 retried after the reconfig for failover 2 would undo
  it. Jobs of other streams (e.g. notifications) are not held up by a job waiting for a retry.
* **Never cancelled by an unrelated hook.** Stock drops the oldest queued job when a 257th
  arrives; we refuse the new one instead (recorded as `dropped`). The only job ever removed by
  another is a client-reconfig-script of the same master that is waiting for a retry when a newer
  reconfig of that master arrives (`superseded`): the newer one carries the current addresses,
  and running the stale one after it would be wrong.
* **Every run is recorded**: each attempt's outcome (`ok`, `retry`, `error`, `superseded`,
  `dropped`), exit code, signal, start and duration, the last 128 in `history` (SENTINEL
  SCRIPT-HISTORY), plus counters; the pending ones show their last attempt in PENDING-SCRIPTS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sentinel.core.actions import KillScript, Level, Publish, RunScript
from sentinel.core.model import Ctx
from sentinel.core.timers import SCRIPT_MAX_QUEUE, SCRIPT_MAX_RETRY, Timers

HISTORY = 128
"""Finished attempts kept for SENTINEL SCRIPT-HISTORY."""
RECONFIG = "reconfig"
NOTIFY = "notify"


@dataclass(slots=True)
class ScriptJob:
    """One queued or running script."""

    job: int
    argv: tuple[str, ...]
    start_time: int
    """Running: when it started. Scheduled: not before this time."""
    running: bool = False
    pid: int = 0
    retry_num: int = 0
    kill_sent: bool = False
    master: str = ""
    kind: str = ""
    """`reconfig` (client-reconfig-script), `notify` (notification-script) or empty."""
    queued_at: int = 0
    last_result: str = ""
    """The previous attempt's outcome (`exit 1`, `signal 9`), for PENDING-SCRIPTS."""

    @property
    def stream(self) -> tuple[str, str]:
        """Jobs of one stream run in event order: one script path for one master."""
        return self.argv[0], self.master


@dataclass(frozen=True, slots=True)
class ScriptResult:
    """One finished attempt (or a job removed without running)."""

    job: int
    argv: tuple[str, ...]
    attempt: int
    outcome: str
    """`ok`, `retry` (exit 1 or a signal, tried again later), `error` (final), `superseded`,
    `dropped`."""
    exit_code: int
    signal: int
    started: int
    ended: int
    master: str = ""
    kind: str = ""


@dataclass(slots=True)
class ScriptQueue:
    """Jobs in event order, the running one included, and what became of the finished ones."""

    jobs: list[ScriptJob] = field(default_factory=list)
    next_job: int = 1
    history: list[ScriptResult] = field(default_factory=list)
    ok: int = 0
    failed: int = 0
    """Attempts that did not succeed (retried or final), plus dropped and superseded jobs."""

    @property
    def running(self) -> int:
        """Number of running jobs (0 or 1)."""
        return sum(1 for j in self.jobs if j.running)

    def _record(self, r: ScriptResult) -> None:
        self.history.append(r)
        del self.history[:-HISTORY]
        if r.outcome == "ok":
            self.ok += 1
        else:
            self.failed += 1

    def result_of(self, job: int) -> ScriptResult | None:
        """The latest recorded attempt of `job`."""
        for r in reversed(self.history):
            if r.job == job:
                return r
        return None

    def schedule(self, now: int, argv: tuple[str, ...], master: str = "", kind: str = "") -> ScriptJob | None:
        """Queue a job to start at the next opportunity; None when the queue is full (the new
        job is refused and recorded as `dropped`: queued jobs are never cancelled for it)."""
        job = ScriptJob(job=self.next_job, argv=argv, start_time=now, master=master, kind=kind, queued_at=now)
        self.next_job += 1
        if kind == RECONFIG:
            for old in [
                j
                for j in self.jobs
                if j.kind == RECONFIG and j.stream == job.stream and not j.running and j.retry_num > 0
            ]:
                self.jobs.remove(old)
                self._record(
                    ScriptResult(
                        old.job, old.argv, old.retry_num, "superseded", 0, 0, now, now, old.master, old.kind
                    )
                )
        if len(self.jobs) >= SCRIPT_MAX_QUEUE:
            self._record(ScriptResult(job.job, argv, 0, "dropped", 0, 0, now, now, master, kind))
            return None
        self.jobs.append(job)
        return job

    def next_due(self, now: int) -> ScriptJob | None:
        """The job to start now: the first due one that is first in its stream (None if a job
        runs: one at a time)."""
        if any(j.running for j in self.jobs):
            return None
        seen: set[tuple[str, str]] = set()
        for j in self.jobs:
            if j.stream in seen:
                continue
            seen.add(j.stream)
            if j.start_time <= now:
                return j
        return None

    def run_pending(self, ctx: Ctx) -> None:
        """Start the next job if none runs."""
        j = self.next_due(ctx.now)
        if j is None:
            return
        j.running = True
        j.start_time = ctx.now
        j.retry_num += 1
        j.pid = 0
        j.kill_sent = False
        ctx.emit(RunScript(j.job, j.argv))

    def next_start(self) -> int | None:
        """When a scheduled job becomes due (for the status view)."""
        times = [j.start_time for j in self.jobs if not j.running]
        return min(times) if times else None

    def kill_timed_out(self, ctx: Ctx, timers: Timers) -> None:
        """Kill jobs that ran longer than script-max-runtime (`-script-timeout <path> <pid>`)."""
        for j in self.jobs:
            if j.running and not j.kill_sent and ctx.now - j.start_time > timers.script_max_runtime:
                j.kill_sent = True
                ctx.emit(KillScript(j.job))
                ctx.emit(Publish("-script-timeout", f"{j.argv[0]} {j.pid}", Level.WARNING))

    def started(self, job: int, pid: int) -> None:
        """Record the pid of a started job."""
        for j in self.jobs:
            if j.job == job:
                j.pid = pid

    def exited(self, ctx: Ctx, timers: Timers, job: int, exit_code: int, signal: int) -> None:
        """A job ended: done, retried later, or dropped with `-script-error`."""
        for i, j in enumerate(self.jobs):
            if j.job != job or not j.running:
                continue
            retry = bool(signal or exit_code == 1) and j.retry_num != SCRIPT_MAX_RETRY
            outcome = "retry" if retry else "ok" if not signal and exit_code == 0 else "error"
            self._record(
                ScriptResult(
                    j.job,
                    j.argv,
                    j.retry_num,
                    outcome,
                    exit_code,
                    signal,
                    j.start_time,
                    ctx.now,
                    j.master,
                    j.kind,
                )
            )
            if retry:
                j.running = False
                j.pid = 0
                j.last_result = f"signal {signal}" if signal else f"exit {exit_code}"
                j.start_time = ctx.now + retry_delay(timers, j.retry_num)
            else:
                if outcome == "error":
                    ctx.emit(Publish("-script-error", f"{j.argv[0]} {signal} {exit_code}", Level.WARNING))
                del self.jobs[i]
            return


def retry_delay(timers: Timers, retry_num: int) -> int:
    """script-retry-delay doubled for every attempt after the first."""
    delay = timers.script_retry_delay
    while retry_num > 1:
        delay *= 2
        retry_num -= 1
    return delay
