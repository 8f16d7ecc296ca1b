"""The replica side: the link to our master (handshake, full or partial sync, the stream, ACKs).

A full sync loads the master's RDB into a fresh keyspace in a worker thread while the old data
keeps being served, and swaps it in only when it loaded completely: a master that disappears
mid-transfer or a corrupt RDB never leaves a half-loaded dataset. Offsets follow Redis exactly:
`slave_repl_offset` is the offset of the last stream byte applied, and the stream we apply is
forwarded byte-identically to our own backlog and sub-replicas (chained replication, PSYNC2).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import TYPE_CHECKING, Any

import structlog
import trio

from server.client import Client, NullTransport
from server.engine import encode_command
from server.persistence.rdb import RdbError
from server.protocol.parser import ProtocolError, RequestParser, wire_len

if TYPE_CHECKING:
    from server.replication.master import Replication

log = structlog.get_logger("server.replication.replica")


class LinkError(Exception):
    pass


class _LineReader:
    """Buffered reads of CRLF lines and exact byte counts from a Trio stream."""

    def __init__(self, stream: trio.SocketStream, timeout: float) -> None:
        self.stream = stream
        self.buf = bytearray()
        self.timeout = timeout
        self.last_io = time.monotonic()

    async def _more(self) -> None:
        with trio.fail_after(self.timeout):
            data = await self.stream.receive_some(1 << 20)
        if not data:
            raise LinkError("connection closed by master")
        self.last_io = time.monotonic()
        self.buf += data

    async def line(self) -> bytes:
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                ln = bytes(self.buf[:i]).rstrip(b"\r")
                del self.buf[: i + 1]
                if ln == b"":
                    continue  # masters send newlines as keepalives while preparing the RDB
                return ln
            if len(self.buf) > 64 * 1024:
                raise LinkError("protocol error: line too long from master")
            await self._more()

    async def take_some(self, limit: int) -> bytes:
        if not self.buf:
            await self._more()
        out = bytes(self.buf[:limit])
        del self.buf[:limit]
        return out


class MasterLink:
    def __init__(self, repl: Replication, host: str, port: int) -> None:
        self.repl = repl
        self.engine = repl.engine
        self.host = host
        self.port = port
        self.state = "connect"  # connect | connecting | handshake | sync | connected
        self.up = False
        self.down_since = time.monotonic()
        self.ever_up = False
        self.read_offset = repl.offset
        self._stop = False
        self._scope: trio.CancelScope | None = None
        self._stream: trio.SocketStream | None = None
        self._reader: _LineReader | None = None
        self.failover_psync: tuple[str, int] | None = None  # set by FAILOVER on the old master
        self._sync_total = 0
        self._sync_read = 0
        self._sync_last_io = time.monotonic()
        self.client = Client(self.engine, NullTransport(), addr=f"{host}:{port}", kind="master")
        self.client.authenticated = True

    # --- control --------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop = True
        self._mark_down()
        if self._scope is not None:
            self._scope.cancel()

    def _mark_down(self) -> None:
        if self.up:
            self.down_since = time.monotonic()
        self.up = False
        self.engine.master_link_up = False

    def last_io_ago(self) -> int:
        if self._reader is None:
            return -1
        return int(time.monotonic() - self._reader.last_io)

    def down_since_seconds(self) -> int:
        return int(time.monotonic() - self.down_since) if self.ever_up else -1

    def role_state(self) -> str:
        return {"connect": "connect", "connecting": "connecting", "handshake": "handshake",
                "sync": "sync", "connected": "connected"}[self.state]

    def sync_info_fields(self) -> list[tuple[str, Any]]:
        left = max(self._sync_total - self._sync_read, 0) if self._sync_total > 0 else -1
        perc = (100.0 * self._sync_read / self._sync_total) if self._sync_total > 0 else 0.0
        return [
            ("master_sync_total_bytes", self._sync_total),
            ("master_sync_read_bytes", self._sync_read),
            ("master_sync_left_bytes", left),
            ("master_sync_perc", f"{perc:.2f}"),
            ("master_sync_last_io_seconds_ago", int(time.monotonic() - self._sync_last_io)),
        ]

    def send_ack(self) -> None:
        s = self._stream
        if s is None or not self.up:
            return
        data = encode_command([b"REPLCONF", b"ACK", b"%d" % self.repl.offset])
        try:
            # A plain non-blocking write: an ACK is tiny and must not wait for the loop.
            os.write(s.socket.fileno(), data)
        except OSError:
            pass  # the periodic ACK will follow; a dead link is noticed by the reader

    # --- the link's life ---------------------------------------------------------------------------

    async def run(self) -> None:
        backoff = 0.1
        while not self._stop:
            with trio.CancelScope() as scope:
                self._scope = scope
                try:
                    await self._session()
                except (OSError, LinkError, ProtocolError, RdbError, trio.TooSlowError, trio.BrokenResourceError,
                        trio.ClosedResourceError) as e:
                    if not self._stop:
                        log.warning("master link error", master=f"{self.host}:{self.port}",
                                    error=str(e) or type(e).__name__, state=self.state)
                except Exception:  # a bug in the link must cost a reconnect, never the server
                    log.exception("master link failed unexpectedly", master=f"{self.host}:{self.port}")
                finally:
                    self._mark_down()
                    self.state = "connect"
                    if self._stream is not None:
                        try:
                            await self._stream.aclose()
                        except Exception:
                            pass
                        self._stream = None
            self._scope = None
            if self._stop:
                return
            await trio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def _session(self) -> None:
        eng = self.engine
        cfg = eng.config
        timeout = float(cfg.repl_timeout)
        self.state = "connecting"
        with trio.fail_after(timeout):
            stream = await trio.open_tcp_stream(self.host, self.port)
        self._stream = stream
        reader = self._reader = _LineReader(stream, timeout)
        self.state = "handshake"

        async def ask(*argv: bytes) -> bytes:
            await stream.send_all(encode_command(list(argv)))
            return await reader.line()

        r = await ask(b"PING")
        if not (r.startswith(b"+") or r.startswith(b"-NOAUTH") or r.startswith(b"-NOPERM")
                or r.startswith(b"-ERR operation not permitted")):
            raise LinkError(f"unexpected reply to PING from master: {r[:100]!r}")
        if cfg.masterauth:
            args = [b"AUTH"]
            if cfg.masteruser:
                args.append(cfg.masteruser.encode())
            args.append(cfg.masterauth.encode())
            r = await ask(*args)
            if r.startswith(b"-"):
                raise LinkError(f"unable to AUTH to master: {r[1:].decode('latin-1')}")
        port = cfg.replica_announce_port or cfg.port
        r = await ask(b"REPLCONF", b"listening-port", b"%d" % port)
        if cfg.replica_announce_ip:
            await ask(b"REPLCONF", b"ip-address", cfg.replica_announce_ip.encode())
        r = await ask(b"REPLCONF", b"capa", b"eof", b"capa", b"psync2")
        # PSYNC from our own history (as a former master, or after a link drop): PSYNC2.
        replid, off = self.repl.replid, self.repl.offset
        psync = [b"PSYNC", replid.encode(), b"%d" % (off + 1)]
        if self.failover_psync is not None:
            fid, foff = self.failover_psync
            self.failover_psync = None
            psync = [b"PSYNC", fid.encode(), b"%d" % (foff + 1), b"FAILOVER"]
        r = await ask(*psync)
        if r.startswith(b"+FULLRESYNC"):
            parts = r.split()
            if len(parts) < 3:
                raise LinkError(f"bad FULLRESYNC reply from master: {r!r}")
            new_id, new_off = parts[1].decode("latin-1"), int(parts[2])
            await self._full_sync(reader, new_id, new_off)
        elif r.startswith(b"+CONTINUE"):
            parts = r.split()
            self._continue(parts[1].decode("latin-1") if len(parts) > 1 else None)
        elif r.startswith(b"-NOMASTERLINK") or r.startswith(b"-LOADING"):
            raise LinkError(f"master is not ready: {r[1:].decode('latin-1')}")
        else:
            raise LinkError(f"unexpected reply to PSYNC from master: {r[:200]!r}")
        await self._stream_loop(reader)

    def _continue(self, new_id: str | None) -> None:
        repl = self.repl
        if new_id is not None and new_id != repl.replid:
            # The master changed history (it was promoted): keep ours as replid2 so that our own
            # replicas can still PSYNC with either id.
            repl.replid2 = repl.replid
            repl.second_offset = repl.offset + 1
            repl.replid = new_id
        repl.ensure_backlog()
        log.info("partial resync with master", master=f"{self.host}:{self.port}", offset=repl.offset,
                 replid=repl.replid)
        self._set_up()

    def _set_up(self) -> None:
        self.read_offset = self.repl.offset
        self.state = "connected"
        self.up = True
        self.ever_up = True
        self.engine.master_link_up = True

    async def _full_sync(self, reader: _LineReader, new_id: str, new_off: int) -> None:
        from server.keyspace import Keyspace
        from server.persistence.rdb import load_rdb

        eng = self.engine
        self.state = "sync"
        header = await reader.line()
        if not header.startswith(b"$"):
            raise LinkError(f"bad bulk header from master: {header[:100]!r}")
        eof_mark: bytes | None = None
        if header.startswith(b"$EOF:"):
            eof_mark = header[5:]
            if len(eof_mark) != 40:
                raise LinkError("bad EOF mark from master")
            self._sync_total = 0
        else:
            self._sync_total = int(header[1:])
        self._sync_read = 0
        started = time.monotonic()
        fd, path = tempfile.mkstemp(prefix="temp-repl-", suffix=".rdb", dir=eng.config.dir or ".")
        try:
            with os.fdopen(fd, "wb") as f:
                if eof_mark is None:
                    left = self._sync_total
                    while left > 0:
                        chunk = await reader.take_some(min(left, 1 << 20))
                        f.write(chunk)
                        left -= len(chunk)
                        self._sync_read += len(chunk)
                        self._sync_last_io = time.monotonic()
                else:
                    tail = b""
                    keep = len(eof_mark)
                    while True:
                        chunk = await reader.take_some(1 << 20)
                        self._sync_read += len(chunk)
                        self._sync_last_io = time.monotonic()
                        data = tail + chunk
                        idx = data.find(eof_mark)
                        if idx >= 0:
                            # Anything after the mark is already the stream: give it back.
                            f.write(data[:idx])
                            reader.buf[:0] = data[idx + keep :]
                            break
                        f.write(data[:-keep])
                        tail = data[-keep:]
            # Load beside the live data, then swap: readers keep the old dataset meanwhile.
            fresh = Keyspace(eng, eng.config.databases)

            def load() -> Any:
                with open(path, "rb") as rf:
                    return load_rdb(rf, fresh, skip_expired=False)

            info = await trio.to_thread.run_sync(load)
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass
        self._swap_in(fresh)
        repl = self.repl
        repl.replid = new_id
        repl.replid2 = "0" * 40
        repl.second_offset = -1
        repl.offset = new_off
        eng.repl_offset = new_off
        repl.backlog = None
        repl.ensure_backlog()
        # Our own replicas hold a history that no longer exists: they must resync too.
        for r in list(repl.replicas):
            repl._drop(r)
        eng.dirty += 1
        log.info("full resync from master done", master=f"{self.host}:{self.port}", keys=info.keys_loaded,
                 bytes=self._sync_read, seconds=round(time.monotonic() - started, 3), offset=new_off)
        hook = eng.hooks.get("after_full_sync")
        if hook is not None:
            hook()
        self._set_up()

    def _swap_in(self, fresh: Any) -> None:
        """Replace every database's contents in place, so clients keep their db objects."""
        for old, new in zip(self.engine.keyspace.dbs, fresh.dbs, strict=True):
            watched = list(old.watched)
            old.data, old.expires, old.expire_heap = new.data, new.expires, new.expire_heap
            if old.lru is not None:
                old.lru = dict.fromkeys(old.data)
            for k in watched:
                old.signal_modified(k)
            for k in list(old.blocking):
                old.signal_ready(k)
        if self.engine.ready_keys:
            self.engine.handle_ready_keys()

    async def _stream_loop(self, reader: _LineReader) -> None:
        eng = self.engine
        mc = self.client
        mc.db = eng.keyspace[0]
        parser = RequestParser()
        stream = self._stream
        assert stream is not None
        timeout = float(eng.config.repl_timeout)
        if reader.buf:
            pending_data = bytes(reader.buf)
            reader.buf.clear()
        else:
            pending_data = b""
        # ACKs run beside the reader (in the replication nursery, so a link error raised here
        # stays a plain exception for `run` to handle).
        ack_scope = trio.CancelScope()
        nursery = self.repl.nursery
        if nursery is not None:
            nursery.start_soon(self._ack_loop, ack_scope)
        self.send_ack()
        raw = bytearray()  # the stream bytes of the commands not applied yet
        try:
            while True:
                if pending_data:
                    data, pending_data = pending_data, b""
                else:
                    with trio.move_on_after(timeout) as cs:
                        data = await stream.receive_some(1 << 20)
                    if cs.cancelled_caught:
                        raise LinkError(f"timeout: no data from master for {timeout:.0f}s")
                    if not data:
                        raise LinkError("connection closed by master")
                reader.last_io = time.monotonic()
                self.read_offset += len(data)
                parser.feed(data)
                raw += data
                pos = self._apply(parser.commands(), raw)
                del raw[:pos]
                await trio.lowlevel.checkpoint()
        finally:
            ack_scope.cancel()

    def _apply(self, cmds: list[list[bytes]], raw: bytearray) -> int:
        """Run a batch of commands from the master and add their bytes, as received, to our own
        stream (offset, backlog, sub-replicas); returns the bytes consumed from `raw`.

        The bytes are passed on in runs, not re-encoded per command: a master's stream is
        canonical RESP (stock's and ours), so each command's length is `wire_len`, which is
        checked at every run boundary. A REPLCONF (GETACK) ends a run before it executes, since
        its ACK reports our offset, which must include every command before it."""
        execute, append, mc = self.engine.execute, self.repl.append_stream, self.client
        start = pos = 0
        for argv in cmds:
            n = wire_len(argv)
            name = argv[0]
            if len(name) == 8 and name.lower() == b"replconf":
                if pos > start:
                    append(self._run(raw, start, pos))
                execute(mc, argv)
                append(self._run(raw, pos, pos + n))
                pos += n
                start = pos
            else:
                execute(mc, argv)
                pos += n
        if pos > start:
            append(self._run(raw, start, pos))
        return pos

    @staticmethod
    def _run(raw: bytearray, start: int, end: int) -> bytes:
        if raw[start : start + 1] != b"*" or end > len(raw) or (end < len(raw) and raw[end] != 0x2A):
            raise LinkError("the master's stream is not canonical RESP (cannot pass it on as received)")
        return bytes(raw[start:end])

    async def _ack_loop(self, scope: trio.CancelScope) -> None:
        with scope:
            while True:
                await trio.sleep(1.0)
                self.send_ack()
