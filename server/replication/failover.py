"""FAILOVER [TO host port [FORCE]] [TIMEOUT ms] [ABORT]: Redis 6.2's coordinated switchover.

The master pauses writes, waits until the target replica has acknowledged the master's final
offset, then becomes a replica of the target and sends it `PSYNC <replid> <offset> FAILOVER`, which
makes the target promote itself and accept us with a partial resync. No acknowledged write can be
lost: none is accepted after the pause, and the target has all of them before it is promoted.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog
import trio

if TYPE_CHECKING:
    from server.replication.master import ReplicaState, Replication

log = structlog.get_logger("server.replication.failover")

PAUSE_FOREVER = 10 * 365 * 24 * 3600.0


class Failover:
    def __init__(self, repl: Replication, target: ReplicaState | None, timeout_ms: int, force: bool) -> None:
        self.repl = repl
        self.target = target
        self.timeout_ms = timeout_ms
        self.force = force
        self._cancel = trio.CancelScope()
        self.aborted: str | None = None

    def abort(self, why: str) -> None:
        self.aborted = why
        self._cancel.cancel()

    async def run(self) -> None:
        repl = self.repl
        eng = repl.engine
        repl.failover_state = "waiting-for-sync"
        eng.pause_until = time.monotonic() + PAUSE_FOREVER
        eng.pause_all = False
        started = time.monotonic()
        deadline = started + self.timeout_ms / 1000 if self.timeout_ms > 0 else None
        promoted = False
        try:
            with self._cancel:
                target_offset = repl.offset
                chosen = self.target
                while True:
                    online = [r for r in repl.replicas if r.state == "online"]
                    if chosen is not None and chosen not in repl.replicas:
                        raise RuntimeError("target replica disconnected")
                    caught_up = [r for r in online if r.ack_offset >= target_offset]
                    if chosen is None and caught_up:
                        chosen = max(caught_up, key=lambda r: r.ack_offset)
                    if chosen is not None and chosen.ack_offset >= target_offset:
                        break
                    if deadline is not None and time.monotonic() >= deadline:
                        if self.force and chosen is not None:
                            log.warning("FAILOVER timeout: forcing", target=chosen.client.addr)
                            break
                        raise RuntimeError("replica never caught up")
                    repl.request_acks()
                    await trio.sleep(0.01)
                assert chosen is not None
                repl.failover_state = "failover-in-progress"
                host, port = chosen.ip, chosen.listening_port
                log.warning("FAILOVER: demoting to replica of the caught-up target", target=f"{host}:{port}",
                            offset=repl.offset)
                replid, offset = repl.replid, repl.offset
                repl.failover = None  # set_master must not cancel us
                repl.set_master(host, port)
                promoted = True
                link = repl.link
                assert link is not None
                link.failover_psync = (replid, offset)
        except RuntimeError as e:
            self.aborted = str(e)
        finally:
            if not promoted:
                log.warning("FAILOVER aborted", reason=self.aborted)
            eng.pause_until = 0.0
            repl.failover_state = "no-failover"
            repl.failover = None
