"""Helpers that run *inside* a test namespace (`ip netns exec NS python nstool.py ...`).

Standard library only, so it runs with any Python 3. Every loop is bounded in time and count.

    capture --iface eth0 --seconds 20 --max 200
        Prints READY once a raw ETH_P_ARP socket is bound to the interface, then one JSON line
        per ARP frame seen there: {"t": seconds, "pkttype": N, "hex": "..."}. `t` is the kernel's
        receive timestamp (SO_TIMESTAMPNS, wall clock), so gaps between frames are exact even
        when this process is scheduled late; compare `t`s with each other only.
        Exits after --seconds or --max frames (or when killed).
    ping --dst 10.250.1.100 --count 1 --timeout 1
        ICMP echo via a raw socket (no iputils needed); exit 0 if any reply came back.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import struct
import sys
import time

ETH_P_ARP = 0x0806
SO_TIMESTAMPNS = 35  # asm-generic/socket.h (x86, arm)


def capture(iface: str, seconds: float, max_frames: int) -> int:
    """Print ARP frames seen on `iface` as JSON lines."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: nothing queued before bind
    s.bind((iface, ETH_P_ARP))
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    print("READY", flush=True)
    deadline = time.monotonic() + seconds
    for _ in range(max_frames):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([s], [], [], left)
        if not ready:
            break
        data, anc, _, addr = s.recvmsg(65535, socket.CMSG_SPACE(16))
        t = time.time()
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                sec, nsec = struct.unpack("qq", value[:16])
                t = sec + nsec / 1e9
        print(json.dumps({"t": t, "pkttype": addr[2], "hex": data.hex()}), flush=True)
    return 0


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ping(dst: str, count: int, timeout: float) -> int:
    """Send `count` ICMP echo requests to `dst`; 0 if any reply arrived."""
    ident = os.getpid() & 0xFFFF
    got = 0
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        for seq in range(1, count + 1):
            header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            payload = b"hasentinel-netns-test"
            packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, seq) + payload
            sent = time.monotonic()
            s.sendto(packet, (dst, 0))
            deadline = sent + timeout
            for _ in range(1000):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                ready, _, _ = select.select([s], [], [], left)
                if not ready:
                    break
                data, (src, _) = s.recvfrom(65535)
                ihl = (data[0] & 0x0F) * 4
                typ, _, _, rid, rseq = struct.unpack_from("!BBHHH", data, ihl)
                if typ == 0 and rid == ident and rseq == seq and src == dst:
                    print(
                        f"reply from {src} seq {seq} in {1000 * (time.monotonic() - sent):.1f} ms", flush=True
                    )
                    got += 1
                    break
    return 0 if got else 1


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture")
    c.add_argument("--iface", default="eth0")
    c.add_argument("--seconds", type=float, default=20.0)
    c.add_argument("--max", type=int, default=200)
    p = sub.add_parser("ping")
    p.add_argument("--dst", required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1.0)
    a = ap.parse_args()
    if a.cmd == "capture":
        return capture(a.iface, min(a.seconds, 120.0), min(a.max, 10000))
    return ping(a.dst, min(a.count, 20), min(a.timeout, 10.0))


if __name__ == "__main__":
    sys.exit(main())
