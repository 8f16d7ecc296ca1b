"""VIP address management over netlink (pyroute2), checked by reading the addresses back.

Each operation opens its own short-lived `IPRoute` socket: pyroute2 0.9's `IPRoute` is a
synchronous wrapper around an asyncio core with its own event loop, so one instance must not be
shared between threads, and VIP changes are rare enough that a socket per call costs nothing
(about 1 ms; a few ms more with `netns`, where pyroute2 forks a helper to open the socket inside
the namespace). From Trio, use the `*_async` methods, which run the sync call in a worker thread.

IPv4 only: gratuitous ARP (how clients learn the move) is IPv4's mechanism.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from sentinel.vip.errors import CapabilityMissing, InterfaceMissing, VipError

IFF_UP = 0x1
IFF_NOARP = 0x80
ARPHRD_ETHER = 1

VERIFY_TIMEOUT = 1.0
"""How long a change may take to become visible in a dump before we call it failed."""
VERIFY_STEP = 0.02
FOREVER = 0xFFFFFFFF
"""The kernel's "infinite" address lifetime (seconds)."""


@dataclass(frozen=True, slots=True)
class Holder:
    """An interface (in the managed namespace) that carries a given address."""

    ifname: str
    index: int
    prefixlen: int


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """What GARP and the status view need to know about an interface."""

    index: int
    ifname: str
    mac: str
    flags: int
    ethernet: bool

    @property
    def up(self) -> bool:
        """Administratively up (IFF_UP)."""
        return bool(self.flags & IFF_UP)

    @property
    def noarp(self) -> bool:
        """IFF_NOARP: the interface does not do ARP, so GARP is pointless there."""
        return bool(self.flags & IFF_NOARP)


def _local_of(msg: Any) -> str | None:
    # IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links.
    return msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")


