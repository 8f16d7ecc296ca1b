"""When to send gratuitous ARPs: a sans-IO policy and the Trio task that runs it.

Why each announcement (defaults in `GarpTiming`):
- on acquire, a burst of 5 frames 200 ms apart (keepalived, Pacemaker's IPaddr2): one lost
  broadcast must not leave a client on the old MAC;
- a repeat burst 5 s after the first one started (keepalived's garp_master_delay): switches that
  were still relearning ports, and clients whose entry was mid-probe, get a second chance;
- a refresh every 30 s while held (one frame): a client or router that learned a wrong MAC from
  a rival claim, or a switch that aged out our port, converges within one Linux
  base_reachable_time instead of waiting for its own timeouts (minutes on some routers);
- after a contested period (two claimants, or ownership unsure), a full burst + repeat again:
  keepalived#166 — after a dual-MASTER blip no GARP was sent and clients kept the stale MAC.

The policy is driven by explicit calls carrying `now` (seconds, any monotonic clock), so it is
unit-tested with a fake clock and runs unchanged under Trio's clock.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address

import structlog
import trio

from sentinel.vip.config import GarpTiming
from sentinel.vip.errors import VipError
from sentinel.vip.garp import send_garp_burst

log = structlog.get_logger("sentinel.vip")


class Announcer:
    """Sans-IO GARP schedule for one VIP on this host.

    Call `acquire` / `release` when this host takes or drops the VIP, `contest` when ownership
    becomes disputed (a rival claim seen, the lease in doubt) and `settle` when it is clear again,
    `reannounce` on an event that warrants a fresh burst. Then ask `due(now)` how many frames to
    send now and sleep until `next_deadline()`. Call on events, not on every tick: each
    `reannounce` (outside a running first burst) schedules a full burst and repeat.
    """

    def __init__(self, timing: GarpTiming | None = None) -> None:
        self.timing = timing or GarpTiming()
        self.held = False
        self.contested = False
        self._pending: list[float] = []
        self._next_refresh: float | None = None
        self._burst_started: float | None = None

    # -- events -------------------------------------------------------------------------------

    def acquire(self, now: float) -> bool:
        """This host now holds the VIP; announces unless it already held it. True if scheduled."""
        if self.held:
            return False
        self.held = True
        if self.contested:
            return False  # announced when the contest settles
        self._schedule(now)
        return True

    def release(self, now: float) -> None:
        """This host no longer holds the VIP: nothing more to send."""
        self.held = False
        self._clear()

    def contest(self, now: float) -> None:
        """Ownership is disputed: stay quiet (clients would flap between claimants) until `settle`."""
        self.contested = True
        self._clear()

    def settle(self, now: float) -> bool:
        """The dispute is over; if we still hold the VIP, announce afresh. True if scheduled."""
        if not self.contested:
            return False
        self.contested = False
        if self.held:
            self._schedule(now)
            return True
        return False

    def reannounce(self, now: float) -> bool:
        """A fresh burst and repeat, unless a first burst is running anyway. True if scheduled."""
        if not self.held or self.contested:
            return False
        t = self.timing
        if self._burst_started is not None and now < self._burst_started + t.burst_count * t.burst_interval:
            return False
        self._schedule(now)
        return True

    # -- clock --------------------------------------------------------------------------------

    def due(self, now: float) -> int:
        """How many frames to send at `now` (consumed: the next call will not return them again)."""
        if not self.held or self.contested:
            return 0
        n = 0
        while self._pending and self._pending[0] <= now:
            self._pending.pop(0)
            n += 1
        if self._next_refresh is not None and now >= self._next_refresh:
            t = self.timing
            if not self._pending:  # a burst in flight already refreshes
                n += 1 if t.refresh_count else 0
                self._pending = [now + i * t.burst_interval for i in range(1, t.refresh_count)]
            while self._next_refresh <= now:  # after a stall, skip missed refreshes
                self._next_refresh += t.refresh_interval
        return n

    def next_deadline(self) -> float | None:
        """When `due` will next return frames (None: nothing scheduled)."""
        if not self.held or self.contested:
            return None
        times = [*self._pending[:1], *([self._next_refresh] if self._next_refresh is not None else [])]
        return min(times) if times else None

    # -- internals ----------------------------------------------------------------------------

    def _clear(self) -> None:
        self._pending = []
        self._next_refresh = None
        self._burst_started = None

    def _schedule(self, now: float) -> None:
        t = self.timing
        first = [now + i * t.burst_interval for i in range(t.burst_count)]
        repeat = [now + t.repeat_delay + i * t.burst_interval for i in range(t.repeat_count)]
        self._pending = sorted(first + repeat)
        self._burst_started = now
        last = self._pending[-1] if self._pending else now
        self._next_refresh = last + t.refresh_interval if t.refresh_interval > 0 else None


SendFrames = Callable[[int], Awaitable[int]]
"""Send n gratuitous ARPs back to back; return how many went out."""


class GarpAnnouncer:
    """The Trio task around `Announcer`: sends frames when due, sleeps until the next deadline.

    Start `run` in a nursery (`await nursery.start(a.run)`), then call `acquire`, `release`,
    `contest`, `settle`, `reannounce` from any Trio task; they wake the loop. Send errors (missing
    capability, interface down) are logged and kept in `last_error`; the loop keeps going, so a
    transient failure only costs the frames that were due.
    """

    def __init__(
        self,
        iface: str,
        ip: IPv4Address,
        timing: GarpTiming | None = None,
        *,
        send: SendFrames | None = None,
    ) -> None:
        self.iface = iface
        self.ip = ip
        self.policy = Announcer(timing)
        self._send = send or self._send_raw
        self._wake = trio.Event()
        self.frames_sent = 0
        self.last_sent_at: float | None = None
        self.last_error: str | None = None

    async def _send_raw(self, n: int) -> int:
        # A raw packet send takes microseconds; no worker thread needed.
        res = send_garp_burst(self.iface, self.ip, count=n, interval=0.0)
        if res.skipped:
            log.info("vip.garp_skipped", iface=self.iface, reason=res.skipped)
        return res.sent

    def _poke(self) -> None:
        self._wake.set()

    def acquire(self) -> None:
        """This host took the VIP."""
        if self.policy.acquire(trio.current_time()):
            self._poke()

    def release(self) -> None:
        """This host dropped the VIP."""
        self.policy.release(trio.current_time())
        self._poke()

    def contest(self) -> None:
        """Ownership is disputed: pause announcements."""
        self.policy.contest(trio.current_time())
        self._poke()

    def settle(self) -> None:
        """Dispute over: re-announce if still held."""
        if self.policy.settle(trio.current_time()):
            self._poke()

    def reannounce(self) -> None:
        """Ask for a fresh burst + repeat."""
        if self.policy.reannounce(trio.current_time()):
            self._poke()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Loop forever (until cancelled)."""
        task_status.started()
        while True:
            now = trio.current_time()
            n = self.policy.due(now)
            if n:
                try:
                    self.frames_sent += await self._send(n)
                    self.last_sent_at = now
                    self.last_error = None
                except VipError as e:
                    if str(e) != self.last_error:
                        log.warning("vip.garp_failed", iface=self.iface, ip=str(self.ip), error=str(e))
                    self.last_error = str(e)
            deadline = self.policy.next_deadline()
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._wake.wait()
            self._wake = trio.Event()
