"""A stand-in child for supervisor tests: `python fakechild.py <server|sentinel> <config> --port N ...`.

It takes the command line the supervisor gives the real server/sentinel, listens on `--port`
(127.0.0.1), answers PING, and as a fake sentinel answers `SENTINEL GET-MASTER-ADDR-BY-NAME`,
`SENTINEL MASTER` and `SENTINEL IS-MASTER-DOWN-HINT` from a JSON file the test controls. It
records every command and signal, with CLOCK_MONOTONIC times (comparable across processes), as
JSON lines. Settings come from the environment (the supervisor passes its own on):

* FAKE_RECORD_DIR: records go to `<dir>/<role>.jsonl`
* FAKE_VIEW: JSON `{"masters": {name: {"addr": [host, port], "epoch": n, "replicas": n}},
  "hint": "ok" | "unsupported"}`, read at every request (missing master: null reply)
* FAKE_TERM_DELAY_<ROLE>: seconds between SIGTERM and exit (default 0)
* FAKE_IGNORE_TERM_<ROLE>=1: ignore SIGTERM (the supervisor must SIGKILL it)
* FAKE_MUTE_<ROLE>=1: accept connections but never answer (a hung process)

Also usable in-process: `FakeSentinel(port, view_path, record_path).serve_in_thread()`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _bulk(s: str) -> bytes:
    b = s.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


def _array(items: list[str]) -> bytes:
    return b"*%d\r\n" % len(items) + b"".join(_bulk(x) for x in items)


def parse_commands(buf: bytearray) -> list[list[str]]:
    """Complete RESP arrays of bulk strings at the start of `buf` (consumed)."""
    out: list[list[str]] = []
    while True:
        if not buf.startswith(b"*"):
            if b"\r\n" in buf:  # inline command
                line, _, _rest = bytes(buf).partition(b"\r\n")
                del buf[: len(line) + 2]
                if line.strip():
                    out.append(line.decode(errors="replace").split())
                continue
            return out
        pos = buf.find(b"\r\n")
        if pos < 0:
            return out
        n = int(buf[1:pos])
        i = pos + 2
        argv: list[str] = []
        for _ in range(n):
            e = buf.find(b"\r\n", i)
            if e < 0:
                return out
            ln = int(buf[i + 1 : e])
            if len(buf) < e + 2 + ln + 2:
                return out
            argv.append(bytes(buf[e + 2 : e + 2 + ln]).decode(errors="replace"))
            i = e + 2 + ln + 2
        del buf[:i]
        out.append(argv)


class FakeSentinel:
    """A RESP responder: PING, AUTH, SENTINEL GET-MASTER-ADDR-BY-NAME / MASTER / IS-MASTER-DOWN-HINT."""

    def __init__(self, port: int, view_path: Path | None, record: Path | None, mute: bool = False) -> None:
        self.port = port
        self.view_path = view_path
        self.record_path = record
        self.mute = mute
        self.lock = threading.RLock()  # a signal handler may interrupt another one holding it
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)

    def record(self, **rec: Any) -> None:
        if self.record_path is None:
            return
        rec.setdefault("t", time.monotonic())
        rec.setdefault("pid", os.getpid())
        with self.lock, open(self.record_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def view(self) -> dict[str, Any]:
        if self.view_path is None:
            return {}
        try:
            return dict(json.loads(self.view_path.read_text()))
        except (OSError, ValueError):
            return {}

    def reply(self, argv: list[str]) -> bytes:
        cmd = argv[0].upper() if argv else ""
        if cmd == "PING":
            return b"+PONG\r\n"
        if cmd != "SENTINEL" or len(argv) < 2:
            return b"+OK\r\n"
        sub = argv[1].upper()
        v = self.view()
        m = v.get("masters", {}).get(argv[2]) if len(argv) > 2 else None
        if sub == "GET-MASTER-ADDR-BY-NAME":
            if not m:
                return b"*-1\r\n"
            return _array([str(m["addr"][0]), str(m["addr"][1])])
        if sub == "MASTER":
            if not m:
                return b"-ERR No such master with that name\r\n"
            return _array(
                [
                    "name",
                    argv[2],
                    "ip",
                    str(m["addr"][0]),
                    "port",
                    str(m["addr"][1]),
                    "flags",
                    "master",
                    "num-slaves",
                    str(m.get("replicas", 0)),
                    "config-epoch",
                    str(m.get("epoch", 0)),
                ]
            )
        if sub == "IS-MASTER-DOWN-HINT":
            if v.get("hint", "unsupported") == "unsupported":
                return b"-ERR unknown subcommand 'is-master-down-hint'. Try SENTINEL HELP.\r\n"
            return b"+OK\r\n"
        return b"-ERR unknown subcommand\r\n"

    def handle(self, conn: socket.socket) -> None:
        buf = bytearray()
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                if self.mute:
                    continue
                buf += data
                for argv in parse_commands(buf):
                    self.record(kind="command", argv=argv)
                    try:
                        conn.sendall(self.reply(argv))
                    except OSError:
                        return

    def serve_forever(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def serve_in_thread(self) -> FakeSentinel:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.sock.close()


def main() -> None:
    role = sys.argv[1]
    args = sys.argv[2:]
    port = int(args[args.index("--port") + 1])
    env = os.environ
    rec_dir = env.get("FAKE_RECORD_DIR")
    record = Path(rec_dir) / f"{role}.jsonl" if rec_dir else None
    view = Path(env["FAKE_VIEW"]) if env.get("FAKE_VIEW") else None
    up = role.upper()
    fake = FakeSentinel(port, view, record, mute=env.get(f"FAKE_MUTE_{up}") == "1")
    term_delay = float(env.get(f"FAKE_TERM_DELAY_{up}", "0"))
    ignore_term = env.get(f"FAKE_IGNORE_TERM_{up}") == "1"
    env_keys = sorted(k for k in env if k.startswith(("NOTIFY_", "WATCHDOG_", "LISTEN_")))
    fake.record(kind="start", argv=args, env_systemd=env_keys)

    def on_signal(signum: int, _frame: Any) -> None:
        fake.record(kind="signal", signal=signal.Signals(signum).name)
        if signum == signal.SIGTERM and not ignore_term:
            time.sleep(term_delay)
            fake.record(kind="exit")
            os._exit(0)

    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(s, on_signal)
    fake.serve_forever()


if __name__ == "__main__":
    main()
