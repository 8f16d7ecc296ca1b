"""The simulated world under the cores: one event queue, per-host clocks, a network, processes.

Time is an integer number of microseconds of *real* (simulation) time. Every host has its own
monotonic clock (`Clock`): a fixed rate error (ppm) and forward jumps; the cores only ever see
their host's clock, in milliseconds.

The network carries two kinds of traffic between hosts:

* `Conn`: a TCP connection. Each message is a segment; segments are delayed (base + jitter),
  lost (retransmitted after an RTO that doubles, 200 ms .. 120 s, as Linux), duplicated and
  reordered, and the receiving side reassembles them in order, so the application sees what TCP
  gives it: the bytes in order, late. A blocked path (partition, one-way cut, clog) holds the
  stream: segments are retransmitted until the path opens (head-of-line blocking, and bursts of
  stale commands after a heal), or until one side closes. Closing sends a FIN that travels like
  data; a message to a dead process on a live host is answered by a RST. Connecting needs both
  directions (SYN retransmitted at 1 s, 3 s, ...) and ends with the connector's timeout.
* datagrams (`send_datagram`): lost, duplicated and reordered as they are, no retransmission.

Processes (`Process`) run handlers at once unless they are frozen (SIGSTOP, a stalled VM): then
their input waits in an inbox, in arrival order, until they run again. A dead process receives
nothing.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MS = 1000
"""Microseconds per millisecond."""
SEC = 1000 * MS
RTO_MIN = 200 * MS
RTO_MAX = 120 * SEC
SYN_RETRIES = (1 * SEC, 2 * SEC, 4 * SEC, 8 * SEC, 16 * SEC)
LOOPBACK_DELAY = 20
"""Microseconds for a message between two processes of one host (never faulted)."""


class Scheduler:
    """A deterministic event queue: callbacks ordered by (time, insertion order)."""

    __slots__ = ("_heap", "_seq", "events", "now")

    def __init__(self) -> None:
        self.now = 0
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self.events = 0

    def at(self, t: int, fn: Callable[[], None]) -> None:
        """Run `fn` at real time `t` (µs; never in the past)."""
        self._seq += 1
        heapq.heappush(self._heap, (t if t > self.now else self.now, self._seq, fn))

    def after(self, delay: int, fn: Callable[[], None]) -> None:
        """Run `fn` `delay` µs from now."""
        self.at(self.now + delay, fn)

    def next_time(self) -> int | None:
        """Time of the next event, if any."""
        return self._heap[0][0] if self._heap else None

    def run_one(self) -> None:
        """Run the next event."""
        t, _, fn = heapq.heappop(self._heap)
        self.now = t
        self.events += 1
        fn()


@dataclass(slots=True)
class Clock:
    """A host's monotonic clock: local = real x (1 + ppm/1e6) + offset (offset only grows)."""

    ppm: int = 0
    offset: int = 0

    def local(self, real: int) -> int:
        """Local time (µs) at real time `real`."""
        return real + real * self.ppm // 1_000_000 + self.offset

    def local_ms(self, real: int) -> int:
        """Local time in ms (what the core is given)."""
        return self.local(real) // MS

    def real_at(self, local: int) -> int:
        """The first real time at which the local clock reads at least `local` (µs)."""
        base = local - self.offset
        real = base * 1_000_000 // (1_000_000 + self.ppm)
        while self.local(real) < local:
            real += 1
        return real


@dataclass(slots=True)
class LinkParams:
    """Quality of one direction of the path between two hosts."""

    delay: int = 200
    """Base one-way delay, µs."""
    jitter: int = 300
    """Uniform extra delay 0..jitter µs (segments overtake each other: reordering)."""
    loss: float = 0.0
    dup: float = 0.0


HEALTHY = LinkParams()


