"""Point-in-time RDB snapshots for full resyncs, written by a forked child.

fork() gives the child a copy-on-write image of the dataset at one instant, exactly as Redis
does; the child streams the RDB into a pipe and exits, while the parent keeps serving. The
parent reads the pipe with Trio, so no thread and no event-loop stall is involved.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from server.keyspace import Database


class SnapshotError(Exception):
    pass


def start_rdb_child(dbs: Sequence[Database], aux: Mapping[str, str | int]) -> tuple[int, int]:
    """Fork a child that writes an RDB of `dbs` to a pipe; returns (pid, read fd)."""
    from server.persistence.rdb import save_rdb

    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into the parent's code
        code = 1
        try:
            os.close(rfd)
            with os.fdopen(wfd, "wb", buffering=1 << 20) as f:
                save_rdb(f, dbs, aux=aux)
            code = 0
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    os.set_blocking(rfd, False)
    return pid, rfd


async def reap(pid: int) -> int:
    """Wait for a child without blocking the loop; returns its exit code (or -signal)."""
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0  # already reaped elsewhere
        if done:
            return os.waitstatus_to_exitcode(status)
        await trio.sleep(0.01)


def kill_child(pid: int) -> None:
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
