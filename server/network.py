"""Trio I/O around the engine: listeners, one task per connection, timers.

The data path follows what measured fastest here (shared/docs/server-performance.md): a stdlib
non-blocking socket, `recv` tried before waiting, every complete command of a read executed and
answered with one `send`. A connection with nothing to read does not wait in Trio (one epoll
re-registration and two task switches per request): its task parks, and the lane (`_lane_loop`,
one task with its own epoll, Redis's event loop in miniature) reads and runs whatever each ready
connection sent, then sends the round's replies in one burst, until a connection has to wait (a
blocking command, CLIENT PAUSE, a full output buffer) or ends and goes back to its task. Output
that cannot be sent at once (a slow reader, pub/sub fan-out) queues in the connection's
transport, drained by a writer task, and is bounded by `client-output-buffer-limit`.
"""

from __future__ import annotations

import errno
import itertools
import select
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator

import outcome
import structlog
import trio
from trio.lowlevel import checkpoint, wait_readable, wait_writable

from server.blocking import Block
from server.client import Client
from server.engine import Engine
from server.protocol.parser import Limits, ProtocolError, RequestParser

log = structlog.get_logger("server.network")

READ_SIZE = 65536
HIGH_WATER = 1 << 20  # stop reading a client whose unsent replies exceed this
QUERY_BUFFER_LIMIT = "query buffer limit exceeded"  # the parser's ProtocolError detail
BATCH_FLUSH = 256 * 1024  # replies of one read handed to the transport once they exceed this


class SocketTransport:
    """Ordered, non-blocking writes to one socket, with the output-buffer limits applied."""

    def __init__(self, sock: socket.socket, engine: Engine) -> None:
        self.sock = sock
        self.engine = engine
        self.client: Client | None = None
        self.pending: deque[bytes] = deque()
        self.pending_bytes = 0
        self.closed = False
        self._wake = trio.Event()
        self._drained = trio.Event()
        self._drained.set()

    def write(self, data: bytes) -> None:
        if self.engine.aof_pending:  # the AOF is written (and fsynced, if always) before any reply
            self.engine.flush_aof()
        if self.closed:
            return
        if not self.pending:
            try:
                n = self.sock.send(data)
            except BlockingIOError:
                n = 0
            except OSError:
                self.close()
                return
            self.engine.stat_net_output_bytes += n
            if n == len(data):
                return
            data = data[n:]
        self.pending.append(data)
        self.pending_bytes += len(data)
        if self._drained.is_set():
            self._drained = trio.Event()
        self._wake.set()
        self._check_limits()

    def _check_limits(self) -> None:
        c = self.client
        if c is None:
            return
        cls = "replica" if c.kind == "replica" else ("pubsub" if c.subscriptions else "normal")
        if c.kind == "master":
            return
        hard, soft, secs = self.engine.config.client_output_buffer_limit[cls]
        size = self.pending_bytes
        if hard and size >= hard:
            self._overflow(c, cls, "hard")
            return
        if soft and size >= soft:
            now = time.monotonic()
            if c.soft_limit_since is None:
                c.soft_limit_since = now
            elif now - c.soft_limit_since > secs:  # Redis: more than soft_seconds above it
                self._overflow(c, cls, "soft")
        else:
            c.soft_limit_since = None

    def _overflow(self, c: Client, cls: str, which: str) -> None:
        log.warning(
            "client output buffer limit reached, closing client",
            client_id=c.id,
            addr=c.addr,
            client_class=cls,
            limit=which,
            pending_bytes=self.pending_bytes,
        )
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.pending.clear()
        self.pending_bytes = 0
        self._drained.set()
        if self.client is not None and self.client.kill is not None:
            self.client.kill()

    async def wait_drained(self) -> None:
        await self._drained.wait()

    async def flush_loop(self) -> None:
        """Drain queued output whenever there is some (a task per connection)."""
        sock = self.sock
        while not self.closed:
            await self._wake.wait()
            self._wake = trio.Event()
            while self.pending and not self.closed:
                await wait_writable(sock)
                data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
                try:
                    n = sock.send(data)
                except BlockingIOError:
                    continue
                except OSError:
                    self.close()
                    return
                self.engine.stat_net_output_bytes += n
                self.pending.clear()
                self.pending_bytes = 0
                if n < len(data):
                    rest = data[n:]
                    self.pending.append(rest)
                    self.pending_bytes = len(rest)
            if not self.pending:
                if self.client is not None:
                    self.client.soft_limit_since = None
                self._drained.set()

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything written so far is sent (before a close), bounded in time."""
        with trio.move_on_after(timeout):
            await self._drained.wait()


def _is_local(addr: tuple[str, int] | tuple[str, int, int, int] | str) -> bool:
    host = addr[0] if isinstance(addr, tuple) else ""
    return host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1") or host.startswith("::ffff:127.")


def _fmt_addr(addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"  # Redis's anetFormatAddr
    return str(addr)


class _Conn:
    """One connection's read side, as the lane and its task share it."""

    __slots__ = ("client", "parked", "parser", "sock", "task", "transport")

    def __init__(
        self, client: Client, sock: socket.socket, transport: SocketTransport, parser: RequestParser
    ) -> None:
        self.client = client
        self.sock = sock
        self.transport = transport
        self.parser = parser
        self.parked = False  # its task waits while the lane serves it
        self.task: trio.lowlevel.Task | None = None


