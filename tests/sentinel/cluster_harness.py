"""Real processes: N Redis-protocol servers (ours or stock) and 3 sentinels (ours, stock or a mix).

Used by `tests/sentinel/test_e2e_failover.py` and `benchmarks/failover_bench.py`:

    with Cluster(tmp, servers="ours", sentinels=("ours", "ours", "stock")) as c:
        c.start()                      # master + replicas linked, sentinels started, discovery done
        w = Writer(c.sentinel_addrs(), wait_replicas=1).start()
        t_kill = c.kill_master()       # kill -9
        new = c.wait_switched()        # every sentinel agrees on a new address and config epoch
        ...

Every process is started here and killed by its PID; every wait is bounded; traffic goes to
127.0.0.1 only. Sentinel events are recorded from each sentinel's own pub/sub (`PSUBSCRIBE *`),
with the local monotonic time of arrival.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from tests.conftest import ServerProcess, free_port, our_server_argv, stock_server_argv, wait_for_port

Kind = Literal["ours", "stock"]
MASTER_NAME = "mymaster"
LOCALHOST = "127.0.0.1"


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `pred` until it returns something truthy; redis errors count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = pred()
        except redis.RedisError as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value {last!r})")
        time.sleep(interval)


def our_sentinel_available() -> bool:
    """True once `python -m sentinel <conf>` exists (the runtime and API have landed)."""
    import importlib.util

    return importlib.util.find_spec("sentinel.__main__") is not None


def stock_sentinel_argv(conf: Path) -> list[str]:
    binary = shutil.which("redis-sentinel")
    if binary is not None:
        return [binary, str(conf)]
    return ["redis-server", str(conf), "--sentinel"]


def our_sentinel_argv(conf: Path) -> list[str]:
    return [sys.executable, "-m", "sentinel", str(conf)]


def kill_pid(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGKILL, timeout: float = 10.0) -> None:
    if proc is not None and proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)


# --- sentinel events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    t: float  # time.monotonic() at arrival
    sentinel: int  # index in Cluster.sentinels
    channel: str
    payload: str


class EventLog:
    """Thread-safe list of every event published by every sentinel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def add(self, ev: Event) -> None:
        with self._lock:
            self._events.append(ev)

    def all(
        self, channel: str | None = None, since: float | None = None, sentinel: int | None = None
    ) -> list[Event]:
        with self._lock:
            evs = list(self._events)
        return [
            e
            for e in evs
            if (channel is None or e.channel == channel)
            and (since is None or e.t >= since)
            and (sentinel is None or e.sentinel == sentinel)
        ]


class EventListener(threading.Thread):
    """`PSUBSCRIBE *` on one sentinel; reconnects (while the sentinel is down) until stopped."""

    def __init__(self, idx: int, port: int, log: EventLog) -> None:
        super().__init__(name=f"sentinel-events-{idx}", daemon=True)
        self.idx, self.port, self.log = idx, port, log
        self.subscribed = threading.Event()
        self._stop_flag = threading.Event()
        self.errors: list[str] = []

    def stop(self) -> None:
        self._stop_flag.set()
        self.join(timeout=5)

    def run(self) -> None:
        while not self._stop_flag.is_set():
            client = redis.Redis(
                host=LOCALHOST,
                port=self.port,
                socket_timeout=2,
                socket_connect_timeout=1,
                decode_responses=True,
            )
            ps = client.pubsub()
            try:
                ps.psubscribe("*")
                while not self._stop_flag.is_set():
                    msg = ps.get_message(timeout=0.1)
                    if msg is None:
                        continue
                    if msg["type"] == "psubscribe":
                        self.subscribed.set()
                    elif msg["type"] == "pmessage":
                        self.log.add(Event(time.monotonic(), self.idx, str(msg["channel"]), str(msg["data"])))
            except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
                self.subscribed.clear()
                if len(self.errors) < 100:
                    self.errors.append(repr(e))
                self._stop_flag.wait(0.2)
            finally:
                with contextlib.suppress(Exception):
                    ps.close()
                with contextlib.suppress(Exception):
                    client.close()


