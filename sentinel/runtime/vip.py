"""The runtime half of the VIP rule: executes the core's VipAcquire / VipRenew / VipRelease /
VipAnnounce.

Each action is executed when the core's step returns it (so in the core's order, one at a
time): `AddressManager` (netlink, verified by reading back) and a `GarpAnnouncer` per VIP (burst
+ repeat on acquire, refresh while held, silent after release). Every acquire and release is
answered with `VipDone`. Address lifetimes are computed here, from the action's deadline and the
clock at the moment of the netlink call, so a process that stalls between the core's decision
and the call never sets a lifetime past the deadline. Right after Start, and then every
`check_period` seconds, a task reads whether the interface carries the VIP and feeds
`VipObserved` (the core ignores it while an operation is in flight, and adopts it otherwise: an
address someone removed is added again if we are entitled, one someone added is removed if not).

The netlink calls run inline in the Trio thread on one kept-open socket: a change takes about a
millisecond, while a worker thread competes for the GIL with a busy sentinel (a release measured
150 ms that way under load, and the VIP's no-holder gap is the sum of a release and an acquire).
A change that the kernel does not show is retried by reading back for at most VERIFY_TIMEOUT.

The decisions are the core's (sentinel/core/ownership.py); nothing here decides anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from typing import Protocol

import structlog
import trio

from sentinel.core.actions import VipAcquire, VipAnnounce, VipRelease, VipRenew
from sentinel.core.config import SentinelConfig
from sentinel.core.events import Event, VipDone, VipObserved
from sentinel.vip.announce import GarpAnnouncer
from sentinel.vip.config import GarpTiming
from sentinel.vip.errors import VipError

log = structlog.get_logger("sentinel.vip")

CHECK_PERIOD = 1.0
"""Seconds between reads of the interface (between operations)."""
VERIFY_TIMEOUT = 0.2
"""How long a change may take to show in a dump (it blocks the sentinel meanwhile)."""


class Addresses(Protocol):
    """What the worker needs of `AddressManager` (tests substitute a fake)."""

    def ensure_present(self, iface: str, vip: IPv4Interface, lifetime: int | None = None) -> bool: ...

    def renew(self, iface: str, vip: IPv4Interface, lifetime: int) -> bool: ...

    def ensure_absent(self, iface: str, vip: IPv4Interface) -> bool: ...

    def addresses(self, iface: str) -> list[IPv4Interface]: ...


@dataclass
class _Vip:
    master: str
    vip: IPv4Interface
    iface: str
    announcer: GarpAnnouncer
    ops: int = 0
    errors: int = 0
    last_error: str = ""
    present: bool | None = None
    renewals: int = 0
    history: list[tuple[float, str, bool, str]] = field(default_factory=list)


class VipManager:
    """Executes the VIP actions of one sentinel; `run` in the runtime's nursery."""

    def __init__(
        self,
        config: SentinelConfig,
        feed: Callable[[Event], None],
        *,
        addresses: Addresses | None = None,
        timing: GarpTiming | None = None,
        check_period: float = CHECK_PERIOD,
        clock: Callable[[], int] | None = None,
    ) -> None:
        """`clock`: the core's milliseconds (default: Trio's clock), for lifetimes."""
        self._feed = feed
        self._clock = clock or (lambda: int(trio.current_time() * 1000))
        self._addresses = addresses
        self._timing = timing or GarpTiming()
        self._check_period = check_period
        self._nursery: trio.Nursery | None = None
        self.vips: dict[str, _Vip] = {}
        self._configured = [(m.name, m.vip.address, m.vip.iface) for m in config.masters if m.vip is not None]

    @property
    def _addr(self) -> Addresses:
        if self._addresses is None:
            from sentinel.vip.netlink import AddressManager  # pyroute2 takes ~0.5 s to import

            self._addresses = AddressManager(verify_timeout=VERIFY_TIMEOUT, persistent=True)
        return self._addresses

    @property
    def configured(self) -> bool:
        """Whether any master has a VIP."""
        return bool(self._configured)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start a worker (and its announcer) per configured VIP, then live until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for name, vip, iface in self._configured:
                await self._start(name, vip, iface)
            task_status.started()
            await trio.sleep_forever()

    async def _start(self, name: str, vip: str, iface: str) -> _Vip:
        assert self._nursery is not None
        addr = IPv4Interface(vip)
        v = _Vip(name, addr, iface, GarpAnnouncer(iface, addr.ip, self._timing))
        self.vips[name] = v
        await self._nursery.start(v.announcer.run)
        self._nursery.start_soon(self._checker, v)
        return v

    def execute(self, a: VipAcquire | VipRenew | VipRelease | VipAnnounce) -> None:
        """Carry out one action now (the core's step returned it)."""
        v = self.vips.get(a.master)
        if v is None or v.vip != IPv4Interface(a.vip) or v.iface != a.iface:
            # A VIP the config did not list at start (cannot happen today: VIPs come from the file).
            assert self._nursery is not None
            addr = IPv4Interface(a.vip)
            v = _Vip(a.master, addr, a.iface, GarpAnnouncer(a.iface, addr.ip, self._timing))
            self.vips[a.master] = v
            self._nursery.start_soon(v.announcer.run)
            self._nursery.start_soon(self._checker, v)
        self._do(v, a)

    def release_all(self) -> None:
        """At shutdown: remove every VIP we manage (peers take it once we are silent for
        T_lease + margin, so we must not leave it behind). Errors are logged."""
        for v in self.vips.values():
            v.announcer.release()
            try:
                removed = self._addr.ensure_absent(v.iface, v.vip)
            except VipError as e:
                log.error("vip.release_at_exit_failed", master=v.master, vip=str(v.vip), error=str(e))
                continue
            if removed:
                log.warning("vip.released_at_exit", master=v.master, vip=str(v.vip), iface=v.iface)

    def _observe(self, v: _Vip) -> None:
        try:
            have = self._addr.addresses(v.iface)
        except VipError as e:
            if str(e) != v.last_error:
                log.warning("vip.check_failed", master=v.master, vip=str(v.vip), iface=v.iface, error=str(e))
            v.last_error = str(e)
            return
        present = any(a.ip == v.vip.ip for a in have)
        if present != v.present:
            log.info("vip.observed", master=v.master, vip=str(v.vip), iface=v.iface, present=present)
        v.present = present
        self._feed(VipObserved(v.master, present))

    async def _checker(self, v: _Vip) -> None:
        while True:
            self._observe(v)
            await trio.sleep(self._check_period)

    def _seconds_until(self, expires: int) -> int:
        """Whole seconds from now to `expires` (rounded down: never past it)."""
        return (expires - self._clock()) // 1000

    def _renew(self, v: _Vip, a: VipRenew) -> None:
        seconds = self._seconds_until(a.expires)
        if seconds < 1:
            log.info("vip.renew_skipped", master=v.master, vip=str(v.vip), left_ms=a.expires - self._clock())
            return
        try:
            present = self._addr.renew(v.iface, v.vip, seconds)
        except VipError as e:
            v.errors += 1
            v.last_error = str(e)
            log.error("vip.renew_failed", master=v.master, vip=str(v.vip), iface=v.iface, error=str(e))
            return
        if present:
            v.renewals += 1
            return
        log.warning("vip.renew_found_absent", master=v.master, vip=str(v.vip), iface=v.iface)
        v.present = False
        self._feed(VipObserved(v.master, False))

    def _do(self, v: _Vip, a: VipAcquire | VipRenew | VipRelease | VipAnnounce) -> None:
        if isinstance(a, VipRenew):
            self._renew(v, a)
            return
        if isinstance(a, VipAnnounce):
            if v.announcer.policy.held:
                v.announcer.reannounce()
            elif v.present:
                v.announcer.acquire()  # held since before we started: announce it now
            return
        op = "acquire" if isinstance(a, VipAcquire) else "release"
        t0 = time.perf_counter()
        try:
            if isinstance(a, VipAcquire):
                # At least a second (the core's floor); None: permanent.
                seconds = None if a.expires is None else max(1, self._seconds_until(a.expires))
                changed = self._addr.ensure_present(v.iface, v.vip, seconds)
                v.present = True
                v.announcer.acquire()
            else:
                v.announcer.release()
                changed = self._addr.ensure_absent(v.iface, v.vip)
                v.present = False
        except VipError as e:
            v.errors += 1
            v.last_error = str(e)
            v.present = None
            log.error("vip.failed", master=v.master, op=op, vip=str(v.vip), iface=v.iface, error=str(e))
            v.history.append((t0, op, False, str(e)))
            self._feed(VipDone(v.master, op, False, str(e)))
            return
        v.ops += 1
        v.last_error = ""
        ms = (time.perf_counter() - t0) * 1000
        log.warning(
            f"vip.{op}d", master=v.master, vip=str(v.vip), iface=v.iface, changed=changed, ms=round(ms, 1)
        )
        del v.history[:-20]
        v.history.append((t0, op, True, ""))
        self._feed(VipDone(v.master, op, True))