class Process:
    """Something that runs on a host and receives messages: a server, a sentinel, a client."""

    def __init__(self, net: Network, host: str, name: str) -> None:
        self.net = net
        self.host = host
        self.name = name
        self.alive = False
        self.frozen = False
        self.incarnation = 0
        self.inbox: deque[Callable[[], None]] = deque()
        self.conns: dict[int, Conn] = {}

    # --- lifecycle ----------------------------------------------------------------------------

    def start_process(self) -> None:
        """(Re)start: a new incarnation, empty inbox."""
        self.alive = True
        self.frozen = False
        self.incarnation += 1
        self.inbox.clear()

    def die(self, fin: bool = True) -> None:
        """The process exits (fin: its kernel closes its sockets) or its host loses power."""
        self.alive = False
        self.frozen = False
        self.inbox.clear()
        for conn in list(self.conns.values()):
            conn.abort_local(self, fin)
        self.conns.clear()

    def freeze(self) -> None:
        """SIGSTOP / stalled VM: input waits."""
        if self.alive:
            self.frozen = True

    def thaw(self) -> None:
        """SIGCONT: run what waited, in order (stop if frozen again meanwhile)."""
        if not self.alive or not self.frozen:
            return
        self.frozen = False
        self.on_thaw()
        while self.inbox and not self.frozen and self.alive:
            self.inbox.popleft()()

    def on_thaw(self) -> None:
        """Hook for subclasses: what runs first when the process resumes (overdue timers)."""

    @property
    def runs(self) -> bool:
        """Alive and not frozen."""
        return self.alive and not self.frozen

    def run(self, fn: Callable[[], None]) -> None:
        """Run `fn` now, or when the process resumes; never if it is dead."""
        if not self.alive:
            return
        if self.frozen:
            self.inbox.append(fn)
        else:
            fn()

    # --- networking (overridden by servers / sentinels) ----------------------------------------

    def on_message(self, conn: Conn, msg: Any) -> None:
        """A message arrived on one of our connections."""

    def on_closed(self, conn: Conn, reason: str) -> None:
        """The other side closed (FIN) or reset the connection."""

    def accept(self, conn: Conn, port: int) -> bool:
        """An incoming connection to `port`; False refuses it."""
        return False


FIN = "<FIN>"
RST = "<RST>"


class Conn:
    """One TCP connection between two processes (side 0 connected to side 1)."""

    __slots__ = ("boot", "ends", "id", "inc", "kind", "net", "open", "reset", "rx", "tx")

    def __init__(self, net: Network, cid: int, a: Process, b: Process, kind: str) -> None:
        self.net = net
        self.id = cid
        self.kind = kind
        self.ends = (a, b)
        self.inc = (a.incarnation, b.incarnation)
        """The process incarnations this connection belongs to."""
        self.boot = (net.boot[a.host], net.boot[b.host])
        """The kernels (host boots) that hold its state."""
        self.open = [True, True]
        """Side i still reads and writes (False once it closed or saw FIN/RST)."""
        self.reset = [False, False]
        """Side i's kernel dropped the connection (it received a RST): no more retransmissions."""
        self.tx = [0, 0]
        """Next sequence number sent by side i."""
        self.rx: list[tuple[int, dict[int, Any]]] = [(0, {}), (0, {})]
        """For messages *to* side i: next expected sequence number and the out-of-order buffer."""

    def side_of(self, proc: Process) -> int:
        """0 or 1."""
        return 0 if self.ends[0] is proc else 1

    def peer(self, proc: Process) -> Process:
        """The process at the other end."""
        return self.ends[1] if self.ends[0] is proc else self.ends[0]

    def end_alive(self, side: int) -> bool:
        """The process of `side` is the incarnation this connection belongs to, and alive."""
        p = self.ends[side]
        return p.alive and p.incarnation == self.inc[side]

    def kernel_alive(self, side: int) -> bool:
        """The kernel of `side` still has this connection (its host did not reboot)."""
        host = self.ends[side].host
        return self.net.host_up[host] and self.net.boot[host] == self.boot[side]

    def send(self, proc: Process, msg: Any) -> None:
        """Queue `msg` from `proc` to the other side (dropped if our side is closed)."""
        side = self.side_of(proc)
        if not self.open[side]:
            return
        self._send(side, msg)

    def _send(self, side: int, msg: Any) -> None:
        seq = self.tx[side]
        self.tx[side] = seq + 1
        self.net.transmit(self, side, seq, msg, RTO_MIN)

    def close(self, proc: Process) -> None:
        """`proc` closes its side: FIN to the other side."""
        side = self.side_of(proc)
        if self.open[side]:
            self.open[side] = False
            self._send(side, FIN)
        proc.conns.pop(self.id, None)

    def abort_local(self, proc: Process, fin: bool) -> None:
        """Our process died: FIN from its kernel (fin) or nothing (power loss)."""
        side = self.side_of(proc)
        if self.open[side]:
            self.open[side] = False
            if fin:
                self._send(side, FIN)

    def deliver(self, to_side: int, seq: int, msg: Any) -> None:
        """A segment reached side `to_side`: reassemble in order and hand over what is ready."""
        nxt, buf = self.rx[to_side]
        if seq < nxt or seq in buf:
            return  # a duplicate
        buf[seq] = msg
        proc = self.ends[to_side]
        while nxt in buf:
            m = buf.pop(nxt)
            nxt += 1
            self.rx[to_side] = (nxt, buf)
            if not self.open[to_side]:
                continue
            if m is FIN or m is RST:
                self.open[to_side] = False
                proc.conns.pop(self.id, None)
                proc.run(self._closed_fn(proc, "eof" if m is FIN else "reset"))
            else:
                proc.run(self._message_fn(proc, to_side, m))

    def _closed_fn(self, proc: Process, reason: str) -> Callable[[], None]:
        return lambda: proc.on_closed(self, reason)

    def _message_fn(self, proc: Process, side: int, msg: Any) -> Callable[[], None]:
        def run() -> None:
            if self.open[side]:
                proc.on_message(self, msg)

        return run


