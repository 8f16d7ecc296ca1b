"""The per-host sampler: `python -m sentinel.drill.sampler --vip IP [--iface eth0] ...`.

Runs on each lab host (inside its namespace) and prints JSON lines to stdout, each with the
monotonic time `t` and the wall time `w` of the observation:

    {"k": "vip", "held": bool, "up": bool, "pt": float, "pw": float}   VIP on the interface / link up
                                                               (changed after pt/pw, the previous read's start)
    {"k": "srv", "role": "master"|"slave"|null, "master": "ip:port"|null, "link": str|null, "run_id": str|null}
    {"k": "sen", "master": "ip:port"|null, "epoch": int|null, "failover": bool}
    {"k": "tick", "vip_gap_ms": float}                         every second: the longest pause between VIP looks

Only on change (plus the ticks). The interface is read every `--vip-every` seconds with one
netlink socket; the local server (ROLE, INFO server) and the local sentinel (SENTINEL MASTER)
every `--redis-every` seconds on 127.0.0.1, each in its own thread so a hung server never
delays the VIP samples. Local reads only: a partition of the host does not blind its sampler.
Stops when stdin closes, on SIGTERM, or after `--max-seconds`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any

_lock = threading.Lock()
_stop = threading.Event()


def emit(rec: dict[str, Any]) -> None:
    """One JSON line with the times."""
    rec = {"t": time.monotonic(), "w": time.time(), **rec}
    line = json.dumps(rec, separators=(",", ":"))
    with _lock:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            _stop.set()


def vip_loop(vip: str, iface: str, every: float) -> None:
    from pyroute2 import IPRoute

    last: tuple[bool, bool] | None = None
    gap = 0.0
    prev = time.monotonic()
    next_tick = prev + 1.0
    read_t, read_w = prev, time.time()  # when the previous read started
    with IPRoute() as ipr:
        while not _stop.is_set():
            started_t, started_w = time.monotonic(), time.time()
            held = up = False
            try:
                idx = ipr.link_lookup(ifname=iface)
                if idx:
                    link = ipr.get_links(idx[0])[0]
                    up = bool(link["flags"] & 1)  # IFF_UP
                    for a in ipr.get_addr(index=idx[0], family=2):
                        if a.get_attr("IFA_ADDRESS") == vip:
                            held = True
            except Exception as e:  # a netlink hiccup: report, keep sampling
                emit({"k": "error", "what": "vip", "error": str(e)})
            now = time.monotonic()
            gap = max(gap, now - prev)
            prev = now
            if (held, up) != last:
                # The change happened after the previous read started (pt/pw) and before this
                # record's t/w: the checker needs both ends to tell a real overlap from sampling.
                emit({"k": "vip", "held": held, "up": up, "pt": read_t, "pw": read_w})
                last = (held, up)
            read_t, read_w = started_t, started_w
            if now >= next_tick:
                emit({"k": "tick", "vip_gap_ms": round(gap * 1000, 1)})
                gap = 0.0
                next_tick = now + 1.0
            _stop.wait(every)


def _conn(port: int) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=0.3,
        socket_connect_timeout=0.3,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),  # redis-py's default retries would hide a dead server for seconds
    )


def server_loop(port: int, every: float) -> None:
    r = _conn(port)
    last: dict[str, Any] | None = None
    run_id: str | None = None
    while not _stop.is_set():
        rec: dict[str, Any] = {"role": None, "master": None, "link": None, "run_id": None}
        try:
            role = r.execute_command("ROLE")
            if run_id is None:
                run_id = str(r.info("server").get("run_id"))
            rec["run_id"] = run_id
            rec["role"] = str(role[0])
            if role[0] == "slave":
                rec["master"] = f"{role[1]}:{role[2]}"
                rec["link"] = str(role[3])
        except Exception:
            run_id = None  # a restarted server has a new run id
        if rec != last:
            emit({"k": "srv", **rec})
            last = rec
        _stop.wait(every)


def sentinel_loop(port: int, name: str, every: float) -> None:
    r = _conn(port)
    last: dict[str, Any] | None = None
    while not _stop.is_set():
        rec: dict[str, Any] = {"master": None, "epoch": None, "failover": False}
        try:
            flat = r.execute_command("SENTINEL", "MASTER", name)
            kv = dict(zip(flat[0::2], flat[1::2], strict=False)) if isinstance(flat, list) else dict(flat)
            rec["master"] = f"{kv['ip']}:{kv['port']}"
            rec["epoch"] = int(kv["config-epoch"])
            rec["failover"] = "failover_in_progress" in str(kv.get("flags", ""))
        except Exception:
            pass
        if rec != last:
            emit({"k": "sen", **rec})
            last = rec
        _stop.wait(every)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sentinel.drill.sampler")
    ap.add_argument("--vip", required=True)
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--server-port", type=int, default=6379)
    ap.add_argument("--sentinel-port", type=int, default=26379)
    ap.add_argument("--master-name", default="mymaster")
    ap.add_argument("--vip-every", type=float, default=0.01)
    ap.add_argument("--redis-every", type=float, default=0.05)
    ap.add_argument("--max-seconds", type=float, default=600.0)
    a = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: _stop.set())
    threads = [
        threading.Thread(target=vip_loop, args=(a.vip, a.iface, a.vip_every), daemon=True),
        threading.Thread(target=server_loop, args=(a.server_port, a.redis_every), daemon=True),
        threading.Thread(
            target=sentinel_loop, args=(a.sentinel_port, a.master_name, a.redis_every), daemon=True
        ),
    ]
    for th in threads:
        th.start()
    emit({"k": "start"})

    def watch_stdin() -> None:
        sys.stdin.read()  # returns when the drill closes our stdin
        _stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    _stop.wait(a.max_seconds)
    _stop.set()
    for th in threads:
        th.join(timeout=2)
    emit({"k": "end"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