class AddressManager:
    """Adds, removes and lists IPv4 addresses, in the current or a named network namespace.

    Every change is idempotent and verified by dumping the interface's addresses afterwards, so a
    `True`/`False` return means "the kernel now shows the wanted state" and says whether we had to
    change anything.
    """

    def __init__(
        self, netns: str | None = None, verify_timeout: float = VERIFY_TIMEOUT, persistent: bool = False
    ) -> None:
        """`persistent`: keep one netlink socket open instead of one per call (faster: a change
        takes well under a millisecond instead of a few); then use it from one thread only, and
        `close()` it when done."""
        self.netns = netns
        self.verify_timeout = verify_timeout
        self.persistent = persistent
        self._kept: Any = None

    def close(self) -> None:
        """Close the kept socket (persistent mode)."""
        if self._kept is not None:
            kept, self._kept = self._kept, None
            kept.close()

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _ipr(self) -> Iterator[Any]:
        if self.persistent:
            if self._kept is None:
                self._kept = self._open()
            try:
                yield self._kept
            except (OSError, NetlinkError):
                self.close()  # reopen at the next call
                raise
            return
        ipr = self._open()
        try:
            yield ipr
        finally:
            ipr.close()

    def _open(self) -> Any:
        try:
            # flags=0: never create the namespace as a side effect of a typo in its name.
            ipr = IPRoute(netns=self.netns, flags=0) if self.netns else IPRoute()
        except PermissionError as e:
            raise CapabilityMissing("CAP_SYS_ADMIN", f"entering network namespace {self.netns!r}") from e
        except FileNotFoundError as e:
            raise VipError(f"network namespace {self.netns!r} does not exist") from e
        except OSError as e:
            raise VipError(f"cannot open a netlink socket: {e}") from e
        return ipr

    def _index(self, ipr: Any, iface: str) -> int:
        found = ipr.link_lookup(ifname=iface)
        if not found:
            raise InterfaceMissing(iface, self.netns)
        return int(found[0])

    def _addrs(self, ipr: Any, index: int | None = None) -> list[tuple[int, IPv4Interface]]:
        kw: dict[str, Any] = {"family": socket.AF_INET}
        if index is not None:
            kw["index"] = index
        out = []
        for msg in ipr.get_addr(**kw):
            if index is not None and msg["index"] != index:
                continue
            local = _local_of(msg)
            if local:
                out.append((int(msg["index"]), IPv4Interface(f"{local}/{msg['prefixlen']}")))
        return out

    def _change(
        self, ipr: Any, command: str, index: int, iface: str, addr: IPv4Interface, lifetime: int | None = None
    ) -> None:
        kw: dict[str, Any] = {}
        if command != "del":
            lft = FOREVER if lifetime is None else lifetime
            kw = {"valid_lft": lft, "preferred_lft": lft}
        try:
            ipr.addr(command, index=index, address=str(addr.ip), prefixlen=addr.network.prefixlen, **kw)
        except NetlinkError as e:
            if e.code == errno.EPERM:
                verb = "adding" if command == "add" else "removing"
                raise CapabilityMissing("CAP_NET_ADMIN", f"{verb} address {addr} on {iface}") from e
            if e.code == errno.ENODEV:
                raise InterfaceMissing(iface, self.netns) from e
            if command == "add" and e.code == errno.EEXIST:
                return  # raced with another adder: the verification below decides
            if command == "del" and e.code in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH):
                return  # already gone
            raise VipError(f"{command} {addr} on {iface} failed: {e}") from e

    def _verify(self, ipr: Any, index: int, want: IPv4Interface, present: bool, iface: str) -> None:
        deadline = time.monotonic() + self.verify_timeout
        have: list[IPv4Interface] = []
        for _ in range(int(self.verify_timeout / VERIFY_STEP) + 2):
            have = [a for _, a in self._addrs(ipr, index) if a.ip == want.ip]
            ok = (want in have) if present else not have
            if ok:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(VERIFY_STEP)
        state = "present" if present else "absent"
        raise VipError(f"{want} is not {state} on {iface} after the change (read back {have})")

    # -- queries ------------------------------------------------------------------------------

    def link(self, iface: str) -> LinkInfo:
        """Index, MAC and flags of `iface`."""
        with self._ipr() as ipr:
            index = self._index(ipr, iface)
            msg = ipr.get_links(index)[0]
            return LinkInfo(
                index=index,
                ifname=iface,
                mac=str(msg.get_attr("IFLA_ADDRESS") or ""),
                flags=int(msg["flags"]),
                ethernet=msg["ifi_type"] == ARPHRD_ETHER,
            )

    def addresses(self, iface: str) -> list[IPv4Interface]:
        """The IPv4 addresses on `iface`."""
        with self._ipr() as ipr:
            return [a for _, a in self._addrs(ipr, self._index(ipr, iface))]

    def local_addresses(self) -> set[IPv4Address]:
        """Every IPv4 address on any interface (for "is this host the one with <to-ip>?")."""
        with self._ipr() as ipr:
            return {a.ip for _, a in self._addrs(ipr)}

    def holders(self, address: IPv4Address | IPv4Interface) -> list[Holder]:
        """The interfaces that carry `address` (any prefix length)."""
        ip = address.ip if isinstance(address, IPv4Interface) else address
        with self._ipr() as ipr:
            names = {int(m["index"]): str(m.get_attr("IFLA_IFNAME")) for m in ipr.get_links()}
            return [
                Holder(names.get(idx, f"if{idx}"), idx, a.network.prefixlen)
                for idx, a in self._addrs(ipr)
                if a.ip == ip
            ]

    def lifetime(self, iface: str, vip: IPv4Interface) -> int | None:
        """The address's remaining valid lifetime in seconds (None: permanent); KeyError if absent."""
        with self._ipr() as ipr:
            index = self._index(ipr, iface)
            for msg in ipr.get_addr(family=socket.AF_INET, index=index):
                local = _local_of(msg)
                if msg["index"] == index and local == str(vip.ip) and msg["prefixlen"] == vip.network.prefixlen:
                    info = msg.get_attr("IFA_CACHEINFO") or {}
                    valid = int(info.get("ifa_valid", FOREVER))
                    return None if valid == FOREVER else valid
        raise KeyError(f"{vip} is not on {iface}")

    def has(self, iface: str, vip: IPv4Interface) -> bool:
        """Whether `iface` carries exactly `vip` (address and prefix length)."""
        return vip in self.addresses(iface)

    # -- changes ------------------------------------------------------------------------------

    def ensure_present(self, iface: str, vip: IPv4Interface, lifetime: int | None = None) -> bool:
        """Make `vip` present on `iface`; True if we added it.

        The same address with another prefix length is replaced, so the kernel's connected route
        matches the configuration. `lifetime`: seconds until the kernel drops the address by
        itself (valid and preferred lifetime; None: permanent); an address already present gets
        it too.
        """
        if lifetime is not None and lifetime < 1:
            raise ValueError("an address lifetime is at least one second")
        with self._ipr() as ipr:
            index = self._index(ipr, iface)
            same_ip = [a for _, a in self._addrs(ipr, index) if a.ip == vip.ip]
            if vip in same_ip:
                self._change(ipr, "replace", index, iface, vip, lifetime)
                return False
            for stale in same_ip:
                self._change(ipr, "del", index, iface, stale)
            self._change(ipr, "add", index, iface, vip, lifetime)
            self._verify(ipr, index, vip, True, iface)
            return True

    def renew(self, iface: str, vip: IPv4Interface, lifetime: int) -> bool:
        """Give the present `vip` a new lifetime (seconds, at least 1); False, changing nothing,
        if it is not there: a renewal never brings back an address that expired or was removed.
        (The kernel would create it: an IPv4 "replace" does not need NLM_F_CREATE. Only the
        kernel's own expiry, between our read and the change, can still race with it; the
        sentinel renews only under a lease that entitles it to the address.)"""
        if lifetime < 1:
            raise ValueError("an address lifetime is at least one second")
        with self._ipr() as ipr:
            index = self._index(ipr, iface)
            if vip not in [a for _, a in self._addrs(ipr, index) if a.ip == vip.ip]:
                return False
            self._change(ipr, "replace", index, iface, vip, lifetime)
            return True

    def ensure_absent(self, iface: str, vip: IPv4Interface | IPv4Address, missing_ok: bool = True) -> bool:
        """Make the VIP's address absent from `iface` (any prefix); True if we removed it.

        A missing interface carries no VIP, so by default that counts as done: a node releasing
        the VIP must not fail because its interface vanished.
        """
        ip = vip.ip if isinstance(vip, IPv4Interface) else vip
        with self._ipr() as ipr:
            try:
                index = self._index(ipr, iface)
            except InterfaceMissing:
                if missing_ok:
                    return False
                raise
            found = [a for _, a in self._addrs(ipr, index) if a.ip == ip]
            if not found:
                return False
            for a in found:
                self._change(ipr, "del", index, iface, a)
            self._verify(ipr, index, found[0], False, iface)
            return True

    # -- Trio wrappers ------------------------------------------------------------------------

    async def ensure_present_async(self, iface: str, vip: IPv4Interface) -> bool:
        """`ensure_present` in a worker thread (netlink calls block)."""
        import trio  # lazily: vip-reconfig runs without Trio and starts faster

        return await trio.to_thread.run_sync(partial(self.ensure_present, iface, vip))

    async def ensure_absent_async(self, iface: str, vip: IPv4Interface | IPv4Address) -> bool:
        """`ensure_absent` in a worker thread."""
        import trio  # lazily: vip-reconfig runs without Trio and starts faster

        return await trio.to_thread.run_sync(partial(self.ensure_absent, iface, vip))

    async def holders_async(self, address: IPv4Address | IPv4Interface) -> list[Holder]:
        """`holders` in a worker thread."""
        import trio  # lazily: vip-reconfig runs without Trio and starts faster

        return await trio.to_thread.run_sync(partial(self.holders, address))

    async def link_async(self, iface: str) -> LinkInfo:
        """`link` in a worker thread."""
        import trio  # lazily: vip-reconfig runs without Trio and starts faster

        return await trio.to_thread.run_sync(partial(self.link, iface))
