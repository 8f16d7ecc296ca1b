"""Prometheus metrics of one sentinel, served over HTTP on `metrics-port` (0 or absent: off).

Gauges are read from `core.world` when scraped. The HTTP handler runs in the runtime's Trio
thread, between core steps, so it sees a consistent world (never a half-applied step). Counters
and the failover-duration histogram are fed by the runtime as events are published and scripts
end. Names (all prefixed `hasentinel_`) are listed in docs/cli.md.

Metrics for things this process does not own are declared with no samples until a source is
attached: the VIP (`vip_source`, set by the VIP ownership code) and the supervised children of
this host (`supervisor_source`: the supervisor's status file, whose path `hasentinel supervise`
passes to the sentinel as HASENTINEL_SUPERVISOR_STATUS).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
import trio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from sentinel import __version__
from sentinel.core.config import SentinelConfig, parse_int
from sentinel.core.instances import usable_sentinels
from sentinel.core.model import Instance, Master, format_addr

if TYPE_CHECKING:
    from sentinel.core.core import SentinelCore

log = structlog.get_logger("sentinel.metrics")

SUPERVISOR_STATUS_ENV = "HASENTINEL_SUPERVISOR_STATUS"
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 180.0)
MAX_REQUEST = 8192
REQUEST_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class VipSample:
    """One VIP as its owner code sees it: held by this host, and the age of the lease behind it."""

    vip: str
    held: bool
    lease_age: float | None = None


@dataclass(frozen=True, slots=True)
class ChildSample:
    """One supervised child: its name, restarts, whether it is up and for how long."""

    child: str
    restarts: int
    up: bool = False
    uptime: float | None = None


def supervisor_samples(path: Path) -> list[ChildSample]:
    """This host's supervised children, from the supervisor's status file (none if unusable)."""
    from sentinel.cli.supervisor import read_status

    doc = read_status(path)
    if not doc["available"]:
        return []
    return [
        ChildSample(c["name"], c["restarts"], bool(doc["running"]) and c["state"] == "up", c["uptime_seconds"])
        for c in doc["children"]
    ]


def metrics_address(config: SentinelConfig) -> tuple[str, int] | None:
    """Where to serve metrics: `metrics-port N` (0 = off) and `metrics-bind addr` directives.

    Without `metrics-bind`, the first `bind` address (`*` and no bind mean every IPv4 address).
    Raises ValueError with a message for the config error report.
    """
    port_s = _directive(config, "metrics-port")
    if port_s is None:
        return None
    port = parse_int(port_s)
    if port is None or not 0 <= port <= 65535:
        raise ValueError(f"Invalid metrics-port '{port_s}' (0 to 65535, 0 = off)")
    if port == 0:
        return None
    host = _directive(config, "metrics-bind")
    if host is None:
        first = config.bind[0].lstrip("-") if config.bind else "*"
        host = first
    if host in ("*", ""):
        host = "0.0.0.0"
    elif host == "::*":
        host = "::"
    return host, port


def _directive(config: SentinelConfig, name: str) -> str | None:
    for words in config.other:
        if words and words[0].lower() == name and len(words) >= 2:
            return words[1]
    return None


def script_result(exit_code: int, signal: int) -> str:
    """`ok` (0), `retry` (1, retried as stock), `error` (2 and up), `killed` / `signal`."""
    if signal == 9:
        return "killed"
    if signal:
        return "signal"
    if exit_code == 0:
        return "ok"
    return "retry" if exit_code == 1 else "error"


class _WorldCollector:
    """Gauges read from the core's world at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        core = self.m.core
        w = core.world
        now = self.m.now()
        info = GaugeMetricFamily("hasentinel_info", "Sentinel version and id.", labels=["version", "myid"])
        info.add_metric([__version__, w.myid], 1)
        yield info
        yield _gauge("hasentinel_current_epoch", "Current epoch of this sentinel.", w.current_epoch)
        yield _gauge("hasentinel_tilt", "1 while in TILT mode.", 1 if w.tilt else 0)
        yield _gauge("hasentinel_scripts_running", "Scripts running now.", w.scripts.running)
        yield _gauge("hasentinel_scripts_queued", "Scripts queued or running.", len(w.scripts.jobs))
        per_master: dict[str, GaugeMetricFamily] = {}

        def mg(name: str, doc: str) -> GaugeMetricFamily:
            g = per_master.get(name)
            if g is None:
                g = per_master[name] = GaugeMetricFamily(name, doc, labels=["master"])
            return g

        up = GaugeMetricFamily(
            "hasentinel_instance_up",
            "1 when the instance answers (command link up, not SDOWN), as this sentinel sees it.",
            labels=["master", "role", "addr"],
        )
        sdown = GaugeMetricFamily(
            "hasentinel_instance_sdown", "1 while the instance is subjectively down.", labels=["master", "role", "addr"]
        )
        offset = GaugeMetricFamily(
            "hasentinel_replica_offset_bytes", "Replication offset a replica reported.", labels=["master", "addr"]
        )
        link = GaugeMetricFamily(
            "hasentinel_replica_master_link_up", "1 when the replica's link to its master is up.", labels=["master", "addr"]
        )
        for m in w.masters.values():
            name = m.name
            mg("hasentinel_master_odown", "1 while the master is objectively down.").add_metric([name], int(m.odown))
            mg("hasentinel_master_sdown", "1 while the master is subjectively down.").add_metric([name], int(m.sdown))
            mg("hasentinel_master_config_epoch", "Config epoch of the master's current address.").add_metric(
                [name], m.config_epoch
            )
            mg("hasentinel_master_failover_in_progress", "1 while a failover of the master runs.").add_metric(
                [name], int(m.in_failover)
            )
            mg("hasentinel_master_maintenance", "1 while maintenance mode (hasentinel pause) is on.").add_metric(
                [name], int(m.maintenance)
            )
            mg("hasentinel_master_replicas", "Known replicas.").add_metric([name], len(m.replicas))
            mg("hasentinel_master_sentinels", "Known sentinels, this one included.").add_metric([name], len(m.peers) + 1)
            usable = usable_sentinels(m)
            mg("hasentinel_master_sentinels_usable", "Sentinels usable for quorum and election.").add_metric(
                [name], usable
            )
            mg("hasentinel_master_quorum", "Configured quorum.").add_metric([name], m.quorum)
            voters = len(m.peers) + 1
            ok = usable >= m.quorum and usable >= voters // 2 + 1
            mg("hasentinel_master_quorum_ok", "1 when SENTINEL CKQUORUM would answer OK.").add_metric([name], int(ok))
            last = m.last_failover
            if last is not None:
                mg("hasentinel_last_failover_epoch", "Config epoch of the last address switch seen.").add_metric(
                    [name], last.epoch
                )
                mg(
                    "hasentinel_last_failover_timestamp_seconds",
                    "Wall-clock time of the last address switch seen (estimated from the monotonic clock).",
                ).add_metric([name], time.time() - (now - last.switched_at) / 1000)
            for inst, role in _instances(m):
                addr = format_addr(inst.host, inst.port)
                up.add_metric([name, role, addr], int(inst.cc.up and not inst.sdown))
                sdown.add_metric([name, role, addr], int(inst.sdown))
            for r in m.replicas.values():
                offset.add_metric([name, r.name], r.repl_offset)
                link.add_metric([name, r.name], int(r.master_link_up))
        yield from per_master.values()
        yield from (up, sdown, offset, link)
        vip_held = GaugeMetricFamily("hasentinel_vip_held", "1 while this host holds the VIP.", labels=["vip"])
        lease = GaugeMetricFamily(
            "hasentinel_vip_lease_age_seconds", "Age of the lease behind the VIP ownership.", labels=["vip"]
        )
        if self.m.vip_source is not None:
            for v in self.m.vip_source():
                vip_held.add_metric([v.vip], int(v.held))
                if v.lease_age is not None:
                    lease.add_metric([v.vip], v.lease_age)
        yield vip_held
        yield lease
        restarts = CounterMetricFamily(
            "hasentinel_supervisor_restarts", "Restarts of supervised children (this host).", labels=["child"]
        )
        child_up = GaugeMetricFamily(
            "hasentinel_supervisor_child_up", "1 while the supervised child is up (this host).", labels=["child"]
        )
        uptime = GaugeMetricFamily(
            "hasentinel_supervisor_child_uptime_seconds", "Uptime of the supervised child.", labels=["child"]
        )
        if self.m.supervisor_source is not None:
            for c in self.m.supervisor_source():
                restarts.add_metric([c.child], c.restarts)
                child_up.add_metric([c.child], int(c.up))
                if c.uptime is not None:
                    uptime.add_metric([c.child], c.uptime)
        yield restarts
        yield child_up
        yield uptime


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc)
    g.add_metric([], value)
    return g


