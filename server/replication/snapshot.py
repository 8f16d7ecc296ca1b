"""Point-in-time RDB snapshots for full resyncs, written by the server's background child.

fork() gives the child a copy-on-write image of the dataset at one instant, exactly as Redis
does; the child streams the RDB into a pipe and exits, while the parent keeps serving and reads
the pipe with Trio. The fork itself is the persistence manager's, so a full sync, a BGSAVE and
an AOF rewrite never run two children at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from server.keyspace import Database
    from server.persistence.manager import Persistence


class Snapshot:
    """A running snapshot child: read the RDB from `fd`, then await `finished()`."""

    def __init__(self, persistence: Persistence, dbs: Sequence[Database], aux: Mapping[str, str | int]) -> None:
        from server.persistence.rdb import save_rdb

        rfd, wfd = os.pipe()

        def body() -> None:
            with os.fdopen(wfd, "wb", buffering=1 << 20) as f:
                save_rdb(f, dbs, aux=aux)

        self._done = trio.Event()
        self.ok = False
        try:
            child = persistence.fork_child("repl", body, keep_fds=(wfd,), on_done=self._on_done)
        finally:
            os.close(wfd)
        self.pid = child.pid
        self.persistence = persistence
        os.set_blocking(rfd, False)
        self.fd = rfd

    def _on_done(self, ok: bool) -> None:
        self.ok = ok
        self._done.set()

    async def finished(self) -> bool:
        """Wait for the child to be reaped; True if it wrote the whole RDB."""
        await self._done.wait()
        return self.ok

    def kill(self) -> None:
        if not self._done.is_set() and self.persistence.child is not None and self.persistence.child.pid == self.pid:
            self.persistence.kill_child()
