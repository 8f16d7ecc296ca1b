"""Replication, side by side: hasentinel-server pair vs stock redis-server pair, in one run.

    .venv/bin/python benchmarks/replication_bench.py [--keys 1000000] [--lag-seconds 10]

Measures (a Markdown table is printed):
- full sync: a master holding N keys, a replica started with --replicaof: time until the replica
  reports master_link_status:up with all keys;
- replication lag under write load: SETs paced at half of our own maximum write rate (measured
  first with redis-benchmark `-t set -P 16`), while every 5 ms a probe PUBLISHes to the master
  and a subscriber on the replica receives it (lag = master's ack -> delivered by the replica);
  master and replica are pinned to different cores;
- WAIT 1 latency: SET then WAIT 1 0, 2000 times.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import server_bench
from server_bench import free_port, load_keys


def start(kind: str, port: int, workdir: Path, *extra: str, cpu: int = 1) -> subprocess.Popen[bytes]:
    """server_bench's server, with replicas synced at once (no diskless delay)."""
    return server_bench.start(kind, port, workdir, "--repl-diskless-sync-delay", "0", *extra, cpu=cpu)


def full_sync(kind: str, keys: int, tmp: Path) -> float:
    mp, rp = free_port(), free_port()
    (tmp / f"{kind}-m").mkdir()
    (tmp / f"{kind}-r").mkdir()
    m = start(kind, mp, tmp / f"{kind}-m", cpu=1)
    r = None
    try:
        load_keys(mp, keys)
        t0 = time.monotonic()
        r = start(kind, rp, tmp / f"{kind}-r", "--replicaof", "127.0.0.1", str(mp), cpu=0)
        rc = redis.Redis(port=rp)
        deadline = t0 + 600
        while time.monotonic() < deadline:
            try:
                info = rc.info("replication")
                if info.get("master_link_status") == "up" and rc.dbsize() >= keys:
                    return time.monotonic() - t0
            except redis.RedisError:
                pass
            time.sleep(0.01)
        raise TimeoutError("full sync did not finish")
    finally:
        for p in (m, r):
            if p is not None:
                p.terminate()
                p.wait(timeout=60)


def max_set_rate(port: int) -> float:
    out = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(port),
            "-t",
            "set",
            "-P",
            "16",
            "-c",
            "50",
            "-n",
            "2000000",
            "-q",
            "--csv",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    return float(out.strip().splitlines()[-1].split(",")[1].strip('"'))


