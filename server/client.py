"""Per-connection state that commands read and change (no I/O here)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from server.blocking import Block
    from server.engine import Engine
    from server.keyspace import Database

_ids = itertools.count(1)

# Client flags shown by CLIENT LIST (Redis letters).
FLAG_NORMAL = "N"
FLAG_MULTI = "x"
FLAG_PUBSUB = "P"
FLAG_BLOCKED = "b"
FLAG_REPLICA = "S"
FLAG_MASTER = "M"
FLAG_DIRTY_CAS = "d"
FLAG_CLOSE_AFTER_REPLY = "c"
FLAG_CLOSE_ASAP = "A"
FLAG_NO_EVICT = "e"
FLAG_NO_TOUCH = "T"


class Transport(Protocol):
    """What the engine needs from a connection: ordered, non-blocking writes and a way to close."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    @property
    def pending_bytes(self) -> int: ...


class NullTransport:
    """For internal clients (AOF loading, the master link's replayed stream): replies vanish."""

    pending_bytes = 0

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class Client:
    """One connection's session: selected db, protocol, auth, transaction, subscriptions."""

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        addr: str = "",
        laddr: str = "",
        fd: int = -1,
        kind: str = "normal",
    ) -> None:
        self.id = next(_ids)
        self.engine = engine
        self.transport = transport
        self.addr = addr
        self.laddr = laddr
        self.fd = fd
        self.kind = kind  # normal | pubsub | replica | master (class for output-buffer limits)
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.user = b"default"
        self.resp = 2
        self.db: Database = engine.keyspace[0]
        self.authenticated = not engine.config.requirepass
        now = time.monotonic()
        self.created = now
        self.last_interaction = now
        self.last_cmd = b"NULL"
        # MULTI/EXEC
        self.in_multi = False
        self.multi_error = False
        self.queued: list[tuple[Any, list[bytes]]] = []
        self.in_exec = False
        self.watched: list[tuple[Database, bytes]] = []
        self.dirty_cas = False
        # Pub/Sub
        self.channels: set[bytes] = set()
        self.patterns: dict[bytes, None] = {}  # in subscription order (a list in Redis 7.0)
        self.shard_channels: set[bytes] = set()
        # Blocking
        self.block: Block | None = None
        self.postponed = False  # waiting for a CLIENT PAUSE to end (blocked, for Redis)
        # Propagation override for the command being executed (list of argv), see Engine.call.
        self.prop: list[list[bytes]] | None = None
        # Lifecycle
        self.close_after_reply = False
        self.closed = False
        self.kill: Callable[[], None] | None = None  # set by the network layer
        self.tot_net_in = 0
        self.tot_net_out = 0
        self.tot_cmds = 0
        self.qbuf = 0
        self.soft_limit_since: float | None = None
        # Replication (issue: replication): set when this client is a replica or the master link.
        self.repl: Any = None
        self.woff = 0  # replication offset after this client's last write (for WAIT)
        self.no_evict = False
        self.no_touch = False
        # CLIENT REPLY OFF/SKIP (see filter_reply); reply_filter is the network's cheap test.
        self.reply_off = False
        self.reply_skip = False
        self.reply_skip_next = False
        self.reply_filter = False
        # Replies of the read being processed, not yet written: `push` appends here meanwhile,
        # so out-of-band output (a message published to oneself) keeps its place among them.
        self.batch: list[bytes] | None = None

    @property
    def subscriptions(self) -> int:
        """Channels, patterns and shard channels (any of them makes a pubsub client)."""
        return len(self.channels) + len(self.patterns) + len(self.shard_channels)

    @property
    def in_pubsub(self) -> bool:
        """RESP2 subscriber context: only (P|S)(UN)SUBSCRIBE/PING/QUIT/RESET allowed."""
        return self.resp == 2 and bool(self.channels or self.patterns or self.shard_channels)

    def flags(self) -> str:
        f = ""
        if self.kind == "replica":
            f += FLAG_REPLICA
        if self.kind == "master":
            f += FLAG_MASTER
        if self.subscriptions:
            f += FLAG_PUBSUB
        if self.in_multi:
            f += FLAG_MULTI
        if self.block is not None or self.postponed:
            f += FLAG_BLOCKED
        if self.dirty_cas:
            f += FLAG_DIRTY_CAS
        if self.close_after_reply:
            f += FLAG_CLOSE_AFTER_REPLY
        if self.no_evict:
            f += FLAG_NO_EVICT
        if self.no_touch:
            f += FLAG_NO_TOUCH
        return f or FLAG_NORMAL

    def push(self, data: bytes) -> None:
        """Out-of-band output (pub/sub messages and confirmations): write it now, or after the
        replies already produced for the read being processed. CLIENT REPLY OFF never hides it."""
        if not self.closed:
            self.tot_net_out += len(data)
            if self.batch is not None:
                self.batch.append(data)
            else:
                self.transport.write(data)

    def filter_reply(self, reply: bytes) -> bytes:
        """Apply CLIENT REPLY OFF/SKIP to the reply of the command just run (Redis's flags:
        SKIP silences the command after CLIENT REPLY SKIP, OFF every reply until ON)."""
        drop = self.reply_off or self.reply_skip
        self.reply_skip = self.reply_skip_next
        self.reply_skip_next = False
        self.reply_filter = self.reply_off or self.reply_skip
        return b"" if drop else reply

    def info_line(self) -> str:
        """One CLIENT LIST line, with Redis 7.0's fields in Redis's order."""
        now = time.monotonic()
        cmd = self.last_cmd.decode("latin-1").lower()
        return (
            f"id={self.id} addr={self.addr} laddr={self.laddr} fd={self.fd} "
            f"name={self.name.decode('latin-1')} age={int(now - self.created)} "
            f"idle={int(now - self.last_interaction)} flags={self.flags()} db={self.db.id} "
            f"sub={len(self.channels)} psub={len(self.patterns)} ssub={len(self.shard_channels)} "
            f"multi={len(self.queued) if self.in_multi else -1} qbuf={self.qbuf} qbuf-free=0 "
            f"argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 "
            f"omem={self.transport.pending_bytes} tot-mem={self.transport.pending_bytes + 1024} "
            f"events=r cmd={cmd} user={self.user.decode('latin-1')} redir=-1 resp={self.resp} "
            f"lib-name={self.lib_name.decode('latin-1')} lib-ver={self.lib_ver.decode('latin-1')}"
        )
