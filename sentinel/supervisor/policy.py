"""The supervisor's decisions, sans-IO: events and a clock in, actions out.

`SupervisorPolicy.step(now, event)` is pure with respect to the outside world: it never reads a
clock, spawns, signals, sleeps or touches a socket. The driver (`sentinel.supervisor.runner`)
executes the returned actions in order, feeds back what happens (`Spawned`, `Exited`,
`ProbeResult`, `Assessed`, signals) and calls `step(now, Tick())` at `next_deadline()`.

What it decides:

* **Restarts** with capped exponential back-off: the n-th consecutive crash of a child waits
  `min(initial_delay * multiplier**(n-1), max_delay)`. A run of at least `stable_after` seconds
  resets the count. After `crash_loop_limit` consecutive crashes the supervisor gives up: it
  reports the crash loop (log, STATUS=, exit status 3) and stops everything.
* **Health**: each running child is probed every `interval`; one that has not answered within
  `start_timeout` of its start, or for `hang_timeout` since its last answer, is killed (and then
  restarted like any crash).
* **Order**: the sentinel starts first (the server's role is decided from the sentinels' view);
  on shutdown the sentinel is stopped before the server.
* **The empty-master rule** (`decide_server_start`): a server that the sentinels see as the
  master, whose replicas the sentinels know, is never started as master with an empty dataset:
  that would make every replica resync to nothing. It is held back, the sentinels get a hint
  that the master is down, and it starts as a replica of the master they elect.
* **systemd**: READY=1 once the sentinel is up and the server is up or held by the empty-master
  rule,
  WATCHDOG=1 every watchdog interval while this loop runs, STATUS= whenever the summary
  changes, STOPPING=1 when the shutdown begins.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass, field
from typing import Any, Literal

# ---------------------------------------------------------------------------------------------
# Settings


MasterRestart = Literal["unless-empty", "never"]


@dataclass(frozen=True, slots=True)
class RestartSettings:
    """Restart policy knobs (seconds)."""

    initial_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    stable_after: float = 60.0
    """A run at least this long resets the consecutive-crash count."""
    crash_loop_limit: int = 5
    """Consecutive crashes (each run shorter than `stable_after`) after which the supervisor gives up."""
    master_restart: MasterRestart = "unless-empty"
    """`unless-empty`: a crashed master with data on disk is restarted as master;
    `never`: a crashed master always waits for a failover and comes back as a replica."""
    hold_retry: float = 1.0
    """While the server is held back, how often the sentinels are asked again."""

    def delay(self, crashes: int) -> float:
        """Back-off before the restart that follows the `crashes`-th consecutive crash (>= 1)."""
        if crashes < 1:
            return 0.0
        d = self.initial_delay
        for _ in range(crashes - 1):
            d *= self.multiplier
            if d >= self.max_delay:
                return self.max_delay
        return min(d, self.max_delay)


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """Liveness probing of the children (seconds)."""

    interval: float = 1.0
    start_timeout: float = 120.0
    """A child must answer its first probe within this (the server loads its dataset first)."""
    hang_timeout: float = 15.0
    """A child that answered before and then stays silent this long is killed."""
    probe_timeout: float = 2.0

    @property
    def starting_interval(self) -> float:
        """Probe cadence until the first answer: fast, so READY=1 is not late."""
        return min(self.interval, 0.1)


@dataclass(frozen=True, slots=True)
class StopSettings:
    """SIGTERM -> SIGKILL grace per child (seconds)."""

    sentinel: float = 10.0
    server: float = 60.0


# ---------------------------------------------------------------------------------------------
# Children, roles, the sentinels' view, the dataset


class Child(enum.Enum):
    SENTINEL = "sentinel"
    SERVER = "server"


ORDER_START = (Child.SENTINEL, Child.SERVER)
ORDER_STOP = (Child.SENTINEL, Child.SERVER)


@dataclass(frozen=True, slots=True)
class AsConfigured:
    """Start the server with its config file's `replicaof` (or as a master without one)."""

    def describe(self) -> str:
        return "as configured"


