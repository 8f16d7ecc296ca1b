"""Server configuration: Redis's directive names, redis.conf syntax, CONFIG GET/SET/REWRITE.

One `Directive` per name describes its type, default and whether CONFIG SET may change it;
`Config` holds the typed values as attributes (dashes become underscores). A change made by
CONFIG SET is applied through the engine's `on_config_change` hook, so the engine, not this
module, decides what a change means at run time.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from server.protocol.parser import split_args


class ConfigError(Exception):
    pass


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
}


def parse_memory(s: str) -> int:
    """Redis's memtoull: `1gb`, `100mb`, `64k`, plain bytes; case-insensitive."""
    t = s.strip().lower()
    num = t.rstrip("kmgb")
    unit = t[len(num) :]
    if unit not in _UNITS or not num or not num.lstrip("-").isdigit():
        raise ConfigError("argument must be a memory value")
    v = int(num) * _UNITS[unit]
    if v < 0:
        raise ConfigError("argument must be a memory value")
    return v


def parse_bool(s: str) -> bool:
    t = s.lower()
    if t == "yes":
        return True
    if t == "no":
        return False
    raise ConfigError("argument must be 'yes' or 'no'")


def parse_int(s: str, lo: int, hi: int) -> int:
    try:
        v = int(s)
    except ValueError:
        raise ConfigError("argument couldn't be parsed into an integer") from None
    if not lo <= v <= hi:
        raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
    return v


def parse_save(args: list[str]) -> list[tuple[int, int]]:
    if len(args) == 1 and args[0].strip() == "":
        return []
    flat = " ".join(args).split()
    if len(flat) % 2:
        raise ConfigError("Invalid save parameters")
    points = []
    for i in range(0, len(flat), 2):
        try:
            sec, changes = int(flat[i]), int(flat[i + 1])
        except ValueError:
            raise ConfigError("Invalid save parameters") from None
        if sec < 1 or changes < 0:
            raise ConfigError("Invalid save parameters")
        points.append((sec, changes))
    return points


OBUF_CLASSES = {"normal": "normal", "slave": "replica", "replica": "replica", "pubsub": "pubsub"}


def parse_obuf(args: list[str], current: dict[str, tuple[int, int, int]]) -> dict[str, tuple[int, int, int]]:
    flat = " ".join(args).split()
    if not flat or len(flat) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    out = dict(current)
    for i in range(0, len(flat), 4):
        cls = OBUF_CLASSES.get(flat[i].lower())
        if cls is None:
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        try:
            hard, soft = parse_memory(flat[i + 1]), parse_memory(flat[i + 2])
            secs = int(flat[i + 3])
        except (ConfigError, ValueError):
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration.") from None
        if secs < 0:
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
        out[cls] = (hard, soft, secs)
    return out


def format_obuf(v: dict[str, tuple[int, int, int]]) -> str:
    names = {"normal": "normal", "replica": "slave", "pubsub": "pubsub"}
    return " ".join(f"{names[c]} {h} {s} {t}" for c, (h, s, t) in ((c, v[c]) for c in ("normal", "replica", "pubsub")))


@dataclass(frozen=True)
class Directive:
    name: str
    kind: str  # int | memory | bool | string | enum | save | obuf | bind | replicaof | path
    default: Any
    mutable: bool = True
    lo: int = 0
    hi: int = 2**63 - 1
    choices: tuple[str, ...] = ()
    alias: str | None = None
    sensitive: bool = False

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")


MEMORY_POLICIES = (
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
)

