"""Events: everything the runtime tells the core, fed one at a time to `SentinelCore.step`.

Links and commands are identified by integers the core allocates (`OpenLink.link`,
`SendCommand.tag`); the runtime only echoes them back. Client requests carry a `request` id the
runtime allocates; the answer comes back as a `ReplyTo` action with the same id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from sentinel.core.replies import Reply


@dataclass(frozen=True, slots=True)
class Start:
    """First event, exactly once: announce the masters, persist a fresh myid, open links."""


@dataclass(frozen=True, slots=True)
class Tick:
    """Timer tick. Feed at least every `Timers.tick_interval` ms (`SentinelCore.next_tick_in`)."""


# --- links and commands -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkUp:
    """The connection asked for by `OpenLink(link)` is established.

    `local_ip` is the local address of the socket: hello messages announce it when no
    announce-ip is configured (stock uses the cc socket's local address the same way).
    """

    link: int
    local_ip: str = ""


@dataclass(frozen=True, slots=True)
class LinkDown:
    """The connection failed to open or was lost. Every command pending on it is lost too."""

    link: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CommandReply:
    """The reply to `SendCommand(tag)`. Replies on one link must arrive in sending order."""

    tag: int
    reply: Reply


@dataclass(frozen=True, slots=True)
class PubSubMessage:
    """A `message` push received on a pub/sub link (after the SUBSCRIBE confirmation)."""

    link: int
    channel: str
    payload: str


@dataclass(frozen=True, slots=True)
class HelloReceived:
    """A peer sent `PUBLISH __sentinel__:hello <payload>` to our own port (reply `:1` at once)."""

    payload: str


# --- scripts ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScriptStarted:
    """`RunScript(job)` was forked; `pid` is shown by PENDING-SCRIPTS and `-script-timeout`."""

    job: int
    pid: int


@dataclass(frozen=True, slots=True)
class ScriptExited:
    """The script process of `job` ended: `signal` is non-zero when it was killed by a signal.

    A fork failure is reported as `signal=99, exit_code=0` (stock convention).
    """

    job: int
    exit_code: int
    signal: int = 0


# --- the VIP (ours) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VipObserved:
    """What the interface really carries: fed once right after Start (and whenever a periodic
    check finds the address differs from what the core asked for). `present`: the VIP is on it."""

    master: str
    present: bool


@dataclass(frozen=True, slots=True)
class VipDone:
    """A `VipAcquire` / `VipRelease` finished (`op` is "acquire" or "release")."""

    master: str
    op: str
    ok: bool
    error: str = ""


# --- client requests (the replies come back as ReplyTo actions) ---------------------------


@dataclass(frozen=True, slots=True)
class IsMasterDownRequest:
    """`SENTINEL is-master-down-by-addr <ip> <port> <epoch> <runid>` from a peer.

    The API layer checks arity and that port/epoch are integers (standard integer error);
    the core answers with the 3-element reply *after* persisting any vote it casts.
    """

    request: int
    ip: str
    port: int
    epoch: int
    runid: str


@dataclass(frozen=True, slots=True)
class MasterDownHintRequest:
    """Ours: `SENTINEL IS-MASTER-DOWN-HINT <name> <ip> <port> [EXITED-MS-AGO <ms>]`, from this
    host's supervisor: the master process at ip:port is gone, and when it exited if the supervisor
    saw it (hint.py). The API checks arity and the integers."""

    request: int
    name: str
    ip: str
    port: int
    exited_ms_ago: int | None = None


@dataclass(frozen=True, slots=True)
class FailoverRequest:
    """`SENTINEL FAILOVER <name>`."""

    request: int
    name: str


@dataclass(frozen=True, slots=True)
class SwitchoverRequest:
    """Ours: `SENTINEL SWITCHOVER <name> [<ip> <port>] [TIMEOUT <ms>]`, a planned failover.

    `host`/`port` name the replica to promote (None: the best eligible one); `timeout` bounds
    the master's wait for the target's offset (the API parses and checks the integers).
    """

    request: int
    name: str
    host: str | None
    port: int | None
    timeout: int


@dataclass(frozen=True, slots=True)
class MaintenanceRequest:
    """Ours: `SENTINEL MAINTENANCE <name> ON|OFF` (no automatic failover, no votes, persisted)."""

    request: int
    name: str
    on: bool


@dataclass(frozen=True, slots=True)
class ResetRequest:
    """`SENTINEL RESET <pattern>` (Redis glob, case-sensitive)."""

    request: int
    pattern: str


@dataclass(frozen=True, slots=True)
class MonitorRequest:
    """`SENTINEL MONITOR <name> <ip> <port> <quorum>` (port and quorum as typed by the client)."""

    request: int
    name: str
    ip: str
    port: str
    quorum: str


@dataclass(frozen=True, slots=True)
class RemoveRequest:
    """`SENTINEL REMOVE <name>`."""

    request: int
    name: str


@dataclass(frozen=True, slots=True)
class SetRequest:
    """`SENTINEL SET <name> <option> <value> [...]` (`args` = everything after the name).

    The core cannot look at the filesystem: the runtime puts in `executable` every script path
    among the values that exists and is executable (os.access X_OK); other paths are refused.
    """

    request: int
    name: str
    args: tuple[str, ...]
    executable: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class ConfigSetRequest:
    """`SENTINEL CONFIG SET <param> <value> [...]` (`args` = the pairs)."""

    request: int
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DebugRequest:
    """`SENTINEL DEBUG <param> <value> [...]` with at least one pair (no pair: use the helper)."""

    request: int
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FlushConfigRequest:
    """`SENTINEL FLUSHCONFIG`: persist the state, then reply +OK."""

    request: int


@dataclass(frozen=True, slots=True)
class SimulateFailureRequest:
    """`SENTINEL SIMULATE-FAILURE <flag> [...]` (crash-after-election, crash-after-promotion)."""

    request: int
    flags: tuple[str, ...]


Event: TypeAlias = (
    Start
    | Tick
    | LinkUp
    | LinkDown
    | CommandReply
    | PubSubMessage
    | HelloReceived
    | ScriptStarted
    | ScriptExited
    | IsMasterDownRequest
    | MasterDownHintRequest
    | FailoverRequest
    | SwitchoverRequest
    | MaintenanceRequest
    | ResetRequest
    | MonitorRequest
    | RemoveRequest
    | SetRequest
    | ConfigSetRequest
    | DebugRequest
    | FlushConfigRequest
    | SimulateFailureRequest
    | VipObserved
    | VipDone
)
