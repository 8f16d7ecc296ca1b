"""In-memory model of everything a sentinel tracks, and the per-step context.

Plain mutable dataclasses, no behaviour beyond small derived properties: the decision modules
(detect, election, selection, failover, ...) read and change them. All times are milliseconds of
the monotonic clock the runtime passes to `step`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

from sentinel.core.actions import Action, Channel
from sentinel.core.config import MasterConfig
from sentinel.core.info import Role
from sentinel.core.timers import DEFAULT_REPLICA_PRIORITY, Timers

if TYPE_CHECKING:
    from sentinel.core.hint import HintCheck
    from sentinel.core.ownership import Ownership
    from sentinel.core.scripts import ScriptQueue


class Kind(StrEnum):
    """Instance type, as shown in event details."""

    MASTER = "master"
    SLAVE = "slave"
    SENTINEL = "sentinel"


class FailoverState(IntEnum):
    """Failover states (the `failover-state` field shows `name.lower()`)."""

    NONE = 0
    WAIT_START = 1
    SELECT_SLAVE = 2
    SEND_SLAVEOF_NOONE = 3
    WAIT_PROMOTION = 4
    RECONF_SLAVES = 5
    UPDATE_CONFIG = 6

    @property
    def label(self) -> str:
        """The name stock shows."""
        return self.name.lower()


class Reconf(IntEnum):
    """Where a replica is in being repointed at the promoted one during RECONF_SLAVES."""

    NONE = 0
    """Not part of this failover's repointing (or no failover)."""
    PENDING = 1
    """To be repointed (ours: stock has no flag for this, it repoints every replica)."""
    SENT = 2
    INPROG = 3
    DONE = 4


class Purpose(StrEnum):
    """Why a command was sent: decides how its reply is handled."""

    DISCARD = "discard"
    PING = "ping"
    INFO = "info"
    HELLO = "hello"
    ASK = "ask"
    SUBSCRIBE = "subscribe"
    VIP_STATUS = "vip-status"
    """Ours: SENTINEL VIP-STATUS to a peer (lease heartbeat and release confirmation)."""
    FENCE = "fence"
    """Ours: CLIENT PAUSE ... WRITE / CLIENT UNPAUSE to the local server (ownership.py)."""
    SWITCHOVER = "switchover"
    """The `FAILOVER TO ...` sent to the master by a switchover (an error aborts it)."""
    DETACH = "detach"
    """Ours: the EXEC of a replica's repointing before the promotion (detach.py)."""


@dataclass(slots=True)
class Link:
    """One connection (cc or pc) of an instance."""

    id: int | None = None
    """The link id of the current connection attempt/connection, None when there is none."""
    up: bool = False
    since: int = 0
    """When it came up."""
    local_ip: str = ""
    last_attempt: int | None = None
    """When this link was last (re)opened: at most one attempt per ping period, per link."""
    pending: int = 0
    """Commands sent and not answered (backpressure and `link-pending-commands`)."""


@dataclass(slots=True, eq=False)
class Instance:
    """What masters, replicas and sentinels have in common (stock sentinelRedisInstance)."""

    kind: Kind
    host: str
    port: int
    master_name: str
    runid: str | None = None
    cc: Link = field(default_factory=Link)
    pc: Link | None = None
    act_ping_time: int | None = None
    """Send time of the oldest unanswered PING (None: none outstanding). SDOWN counts from it."""
    last_ping_time: int | None = None
    last_avail_time: int = 0
    last_pong_time: int = 0
    pc_last_activity: int = 0
    link_lost_time: int | None = None
    """When an established link of this instance was last lost (ours, see detect.py)."""
    sdown: bool = False
    sdown_since: int | None = None
    """Start of the last SDOWN (kept after it clears, as stock's s_down_since_time)."""
    script_kill_sent: bool = False
    last_pub_time: int | None = None
    """When a hello PUBLISH to this instance last succeeded."""
    hello_sent: int | None = None
    """When the hello PUBLISH awaiting its reply was sent."""
    # Masters and replicas: INFO.
    info_refresh: int | None = None
    info_text: str | None = None
    info_in_flight: int | None = None
    """When the INFO awaiting its reply was sent."""
    role_reported: Role = Role.UNKNOWN
    role_reported_time: int = 0

    @property
    def disconnected(self) -> bool:
        """Stock's `disconnected` flag: cc down, or pc down for a master/replica."""
        return not self.cc.up or (self.pc is not None and not self.pc.up)

    @property
    def addr(self) -> tuple[str, int]:
        """(host, port)."""
        return self.host, self.port