DIRECTIVES: list[Directive] = [
    Directive("bind", "bind", ["*", "-::*"], mutable=True),
    Directive("port", "int", 6379, lo=0, hi=65535),
    Directive("requirepass", "string", "", sensitive=True),
    Directive("dir", "path", "."),
    Directive("dbfilename", "string", "dump.rdb"),
    Directive("appendonly", "bool", False),
    Directive("appendfilename", "string", "appendonly.aof", mutable=False),
    Directive("appenddirname", "string", "appendonlydir", mutable=False),
    Directive("appendfsync", "enum", "everysec", choices=("always", "everysec", "no")),
    Directive("aof-load-truncated", "bool", True),
    Directive("aof-use-rdb-preamble", "bool", True),
    Directive("auto-aof-rewrite-percentage", "int", 100, lo=0, hi=2**31 - 1),
    Directive("auto-aof-rewrite-min-size", "memory", 64 * 1024 * 1024),
    Directive("no-appendfsync-on-rewrite", "bool", False),
    Directive("save", "save", [(3600, 1), (300, 100), (60, 10000)]),
    Directive("rdbcompression", "bool", True),
    Directive("rdbchecksum", "bool", True),
    Directive("stop-writes-on-bgsave-error", "bool", True),
    Directive("databases", "int", 16, lo=1, hi=2**31 - 1, mutable=False),
    Directive("maxclients", "int", 10000, lo=1, hi=2**31 - 1),
    Directive("maxmemory", "memory", 0),
    Directive("maxmemory-policy", "enum", "noeviction", choices=MEMORY_POLICIES),
    Directive("maxmemory-samples", "int", 5, lo=1, hi=64),
    Directive("timeout", "int", 0, lo=0, hi=2**31 - 1),
    Directive("tcp-keepalive", "int", 300, lo=0, hi=2**31 - 1),
    Directive("tcp-backlog", "int", 511, lo=0, hi=2**31 - 1, mutable=False),
    Directive("proto-max-bulk-len", "memory", 512 * 1024 * 1024),
    Directive("client-query-buffer-limit", "memory", 1024 * 1024 * 1024),
    Directive(
        "client-output-buffer-limit",
        "obuf",
        {"normal": (0, 0, 0), "replica": (256 * 1024**2, 64 * 1024**2, 60), "pubsub": (32 * 1024**2, 8 * 1024**2, 60)},
    ),
    Directive("loglevel", "enum", "notice", choices=("debug", "verbose", "notice", "warning", "nothing")),
    Directive("logfile", "string", "", mutable=False),
    Directive("pidfile", "string", "", mutable=False),
    Directive("daemonize", "bool", False, mutable=False),
    Directive("protected-mode", "bool", True),
    Directive("hz", "int", 10, lo=1, hi=500),
    Directive("enable-debug-command", "enum", "local", choices=("yes", "no", "local"), mutable=False),
    Directive("lazyfree-lazy-user-del", "bool", False),
    Directive("lazyfree-lazy-expire", "bool", False),
    Directive("lazyfree-lazy-eviction", "bool", False),
    Directive("lazyfree-lazy-server-del", "bool", False),
    Directive("lazyfree-lazy-user-flush", "bool", False),
    Directive("busy-reply-threshold", "int", 5000, lo=0, hi=2**63 - 1, alias="lua-time-limit"),
    Directive("latency-tracking", "bool", True),
    # Replication.
    Directive("replicaof", "replicaof", None, alias="slaveof"),
    Directive("masterauth", "string", "", sensitive=True),
    Directive("masteruser", "string", ""),
    Directive("repl-backlog-size", "memory", 1024 * 1024, lo=1),
    Directive("repl-backlog-ttl", "int", 3600, lo=0, hi=2**31 - 1),
    Directive("repl-timeout", "int", 60, lo=1, hi=2**31 - 1),
    Directive("repl-ping-replica-period", "int", 10, lo=1, hi=2**31 - 1, alias="repl-ping-slave-period"),
    Directive("repl-diskless-sync", "bool", True),
    Directive("repl-diskless-sync-delay", "int", 5, lo=0, hi=2**31 - 1),
    Directive("repl-diskless-sync-max-replicas", "int", 0, lo=0, hi=2**31 - 1),
    Directive("repl-diskless-load", "enum", "disabled", choices=("disabled", "on-empty-db", "swapdb")),
    Directive("replica-read-only", "bool", True, alias="slave-read-only"),
    Directive("replica-serve-stale-data", "bool", True, alias="slave-serve-stale-data"),
    Directive("replica-priority", "int", 100, lo=0, hi=2**31 - 1, alias="slave-priority"),
    Directive("replica-announce-ip", "string", "", alias="slave-announce-ip"),
    Directive("replica-announce-port", "int", 0, lo=0, hi=65535, alias="slave-announce-port"),
    Directive("replica-announced", "bool", True),
    Directive("replica-lazy-flush", "bool", False, alias="slave-lazy-flush"),
    Directive("min-replicas-to-write", "int", 0, lo=0, hi=2**31 - 1, alias="min-slaves-to-write"),
    Directive("min-replicas-max-lag", "int", 10, lo=0, hi=2**31 - 1, alias="min-slaves-max-lag"),
]

