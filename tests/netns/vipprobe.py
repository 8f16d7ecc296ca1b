"""Measurement helpers for the VIP ownership scenarios (standard library only, bounded loops).

    holders --ns NS[,NS...] --ip 10.250.1.100 --seconds 60 --interval 0.01
        Run in the root namespace. Opens one NETLINK_ROUTE socket inside each named namespace
        (setns through ctypes, then back), and every `interval` dumps each namespace's IPv4
        addresses. Prints READY, then one JSON line per sample whose holder set changed and a
        heartbeat every second: {"t": monotonic, "holders": [ns...], "n": samples so far}.
        Exits after --seconds (the test kills it by PID when done).
    writer --host 10.250.1.11 --port 6379 --seconds 30 --timeout 0.3
        Run inside a host namespace. SET k<i> <i> in a loop on one connection (reconnecting after
        an error or a `timeout` without a reply); one JSON line per attempt:
        {"i": n, "sent": t0, "done": t1, "reply": "+OK" | "-ERR..." | "timeout" | "error: ..."}.
    reach --host VIP --port 6379 --runid ID --seconds 5 --interval 0.05
        Run in the client namespace. Connects and sends INFO replication + INFO server every
        `interval`; prints {"t": t, "ok": bool, "role": ..., "runid": ...} per attempt and exits 0
        at the first reply from a master whose run_id is ID (1 if none within --seconds).

Times are time.monotonic() (CLOCK_MONOTONIC: the same clock in every namespace of the host).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
RTM_GETADDR = 22
RTM_NEWADDR = 20
NLMSG_DONE = 3
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
IFA_ADDRESS = 1
IFA_LOCAL = 2


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def netlink_in(ns: str) -> socket.socket:
    """A NETLINK_ROUTE socket created inside namespace `ns` (we come back to ours after)."""
    mine = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
            s.bind((0, 0))
        finally:
            _setns(mine)
    finally:
        os.close(target)
        os.close(mine)
    return s


def ipv4_addresses(s: socket.socket, seq: int) -> set[str]:
    """Dump the namespace's IPv4 addresses over `s`."""
    body = struct.pack("BBBBI", socket.AF_INET, 0, 0, 0, 0)
    s.send(struct.pack("=IHHII", 16 + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
    out: set[str] = set()
    for _ in range(1000):
        data = s.recv(65536)
        off = 0
        while off + 16 <= len(data):
            length, typ, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, off)
            if length < 16:
                return out
            if typ == NLMSG_DONE:
                return out
            if typ == NLMSG_ERROR:
                raise OSError("netlink error")
            if typ == RTM_NEWADDR:
                a = off + 16 + 8
                end = off + length
                while a + 4 <= end:
                    alen, atype = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if atype in (IFA_LOCAL, IFA_ADDRESS) and alen == 8:
                        out.add(socket.inet_ntoa(data[a + 4 : a + 8]))
                    a += (alen + 3) & ~3
            off += (length + 3) & ~3
    return out


def holders(namespaces: list[str], ip: str, seconds: float, interval: float) -> int:
    socks = {ns: netlink_in(ns) for ns in namespaces}
    print("READY", flush=True)
    deadline = time.monotonic() + seconds
    last: list[str] | None = None
    beat = 0.0
    seq = 0
    for n in range(1, int(seconds / max(interval, 0.001)) + 10):
        now = time.monotonic()
        if now >= deadline:
            break
        held = []
        for ns, s in socks.items():
            seq += 1
            if ip in ipv4_addresses(s, seq):
                held.append(ns)
        t = time.monotonic()
        if held != last or t - beat >= 1.0:
            print(json.dumps({"t": (now + t) / 2, "holders": held, "n": n}), flush=True)
            last, beat = held, t
        time.sleep(max(0.0, interval - (time.monotonic() - now)))
    return 0


def _read_reply(sock: socket.socket, buf: bytearray, deadline: float) -> bytes:
    """One RESP reply (simple, error, integer or bulk) as raw bytes; raises TimeoutError."""
    for _ in range(100000):
        if b"\r\n" in buf:
            head = bytes(buf[: buf.index(b"\r\n")])
            if head[:1] == b"$":
                n = int(head[1:])
                need = len(head) + 2 + (n + 2 if n >= 0 else 0)
                if len(buf) >= need:
                    out = bytes(buf[:need])
                    del buf[:need]
                    return out
            else:
                del buf[: len(head) + 2]
                return head
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    raise TimeoutError


def _cmd(*args: str) -> bytes:
    return f"*{len(args)}\r\n".encode() + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in args)