class PacedWriter:
    """Writes SETs to the master at a fixed rate from one raw socket: pre-encoded batches, so
    the load generator costs almost no CPU (redis-benchmark has no rate limit, and the 2-core
    machine cannot spare a busy client). Replies are all `+OK`, counted by bytes."""

    BATCH = 200

    def __init__(self, port: int, rate: float) -> None:
        self.port, self.rate = port, rate
        self.sent = self.acked = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        batches = []
        for b in range(50):
            cmds = []
            for i in range(self.BATCH):
                k = b"key:%d" % (b * self.BATCH + i)
                cmds.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nxyz\r\n" % (len(k), k))
            batches.append(b"".join(cmds))
        period = self.BATCH / self.rate
        with socket.create_connection(("127.0.0.1", self.port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending = 0
            t_next = time.perf_counter()
            n = 0
            while not self.stop.is_set():
                sock.sendall(batches[n % len(batches)])
                n += 1
                self.sent += self.BATCH
                pending += self.BATCH * 5
                while pending > 0:
                    data = sock.recv(1 << 16)
                    if not data:
                        return
                    pending -= len(data)
                self.acked = self.sent
                t_next += period
                delay = t_next - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -1.0:
                    t_next = time.perf_counter()  # fell behind by a second: do not burst to catch up

    def __enter__(self) -> PacedWriter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def lag_under_load(kind: str, tmp: Path, seconds: float, rate: float) -> tuple[float, list[float]]:
    """Lag = the master acknowledged a PUBLISH -> a subscriber on the replica received it.

    PUBLISH travels in the replication stream like a write (Redis propagates it to replicas and
    the replica delivers it to its subscribers), so the probe needs no polling: the subscriber
    blocks on its socket and the clock starts when the master's reply arrives."""
    mp, rp = free_port(), free_port()
    (tmp / f"{kind}-lm").mkdir()
    (tmp / f"{kind}-lr").mkdir()
    m = start(kind, mp, tmp / f"{kind}-lm", cpu=1)
    r = start(kind, rp, tmp / f"{kind}-lr", "--replicaof", "127.0.0.1", str(mp), cpu=0)
    try:
        rc = redis.Redis(port=rp)
        mc = redis.Redis(port=mp)
        while rc.info("replication").get("master_link_status") != "up":
            time.sleep(0.05)
        sub = rc.pubsub()
        sub.subscribe("lagprobe")
        assert sub.get_message(timeout=5) is not None  # the subscribe confirmation
        lags: list[float] = []
        with PacedWriter(mp, rate) as w:
            time.sleep(0.5)
            c0, t_start = w.acked, time.monotonic()
            deadline = t_start + seconds
            i = 0
            while time.monotonic() < deadline and len(lags) < 100_000:
                i += 1
                token = str(i).encode()
                mc.publish("lagprobe", token)
                t0 = time.perf_counter()  # acknowledged by the master: from here it is replication
                while True:
                    msg = sub.get_message(timeout=10)
                    if msg is None:
                        raise RuntimeError(f"{kind}: probe {i} never reached the replica's subscriber")
                    if msg["type"] == "message" and msg["data"] == token:
                        break
                lags.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.005)
            achieved = (w.acked - c0) / (time.monotonic() - t_start)
        sub.close()
        offsets = (mc.info("replication")["master_repl_offset"], rc.info("replication")["slave_repl_offset"])
        print(
            f"{kind}: paced SETs {achieved:,.0f}/s (target {rate:,.0f}); offsets at the end {offsets}",
            file=sys.stderr,
        )
        return achieved, lags
    finally:
        for p in (m, r):
            p.terminate()
            p.wait(timeout=60)


def wait_latency(kind: str, tmp: Path, n: int = 2000) -> list[float]:
    mp, rp = free_port(), free_port()
    (tmp / f"{kind}-wm").mkdir()
    (tmp / f"{kind}-wr").mkdir()
    m = start(kind, mp, tmp / f"{kind}-wm", cpu=1)
    r = start(kind, rp, tmp / f"{kind}-wr", "--replicaof", "127.0.0.1", str(mp), cpu=0)
    try:
        rc = redis.Redis(port=rp)
        while rc.info("replication").get("master_link_status") != "up":
            time.sleep(0.05)
        mc = redis.Redis(port=mp)
        out = []
        for i in range(n):
            t0 = time.perf_counter()
            mc.set("w", i)
            acked = mc.execute_command("WAIT", 1, 0)
            out.append((time.perf_counter() - t0) * 1000)
            assert acked == 1
        return out
    finally:
        for p in (m, r):
            p.terminate()
            p.wait(timeout=60)


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--lag-seconds", type=float, default=10.0)
    ap.add_argument("--load", type=float, default=0.5, help="write load as a fraction of our max rate")
    ap.add_argument("--skip-sync", action="store_true", help="skip the full-sync measurement")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sync = {} if args.skip_sync else {k: full_sync(k, args.keys, tmp) for k in ("redis", "hasentinel")}
        p = free_port()
        (tmp / "rate").mkdir()
        proc = start("hasentinel", p, tmp / "rate")
        try:
            our_max = max_set_rate(p)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        lag = {
            k: lag_under_load(k, tmp, args.lag_seconds, our_max * args.load) for k in ("redis", "hasentinel")
        }
        waits = {k: wait_latency(k, tmp) for k in ("redis", "hasentinel")}

    print(f"\nReplication, {args.keys:,} keys; hasentinel max SET rate at -P 16: {our_max:,.0f}/s\n")
    print("| measure | redis-server | hasentinel-server | ratio |")
    print("|---|---:|---:|---:|")
    if sync:
        print(
            f"| full sync of {args.keys:,} keys (s) | {sync['redis']:.2f} | {sync['hasentinel']:.2f} | "
            f"{sync['hasentinel'] / sync['redis']:.2f} |"
        )
    rr, lr = lag["redis"]
    ro, lo = lag["hasentinel"]
    print(f"| paced SET load during the lag probe (req/s) | {rr:,.0f} | {ro:,.0f} | {ro / rr:.2f} |")
    for name, q in (("median", 0.5), ("p99", 0.99)):
        a, b = pct(lr, q), pct(lo, q)
        print(f"| replication lag {name} (ms) | {a:.2f} | {b:.2f} | {b / a:.2f} |")
    a, b = max(lr), max(lo)
    print(f"| replication lag max (ms) | {a:.2f} | {b:.2f} | {b / a:.2f} |")
    for name, q in (("median", 0.5), ("p99", 0.99)):
        a, b = pct(waits["redis"], q), pct(waits["hasentinel"], q)
        print(f"| SET + WAIT 1 latency {name} (ms) | {a:.3f} | {b:.3f} | {b / a:.2f} |")
    print(
        f"\nlag samples: redis {len(lr)}, hasentinel {len(lo)}; median of means "
        f"{statistics.mean(lr):.2f} / {statistics.mean(lo):.2f} ms"
    )


if __name__ == "__main__":
    main()