BY_NAME: dict[str, Directive] = {}
for _d in DIRECTIVES:
    BY_NAME[_d.name] = _d
    if _d.alias:
        BY_NAME[_d.alias] = _d

# Stock redis.conf directives we accept for compatibility but that change nothing here.
IGNORED = {
    "always-show-logo",
    "set-proc-title",
    "proc-title-template",
    "supervised",
    "syslog-enabled",
    "syslog-ident",
    "syslog-facility",
    "crash-log-enabled",
    "crash-memcheck-enabled",
    "io-threads",
    "io-threads-do-reads",
    "oom-score-adj",
    "oom-score-adj-values",
    "disable-thp",
    "jemalloc-bg-thread",
    "activerehashing",
    "dynamic-hz",
    "aof-rewrite-incremental-fsync",
    "rdb-save-incremental-fsync",
    "rdb-del-sync-files",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
    "list-max-listpack-size",
    "list-max-ziplist-size",
    "list-compress-depth",
    "set-max-intset-entries",
    "set-max-listpack-entries",
    "set-max-listpack-value",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "zset-max-ziplist-entries",
    "zset-max-ziplist-value",
    "hll-sparse-max-bytes",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "notify-keyspace-events",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-monitor-threshold",
    "lua-replicate-commands",
    "unixsocket",
    "unixsocketperm",
    "tcp-keepalive",
    "tls-port",
    "aof-timestamp-enabled",
    "sanitize-dump-payload",
    "lfu-log-factor",
    "lfu-decay-time",
    "active-expire-effort",
    "maxmemory-eviction-tenacity",
    "shutdown-timeout",
    "shutdown-on-sigint",
    "shutdown-on-sigterm",
    "locale-collate",
    "enable-protected-configs",
    "enable-module-command",
    "cluster-enabled",
}


def _format(d: Directive, v: Any) -> str:
    if d.kind == "bool":
        return "yes" if v else "no"
    if d.kind == "save":
        return " ".join(f"{s} {c}" for s, c in v)
    if d.kind == "obuf":
        return format_obuf(v)
    if d.kind == "bind":
        return " ".join(v)
    if d.kind == "replicaof":
        return "" if v is None else f"{v[0]} {v[1]}"
    return str(v)


