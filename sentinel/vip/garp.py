"""Gratuitous ARP, built and sent the way keepalived does it.

A client's ARP cache keeps the old holder's MAC for tens of seconds after a VIP move unless it
hears a gratuitous ARP, so the new holder broadcasts an ARP *request* for the VIP from the VIP:
Ethernet dst ff:ff:ff:ff:ff:ff, src = our MAC, type 0x0806; ARP htype 1 (Ethernet), ptype 0x0800,
hlen 6, plen 4, op 1; sender = (our MAC, VIP), target = (ff:ff:ff:ff:ff:ff, VIP). Linux, and
most other stacks, update an existing cache entry from such a frame even with arp_accept=0.

The frame is 42 bytes, unpadded, as keepalived sends it; the NIC pads it to the Ethernet minimum
on the wire. Building and parsing are pure; only `GarpSocket` needs privileges (CAP_NET_RAW).

`python -m sentinel.vip.garp --iface eth0 --ip 10.0.0.100 [--count 5 --interval 0.2]` sends a
burst by hand.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

from sentinel.vip.errors import CapabilityMissing, InterfaceMissing, VipError

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARPHRD_ETHER = 1
ARPOP_REQUEST = 1
ARPOP_REPLY = 2
BROADCAST_MAC = b"\xff" * 6
IFF_NOARP = 0x80
SIOCGIFFLAGS = 0x8913
FRAME_LEN = 42

_ETH = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")


def mac_bytes(mac: str | bytes) -> bytes:
    """'aa:bb:cc:dd:ee:ff' (or 6 raw bytes) -> 6 bytes."""
    if isinstance(mac, bytes):
        if len(mac) != 6:
            raise ValueError(f"a MAC address has 6 bytes, got {len(mac)}")
        return mac
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return bytes(int(p, 16) for p in parts)


def mac_str(mac: bytes) -> str:
    """6 bytes -> 'aa:bb:cc:dd:ee:ff'."""
    return ":".join(f"{b:02x}" for b in mac)


def build_garp(mac: str | bytes, ip: IPv4Address) -> bytes:
    """The 42-byte gratuitous ARP request announcing that `ip` is at `mac`."""
    own = mac_bytes(mac)
    eth = _ETH.pack(BROADCAST_MAC, own, ETH_P_ARP)
    arp = _ARP.pack(ARPHRD_ETHER, ETH_P_IP, 6, 4, ARPOP_REQUEST, own, ip.packed, BROADCAST_MAC, ip.packed)
    return eth + arp


@dataclass(frozen=True, slots=True)
class ArpFrame:
    """An Ethernet ARP frame, decoded field by field (for tests and for spotting rival claims)."""

    eth_dst: str
    eth_src: str
    ethertype: int
    htype: int
    ptype: int
    hlen: int
    plen: int
    op: int
    sender_mac: str
    sender_ip: IPv4Address
    target_mac: str
    target_ip: IPv4Address

    @property
    def gratuitous(self) -> bool:
        """Sender and target IP are the same: someone announcing an address, not asking."""
        return self.sender_ip == self.target_ip


def parse_arp(frame: bytes) -> ArpFrame:
    """Decode an Ethernet/IPv4 ARP frame; ValueError when it is not one."""
    if len(frame) < FRAME_LEN:
        raise ValueError(f"frame too short for ARP: {len(frame)} bytes")
    dst, src, ethertype = _ETH.unpack_from(frame, 0)
    if ethertype != ETH_P_ARP:
        raise ValueError(f"not an ARP frame: ethertype {ethertype:#06x}")
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(frame, _ETH.size)
    if (hlen, plen) != (6, 4):
        raise ValueError(f"not Ethernet/IPv4 ARP: hlen {hlen}, plen {plen}")
    return ArpFrame(
        eth_dst=mac_str(dst),
        eth_src=mac_str(src),
        ethertype=ethertype,
        htype=htype,
        ptype=ptype,
        hlen=hlen,
        plen=plen,
        op=op,
        sender_mac=mac_str(sha),
        sender_ip=IPv4Address(spa),
        target_mac=mac_str(tha),
        target_ip=IPv4Address(tpa),
    )


def interface_flags(iface: str) -> int:
    """The interface's flags (SIOCGIFFLAGS); needs no privilege."""
    if not iface or len(iface) > 15 or "/" in iface:
        raise InterfaceMissing(iface)
    req = struct.pack("16sH14x", iface.encode(), 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            res = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req)
        except OSError as e:
            if e.errno == errno.ENODEV:
                raise InterfaceMissing(iface) from e
            raise VipError(f"cannot read the flags of {iface}: {e}") from e
    return int(struct.unpack_from("H", res, 16)[0])


