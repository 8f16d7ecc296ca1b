"""Notification and client-reconfig scripts: the core's `RunScript` / `KillScript`.

Each script runs in its own task: spawn (close-on-exec everything, stdin from /dev/null),
report `ScriptStarted(job, pid)`, wait, report `ScriptExited(job, exit_code, signal)`. The core
kills scripts that run longer than script-max-runtime; the runtime adds a hard bound of its own
(that runtime plus a grace period) in case the kill request is lost, and kills everything it
started at shutdown.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from collections.abc import Callable

import structlog
import trio

from sentinel.core.events import Event, ScriptExited, ScriptStarted

log = structlog.get_logger("sentinel.scripts")

FORK_FAILED_SIGNAL = 99  # stock convention for "could not fork"
EXEC_FAILED_EXIT = 2  # stock's child exits 2 when execve fails
HARD_BOUND_GRACE = 5.0


class ScriptRunner:
    """Runs scripts in a nursery owned by the runtime."""

    def __init__(self, feed: Callable[[Event], None], max_runtime_ms: Callable[[], int]) -> None:
        self._feed = feed
        self._max_runtime_ms = max_runtime_ms
        self._procs: dict[int, trio.Process] = {}

    def running(self) -> dict[int, int]:
        """job -> pid of the scripts still running."""
        return {job: p.pid for job, p in self._procs.items()}

    def kill(self, job: int) -> None:
        """SIGKILL the job's process (its task then reports ScriptExited)."""
        p = self._procs.get(job)
        if p is not None and p.returncode is None:
            try:
                p.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill_all(self) -> None:
        """At shutdown: nothing we started outlives us."""
        for job in list(self._procs):
            self.kill(job)

    async def run(self, job: int, argv: tuple[str, ...]) -> None:
        """Spawn, report, wait (bounded), report."""
        try:
            proc = await trio.lowlevel.open_process(
                list(argv),
                stdin=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,
            )
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.ENOMEM):
                log.warning("could not fork script", job=job, argv=list(argv), error=str(e))
                self._feed(ScriptExited(job, 0, FORK_FAILED_SIGNAL))
            else:
                log.warning("could not execute script", job=job, argv=list(argv), error=str(e))
                self._feed(ScriptExited(job, EXEC_FAILED_EXIT, 0))
            return
        self._procs[job] = proc
        try:
            self._feed(ScriptStarted(job, proc.pid))
            bound = self._max_runtime_ms() / 1000 + HARD_BOUND_GRACE
            with trio.move_on_after(bound):
                await proc.wait()
            if proc.returncode is None:
                log.warning("script outlived its bound, killing it", job=job, pid=proc.pid)
                self.kill(job)
                await proc.wait()
        finally:
            self._procs.pop(job, None)
            if proc.returncode is None:  # cancelled (shutdown): do not leave it running
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        rc = proc.returncode
        assert rc is not None
        if rc < 0:
            self._feed(ScriptExited(job, 0, -rc))
        else:
            self._feed(ScriptExited(job, rc, 0))