class Config:
    """Typed directive values; `path` is the config file the server started from, if any."""

    def __init__(self) -> None:
        self.path: str | None = None
        for d in DIRECTIVES:
            setattr(self, d.attr, _copy(d.default))
        self.on_change: Callable[[str, Any, Any], None] | None = None

    # Typed attributes (set dynamically above), declared for the type checker.
    bind: list[str]
    port: int
    requirepass: str
    dir: str
    dbfilename: str
    appendonly: bool
    appendfilename: str
    appenddirname: str
    appendfsync: str
    aof_load_truncated: bool
    aof_use_rdb_preamble: bool
    auto_aof_rewrite_percentage: int
    auto_aof_rewrite_min_size: int
    no_appendfsync_on_rewrite: bool
    save: list[tuple[int, int]]
    rdbcompression: bool
    rdbchecksum: bool
    stop_writes_on_bgsave_error: bool
    databases: int
    maxclients: int
    maxmemory: int
    maxmemory_policy: str
    maxmemory_samples: int
    timeout: int
    tcp_keepalive: int
    tcp_backlog: int
    proto_max_bulk_len: int
    client_query_buffer_limit: int
    client_output_buffer_limit: dict[str, tuple[int, int, int]]
    loglevel: str
    logfile: str
    pidfile: str
    daemonize: bool
    protected_mode: bool
    hz: int
    enable_debug_command: str
    busy_reply_threshold: int
    replicaof: tuple[str, int] | None
    masterauth: str
    masteruser: str
    repl_backlog_size: int
    repl_backlog_ttl: int
    repl_timeout: int
    repl_ping_replica_period: int
    repl_diskless_sync: bool
    repl_diskless_sync_delay: int
    repl_diskless_sync_max_replicas: int
    repl_diskless_load: str
    replica_read_only: bool
    replica_serve_stale_data: bool
    replica_priority: int
    replica_announce_ip: str
    replica_announce_port: int
    replica_announced: bool
    min_replicas_to_write: int
    min_replicas_max_lag: int

    # --- parsing ---------------------------------------------------------------------------

    def parse_value(self, d: Directive, args: list[str]) -> Any:
        if d.kind == "save":
            return parse_save(args)
        if d.kind == "obuf":
            return parse_obuf(args, self.client_output_buffer_limit)
        if d.kind == "bind":
            flat = " ".join(args).split()
            if not flat:
                raise ConfigError("Too many bind addresses specified.")
            return flat
        if d.kind == "replicaof":
            flat = " ".join(args).split()
            if len(flat) == 2 and flat[0].lower() == "no" and flat[1].lower() == "one":
                return None
            if len(flat) != 2:
                raise ConfigError("wrong number of arguments")
            return (flat[0], parse_int(flat[1], 0, 65535))
        if len(args) != 1:
            raise ConfigError("wrong number of arguments")
        s = args[0]
        if d.kind == "int":
            return parse_int(s, d.lo, d.hi)
        if d.kind == "memory":
            v = parse_memory(s)
            if v < d.lo:
                raise ConfigError(f"argument must be between {d.lo} and {d.hi} inclusive")
            return v
        if d.kind == "bool":
            return parse_bool(s)
        if d.kind == "enum":
            if s.lower() not in d.choices:
                raise ConfigError(f"argument(s) must be one of the following: {', '.join(d.choices)}")
            return s.lower()
        return s

    def load_lines(self, text: str, source: str) -> None:
        """Apply redis.conf-syntax text (a file, or the command line folded into lines)."""
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = split_args(line.encode())
            if parts is None:
                raise ConfigError(f"{source}:{lineno}: Unbalanced quotes in configuration line")
            if not parts:
                continue
            name = parts[0].decode("utf-8", "replace").lower()
            args = [p.decode("utf-8", "surrogateescape") for p in parts[1:]]
            if name == "include":
                for path in args:
                    with open(path) as f:
                        self.load_lines(f.read(), path)
                continue
            if name in IGNORED:
                continue
            d = BY_NAME.get(name)
            if d is None:
                raise ConfigError(f"{source}:{lineno}: Bad directive or wrong number of arguments: '{raw.strip()}'")
            try:
                value = self.parse_value(d, args)
            except ConfigError as e:
                raise ConfigError(f"{source}:{lineno}: '{raw.strip()}': {e}") from None
            setattr(self, d.attr, value)

    @classmethod
    def from_argv(cls, argv: list[str]) -> Config:
        """`[config-file] [--directive value ...]`, exactly as redis-server takes them."""
        cfg = cls()
        args = list(argv)
        if args and not args[0].startswith("--"):
            path = args.pop(0)
            if path == "-":
                import sys

                cfg.load_lines(sys.stdin.read(), "stdin")
            else:
                cfg.path = os.path.abspath(path)
                with open(path) as f:
                    cfg.load_lines(f.read(), path)
        lines: list[list[str]] = []
        for a in args:
            if a.startswith("--") and len(a) > 2:
                lines.append([a[2:]])
            elif not lines:
                raise ConfigError(f"Invalid argument '{a}'")
            else:
                lines[-1].append(a)
        text = "\n".join(" ".join(_quote(x) for x in ln) for ln in lines)
        cfg.load_lines(text, "command line")
        return cfg

    # --- CONFIG GET / SET --------------------------------------------------------------------

    def get_matching(self, patterns: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for pat in patterns:
            p = pat.lower()
            for d in DIRECTIVES:
                names = [d.name] + ([d.alias] if d.alias else [])
                for n in names:
                    if n not in out and fnmatch.fnmatchcase(n, p):
                        out[n] = _format(d, getattr(self, d.attr))
        return out

    def set_many(self, pairs: list[tuple[str, str]]) -> None:
        """CONFIG SET: all or nothing, as Redis 7 does for several pairs."""
        seen: set[str] = set()
        staged: list[tuple[Directive, Any]] = []
        for name, value in pairs:
            d = BY_NAME.get(name.lower())
            if d is None:
                raise ConfigError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
            if d.name in seen:
                raise ConfigError(f"Duplicate parameter - '{name}'")
            seen.add(d.name)
            if not d.mutable:
                raise ConfigError(f"Unsupported CONFIG parameter: {name}")
            try:
                v = self.parse_value(d, [value])
            except ConfigError as e:
                raise ConfigError(f"CONFIG SET failed (possibly related to argument '{name}') - {e}") from None
            staged.append((d, v))
        old = [(d, getattr(self, d.attr)) for d, _ in staged]
        try:
            for d, v in staged:
                prev = getattr(self, d.attr)
                setattr(self, d.attr, v)
                if self.on_change is not None:
                    self.on_change(d.name, prev, v)
        except ConfigError as e:
            for d, v in old:
                setattr(self, d.attr, v)
            raise ConfigError(f"CONFIG SET failed - {e}") from None

    # --- CONFIG REWRITE ----------------------------------------------------------------------

    def rewrite(self) -> None:
        """Rewrite the config file in place: changed directives replace their lines, new ones are
        appended, comments and unknown-to-us lines stay."""
        if self.path is None:
            raise ConfigError("The server is running without a config file")
        try:
            with open(self.path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        wanted: dict[str, list[str]] = {}
        for d in DIRECTIVES:
            v = getattr(self, d.attr)
            if v == d.default:
                continue
            if d.kind == "save":
                wanted[d.name] = [f"save {s} {c}" for s, c in v] if v else ['save ""']
            elif d.kind == "replicaof":
                wanted[d.name] = [] if v is None else [f"replicaof {v[0]} {v[1]}"]
            elif d.kind == "obuf":
                wanted[d.name] = [
                    f"client-output-buffer-limit {part}"
                    for part in _chunks(format_obuf(v).split(), 4)
                ]
            else:
                wanted[d.name] = [f"{d.name} {_quote(_format(d, v))}"]
        out: list[str] = []
        emitted: set[str] = set()
        for raw in lines:
            parts = split_args(raw.strip().encode()) if raw.strip() and not raw.strip().startswith("#") else None
            if parts:
                d = BY_NAME.get(parts[0].decode("utf-8", "replace").lower())
                if d is not None:
                    if d.name in emitted:
                        continue
                    emitted.add(d.name)
                    out.extend(wanted.get(d.name, []))
                    continue
            if raw.strip() == "# Generated by CONFIG REWRITE":
                continue
            out.append(raw)
        rest = [ln for name, lns in wanted.items() if name not in emitted for ln in lns]
        if rest:
            out.append("# Generated by CONFIG REWRITE")
            out.extend(rest)
        tmp = f"{self.path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write("\n".join(out) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def _chunks(xs: list[str], n: int) -> list[str]:
    return [" ".join(xs[i : i + n]) for i in range(0, len(xs), n)]


def _quote(s: str) -> str:
    if s == "" or any(c in s for c in ' "\'\t\n\r\\'):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'
    return s


def _copy(v: Any) -> Any:
    if isinstance(v, list):
        return list(v)
    if isinstance(v, dict):
        return dict(v)
    return v
