"""The replication state of one server, and its master side.

`Replication` owns the replication IDs and offset (PSYNC2: `master_replid`, `master_replid2`,
`second_repl_offset`), the backlog, the attached replicas, WAIT, the min-replicas write fence and
the role switch (REPLICAOF / FAILOVER). It is an engine sink: every propagated write enters the
stream here. The replica side (the link to our own master) lives in `replica.py`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
import trio

from server.blocking import Block
from server.engine import encode_command
from server.errors import CommandError, quoted
from server.protocol import resp
from server.replication.backlog import Backlog
from server.replication.snapshot import Snapshot

if TYPE_CHECKING:
    from server.client import Client
    from server.commands.registry import Command
    from server.engine import Engine
    from server.replication.replica import MasterLink

log = structlog.get_logger("server.replication")

NULL_REPLID = "0" * 40
PING_STREAM = encode_command([b"PING"])
GETACK_STREAM = encode_command([b"REPLCONF", b"GETACK", b"*"])


def new_replid() -> str:
    return os.urandom(20).hex()


@dataclass(eq=False)
class ReplicaState:
    """One attached replica, as the master sees it."""

    client: Client
    listening_port: int = 0
    announced_ip: str = ""
    capa_eof: bool = False
    capa_psync2: bool = False
    state: str = "wait_bgsave"  # wait_bgsave | send_bulk | wait_ack | online
    ack_offset: int = 0
    ack_time: float = field(default_factory=time.monotonic)
    pending: list[bytes] | None = None  # stream buffered while the RDB is being sent
    pending_bytes: int = 0
    old_sync: bool = False  # SYNC (no +FULLRESYNC line) rather than PSYNC

    @property
    def ip(self) -> str:
        return self.announced_ip or self.client.addr.rsplit(":", 1)[0]


@dataclass(eq=False)
class Waiter:
    client: Client
    offset: int
    numreplicas: int
    block: Block


class Replication:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.replid = new_replid()
        self.replid2 = NULL_REPLID
        self.second_offset = -1
        self.offset = 0  # master_repl_offset
        self.backlog: Backlog | None = None
        self.selected_db = -1
        self.replicas: list[ReplicaState] = []
        self.waiters: list[Waiter] = []
        self._acks_requested = False
        self.nursery: trio.Nursery | None = None
        self._flush_event = trio.Event()
        self._dirty_replicas: set[ReplicaState] = set()
        self._out: dict[ReplicaState, list[bytes]] = {}
        self.link: MasterLink | None = None
        self.master_addr: tuple[str, int] | None = None
        self.failover_state = "no-failover"
        self.failover: Any = None
        self._last_ping = time.monotonic()
        self._sync_job_running = False
        self.stat_sync_full = 0
        self.stat_sync_partial_ok = 0
        self.stat_sync_partial_err = 0
        engine.repl = self
        hooks = engine.hooks
        hooks["info_replication"] = self.info_fields
        hooks["role"] = self.role_reply
        hooks["cron_replication"] = self.cron
        prev_check = hooks.get("check_write")
        hooks["check_write"] = self._chain_check(prev_check)
        prev_removed = hooks.get("client_removed")

        def client_removed(c: Client) -> None:
            self.client_removed(c)
            if prev_removed is not None:
                prev_removed(c)

        hooks["client_removed"] = client_removed
        prev_cfg = hooks.get("config_change")

        def config_change(name: str, old: Any, new: Any) -> None:
            if name == "repl-backlog-size" and self.backlog is not None:
                self.backlog.resize(int(new))
            if prev_cfg is not None:
                prev_cfg(name, old, new)

        hooks["config_change"] = config_change
        prev_stats = hooks.get("info_stats")

        def info_stats() -> list[tuple[str, Any]]:
            mine = [
                ("sync_full", self.stat_sync_full),
                ("sync_partial_ok", self.stat_sync_partial_ok),
                ("sync_partial_err", self.stat_sync_partial_err),
            ]
            return (list(prev_stats()) if prev_stats is not None else []) + mine

        hooks["info_stats"] = info_stats
        # Our RDBs carry the replication position, so a restarted replica can resync partially.
        hooks["rdb_save_info"] = lambda: {"repl-id": self.replid, "repl-offset": self.offset}

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        nursery.start_soon(self._flush_loop)
        loaded = getattr(self.engine.persistence, "loaded_rdb_info", None)
        if (
            self.engine.config.replicaof is not None
            and loaded is not None
            and loaded.repl_id
            and loaded.repl_offset is not None
        ):
            # A replica restarted from its own RDB continues the history it had (PSYNC2).
            self.replid, self.offset = loaded.repl_id, loaded.repl_offset
            self.engine.repl_offset = self.offset
        if self.engine.config.replicaof is not None:
            host, port = self.engine.config.replicaof
            self.set_master(host, port)

    # --- the stream (engine sink) --------------------------------------------------------------

    def feed(self, db_id: int, data: bytes) -> None:
        """A write propagated by the engine. Replicas forward their master's stream instead."""
        if self.engine.is_replica:
            return
        if self.backlog is None and not self.replicas:
            return
        if db_id != self.selected_db:
            self.append_stream(encode_command([b"SELECT", b"%d" % db_id]))
            self.selected_db = db_id
        self.append_stream(data)

    def append_stream(self, data: bytes) -> None:
        """Add bytes to the replication stream: offset, backlog, every attached replica."""
        self.offset += len(data)
        self.engine.repl_offset = self.offset
        if self.backlog is not None:
            self.backlog.append(data)
        for r in self.replicas:
            if r.state == "online":
                out = self._out.get(r)
                if out is None:
                    self._out[r] = [data]
                    self._flush_event.set()
                else:
                    out.append(data)
            elif r.pending is not None:
                r.pending.append(data)
                r.pending_bytes += len(data)
                hard = self.engine.config.client_output_buffer_limit["replica"][0]
                if hard and r.pending_bytes > hard:
                    log.warning("replica output buffer limit reached during sync, dropping it", replica=r.client.addr)
                    self._drop(r)

    async def _flush_loop(self) -> None:
        """Coalesce stream writes: one send per replica per scheduling round."""
        while True:
            await self._flush_event.wait()
            self._flush_event = trio.Event()
            out, self._out = self._out, {}
            for r, chunks in out.items():
                r.client.push(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def flush_now(self) -> None:
        out, self._out = self._out, {}
        for r, chunks in out.items():
            r.client.push(b"".join(chunks))

    def ensure_backlog(self) -> Backlog:
        """Start keeping history (on the first replica, as Redis does). Only from then on is the
        write stream encoded for replication, so a lone master pays nothing for it."""
        if self.backlog is None:
            self.backlog = Backlog(self.engine.config.repl_backlog_size, self.offset)
        self._sink_for_role()
        return self.backlog

    def _sink_for_role(self) -> None:
        """Be an engine sink only as a master with a backlog: a replica passes its master's stream
        on as received, so the engine need not encode every write it applies for us."""
        sinks = self.engine.sinks
        if self.backlog is not None and not self.engine.is_replica:
            if self not in sinks:
                sinks.append(self)
        elif self in sinks:
            sinks.remove(self)

    # --- master side: PSYNC / SYNC / REPLCONF ---------------------------------------------------

    def replconf(self, c: Client, argv: list[bytes]) -> bytes:
        if (len(argv) - 1) % 2:
            raise CommandError("ERR syntax error")
        for i in range(1, len(argv), 2):
            opt, val = argv[i].lower(), argv[i + 1]
            if opt == b"listening-port":
                try:
                    port = int(val)
                except ValueError:
                    raise CommandError("ERR value is not an integer or out of range") from None
                self._pre(c)["listening_port"] = port
                if isinstance(c.repl, ReplicaState):
                    c.repl.listening_port = port
            elif opt == b"ip-address":
                self._pre(c)["ip"] = val.decode("latin-1")
                if isinstance(c.repl, ReplicaState):
                    c.repl.announced_ip = val.decode("latin-1")
            elif opt == b"capa":
                self._pre(c).setdefault("capa", set()).add(val.lower())
            elif opt == b"ack":
                if isinstance(c.repl, ReplicaState):
                    try:
                        off = int(val)
                    except ValueError:
                        return b""
                    r = c.repl
                    if r.state == "wait_ack":
                        self._go_online(r)
                    if off > r.ack_offset:
                        r.ack_offset = off
                    r.ack_time = time.monotonic()
                    if self.waiters:
                        self.check_waiters()
                return b""  # ACKs are never answered
            elif opt == b"getack":
                if c.kind == "master" and self.link is not None:
                    self.link.send_ack()
                return b""
            elif opt == b"rdb-only" or opt == b"rdb-filter-only":
                pass
            else:
                raise CommandError(f"ERR Unrecognized REPLCONF option: {quoted(argv[i])}")
        return resp.OK

    @staticmethod
    def _pre(c: Client) -> dict[str, Any]:
        if not isinstance(c.repl, dict):
            c.repl = {}
        return c.repl

    def psync(self, c: Client, argv: list[bytes]) -> bytes:
        """PSYNC <replid> <offset> [FAILOVER] / SYNC from a replica connecting to us."""
        if isinstance(c.repl, ReplicaState):
            return b""  # already a replica: Redis ignores a second SYNC
        failover = len(argv) > 3 and argv[3].lower() == b"failover"
        if self.engine.is_replica and (self.link is None or not self.link.up) and not failover:
            raise CommandError("NOMASTERLINK Can't SYNC while not connected with my master")
        if c.in_multi or c.in_exec:
            raise CommandError("ERR Replica can't be used inside a transaction")
        if failover:
            # Redis 6.2's coordinated failover: our master asks us to take over.
            if not self.engine.is_replica or argv[1].decode("latin-1") != self.replid:
                raise CommandError("ERR PSYNC FAILOVER replid must match my replid.")
            log.warning("promoted by our master's FAILOVER request")
            self.promote()
        pre = c.repl if isinstance(c.repl, dict) else {}
        r = ReplicaState(
            client=c,
            listening_port=int(pre.get("listening_port", 0)),
            announced_ip=str(pre.get("ip", "")),
            capa_eof=b"eof" in pre.get("capa", set()),
            capa_psync2=b"psync2" in pre.get("capa", set()),
        )
        c.repl = r
        c.kind = "replica"
        c.authenticated = True
        self.ensure_backlog()
        if argv[0].lower() == b"psync":
            want_id = argv[1].decode("latin-1")
            try:
                want_off = int(argv[2])
            except ValueError:
                want_off = -1
            if self._can_continue(want_id, want_off):
                assert self.backlog is not None
                r.state = "online"
                r.ack_offset = want_off - 1
                self.replicas.append(r)
                head = (
                    b"+CONTINUE " + self.replid.encode() + b"\r\n" if r.capa_psync2 else b"+CONTINUE\r\n"
                )
                c.push(head + self.backlog.since(want_off))
                self.stat_sync_partial_ok += 1
                log.info("partial resync accepted", replica=c.addr, offset=want_off,
                         backlog_bytes=self.offset + 1 - want_off)
                return b""
            if want_id != "?":
                self.stat_sync_partial_err += 1
                log.info("partial resync not possible, full resync", replica=c.addr, replid=want_id, offset=want_off,
                         our_replid=self.replid, our_offset=self.offset)
        else:
            r.old_sync = True
        self.stat_sync_full += 1
        self.replicas.append(r)
        self._start_full_sync()
        return b""

    def _can_continue(self, want_id: str, want_off: int) -> bool:
        if self.backlog is None or want_off < 0:
            return False
        if want_id == self.replid or (want_id == self.replid2 and want_off <= self.second_offset):
            pass
        else:
            return False
        return self.backlog.can_serve(want_off)

    def _start_full_sync(self) -> None:
        if self.nursery is None or self._sync_job_running:
            return
        self._sync_job_running = True
        self.nursery.start_soon(self._full_sync_job)

    async def _full_sync_job(self) -> None:
        """One fork serves every replica waiting for a full sync at that moment."""
        try:
            cfg = self.engine.config
            if cfg.repl_diskless_sync and cfg.repl_diskless_sync_delay > 0:
                deadline = trio.current_time() + cfg.repl_diskless_sync_delay
                while trio.current_time() < deadline:
                    waiting = [r for r in self.replicas if r.state == "wait_bgsave"]
                    if cfg.repl_diskless_sync_max_replicas and len(waiting) >= cfg.repl_diskless_sync_max_replicas:
                        break
                    await trio.sleep(0.05)
            while True:
                batch = [r for r in self.replicas if r.state == "wait_bgsave"]
                if not batch:
                    return
                await self._send_snapshot(batch)
        finally:
            self._sync_job_running = False

    async def _send_snapshot(self, batch: list[ReplicaState]) -> None:
        eng = self.engine
        persistence = eng.persistence
        if persistence is None:
            raise RuntimeError("full resync needs the persistence manager (it owns the fork)")
        # One background child at a time (a BGSAVE or AOF rewrite may be running): wait for it.
        while persistence.has_child():
            await trio.sleep(0.01)
        # The snapshot is the dataset at this offset; later writes are buffered per replica.
        aux: dict[str, str | int] = {"repl-stream-db": max(self.selected_db, 0), "repl-id": self.replid,
                                     "repl-offset": self.offset}
        self.selected_db = -1  # the replica starts with no db selected after loading
        for r in batch:
            r.state = "send_bulk"
            r.pending = []
            r.pending_bytes = 0
            if not r.old_sync:
                r.client.push(b"+FULLRESYNC %b %d\r\n" % (self.replid.encode(), self.offset))
        try:
            snap = Snapshot(persistence, eng.keyspace.dbs, aux)
        except OSError as e:
            for r in batch:
                log.warning("full resync: cannot fork, dropping replica", replica=r.client.addr, error=str(e))
                self._drop(r)
            return
        rfd = snap.fd
        log.info("full resync: snapshot child started", pid=snap.pid, replicas=[r.client.addr for r in batch])
        mark = os.urandom(20).hex().encode()
        eof_used = False
        diskless = eng.config.repl_diskless_sync
        started = time.monotonic()
        total = 0
        try:
            stream = trio.lowlevel.FdStream(rfd)
            eof_used = diskless and all(r.capa_eof for r in batch)
            if eof_used:
                for r in batch:
                    r.client.push(b"$EOF:" + mark + b"\r\n")
                async with stream:
                    while True:
                        chunk = await stream.receive_some(1 << 20)
                        if not chunk:
                            break
                        total += len(chunk)
                        await self._push_bulk(batch, chunk)
                for r in batch:
                    r.client.push(mark)
            else:
                chunks: list[bytes] = []
                async with stream:
                    while True:
                        chunk = await stream.receive_some(1 << 20)
                        if not chunk:
                            break
                        chunks.append(chunk)
                        total += len(chunk)
                header = b"$%d\r\n" % total
                for r in batch:
                    r.client.push(header)
                for chunk in chunks:
                    await self._push_bulk(batch, chunk)
            if not await snap.finished():
                raise OSError("snapshot child failed")
        except BaseException as e:
            snap.kill()
            for r in batch:
                if r in self.replicas:
                    log.warning("full resync failed, dropping replica", replica=r.client.addr, error=str(e))
                    self._drop(r)
            if not isinstance(e, Exception):
                raise
            return
        for r in batch:
            if r not in self.replicas:
                continue
            r.ack_time = time.monotonic()
            if eof_used:
                # An EOF-marked payload is only recognised at the end of a read: stream nothing
                # until the replica's first REPLCONF ACK says it has loaded it (as Redis does).
                r.state = "wait_ack"
            else:
                self._go_online(r)
        log.info("full resync done", bytes=total, seconds=round(time.monotonic() - started, 3),
                 replicas=[r.client.addr for r in batch])

    def _go_online(self, r: ReplicaState) -> None:
        r.state = "online"
        pending, r.pending = r.pending or [], None
        r.pending_bytes = 0
        if pending:
            r.client.push(b"".join(pending))

    async def _push_bulk(self, batch: list[ReplicaState], chunk: bytes) -> None:
        for r in batch:
            if r in self.replicas:
                r.client.push(chunk)
        for r in batch:
            t = r.client.transport
            wait = getattr(t, "wait_drained", None)
            if wait is not None and t.pending_bytes > (4 << 20):
                await wait()

    def _drop(self, r: ReplicaState) -> None:
        if r in self.replicas:
            self.replicas.remove(r)
        self._out.pop(r, None)
        r.client.transport.close()

    def client_removed(self, c: Client) -> None:
        if isinstance(c.repl, ReplicaState) and c.repl in self.replicas:
            self.replicas.remove(c.repl)
            self._out.pop(c.repl, None)
            log.info("replica disconnected", replica=c.addr)
            if self.waiters:
                self.check_waiters()
        self.waiters = [w for w in self.waiters if w.client is not c]

    # --- WAIT -------------------------------------------------------------------------------------

    def acked_count(self, offset: int) -> int:
        return sum(1 for r in self.replicas if r.state == "online" and r.ack_offset >= offset)

    def wait(self, c: Client, numreplicas: int, timeout_ms: int) -> bytes | Block:
        if self.engine.is_replica:
            raise CommandError(
                "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a "
                "replica is configured to be writable (which is not the default) writes to replicas are just "
                "local and are not propagated."
            )
        target = c.woff
        n = self.acked_count(target)
        if n >= numreplicas or c.in_exec:
            return resp.integer(n)
        self.request_acks()

        def timeout_reply() -> bytes:
            return resp.integer(self.acked_count(target))

        from server.commands.args import block_deadline

        blk = Block(
            keys=[],
            retry=lambda: None,
            on_timeout=resp.integer(n),
            deadline=block_deadline(timeout_ms / 1000) if timeout_ms > 0 else None,
            kind="wait",
        )
        blk.timeout_reply = timeout_reply
        self.waiters.append(Waiter(c, target, numreplicas, blk))
        return blk

    def request_acks(self) -> None:
        """Put one REPLCONF GETACK into the stream for all waiters of this scheduling round."""
        if self._acks_requested:
            return
        self._acks_requested = True
        if self.nursery is not None:
            self.nursery.start_soon(self._send_getack)

    async def _send_getack(self) -> None:
        await trio.lowlevel.checkpoint()
        self._acks_requested = False
        if self.replicas and not self.engine.is_replica:
            self.append_stream(GETACK_STREAM)

    def check_waiters(self) -> None:
        still: list[Waiter] = []
        for w in self.waiters:
            if w.client.block is not w.block:
                continue
            n = self.acked_count(w.offset)
            if n >= w.numreplicas:
                self.engine.unblock(w.client, resp.integer(n))
            else:
                still.append(w)
        self.waiters = still

    # --- fences -------------------------------------------------------------------------------------

    def good_replicas(self) -> int:
        max_lag = self.engine.config.min_replicas_max_lag
        now = time.monotonic()
        return sum(1 for r in self.replicas if r.state == "online" and now - r.ack_time <= max_lag)

    def _chain_check(self, prev: Callable[..., None] | None) -> Callable[[Client, Command], None]:
        def check(c: Client, cmd: Command) -> None:
            cfg = self.engine.config
            if (
                cfg.min_replicas_to_write
                and not self.engine.is_replica
                and c.kind != "master"
                and self.good_replicas() < cfg.min_replicas_to_write
            ):
                raise CommandError("NOREPLICAS Not enough good replicas to write.")
            if prev is not None:
                prev(c, cmd)

        return check

    # --- role changes ----------------------------------------------------------------------------------

    def set_master(self, host: str, port: int) -> None:
        """REPLICAOF host port: become (or re-point) a replica."""
        from server.replication.replica import MasterLink

        eng = self.engine
        if self.link is not None:
            self.link.stop()
            self.link = None
        eng.is_replica = True
        eng.master_link_up = False
        self._sink_for_role()
        self.master_addr = (host, port)
        eng.config.replicaof = (host, port)
        self.cancel_failover()
        # Blocked clients would wait forever on a dataset that now follows someone else.
        for c in list(eng.clients.values()):
            if c.block is not None and c.kind == "normal":
                eng.unblock(
                    c,
                    b"-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n",
                )
        for w in self.waiters:
            if w.client.block is w.block:
                eng.unblock(w.client, resp.integer(self.acked_count(w.offset)))
        self.waiters = []
        self.link = MasterLink(self, host, port)
        if self.nursery is not None:
            self.nursery.start_soon(self.link.run)
        log.info("replica of", master_host=host, master_port=port)

    def promote(self) -> None:
        """REPLICAOF NO ONE: keep the data, start a new history (PSYNC2 id shift)."""
        eng = self.engine
        if self.link is not None:
            self.link.stop()
            self.link = None
        if not eng.is_replica:
            return
        self.shift_replid()
        eng.is_replica = False
        eng.master_link_up = False
        self._sink_for_role()
        self.master_addr = None
        eng.config.replicaof = None
        self.selected_db = -1
        log.warning("promoted to master", replid=self.replid, replid2=self.replid2,
                    second_repl_offset=self.second_offset)

    def shift_replid(self) -> None:
        self.replid2 = self.replid
        self.second_offset = self.offset + 1
        self.replid = new_replid()

    # --- FAILOVER (coordinated switchover, Redis 6.2) --------------------------------------------------

    def start_failover(self, target: tuple[str, int] | None, timeout_ms: int, force: bool) -> None:
        from server.replication.failover import Failover

        if self.failover is not None:
            raise CommandError("ERR FAILOVER already in progress.")
        if self.engine.is_replica:
            raise CommandError("ERR FAILOVER is not valid when server is a replica.")
        # INFO calls a replica waiting for its first ACK after a diskless sync "online" (as Redis,
        # whose state is ONLINE with put-online-on-ack): FAILOVER accepts what INFO shows.
        online = [r for r in self.replicas if r.state in ("online", "wait_ack")]
        if target is None:
            if not online:
                raise CommandError("ERR FAILOVER requires connected replicas.")
            chosen = None
        else:
            chosen = next((r for r in online if (r.ip, r.listening_port) == target), None)
            if chosen is None:
                raise CommandError("ERR FAILOVER target HOST and PORT is not a replica.")
        if force and (target is None or timeout_ms <= 0):
            raise CommandError("ERR FAILOVER with force option requires both a timeout and target HOST and IP.")
        if self.engine.writes_paused:
            raise CommandError("ERR FAILOVER is not valid when the server is paused.")  # pragma: no cover
        self.failover = Failover(self, chosen, timeout_ms, force)
        assert self.nursery is not None
        self.nursery.start_soon(self.failover.run)

    def cancel_failover(self) -> None:
        if self.failover is not None:
            self.failover.abort("cancelled")

    # --- INFO / ROLE -------------------------------------------------------------------------------------

    def info_fields(self) -> list[tuple[str, Any]]:
        eng = self.engine
        out: list[tuple[str, Any]] = []
        if eng.is_replica and self.master_addr is not None:
            link = self.link
            out.append(("role", "slave"))
            out += [("master_host", self.master_addr[0]), ("master_port", self.master_addr[1])]
            up = link is not None and link.up
            out.append(("master_link_status", "up" if up else "down"))
            out.append(("master_last_io_seconds_ago", link.last_io_ago() if link is not None else -1))
            syncing = link is not None and link.state == "sync"
            out.append(("master_sync_in_progress", 1 if syncing else 0))
            out.append(("slave_read_repl_offset", link.read_offset if link is not None else self.offset))
            out.append(("slave_repl_offset", self.offset))
            if syncing and link is not None:
                out += link.sync_info_fields()
            if not up:
                out.append(("master_link_down_since_seconds", link.down_since_seconds() if link is not None else -1))
            cfg = eng.config
            out.append(("slave_priority", cfg.replica_priority))
            out.append(("slave_read_only", 1 if cfg.replica_read_only else 0))
            out.append(("replica_announced", 1 if cfg.replica_announced else 0))
        else:
            out.append(("role", "master"))
        listed = [r for r in self.replicas if r.listening_port]
        out.append(("connected_slaves", len(listed)))
        now = time.monotonic()
        for i, r in enumerate(listed):
            out.append((
                f"slave{i}",
                f"ip={r.ip},port={r.listening_port},state={'online' if r.state == 'wait_ack' else r.state},"
                f"offset={r.ack_offset},lag={int(now - r.ack_time)}",
            ))
        out.append(("master_failover_state", self.failover_state))
        out.append(("master_replid", self.replid))
        out.append(("master_replid2", self.replid2))
        out.append(("master_repl_offset", self.offset))
        out.append(("second_repl_offset", self.second_offset))
        bl = self.backlog
        out.append(("repl_backlog_active", 1 if bl is not None else 0))
        out.append(("repl_backlog_size", eng.config.repl_backlog_size))
        out.append(("repl_backlog_first_byte_offset", bl.first_offset if bl is not None else 0))
        out.append(("repl_backlog_histlen", bl.histlen if bl is not None else 0))
        return out

    def role_reply(self, c: Client) -> bytes:
        if self.engine.is_replica and self.master_addr is not None:
            link = self.link
            state = link.role_state() if link is not None else "connect"
            off = self.offset if link is not None and link.up else -1
            return resp.array([
                resp.bulk(b"slave"),
                resp.bulk(self.master_addr[0].encode()),
                resp.integer(self.master_addr[1]),
                resp.bulk(state.encode()),
                resp.integer(off),
            ])
        items = [
            resp.array([resp.bulk(r.ip.encode()), resp.bulk(b"%d" % r.listening_port), resp.bulk(b"%d" % r.ack_offset)])
            for r in self.replicas
            if r.listening_port
        ]
        return resp.array([resp.bulk(b"master"), resp.integer(self.offset), resp.array(items)])

    # --- periodic ------------------------------------------------------------------------------------------

    def cron(self) -> None:
        eng = self.engine
        now = time.monotonic()
        timeout = eng.config.repl_timeout
        for r in list(self.replicas):
            if r.state in ("online", "wait_ack") and now - r.ack_time > timeout:
                log.warning("replica timed out, disconnecting", replica=r.client.addr, timeout=timeout)
                self._drop(r)
        if (
            not eng.is_replica
            and self.replicas
            and now - self._last_ping >= eng.config.repl_ping_replica_period
            and not eng.writes_paused
        ):
            self._last_ping = now
            self.append_stream(PING_STREAM)
        if self.waiters:
            self.check_waiters()