class Network:
    """Hosts, paths between them, and everything in flight."""

    def __init__(self, sched: Scheduler, rng: random.Random) -> None:
        self.sched = sched
        self.rng = rng
        self.blocked: dict[tuple[str, str], None] = {}
        """Directed (src, dst) host pairs whose packets are dropped (insertion-ordered)."""
        self.params: dict[tuple[str, str], LinkParams] = {}
        self.host_up: dict[str, bool] = {}
        self.boot: dict[str, int] = {}
        """Boot count per host: a rebooted kernel forgets every connection."""
        self.listeners: dict[tuple[str, int], Process] = {}
        self.ips: dict[str, str] = {}
        """ip -> host name."""
        self.next_conn = 1

    # --- topology -----------------------------------------------------------------------------

    def add_host(self, name: str, ip: str) -> None:
        """Register a host and its address."""
        self.host_up[name] = True
        self.boot[name] = 1
        self.ips[ip] = name

    def power_off(self, name: str) -> None:
        """The host loses power: nothing in or out, its kernel state is gone."""
        self.host_up[name] = False

    def power_on(self, name: str) -> None:
        """The host boots again (a new kernel)."""
        self.host_up[name] = True
        self.boot[name] += 1

    def listen(self, proc: Process, ip: str, port: int) -> None:
        """`proc` accepts connections on ip:port."""
        self.listeners[(ip, port)] = proc

    def path_open(self, src: str, dst: str) -> bool:
        """Packets from host src reach host dst right now."""
        return src == dst or (
            (src, dst) not in self.blocked and self.host_up.get(src, False) and self.host_up.get(dst, False)
        )

    def block(self, src: str, dst: str) -> None:
        """Drop packets src -> dst (one way)."""
        if src != dst:
            self.blocked[(src, dst)] = None

    def unblock(self, src: str, dst: str) -> None:
        """Let packets src -> dst through again."""
        self.blocked.pop((src, dst), None)

    def heal(self) -> None:
        """Remove every block and restore healthy paths."""
        self.blocked.clear()
        self.params.clear()

    def link(self, src: str, dst: str) -> LinkParams:
        """Current parameters of the path src -> dst."""
        return self.params.get((src, dst), HEALTHY)

    # --- transport ----------------------------------------------------------------------------

    def _delay(self, src: str, dst: str) -> int:
        if src == dst:
            return LOOPBACK_DELAY
        p = self.params.get((src, dst), HEALTHY)
        d = p.delay + (self.rng.randrange(p.jitter + 1) if p.jitter else 0)
        return d

    def transmit(self, conn: Conn, side: int, seq: int, msg: Any, rto: int) -> None:
        """Send one segment of `conn` from `side` (retransmitted until its path opens)."""
        src = conn.ends[side].host
        dst = conn.ends[1 - side].host
        sched = self.sched
        if not self.path_open(src, dst):
            sched.after(rto, lambda: self._retransmit(conn, side, seq, msg, rto))
            return
        if src != dst:
            p = self.params.get((src, dst), HEALTHY)
            if p.loss and self.rng.random() < p.loss:
                sched.after(rto, lambda: self._retransmit(conn, side, seq, msg, rto))
                return
            if p.dup and self.rng.random() < p.dup:
                sched.after(self._delay(src, dst), lambda: self._arrive(conn, side, seq, msg, rto))
        sched.after(self._delay(src, dst), lambda: self._arrive(conn, side, seq, msg, rto))

    def _retransmit(self, conn: Conn, side: int, seq: int, msg: Any, rto: int) -> None:
        if conn.reset[side] or not conn.kernel_alive(side):
            return  # the sender's kernel dropped the connection (RST, power loss, reboot)
        if seq < conn.rx[1 - side][0]:
            return  # a duplicate already got through
        self.transmit(conn, side, seq, msg, min(rto * 2, RTO_MAX))

    def _arrive(self, conn: Conn, side: int, seq: int, msg: Any, rto: int) -> None:
        src = conn.ends[side].host
        dst = conn.ends[1 - side].host
        if not self.path_open(src, dst):
            # the path closed while the segment was in flight: lost, retransmitted
            self.sched.after(rto, lambda: self._retransmit(conn, side, seq, msg, rto))
            return
        if not conn.kernel_alive(1 - side) or not conn.end_alive(1 - side):
            # the receiver's kernel or process no longer has this connection: it answers RST,
            # and the sender retransmits until a RST gets through
            if msg is not RST and not conn.reset[side]:
                self.sched.after(self._delay(dst, src), lambda: self._reset(conn, side))
                self.sched.after(rto, lambda: self._retransmit(conn, side, seq, msg, rto))
            return
        conn.deliver(1 - side, seq, msg)

    def _reset(self, conn: Conn, side: int) -> None:
        """A RST reaches `side`: the connection is gone for it."""
        if conn.reset[side] or not conn.kernel_alive(side):
            return
        if not self.path_open(conn.ends[1 - side].host, conn.ends[side].host):
            return  # the RST itself was lost; the next retransmission will draw another
        conn.reset[side] = True
        if not conn.open[side]:
            return
        conn.open[side] = False
        proc = conn.ends[side]
        proc.conns.pop(conn.id, None)
        if conn.end_alive(side):
            proc.run(lambda: proc.on_closed(conn, "reset"))

    # --- connecting ---------------------------------------------------------------------------

    def connect(
        self,
        proc: Process,
        ip: str,
        port: int,
        kind: str,
        timeout: int,
        on_up: Callable[[Conn], None],
        on_fail: Callable[[str], None],
    ) -> Callable[[], None]:
        """Open a connection from `proc` to ip:port; exactly one of on_up/on_fail follows (unless
        the returned cancel function is called first, or `proc` dies)."""
        start = self.sched.now
        inc = proc.incarnation
        state = {"done": False}

        def cancel() -> None:
            state["done"] = True

        def finish_fail(reason: str) -> None:
            if state["done"] or not proc.alive or proc.incarnation != inc:
                return
            state["done"] = True
            proc.run(lambda: on_fail(reason))

        def attempt(k: int) -> None:
            if state["done"] or not proc.alive or proc.incarnation != inc:
                return
            dst = self.ips.get(ip)
            src = proc.host
            if dst is not None and self.path_open(src, dst) and self.path_open(dst, src):
                rtt = self._delay(src, dst) + self._delay(dst, src)
                self.sched.after(rtt, lambda: established(dst))
                return
            nxt = start + (SYN_RETRIES[k] if k < len(SYN_RETRIES) else RTO_MAX)
            deadline = start + timeout
            if nxt >= deadline:
                self.sched.at(deadline, lambda: finish_fail("connect timeout"))
            else:
                self.sched.at(nxt, lambda: attempt(k + 1))

        def established(dst: str) -> None:
            if state["done"] or not proc.alive or proc.incarnation != inc:
                return
            target = self.listeners.get((ip, port))
            if target is None or not target.alive or not self.host_up.get(dst, False):
                if self.host_up.get(dst, False):
                    finish_fail("connection refused")
                else:
                    attempt(len(SYN_RETRIES))
                return
            cid = self.next_conn
            self.next_conn += 1
            conn = Conn(self, cid, proc, target, kind)
            # the kernel accepts even when the process is stopped; the process sees it when it runs
            if not target.accept(conn, port):
                finish_fail("connection refused")
                return
            target.conns[cid] = conn
            proc.conns[cid] = conn
            state["done"] = True
            proc.run(lambda: on_up(conn) if conn.open[0] else None)

        attempt(0)
        return cancel

    # --- datagrams ----------------------------------------------------------------------------

    def send_datagram(self, src: str, dst: str, fn: Callable[[int], None], proc: Process) -> None:
        """One datagram from host src to `proc` on host dst: lost, duplicated, reordered.
        `fn(arrival)` runs in `proc` (when it runs) with the real arrival time (the kernel's
        receive timestamp, SO_TIMESTAMP)."""
        if not self.path_open(src, dst):
            return
        p = self.params.get((src, dst), HEALTHY)
        if src != dst and p.loss and self.rng.random() < p.loss:
            return
        copies = 2 if src != dst and p.dup and self.rng.random() < p.dup else 1
        for _ in range(copies):
            inc = proc.incarnation

            def arrive(inc: int = inc) -> None:
                if self.path_open(src, dst) and proc.alive and proc.incarnation == inc:
                    t = self.sched.now
                    proc.run(lambda: fn(t))

            self.sched.after(self._delay(src, dst), arrive)