@dataclass(slots=True, eq=False)
class Replica(Instance):
    """A replica of one of our masters."""

    slave_master_host: str | None = None
    slave_master_port: int = 0
    master_link_up: bool = False
    master_link_down_ms: int = 0
    slave_priority: int = DEFAULT_REPLICA_PRIORITY
    repl_offset: int = 0
    replica_announced: bool = True
    slave_conf_change_time: int = 0
    reconf: Reconf = Reconf.NONE
    reconf_sent_time: int = 0
    promoted: bool = False

    @property
    def name(self) -> str:
        """`ip:port` (`[ip]:port` for IPv6), as stock names replicas."""
        return format_addr(self.host, self.port)


@dataclass(slots=True, eq=False)
class Peer(Instance):
    """Another sentinel monitoring the same master (named by its runid)."""

    master_down: bool = False
    last_master_down_reply_time: int | None = None
    last_ask_time: int | None = None
    leader: str | None = None
    """The vote this peer reported (is-master-down reply), None after it expires."""
    leader_epoch: int = 0
    last_hello_time: int | None = None
    last_reply_time: int | None = None
    """Ours: when any reply last arrived on our command link to this peer (the VIP lease counts
    sentinels heard from directly)."""

    @property
    def name(self) -> str:
        """Sentinels are named by runid."""
        return self.runid or ""


@dataclass(slots=True)
class Switchover:
    """Ours: a planned switchover in progress (`SENTINEL SWITCHOVER`, see failover.py)."""

    target: str
    """The replica to promote (its name, `ip:port`)."""
    timeout: int
    """ms the master may wait for the target's offset (`FAILOVER ... TIMEOUT`)."""


@dataclass(slots=True)
class FailoverRecord:
    """Ours: the last address switch of a master, for SENTINEL MASTER and `hasentinel status`."""

    epoch: int
    kind: str
    """`failover` (we led an automatic one), `forced`, `switchover`, `observed` (another leader)."""
    switched_at: int
    duration: int | None
    """ms from our failover start to the switch (None when observed)."""
    old: tuple[str, int]
    new: tuple[str, int]


@dataclass(slots=True, eq=False)
class Master(Instance):
    """A monitored master with its configuration, replicas, peers and failover state."""

    name: str = ""
    settings: MasterConfig = field(default_factory=lambda: MasterConfig("", "", 0, 1))
    file_snapshot: dict[str, object] | None = None
    replicas: dict[str, Replica] = field(default_factory=dict)
    peers: dict[str, Peer] = field(default_factory=dict)
    odown: bool = False
    odown_since: int | None = None
    config_epoch: int = 0
    leader: str | None = None
    """Our vote for this master (persisted with leader_epoch)."""
    leader_epoch: int = 0
    reboot: bool = False
    reboot_since: int = 0
    # Failover.
    failover_state: FailoverState = FailoverState.NONE
    failover_state_change_time: int = 0
    failover_start_time: int = 0
    failover_epoch: int = 0
    forced: bool = False
    promoted: Replica | None = None
    detached: dict[str, int | None] = field(default_factory=dict)
    """Ours (detach.py): replicas repointed at the promoted one before its promotion, with the
    offset each had reached from the old master (None: no answer yet, -1: it failed)."""
    detach_started: int | None = None
    next_failover_at: int = 0
    """No failover may start before this time (stock: failover_start_time + 2 x timeout)."""
    next_failover_reason: str = ""
    delay_logged: bool = False
    candidacy_at: int | None = None
    """Ours: when our candidacy (`+try-failover`) is due, set when ODOWN first allows it (now +
    random 0..candidacy-delay-1); a vote for a peer meanwhile cancels it (failover.py)."""
    split_votes: int = 0
    """Ours: consecutive provable split votes of ours; each doubles the quick retry delay."""
    addr_generation: int = 0
    """Bumped on every address change: replies to questions about an older address are dropped."""
    # Ours: operator controls and history.
    maintenance: bool = False
    """`hasentinel pause`: no automatic failover starts and no vote is granted (persisted)."""
    switchover: Switchover | None = None
    failover_kind: str = ""
    """Kind of the failover in progress (see FailoverRecord.kind)."""
    failover_started_at: int = 0
    """When the failover in progress started (its epoch was claimed), without the desync delay."""
    last_failover: FailoverRecord | None = None
    hint: HintCheck | None = None
    """Ours: the check started by a master-down hint from the supervisor (hint.py)."""
    exit_reported: tuple[int, int] | None = None
    """Ours: (address generation, when) the master's process exited, as its supervisor saw it
    (a hint's EXITED-MS-AGO): evidence of when the master was last up (selection.py)."""

    @property
    def quorum(self) -> int:
        """Configured quorum."""
        return self.settings.quorum

    @property
    def down_after(self) -> int:
        """down-after-milliseconds (shared by the master's replicas and peers, as stock)."""
        return self.settings.down_after

    @property
    def failover_timeout(self) -> int:
        """failover-timeout."""
        return self.settings.failover_timeout

    @property
    def in_failover(self) -> bool:
        """A failover is in progress (stock SRI_FAILOVER_IN_PROGRESS)."""
        return self.failover_state is not FailoverState.NONE

    @property
    def leading(self) -> bool:
        """We won the election of the failover in progress (or it was forced)."""
        return self.failover_state >= FailoverState.SELECT_SLAVE

    def replica_at(self, host: str, port: int) -> Replica | None:
        """The replica at host:port, if known."""
        return self.replicas.get(format_addr(host, port))