@dataclass(frozen=True, slots=True)
class AsMaster:
    """`--replicaof no one`: the sentinels say this server is the master."""

    def describe(self) -> str:
        return "as master"


@dataclass(frozen=True, slots=True)
class ReplicaOf:
    """`--replicaof host port`: the sentinels' current master."""

    host: str
    port: int

    def describe(self) -> str:
        return f"as replica of {self.host}:{self.port}"


Role = AsConfigured | AsMaster | ReplicaOf


@dataclass(frozen=True, slots=True)
class ReplicaData:
    """The known replicas' answers to "do you hold data?" (supervisor/replicas.py): `empty` only
    when every one of them is known to hold nothing; `unknown` when some could not tell (and
    none is known to hold data)."""

    empty: bool
    detail: str
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class MasterView:
    """What the sentinels say about the master (the answer with the highest config epoch)."""

    addr: tuple[str, int] | None
    """The current master's address, None when no sentinel that answered knows one."""
    config_epoch: int = 0
    replicas: int = 0
    """Replicas the sentinels know for that master (`num-slaves`, the largest reported)."""
    replica_addrs: tuple[tuple[str, int], ...] = ()
    """Their addresses, as the answering sentinels list them."""
    answered: int = 0
    asked: int = 0
    sources: tuple[str, ...] = ()
    """The sentinels (host:port) that gave this answer."""

    def describe(self) -> str:
        if self.addr is None:
            return f"no master known ({self.answered} of {self.asked} sentinels answered)"
        return (
            f"master {self.addr[0]}:{self.addr[1]} (config epoch {self.config_epoch}, "
            f"{self.replicas} known replica(s), per {len(self.sources)} of {self.asked} sentinels)"
        )


@dataclass(frozen=True, slots=True)
class DatasetState:
    """Whether the server would load any key from its data directory."""

    empty: bool
    detail: str


@dataclass(frozen=True, slots=True)
class StartServer:
    role: Role
    why: str


@dataclass(frozen=True, slots=True)
class HoldServer:
    why: str
    hint: bool
    """Tell the sentinels the master is down (this server is their master and will not come back)."""


Decision = StartServer | HoldServer


def same_addr(a: tuple[str, int], b: tuple[str, int]) -> bool:
    """Addresses compare as the sentinels compare them: case-insensitive host, same port."""
    return a[0].lower() == b[0].lower() and a[1] == b[1]


