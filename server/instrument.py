"""Per-command instrumentation that costs nothing on the hot path: command timing for
INFO commandstats/latencystats, the slow log, the latency monitor and MONITOR.

Timing every command (two clock reads and bookkeeping per call) costs about 10% of pipelined
throughput in this server, so the plain `Engine.call` is never wrapped by default. Instead:

- *Instrumented mode*: `AdminState.timed_call` replaces `engine.call` on the engine instance
  (an instance attribute shadows the method, so the default path pays nothing at all) while it
  is needed: a MONITOR client is connected, the slow log threshold is below what the watchdog
  can resolve (e.g. `slowlog-log-slower-than 0`, "log everything"), or a sampling window is
  open. Each cron tick opens a window of `SAMPLE_WINDOW` commands, so per-command latencies
  (usec in commandstats, latencystats, LATENCY HISTOGRAM) are real measurements scaled to the
  call counts.
- *Watchdog*: a CPU-time interval timer (SIGPROF, so an idle server gets no signals) looks at
  the main thread's stack a few hundred times per CPU-second. A command seen running across
  ticks is a slow one; its duration is bracketed by the client's last read, the ticks, and the
  next read of any client, and it goes to the slow log / latency monitor if over threshold.
"""

from __future__ import annotations

import atexit
import math
import signal
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from server.config import ConfigError, catrepr

if TYPE_CHECKING:
    from server.blocking import Block
    from server.client import Client
    from server.commands.registry import Command
    from server.engine import Engine

SAMPLE_WINDOW = 32  # commands timed per cron tick in sampling mode
EXACT_BELOW_US = 2000  # slow log thresholds under this are served by instrumented mode
SLOWLOG_MAX_ARGS = 32
SLOWLOG_MAX_ARGLEN = 128
LATENCY_SAMPLES = 160  # per event, as Redis's LATENCY_TS_LEN

_clock_ns = time.perf_counter_ns


@dataclass(slots=True)
class SlowlogEntry:
    id: int
    time: int  # unix seconds when the command started
    duration: int  # microseconds
    argv: list[bytes]
    peer: bytes
    name: bytes


@dataclass(slots=True)
class LatencyEvent:
    samples: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    max: int = 0  # all-time high, ms


@dataclass(slots=True)
class Timing:
    """Measured latencies of one command: sampled calls and a log-linear histogram in ns."""

    n: int = 0
    ns: int = 0
    hist: dict[int, int] = field(default_factory=dict)


def _bucket(ns: int) -> int:
    """Histogram bucket of a duration: 4 linear sub-buckets per power of two."""
    b = ns.bit_length()
    if b <= 3:
        return ns
    return (b << 2) | ((ns >> (b - 3)) & 3)


def _bucket_top_ns(idx: int) -> int:
    """The upper edge (exclusive) of a bucket, in ns."""
    if idx < 8:
        return idx + 1
    b, sub = idx >> 2, idx & 3
    return (5 + sub) << (b - 3)


def redact(cmd: Command | None, argv: list[bytes]) -> list[bytes]:
    """Arguments as the slow log and MONITOR may show them: passwords become "(redacted)"."""
    if cmd is None or len(argv) < 2:
        return argv
    name = (cmd.parent.name if cmd.parent is not None else cmd.name).lower()
    out = list(argv)
    if name == b"auth":
        for i in range(1, len(out)):
            out[i] = b"(redacted)"
    elif name == b"hello":
        for i in range(2, len(out) - 2):
            if out[i].lower() == b"auth":
                out[i + 1] = out[i + 2] = b"(redacted)"
    elif name == b"config" and len(out) > 3 and out[1].lower() == b"set":
        for i in range(2, len(out) - 1, 2):
            if out[i].lower() in (b"requirepass", b"masterauth", b"masteruser"):
                out[i + 1] = b"(redacted)"
    elif name == b"migrate":
        for i in range(6, len(out)):
            tok = out[i].lower()
            if tok == b"auth" and i + 1 < len(out):
                out[i + 1] = b"(redacted)"
            elif tok == b"auth2" and i + 2 < len(out):
                out[i + 1] = out[i + 2] = b"(redacted)"
    return out


