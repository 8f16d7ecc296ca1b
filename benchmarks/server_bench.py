"""Side-by-side throughput and memory: hasentinel-server vs stock redis-server, in one run.

    .venv/bin/python benchmarks/server_bench.py [--requests 200000] [--clients 50] [--keys 1000000]

Both servers run pinned to CPU 1 and redis-benchmark to CPU 0 (when the machine has two cores),
so the two rows compete for the same resources; figures move between runs on a shared VM, the
ratios measured in one run are what to compare. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = "set,get,ping,lpush,lpop,incr"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"no server on port {port}")


def pin(cpu: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu)]
    return []


def start(kind: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    common = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    argv = [sys.executable, "-m", "server", *common] if kind == "hasentinel" else ["redis-server", *common]
    p = subprocess.Popen([*pin(1), *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p


def bench(port: int, pipeline: int, requests: int, clients: int) -> dict[str, float]:
    out = subprocess.run(
        [*pin(0), "redis-benchmark", "-p", str(port), "-t", TESTS, "-c", str(clients), "-n", str(requests),
         "-P", str(pipeline), "--csv"],
        capture_output=True, text=True, timeout=900, check=True,
    ).stdout
    rows: dict[str, float] = {}
    for row in csv.reader(io.StringIO(out)):
        if len(row) >= 2 and row[0] != "test":
            name = row[0].split()[0]
            rows[name] = float(row[1])
    return rows


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def load_keys(port: int, n: int) -> None:
    """n keys `key:<i>` = `value:<i>` through one pipelined raw connection."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        batch = 10_000
        for start_i in range(0, n, batch):
            end_i = min(n, start_i + batch)
            buf = b"".join(
                b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(k), k, len(v), v)
                for k, v in ((b"key:%d" % i, b"value:%d" % i) for i in range(start_i, end_i))
            )
            s.sendall(buf)
            want = (end_i - start_i) * 5
            got = 0
            while got < want:
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("server closed the connection while loading")
                got += len(chunk)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--keys", type=int, default=1_000_000)
    args = ap.parse_args()
    if shutil.which("redis-server") is None or shutil.which("redis-benchmark") is None:
        sys.exit("needs redis-server and redis-benchmark (apt-get install redis-server redis-tools)")

    results: dict[str, dict[int, dict[str, float]]] = {}
    rss: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("redis", "hasentinel"):
            port = free_port()
            proc = start(kind, port, Path(tmp))
            try:
                results[kind] = {p: bench(port, p, args.requests * (4 if p > 1 else 1), args.clients) for p in (1, 16)}
                subprocess.run(["redis-cli", "-p", str(port), "flushall"], capture_output=True, timeout=60)
                time.sleep(0.5)
                before = rss_kb(proc.pid)
                load_keys(port, args.keys)
                time.sleep(0.5)
                rss[kind] = (before, rss_kb(proc.pid))
            finally:
                proc.terminate()
                proc.wait(timeout=30)

    print(f"\nredis-benchmark -c {args.clients}, -n {args.requests} at -P 1, {args.requests * 4} at -P 16 "
          f"(req/s; ratio = hasentinel / redis, same run)\n")
    print("| test | -P | redis-server | hasentinel-server | ratio |")
    print("|---|---|---:|---:|---:|")
    for p in (1, 16):
        for name in TESTS.upper().split(","):
            keys = [k for k in results["redis"][p] if k.startswith(name)]
            for k in keys:
                ours = results["hasentinel"][p].get(k, 0.0)
                ref = results["redis"][p][k]
                print(f"| {k} | {p} | {ref:,.0f} | {ours:,.0f} | {ours / ref:.2f} |")
    print(f"\nRSS after loading {args.keys:,} keys (key:<i> = value:<i>):\n")
    print("| server | RSS empty | RSS loaded | growth | ratio |")
    print("|---|---:|---:|---:|---:|")
    g_ref = rss["redis"][1] - rss["redis"][0]
    for kind in ("redis", "hasentinel"):
        b, a = rss[kind]
        print(f"| {kind} | {b / 1024:.1f} MiB | {a / 1024:.1f} MiB | {(a - b) / 1024:.1f} MiB | {(a - b) / g_ref:.2f} |")


if __name__ == "__main__":
    main()