def decide_server_start(
    *,
    view: MasterView,
    self_addr: tuple[str, int],
    dataset: DatasetState,
    configured_replicaof: tuple[str, int] | None,
    after_crash: bool,
    master_restart: MasterRestart = "unless-empty",
    replicas: ReplicaData | None = None,
) -> Decision:
    """How (and whether) to start the server now. The decision table of docs/operations.md.

    | sentinels' master | known replicas | dataset | start |
    |---|---|---|---|
    | another server M | any | any | replica of M |
    | this server | 0 | any | master (nothing to wipe; no failover possible) |
    | this server | >= 1 | empty | **hold**, hint the sentinels, wait for a failover; except when every replica answered empty (a new cluster): master |
    | this server | >= 1 | data | master (`never` after a crash: hold + hint) |
    | unknown | - | any, config has replicaof | as configured (a replica wipes nobody) |
    | unknown | - | data | as configured |
    | unknown | - | empty | **hold** (no blind empty master), ask again |
    """
    if view.addr is None:
        if configured_replicaof is not None:
            host, port = configured_replicaof
            return StartServer(
                AsConfigured(),
                f"no sentinel knows the master ({view.answered} of {view.asked} answered); "
                f"the server config makes it a replica of {host}:{port}",
            )
        if not dataset.empty:
            return StartServer(
                AsConfigured(),
                f"no sentinel knows the master ({view.answered} of {view.asked} answered); "
                f"starting as configured with the dataset on disk ({dataset.detail})",
            )
        return HoldServer(
            f"no sentinel knows the master ({view.answered} of {view.asked} answered) and the "
            f"dataset is empty ({dataset.detail}): not starting an empty master blindly",
            hint=False,
        )
    if not same_addr(view.addr, self_addr):
        host, port = view.addr
        return StartServer(ReplicaOf(host, port), f"the sentinels' master is {host}:{port}")
    n = view.replicas
    if n == 0:
        return StartServer(
            AsMaster(), "this server is the sentinels' master and they know no replica: nothing to wipe"
        )
    asked = replicas or ReplicaData(False, "not asked")
    if dataset.empty and asked.empty and not (after_crash and master_restart == "never"):
        return StartServer(
            AsMaster(),
            f"this server is the sentinels' master and its dataset is empty ({dataset.detail}), and so "
            f"are its {n} replica(s) ({asked.detail}): a new cluster, nothing to wipe",
        )
    if dataset.empty and asked.unknown and not after_crash:
        # At a start (not after a crash), no hint: at a new cluster's first start the replicas
        # answer a moment later (then this server starts as master); if one stays silent, the
        # sentinels fail over anyway once this server has been down for down-after. After a
        # crash the hint goes out as before: a master that lost its data should be replaced fast.
        return HoldServer(
            f"this server is the sentinels' master and its dataset is empty ({dataset.detail}); "
            f"whether its {n} replica(s) hold data is not known yet ({asked.detail}): asking again",
            hint=False,
        )
    if dataset.empty:
        return HoldServer(
            f"this server is the sentinels' master and its dataset is empty ({dataset.detail}): "
            f"as master it would wipe its {n} replica(s); waiting for a failover",
            hint=True,
        )
    if after_crash and master_restart == "never":
        return HoldServer(
            "this server is the sentinels' master and master_restart = never: "
            "waiting for a failover to restart it as a replica",
            hint=True,
        )
    return StartServer(
        AsMaster(), f"this server is the sentinels' master; dataset on disk ({dataset.detail})"
    )


# ---------------------------------------------------------------------------------------------
# Events (driver -> policy)


@dataclass(frozen=True, slots=True)
class Start:
    """Once, first."""


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed (fed at `next_deadline()`)."""


@dataclass(frozen=True, slots=True)
class Spawned:
    """Answer to `Spawn`: the process exists. Fed before any other event."""

    child: Child
    pid: int


@dataclass(frozen=True, slots=True)
class SpawnFailed:
    """Answer to `Spawn`: fork/exec failed (treated like an immediate crash)."""

    child: Child
    error: str


@dataclass(frozen=True, slots=True)
class Exited:
    """A child process ended. `returncode` as subprocess reports it: negative = killed by -n."""

    child: Child
    pid: int
    returncode: int


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Answer to `Probe`: whether the child answered a PING (any RESP reply counts)."""

    child: Child
    pid: int
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Assessed:
    """Answer to `Assess(token)`: the sentinels' view and the dataset on disk."""

    token: int
    view: MasterView
    dataset: DatasetState
    configured_replicaof: tuple[str, int] | None = None
    replicas: ReplicaData | None = None
    """What the known replicas said, asked only when it matters (this server is the sentinels'
    master, its dataset is empty and they know replicas; replicas.py)."""


@dataclass(frozen=True, slots=True)
class SignalReceived:
    signum: int


Event = Start | Tick | Spawned | SpawnFailed | Exited | ProbeResult | Assessed | SignalReceived


# ---------------------------------------------------------------------------------------------
# Actions (policy -> driver)


@dataclass(frozen=True, slots=True)
class Spawn:
    """Start the child (the server with `role`); feed `Spawned` or `SpawnFailed` at once."""

    child: Child
    role: Role | None = None


@dataclass(frozen=True, slots=True)
class SendSignal:
    child: Child
    pid: int
    signum: int


@dataclass(frozen=True, slots=True)
class Kill:
    """SIGKILL."""

    child: Child
    pid: int


@dataclass(frozen=True, slots=True)
class Probe:
    """PING the child (bounded); feed `ProbeResult`."""

    child: Child
    pid: int


@dataclass(frozen=True, slots=True)
class Assess:
    """Ask the sentinels for the master and inspect the dataset (bounded); feed `Assessed`."""

    token: int