class GarpSocket:
    """A raw AF_PACKET socket bound to one interface for ETH_P_ARP (needs CAP_NET_RAW)."""

    def __init__(self, iface: str) -> None:
        self.iface = iface
        try:
            # Protocol 0 until bound: the socket receives nothing it would have to queue.
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError as e:
            raise CapabilityMissing("CAP_NET_RAW", f"sending gratuitous ARP on {iface}") from e
        try:
            self._sock.bind((iface, ETH_P_ARP))
            name = self._sock.getsockname()
        except OSError as e:
            self._sock.close()
            if e.errno in (errno.ENODEV, errno.ENXIO):
                raise InterfaceMissing(iface) from e
            raise VipError(f"cannot bind a packet socket to {iface}: {e}") from e
        self.hatype = int(name[3])
        self.mac = bytes(name[4][:6])

    def send(self, ip: IPv4Address) -> None:
        """Send one gratuitous ARP for `ip` from this interface's MAC."""
        try:
            self._sock.send(build_garp(self.mac, ip))
        except OSError as e:
            if e.errno == errno.ENETDOWN:
                raise VipError(f"cannot send gratuitous ARP: {self.iface} is down") from e
            if e.errno in (errno.ENODEV, errno.ENXIO):
                raise InterfaceMissing(self.iface) from e
            raise VipError(f"sending gratuitous ARP on {self.iface} failed: {e}") from e

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def __enter__(self) -> GarpSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class GarpResult:
    """What a burst did: frames sent, or why none were (NOARP or not Ethernet)."""

    sent: int
    skipped: str | None = None


def send_garp_burst(
    iface: str,
    ip: IPv4Address,
    count: int = 5,
    interval: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
    still_held: Callable[[], bool] | None = None,
) -> GarpResult:
    """Send `count` gratuitous ARPs `interval` seconds apart (blocking).

    Interfaces without ARP (IFF_NOARP, or not Ethernet) are skipped: nobody there caches MACs.
    `still_held`, checked before every frame, stops the burst once the VIP has moved on, so we
    never announce an address another host now owns.
    """
    if interface_flags(iface) & IFF_NOARP:
        return GarpResult(0, f"{iface} is NOARP")
    sent = 0
    with GarpSocket(iface) as sock:
        if sock.hatype != ARPHRD_ETHER:
            return GarpResult(0, f"{iface} is not Ethernet (hardware type {sock.hatype})")
        for i in range(count):
            if i:
                sleep(interval)
            if still_held is not None and not still_held():
                break
            sock.send(ip)
            sent += 1
    return GarpResult(sent)


def main(argv: list[str] | None = None) -> int:
    """Send a burst by hand: exit 0 sent, 1 failed, 2 lacking a capability or interface."""
    ap = argparse.ArgumentParser(
        prog="python -m sentinel.vip.garp", description="Send gratuitous ARPs for an address."
    )
    ap.add_argument("--iface", required=True)
    ap.add_argument("--ip", required=True, type=IPv4Address)
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--interval", type=float, default=0.2)
    args = ap.parse_args(argv)
    try:
        res = send_garp_burst(args.iface, args.ip, max(0, args.count), max(0.0, args.interval))
    except (CapabilityMissing, InterfaceMissing) as e:
        print(f"garp: {e}", file=sys.stderr)
        return 2
    except VipError as e:
        print(f"garp: {e}", file=sys.stderr)
        return 1
    print(f"garp: {res.skipped}, nothing sent" if res.skipped else f"garp: sent {res.sent} on {args.iface}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