# --- processes ----------------------------------------------------------------------------------


@dataclass
class SentinelSettings:
    down_after_ms: int = 1000
    failover_timeout_ms: int = 10000
    parallel_syncs: int = 1
    quorum: int = 2


@dataclass
class SentinelProcess:
    idx: int
    kind: Kind
    port: int
    dir: Path
    settings: SentinelSettings
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.dir / "sentinel.conf"

    @property
    def log_path(self) -> Path:
        return self.dir / "sentinel.log"

    @property
    def label(self) -> str:
        return f"s{self.idx}({self.kind}:{self.port})"

    def write_conf(self, master_port: int) -> None:
        s = self.settings
        self.conf.write_text(
            f"port {self.port}\n"
            f"bind {LOCALHOST}\n"
            f"dir {self.dir}\n"
            f"sentinel monitor {MASTER_NAME} {LOCALHOST} {master_port} {s.quorum}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {s.down_after_ms}\n"
            f"sentinel failover-timeout {MASTER_NAME} {s.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {MASTER_NAME} {s.parallel_syncs}\n"
        )

    def argv(self) -> list[str]:
        return our_sentinel_argv(self.conf) if self.kind == "ours" else stock_sentinel_argv(self.conf)

    def start(self, timeout: float = 15.0) -> None:
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(self.argv(), cwd=self.dir, stdout=logf, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc, timeout=timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        kill_pid(self.proc)

    def stop(self) -> None:
        kill_pid(self.proc, signal.SIGTERM)

    def client(self, timeout: float = 2.0) -> redis.Redis:
        return redis.Redis(
            host=LOCALHOST,
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def server_directives(kind: Kind, diskless_sync: bool | None = None) -> list[str]:
    """Persistence off, immediate full syncs, no protected mode; `diskless_sync` None: the default.

    (Our server's diskless full sync used to hang under write load: the master streamed the
    backlog right after the EOF mark and the replica looked for the mark only at the end of a
    read. Fixed in 9668e61; the converted old master of the e2e tests, which needs a full sync
    while the new master takes writes, covers it.)
    """
    d = ["--save", "", "--repl-diskless-sync-delay", "0", "--protected-mode", "no"]
    if diskless_sync is not None:
        d += ["--repl-diskless-sync", "yes" if diskless_sync else "no"]
    if kind == "stock":
        d += ["--appendonly", "no"]
    return d


def sentinel_master(c: redis.Redis) -> dict[str, Any]:
    """SENTINEL MASTER mymaster as a dict (redis-py types it as `dict | bool`)."""
    m = c.sentinel_master(MASTER_NAME)
    if not isinstance(m, dict):
        raise AssertionError(f"SENTINEL MASTER {MASTER_NAME} answered {m!r}")
    return m


def repl_info(port: int, timeout: float = 2.0) -> dict[str, Any]:
    c = redis.Redis(host=LOCALHOST, port=port, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return dict(c.info("replication"))
    finally:
        c.close()


def is_replica_of(port: int, master_port: int) -> bool:
    info = repl_info(port)
    return (
        info.get("role") == "slave"
        and int(info.get("master_port", -1)) == master_port
        and info.get("master_link_status") == "up"
    )


# --- the cluster --------------------------------------------------------------------------------


@dataclass
class Cluster:
    """Servers + sentinels in `workdir`. Use as a context manager: everything is killed on exit."""

    workdir: Path
    servers_kind: Kind = "ours"
    sentinel_kinds: Sequence[Kind] = ("ours", "ours", "ours")
    replicas: int = 2
    settings: SentinelSettings = field(default_factory=SentinelSettings)
    # per-sentinel overrides of `settings` (index -> settings), e.g. to bias who leads
    overrides: dict[int, SentinelSettings] = field(default_factory=dict)
    diskless_sync: bool | None = None  # see server_directives()

    servers: list[ServerProcess] = field(default_factory=list, init=False)
    sentinels: list[SentinelProcess] = field(default_factory=list, init=False)
    events: EventLog = field(default_factory=EventLog, init=False)
    listeners: list[EventListener] = field(default_factory=list, init=False)
    initial_master: ServerProcess | None = field(default=None, init=False)
    t_kill: float | None = field(default=None, init=False)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- start --

    def start(self, discovery_timeout: float = 30.0) -> Cluster:
        self.start_servers()
        self.start_sentinels()
        self.wait_discovery(discovery_timeout)
        return self

    def _server(self, port: int, *extra: str) -> ServerProcess:
        d = self.workdir / f"server-{self.servers_kind}-{port}"
        d.mkdir(parents=True, exist_ok=True)
        argv_fn = our_server_argv if self.servers_kind == "ours" else stock_server_argv
        argv = argv_fn(
            port, "--dir", str(d), *server_directives(self.servers_kind, self.diskless_sync), *extra
        )
        sp = ServerProcess(argv, port, d, d / "server.log")
        self.servers.append(sp)
        return sp.start()

    def start_servers(self, timeout: float = 30.0) -> None:
        m = self._server(free_port())
        self.initial_master = m
        for _ in range(self.replicas):
            self._server(free_port(), "--replicaof", LOCALHOST, str(m.port))
        wait_until(
            lambda: all(is_replica_of(s.port, m.port) for s in self.servers[1:]),
            timeout,
            "replicas linked to the initial master",
        )
        wait_until(
            lambda: int(repl_info(m.port).get("connected_slaves", 0)) == self.replicas,
            timeout,
            "master lists every replica",
        )

    def start_sentinels(self) -> None:
        assert self.initial_master is not None
        for i, kind in enumerate(self.sentinel_kinds):
            d = self.workdir / f"sentinel{i}-{kind}"
            d.mkdir(parents=True, exist_ok=True)
            sp = SentinelProcess(i, kind, free_port(), d, self.overrides.get(i, self.settings))
            sp.write_conf(self.initial_master.port)
            self.sentinels.append(sp)
        for sp in self.sentinels:
            sp.start()
            lst = EventListener(sp.idx, sp.port, self.events)
            lst.start()
            self.listeners.append(lst)
        for lst in self.listeners:
            if not lst.subscribed.wait(10):
                raise AssertionError(f"could not PSUBSCRIBE to sentinel {lst.idx}: {lst.errors[-3:]}")

    def discovered(self, sp: SentinelProcess) -> bool:
        c = sp.client()
        try:
            m = sentinel_master(c)
            if m["flags"] != "master" or int(m["num-other-sentinels"]) != len(self.sentinels) - 1:
                return False
            reps = c.sentinel_slaves(MASTER_NAME)
            return len(reps) == self.replicas and all(r["flags"] == "slave" for r in reps)
        finally:
            c.close()

    def wait_discovery(self, timeout: float = 30.0) -> None:
        wait_until(
            lambda: all(self.discovered(sp) for sp in self.sentinels),
            timeout,
            "every sentinel knows the master, every replica and every other sentinel",
        )

    # -- addresses --

    def sentinel_addrs(self) -> list[tuple[str, int]]:
        return [(LOCALHOST, sp.port) for sp in self.sentinels]

    def server_by_port(self, port: int) -> ServerProcess:
        for s in self.servers:
            if s.port == port:
                return s
        raise KeyError(port)

    # -- faults --

    def kill_master(self) -> float:
        """kill -9 the initial master; returns the monotonic time just before the signal."""
        assert self.initial_master is not None and self.initial_master.proc is not None
        self.t_kill = time.monotonic()
        self.initial_master.kill9()
        return self.t_kill

    def restart_old_master(self) -> ServerProcess:
        """Start the killed master again on its port, with its original arguments (as a master)."""
        old = self.initial_master
        assert old is not None
        sp = ServerProcess(old.argv, old.port, old.cwd, old.log_path).start()
        self.servers[self.servers.index(old)] = sp
        self.initial_master = sp
        return sp

    # -- observation --

    def master_views(self) -> list[dict[str, Any] | None]:
        """SENTINEL MASTER mymaster of each live sentinel (None for a dead or unreachable one)."""
        out: list[dict[str, Any] | None] = []
        for sp in self.sentinels:
            if not sp.alive():
                out.append(None)
                continue
            c = sp.client()
            try:
                out.append(sentinel_master(c))
            except redis.RedisError:
                out.append(None)
            finally:
                c.close()
        return out

    def addr_by_name(self, sp: SentinelProcess) -> tuple[str, int] | None:
        c = sp.client()
        try:
            r = c.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        finally:
            c.close()
        if not r:
            return None
        if isinstance(r, tuple | list) and len(r) == 2:
            return str(r[0]), int(r[1])
        raise AssertionError(f"unexpected GET-MASTER-ADDR-BY-NAME reply {r!r} from {sp.label}")

    def agreement(self, old_port: int, live: Iterable[int] | None = None) -> tuple[int, int] | None:
        """(port, config-epoch) if every live sentinel reports the same new master, else None."""
        idxs = list(live) if live is not None else [sp.idx for sp in self.sentinels if sp.alive()]
        ports, epochs = set(), set()
        for i in idxs:
            sp = self.sentinels[i]
            addr = self.addr_by_name(sp)
            c = sp.client()
            try:
                m = sentinel_master(c)
            finally:
                c.close()
            if addr is None or addr[1] == old_port or int(m["port"]) != addr[1] or m["flags"] != "master":
                return None
            ports.add(addr[1])
            epochs.add(int(m["config-epoch"]))
        if len(ports) == 1 and len(epochs) == 1:
            return ports.pop(), epochs.pop()
        return None

    def wait_switched(self, timeout: float = 30.0, live: Iterable[int] | None = None) -> tuple[int, int]:
        assert self.initial_master is not None
        old = self.initial_master.port
        live_l = list(live) if live is not None else None
        res: tuple[int, int] = wait_until(
            lambda: self.agreement(old, live_l),
            timeout,
            "every sentinel agrees on one new master and config epoch",
        )
        return res

    def switches(self, since: float | None = None) -> list[Event]:
        return self.events.all("+switch-master", since=since)

    def leaders(self, since: float | None = None) -> list[int]:
        """Indexes of the sentinels that published +elected-leader (in order)."""
        return [e.sentinel for e in self.events.all("+elected-leader", since=since)]

    # -- teardown and diagnostics --

    def close(self) -> None:
        for lst in self.listeners:
            lst.stop()
        for sp in self.sentinels:
            with contextlib.suppress(Exception):
                sp.kill9()
        for s in self.servers:
            with contextlib.suppress(Exception):
                s.kill9()

    def report(self, log_tail: int = 60) -> str:
        """Events and log tails, for assertion messages."""
        lines = ["--- sentinels ---"]
        lines += [f"{sp.label} alive={sp.alive()} dir={sp.dir}" for sp in self.sentinels]
        t0 = self.t_kill if self.t_kill is not None else 0.0
        lines.append("--- events (seconds from the kill) ---")
        for e in self.events.all():
            if e.channel in ("+slave", "+sentinel", "+monitor"):
                continue
            lines.append(f"{e.t - t0:+8.3f} {self.sentinels[e.sentinel].label} {e.channel} {e.payload}")
        for sp in self.sentinels:
            tail = sp.log().splitlines()[-log_tail:]
            lines.append(f"--- {sp.label} log (last {len(tail)} lines) ---")
            lines += tail
        for s in self.servers:
            tail = s.log().splitlines()[-15:]
            lines.append(f"--- server {s.port} log (last {len(tail)} lines) ---")
            lines += tail
        return "\n".join(lines)


# --- the client side ----------------------------------------------------------------------------


@dataclass
class Write:
    seq: int
    t: float  # monotonic time the SET was acknowledged
    port: int | None  # master address the client had resolved
    replicas: int | None  # WAIT's answer, None when WAIT was not sent or failed


class Writer(threading.Thread):
    """Writes `SET <prefix><seq> <seq>` through redis-py's Sentinel client until stopped.

    With `wait_replicas`, each SET is followed by `WAIT <wait_replicas> <wait_timeout_ms>` and the
    answer is recorded. Errors (connection refused, timeouts, READONLY, no master found) are
    recorded and retried after `retry_delay`; each attempt uses a new sequence number, so a write
    is "acknowledged" only if its reply arrived.
    """

    def __init__(
        self,
        sentinels: Sequence[tuple[str, int]],
        *,
        wait_replicas: int | None = None,
        wait_timeout_ms: int = 500,
        socket_timeout: float = 0.5,
        interval: float = 0.005,
        retry_delay: float = 0.01,
        prefix: str = "w:",
    ) -> None:
        super().__init__(name="sentinel-writer", daemon=True)
        self.sentinel = Sentinel(
            list(sentinels),
            socket_timeout=socket_timeout,
            # No retries inside redis-py: its default (10 attempts, exponential backoff up to 1 s)
            # makes a dead sentinel at the head of the list cost seconds per discovery.
            sentinel_kwargs={
                "socket_timeout": socket_timeout,
                "socket_connect_timeout": socket_timeout,
                "retry": Retry(NoBackoff(), 0),
            },
        )
        self.client = self.sentinel.master_for(
            MASTER_NAME,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self.interval, self.retry_delay, self.prefix = interval, retry_delay, prefix
        self._lock = threading.Lock()
        self._writes: list[Write] = []
        self._errors: list[tuple[float, str]] = []
        self.error_count = 0
        self._stop_flag = threading.Event()

    def start_writing(self) -> Writer:
        self.start()
        return self

    def stop(self) -> None:
        self._stop_flag.set()
        self.join(timeout=10)
        with contextlib.suppress(Exception):
            self.client.close()

    def writes(self, since: float | None = None) -> list[Write]:
        with self._lock:
            ws = list(self._writes)
        return ws if since is None else [w for w in ws if w.t >= since]

    def errors(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self._errors)

    def acked(self) -> list[Write]:
        """Writes that WAIT confirmed on at least `wait_replicas` replicas."""
        n = self.wait_replicas or 0
        return [w for w in self.writes() if w.replicas is not None and w.replicas >= n]

    def first_write_after(self, t: float, exclude_port: int | None = None) -> Write | None:
        """The first write acknowledged at or after `t` (not counting late replies from `exclude_port`)."""
        ws = [w for w in self.writes(since=t) if exclude_port is None or w.port != exclude_port]
        return ws[0] if ws else None

    def run(self) -> None:
        seq = 0
        while not self._stop_flag.is_set():
            seq += 1
            try:
                self.client.set(f"{self.prefix}{seq}", seq)
                t = time.monotonic()
                addr = getattr(self.client.connection_pool, "master_address", None)
                port = int(addr[1]) if addr else None
                w = Write(seq, t, port, None)
                with self._lock:
                    self._writes.append(w)
                if self.wait_replicas is not None:
                    n = self.client.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
                    w.replicas = int(n)
            except (redis.RedisError, OSError) as e:
                with self._lock:
                    self.error_count += 1
                    if len(self._errors) < 1000:
                        self._errors.append((time.monotonic(), repr(e)[:200]))
                self._stop_flag.wait(self.retry_delay)
                continue
            if self.interval:
                self._stop_flag.wait(self.interval)