@dataclass(frozen=True, slots=True)
class Hint:
    """Tell the sentinels (the local one first) that the master at host:port is down, and when
    its process exited (`exited_at`, this policy's clock) if this supervisor saw it exit: the
    sentinels take it as evidence of when the master was last up (sentinel/core/hint.py)."""

    host: str
    port: int
    exited_at: float | None = None


@dataclass(frozen=True, slots=True)
class NotifyReady:
    pass


@dataclass(frozen=True, slots=True)
class NotifyWatchdog:
    pass


@dataclass(frozen=True, slots=True)
class NotifyStopping:
    pass


@dataclass(frozen=True, slots=True)
class NotifyStatus:
    text: str


@dataclass(frozen=True, slots=True)
class Log:
    level: str
    """debug, info, warning, error, critical"""
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Exit:
    """Everything is stopped: exit the supervisor with `code` (0 asked to stop, 3 crash loop)."""

    code: int


Action = (
    Spawn
    | SendSignal
    | Kill
    | Probe
    | Assess
    | Hint
    | NotifyReady
    | NotifyWatchdog
    | NotifyStopping
    | NotifyStatus
    | Log
    | Exit
)

EXIT_OK = 0
EXIT_CRASH_LOOP = 3

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
FORWARDED_SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


def describe_returncode(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit code {rc}"


# ---------------------------------------------------------------------------------------------
# The policy


class Phase(enum.Enum):
    IDLE = "idle"
    STARTING = "starting"
    """Spawned, has not answered a probe yet."""
    UP = "up"
    BACKOFF = "backoff"
    """Waiting for `restart_at`."""
    ASSESSING = "assessing"
    """(server) waiting for the sentinels' view and the dataset to decide how to start."""
    HELD = "held"
    """(server) deliberately not started; asks again at `retry_at`."""
    STOPPED = "stopped"


@dataclass(slots=True)
class ChildState:
    name: Child
    phase: Phase = Phase.IDLE
    pid: int | None = None
    spawning: bool = False
    spawned_at: float = 0.0
    last_ok: float = 0.0
    probing: bool = False
    next_probe_at: float = 0.0
    kill_sent: bool = False
    term_sent: bool = False
    kill_at: float | None = None
    crashes: int = 0
    restarts: int = 0
    restart_at: float = 0.0
    not_before: float = 0.0
    after_crash: bool = False
    last_exit: str = ""
    exited_at: float | None = None
    """When the process last exited (a running one: not a failed spawn); None until then."""
    role: Role | None = None
    token: int = 0
    hold_reason: str = ""
    hold_deliberate: bool = False
    """Held by the empty-master rule (not just waiting for the local sentinel's first answer)."""
    retry_at: float = 0.0
    holds: int = 0

    @property
    def running(self) -> bool:
        return self.pid is not None


class SupervisorPolicy:
    """The supervisor's state machine. One instance per supervisor process."""

    def __init__(
        self,
        *,
        self_addr: tuple[str, int],
        restart: RestartSettings | None = None,
        health: HealthSettings | None = None,
        stop: StopSettings | None = None,
        watchdog_interval: float | None = None,
    ) -> None:
        self.self_addr = self_addr
        self.restart = restart or RestartSettings()
        self.health = health or HealthSettings()
        self.stop = stop or StopSettings()
        self.watchdog_interval = watchdog_interval
        self.children = {c: ChildState(c) for c in Child}
        self.started = False
        self.stopping = False
        self.stop_reason = ""
        self.exit_code: int | None = None
        self.exited = False
        self.ready_sent = False
        self.next_watchdog_at: float | None = None
        self.last_status = ""
        self.crash_loop: str = ""
        self._tokens = 0
        self._configured_replicaof: tuple[str, int] | None = None

    # --- driving -------------------------------------------------------------------------

    def step(self, now: float, event: Event) -> list[Action]:
        """Feed one event; returns the actions to execute, in order."""
        acts: list[Action] = []
        if self.exited:
            return acts
        if isinstance(event, Start):
            self._on_start(now, acts)
        elif isinstance(event, Spawned):
            self._on_spawned(now, event, acts)
        elif isinstance(event, SpawnFailed):
            self._on_spawn_failed(now, event, acts)
        elif isinstance(event, Exited):
            self._on_exited(now, event, acts)
        elif isinstance(event, ProbeResult):
            self._on_probe(now, event, acts)
        elif isinstance(event, Assessed):
            self._on_assessed(now, event, acts)
        elif isinstance(event, SignalReceived):
            self._on_signal(now, event, acts)
        if self.started and not self.exited:
            self._timers(now, acts)
            self._maybe_ready(acts)
            self._maybe_status(acts)
        return acts

    def next_deadline(self) -> float | None:
        """When to feed the next `Tick` (None: only events can change anything)."""
        if self.exited or not self.started:
            return None
        ds: list[float] = []
        if self.next_watchdog_at is not None:
            ds.append(self.next_watchdog_at)
        for c in self.children.values():
            if c.running:
                if self.stopping:
                    if c.kill_at is not None and not c.kill_sent:
                        ds.append(c.kill_at)
                    continue
                if not c.kill_sent:
                    ds.append(self._health_deadline(c))
                    if not c.probing:
                        ds.append(c.next_probe_at)
            elif c.phase is Phase.BACKOFF:
                ds.append(c.restart_at)
            elif c.phase is Phase.HELD:
                ds.append(c.retry_at)
        return min(ds) if ds else None

    def snapshot(self) -> dict[str, Any]:
        """The state for the status file (times on the policy's clock; the driver converts)."""
        children = []
        for n in ORDER_START:
            c = self.children[n]
            children.append(
                {
                    "name": n.value,
                    "state": c.phase.value,
                    "pid": c.pid,
                    "role": c.role.describe() if c.role is not None and c.pid is not None else None,
                    "restarts": c.restarts,
                    "consecutive_crashes": c.crashes,
                    "last_exit": c.last_exit or None,
                    "held": c.hold_reason if c.phase is Phase.HELD else None,
                    "spawned_at": c.spawned_at if c.pid is not None else None,
                }
            )
        return {
            "status": self.status_line(),
            "ready": self.ready_sent,
            "stopping": self.stopping,
            "crash_loop": self.crash_loop or None,
            "exit_code": self.exit_code if self.exited else None,
            "children": children,
        }

    def status_line(self) -> str:
        """One line for STATUS= (changes only when the state does, not with time)."""
        if self.crash_loop:
            head = f"crash loop: {self.crash_loop}; stopping"
        elif self.stopping:
            head = f"stopping ({self.stop_reason})"
        else:
            head = ""
        parts = [self._describe(self.children[Child.SERVER]), self._describe(self.children[Child.SENTINEL])]
        body = "; ".join(parts)
        return f"{head}: {body}" if head else body

    # --- events --------------------------------------------------------------------------

    def _on_start(self, now: float, acts: list[Action]) -> None:
        if self.started:
            return
        self.started = True
        acts.append(
            Log("info", "supervisor starting", {"this_server": f"{self.self_addr[0]}:{self.self_addr[1]}"})
        )
        if self.watchdog_interval is not None:
            self.next_watchdog_at = now
        self._spawn(now, self.children[Child.SENTINEL], None, acts)
        self._assess(now, self.children[Child.SERVER], not_before=now, after_crash=False, acts=acts)

    def _on_spawned(self, now: float, ev: Spawned, acts: list[Action]) -> None:
        c = self.children[ev.child]
        c.spawning = False
        c.pid = ev.pid
        c.spawned_at = now
        c.last_ok = now
        c.probing = False
        c.next_probe_at = now + self.health.starting_interval
        c.kill_sent = False
        c.term_sent = False
        c.kill_at = None
        fields: dict[str, Any] = {"child": c.name.value, "pid": ev.pid}
        if c.role is not None:
            fields["role"] = c.role.describe()
        acts.append(Log("info", "child started", fields))

    def _on_spawn_failed(self, now: float, ev: SpawnFailed, acts: list[Action]) -> None:
        c = self.children[ev.child]
        c.spawning = False
        c.spawned_at = now
        self._child_gone(now, c, f"could not be started: {ev.error}", acts)

    def _on_exited(self, now: float, ev: Exited, acts: list[Action]) -> None:
        c = self.children[ev.child]
        if c.pid != ev.pid:
            return
        c.pid = None
        c.exited_at = now
        self._child_gone(now, c, describe_returncode(ev.returncode), acts)

    def _child_gone(self, now: float, c: ChildState, how: str, acts: list[Action]) -> None:
        c.probing = False
        c.last_exit = how
        uptime = max(0.0, now - c.spawned_at)
        if self.stopping:
            c.phase = Phase.STOPPED
            acts.append(Log("info", "child stopped", {"child": c.name.value, "how": how}))
            self._advance_stop(now, acts)
            return
        c.crashes = 1 if uptime >= self.restart.stable_after else c.crashes + 1
        fields: dict[str, Any] = {
            "child": c.name.value,
            "how": how,
            "uptime": round(uptime, 3),
            "consecutive_crashes": c.crashes,
            "crash_loop_limit": self.restart.crash_loop_limit,
        }
        if c.crashes >= self.restart.crash_loop_limit:
            c.phase = Phase.STOPPED
            self.crash_loop = (
                f"{c.name.value} ended {c.crashes} times in a row, each within "
                f"{self.restart.stable_after:g}s of its start (last: {how})"
            )
            acts.append(Log("critical", "crash loop: giving up", {**fields, "summary": self.crash_loop}))
            self._begin_stop(now, EXIT_CRASH_LOOP, "crash loop", acts)
            return
        delay = self.restart.delay(c.crashes)
        c.restarts += 1
        c.restart_at = now + delay
        acts.append(
            Log("warning", "child ended, restarting after back-off", {**fields, "delay": round(delay, 3)})
        )
        if c.name is Child.SERVER:
            # Ask at once: if the server was the master and must not come back as one, the
            # sentinels are told now, not after the back-off.
            self._assess(now, c, not_before=c.restart_at, after_crash=True, acts=acts)
        else:
            c.phase = Phase.BACKOFF

    def _on_probe(self, now: float, ev: ProbeResult, acts: list[Action]) -> None:
        c = self.children[ev.child]
        if c.pid != ev.pid:
            return
        c.probing = False
        if not ev.ok:
            if c.phase is Phase.STARTING:
                c.next_probe_at = now + self.health.starting_interval
            else:
                c.next_probe_at = now + self.health.interval
            return
        c.next_probe_at = now + self.health.interval
        c.last_ok = now
        if c.phase is Phase.STARTING:
            c.phase = Phase.UP
            fields: dict[str, Any] = {
                "child": c.name.value,
                "pid": c.pid,
                "after": round(now - c.spawned_at, 3),
            }
            if c.role is not None:
                fields["role"] = c.role.describe()
            acts.append(Log("info", "child is up", fields))

    def _on_assessed(self, now: float, ev: Assessed, acts: list[Action]) -> None:
        c = self.children[Child.SERVER]
        if c.phase is not Phase.ASSESSING or ev.token != c.token or self.stopping:
            return
        self._configured_replicaof = ev.configured_replicaof
        d: Decision
        routine = False
        if ev.view.answered == 0 and self.children[Child.SENTINEL].phase is Phase.STARTING:
            routine = True
            # Nobody answered yet, but the local sentinel is still starting: its answer (or a
            # peer's) is worth a short wait before falling back to "as configured".
            d = HoldServer("no sentinel answered yet; waiting for the local sentinel to start", hint=False)
        else:
            d = decide_server_start(
                view=ev.view,
                self_addr=self.self_addr,
                dataset=ev.dataset,
                configured_replicaof=ev.configured_replicaof,
                after_crash=c.after_crash,
                master_restart=self.restart.master_restart,
                replicas=ev.replicas,
            )
        if isinstance(d, HoldServer):
            first = c.holds == 0 or d.why != c.hold_reason
            c.holds += 1
            c.phase = Phase.HELD
            c.hold_reason = d.why
            c.hold_deliberate = not routine
            c.retry_at = now + self.restart.hold_retry
            fields: dict[str, Any] = {"why": d.why, "view": ev.view.describe(), "attempt": c.holds}
            level = ("info" if routine else "warning") if first else "debug"
            acts.append(Log(level, "server held back", fields))
            if d.hint and ev.view.addr is not None:
                acts.append(Hint(ev.view.addr[0], ev.view.addr[1], c.exited_at))
            return
        if c.holds:
            acts.append(Log("info", "server no longer held", {"after_attempts": c.holds, "why": d.why}))
            c.holds = 0
            c.hold_reason = ""
        if now >= c.not_before:
            acts.append(Log("info", "starting server", {"role": d.role.describe(), "why": d.why}))
            self._spawn(now, c, d.role, acts)
        else:
            c.phase = Phase.BACKOFF
            c.restart_at = c.not_before

    def _on_signal(self, now: float, ev: SignalReceived, acts: list[Action]) -> None:
        try:
            name = signal.Signals(ev.signum).name
        except ValueError:
            name = str(ev.signum)
        if ev.signum in STOP_SIGNALS:
            if self.stopping:
                acts.append(Log("warning", "second stop signal: killing the children now", {"signal": name}))
                for n in ORDER_STOP:
                    c = self.children[n]
                    if c.pid is not None and not c.kill_sent:
                        c.kill_sent = True
                        acts.append(Kill(n, c.pid))
                return
            self._begin_stop(now, EXIT_OK, f"received {name}", acts)
        elif ev.signum in FORWARDED_SIGNALS:
            targets = [n.value for n in ORDER_STOP if self.children[n].pid is not None]
            acts.append(Log("info", "forwarding signal", {"signal": name, "to": targets}))
            for n in ORDER_STOP:
                c = self.children[n]
                if c.pid is not None:
                    acts.append(SendSignal(n, c.pid, ev.signum))

    # --- timers --------------------------------------------------------------------------

    def _health_deadline(self, c: ChildState) -> float:
        if c.phase is Phase.STARTING:
            return c.spawned_at + self.health.start_timeout
        return c.last_ok + self.health.hang_timeout

    def _timers(self, now: float, acts: list[Action]) -> None:
        if self.next_watchdog_at is not None and now >= self.next_watchdog_at and self.watchdog_interval:
            acts.append(NotifyWatchdog())
            self.next_watchdog_at = now + self.watchdog_interval
        for n in ORDER_START:
            c = self.children[n]
            if self.stopping:
                if c.pid is not None and c.kill_at is not None and now >= c.kill_at and not c.kill_sent:
                    c.kill_sent = True
                    acts.append(
                        Log(
                            "warning", "child did not stop in time: SIGKILL", {"child": n.value, "pid": c.pid}
                        )
                    )
                    acts.append(Kill(n, c.pid))
                continue
            if c.pid is not None:
                if not c.kill_sent and now >= self._health_deadline(c):
                    c.kill_sent = True
                    if c.phase is Phase.STARTING:
                        msg = f"did not answer within start_timeout ({self.health.start_timeout:g}s)"
                    else:
                        msg = f"unresponsive for hang_timeout ({self.health.hang_timeout:g}s)"
                    acts.append(
                        Log(
                            "error",
                            "child unresponsive: SIGKILL",
                            {"child": n.value, "pid": c.pid, "why": msg},
                        )
                    )
                    acts.append(Kill(n, c.pid))
                elif not c.probing and not c.kill_sent and now >= c.next_probe_at:
                    c.probing = True
                    acts.append(Probe(n, c.pid))
            elif c.phase is Phase.BACKOFF and now >= c.restart_at:
                if n is Child.SERVER:
                    self._assess(now, c, not_before=now, after_crash=c.after_crash, acts=acts)
                else:
                    self._spawn(now, c, None, acts)
            elif c.phase is Phase.HELD and now >= c.retry_at:
                self._assess(now, c, not_before=c.not_before, after_crash=c.after_crash, acts=acts)

    # --- helpers -------------------------------------------------------------------------

    def _spawn(self, now: float, c: ChildState, role: Role | None, acts: list[Action]) -> None:
        c.phase = Phase.STARTING
        c.role = role
        c.spawning = True
        c.spawned_at = now
        acts.append(Spawn(c.name, role))

    def _assess(
        self, now: float, c: ChildState, *, not_before: float, after_crash: bool, acts: list[Action]
    ) -> None:
        self._tokens += 1
        c.token = self._tokens
        c.phase = Phase.ASSESSING
        c.not_before = not_before
        c.after_crash = after_crash
        acts.append(Assess(c.token))

    def _begin_stop(self, now: float, code: int, reason: str, acts: list[Action]) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.exit_code = code
        self.stop_reason = reason
        acts.append(NotifyStopping())
        acts.append(Log("warning" if code else "info", "stopping", {"reason": reason, "exit_code": code}))
        for c in self.children.values():
            if c.pid is None and not c.spawning:
                c.phase = Phase.STOPPED
        self._advance_stop(now, acts)

    def _advance_stop(self, now: float, acts: list[Action]) -> None:
        """Stop the children one by one in ORDER_STOP; exit when none is left."""
        for n in ORDER_STOP:
            c = self.children[n]
            if c.spawning:
                return
            if c.pid is None:
                continue
            if not c.term_sent:
                c.term_sent = True
                grace = self.stop.sentinel if n is Child.SENTINEL else self.stop.server
                c.kill_at = now + grace
                acts.append(Log("info", "stopping child", {"child": n.value, "pid": c.pid, "grace": grace}))
                acts.append(SendSignal(n, c.pid, signal.SIGTERM))
            return
        self.exited = True
        code = EXIT_OK if self.exit_code is None else self.exit_code
        self._maybe_status(acts)
        acts.append(Log("info" if code == 0 else "error", "supervisor exiting", {"exit_code": code}))
        acts.append(Exit(code))

    def _maybe_ready(self, acts: list[Action]) -> None:
        if self.ready_sent or self.stopping:
            return
        s = self.children[Child.SENTINEL]
        v = self.children[Child.SERVER]
        if s.phase is Phase.UP and (v.phase is Phase.UP or (v.phase is Phase.HELD and v.hold_deliberate)):
            self.ready_sent = True
            acts.append(Log("info", "ready", {"server": self._describe(v), "sentinel": self._describe(s)}))
            acts.append(NotifyReady())

    def _maybe_status(self, acts: list[Action]) -> None:
        line = self.status_line()
        if line != self.last_status:
            self.last_status = line
            acts.append(NotifyStatus(line))

    def _describe(self, c: ChildState) -> str:
        name = c.name.value
        restarts = f", {c.restarts} restart(s)" if c.restarts else ""
        role = ""
        if c.role is not None:
            role = " " + c.role.describe()
            if isinstance(c.role, AsConfigured) and self._configured_replicaof is not None:
                role = f" as configured (replica of {self._configured_replicaof[0]}:{self._configured_replicaof[1]})"
        p = c.phase
        if p is Phase.UP:
            return f"{name} up{role} (pid {c.pid}{restarts})"
        if p is Phase.STARTING:
            pid = f"pid {c.pid}" if c.pid is not None else "spawning"
            return f"{name} starting{role} ({pid}{restarts})"
        if p is Phase.BACKOFF:
            return f"{name} restart pending after {c.last_exit} (crash {c.crashes} of {self.restart.crash_loop_limit})"
        if p is Phase.ASSESSING:
            after = f" after {c.last_exit}" if c.last_exit else ""
            return f"{name} asking the sentinels how to start{after}{restarts}"
        if p is Phase.HELD:
            return f"{name} held: {c.hold_reason}"
        if p is Phase.STOPPED:
            return f"{name} stopped" + (f" ({c.last_exit})" if c.last_exit else "")
        return f"{name} not started"
