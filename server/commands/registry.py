"""The command table: arity, flags and key positions, as Redis's `COMMAND INFO` describes them.

Command modules register handlers with `@command(...)`; the engine dispatches through `TABLE`.
A handler is synchronous: `handler(client, argv) -> bytes` (an encoded reply) or a `Block`
(wait for keys / an event, see `server.blocking`). It raises `CommandError` for error replies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.client import Client

Handler = Callable[["Client", list[bytes]], Any]
KeysFn = Callable[[list[bytes]], list[bytes]]

# Flags, with Redis's names (COMMAND INFO prints them).
WRITE = "write"
READONLY = "readonly"
DENYOOM = "denyoom"
ADMIN = "admin"
PUBSUB = "pubsub"
NOSCRIPT = "noscript"
BLOCKING = "blocking"
LOADING = "loading"
STALE = "stale"
FAST = "fast"
NO_AUTH = "no_auth"
NO_MULTI = "no_multi"
ALLOW_BUSY = "allow_busy"
SKIP_MONITOR = "skip_monitor"


@dataclass(slots=True, eq=False)
class Command:
    name: bytes
    handler: Handler
    arity: int
    flags: frozenset[str]
    first_key: int = 0
    last_key: int = 0
    step: int = 0
    keys_fn: KeysFn | None = None
    # The keys a write actually modifies, when not all of its keys (ZUNIONSTORE only writes its
    # destination): only these invalidate WATCH and wake blocked clients. None: all its keys.
    written_keys_fn: KeysFn | None = None
    group: str = "generic"
    subcommands: dict[bytes, Command] = field(default_factory=dict)
    parent: Command | None = None
    calls: int = 0
    usec: int = 0
    failed_calls: int = 0
    rejected_calls: int = 0
    # Hot-path booleans, derived from flags once.
    is_write: bool = False
    is_denyoom: bool = False
    no_auth: bool = False
    pubsub_ok: bool = False
    allowed_in_multi: bool = True
    allow_stale: bool = False
    allow_loading: bool = False
    # CLIENT LIST's cmd= for this command: "name", or "parent|name" for a subcommand.
    label: bytes = b""
    # The arity as a range of len(argv), for one chained comparison on the hot path.
    min_args: int = 0
    max_args: int = 0

    def __post_init__(self) -> None:
        self.label = self.name
        self.min_args = abs(self.arity)
        self.max_args = self.arity if self.arity > 0 else 1 << 62
        self.is_write = WRITE in self.flags
        self.is_denyoom = DENYOOM in self.flags
        self.no_auth = NO_AUTH in self.flags
        self.allowed_in_multi = NO_MULTI not in self.flags
        self.allow_stale = STALE in self.flags
        self.allow_loading = LOADING in self.flags

    @property
    def full_name(self) -> str:
        if self.parent is not None:
            return f"{self.parent.name.decode()}|{self.name.decode()}"
        return self.name.decode()

    def keys(self, argv: list[bytes]) -> list[bytes]:
        """The key arguments of this invocation (for WATCH, blocking wake-ups, COMMAND GETKEYS)."""
        if self.keys_fn is not None:
            return self.keys_fn(argv)
        if self.first_key <= 0:
            return []
        last = self.last_key if self.last_key >= 0 else len(argv) + self.last_key
        return argv[self.first_key : last + 1 : self.step or 1]

    def written_keys(self, argv: list[bytes]) -> list[bytes]:
        """The keys this write modifies (signalModifiedKey targets): see `written_keys_fn`."""
        if self.written_keys_fn is not None:
            return self.written_keys_fn(argv)
        return self.keys(argv)


TABLE: dict[bytes, Command] = {}


def all_commands() -> list[Command]:
    """Every command and subcommand, parents first (registry order)."""
    out: list[Command] = []
    seen: set[int] = set()
    for cmd in TABLE.values():
        if id(cmd) in seen:
            continue
        seen.add(id(cmd))
        out.append(cmd)
        out.extend(cmd.subcommands.values())
    return out


def command(
    name: str,
    arity: int,
    flags: str = "",
    first_key: int = 0,
    last_key: int = 0,
    step: int = 0,
    keys_fn: KeysFn | None = None,
    group: str = "generic",
    parent: str | None = None,
    written_keys_fn: KeysFn | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler. `flags` is a space-separated list of Redis's flag names.

    With `parent`, registers a subcommand (`CONFIG GET` is `command("get", ..., parent="config")`);
    the parent's own handler then dispatches through `Command.subcommands`.
    """

    def deco(fn: Handler) -> Handler:
        cmd = Command(
            name=name.lower().encode(),
            handler=fn,
            arity=arity,
            flags=frozenset(flags.split()),
            first_key=first_key,
            last_key=last_key,
            step=step,
            keys_fn=keys_fn,
            written_keys_fn=written_keys_fn,
            group=group,
        )
        if parent is None:
            if cmd.name in TABLE:
                raise ValueError(f"command {name} registered twice")
            TABLE[cmd.name] = cmd
        else:
            owner = TABLE[parent.lower().encode()]
            cmd.parent = owner
            cmd.label = owner.name + b"|" + cmd.name
            owner.subcommands[cmd.name] = cmd
        return fn

    return deco


def container(name: str, arity: int = -2, flags: str = "", group: str = "server") -> Command:
    """Register a command that only has subcommands (CONFIG, CLIENT, ...); the engine resolves
    `argv[1]` to the subcommand before any check, so each subcommand keeps its own flags."""

    def unreachable(client: Client, argv: list[bytes]) -> Any:
        raise AssertionError("container commands are resolved to a subcommand by the engine")

    cmd = Command(
        name=name.lower().encode(),
        handler=unreachable,
        arity=arity,
        flags=frozenset(flags.split()),
        group=group,
    )
    TABLE[cmd.name] = cmd
    return cmd


def lookup(argv: list[bytes]) -> Command | None:
    return TABLE.get(argv[0].lower())