@dataclass(slots=True)
class Settings:
    """Sentinel-wide settings (the file's, changed by SENTINEL CONFIG SET)."""

    port: int = 26379
    requirepass: str | None = None
    announce_ip: str | None = None
    announce_port: int = 0
    resolve_hostnames: bool = False
    announce_hostnames: bool = False
    sentinel_user: str | None = None
    sentinel_pass: str | None = None
    deny_scripts_reconfig: bool = True
    loglevel: str = "notice"


@dataclass(slots=True)
class LinkRef:
    """What a link id belongs to."""

    instance: Instance
    channel: Channel


@dataclass(slots=True)
class Pending:
    """A command waiting for its reply."""

    link: int
    purpose: Purpose
    generation: int = 0
    """For ASK: the master's address generation when asked."""
    master: str = ""


@dataclass(slots=True)
class World:
    """The whole in-memory state of one sentinel core."""

    myid: str
    rng: random.Random
    timers: Timers
    settings: Settings
    scripts: ScriptQueue
    current_epoch: int = 0
    masters: dict[str, Master] = field(default_factory=dict)
    removed: dict[str, dict[str, object]] = field(default_factory=dict)
    sentinel_snapshot: dict[str, object] | None = None
    tilt: bool = False
    tilt_start: int = 0
    last_tick: int | None = None
    links: dict[int, LinkRef] = field(default_factory=dict)
    pending: dict[int, Pending] = field(default_factory=dict)
    next_link_id: int = 1
    next_tag: int = 1
    simulate_failure: set[str] = field(default_factory=set)
    started: bool = False
    started_at: int = 0
    ownership: dict[str, Ownership] = field(default_factory=dict)
    """Ours: VIP ownership state per master name (`sentinel.core.ownership.Ownership`)."""


@dataclass(slots=True)
class Ctx:
    """Per-step context: the clock reading and the actions produced so far."""

    now: int
    actions: list[Action] = field(default_factory=list)
    dirty: bool = False
    crashed: bool = False

    def emit(self, action: Action) -> None:
        """Append an action."""
        self.actions.append(action)

    def persist(self) -> None:
        """Ask for a PersistState (placed first in this step's actions)."""
        self.dirty = True


def format_addr(host: str, port: int) -> str:
    """`ip:port`, or `[ip]:port` for IPv6 (stock anetFormatAddr)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def new_replica(master: Master, host: str, port: int, now: int) -> Replica:
    """A replica as stock creates it: role slave, timers started now, links to be opened."""
    return Replica(
        kind=Kind.SLAVE,
        host=host,
        port=port,
        master_name=master.name,
        pc=Link(),
        act_ping_time=now,
        last_avail_time=now,
        last_pong_time=now,
        role_reported=Role.SLAVE,
        role_reported_time=now,
        slave_conf_change_time=now,
    )


def new_peer(master: Master, host: str, port: int, runid: str, now: int) -> Peer:
    """Another sentinel: command link only, named by its runid."""
    return Peer(
        kind=Kind.SENTINEL,
        host=host,
        port=port,
        master_name=master.name,
        runid=runid,
        act_ping_time=now,
        last_avail_time=now,
        last_pong_time=now,
    )


def new_master(settings: MasterConfig, now: int) -> Master:
    """A monitored master from its settings."""
    return Master(
        kind=Kind.MASTER,
        host=settings.host,
        port=settings.port,
        master_name=settings.name,
        name=settings.name,
        settings=settings,
        pc=Link(),
        act_ping_time=now,
        last_avail_time=now,
        last_pong_time=now,
        role_reported=Role.MASTER,
        role_reported_time=now,
    )
