"""Side-by-side throughput, server CPU and memory: hasentinel-server vs stock redis-server.

    .venv/bin/python benchmarks/server_bench.py [--requests 200000] [--clients 50] [--keys 1000000]
        [--tests set,get,...] [--pipelines 1,16] [--repeat N]

Both servers run at once, pinned to CPU 1, and redis-benchmark to CPU 0 (when the machine has two
cores); each test runs as its own redis-benchmark invocation, alternately against each server, so
both see the same machine. Figures move between runs on a shared VM: compare the ratios measured
in one run. Prints Markdown tables.

Throughput depends on whatever else the machine is doing; the server's CPU time per request
(utime + stime from /proc/<pid>/stat, read before and after each run of a fixed request count)
much less so. With --repeat N each test runs N times per server and the best run counts.
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


def start(kind: str, port: int, workdir: Path, *extra: str, cpu: int = 1) -> subprocess.Popen[bytes]:
    """A server of `kind` (hasentinel or redis) without persistence, pinned to `cpu`."""
    common = [
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        *extra,
    ]
    argv = [sys.executable, "-m", "server", *common] if kind == "hasentinel" else ["redis-server", *common]
    p = subprocess.Popen([*pin(cpu), *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def bench_one(
    pid: int, port: int, pipeline: int, requests: int, clients: int, test: str
) -> dict[str, tuple[float, float]]:
    """One redis-benchmark run of one test: {name: (requests/s, server CPU µs per request)}."""
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(
        [
            *pin(0),
            "redis-benchmark",
            "-p",
            str(port),
            "-t",
            test,
            "-c",
            str(clients),
            "-n",
            str(requests),
            "-P",
            str(pipeline),
            "--csv",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    ).stdout
    cpu = cpu_seconds(pid) - cpu0
    found = [row for row in csv.reader(io.StringIO(out)) if len(row) >= 2 and row[0] != "test"]
    # "ping" runs two tests (inline and multibulk): they share the CPU time measured.
    return {row[0].split()[0]: (float(row[1]), cpu * 1e6 / (requests * len(found))) for row in found}


def warm_up(port: int, clients: int) -> None:
    """A short unmeasured run first, so neither server's first test pays for its start."""
    subprocess.run(
        [*pin(0), "redis-benchmark", "-p", str(port), "-t", TESTS, "-c", str(clients), "-n", "20000", "-q"],
        capture_output=True,
        timeout=300,
        check=True,
    )
    subprocess.run(["redis-cli", "-p", str(port), "flushall"], capture_output=True, timeout=60)


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
    ap.add_argument("--keys", type=int, default=1_000_000, help="keys loaded for the RSS table (0: skip it)")
    ap.add_argument("--tests", default=TESTS)
    ap.add_argument("--pipelines", default="1,16", help="comma-separated -P values")
    ap.add_argument("--repeat", type=int, default=1, help="runs per test, the best one counts")
    args = ap.parse_args()
    pipelines = [int(p) for p in args.pipelines.split(",")]
    tests = args.tests.lower()
    if shutil.which("redis-server") is None or shutil.which("redis-benchmark") is None:
        sys.exit("needs redis-server and redis-benchmark (apt-get install redis-server redis-tools)")

    kinds = ("redis", "hasentinel")
    results: dict[str, dict[int, dict[str, tuple[float, float]]]] = {
        k: {p: {} for p in pipelines} for k in kinds
    }
    rss: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # Both servers run at once and every test alternates between them, so both see the same
        # machine (other load comes and goes); with --repeat, each keeps its best run.
        procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        try:
            for kind in kinds:
                port = free_port()
                procs[kind] = (start(kind, port, Path(tmp)), port)
            for kind in kinds:
                warm_up(procs[kind][1], args.clients)
            for p in pipelines:
                requests = args.requests * (4 if p > 1 else 1)
                for test in tests.split(","):
                    for _ in range(args.repeat):
                        for kind in kinds:
                            proc, port = procs[kind]
                            for name, (rps, us) in bench_one(
                                proc.pid, port, p, requests, args.clients, test
                            ).items():
                                prev = results[kind][p].get(name)
                                best = (rps, us) if prev is None else (max(prev[0], rps), min(prev[1], us))
                                results[kind][p][name] = best
            if args.keys:
                for kind in kinds:
                    proc, port = procs[kind]
                    subprocess.run(
                        ["redis-cli", "-p", str(port), "flushall"], capture_output=True, timeout=60
                    )
                    time.sleep(0.5)
                    before = rss_kb(proc.pid)
                    load_keys(port, args.keys)
                    time.sleep(0.5)
                    rss[kind] = (before, rss_kb(proc.pid))
        finally:
            for proc, _ in procs.values():
                proc.terminate()
                proc.wait(timeout=30)

    reqs = ", ".join(f"{args.requests * (4 if p > 1 else 1)} at -P {p}" for p in pipelines)
    print(f"\nredis-benchmark -c {args.clients}, -n {reqs} (req/s; ratio = hasentinel / redis, same run)\n")
    print("| test | -P | redis-server | hasentinel-server | ratio |")
    print("|---|---|---:|---:|---:|")
    for p in pipelines:
        for name in tests.upper().split(","):
            for k in [k for k in results["redis"][p] if k.startswith(name)]:
                ours = results["hasentinel"][p].get(k, (0.0, 0.0))[0]
                ref = results["redis"][p][k][0]
                print(f"| {k} | {p} | {ref:,.0f} | {ours:,.0f} | {ours / ref:.2f} |")
    print(
        "\nServer CPU µs/request (utime + stime of the server process over each test's run; "
        "ratio = hasentinel / redis, target <= 1.5)\n"
    )
    print("| test | -P | redis-server | hasentinel-server | ratio |")
    print("|---|---|---:|---:|---:|")
    for p in pipelines:
        for name in tests.upper().split(","):
            for k in [k for k in results["redis"][p] if k.startswith(name)]:
                ours = results["hasentinel"][p].get(k, (0.0, 0.0))[1]
                ref = results["redis"][p][k][1]
                ratio = f"{ours / ref:.2f}" if ref else "n/a"
                print(f"| {k} | {p} | {ref:.2f} | {ours:.2f} | {ratio} |")
    if not args.keys:
        return
    print(f"\nRSS after loading {args.keys:,} keys (key:<i> = value:<i>):\n")
    print("| server | RSS empty | RSS loaded | growth | ratio |")
    print("|---|---:|---:|---:|---:|")
    g_ref = rss["redis"][1] - rss["redis"][0]
    for kind in ("redis", "hasentinel"):
        b, a = rss[kind]
        print(
            f"| {kind} | {b / 1024:.1f} MiB | {a / 1024:.1f} MiB | {(a - b) / 1024:.1f} MiB | {(a - b) / g_ref:.2f} |"
        )


if __name__ == "__main__":
    main()
