"""A model of one Redis 7 server: what makes writes safe or unsafe, driven by real commands.

What it models (and nothing more):

* **Data** is the replication stream as a list of items: client writes (positive ids) and
  PUBLISHes (negative ids, propagated to replicas as Redis does). The replication offset is the
  number of items. Data is durable (`appendfsync always`): a crash keeps it, a restart serves it.
* **Replication** over a simulated TCP connection opened by the replica (retried every second,
  as replicationCron): PSYNC with the replica's history; a partial resync when that history is a
  prefix of the master's (the outcome PSYNC2's replid/offset checks approximate), else a full
  resync that *replaces* the replica's data (how a promoted replica that missed writes makes
  everybody lose them). Then the stream, keepalive PINGs, `REPLCONF ACK` every second and on
  `GETACK`, and `repl-timeout` on both sides. A replica forwards what it applies to its own
  replicas (chains), and drops them when a full resync replaces its data.
* **Writes**: a master acknowledges a plain write at once; `WAIT 1` answers when a replica has
  acknowledged the offset, or with 0 at its timeout; a master that becomes a replica unblocks its
  WAIT clients with an error. `min-replicas-to-write 1` / `min-replicas-max-lag`: a master that
  has not had an ACK from a replica within max-lag refuses writes (NOREPLICAS). An ACK counts
  when it is *processed* (as in Redis: ACKs queued while the server was stopped look fresh when
  it resumes). The lag is measured in ms here (Redis: whole seconds, refreshed by its cron, i.e.
  up to ~1 s laxer). A last gate (`write_gate`) is the host's lease self-fencing (vip.py).
* **The sentinel's commands**, as the core sends them: AUTH, CLIENT SETNAME, PING, INFO (text in
  Redis 7's format, parsed by the core's real parser), SUBSCRIBE / PUBLISH on
  `__sentinel__:hello`, and the transaction MULTI, SLAVEOF, CONFIG REWRITE, CLIENT KILL TYPE
  normal|pubsub (every other client of that type, sentinels' links included), EXEC. Commands
  queued after MULTI run only at EXEC; a connection lost before EXEC runs nothing. And the
  fence of the core's VIP rule: `CLIENT PAUSE <ms> WRITE` blocks a connection at its first write
  or PUBLISH until the pause ends or `CLIENT UNPAUSE`; then what waited runs (a killed
  connection's never does).

Not modelled: keys and values, RDB transfer time beyond one message, replication backlog limits
(a partial resync is always possible when histories allow it), keepalive PINGs in the offset.
Replication ids (`master_replid`, `master_replid2`, `second_repl_offset`) are reported as PSYNC2
sets them (a replica adopts its master's id at sync, a promotion keeps the old one as replid2),
but resync decisions use the histories; a promoted replica keeps its own replicas connected
(Redis 7 drops them for a quick partial resync).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sentinel.core.replies import ErrorReply, Reply, Status
from tests.sim.engine import MS, Conn, Network, Process

if TYPE_CHECKING:
    from tests.sim.world import World

HELLO_CHANNEL = "__sentinel__:hello"
SERVER_PORT = 6379


@dataclass(slots=True)
class ServerSettings:
    """The replication knobs of every server in a run (milliseconds)."""

    repl_ping_period: int = 1000
    repl_timeout: int = 4000
    ack_period: int = 1000
    min_replicas_to_write: int = 1
    min_replicas_max_lag: int = 2000
    connect_timeout: int = 2000
    cron_period: int = 1000


@dataclass(slots=True)
class ClientState:
    """One accepted connection."""

    conn: Conn
    kind: str = "normal"
    """normal, pubsub (after SUBSCRIBE) or replica (after PSYNC)."""
    multi: list[tuple[str, ...]] | None = None
    channels: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Downstream:
    """A replica attached to us."""

    conn: Conn
    ip: str
    port: int
    ack: int = 0
    ack_time: int = 0
    """Local ms when its last ACK was processed."""


@dataclass(slots=True)
class Waiter:
    """A client blocked in WAIT 1."""

    conn: Conn
    wid: int
    offset: int
    deadline: int
    """Local ms."""


class Server(Process):
    """One Redis server process on a host (`addr` = host ip : 6379)."""

    def __init__(self, world: World, net: Network, host: str, ip: str, settings: ServerSettings) -> None:
        super().__init__(net, host, f"redis@{host}")
        self.world = world
        self.ip = ip
        self.port = SERVER_PORT
        self.settings = settings
        self.runid = ""
        self.exited_at: int | None = None
        """When the process last exited (scheduler time) as its supervisor saw it; None after a
        power loss (the supervisor died too) and while it runs."""
        self.replid = ""
        """master_replid: the history we serve (a replica's is its master's, adopted at sync)."""
        self.replid2 = "0" * 40
        self.second_off = -1
        """master_replid2 / second_repl_offset: the history we continued from, up to there (a
        promoted replica keeps its old master's id here, as PSYNC2 does)."""
        self.role = "master"
        self.master: tuple[str, int] | None = None
        self.history: list[int] = []
        self.priority = 100
        self.clients: dict[int, ClientState] = {}
        self.downstream: dict[int, Downstream] = {}
        self.waiters: list[Waiter] = []
        self.paused_until = 0
        """CLIENT PAUSE <ms> WRITE: local ms until which writes (and PUBLISH) wait."""
        self.held: dict[int, list[Any]] = {}
        """Connections blocked by the pause: their messages, in order, run when it ends."""
        # replica side
        self.repl: Conn | None = None
        self.repl_state = "none"
        """none, connecting, handshake (PSYNC sent) or online."""
        self.repl_cancel: Callable[[], None] | None = None
        self.link_down_since: int | None = None
        """Local ms when the master link went down (None: never up since start, or up)."""
        self.ever_linked = False
        self.last_io = 0
        self.last_ack_sent = 0
        self.last_ping_sent = 0
        self.next_cron = 0
        net.listen(self, ip, SERVER_PORT)

    # --- helpers ------------------------------------------------------------------------------

    @property
    def addr(self) -> tuple[str, int]:
        """(ip, port)."""
        return self.ip, self.port

    @property
    def offset(self) -> int:
        """Replication offset: items in the stream."""
        return len(self.history)

    def now(self) -> int:
        """Local ms."""
        return self.world.local_ms(self.host)

    def paused(self) -> bool:
        """Writes wait (CLIENT PAUSE ... WRITE in force)."""
        return self.paused_until > self.now()

    def _pause(self, ms: int) -> None:
        self.paused_until = max(self.paused_until, self.now() + ms)
        inc = self.incarnation

        def end() -> None:
            if self.alive and self.incarnation == inc:
                self.run(self._unblock)

        self.world.sched.at(self.world.real_at(self.host, self.paused_until * MS), end)

    def _unblock(self) -> None:
        """The pause ended (or was lifted): blocked connections run what waited, in order."""
        if self.paused():
            return
        held, self.held = self.held, {}
        for cid, msgs in held.items():
            st = self.clients.get(cid)
            if st is None:
                continue
            for msg in msgs:
                if st.conn.open[st.conn.side_of(self)]:
                    self.on_message(st.conn, msg)
        self.world.after_server_event(self)

    def _blocks(self, msg: Any) -> bool:
        """Under CLIENT PAUSE WRITE, a write (SET + WAIT) or PUBLISH blocks its connection."""
        if msg[0] == "WRITE":
            return True
        return msg[0] == "CMD" and msg[1][0].upper() == "PUBLISH"

    def fence_ok(self) -> bool:
        """min-replicas-to-write: enough replicas ACKed within max-lag."""
        need = self.settings.min_replicas_to_write
        if need <= 0:
            return True
        now = self.now()
        lag = self.settings.min_replicas_max_lag
        good = sum(1 for d in self.downstream.values() if now - d.ack_time <= lag)
        return good >= need

    # --- lifecycle ----------------------------------------------------------------------------

    def boot(self, master: tuple[str, int] | None) -> None:
        """Start the process (data kept from before, a new run id) as master or replica of `master`."""
        self.start_process()
        self.exited_at = None
        self.runid = f"{self.world.rng.getrandbits(160):040x}"
        self.replid, self.replid2, self.second_off = self.runid, "0" * 40, -1
        self.clients.clear()
        self.downstream.clear()
        self.waiters.clear()
        self.paused_until = 0
        self.held.clear()
        self.repl = None
        self.repl_state = "none"
        self.repl_cancel = None
        self.link_down_since = None
        self.ever_linked = False
        if master is None:
            self.role, self.master = "master", None
        else:
            self.role, self.master = "slave", master
        self.world.trace(self.host, f"server boot as {self.role} {self.master}")
        self.world.on_role_change(self)
        self.next_cron = self.now()
        self._schedule_cron()
        if self.master is not None:
            self._repl_connect()

    def crash(self, fin: bool = True) -> None:
        """The process dies (its data is on disk)."""
        if not self.alive:
            return
        self.world.trace(self.host, "server crash")
        if self.repl_cancel is not None:
            self.repl_cancel()
        self.exited_at = self.world.sched.now  # the supervisor sees it exit (a hint dates it)
        self.die(fin)
        self.clients.clear()
        self.downstream.clear()
        self.waiters.clear()
        self.repl = None
        self.repl_state = "none"
        self.world.on_role_change(self)

    def _schedule_cron(self) -> None:
        inc = self.incarnation
        when = self.world.real_at(self.host, self.next_cron * MS)

        def fire() -> None:
            if self.alive and self.incarnation == inc:
                self.run(self._cron)

        self.world.sched.at(when, fire)

    def on_thaw(self) -> None:
        """Nothing special: overdue timers fire from the inbox in order."""

    def _cron(self) -> None:
        """replicationCron, once per cron period (and WAIT timeouts)."""
        now = self.now()
        s = self.settings
        self.next_cron = max(now, self.next_cron) + s.cron_period
        self._schedule_cron()
        if self.role == "slave" or self.master is not None:
            if self.repl is None and self.repl_state == "none":
                self._repl_connect()
            elif self.repl is not None and self.repl_state in ("handshake", "online"):
                if now - self.last_io > s.repl_timeout:
                    self.world.trace(self.host, "replica: master timed out")
                    self._repl_drop()
                elif self.repl_state == "online" and now - self.last_ack_sent >= s.ack_period:
                    self._send_ack()
        for cid, d in list(self.downstream.items()):
            if now - d.ack_time > s.repl_timeout:
                self.world.trace(self.host, f"master: replica {d.ip} timed out")
                del self.downstream[cid]
                self.clients.pop(cid, None)
                d.conn.close(self)
            elif now - self.last_ping_sent >= s.repl_ping_period:
                d.conn.send(self, ("PING",))
        if now - self.last_ping_sent >= s.repl_ping_period:
            self.last_ping_sent = now
        self._expire_waiters(now)

    # --- replica side -------------------------------------------------------------------------

    def _repl_connect(self) -> None:
        assert self.master is not None
        self.repl_state = "connecting"
        target = self.master
        inc = self.incarnation

        def up(conn: Conn) -> None:
            if self.incarnation != inc or self.master != target or self.repl_state != "connecting":
                conn.close(self)
                return
            self.repl = conn
            self.repl_state = "handshake"
            self.last_io = self.now()
            conn.send(self, ("PSYNC", tuple(self.history), self.ip, self.port))

        def fail(reason: str) -> None:
            if self.incarnation == inc and self.master == target and self.repl_state == "connecting":
                self.repl_state = "none"
                self.repl_cancel = None

        self.repl_cancel = self.net.connect(
            self, target[0], target[1], "repl", self.settings.connect_timeout * MS, up, fail
        )

    def _repl_drop(self) -> None:
        """Lose the link to our master (it reconnects from the cron)."""
        if self.repl_cancel is not None:
            self.repl_cancel()
            self.repl_cancel = None
        if self.repl is not None:
            self.repl.close(self)
            self.repl = None
        if self.repl_state == "online":
            self.link_down_since = self.now()
        self.repl_state = "none"

    def _send_ack(self) -> None:
        if self.repl is not None:
            self.last_ack_sent = self.now()
            self.repl.send(self, ("ACK", self.offset))

    def _apply(self, start: int, items: tuple[int, ...]) -> bool:
        """Apply stream items at `start`; False on a gap (protocol error)."""
        if start != len(self.history):
            return False
        self.history.extend(items)
        for it in items:
            if it < 0:
                self._deliver_publish(it)
        for d in self.downstream.values():
            d.conn.send(self, ("S", start, items))
        return True

    def _from_master(self, conn: Conn, msg: tuple[Any, ...]) -> None:
        self.last_io = self.now()
        kind = msg[0]
        if kind in ("FULL", "CONT"):
            if self.repl_state != "handshake":
                return
            if kind == "FULL":
                self.history = list(msg[1])
                self.replid, self.replid2, self.second_off = msg[2], "0" * 40, -1
                for cid, d in list(self.downstream.items()):  # they must resync from our new data
                    del self.downstream[cid]
                    self.clients.pop(cid, None)
                    d.conn.close(self)
                self.world.trace(self.host, f"full resync from {self.master}: offset {self.offset}")
            else:
                if msg[2] != self.replid:  # +CONTINUE <new id>: keep the old one as replid2
                    self.replid2, self.second_off, self.replid = self.replid, self.offset + 1, msg[2]
                self._apply(len(self.history), msg[1])
            self.repl_state = "online"
            self.ever_linked = True
            self.link_down_since = None
            self._send_ack()
        elif kind == "S":
            if self.repl_state == "online" and not self._apply(msg[1], msg[2]):
                self._repl_drop()
        elif kind == "GETACK" and self.repl_state == "online":
            self._send_ack()

    # --- master side --------------------------------------------------------------------------

    def _psync(self, conn: Conn, theirs: tuple[int, ...], ip: str, port: int) -> None:
        st = self.clients.get(conn.id)
        if st is None:
            return
        st.kind = "replica"
        now = self.now()
        self.downstream[conn.id] = Downstream(conn, ip, port, len(theirs), now)
        h = self.history
        n = len(theirs)
        if n <= len(h) and tuple(h[:n]) == theirs:
            conn.send(self, ("CONT", tuple(h[n:]), self.replid))
            self.downstream[conn.id].ack = len(h)
        else:
            conn.send(self, ("FULL", tuple(h), self.replid))
            self.downstream[conn.id].ack = 0

    def _on_ack(self, conn: Conn, offset: int) -> None:
        d = self.downstream.get(conn.id)
        if d is None:
            return
        d.ack = max(d.ack, offset)
        d.ack_time = self.now()
        if self.waiters:
            self._check_waiters()
        self.world.after_server_event(self)

    def _check_waiters(self) -> None:
        keep: list[Waiter] = []
        for w in self.waiters:
            n = sum(1 for d in self.downstream.values() if d.ack >= w.offset)
            if n >= 1:
                acks = {d.ip: d.ack for d in self.downstream.values()}
                self.world.trace(self.host, f"WAIT for write {w.wid} satisfied: acks {acks}")
                w.conn.send(self, ("W", w.wid, "ok", n))
            else:
                keep.append(w)
        self.waiters = keep

    def _expire_waiters(self, now: int) -> None:
        if not self.waiters:
            return
        keep: list[Waiter] = []
        for w in self.waiters:
            if now >= w.deadline:
                w.conn.send(self, ("W", w.wid, "ok", 0))
            else:
                keep.append(w)
        self.waiters = keep

    def append(self, item: int) -> int:
        """Append an item to the stream (we are the master); returns the new offset."""
        start = len(self.history)
        self.history.append(item)
        for d in self.downstream.values():
            d.conn.send(self, ("S", start, (item,)))
        return len(self.history)

    def _deliver_publish(self, item: int) -> None:
        channel, payload = self.world.pubs[item]
        for st in self.clients.values():
            if channel in st.channels:
                st.conn.send(self, ("R", ["message", channel, payload]))

    def _write(self, conn: Conn, wid: int, wait: bool, timeout: int) -> None:
        """A client write (SET), optionally followed by WAIT 1 <timeout>."""
        if self.role != "master":
            conn.send(self, ("W", wid, "READONLY", 0))
            return
        if not self.fence_ok():
            conn.send(self, ("W", wid, "NOREPLICAS", 0))
            return
        if not self.world.write_gate(self):
            conn.send(self, ("W", wid, "FENCED", 0))
            return
        self.world.on_write_accepted(self, wid)
        off = self.append(wid)
        if not wait:
            conn.send(self, ("W", wid, "ok", 0))
            return
        w = Waiter(conn, wid, off, self.now() + timeout)
        self.waiters.append(w)
        for d in self.downstream.values():
            d.conn.send(self, ("GETACK",))
        inc = self.incarnation

        def expire() -> None:
            if self.alive and self.incarnation == inc:
                self.run(lambda: self._expire_waiters(self.now()))

        self.world.sched.at(self.world.real_at(self.host, w.deadline * MS), expire)

    # --- the connection API -------------------------------------------------------------------

    def accept(self, conn: Conn, port: int) -> bool:
        """Every connection is accepted (by the kernel, even while stopped)."""
        if not self.alive:
            return False
        self.clients[conn.id] = ClientState(conn)
        return True

    def on_closed(self, conn: Conn, reason: str) -> None:
        """A connection ended."""
        if conn is self.repl:
            self.repl = None
            if self.repl_state == "online":
                self.link_down_since = self.now()
            self.repl_state = "none"
            return
        self.clients.pop(conn.id, None)
        self.held.pop(conn.id, None)
        if self.downstream.pop(conn.id, None) is not None:
            self.world.after_server_event(self)
        if self.waiters:
            self.waiters = [w for w in self.waiters if w.conn is not conn]
        conn.close(self)

    def on_message(self, conn: Conn, msg: Any) -> None:
        """Dispatch one message."""
        if conn is self.repl:
            self._from_master(conn, msg)
            return
        if conn.id in self.held or (self.paused_until and self._blocks(msg) and self.paused()):
            self.held.setdefault(conn.id, []).append(msg)
            return
        kind = msg[0]
        if kind == "CMD":
            st = self.clients.get(conn.id)
            if st is None:
                return
            argv: tuple[str, ...] = msg[1]
            if st.multi is not None and argv[0].upper() not in ("EXEC", "MULTI", "DISCARD"):
                st.multi.append(argv)
                conn.send(self, ("R", Status("QUEUED")))
                return
            conn.send(self, ("R", self.command(st, argv)))
        elif kind == "WRITE":
            self._write(conn, msg[1], msg[2], msg[3])
        elif kind == "ACK":
            self._on_ack(conn, msg[1])
        elif kind == "PSYNC":
            self._psync(conn, msg[1], msg[2], msg[3])

    def command(self, st: ClientState, argv: tuple[str, ...]) -> Reply:
        """Execute one command from a sentinel (or any client) and return its reply."""
        name = argv[0].upper()
        if name == "PING":
            return Status("PONG")
        if name in ("AUTH", "SELECT"):
            return Status("OK")
        if name == "CLIENT":
            sub = argv[1].upper() if len(argv) > 1 else ""
            if sub == "SETNAME":
                return Status("OK")
            if sub == "KILL" and len(argv) == 4 and argv[2].upper() == "TYPE":
                return self._client_kill(st, argv[3].lower())
            if sub == "PAUSE" and len(argv) >= 3:
                self._pause(int(argv[2]))
                return Status("OK")
            if sub == "UNPAUSE":
                self.paused_until = 0
                self._unblock()
                return Status("OK")
            return ErrorReply("ERR syntax error")
        if name == "INFO":
            return self.info_text()
        if name == "SUBSCRIBE":
            for ch in argv[1:]:
                if ch not in st.channels:
                    st.channels.append(ch)
            st.kind = "pubsub"
            return ["subscribe", argv[-1], len(st.channels)]
        if name == "PUBLISH":
            return self._publish(argv[1], argv[2])
        if name == "MULTI":
            if st.multi is not None:
                return ErrorReply("ERR MULTI calls can not be nested")
            st.multi = []
            return Status("OK")
        if name == "DISCARD":
            st.multi = None
            return Status("OK")
        if name == "EXEC":
            if st.multi is None:
                return ErrorReply("ERR EXEC without MULTI")
            queued, st.multi = st.multi, None
            return [self.command(st, q) for q in queued]
        if name in ("SLAVEOF", "REPLICAOF"):
            return self._slaveof(argv[1], argv[2])
        if name == "CONFIG":
            return Status("OK")  # REWRITE: the role is in the data dir; nothing else to model
        if name == "SCRIPT":
            return ErrorReply("NOTBUSY No scripts in execution right now.")
        return ErrorReply(f"ERR unknown command '{argv[0]}'")

    def _publish(self, channel: str, payload: str) -> int:
        n = sum(1 for st in self.clients.values() if channel in st.channels)
        if self.role == "master":
            item = self.world.new_publish(channel, payload)
            self.append(item)
            self._deliver_publish(item)
        else:
            for st in self.clients.values():
                if channel in st.channels:
                    st.conn.send(self, ("R", ["message", channel, payload]))
        return n

    def _client_kill(self, me: ClientState, kind: str) -> int:
        n = 0
        for cid, st in list(self.clients.items()):
            if st is me or st.kind != kind:
                continue
            del self.clients[cid]
            self.held.pop(cid, None)
            st.conn.close(self)
            self.waiters = [w for w in self.waiters if w.conn is not st.conn]
            n += 1
        return n

    def _slaveof(self, host: str, port_s: str) -> Reply:
        if host.upper() == "NO" and port_s.upper() == "ONE":
            if self.role == "master":
                return Status("OK")
            self._repl_drop()
            self.role, self.master = "master", None
            self.link_down_since = None
            # PSYNC2's shiftReplicationId: a new history, the old one kept as replid2
            self.replid2, self.second_off = self.replid, self.offset + 1
            # a new id without drawing from the world's generator (the runs' draws stay as they were)
            self.replid = hashlib.blake2b(f"{self.replid}:{self.offset}".encode(), digest_size=20).hexdigest()
            self.world.trace(self.host, f"SLAVEOF NO ONE at offset {self.offset}")
            self.world.on_role_change(self)
            return Status("OK")
        target = (host, int(port_s))
        if self.role == "slave" and self.master == target and self.repl_state != "none":
            return Status("OK Already connected to specified master")
        was_master = self.role == "master"
        for w in self.waiters:
            w.conn.send(self, ("W", w.wid, "UNBLOCKED", 0))
        self.waiters = []
        self._repl_drop()
        self.role, self.master = "slave", target
        if was_master:
            self.link_down_since = None
            self.ever_linked = False
        self.world.trace(self.host, f"SLAVEOF {host} {port_s} at offset {self.offset}")
        self.world.on_role_change(self)
        self._repl_connect()
        return Status("OK")

    # --- INFO ---------------------------------------------------------------------------------

    def info_text(self) -> str:
        """INFO (no argument) with the sections a sentinel reads, in Redis 7's format."""
        now = self.now()
        lines = [
            "# Server",
            "redis_version:7.0.15",
            "redis_mode:standalone",
            f"run_id:{self.runid}",
            f"tcp_port:{self.port}",
            "",
            "# Clients",
            f"connected_clients:{sum(1 for s in self.clients.values() if s.kind != 'replica')}",
            "",
            "# Persistence",
            "loading:0",
            "aof_enabled:1",
            "",
            "# Replication",
            f"role:{self.role}",
        ]
        if self.role == "slave" and self.master is not None:
            up = self.repl_state == "online"
            lines += [
                f"master_host:{self.master[0]}",
                f"master_port:{self.master[1]}",
                f"master_link_status:{'up' if up else 'down'}",
                f"master_last_io_seconds_ago:{(now - self.last_io) // 1000 if self.repl else -1}",
                f"master_sync_in_progress:{1 if self.repl_state == 'handshake' else 0}",
                f"slave_read_repl_offset:{self.offset}",
                f"slave_repl_offset:{self.offset}",
            ]
            if not up:
                since = (now - self.link_down_since) // 1000 if self.link_down_since is not None else -1
                lines.append(f"master_link_down_since_seconds:{since}")
            lines += [f"slave_priority:{self.priority}", "slave_read_only:1", "replica_announced:1"]
        lines.append(f"connected_slaves:{len(self.downstream)}")
        if self.settings.min_replicas_to_write:
            lag = self.settings.min_replicas_max_lag
            good = sum(1 for d in self.downstream.values() if now - d.ack_time <= lag)
            lines.append(f"min_slaves_good_slaves:{good}")
        for i, d in enumerate(self.downstream.values()):
            lines.append(
                f"slave{i}:ip={d.ip},port={d.port},state=online,offset={d.ack},lag={(now - d.ack_time) // 1000}"
            )
        lines += [
            "master_failover_state:no-failover",
            f"master_replid:{self.replid}",
            f"master_replid2:{self.replid2}",
            f"master_repl_offset:{self.offset}",
            f"second_repl_offset:{self.second_off}",
            "repl_backlog_active:1",
            "repl_backlog_size:1048576",
            "repl_backlog_first_byte_offset:1",
            f"repl_backlog_histlen:{self.offset}",
        ]
        return "\r\n".join(lines) + "\r\n"