class AdminState:
    """The admin layer's per-engine state (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)
        self.slowlog: deque[SlowlogEntry] = deque()
        self.slowlog_next_id = 0
        self.latency: dict[str, LatencyEvent] = {}
        self.monitors: list[Client] = []
        self.timing: dict[Command, Timing] = {}
        self.window = 0
        self.installed = False
        self.watchdog: Watchdog | None = None
        self.net_samples: deque[tuple[float, int, int]] = deque(maxlen=16)
        self.exact_done: set[int] = set()  # id(argv) of calls that recorded their own duration
        self.quicklist_packed_threshold = 1 << 30
        self.leaked: list[bytes] = []
        hooks = engine.hooks
        prev_cfg = hooks.get("config_change")

        def config_change(name: str, old: Any, new: Any) -> None:
            self.config_changed(name, old, new)
            if prev_cfg is not None:
                prev_cfg(name, old, new)

        hooks["config_change"] = config_change
        prev_reset = hooks.get("client_reset")

        def client_reset(c: Client) -> None:
            if c in self.monitors:
                self.remove_monitor(c)
            if prev_reset is not None:
                prev_reset(c)

        hooks["client_reset"] = client_reset

    @property
    def engine(self) -> Engine:
        e = self._engine()
        assert e is not None
        return e

    # --- configuration changes that take effect at run time -------------------------------------

    def config_changed(self, name: str, old: Any, new: Any) -> None:
        """The admin layer's part of applying a CONFIG SET (raises ConfigError to refuse it)."""
        eng = self.engine
        if name == "requirepass" and not new:
            # The default user is "nopass" again: nobody needs to authenticate any more.
            for c in eng.clients.values():
                c.authenticated = True
        elif name == "loglevel":
            from server.log import configure_logging

            configure_logging(new, eng.config.logfile, service="server")
        elif name == "maxclients":
            adjust_open_files(int(new))
        elif name in ("slowlog-log-slower-than", "latency-monitor-threshold"):
            self.refresh_mode()
            self.update_watchdog()
        elif name in ("port", "bind"):
            hook = eng.hooks.get("rebind")
            if hook is None:
                raise ConfigError(
                    "Unable to listen on this port. Check server logs."
                    if name == "port"
                    else "Failed to bind to specified addresses."
                )
            hook()

    # --- mode switching -------------------------------------------------------------------------

    def _exact_wanted(self) -> bool:
        t = self.engine.config.slowlog_log_slower_than
        return bool(self.monitors) or 0 <= t < EXACT_BELOW_US

    def refresh_mode(self) -> None:
        """Install or remove the timed `call` wrapper, and start/stop the watchdog."""
        want = self._exact_wanted() or self.window > 0
        eng = self.engine
        if want and not self.installed:
            eng.call = self.timed_call  # type: ignore[method-assign]
            self.installed = True
        elif not want and self.installed:
            del eng.call
            self.installed = False

    def cron(self) -> None:
        """Every engine cron tick: a sampling window, network rates, the watchdog's state."""
        eng = self.engine
        self.net_samples.append((time.monotonic(), eng.stat_net_input_bytes, eng.stat_net_output_bytes))
        self.window = SAMPLE_WINDOW
        self.refresh_mode()
        self.update_watchdog()
        if self.watchdog is not None:
            self.watchdog.flush(time.monotonic())
        eng.memory.cron()

    def update_watchdog(self) -> None:
        """Run the watchdog while a threshold needs it, ticking at half the smallest one."""
        cfg = self.engine.config
        thresholds = []
        if cfg.slowlog_log_slower_than >= EXACT_BELOW_US:
            thresholds.append(cfg.slowlog_log_slower_than)
        if cfg.latency_monitor_threshold > 0:
            thresholds.append(cfg.latency_monitor_threshold * 1000)
        if not thresholds:
            if self.watchdog is not None:
                self.watchdog.stop()
                self.watchdog = None
            return
        interval = min(max(min(thresholds) / 2_000_000, 0.001), 0.01)
        if self.watchdog is None:
            self.watchdog = Watchdog.start(self, interval)
        elif abs(self.watchdog.interval - interval) > 1e-6:
            self.watchdog.set_interval(interval)

    def kbps(self) -> tuple[float, float]:
        """instantaneous_input_kbps / instantaneous_output_kbps over the last samples."""
        s = self.net_samples
        if len(s) < 2 or s[-1][0] <= s[0][0]:
            return 0.0, 0.0
        dt = s[-1][0] - s[0][0]
        return (s[-1][1] - s[0][1]) / dt / 1024, (s[-1][2] - s[0][2]) / dt / 1024

    # --- the timed call -------------------------------------------------------------------------

    def timed_call(self, c: Client, cmd: Command, argv: list[bytes]) -> bytes | Block:
        from server.engine import Engine

        eng = self.engine
        start_wall = time.time()
        t0 = _clock_ns()
        r = Engine.call(eng, c, cmd, argv)
        dt = _clock_ns() - t0
        self.record_timing(cmd, dt)
        if r.__class__ is bytes:  # a command that blocked is not a slow one
            self.finished(c, cmd, argv, dt // 1000, start_wall)
        if self.monitors and not ({"admin", "skip_monitor"} & cmd.flags):
            self.feed_monitors(c, argv, cmd)
        if self.window > 0:
            self.window -= 1
            if self.window == 0:
                self.refresh_mode()
        return r

    def record_timing(self, cmd: Command, ns: int) -> None:
        t = self.timing.get(cmd)
        if t is None:
            t = self.timing[cmd] = Timing()
        t.n += 1
        t.ns += ns
        b = _bucket(ns)
        t.hist[b] = t.hist.get(b, 0) + 1

    def finished(self, c: Client, cmd: Command, argv: list[bytes], usec: int, start_wall: float) -> None:
        """A command's measured duration: slow log and latency monitor."""
        cfg = self.engine.config
        t = cfg.slowlog_log_slower_than
        if t >= 0 and usec >= t and "skip_slowlog" not in cmd.flags:
            self.slowlog_push(c, cmd, argv, usec, start_wall)
        lt = cfg.latency_monitor_threshold
        if lt > 0 and usec // 1000 >= lt:
            self.latency_add("fast-command" if "fast" in cmd.flags else "command", usec // 1000)

    def note_exact(self, c: Client, cmd: Command, argv: list[bytes], ns: int, start_wall: float) -> None:
        """For a handler that knows its own duration (DEBUG SLEEP): log it exactly, once."""
        if self.installed:
            return  # timed_call measures it anyway
        self.exact_done.add(id(argv))
        self.finished(c, cmd, argv, ns // 1000, start_wall)

    # --- slow log -------------------------------------------------------------------------------

    def slowlog_push(self, c: Client, cmd: Command, argv: list[bytes], usec: int, start_wall: float) -> None:
        shown = redact(cmd, argv)
        args: list[bytes] = []
        n = min(len(shown), SLOWLOG_MAX_ARGS)
        for i in range(n):
            if n == SLOWLOG_MAX_ARGS and i == n - 1 and len(shown) > SLOWLOG_MAX_ARGS:
                args.append(b"... (%d more arguments)" % (len(shown) - SLOWLOG_MAX_ARGS + 1))
                break
            a = shown[i]
            if len(a) > SLOWLOG_MAX_ARGLEN:
                a = a[:SLOWLOG_MAX_ARGLEN] + b"... (%d more bytes)" % (len(a) - SLOWLOG_MAX_ARGLEN)
            args.append(a)
        entry = SlowlogEntry(
            self.slowlog_next_id, int(start_wall), usec, args, c.addr.encode(), bytes(c.name)
        )
        self.slowlog_next_id += 1
        self.slowlog.appendleft(entry)
        maxlen = self.engine.config.slowlog_max_len
        while len(self.slowlog) > maxlen:
            self.slowlog.pop()

    # --- latency monitor ------------------------------------------------------------------------

    def latency_add(self, event: str, ms: int) -> None:
        ev = self.latency.get(event)
        if ev is None:
            ev = self.latency[event] = LatencyEvent()
        now = int(time.time())
        if ev.samples and ev.samples[-1][0] == now:
            if ms > ev.samples[-1][1]:
                ev.samples[-1] = (now, ms)
        else:
            ev.samples.append((now, ms))
        ev.max = max(ev.max, ms)

    # --- MONITOR --------------------------------------------------------------------------------

    def add_monitor(self, c: Client) -> None:
        if c not in self.monitors:
            self.monitors.append(c)
        self.refresh_mode()

    def remove_monitor(self, c: Client) -> None:
        if c in self.monitors:
            self.monitors.remove(c)
        self.refresh_mode()

    def feed_monitors(self, c: Client, argv: list[bytes], cmd: Command | None) -> None:
        """One MONITOR line, Redis's format: +<unix.micro> [<db> <peer>] "arg" ...

        A monitor's own commands are not echoed back to it: its reply is not written yet, and
        the line must not overtake it."""
        sec, usec = divmod(time.time_ns() // 1000, 1_000_000)
        args = " ".join(catrepr(a) for a in redact(cmd, argv))
        line = f"+{sec}.{usec:06d} [{c.db.id} {c.addr or 'lua'}] {args}\r\n"
        data = line.encode("utf-8", "surrogateescape")
        gone = False
        for m in self.monitors:
            if m.closed:
                gone = True
            elif m is not c:
                m.push(data)
        if gone:
            self.monitors = [m for m in self.monitors if not m.closed]
            self.refresh_mode()

    # --- reporting ------------------------------------------------------------------------------

    def usec(self, cmd: Command) -> int:
        """Total microseconds spent in `cmd`: measured when every call was timed, otherwise the
        sampled mean scaled to the number of calls."""
        t = self.timing.get(cmd)
        if t is None or not t.n:
            return 0
        return round(t.ns / t.n * cmd.calls / 1000)

    def percentiles(self, cmd: Command, ps: list[float]) -> list[float] | None:
        """Latency percentiles in microseconds from the sampled histogram."""
        t = self.timing.get(cmd)
        if t is None or not t.n:
            return None
        items = sorted(t.hist.items())
        out = []
        for p in ps:
            need = max(1, math.ceil(t.n * p / 100.0))
            seen = 0
            val = _bucket_top_ns(items[-1][0])
            for idx, cnt in items:
                seen += cnt
                if seen >= need:
                    val = _bucket_top_ns(idx)
                    break
            out.append(val / 1000.0)
        return out

    def histogram_usec(self, cmd: Command) -> list[tuple[int, int]]:
        """LATENCY HISTOGRAM's cumulative power-of-two buckets, scaled to the real call count."""
        t = self.timing.get(cmd)
        if t is None or not t.n:
            return []
        per_pow: dict[int, int] = {}
        for idx, cnt in t.hist.items():
            us = max(_bucket_top_ns(idx) / 1000.0, 1.0)
            top = 1 << max(0, math.ceil(math.log2(us)))
            per_pow[top] = per_pow.get(top, 0) + cnt
        scale = cmd.calls / t.n if cmd.calls else 1.0
        out = []
        acc = 0
        for top in sorted(per_pow):
            acc += per_pow[top]
            out.append((top, round(acc * scale)))
        return out

    def reset_stats(self) -> None:
        self.timing.clear()


def adjust_open_files(maxclients: int) -> None:
    """Redis's adjustOpenFilesLimit for CONFIG SET maxclients: raise the fd limit if needed
    (32 descriptors are kept for the server itself), or refuse with Redis's message."""
    import resource

    need = maxclients + 32
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    except (ValueError, OSError):
        pass
    if soft < need:
        raise ConfigError(
            f"The operating system is not able to handle the specified number of clients, try with {soft - 32}"
        )


_STATES: weakref.WeakKeyDictionary[Engine, AdminState] = weakref.WeakKeyDictionary()


def state(engine: Engine) -> AdminState:
    """The engine's AdminState (created on first use when the engine does not carry one)."""
    st = getattr(engine, "admin", None)
    if isinstance(st, AdminState):
        return st
    st = _STATES.get(engine)
    if st is None:
        st = _STATES[engine] = AdminState(engine)
    return st


@dataclass(slots=True)
class _Seen:
    frame: FrameType
    client: Any
    cmd: Any
    argv: list[bytes]
    start_lb: float  # monotonic lower bound of the start
    start_wall: float
    first: float
    last: float


class Watchdog:
    """Spots long-running commands from SIGPROF ticks (CPU time, so idle costs nothing)."""

    def __init__(self, st: AdminState, interval: float) -> None:
        self.st = st
        self.interval = interval
        self.prev_tick = time.monotonic()
        self.tracked: dict[int, _Seen] = {}
        self.prev_handler: Any = None
        self.code: Any = None
        self._in_tick = False
        self.errors = 0
        """Ticks that failed (an error the handler must not let surface in a command)."""

    @classmethod
    def start(cls, st: AdminState, interval: float) -> Watchdog | None:
        """Arm the timer (main thread only; returns None where signals are unavailable)."""
        from server.engine import Engine

        wd = cls(st, interval)
        wd.code = Engine.call.__code__
        try:
            wd.prev_handler = signal.signal(signal.SIGPROF, wd._tick)
            signal.setitimer(signal.ITIMER_PROF, interval, interval)
        except (ValueError, OSError, AttributeError):
            return None
        # The interpreter resets Python-level handlers when it finalizes: a tick after that
        # would kill the process with SIGPROF's default action, so disarm the timer first.
        atexit.register(wd.stop)
        return wd

    def set_interval(self, interval: float) -> None:
        self.interval = interval
        signal.setitimer(signal.ITIMER_PROF, interval, interval)

    def stop(self) -> None:
        atexit.unregister(self.stop)
        try:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
            signal.signal(signal.SIGPROF, self.prev_handler or signal.SIG_DFL)
        except (ValueError, OSError):
            pass
        self.tracked.clear()

    def _calls_on_stack(self, frame: FrameType | None) -> list[FrameType]:
        code = self.code
        out = []
        f = frame
        while f is not None:
            if f.f_code is code:
                out.append(f)
            f = f.f_back
        return out

    def _tick(self, signum: int, frame: FrameType | None) -> None:
        """The SIGPROF handler. It runs between two bytecodes of whatever the main thread was
        doing, so anything it raises would surface there (a command would fail with "internal
        error"), and another tick can interrupt it: a tick inside a tick returns at once, and an
        error is swallowed (counted in `errors`)."""
        if self._in_tick:
            return
        self._in_tick = True
        try:
            self._observe(frame)
        except Exception:
            self.errors += 1
        finally:
            self._in_tick = False

    def _observe(self, frame: FrameType | None) -> None:
        now = time.monotonic()
        running = self._calls_on_stack(frame)
        ids = {id(f) for f in running}
        for key in [k for k in self.tracked if k not in ids]:  # no tick runs inside a tick
            self._finalize(self.tracked.pop(key), now)
        for f in running:
            seen = self.tracked.get(id(f))
            if seen is not None and seen.frame is f:
                seen.last = now
                continue
            loc = f.f_locals
            c = loc.get("c")
            last_read = getattr(c, "last_interaction", 0.0)
            start_lb = max(self.prev_tick, last_read)
            self.tracked[id(f)] = _Seen(
                f,
                c,
                loc.get("cmd"),
                loc.get("argv") or [],
                start_lb,
                time.time() - (now - start_lb),
                now,
                now,
            )
        self.prev_tick = now

    def flush(self, now: float) -> None:
        """Finalize tracked commands that are no longer running (called outside any command,
        e.g. from the cron or before SLOWLOG/LATENCY replies)."""
        if not self.tracked:
            return
        running = {id(f) for f in self._calls_on_stack(_current_frame())}
        # list(dict) runs in C, so a tick cannot change the dict while it is being read.
        for key in [k for k in list(self.tracked) if k not in running]:
            seen = self.tracked.pop(key, None)
            if seen is not None:
                self._finalize(seen, now)

    def _finalize(self, seen: _Seen, gone: float) -> None:
        if id(seen.argv) in self.st.exact_done:
            self.st.exact_done.discard(id(seen.argv))
            return
        if seen.last == seen.first and seen.first - seen.start_lb < self.interval:
            return  # seen at a single tick: shorter than the resolution, not a slow command
        # Any read after the command was last seen happened after it ended.
        end_ub = gone
        try:
            for cl in self.st.engine.clients.values():
                li = cl.last_interaction
                if seen.last < li < end_ub:
                    end_ub = li
        except RuntimeError:
            pass
        end = min(end_ub, seen.last + self.interval)
        end = (seen.last + end) / 2
        usec = max(int((end - seen.start_lb) * 1_000_000), 0)
        if seen.client is None or seen.cmd is None:
            return
        self.st.finished(seen.client, seen.cmd, seen.argv, usec, seen.start_wall)


def _current_frame() -> FrameType | None:
    import sys

    return sys._getframe(1)