def writer(host: str, port: int, seconds: float, timeout: float) -> int:
    print("READY", flush=True)
    deadline = time.monotonic() + seconds
    sock: socket.socket | None = None
    buf = bytearray()
    for i in range(10_000_000):
        if time.monotonic() >= deadline:
            break
        sent = time.monotonic()
        try:
            if sock is None:
                sock = socket.create_connection((host, port), timeout=timeout)
                buf = bytearray()
            sock.sendall(_cmd("SET", f"k{i}", str(i)))
            reply = _read_reply(sock, buf, sent + timeout).split(b"\r\n")[0].decode(errors="replace")
        except TimeoutError:
            reply = "timeout"
        except OSError as e:
            reply = f"error: {e}"
            time.sleep(0.01)
        if (reply == "timeout" or reply.startswith(("error", "-"))) and sock is not None:
            sock.close()
            sock = None
        print(json.dumps({"i": i, "sent": sent, "done": time.monotonic(), "reply": reply}), flush=True)
    return 0


def _info(host: str, port: int, timeout: float) -> dict[str, str]:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        buf = bytearray()
        out: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        for section in ("replication", "server"):
            sock.sendall(_cmd("INFO", section))
            raw = _read_reply(sock, buf, deadline)
            for line in raw.decode(errors="replace").splitlines():
                if ":" in line:
                    k, _, v = line.partition(":")
                    out[k] = v
        return out


def reach(host: str, port: int, runid: str, seconds: float, interval: float) -> int:
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / max(interval, 0.001)) + 10):
        t = time.monotonic()
        if t >= deadline:
            break
        try:
            info = _info(host, port, max(0.05, min(interval * 4, 0.5)))
            rec = {"t": t, "ok": True, "role": info.get("role"), "runid": info.get("run_id")}
        except OSError as e:
            rec = {"t": t, "ok": False, "error": str(e)}
        print(json.dumps(rec), flush=True)
        if rec.get("role") == "master" and rec.get("runid") == runid:
            return 0
        time.sleep(max(0.0, interval - (time.monotonic() - t)))
    return 1


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("holders")
    h.add_argument("--ns", required=True)
    h.add_argument("--ip", required=True)
    h.add_argument("--seconds", type=float, default=60.0)
    h.add_argument("--interval", type=float, default=0.01)
    w = sub.add_parser("writer")
    w.add_argument("--host", required=True)
    w.add_argument("--port", type=int, default=6379)
    w.add_argument("--seconds", type=float, default=30.0)
    w.add_argument("--timeout", type=float, default=0.3)
    r = sub.add_parser("reach")
    r.add_argument("--host", required=True)
    r.add_argument("--port", type=int, default=6379)
    r.add_argument("--runid", required=True)
    r.add_argument("--seconds", type=float, default=5.0)
    r.add_argument("--interval", type=float, default=0.05)
    a = ap.parse_args()
    if a.cmd == "holders":
        return holders(a.ns.split(","), a.ip, min(a.seconds, 300.0), max(a.interval, 0.001))
    if a.cmd == "writer":
        return writer(a.host, a.port, min(a.seconds, 300.0), a.timeout)
    return reach(a.host, a.port, a.runid, min(a.seconds, 60.0), max(a.interval, 0.01))


if __name__ == "__main__":
    sys.exit(main())
