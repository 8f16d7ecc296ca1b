"""Script queue: notification and client-reconfig scripts, with stock's limits and retries.

The core decides what runs and when; the runtime forks (RunScript), reports the pid
(ScriptStarted) and the end (ScriptExited), and kills on request (KillScript).
Stock rules: at most 256 queued (the oldest not running is dropped), 16 running, a job running
longer than script-max-runtime is killed (`-script-timeout`); exit 1 or a signal is retried up to
10 attempts, 30 s x 2^(attempt-1) later; exit >= 2 (or retries used up) gives `-script-error`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sentinel.core.actions import KillScript, Level, Publish, RunScript
from sentinel.core.model import Ctx
from sentinel.core.timers import SCRIPT_MAX_QUEUE, SCRIPT_MAX_RETRY, SCRIPT_MAX_RUNNING, Timers


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


@dataclass(slots=True)
class ScriptQueue:
    """Jobs in scheduling order."""

    jobs: list[ScriptJob] = field(default_factory=list)
    next_job: int = 1

    @property
    def running(self) -> int:
        """Number of running jobs."""
        return sum(1 for j in self.jobs if j.running)

    def schedule(self, now: int, argv: tuple[str, ...]) -> None:
        """Queue a job to start at the next opportunity (dropping the oldest idle one if full)."""
        self.jobs.append(ScriptJob(job=self.next_job, argv=argv, start_time=now))
        self.next_job += 1
        if len(self.jobs) > SCRIPT_MAX_QUEUE:
            for i, j in enumerate(self.jobs):
                if not j.running:
                    del self.jobs[i]
                    break

    def run_pending(self, ctx: Ctx) -> None:
        """Start due jobs, up to the running limit."""
        running = self.running
        for j in self.jobs:
            if running >= SCRIPT_MAX_RUNNING:
                break
            if j.running or j.start_time > ctx.now:
                continue
            j.running = True
            j.start_time = ctx.now
            j.retry_num += 1
            j.pid = 0
            j.kill_sent = False
            running += 1
            ctx.emit(RunScript(j.job, j.argv))

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
            if (signal or exit_code == 1) and j.retry_num != SCRIPT_MAX_RETRY:
                j.running = False
                j.pid = 0
                j.start_time = ctx.now + retry_delay(timers, j.retry_num)
            else:
                if signal or exit_code != 0:
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
