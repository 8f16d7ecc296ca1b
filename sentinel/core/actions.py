"""Actions: everything the core asks its runtime to do, returned by `SentinelCore.step`.

Execute them in list order. The ordering rules (docs/sentinel-core.md):

* `PersistState`, when present, is always `actions[0]` and appears at most once per step. The
  runtime writes it atomically (temp file, fsync, rename, fsync dir) and only then executes the
  rest. If the write fails, it must not execute the remaining actions (treat it as fatal): the
  core already acts as if the state were durable (a vote, an epoch, a promotion).
* Commands for one link are sent in list order on that link.
* `Crash` means: exit the process now with `code`, executing nothing after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from sentinel.core.replies import Reply


class Level(StrEnum):
    """Event levels as stock: everything above DEBUG is published on pub/sub."""

    DEBUG = "debug"
    VERBOSE = "verbose"
    NOTICE = "notice"
    WARNING = "warning"


class Channel(StrEnum):
    """The two kinds of connection: commands (cc) and pub/sub (pc)."""

    CMD = "cmd"
    PUBSUB = "pubsub"


@dataclass(frozen=True, slots=True)
class PersistState:
    """Write `state` (SentinelState JSON) atomically before executing anything after it."""

    state: str


@dataclass(frozen=True, slots=True)
class OpenLink:
    """Open connection `link` to host:port; answer with LinkUp or LinkDown (bounded connect timeout).

    `peer` is "master", "slave" or "sentinel"; `label` is a human-readable name for logs.
    Hostnames are resolved by the runtime at every connect.
    """

    link: int
    host: str
    port: int
    channel: Channel
    peer: str
    label: str


@dataclass(frozen=True, slots=True)
class CloseLink:
    """Close connection `link`; no event is expected (late events for it are ignored)."""

    link: int


@dataclass(frozen=True, slots=True)
class SendCommand:
    """Send `argv` on `link`; deliver the reply as `CommandReply(tag, reply)`."""

    link: int
    tag: int
    argv: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Publish:
    """A sentinel event: publish `payload` on channel `event` (unless DEBUG) and log it."""

    event: str
    payload: str
    level: Level


@dataclass(frozen=True, slots=True)
class Log:
    """A log line that is not a pub/sub event."""

    level: Level
    message: str


@dataclass(frozen=True, slots=True)
class RunScript:
    """Fork/exec `argv` (argv[0] is the path); report ScriptStarted then ScriptExited for `job`."""

    job: int
    argv: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KillScript:
    """SIGKILL the process of `job` (it ran too long); a ScriptExited follows."""

    job: int


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """Answer client request `request` with `reply`."""

    request: int
    reply: Reply


@dataclass(frozen=True, slots=True)
class Crash:
    """SENTINEL SIMULATE-FAILURE fired: exit the process with `code` immediately."""

    code: int


@dataclass(frozen=True, slots=True)
class VipAcquire:
    """Ours: add `vip` (a.b.c.d/N) to `iface`, then announce it (GARP burst + repeat + refresh);
    answer with `VipDone(master, "acquire", ok, error)`. Idempotent (already present: ok).

    `expires`: the core's ms by which the kernel must have dropped the address unless a
    `VipRenew` extends it (an address lifetime in whole seconds, counted from when the runtime
    executes the action: floor((expires - now) / 1 s), at least 1 or the acquire fails); None:
    a permanent address."""

    master: str
    vip: str
    iface: str
    expires: int | None = None


@dataclass(frozen=True, slots=True)
class VipRenew:
    """Ours: the held `vip` gets a new kernel lifetime ending no later than `expires` (core ms),
    the lease having moved on. Never adds a missing address (it is reported with `VipObserved`);
    skipped when less than a whole second is left (the previous, earlier lifetime stands). No
    `VipDone`: a renewal is not an operation of the ownership state machine."""

    master: str
    vip: str
    iface: str
    expires: int


@dataclass(frozen=True, slots=True)
class VipRelease:
    """Ours: stop announcing, remove `vip` from `iface` (verified: read back); answer with
    `VipDone(master, "release", ok, error)`. Idempotent (already absent: ok). Operations of one
    master are executed in order, one at a time."""

    master: str
    vip: str
    iface: str


@dataclass(frozen=True, slots=True)
class VipAnnounce:
    """Ours: a fresh GARP burst + repeat for a VIP this host holds (e.g. a partition healed)."""

    master: str
    vip: str
    iface: str


Action: TypeAlias = (
    PersistState
    | OpenLink
    | CloseLink
    | SendCommand
    | Publish
    | Log
    | RunScript
    | KillScript
    | ReplyTo
    | Crash
    | VipAcquire
    | VipRenew
    | VipRelease
    | VipAnnounce
)
