"""The client workload: `python -m sentinel.drill.workload write|verify ...` (on the client node).

`write`: one connection through the VIP (redis-py, no retries of its own, short timeouts),
writes `<prefix><seq>` = `<seq>` every `--interval` seconds, alternating a plain SET and a SET
followed by `WAIT 1 <wait-ms>`, and prints one JSON line per attempt:

    {"k": "op", "seq": int, "kind": "set"|"wait", "t0": mono, "t1": mono, "w1": wall,
     "ok": bool, "repl": int|null, "rid": str|null, "err": str|null}

`ok` is the SET's acknowledgement; `repl` the WAIT's reply (replicas that acknowledged, for
"wait"; null with `ok` true and an `err` when the SET was acknowledged but the WAIT failed); `rid` the run id of the server that answered (asked with INFO server on every new
connection: which server acknowledged). After any error the connection is dropped and the next
attempt reconnects. Stops when stdin closes, on SIGTERM, or after `--max-seconds`.

`verify`: reads every `<prefix>1..<max-seq>` back (MGET in chunks, bounded retries) and prints
{"k": "verify", "rid": str, "role": str, "checked": int, "missing": [seq...], "wrong": [seq...]}.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any

_stop = threading.Event()


def _out(rec: dict[str, Any]) -> None:
    try:
        sys.stdout.write(json.dumps(rec, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        _stop.set()


def _client(host: str, port: int, timeout: float) -> tuple[Any, str]:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    c = redis.Redis(
        host=host,
        port=port,
        socket_timeout=timeout,
        socket_connect_timeout=min(timeout, 0.1),
        single_connection_client=True,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )
    try:
        rid = str(c.info("server").get("run_id"))
    except Exception:
        c.close()
        raise
    return c, rid


def write(a: argparse.Namespace) -> int:
    c: Any = None
    rid: str | None = None
    seq = 0
    deadline = time.monotonic() + a.max_seconds
    while not _stop.is_set() and time.monotonic() < deadline:
        seq += 1
        kind = "wait" if seq % 2 == 0 else "set"
        t0 = time.monotonic()
        ok = False
        repl: int | None = None
        err: str | None = None
        by: str | None = None  # the run id of the server that acknowledged the SET
        try:
            if c is None:
                c, rid = _client(a.host, a.port, a.timeout)
            ok = c.set(f"{a.prefix}{seq}", str(seq)) is True
            by = rid if ok else None
            if ok and kind == "wait":
                repl = int(c.execute_command("WAIT", 1, a.wait_ms))
        except Exception as e:
            err = f"{type(e).__name__}: {e}"[:200]
            if c is not None:
                try:
                    c.close()
                except Exception:
                    pass
            c, rid = None, None
        t1 = time.monotonic()
        _out({"k": "op", "seq": seq, "kind": kind, "t0": t0, "t1": t1, "w1": time.time(), "ok": ok,
              "repl": repl, "rid": by, "err": err})  # fmt: skip
        _stop.wait(a.interval)
    _out({"k": "end", "seq": seq})
    return 0


def verify(a: argparse.Namespace) -> int:
    last: Exception | None = None
    for _ in range(a.attempts):
        try:
            c, rid = _client(a.host, a.port, 2.0)
            role = str(c.execute_command("ROLE")[0])
            missing: list[int] = []
            wrong: list[int] = []
            for lo in range(1, a.max_seq + 1, 1000):
                seqs = list(range(lo, min(lo + 1000, a.max_seq + 1)))
                vals = c.mget([f"{a.prefix}{s}" for s in seqs])
                for s, v in zip(seqs, vals, strict=True):
                    if v is None:
                        missing.append(s)
                    elif v != str(s):
                        wrong.append(s)
            c.close()
            _out(
                {
                    "k": "verify",
                    "rid": rid,
                    "role": role,
                    "checked": a.max_seq,
                    "missing": missing,
                    "wrong": wrong,
                }
            )
            return 0
        except Exception as e:
            last = e
            time.sleep(0.5)
    _out({"k": "verify-failed", "error": str(last)})
    return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sentinel.drill.workload")
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    v = sub.add_parser("verify")
    for p in (w, v):
        p.add_argument("--host", required=True)
        p.add_argument("--port", type=int, default=6379)
        p.add_argument("--prefix", required=True)
    w.add_argument("--interval", type=float, default=0.01)
    w.add_argument("--timeout", type=float, default=0.5)
    w.add_argument("--wait-ms", type=int, default=200)
    w.add_argument("--max-seconds", type=float, default=600.0)
    v.add_argument("--max-seq", type=int, required=True)
    v.add_argument("--attempts", type=int, default=20)
    a = ap.parse_args(argv)
    if a.cmd == "verify":
        return verify(a)
    signal.signal(signal.SIGTERM, lambda *_: _stop.set())

    def watch_stdin() -> None:
        sys.stdin.read()
        _stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    return write(a)


if __name__ == "__main__":
    raise SystemExit(main())