# What a connection's task has to do before running more commands: wait for a pause to end or a
# Block to be served (kind, the command, its Block, the commands left in the batch), or close.
_PAUSE = "pause"
_BLOCK = "block"
_Resume = tuple[str, list[bytes], Block | None, Iterator[list[bytes]]]
_END: _Resume = ("end", [], None, iter(()))


class Server:
    """Listeners, connection tasks and the cron for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.listeners: list[socket.socket] = []
        self.nursery: trio.Nursery | None = None
        self.shutdown_event = trio.Event()
        self.on_before_accept: Callable[[], Awaitable[None]] | None = None
        self.bound_port = 0
        self._lane: select.epoll | None = None  # see _lane_loop
        self._lane_conns: dict[int, _Conn] = {}
        self._deferred: list[tuple[Client, list[bytes]]] | None = None  # replies of a lane round

    # --- listening -------------------------------------------------------------------------------

    def bind(self) -> None:
        cfg = self.engine.config
        if cfg.port == 0:
            return
        errors_seen: list[str] = []
        for spec in cfg.bind:
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
                s.listen(cfg.tcp_backlog)
                s.setblocking(False)
            except OSError as e:
                s.close()
                if optional and e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
                    continue
                errors_seen.append(f"{host}:{cfg.port}: {e.strerror}")
                continue
            self.listeners.append(s)
        if errors_seen:
            for s in self.listeners:
                s.close()
            self.listeners = []
            raise OSError("Could not create server TCP listening socket " + "; ".join(errors_seen))
        if self.listeners:
            self.bound_port = self.listeners[0].getsockname()[1]

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            for ls in self.listeners:
                nursery.start_soon(self._accept_loop, ls)
            nursery.start_soon(self._cron_loop)
            self._lane = select.epoll()
            nursery.start_soon(self._lane_loop)
            task_status.started()
            await self.shutdown_event.wait()
            nursery.cancel_scope.cancel()
        for ls in self.listeners:
            ls.close()

    async def _accept_loop(self, ls: socket.socket) -> None:
        assert self.nursery is not None
        while True:
            try:
                sock, addr = ls.accept()
            except BlockingIOError:
                await wait_readable(ls)
                continue
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning("accept failed", error=e.strerror)
                    await trio.sleep(0.1)
                    continue
                raise
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.engine.config.tcp_keepalive:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            admitted = self._admit(sock, addr)
            if admitted is not None:
                self.nursery.start_soon(self._serve_admitted, *admitted, sock)

    async def _cron_loop(self) -> None:
        eng = self.engine
        while True:
            await trio.sleep(1.0 / max(eng.config.hz, 1))
            try:
                eng.cron()
                self._clients_cron()
            except Exception:
                log.exception("cron failed")

    def _clients_cron(self) -> None:
        eng = self.engine
        # Output-buffer limits are also checked here (Redis 7.0's clientsCron): a client stuck
        # above its soft limit is closed when the time is up even if nothing more is written.
        for c in list(eng.clients.values()):
            t = c.transport
            if t.pending_bytes and isinstance(t, SocketTransport):
                t._check_limits()
        maxidle = eng.config.timeout
        if not maxidle:
            return
        now = time.monotonic()
        for c in list(eng.clients.values()):
            if c.kind != "normal" or c.block is not None or c.postponed or c.subscriptions:
                continue
            if now - c.last_interaction > maxidle and c.kill is not None:
                log.info("closing idle client", client_id=c.id, addr=c.addr)
                c.kill()

    # --- one connection --------------------------------------------------------------------------

    def _admit(self, sock: socket.socket, addr: object) -> tuple[Client, SocketTransport] | None:
        """Accept-time checks and registration, done at accept as in Redis (so client ids and the
        maxclients count follow the accept order); a refused socket gets its error and is closed."""
        eng = self.engine
        transport = SocketTransport(sock, eng)
        try:
            laddr = _fmt_addr(sock.getsockname())
        except OSError:
            laddr = ""
        refusal = None
        if len(eng.clients) >= eng.config.maxclients:
            refusal = b"-ERR max number of clients reached\r\n"
        elif eng.config.protected_mode and not eng.config.requirepass and not _is_local(addr):  # type: ignore[arg-type]
            refusal = PROTECTED_MODE_DENIED
        if refusal is not None:
            eng.stat_rejected_conn += 1
            transport.write(refusal)
            transport.closed = True
            sock.close()
            return None
        client = Client(eng, transport, addr=_fmt_addr(addr), laddr=laddr, fd=sock.fileno())
        transport.client = client
        eng.add_client(client)
        return client, transport

    async def _serve_client(self, sock: socket.socket, addr: object) -> None:
        """Admit and serve one accepted socket until its connection ends."""
        admitted = self._admit(sock, addr)
        if admitted is not None:
            await self._serve_admitted(*admitted, sock)

    async def _serve_admitted(self, client: Client, transport: SocketTransport, sock: socket.socket) -> None:
        eng = self.engine
        try:
            try:
                await self._run_client(client, sock, transport)
            finally:
                eng.remove_client(client)
        finally:
            transport.closed = True
            sock.close()

    async def _run_client(self, client: Client, sock: socket.socket, transport: SocketTransport) -> None:
        with trio.CancelScope() as scope:
            eng = self.engine

            def kill() -> None:
                # A killed client that is blocked stops waiting now, not when its task next runs:
                # a write later in the same engine step (MULTI: CLIENT KILL; LPUSH) must not be
                # served to a connection that is going away.
                if client.block is not None:
                    eng.unblock(client, b"")
                scope.cancel()

            client.kill = kill
            if client.closed or transport.closed:
                # Killed between its accept (which registers it, see _admit) and this first step,
                # when it had no `kill` yet: CLIENT KILL TYPE normal in the same round as the
                # accept (a sentinel's promotion while a sibling replica connects). The engine has
                # forgotten it; served anyway, its replies went out but its out-of-band output
                # (a replica's +CONTINUE, the whole stream) was dropped for good.
                return
            async with trio.open_nursery() as nursery:
                nursery.start_soon(transport.flush_loop)
                try:
                    await self._read_loop(client, sock, transport)
                    await transport.flush()
                finally:
                    nursery.cancel_scope.cancel()

    async def _read_loop(self, client: Client, sock: socket.socket, transport: SocketTransport) -> None:
        eng = self.engine
        cfg = eng.config
        limits = Limits(
            proto_max_bulk_len=cfg.proto_max_bulk_len,
            query_buffer_limit=cfg.client_query_buffer_limit,
            authenticated=client.authenticated,
        )
        conn = _Conn(client, sock, transport, RequestParser(limits))
        recv = sock.recv
        try:
            while True:
                if transport.pending_bytes > HIGH_WATER:
                    await transport.wait_drained()
                    if transport.closed:
                        return
                try:
                    data = recv(READ_SIZE)
                except BlockingIOError:
                    if self._lane is None:
                        await wait_readable(sock)
                        continue
                    # Nothing to read: hand the connection to the lane, which serves it from
                    # there until it needs this task again (see _lane_loop).
                    res = await self._park(conn)
                except OSError:
                    return
                else:
                    if not data:
                        return
                    res = self._ingest(conn, data)
                while res is not None:
                    if res is _END:
                        return
                    kind, argv, blk, rest = res
                    if kind is _PAUSE:
                        await self._wait_pause(client, argv)
                        res = self._consume(conn, itertools.chain((argv,), rest))
                    else:
                        assert blk is not None
                        r = await self._wait_block(client, blk, sock, conn.parser, registered=True)
                        res = self._consume(conn, rest, r)
                if client.close_after_reply:
                    return
                await checkpoint()
        finally:
            if conn.parked:
                self._unpark(conn)
            conn.task = None  # no cycle through the task: the parser is freed with the connection

    # --- the lane: connections served without a task switch per read ---------------------------
    #
    # A connection with nothing to read parks its task and registers its socket (level-triggered,
    # for as long as it stays parked) with the lane's own epoll. One task, _lane_loop, waits for
    # that epoll, and for each ready socket reads and runs the commands right there: no task
    # switch, checkpoint or epoll re-registration per read (the cost that dominated without
    # pipelining). Whenever a connection needs to wait (a blocking command, CLIENT PAUSE, a full
    # output buffer) or ends, the lane hands it back to its task, which carries on exactly where
    # the lane stopped.

    async def _park(self, conn: _Conn) -> _Resume | None:
        lane = self._lane
        assert lane is not None
        fd = conn.sock.fileno()
        self._lane_conns[fd] = conn
        lane.register(fd, select.EPOLLIN)
        conn.parked = True
        conn.task = trio.lowlevel.current_task()

        def abort(_: object) -> trio.lowlevel.Abort:
            if conn.parked:
                self._unpark(conn)
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    def _unpark(self, conn: _Conn) -> None:
        conn.parked = False
        fd = conn.sock.fileno()
        if self._lane_conns.get(fd) is conn:
            del self._lane_conns[fd]
            if self._lane is not None:
                try:
                    self._lane.unregister(fd)
                except (OSError, ValueError):
                    pass

    def _wake(self, conn: _Conn, res: _Resume | None) -> None:
        """Give a parked connection back to its task (with what it has to do next)."""
        if conn.parked:
            self._unpark(conn)
            assert conn.task is not None
            trio.lowlevel.reschedule(conn.task, outcome.Value(res))

    async def _lane_loop(self) -> None:
        lane = self._lane
        assert lane is not None
        conns = self._lane_conns
        poll = lane.poll
        lane_fd = lane.fileno()
        try:
            while True:
                events = poll(0, 256)
                if not events:
                    await wait_readable(lane_fd)
                    continue
                deferred: list[tuple[Client, list[bytes]]] = []
                self._deferred = deferred
                for fd, _ in events:
                    conn = conns.get(fd)
                    if conn is None or not conn.parked:
                        continue
                    if conn.transport.pending_bytes > HIGH_WATER:
                        self._wake(conn, None)  # its task waits for the output to drain first
                        continue
                    try:
                        data = conn.sock.recv(READ_SIZE)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self._wake(conn, _END)
                        continue
                    try:
                        res = self._ingest(conn, data)
                    except Exception as e:  # a bug: fail in the connection's task, as before
                        if conn.parked:
                            self._unpark(conn)
                            assert conn.task is not None
                            trio.lowlevel.reschedule(conn.task, outcome.Error(e))
                        continue
                    if not conn.parked:
                        continue  # closed meanwhile (its task was cancelled)
                    if res is not None:
                        self._wake(conn, res)
                    elif conn.client.close_after_reply or conn.transport.pending_bytes > HIGH_WATER:
                        self._wake(conn, None)
                self._deferred = None
                conn = None  # keep no connection alive until the next round: its task frees it
                # One burst of sends per round, as Redis writes in beforeSleep: a client woken
                # by the first reply is still busy when the next ones arrive.
                for client, out in deferred:
                    if client.batch is out:
                        client.batch = None
                    if out:
                        client.transport.write(out[0] if len(out) == 1 else b"".join(out))
                await checkpoint()
        finally:
            self._lane = None
            for conn in list(conns.values()):
                self._wake(conn, None)  # their tasks carry on without the lane
            lane.close()

    def _ingest(self, conn: _Conn, data: bytes) -> _Resume | None:
        """Account for one read and run the commands it completes (see _consume)."""
        client = conn.client
        eng = self.engine
        cfg = eng.config
        client.last_interaction = time.monotonic()
        n = len(data)
        client.tot_net_in += n
        eng.stat_net_input_bytes += n
        limits = conn.parser.limits
        limits.authenticated = client.authenticated
        limits.proto_max_bulk_len = cfg.proto_max_bulk_len  # CONFIG SET applies at once
        limits.query_buffer_limit = cfg.client_query_buffer_limit
        try:
            conn.parser.feed(data)
        except ProtocolError as e:
            self._protocol_error(conn, e, [])
            return None
        return self._consume(conn, None)

    def _protocol_error(self, conn: _Conn, e: ProtocolError, out: list[bytes]) -> None:
        client = conn.client
        client.close_after_reply = True
        if e.detail == QUERY_BUFFER_LIMIT:
            # Redis closes such a client without a reply.
            log.warning(
                "closing client that reached max query buffer length",
                client_id=client.id,
                addr=client.addr,
                qbuf=conn.parser.buffered,
            )
        else:
            out.append(e.reply)
            log.info("protocol error from client", client_id=client.id, addr=client.addr, error=e.detail)
        client.batch = None
        client.qbuf = conn.parser.buffered
        if out:
            conn.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _consume(
        self, conn: _Conn, rest: Iterator[list[bytes]] | None, first: bytes | None = None
    ) -> _Resume | None:
        """Run commands: the rest of a batch (after `first`, the reply of the command before
        it, which had to wait), then every complete command in the parser, and write their
        replies with one send. Returns None when done, or what the connection's task has to
        wait for before calling this again (a pause or a Block, with the commands left), or
        _END when the connection has to close now."""
        client = conn.client
        transport = conn.transport
        parser = conn.parser
        eng = self.engine
        execute, call = eng.execute, eng.call
        direct = eng.direct_commands(client).get
        commands = parser.commands
        # While this read's replies are collected, pushes to this client (a message it
        # published to itself) join them in order: client.batch is `out` outside awaits.
        out: list[bytes] = []
        out_bytes = 0
        stop = False
        client.batch = out
        if first is not None:
            if client.reply_filter:  # CLIENT REPLY OFF/SKIP
                first = client.filter_reply(first)
            out.append(first)
            out_bytes = len(first)
        try:
            while True:
                if client.close_after_reply:
                    break
                if rest is None:
                    batch = commands()
                    if not batch:
                        break
                    rest = iter(batch)
                for argv in rest:
                    cmd = direct(argv[0])
                    if cmd is not None and cmd.min_args <= len(argv) <= cmd.max_args:
                        r = call(client, cmd, argv)  # checked for the batch (Engine.direct_commands)
                    else:
                        if (eng.pause_until or eng.client_pause_until) and eng.must_pause(client, argv):
                            if out:
                                transport.write(b"".join(out))
                            client.batch = None
                            client.postponed = True  # blocked from now on (CLIENT LIST, idle timeout)
                            return (_PAUSE, argv, None, rest)
                        r = execute(client, argv)
                        # That command may have changed both (CONFIG SET slowlog-log-slower-than
                        # 0 or MONITOR put the timed call in place: AdminState.timed_call).
                        direct, call = eng.direct_commands(client).get, eng.call
                        if client.reply_filter and r.__class__ is bytes:  # CLIENT REPLY OFF/SKIP
                            r = client.filter_reply(r)  # (never on with direct commands)
                        stop = client.close_after_reply  # (never set by direct commands)
                    if r.__class__ is not bytes:
                        if out:
                            transport.write(b"".join(out))
                        client.batch = None
                        # Registered now, before anything else runs: a write by another client
                        # before the task takes over must serve it.
                        eng.register_block(client, r)  # type: ignore[arg-type]
                        return (_BLOCK, argv, r, rest)  # type: ignore[return-value]
                    out.append(r)
                    out_bytes += len(r)
                    if out_bytes > BATCH_FLUSH:
                        # One read can hold thousands of commands: hand their replies over as
                        # they pile up, so output-buffer limits apply during the batch (Redis
                        # checks on every reply) and a client closed by them is not served
                        # further.
                        transport.write(b"".join(out))
                        out.clear()
                        out_bytes = 0
                        if transport.closed:
                            client.batch = None
                            return _END
                        direct = eng.direct_commands(client).get  # the AOF's write status may have changed
                    if stop:
                        break
                rest = None
                # AUTH (or RESET) changes the unauthenticated request limits from the next
                # command on; before AUTH each batch holds a single command (strict parser).
                parser.limits.authenticated = client.authenticated
        except ProtocolError as e:
            self._protocol_error(conn, e, out)
            return None
        client.qbuf = parser.buffered
        if out:
            deferred = self._deferred
            if deferred is not None:
                # Served by the lane: sent with the other replies of its round, after every
                # ready connection ran (client.batch stays `out` until then, so pushes keep
                # their place after these replies).
                deferred.append((client, out))
                return None
            transport.write(out[0] if len(out) == 1 else b"".join(out))
        client.batch = None
        return None

    async def _wait_block(
        self,
        client: Client,
        blk: Block,
        sock: socket.socket | None = None,
        parser: RequestParser | None = None,
        registered: bool = False,
    ) -> bytes:
        """Wait until `blk` is served, times out or the client goes away; returns the reply.

        With `sock` and `parser`, the connection keeps being read meanwhile (see
        `_read_while_blocked`), so a client that disconnects while blocked is freed at once, as
        in Redis, instead of later consuming the element it was waiting for.
        """
        eng = self.engine
        if not registered:
            eng.register_block(client, blk)
        try:
            with trio.move_on_at(blk.deadline if blk.deadline is not None else float("inf")):
                if sock is None or parser is None:
                    await blk.done.wait()
                else:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._read_while_blocked, client, sock, parser)
                        await blk.done.wait()
                        nursery.cancel_scope.cancel()
        finally:
            if client.block is blk:
                eng.unblock(client, blk.timeout_reply() if blk.timeout_reply is not None else blk.on_timeout)
        return blk.reply if blk.reply is not None else blk.on_timeout

    async def _read_while_blocked(self, client: Client, sock: socket.socket, parser: RequestParser) -> None:
        """Read a blocked client's input into its parser (Redis accumulates the query buffer and
        runs it after the block) and kill the client on EOF, a socket error or a protocol error."""
        eng = self.engine
        while True:
            await wait_readable(sock)
            try:
                data = sock.recv(READ_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                client.tot_net_in += len(data)
                eng.stat_net_input_bytes += len(data)
                try:
                    parser.feed(data)
                    continue
                except ProtocolError as e:
                    log.info("protocol error from blocked client", client_id=client.id, addr=client.addr, error=e.detail)
            if client.kill is not None:
                client.kill()
            return

    async def _wait_pause(self, client: Client, argv: list[bytes]) -> None:
        eng = self.engine
        client.postponed = True
        try:
            while eng.must_pause(client, argv):
                end = max(eng.pause_until, eng.client_pause_until)
                await trio.sleep(min(0.01, max(end - time.monotonic(), 0.001)))
        finally:
            client.postponed = False


PROTECTED_MODE_DENIED = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set "
    b"for the default user. In this mode connections are only accepted from the loopback interface. If you "
    b"want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just "
    b"disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by "
    b"connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly "
    b"accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively "
    b"you can just disable the protected mode by editing the Redis configuration file, and setting the protected "
    b"mode option to 'no', and then restarting the server. 3) If you started the server manually just for "
    b"testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password "
    b"for the default user. NOTE: You only need to do one of the above things in order for the server to start "
    b"accepting connections from the outside.\r\n"
)
