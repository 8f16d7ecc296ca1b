"""The engine: one synchronous, I/O-free place where commands run.

The network layer hands each parsed command to `Engine.execute` and writes back the bytes it
returns; everything a command does to the dataset, to other clients (pub/sub, blocked clients,
WATCH) and to the outside world (AOF, replicas, via `sinks`) happens inside that call, so the
dataset is only ever observed between whole commands, as in Redis.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import structlog

import server.commands  # noqa: F401  (registers every command)
from server import errors
from server.blocking import Block
from server.commands.pubsub import drop_subscriptions
from server.commands.registry import TABLE, Command, all_commands
from server.commands.transactions import discard_transaction, unwatch_all
from server.config import Config, ConfigError
from server.errors import CommandError
from server.glob import match as glob_match
from server.instrument import AdminState
from server.keyspace import Database, Keyspace
from server.memory import MemoryManager
from server.protocol import resp

log = structlog.get_logger("server.engine")

if TYPE_CHECKING:
    from server.client import Client
    from server.persistence.manager import Persistence


class Sink(Protocol):
    """A consumer of the propagated write stream (the AOF, the replication backlog)."""

    def feed(self, db_id: int, data: bytes) -> None: ...


_EXEC_LIKE = {b"exec", b"discard", b"multi", b"watch", b"quit", b"reset"}
_MULTI_OOM_EXEMPT = {b"exec", b"discard", b"quit", b"reset"}
# Not writes, yet held by CLIENT PAUSE WRITE (Redis's may-replicate commands, and WAIT).
_MAY_REPLICATE = {b"publish", b"spublish", b"pfcount", b"wait", b"eval", b"evalsha", b"fcall"}
_PUBSUB_ALLOWED = {
    b"subscribe",
    b"psubscribe",
    b"unsubscribe",
    b"punsubscribe",
    b"ssubscribe",
    b"sunsubscribe",
    b"ping",
    b"quit",
    b"reset",
}


# Plain data commands: what they do never changes the client's session or the server's
# checks (see Engine.direct_commands). PING and ECHO are the only others as plain.
_DIRECT_GROUPS = frozenset({"string", "generic", "hash", "list", "set", "sorted-set", "bitmap"})
_DIRECT_NAMES = frozenset({b"ping", b"echo"})
_DIRECT: dict[tuple[bool, bool], dict[bytes, Command]] = {}
_NO_DIRECT: dict[bytes, Command] = {}


def _direct_table(writes: bool, denyoom: bool) -> dict[bytes, Command]:
    """The direct-dispatch table: with writes or not, with denyoom commands or not (built once)."""
    table = _DIRECT.get((writes, denyoom))
    if table is None:
        table = {}
        for name, cmd in TABLE.items():
            if (
                (cmd.group in _DIRECT_GROUPS or name in _DIRECT_NAMES)
                and not cmd.subcommands
                and (writes or not cmd.is_write)
                and (denyoom or not cmd.is_denyoom)
            ):
                table[name] = table[name.upper()] = cmd
        _DIRECT[(writes, denyoom)] = table
    return table


def encode_command(argv: list[bytes]) -> bytes:
    return resp.array_header(len(argv)) + b"".join(resp.bulk(a) for a in argv)


class Engine:
    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self.config.on_change = self.on_config_change
        self.run_id = os.urandom(20).hex()
        self.rng = random.Random()
        self.keyspace = Keyspace(self, self.config.databases)
        self.clients: dict[int, Client] = {}
        self.channels: dict[bytes, dict[Client, None]] = {}
        self.patterns: dict[bytes, dict[Client, None]] = {}
        self.shard_channels: dict[bytes, dict[Client, None]] = {}
        self.no_touch = False  # the running command comes from a CLIENT NO-TOUCH client
        self.ready_keys: list[tuple[Database, bytes]] = []
        self.dirty = 0  # changes since the last successful save
        self.sinks: list[Sink] = []
        self._exec_props: list[tuple[int, list[bytes]]] | None = None
        self.memory = MemoryManager(self)
        self.started = time.time()
        self.started_mono = time.monotonic()
        # Role (the replication layer drives these).
        self.is_replica = False
        self.master_link_up = False
        self.repl: Any = None  # server.replication.master.Replication, when installed
        self.repl_offset = 0  # master_repl_offset, mirrored here for the hot path
        # Persistence (server.persistence.manager.Persistence installs itself). `aof_pending` is
        # set when propagated bytes wait in the AOF buffer: the network layer calls `flush_aof`
        # before any reply reaches a socket (appendfsync always: written and fsynced first).
        self.persistence: Persistence | None = None
        self.aof_pending = False
        self.flush_aof: Callable[[], None] = _ignore
        # CLIENT PAUSE
        self.pause_until = 0.0
        self.pause_all = False
        self.pause_changed: Callable[[], None] | None = None
        # The CLIENT PAUSE command's own pause, apart from the one above (FAILOVER's): as Redis
        # 7.0's pause purposes, CLIENT UNPAUSE ends only this one, and the strictest applies.
        self.client_pause_until = 0.0
        self.client_pause_all = False
        # Hooks for the layers above (persistence, replication, shutdown), set by whoever owns them.
        self.hooks: dict[str, Callable[..., Any]] = {}
        # Stats for INFO.
        self.stat_numconnections = 0
        self.stat_rejected_conn = 0
        self.stat_expiredkeys = 0
        self.stat_evictedkeys = 0
        self.stat_keyspace_hits = 0
        self.stat_keyspace_misses = 0
        self.stat_net_input_bytes = 0
        self.stat_net_output_bytes = 0
        self.stat_total_error_replies = 0
        self.stat_unexpected_error_replies = 0
        self.ops_samples: list[tuple[float, int]] = []
        self.lastsave = int(time.time())
        self.apply_memory_policy()
        # Admin layer (INFO, DEBUG, replication IDs for INFO when no replication layer runs).
        self.replid = os.urandom(20).hex()
        self.errorstats: dict[str, int] = {}  # INFO errorstats: error code -> count
        self.active_expire_enabled = True  # DEBUG SET-ACTIVE-EXPIRE
        self.admin = AdminState(self)  # slow log, latency monitor, MONITOR, command timing
        self._security_warned = -1e9  # when _security_warning last logged

    # --- command execution ---------------------------------------------------------------------

    def execute(self, c: Client, argv: list[bytes]) -> bytes | Block:
        """Run one command from client `c`: Redis's processCommand checks in Redis's order, then
        MULTI queueing or `call`. A rejection inside MULTI aborts the transaction (EXECABORT).

        The common case takes a shortcut: when none of the checks can fail (a known command
        without subcommands, with a valid arity, from an authenticated client that is neither in
        MULTI, nor subscribed, nor NO-TOUCH; no maxmemory for a denyoom command; no write fence
        that could apply to a write), the command goes straight to `call`. Anything else runs
        every check, in Redis's order, in `_execute_checked`.
        """
        name = argv[0].lower()
        cmd = TABLE.get(name)
        if (
            cmd is not None
            and not cmd.subcommands
            and c.authenticated
            and not c.in_multi
            and not c.no_touch
            and not (c.channels or c.patterns or c.shard_channels)
            and cmd.min_args <= len(argv) <= cmd.max_args
            and not (cmd.is_denyoom and self.config.maxmemory)
            and (not cmd.is_write or self.writes_unfenced(c))
            and not (self.is_replica and not cmd.allow_stale and self.serving_stale_denied(c))
        ):
            return self.call(c, cmd, argv)
        return self._execute_checked(c, argv, name, cmd)

    def writes_unfenced(self, c: Client) -> bool:
        """Whether no write fence can refuse a write from `c` now.

        A fence refuses writes only on a replica (READONLY), with min-replicas-to-write
        (NOREPLICAS), or in the persistence layer's MISCONF / shutdown states; otherwise
        `check_write_allowed` passes for anyone. A new kind of fence (a `check_write` hook) must
        be added here. The master link's writes pass every fence (as in Redis), so a replica
        applies its master's stream through the shortcut too.
        """
        p = self.persistence
        return not (
            (self.is_replica and c.kind != "master")
            or self.config.min_replicas_to_write
            or p is None  # no persistence layer (an engine under test): hooks may be anything
            or p.shutdown_done
            or not p.lastbgsave_ok
            or (p.aof.state and not p.aof.write_status_ok)  # AOF on: its write status decides
        )

    def serving_stale_denied(self, c: Client) -> bool:
        """`replica-serve-stale-data no` applies: a replica whose master link is down refuses
        commands not flagged `stale` with -MASTERDOWN (never its master's own stream)."""
        return (
            self.is_replica
            and not self.master_link_up
            and not self.config.replica_serve_stale_data
            and c.kind != "master"
        )

    def direct_commands(self, c: Client) -> dict[bytes, Command]:
        """The commands `c` may run through `call` now without `execute`'s checks, by the name
        as sent (lower or upper case): empty when every command needs them.

        Only plain data commands are in it (see `_DIRECT_GROUPS`): they change none of what is
        checked here (auth, MULTI, subscriptions, NO-TOUCH, CLIENT REPLY, pauses, write fences,
        maxmemory), so
        the table stays right until a command outside it runs; the network layer asks again
        after each such command. The arity is the caller's to check. Saves `execute`'s call and
        checks per command in a pipeline.
        """
        if (
            not c.authenticated
            or c.in_multi
            or c.no_touch
            or c.channels
            or c.patterns
            or c.shard_channels
            or c.reply_filter  # CLIENT REPLY OFF/SKIP: replies go through the network's filter
            or self.pause_until
            or self.client_pause_until
            or self.serving_stale_denied(c)  # -MASTERDOWN for the data commands
        ):
            return _NO_DIRECT
        return _direct_table(self.writes_unfenced(c), not self.config.maxmemory)

    def _execute_checked(
        self, c: Client, argv: list[bytes], name: bytes, cmd: Command | None
    ) -> bytes | Block:
        """`execute` with every check, in Redis's order."""
        try:
            # CLIENT LIST's cmd=: Redis records the command as soon as it is looked up (queued
            # and rejected ones too), "NULL" when there is no such command or subcommand.
            if cmd is None:
                c.last_cmd = b"NULL"
                if name == b"post" or name == b"host:":
                    return self._security_warning(c)
                raise errors.unknown_command(argv[0], argv[1:])
            if cmd.subcommands:
                sub = cmd.subcommands.get(argv[1].lower()) if len(argv) > 1 else None
                c.last_cmd = cmd.name if len(argv) == 1 else b"NULL" if sub is None else cmd.name + b"|" + sub.name
                cmd = self._subcommand(cmd, argv)
            else:
                c.last_cmd = cmd.name
                if (cmd.arity > 0 and len(argv) != cmd.arity) or len(argv) < -cmd.arity:
                    raise errors.wrong_arity(argv[0])
            if not c.authenticated and not cmd.no_auth:
                raise CommandError(errors.NOAUTH)
            is_write, denyoom = cmd.is_write, cmd.is_denyoom
            if c.in_multi:
                if not cmd.allowed_in_multi:
                    raise CommandError("ERR Command not allowed inside a transaction")
                if name == b"exec":  # EXEC is checked with the flags of the commands it runs
                    is_write = any(q.is_write for q, _ in c.queued)
                    denyoom = any(q.is_denyoom for q, _ in c.queued)
                elif name not in _MULTI_OOM_EXEMPT:
                    denyoom = True  # queueing takes memory too
            if denyoom and self.config.maxmemory and c.kind != "master" and not self.memory.make_room():
                raise CommandError(errors.OOM)
            if is_write:
                self.check_write_allowed(c, cmd)
            if c.in_pubsub and name not in _PUBSUB_ALLOWED:
                raise CommandError(errors.PUBSUB_CONTEXT.format(cmd.full_name))
            if self.serving_stale_denied(c):
                # Redis: only commands flagged "stale" (INFO, REPLICAOF, ...); an EXEC whose
                # queue holds any other command is refused too.
                stale_ok = (
                    all(q.allow_stale for q, _ in c.queued) if name == b"exec" and c.in_multi else cmd.allow_stale
                )
                if not stale_ok:
                    raise CommandError(errors.MASTERDOWN)
            if c.in_multi and name not in _EXEC_LIKE:
                c.queued.append((cmd, argv))
                return resp.QUEUED
        except CommandError as e:
            if cmd is not None:
                cmd.rejected_calls += 1
            self.count_error(e.msg)
            if cmd is not None and cmd.name == b"exec":
                # Redis's execCommandAbort, MULTI or not: the reason without a generic "ERR ".
                discard_transaction(c)
                reason = e.msg[4:] if e.msg.startswith("ERR ") else e.msg
                return resp.error("EXECABORT Transaction discarded because of: " + reason)
            if c.in_multi:
                c.multi_error = True
            return e.reply
        if c.no_touch and cmd.name != b"touch":  # CLIENT NO-TOUCH: reads leave LRU order alone
            self.no_touch = True
            try:
                return self.call(c, cmd, argv)
            finally:
                self.no_touch = False
        return self.call(c, cmd, argv)

    def _security_warning(self, c: Client) -> bytes:
        """Redis's securityWarningCommand, for "commands" named POST or Host: (an HTTP request
        sent to Redis, as in cross-protocol scripting): log, and close the connection at once,
        without a reply and dropping the replies not yet sent."""
        now = time.monotonic()
        if now - self._security_warned > 60:  # Redis logs it at most once a minute
            self._security_warned = now
            log.warning(
                "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: "
                "commands to Redis. This is likely due to an attacker attempting to use Cross "
                "Protocol Scripting to compromise your Redis instance. Connection aborted.",
                client_id=c.id,
                addr=c.addr,
            )
        c.close_after_reply = True
        if c.batch is not None:
            c.batch.clear()
        c.transport.close()
        return b""

    def _subcommand(self, cmd: Command, argv: list[bytes]) -> Command:
        if len(argv) < 2:
            if cmd.arity == -1:
                return cmd  # a command that also runs bare (COMMAND)
            raise errors.wrong_arity(argv[0])
        sub = cmd.subcommands.get(argv[1].lower())
        if sub is None:
            raise errors.unknown_subcommand(argv[0], argv[1])
        if (sub.arity > 0 and len(argv) != sub.arity) or len(argv) < -sub.arity:
            raise errors.wrong_arity(cmd.name + b"|" + sub.name)
        return sub

    def check_write_allowed(self, c: Client, cmd: Command) -> None:
        """Replication fences: read-only replicas, min-replicas-to-write. Raises CommandError."""
        if self.is_replica and self.config.replica_read_only and c.kind != "master":
            raise CommandError("READONLY You can't write against a read only replica.")
        check = self.hooks.get("check_write")
        if check is not None:
            check(c, cmd)

    def call(self, c: Client, cmd: Command, argv: list[bytes]) -> bytes | Block:
        """Run a command that passed all checks, then propagate it and wake whoever it concerns."""
        dirty = self.dirty
        c.prop = None
        c.last_cmd = cmd.label
        try:
            r = cmd.handler(c, argv)
        except CommandError as e:
            cmd.failed_calls += 1
            self.count_error(e.msg)
            r = e.reply
        except Exception as e:  # a bug must cost one reply, never the server
            self.stat_unexpected_error_replies += 1
            log.error(
                "internal error in a command",
                command=cmd.full_name,
                args=len(argv) - 1,
                error=f"{type(e).__name__}: {e}",
                exc_info=e,
            )
            self.hooks.get("internal_error", _ignore)(cmd, argv, e)
            r = resp.error(f"ERR internal error in '{cmd.full_name}': {type(e).__name__}")
        cmd.calls += 1  # total_commands_processed is their sum (stat_numcommands)
        if self.dirty != dirty:
            db = c.db
            if c.prop is not None or db.watched or db.blocking or self.sinks or self._exec_props is not None:
                self._after_write(c, cmd, argv)
            else:  # nobody to tell, nothing to propagate
                c.woff = self.repl_offset
        if self.ready_keys and not c.in_exec:  # inside EXEC: served after the whole transaction
            self.handle_ready_keys()
        return r

    def _after_write(self, c: Client, cmd: Command, argv: list[bytes]) -> None:
        db = c.db
        if db.watched or db.blocking:
            for k in cmd.written_keys(argv):
                db.signal_modified(k)
                db.signal_ready(k)
        if c.prop is None:
            if cmd.is_write and (self.sinks or self._exec_props is not None):
                self.propagate(db.id, argv)
        elif len(c.prop) > 1 and self._exec_props is None:
            # Several effects of one command (SPOP with a count) stay atomic downstream.
            self._feed(db.id, [b"MULTI"])
            for a in c.prop:
                self._feed(db.id, a)
            self._feed(db.id, [b"EXEC"])
        else:
            for a in c.prop:
                self.propagate(db.id, a)
        c.woff = self.repl_offset

    # --- MULTI / EXEC ----------------------------------------------------------------------------

    def exec_transaction(self, c: Client) -> bytes:
        queued = c.queued
        c.queued = []
        c.in_multi = False
        c.in_exec = True
        self._exec_props = []
        replies: list[bytes] = []
        try:
            # No per-command checks here: as in Redis, they ran when each command was queued
            # and for EXEC as a whole (Engine.execute).
            for cmd, argv in queued:
                r = self.call(c, cmd, argv)
                if isinstance(r, Block):  # blocking commands never block inside a transaction
                    r = r.timeout_reply() if r.timeout_reply is not None else r.on_timeout
                replies.append(r)
        finally:
            c.in_exec = False
            c.prop = []  # the queued commands' rewrites are in `props`: EXEC itself propagates nothing
            props, self._exec_props = self._exec_props, None
            if len(props) > 1:
                first_db = props[0][0]
                self._feed(first_db, [b"MULTI"])
                for db_id, a in props:
                    self._feed(db_id, a)
                self._feed(props[-1][0], [b"EXEC"])
            elif props:
                self._feed(*props[0])
            c.woff = self.repl_offset
        return resp.array_header(len(replies)) + b"".join(replies)

    # --- propagation (AOF, replicas) -------------------------------------------------------------

    def propagate(self, db_id: int, argv: list[bytes]) -> None:
        if self._exec_props is not None:
            self._exec_props.append((db_id, argv))
        elif self.sinks:
            self._feed(db_id, argv)

    def _feed(self, db_id: int, argv: list[bytes]) -> None:
        if not self.sinks:
            return
        data = encode_command(argv)
        for s in self.sinks:
            s.feed(db_id, data)

    def propagate_expired(self, db_id: int, key: bytes) -> None:
        self.stat_expiredkeys += 1
        self.propagate(db_id, [b"DEL", key])  # inside EXEC: within its MULTI/EXEC, as Redis 7.0

    # --- blocking ----------------------------------------------------------------------------------

    def register_block(self, c: Client, blk: Block) -> None:
        c.block = blk
        for k in dict.fromkeys(blk.keys):  # BLPOP k k 0 waits once on k (Redis dedupes too)
            q = c.db.blocking.get(k)
            if q is None:
                from collections import deque

                q = c.db.blocking[k] = deque()
            q.append(c)

    def unblock(self, c: Client, reply: bytes) -> None:
        blk = c.block
        if blk is None:
            return
        c.block = None
        for k in blk.keys:
            q = c.db.blocking.get(k)
            if q is not None:
                try:
                    q.remove(c)
                except ValueError:
                    pass
                if not q:
                    del c.db.blocking[k]
        blk.reply = reply
        blk.done.set()

    def handle_ready_keys(self) -> None:
        """Serve clients blocked on keys that were written, oldest first (Redis's fair order)."""
        rounds = 0
        while self.ready_keys and rounds < 10_000:
            rounds += 1
            ready, self.ready_keys = self.ready_keys, []
            seen: set[tuple[int, bytes]] = set()
            for db, key in ready:
                if (db.id, key) in seen:
                    continue
                seen.add((db.id, key))
                q = db.blocking.get(key)
                if not q:
                    continue
                for c in list(q):
                    blk = c.block
                    if blk is None or c.db is not db:
                        continue
                    if db.lookup(key) is None:
                        break
                    dirty = self.dirty
                    c.prop = None
                    blk.ready_key = key
                    try:
                        r = blk.retry()
                    except CommandError as e:
                        r = e.reply
                    if self.dirty != dirty and c.prop:
                        for a in c.prop:
                            self.propagate(db.id, a)
                            kc = TABLE.get(a[0].lower())
                            if kc is not None:
                                for k in kc.keys(a):
                                    db.signal_modified(k)
                                    if k != key:
                                        db.signal_ready(k)
                    if r is not None:
                        self.unblock(c, r)

    # --- CLIENT PAUSE ------------------------------------------------------------------------------

    def must_pause(self, c: Client, argv: list[bytes]) -> bool:
        """Whether `argv` from `c` has to wait for the pause to end (never for master/replicas)."""
        now = time.monotonic()
        other = self.pause_until > now
        mine = self.client_pause_until > now
        if not (other or mine) or c.kind in ("master", "replica"):
            return False
        if (other and self.pause_all) or (mine and self.client_pause_all):
            return True
        cmd = TABLE.get(argv[0].lower())
        if cmd is None:
            return False
        name = cmd.name
        if name == b"exec":  # Redis 7.0 also holds commands being queued (MULTI ... SET)
            return c.in_multi and any(q.is_write or q.name in _MAY_REPLICATE for q, _ in c.queued)
        return cmd.is_write or name in _MAY_REPLICATE

    @property
    def writes_paused(self) -> bool:
        now = time.monotonic()
        return self.pause_until > now or self.client_pause_until > now

    # --- pub/sub -----------------------------------------------------------------------------------

    def publish(self, channel: bytes, message: bytes) -> int:
        n = 0
        subs = self.channels.get(channel)
        if subs:
            for sub in list(subs):
                sub.push(
                    resp.push_header(3, sub.resp) + b"$7\r\nmessage\r\n" + resp.bulk(channel) + resp.bulk(message)
                )
                n += 1
        if self.patterns:
            for pat, psubs in list(self.patterns.items()):
                if glob_match(pat, channel):
                    for sub in list(psubs):
                        sub.push(
                            resp.push_header(4, sub.resp)
                            + b"$8\r\npmessage\r\n"
                            + resp.bulk(pat)
                            + resp.bulk(channel)
                            + resp.bulk(message)
                        )
                        n += 1
        return n

    # --- clients -----------------------------------------------------------------------------------

    def add_client(self, c: Client) -> None:
        self.clients[c.id] = c
        self.stat_numconnections += 1

    def remove_client(self, c: Client) -> None:
        """Forget everything the engine holds for `c`, once: when its connection ends, or at
        once when CLIENT KILL frees it (its connection task then calls this again)."""
        if c.closed:
            return
        c.closed = True
        self.clients.pop(c.id, None)
        if c.block is not None:
            self.unblock(c, b"")
        unwatch_all(c)
        drop_subscriptions(c)
        hook = self.hooks.get("client_removed")
        if hook is not None:
            hook(c)

    # --- periodic work -----------------------------------------------------------------------------

    def cron(self) -> None:
        """Work done `hz` times a second: active expiry, stats sampling, hooks (saves, fsync)."""
        now_s = time.monotonic()
        self.ops_samples.append((now_s, self.stat_numcommands))
        if len(self.ops_samples) > 16:
            del self.ops_samples[0]
        if not self.is_replica and not self.writes_paused and self.active_expire_enabled:
            from server.keyspace import now_ms

            now = now_ms()
            budget = 2000
            for db in self.keyspace.dbs:
                if db.expire_heap:
                    budget -= db.active_expire(now, budget)
                    if budget <= 0:
                        break
        for name in ("cron_persistence", "cron_replication"):
            hook = self.hooks.get(name)
            if hook is not None:
                hook()
        self.admin.cron()

    @property
    def stat_numcommands(self) -> int:
        """INFO total_commands_processed: every command's call count, summed here rather than
        counted twice per call on the hot path (CONFIG RESETSTAT zeroes both alike)."""
        return sum(cmd.calls for cmd in all_commands())

    def count_error(self, msg: str) -> None:
        """An error reply was sent: total_error_replies and INFO errorstats (by error code)."""
        self.stat_total_error_replies += 1
        code = msg.split(" ", 1)[0] if " " in msg[:32] else "ERR"
        self.errorstats[code] = self.errorstats.get(code, 0) + 1

    def ops_per_sec(self) -> int:
        s = self.ops_samples
        if len(s) < 2 or s[-1][0] <= s[0][0]:
            return 0
        return int((s[-1][1] - s[0][1]) / (s[-1][0] - s[0][0]))

    # --- configuration -----------------------------------------------------------------------------

    def on_config_change(self, name: str, old: Any, new: Any) -> None:
        if name == "maxmemory-policy" or name == "maxmemory":
            self.apply_memory_policy()
            if name == "maxmemory" and new and not self.memory.make_room():
                pass  # Redis accepts the new limit and evicts (or refuses writes) from now on
        elif name == "requirepass":
            pass
        hook = self.hooks.get("config_change")
        if hook is not None:
            try:
                hook(name, old, new)
            except ConfigError:
                raise
            except Exception as e:
                raise ConfigError(str(e)) from None

    def apply_memory_policy(self) -> None:
        lru = self.config.maxmemory_policy in ("allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu")
        for db in self.keyspace.dbs:
            if lru and db.lru is None:
                db.lru = dict.fromkeys(db.data)
            elif not lru:
                db.lru = None

    def uptime(self) -> int:
        return int(time.monotonic() - self.started_mono)


def _ignore(*args: Any) -> None:
    pass

