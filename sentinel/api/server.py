"""The sentinel's own RESP server: clients, redis-cli, redis-py and other sentinels connect here.

One task per connection reads requests (server.protocol.parser, the bundled server's parser) and
answers them in order; a writer task per connection drains its output. Commands are in
`sentinel.api.commands`. Pub/sub subscribers receive the sentinel's events (`publish`, called by
the runtime for every Publish action above debug level).
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
import trio

from sentinel.api import encode
from sentinel.api.commands import execute
from sentinel.core.glob import glob_match
from server.protocol.parser import Limits, ProtocolError, RequestParser

if TYPE_CHECKING:
    from sentinel.runtime.runtime import Runtime

log = structlog.get_logger("sentinel.api")

READ_SIZE = 65536
OUTPUT_LIMIT = 32 * 1024 * 1024
"""Unsent output above which a client is dropped (stock's pubsub hard limit)."""
HIGH_WATER = 1 << 20
"""Stop reading a client whose unsent replies exceed this."""
CLOSE_FLUSH_TIMEOUT = 1.0


class ApiClient:
    """One client connection's state."""

    def __init__(self, cid: int, stream: trio.SocketStream, addr: str, laddr: str, fd: int) -> None:
        self.id = cid
        self.stream = stream
        self.addr = addr
        self.laddr = laddr
        self.fd = fd
        self.name = ""
        self.lib_name = ""
        self.lib_ver = ""
        self.proto = 2
        self.authenticated = False
        self.channels: set[str] = set()
        self.patterns: set[str] = set()
        self.created = time.monotonic()
        self.last_interaction = self.created
        self.last_cmd = "NULL"
        self.qbuf = 0
        self.close_after_reply = False
        self.closed = False
        self._out: list[bytes] = []
        self.out_bytes = 0
        self._wake = trio.Event()
        self._drained = trio.Event()
        self._drained.set()
        self.scope: trio.CancelScope | None = None
        self.on_close: Callable[[ApiClient], None] | None = None

    @property
    def subscribed(self) -> bool:
        """In pub/sub mode (RESP2 restricts the commands then)."""
        return bool(self.channels or self.patterns)

    def write(self, data: bytes) -> None:
        """Queue output; a client that stops reading is dropped at OUTPUT_LIMIT."""
        if self.closed or not data:
            return
        self._out.append(data)
        self.out_bytes += len(data)
        if self._drained.is_set():
            self._drained = trio.Event()
        self._wake.set()
        if self.out_bytes > OUTPUT_LIMIT:
            log.warning("client output buffer limit reached, closing client", client_id=self.id, addr=self.addr)
            self.kill()

    def kill(self) -> None:
        """Disconnect now (gone from CLIENT LIST at once, as stock)."""
        self.closed = True
        if self.on_close is not None:
            self.on_close(self)
        self._out.clear()
        self.out_bytes = 0
        self._drained.set()
        if self.scope is not None:
            self.scope.cancel()

    async def writer(self) -> None:
        """Drain queued output in order."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            while self._out:
                data = b"".join(self._out)
                self._out.clear()
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    self.kill()
                    return
                self.out_bytes = max(0, self.out_bytes - len(data))
            self.out_bytes = 0
            self._drained.set()

    async def wait_drained(self) -> None:
        """Until everything queued so far is sent (or the client is gone)."""
        await self._drained.wait()

    def flags(self) -> str:
        """CLIENT LIST flags."""
        return "P" if self.subscribed else "N"

    def info_line(self) -> str:
        """One CLIENT LIST line (stock 7.0 fields plus 7.2's lib-name/lib-ver)."""
        now = time.monotonic()
        return (
            f"id={self.id} addr={self.addr} laddr={self.laddr} fd={self.fd} name={self.name} "
            f"age={int(now - self.created)} idle={int(now - self.last_interaction)} flags={self.flags()} "
            f"db=0 sub={len(self.channels)} psub={len(self.patterns)} ssub=0 multi=-1 qbuf={self.qbuf} "
            f"qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem={self.out_bytes} "
            f"tot-mem={self.out_bytes + 1024} events=r cmd={self.last_cmd} user=default redir=-1 "
            f"resp={self.proto} lib-name={self.lib_name} lib-ver={self.lib_ver}"
        )


class ApiServer:
    """Listeners, connections, and event delivery to subscribers."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.clients: dict[int, ApiClient] = {}
        self.next_client_id = 1
        self.bound_port = 0
        self.run_id = _random_hex(40)
        self.stat_connections = 0
        self.stat_commands = 0
        self.stat_net_in = 0
        self.stat_net_out = 0
        self.stat_errors = 0
        self.stat_rejected = 0

    # --- listening ---------------------------------------------------------------------------

    def _bind(self) -> list[trio.SocketListener]:
        cfg = self.rt.config
        specs = list(cfg.bind) or ["*", "-::*"]
        out: list[trio.SocketListener] = []
        errors: list[str] = []
        for spec in specs:
            optional = spec.startswith("-")
            host = spec[1:] if optional else spec
            if host == "*":
                host = "0.0.0.0"
            elif host == "::*":
                host = "::"
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_STREAM)
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((host, cfg.port))
                s.listen(511)
            except OSError as e:
                s.close()
                if optional and e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
                    continue
                errors.append(f"{host}:{cfg.port}: {e.strerror}")
                continue
            out.append(trio.SocketListener(trio.socket.from_stdlib_socket(s)))
        if errors or not out:
            for ls in out:
                ls.socket.close()
            raise OSError("Could not create server TCP listening socket " + "; ".join(errors or ["nothing to bind"]))
        self.bound_port = out[0].socket.getsockname()[1]
        return out

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Bind (port from the config; 0 means no listener, as stock), then accept forever."""
        if self.rt.config.port == 0:
            log.warning("port 0: not listening for clients")
            task_status.started()
            return
        listeners = self._bind()
        log.info("sentinel listening", port=self.bound_port, bind=list(self.rt.config.bind) or ["*", "-::*"])
        async with trio.open_nursery() as nursery:
            for ls in listeners:
                nursery.start_soon(self._accept_loop, ls, nursery)
            task_status.started()

    async def _accept_loop(self, ls: trio.SocketListener, nursery: trio.Nursery) -> None:
        try:
            while True:
                try:
                    stream = await ls.accept()
                except OSError as e:
                    if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                        log.warning("accept failed", error=e.strerror)
                        await trio.sleep(0.1)
                        continue
                    raise
                nursery.start_soon(self._serve_client, stream)
        finally:
            ls.socket.close()

    # --- one connection ----------------------------------------------------------------------

    async def _serve_client(self, stream: trio.SocketStream) -> None:
        sock = stream.socket
        try:
            addr = _fmt_addr(sock.getpeername())
            laddr = _fmt_addr(sock.getsockname())
        except OSError:
            sock.close()
            return
        client = ApiClient(self.next_client_id, stream, addr, laddr, sock.fileno())
        self.next_client_id += 1
        client.authenticated = not self.rt.config.requirepass
        client.on_close = self._forget
        self.clients[client.id] = client
        self.stat_connections += 1
        try:
            with trio.CancelScope() as scope:
                client.scope = scope
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(client.writer)
                    await self._read_loop(client)
                    with trio.move_on_after(CLOSE_FLUSH_TIMEOUT):
                        await client.wait_drained()
                    nursery.cancel_scope.cancel()
        finally:
            client.closed = True
            self.clients.pop(client.id, None)
            sock.close()
            log.debug("client closed", client_id=client.id, addr=client.addr, cmd=client.last_cmd)

    def _forget(self, client: ApiClient) -> None:
        self.clients.pop(client.id, None)

    async def _read_loop(self, client: ApiClient) -> None:
        limits = Limits(authenticated=client.authenticated)
        parser = RequestParser(limits)
        stream = client.stream
        while True:
            if client.out_bytes > HIGH_WATER:
                await client.wait_drained()
            try:
                data = await stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return
            if not data:
                return
            client.last_interaction = time.monotonic()
            self.stat_net_in += len(data)
            limits.authenticated = client.authenticated
            try:
                parser.feed(data)
                while True:
                    argv = parser.next_command()
                    if argv is None:
                        break
                    client.qbuf = parser.buffered
                    reply = await execute(self, client, argv)
                    self.stat_commands += 1
                    if reply:
                        if reply[:1] == b"-":
                            self.stat_errors += 1
                        self.stat_net_out += len(reply)
                        client.write(reply)
                    if client.close_after_reply or client.closed:
                        return
                    limits.authenticated = client.authenticated
            except ProtocolError as e:
                client.write(e.reply)
                log.info("protocol error from client", client_id=client.id, addr=client.addr, error=e.detail)
                return
            client.qbuf = parser.buffered

    # --- pub/sub -----------------------------------------------------------------------------

    def publish(self, channel: str, payload: str) -> int:
        """Deliver an event to subscribers of `channel` and of matching patterns."""
        n = 0
        ch = encode.bulk(channel)
        msg = encode.bulk(payload)
        for c in list(self.clients.values()):
            if not c.subscribed or c.closed:
                continue
            if channel in c.channels:
                c.write(encode.push([b"$7\r\nmessage\r\n", ch, msg], c.proto))
                n += 1
            for p in c.patterns:
                if glob_match(p, channel):
                    c.write(encode.push([b"$8\r\npmessage\r\n", encode.bulk(p), ch, msg], c.proto))
                    n += 1
        return n

    def pubsub_counts(self) -> tuple[int, int]:
        """Distinct channels and patterns subscribed (INFO stats)."""
        chans: set[str] = set()
        pats: set[str] = set()
        for c in self.clients.values():
            chans |= c.channels
            pats |= c.patterns
        return len(chans), len(pats)


def _fmt_addr(a: object) -> str:
    if isinstance(a, tuple) and len(a) >= 2:
        host, port = a[0], a[1]
        return f"{host}:{port}"
    return f"{a}:0"


def _random_hex(n: int) -> str:
    import os

    return os.urandom(n // 2 + 1).hex()[:n]

