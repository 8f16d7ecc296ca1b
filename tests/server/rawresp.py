"""Raw RESP connections for wire-exact tests (pub/sub, transactions, CLIENT, limits).

Why raw sockets: client libraries hide exactly what these tests check (push vs array framing,
null encodings, error texts, when a connection is closed). `Raw` returns each reply as the exact
bytes the server sent; `transcript` runs a pipelined script and returns the whole byte stream,
normalised where Redis itself varies (ids, addresses, ages), so ours and stock Redis can be
compared byte for byte.
"""

from __future__ import annotations

import re
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, free_port, our_server_argv, stock_server_argv

Arg = bytes | str | int


def encode(args: Sequence[Arg]) -> bytes:
    """A command as a RESP multibulk request."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def reply_end(buf: bytes, pos: int = 0) -> int | None:
    """Index just past the RESP2/RESP3 reply starting at `pos`, or None if it is incomplete."""
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        return None
    kind = buf[pos : pos + 1]
    head = buf[pos + 1 : nl]
    after = nl + 2
    if kind in (b"+", b"-", b":", b"_", b",", b"#", b"("):
        return after
    if kind in (b"$", b"=", b"!"):
        n = int(head)
        if n < 0:
            return after
        return after + n + 2 if len(buf) >= after + n + 2 else None
    if kind in (b"*", b"~", b">", b"%", b"|"):
        n = int(head)
        if n < 0:
            return after
        if kind in (b"%", b"|"):
            n *= 2
        p: int | None = after
        for _ in range(n):
            assert p is not None
            p = reply_end(buf, p)
            if p is None:
                return None
        if kind == b"|":  # an attribute precedes the actual reply
            return reply_end(buf, p) if p is not None else None
        return p
    raise AssertionError(f"not a RESP reply: {buf[pos : pos + 40]!r}")


class Closed(Exception):
    """The server closed the connection before the expected reply was complete."""


class Raw:
    """One RESP connection to 127.0.0.1:`port`, replies returned as raw bytes; every wait bounded."""

    def __init__(self, port: int, timeout: float = 10.0, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def send(self, *args: Arg) -> None:
        self.sock.sendall(encode(args))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no reply in time")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            raise Closed(self.buf)
        self.buf += data

    def read(self, timeout: float | None = None) -> bytes:
        """The next complete reply (raises Closed on EOF, TimeoutError after `timeout`)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if self.buf:
                end = reply_end(self.buf)
                if end is not None:
                    out, self.buf = self.buf[:end], self.buf[end:]
                    return out
            self._fill(deadline)

    def call(self, *args: Arg) -> bytes:
        self.send(*args)
        return self.read()

    def read_until(self, marker: bytes, timeout: float | None = None) -> bytes:
        """Everything up to and including `marker` (or up to EOF)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while marker not in self.buf:
            try:
                self._fill(deadline)
            except Closed:
                out, self.buf = self.buf, b""
                return out
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def nothing_within(self, seconds: float) -> bool:
        """True if no byte (and no EOF) arrives within `seconds`."""
        if self.buf:
            return False
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
        self.buf += data
        return False

    def wait_closed(self, timeout: float = 10.0) -> bytes:
        """Read until the server closes the connection; returns what arrived meanwhile."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            try:
                self._fill(deadline)
            except Closed:
                break
        out, self.buf = self.buf, b""
        return out

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


END = b"__end_of_script__"

_MASKS = [
    (re.compile(rb"\bid=\d+"), b"id=#"),
    (re.compile(rb"\b(l?addr)=\S+"), rb"\1=#"),
    (
        re.compile(rb"\b(fd|age|idle|qbuf|qbuf-free|argv-mem|multi-mem|rbs|rbp|obl|oll|omem|tot-mem)=\d+"),
        rb"\1=#",
    ),
    (re.compile(rb" lib-name=\S* lib-ver=\S*"), b""),
]
_HELLO_ID = re.compile(rb"(\$2\r\nid\r\n):\d+\r\n")


def normalise(data: bytes) -> bytes:
    """Mask what legitimately differs between two servers: client ids, addresses, sizes, ages,
    the 7.2 lib-name/lib-ver fields; verbatim/bulk lengths are recomputed after masking."""

    def fix_blob(m: re.Match[bytes]) -> bytes:
        body = m.group(3)
        for pat, rep in _MASKS:
            body = pat.sub(rep, body)
        return m.group(1) + b"%d" % len(body) + b"\r\n" + body + b"\r\n"

    # Bulk/verbatim strings holding CLIENT LIST/INFO lines.
    data = re.sub(rb"([$=])(\d+)\r\n((?:txt:)?id=\d+ [^\r]*\n)\r\n", fix_blob, data)
    return _HELLO_ID.sub(rb"\1:#\r\n", data)  # HELLO's client id


def transcript(port: int, script: Sequence[Sequence[Arg]], timeout: float = 15.0) -> bytes:
    """Send `script` pipelined on a fresh connection, then `PING <END>`; return the normalised
    byte stream up to that marker (or to EOF if the script closes the connection)."""
    with Raw(port, timeout=timeout) as conn:
        conn.send_raw(b"".join(encode(cmd) for cmd in script) + encode(["PING", END]))
        return normalise(conn.read_until(END + b"\r\n", timeout))


def client_id(conn: Raw) -> int:
    """This connection's CLIENT ID."""
    r = conn.call("CLIENT", "ID")
    assert r.startswith(b":"), r
    return int(r[1:-2])


def wait_until(pred: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll `pred()` until true or `timeout` seconds pass; returns whether it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# --- servers shared by a whole test module -------------------------------------------------------


def start_module_server(tmp: Path, *extra: str, stock: bool = False) -> ServerProcess:
    """A server for a module-scoped fixture (the conftest fixtures are per test): ours, or stock
    Redis (skipped when it is not installed); the caller stops it."""
    if stock and shutil.which("redis-server") is None:
        pytest.skip("stock redis-server is not installed")
    port = free_port()
    d = tmp / f"{'stock' if stock else 'ours'}-{port}"
    d.mkdir(parents=True, exist_ok=True)
    argv = (stock_server_argv if stock else our_server_argv)(port, "--dir", str(d), "--save", "", *extra)
    if stock:
        argv += ["--appendonly", "no"]
    return ServerProcess(argv, port, d, d / "server.log").start()