def _instances(m: Master) -> Iterable[tuple[Instance, str]]:
    yield m, "master"
    for r in m.replicas.values():
        yield r, "replica"
    for p in m.peers.values():
        yield p, "sentinel"


class Metrics:
    """The registry of one sentinel and what feeds it."""

    def __init__(self, core: SentinelCore, now: Callable[[], int]) -> None:
        self.core = core
        self.now = now
        self.vip_source: Callable[[], list[VipSample]] | None = None
        self.supervisor_source: Callable[[], list[ChildSample]] | None = None
        status_file = os.environ.get(SUPERVISOR_STATUS_ENV)
        if status_file:  # we run under `hasentinel supervise`: it tells us where it publishes
            path = Path(status_file)
            self.supervisor_source = lambda: supervisor_samples(path)
        self.registry = CollectorRegistry(auto_describe=False)
        self.events = Counter(
            "hasentinel_events", "Sentinel events published, by event name.", ["event"], registry=self.registry
        )
        self.failovers = Counter(
            "hasentinel_failovers",
            "Failovers this sentinel led, by kind (failover, forced, switchover) and result "
            "(ok, or the abort reason: not-elected, no-good-slave, slave-timeout, switchover).",
            ["master", "kind", "result"],
            registry=self.registry,
        )
        self.switches = Counter(
            "hasentinel_switches",
            "Master address switches, as leader or observer.",
            ["master", "role"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "hasentinel_failover_duration_seconds",
            "From the failover's start (epoch claimed) to the switch, for failovers this sentinel led.",
            ["master", "kind"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.scripts = Counter(
            "hasentinel_script_runs",
            "Script runs by kind (notification, client-reconfig) and result (ok, retry, error, killed, signal).",
            ["kind", "result"],
            registry=self.registry,
        )
        self.registry.register(_WorldCollector(self))
        self._script_kind: dict[int, str] = {}

    # --- feeding ----------------------------------------------------------------------------

    def on_publish(self, event: str, master_name: str | None) -> None:
        """Count an event; failovers and switches by master."""
        self.events.labels(event).inc()
        if master_name is None:
            return
        m = self.core.world.masters.get(master_name)
        if m is None:
            return
        kind = m.failover_kind or "failover"
        if event == "+failover-end":
            self.failovers.labels(master_name, kind, "ok").inc()
        elif event.startswith("-failover-abort-"):
            self.failovers.labels(master_name, kind, event.removeprefix("-failover-abort-")).inc()
        elif event == "+switch-master":
            last = m.last_failover
            leader = last is not None and last.kind != "observed"
            self.switches.labels(master_name, "leader" if leader else "observer").inc()
            if last is not None and last.duration is not None:
                self.duration.labels(master_name, last.kind).observe(last.duration / 1000)

    def script_started(self, job: int, argv: tuple[str, ...]) -> None:
        """Remember what kind of script a job is (matched against the masters' settings)."""
        kind = "other"
        path = argv[0] if argv else ""
        for m in self.core.world.masters.values():
            if path and path == m.settings.client_reconfig_script:
                kind = "client-reconfig"
                break
            if path and path == m.settings.notification_script:
                kind = "notification"
                break
        self._script_kind[job] = kind

    def script_exited(self, job: int, exit_code: int, signal: int) -> None:
        """Count a script's end."""
        kind = self._script_kind.pop(job, "other")
        self.scripts.labels(kind, script_result(exit_code, signal)).inc()

    # --- serving ----------------------------------------------------------------------------

    def render(self) -> bytes:
        """The exposition text (call between core steps)."""
        return bytes(generate_latest(self.registry))

    async def serve(
        self, host: str, port: int, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """A minimal HTTP/1.0 server: GET /metrics (or /) -> 200, anything else 404/405."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()[1]
        log.info("metrics endpoint listening", host=host, port=bound)
        task_status.started(bound)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            with trio.move_on_after(REQUEST_TIMEOUT):
                data = b""
                while b"\r\n\r\n" not in data and b"\n\n" not in data:
                    if len(data) > MAX_REQUEST:
                        await stream.send_all(_response(431, b"request too large\n"))
                        return
                    chunk = await stream.receive_some(4096)
                    if not chunk:
                        return
                    data += chunk
                words = data.split(b"\n", 1)[0].decode("latin-1").split()
                if len(words) < 2 or words[0] not in ("GET", "HEAD"):
                    await stream.send_all(_response(405, b"only GET\n"))
                    return
                path = words[1].split("?", 1)[0]
                if path not in ("/metrics", "/"):
                    await stream.send_all(_response(404, b"try /metrics\n"))
                    return
                body = self.render()
                await stream.send_all(_response(200, b"" if words[0] == "HEAD" else body, CONTENT_TYPE_LATEST, len(body)))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            await stream.aclose()


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 431: "Request Header Fields Too Large"}


def _response(code: int, body: bytes, ctype: str = "text/plain; charset=utf-8", length: int | None = None) -> bytes:
    head = (
        f"HTTP/1.0 {code} {_REASONS[code]}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body
