"""Server configuration: Redis 7.0's directives, redis.conf syntax, CONFIG GET/SET/REWRITE.

One `Directive` per name describes its type, default, bounds and flags (immutable, protected,
sensitive, hidden) exactly as Redis 7.0's config table does, so that CONFIG GET answers what
stock Redis answers (redis-benchmark, redis-sentinel and redis-cli read it) and CONFIG SET fails
with Redis's own error texts. `Config` holds the typed values as attributes (dashes become
underscores). A change made by CONFIG SET is applied through `on_change` (the engine's
`on_config_change`), so the engine, not this module, decides what a change means at run time.
"""

from __future__ import annotations

import glob as _fsglob
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from server.glob import match as glob_match
from server.protocol.parser import split_args


class ConfigError(Exception):
    pass


INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
UINT_MAX = 2**32 - 1
LONG_MAX = 2**63 - 1
ULLONG_MAX = 2**64 - 1

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
    """Redis's memtoull: digits then an optional unit (b, k, kb, m, mb, g, gb; any case).

    No sign, no spaces, no decimals; a bare unit is 0 (strtoull of nothing), as in Redis."""
    i = 0
    while i < len(s) and s[i].isascii() and s[i].isdigit():
        i += 1
    unit = s[i:].lower()
    if unit not in _UNITS:
        raise ConfigError("argument must be a memory value")
    v = int(s[:i]) if i else 0
    return min(v * _UNITS[unit], ULLONG_MAX)


def format_memory(v: int) -> str:
    """Redis's rewriteConfigFormatMemory: the largest of gb/mb/kb that divides the value."""
    for unit, mul in (("gb", 1024**3), ("mb", 1024**2), ("kb", 1024)):
        if v and v % mul == 0:
            return f"{v // mul}{unit}"
    return str(v)


def parse_bool(s: str) -> bool:
    t = s.lower()
    if t == "yes":
        return True
    if t == "no":
        return False
    raise ConfigError("argument must be 'yes' or 'no'")


def _string2ll(s: str) -> int | None:
    """Redis's string2ll: optional '-', digits, no leading zeros, no '+' or spaces."""
    if not s or len(s) > 20:
        return None
    digits = s[1:] if s[0] == "-" else s
    if not digits or not (digits.isascii() and digits.isdigit()):
        return None
    if (len(digits) > 1 and digits[0] == "0") or (s[0] == "-" and digits == "0"):
        return None
    v = int(s)
    if v < -(2**63) or v > LONG_MAX:
        return None
    return v


def parse_int(s: str, lo: int, hi: int) -> int:
    v = _string2ll(s)
    if v is None:
        raise ConfigError("argument couldn't be parsed into an integer")
    if not lo <= v <= hi:
        raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
    return v


def parse_save(args: list[str]) -> list[tuple[int, int]]:
    """`save <seconds> <changes> [...]`; a single "" means no save points."""
    if len(args) == 1 and args[0] == "":
        return []
    if len(args) % 2:
        raise ConfigError("Invalid save parameters")
    points = []
    for i in range(0, len(args), 2):
        sec, changes = _strtoll(args[i]), _strtoll(args[i + 1])
        if sec is None or changes is None or sec < 1 or changes < 0:
            raise ConfigError("Invalid save parameters")
        points.append((sec, changes))
    return points


def _strtoll(s: str) -> int | None:
    """C strtoll with a check that the whole string was consumed (leading spaces, sign ok)."""
    t = s.lstrip(" \t\n\r\x0b\x0c")
    body = t[1:] if t[:1] in ("+", "-") else t
    if body and not (body.isascii() and body.isdigit()):
        return None
    if not body:
        return 0 if not t else None
    return max(min(int(t), LONG_MAX), -(2**63))


OBUF_CLASSES = {"normal": "normal", "slave": "replica", "replica": "replica", "pubsub": "pubsub"}
OBUF_DEFAULT = {
    "normal": (0, 0, 0),
    "replica": (256 * 1024**2, 64 * 1024**2, 60),
    "pubsub": (32 * 1024**2, 8 * 1024**2, 60),
}


def parse_obuf(args: list[str], current: dict[str, tuple[int, int, int]]) -> dict[str, tuple[int, int, int]]:
    """`client-output-buffer-limit <class> <hard> <soft> <seconds> [...]`, all or nothing."""
    if len(args) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    out = dict(current)
    for i in range(0, len(args), 4):
        cls = OBUF_CLASSES.get(args[i].lower())
        if cls is None:
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        secs = _strtoll(args[i + 3])
        try:
            hard, soft = parse_memory(args[i + 1]), parse_memory(args[i + 2])
        except ConfigError:
            hard = soft = -1
        if hard < 0 or soft < 0 or secs is None or secs < 0:
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
        out[cls] = (hard, soft, secs)
    return out


def format_obuf(v: dict[str, tuple[int, int, int]]) -> str:
    names = {"normal": "normal", "replica": "slave", "pubsub": "pubsub"}
    return " ".join(f"{names[c]} {v[c][0]} {v[c][1]} {v[c][2]}" for c in ("normal", "replica", "pubsub"))


# notify-keyspace-events classes, in the order Redis prints them.
_NOTIFY_ALL = "g$lshzxetd"
_NOTIFY_CHARS = set("Ag$lshzxeKEtmdn")


def parse_notify(s: str) -> str:
    """Canonical form of a notify-keyspace-events class string ("KEA" -> "AKE")."""
    if any(ch not in _NOTIFY_CHARS for ch in s):
        raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    flags = set(s.replace("A", _NOTIFY_ALL))
    if set(_NOTIFY_ALL) <= flags:
        out = "A"  # Redis prints only "A" then, even when "n" was also given
    else:
        out = "".join(ch for ch in _NOTIFY_ALL if ch in flags) + ("n" if "n" in flags else "")
    return out + "".join(ch for ch in "KEm" if ch in flags)


def format_percentile(p: float) -> str:
    s = f"{p:f}".rstrip("0")
    return s[:-1] if s.endswith(".") else s


@dataclass(frozen=True)
class Directive:
    """One configuration parameter, as in Redis's `standardConfig` table."""

    name: str
    # bool | int | memory | mempct | octal | string | enum | save | obuf | bind | replicaof | dir |
    # notify | oomvalues | percentiles | shutdown
    kind: str
    default: Any
    mutable: bool = True
    lo: int = 0
    hi: int = LONG_MAX
    choices: tuple[str, ...] = ()
    alias: str | None = None
    sensitive: bool = False
    protected: bool = False
    hidden: bool = False
    null_empty: bool = False  # string stored as NULL when empty (then CONFIG REWRITE drops it)
    check: Callable[[Any], str | None] | None = None

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")

    @property
    def multi_arg(self) -> bool:
        return self.kind in ("save", "obuf", "bind", "replicaof", "oomvalues", "percentiles", "shutdown")


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
_PROTECTED_ACTION = ("no", "yes", "local")
# shutdown-on-sigint/sigterm: a set of these ("default" is the empty set).
SHUTDOWN_FLAGS = ("default", "save", "nosave", "now", "force")


def _basename_check(what: str, noun: str = "filename") -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if what != "dbfilename" and v == "":
            return f"{what} can't be empty"
        if "/" in v:
            return f"{what} can't be a path, just a {noun}"
        return None

    return check


def _check_activedefrag(v: Any) -> str | None:
    if v:
        return (
            "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified "
            "Jemalloc like the one shipped by default with the Redis source distribution"
        )
    return None


def _check_hostname(v: Any) -> str | None:
    if len(v) >= 46:
        return "Hostnames must be less than 46 characters"
    if any(not (ch.isascii() and (ch.isalnum() or ch in "-.")) for ch in v):
        return "Hostnames may only contain alphanumeric characters, hyphens or dots"
    return None


_TITLE_VARS = (
    "{title}",
    "{listen-addr}",
    "{server-mode}",
    "{port}",
    "{tls-port}",
    "{unixsocket}",
    "{config-file}",
)


def _check_proc_title(v: Any) -> str | None:
    rest = str(v)
    for var in _TITLE_VARS:
        rest = rest.replace(var, "")
    if "{" in rest or "}" in rest or not v.strip():
        return "template format is invalid or contains unknown variables"
    return None


def _b(name: str, default: bool, **kw: Any) -> Directive:
    return Directive(name, "bool", default, **kw)


def _i(name: str, default: int, lo: int, hi: int, **kw: Any) -> Directive:
    return Directive(name, "int", default, lo=lo, hi=hi, **kw)


def _m(name: str, default: int, lo: int, hi: int, **kw: Any) -> Directive:
    return Directive(name, "memory", default, lo=lo, hi=hi, **kw)


def _s(name: str, default: str, **kw: Any) -> Directive:
    return Directive(name, "string", default, **kw)


def _e(name: str, default: str, choices: tuple[str, ...], **kw: Any) -> Directive:
    return Directive(name, "enum", default, choices=choices, **kw)


IMM = {"mutable": False}

# Redis 7.0.15's configuration table (minus TLS, which this server does not build with).
DIRECTIVES: list[Directive] = [
    # Booleans.
    _b("rdbchecksum", True, **IMM),
    _b("daemonize", False, **IMM),
    _b("io-threads-do-reads", False, **IMM),
    _b("always-show-logo", False, **IMM),
    _b("protected-mode", True),
    _b("rdbcompression", True),
    _b("rdb-del-sync-files", False),
    _b("activerehashing", True),
    _b("stop-writes-on-bgsave-error", True),
    _b("set-proc-title", True, **IMM),
    _b("dynamic-hz", True),
    _b("lazyfree-lazy-eviction", False),
    _b("lazyfree-lazy-expire", False),
    _b("lazyfree-lazy-server-del", False),
    _b("lazyfree-lazy-user-del", False),
    _b("lazyfree-lazy-user-flush", False),
    _b("repl-disable-tcp-nodelay", False),
    _b("repl-diskless-sync", True),
    _b("aof-rewrite-incremental-fsync", True),
    _b("no-appendfsync-on-rewrite", False),
    _b("cluster-require-full-coverage", True),
    _b("rdb-save-incremental-fsync", True),
    _b("aof-load-truncated", True),
    _b("aof-use-rdb-preamble", True),
    _b("aof-timestamp-enabled", False),
    _b("cluster-replica-no-failover", False, alias="cluster-slave-no-failover"),
    _b("replica-lazy-flush", False, alias="slave-lazy-flush"),
    _b("replica-serve-stale-data", True, alias="slave-serve-stale-data"),
    _b("replica-read-only", True, alias="slave-read-only"),
    _b("replica-ignore-maxmemory", True, alias="slave-ignore-maxmemory"),
    _b("jemalloc-bg-thread", True),
    _b("activedefrag", False, check=_check_activedefrag),
    _b("syslog-enabled", False, **IMM),
    _b("cluster-enabled", False, **IMM),
    _b("appendonly", False),
    _b("cluster-allow-reads-when-down", False),
    _b("cluster-allow-pubsubshard-when-down", True),
    _b("crash-log-enabled", True),
    _b("crash-memcheck-enabled", True),
    _b("use-exit-on-panic", False, hidden=True),
    _b("disable-thp", True, **IMM),
    _b("cluster-allow-replica-migration", True),
    _b("replica-announced", True),
    _b("latency-tracking", True),
    _b("aof-disable-auto-gc", False),
    _b("replica-ignore-disk-write-errors", False),
    # Strings.
    _s("aclfile", "", **IMM),
    _s("unixsocket", "", null_empty=True, **IMM),
    _s("pidfile", "", null_empty=True, **IMM),
    _s("replica-announce-ip", "", alias="slave-announce-ip", null_empty=True),
    _s("masteruser", "", sensitive=True, null_empty=True),
    _s("cluster-announce-ip", "", null_empty=True),
    _s("cluster-config-file", "nodes.conf", **IMM),
    _s("cluster-announce-hostname", "", null_empty=True, check=_check_hostname),
    _s("syslog-ident", "redis", **IMM),
    _s("dbfilename", "dump.rdb", protected=True, check=_basename_check("dbfilename")),
    _s("appendfilename", "appendonly.aof", check=_basename_check("appendfilename"), **IMM),
    _s("appenddirname", "appendonlydir", check=_basename_check("appenddirname", "dirname"), **IMM),
    _s("server_cpulist", "", null_empty=True, **IMM),
    _s("bio_cpulist", "", null_empty=True, **IMM),
    _s("aof_rewrite_cpulist", "", null_empty=True, **IMM),
    _s("bgsave_cpulist", "", null_empty=True, **IMM),
    _s("ignore-warnings", ""),
    _s("proc-title-template", "{title} {listen-addr} {server-mode}", check=_check_proc_title),
    _s("bind-source-addr", "", null_empty=True),
    _s("logfile", "", **IMM),
    _s("masterauth", "", sensitive=True, null_empty=True),
    _s("requirepass", "", sensitive=True, null_empty=True),
    # Enums.
    _e("supervised", "no", ("upstart", "systemd", "auto", "no"), **IMM),
    _e("syslog-facility", "local0", ("user", *(f"local{i}" for i in range(8))), **IMM),
    _e("repl-diskless-load", "disabled", ("disabled", "on-empty-db", "swapdb")),
    _e("loglevel", "notice", ("debug", "verbose", "notice", "warning")),
    _e("maxmemory-policy", "noeviction", MEMORY_POLICIES),
    _e("appendfsync", "everysec", ("everysec", "always", "no")),
    _e("oom-score-adj", "no", ("no", "yes", "relative", "absolute")),
    _e("acl-pubsub-default", "resetchannels", ("allchannels", "resetchannels")),
    _e("sanitize-dump-payload", "no", ("no", "yes", "clients")),
    _e("enable-protected-configs", "no", _PROTECTED_ACTION, **IMM),
    # Stock Redis defaults to "no"; local connections may use DEBUG here (tests rely on it).
    _e("enable-debug-command", "local", _PROTECTED_ACTION, **IMM),
    _e("enable-module-command", "no", _PROTECTED_ACTION, **IMM),
    _e("cluster-preferred-endpoint-type", "ip", ("ip", "hostname", "unknown-endpoint")),
    _e("propagation-error-behavior", "ignore", ("ignore", "panic", "panic-on-replicas")),
    # Integers.
    _i("databases", 16, 1, INT_MAX, **IMM),
    _i("port", 6379, 0, 65535),
    _i("io-threads", 1, 1, 128, **IMM),
    _i("auto-aof-rewrite-percentage", 100, 0, INT_MAX),
    _i("cluster-replica-validity-factor", 10, 0, INT_MAX, alias="cluster-slave-validity-factor"),
    _i("list-max-listpack-size", -2, INT_MIN, INT_MAX, alias="list-max-ziplist-size"),
    _i("tcp-keepalive", 300, 0, INT_MAX),
    _i("cluster-migration-barrier", 1, 0, INT_MAX),
    _i("active-defrag-cycle-min", 1, 1, 99),
    _i("active-defrag-cycle-max", 25, 1, 99),
    _i("active-defrag-threshold-lower", 10, 0, 1000),
    _i("active-defrag-threshold-upper", 100, 0, 1000),
    _i("lfu-log-factor", 10, 0, INT_MAX),
    _i("lfu-decay-time", 1, 0, INT_MAX),
    _i("replica-priority", 100, 0, INT_MAX, alias="slave-priority"),
    _i("repl-diskless-sync-delay", 5, 0, INT_MAX),
    _i("maxmemory-samples", 5, 1, INT_MAX),
    _i("maxmemory-eviction-tenacity", 10, 0, 100),
    _i("timeout", 0, 0, INT_MAX),
    _i("replica-announce-port", 0, 0, 65535, alias="slave-announce-port"),
    _i("tcp-backlog", 511, 0, INT_MAX, **IMM),
    _i("cluster-port", 0, 0, 65535, **IMM),
    _i("cluster-announce-bus-port", 0, 0, 65535),
    _i("cluster-announce-port", 0, 0, 65535),
    _i("cluster-announce-tls-port", 0, 0, 65535),
    _i("repl-timeout", 60, 1, INT_MAX),
    _i("repl-ping-replica-period", 10, 1, INT_MAX, alias="repl-ping-slave-period"),
    _i("list-compress-depth", 0, 0, INT_MAX),
    _i("rdb-key-save-delay", 0, INT_MIN, INT_MAX, hidden=True),
    _i("key-load-delay", 0, INT_MIN, INT_MAX, hidden=True),
    _i("active-expire-effort", 1, 1, 10),
    _i("hz", 10, 0, INT_MAX),
    _i("min-replicas-to-write", 0, 0, INT_MAX, alias="min-slaves-to-write"),
    _i("min-replicas-max-lag", 10, 0, INT_MAX, alias="min-slaves-max-lag"),
    _i("watchdog-period", 0, 0, INT_MAX, hidden=True),
    _i("shutdown-timeout", 10, 0, INT_MAX),
    _i("repl-diskless-sync-max-replicas", 0, 0, INT_MAX),
    _i("socket-mark-id", 0, 0, UINT_MAX, **IMM),
    _i("maxclients", 10000, 1, UINT_MAX),
    Directive("unixsocketperm", "octal", 0, mutable=False, lo=0, hi=0o777),
    _i("active-defrag-max-scan-fields", 1000, 1, LONG_MAX),
    _i("slowlog-max-len", 128, 0, LONG_MAX),
    _i("acllog-max-len", 128, 0, LONG_MAX),
    _i("busy-reply-threshold", 5000, 0, LONG_MAX, alias="lua-time-limit"),
    _i("cluster-node-timeout", 15000, 0, LONG_MAX),
    _i("slowlog-log-slower-than", 10000, -1, LONG_MAX),
    _i("latency-monitor-threshold", 0, 0, LONG_MAX),
    _m("proto-max-bulk-len", 512 * 1024**2, 1024**2, LONG_MAX),
    _i("stream-node-max-entries", 100, 0, LONG_MAX),
    _m("repl-backlog-size", 1024**2, 1, LONG_MAX),
    _m("maxmemory", 0, 0, ULLONG_MAX),
    _m("cluster-link-sendbuf-limit", 0, 0, ULLONG_MAX),
    _i("hash-max-listpack-entries", 512, 0, LONG_MAX, alias="hash-max-ziplist-entries"),
    _i("set-max-intset-entries", 512, 0, LONG_MAX),
    _i("zset-max-listpack-entries", 128, 0, LONG_MAX, alias="zset-max-ziplist-entries"),
    _m("active-defrag-ignore-bytes", 100 * 1024**2, 1, LONG_MAX),
    _m("hash-max-listpack-value", 64, 0, LONG_MAX, alias="hash-max-ziplist-value"),
    _m("stream-node-max-bytes", 4096, 0, LONG_MAX),
    _m("zset-max-listpack-value", 64, 0, LONG_MAX, alias="zset-max-ziplist-value"),
    _m("hll-sparse-max-bytes", 3000, 0, LONG_MAX),
    _i("tracking-table-max-keys", 1000000, 0, LONG_MAX),
    _m("client-query-buffer-limit", 1024**3, 1024**2, LONG_MAX),
    Directive("maxmemory-clients", "mempct", 0, lo=-100, hi=LONG_MAX),
    _i("repl-backlog-ttl", 3600, 0, LONG_MAX),
    _m("auto-aof-rewrite-min-size", 64 * 1024**2, 0, LONG_MAX),
    _i("loading-process-events-interval-bytes", 2 * 1024**2, 1024, INT_MAX, hidden=True),
    # Special syntax.
    Directive("dir", "dir", ".", protected=True),
    Directive("save", "save", [(3600, 1), (300, 100), (60, 10000)]),
    Directive("client-output-buffer-limit", "obuf", dict(OBUF_DEFAULT)),
    Directive("oom-score-adj-values", "oomvalues", [0, 200, 800]),
    Directive("notify-keyspace-events", "notify", ""),
    Directive("bind", "bind", ["*", "-::*"]),
    Directive("replicaof", "replicaof", None, mutable=False, alias="slaveof"),
    Directive("latency-tracking-info-percentiles", "percentiles", [50.0, 99.0, 99.9]),
    Directive("shutdown-on-sigint", "shutdown", (), choices=SHUTDOWN_FLAGS),
    Directive("shutdown-on-sigterm", "shutdown", (), choices=SHUTDOWN_FLAGS),
]

BY_NAME: dict[str, Directive] = {}
for _d in DIRECTIVES:
    BY_NAME[_d.name] = _d
    if _d.alias:
        BY_NAME[_d.alias] = _d

# redis.conf lines Redis 7.0 still accepts but ignores (name -> argument count including the name).
DEPRECATED = {"list-max-ziplist-entries": 2, "list-max-ziplist-value": 2, "lua-replicate-commands": 2}

# Kept for callers that used it: nothing is silently ignored any more, every 7.0 directive is real.
IGNORED: set[str] = set()


def catrepr(b: bytes) -> str:
    """Redis's sdscatrepr: a double-quoted, escaped rendering (CONFIG REWRITE, MONITOR)."""
    out = ['"']
    for ch in b:
        if ch == 0x5C:
            out.append("\\\\")
        elif ch == 0x22:
            out.append('\\"')
        elif ch == 0x0A:
            out.append("\\n")
        elif ch == 0x0D:
            out.append("\\r")
        elif ch == 0x09:
            out.append("\\t")
        elif ch == 0x07:
            out.append("\\a")
        elif ch == 0x08:
            out.append("\\b")
        elif 0x20 <= ch < 0x7F:
            out.append(chr(ch))
        else:
            out.append(f"\\x{ch:02x}")
    out.append('"')
    return "".join(out)


def _srepr(s: str) -> str:
    return catrepr(s.encode("utf-8", "surrogateescape"))


def format_value(d: Directive, v: Any) -> str:
    """The CONFIG GET text of value `v` of directive `d`."""
    k = d.kind
    if k == "bool":
        return "yes" if v else "no"
    if k == "octal":
        return f"{v:o}"
    if k == "mempct":
        return f"{-v}%" if v < 0 else str(v)
    if k == "save":
        return " ".join(f"{s} {c}" for s, c in v)
    if k == "obuf":
        return format_obuf(v)
    if k in ("bind", "oomvalues"):
        return " ".join(str(x) for x in v)
    if k == "replicaof":
        return "" if v is None else f"{v[0]} {v[1]}"
    if k == "percentiles":
        return " ".join(format_percentile(p) for p in v)
    if k == "shutdown":
        return " ".join(v) if v else "default"
    return str(v)


class Config:
    """Typed directive values; `path` is the config file the server started from, if any."""

    def __init__(self) -> None:
        self.path: str | None = None
        for d in DIRECTIVES:
            setattr(self, d.attr, _copy(d.default))
        self.dir = os.getcwd()
        self.on_change: Callable[[str, Any, Any], None] | None = None
        self._save_loaded = False
        # `rename-command` lines seen while loading: (old, new); applied to the command table.
        self.renamed_commands: list[tuple[str, str]] = []

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
    aof_timestamp_enabled: bool
    aof_rewrite_incremental_fsync: bool
    aof_disable_auto_gc: bool
    auto_aof_rewrite_percentage: int
    auto_aof_rewrite_min_size: int
    no_appendfsync_on_rewrite: bool
    save: list[tuple[int, int]]
    rdbcompression: bool
    rdbchecksum: bool
    rdb_del_sync_files: bool
    rdb_key_save_delay: int
    key_load_delay: int
    stop_writes_on_bgsave_error: bool
    sanitize_dump_payload: str
    databases: int
    maxclients: int
    maxmemory: int
    maxmemory_policy: str
    maxmemory_samples: int
    maxmemory_eviction_tenacity: int
    maxmemory_clients: int
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
    dynamic_hz: bool
    enable_debug_command: str
    enable_protected_configs: str
    enable_module_command: str
    busy_reply_threshold: int
    lazyfree_lazy_user_del: bool
    lazyfree_lazy_expire: bool
    lazyfree_lazy_eviction: bool
    lazyfree_lazy_server_del: bool
    lazyfree_lazy_user_flush: bool
    latency_tracking: bool
    latency_tracking_info_percentiles: list[float]
    latency_monitor_threshold: int
    slowlog_log_slower_than: int
    slowlog_max_len: int
    notify_keyspace_events: str
    active_expire_effort: int
    lfu_log_factor: int
    lfu_decay_time: int
    hash_max_listpack_entries: int
    hash_max_listpack_value: int
    set_max_intset_entries: int
    zset_max_listpack_entries: int
    zset_max_listpack_value: int
    list_max_listpack_size: int
    list_compress_depth: int
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
    repl_disable_tcp_nodelay: bool
    replica_read_only: bool
    replica_serve_stale_data: bool
    replica_priority: int
    replica_announce_ip: str
    replica_announce_port: int
    replica_announced: bool
    replica_lazy_flush: bool
    replica_ignore_maxmemory: bool
    min_replicas_to_write: int
    min_replicas_max_lag: int
    shutdown_timeout: int
    unixsocket: str
    unixsocketperm: int
    shutdown_on_sigint: tuple[str, ...]
    shutdown_on_sigterm: tuple[str, ...]
    cluster_enabled: bool

    # --- parsing ---------------------------------------------------------------------------

    def parse_value(self, d: Directive, args: list[str]) -> Any:
        """Validate `args` for directive `d` and return the typed value (ConfigError if bad)."""
        k = d.kind
        if not d.multi_arg and len(args) != 1:
            raise ConfigError("wrong number of arguments")
        if k == "save":
            return parse_save(args)
        if k == "obuf":
            return parse_obuf(args, self.client_output_buffer_limit)
        if k == "bind":
            if len(args) > 16:
                raise ConfigError("Too many bind addresses specified.")
            return [] if args == [""] else list(args)
        if k == "replicaof":
            if len(args) != 2:
                raise ConfigError("wrong number of arguments")
            if args[0].lower() == "no" and args[1].lower() == "one":
                return None
            port = _strtoll(args[1])
            if port is None or not 0 <= port <= 65535 or args[1] == "":
                raise ConfigError("Invalid master port")
            return (args[0], port)
        if k == "oomvalues":
            if len(args) != 3:
                raise ConfigError("wrong number of arguments")
            vals = [_strtoll(a) for a in args]
            if any(v is None or not -2000 <= v <= 2000 for v in vals):
                raise ConfigError("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")
            return [int(v) for v in vals if v is not None]
        if k == "percentiles":
            if args == [""]:
                return []
            out = []
            for a in args:
                try:
                    p = float(a)
                except ValueError:
                    raise ConfigError("Invalid latency-tracking-info-percentiles parameters") from None
                if not 0.0 <= p <= 100.0:
                    raise ConfigError(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    )
                out.append(p)
            return out
        if k == "shutdown":
            words = {a.lower() for a in args}
            if not words or not words <= set(SHUTDOWN_FLAGS):
                raise ConfigError(f"argument(s) must be one of the following: {', '.join(SHUTDOWN_FLAGS)}")
            if {"save", "nosave"} <= words:
                raise ConfigError("shutdown options SAVE and NOSAVE can't be used simultaneously")
            return tuple(f for f in SHUTDOWN_FLAGS[1:] if f in words)
        s = args[0]
        v: Any
        if k == "int":
            v = parse_int(s, d.lo, d.hi)
            if d.name == "hz":
                v = min(max(v, 1), 500)  # Redis accepts any hz but caps it (updateHZ)
        elif k == "memory":
            v = parse_memory(s)
            if not d.lo <= v <= d.hi:
                raise ConfigError(f"argument must be between {d.lo} and {d.hi} inclusive")
        elif k == "mempct":
            if len(s) > 1 and s.endswith("%") and (pct := _string2ll(s[:-1])) is not None and pct >= 0:
                if pct > -d.lo:
                    raise ConfigError(f"percentage argument must be less or equal to {-d.lo}")
                v = -pct
            else:
                try:
                    v = parse_memory(s)
                except ConfigError:
                    raise ConfigError("argument must be a memory or percent value") from None
        elif k == "octal":
            try:
                v = int(s, 8)
            except ValueError:
                raise ConfigError("argument couldn't be parsed as an octal number") from None
            if not d.lo <= v <= d.hi:
                raise ConfigError(f"argument must be between {d.lo:o} and {d.hi:o} inclusive")
        elif k == "bool":
            v = parse_bool(s)
        elif k == "enum":
            t = s.lower()
            if t not in d.choices:
                raise ConfigError(f"argument(s) must be one of the following: {', '.join(d.choices)}")
            v = "yes" if (d.name == "oom-score-adj" and t == "relative") else t
        elif k == "notify":
            v = parse_notify(s)
        elif k == "dir":
            if not os.path.isdir(s):
                raise ConfigError(os.strerror(2 if not os.path.exists(s) else 20))
            if not os.access(s, os.X_OK):
                raise ConfigError(os.strerror(13))
            v = os.path.abspath(s)
        else:
            v = s
        if d.check is not None:
            err = d.check(v)
            if err is not None:
                raise ConfigError(err)
        return v

    def load_lines(self, text: str, source: str) -> None:
        """Apply redis.conf-syntax text (a file, or the command line folded into lines)."""
        for lineno, raw in enumerate(text.split("\n"), 1):
            line = raw.strip(" \t\r\n")
            if not line or line.startswith("#"):
                continue
            try:
                self._load_line(line)
            except ConfigError as e:
                raise ConfigError(
                    f"Reading the configuration file, at line {lineno}\n>>> '{line}'\n{e}"
                ) from None

    def _load_line(self, line: str) -> None:
        parts = split_args(line.encode("utf-8", "surrogateescape"))
        if parts is None:
            raise ConfigError("Unbalanced quotes in configuration line")
        if not parts:
            return
        name = parts[0].decode("utf-8", "surrogateescape").lower()
        args = [p.decode("utf-8", "surrogateescape") for p in parts[1:]]
        d = BY_NAME.get(name)
        if d is not None:
            value = self.parse_value(d, args)
            if d.kind == "save" and args != [""]:
                # Several `save` lines add up; the first one replaces the defaults.
                if self._save_loaded:
                    value = self.save + value
                self._save_loaded = True
            elif d.kind == "save":
                self._save_loaded = True
            setattr(self, d.attr, value)
            return
        if DEPRECATED.get(name) == len(parts):
            return
        if name == "include" and len(args) == 1:
            self._include(args[0])
        elif name == "rename-command" and len(args) == 2:
            self._rename_command(args[0], args[1])
        elif name == "user" and args:
            raise ConfigError(
                f"Error in user declaration '{args[0]}': ACL users are not supported by this server"
            )
        elif name == "loadmodule" and args:
            raise ConfigError("Modules are not supported by this server")
        elif name == "sentinel":
            raise ConfigError("sentinel directive while not in sentinel mode")
        else:
            raise ConfigError("Bad directive or wrong number of arguments")

    def _include(self, pattern: str) -> None:
        paths = sorted(_fsglob.glob(pattern)) if any(ch in pattern for ch in "*?[") else [pattern]
        for path in paths:
            try:
                with open(path) as f:
                    text = f.read()
            except OSError as e:
                raise ConfigError(f"Fatal error, can't open config file '{path}': {e.strerror}") from None
            self.load_lines(text, path)

    def _rename_command(self, old: str, new: str) -> None:
        from server.commands.registry import TABLE

        cmd = TABLE.get(old.lower().encode())
        if cmd is None:
            raise ConfigError("No such command in rename-command")
        if new and new.lower().encode() in TABLE:
            raise ConfigError("Target command name already exists")
        del TABLE[old.lower().encode()]
        if new:
            TABLE[new.lower().encode()] = cmd
        self.renamed_commands.append((old, new))

    @classmethod
    def from_argv(cls, argv: list[str]) -> Config:
        """`[config-file] [--directive value ...]`, exactly as redis-server takes them."""
        cfg = cls()
        args = list(argv)
        text = ""
        if args and not args[0].startswith("--"):
            path = args.pop(0)
            if path == "-":
                import sys

                text = sys.stdin.read()
            else:
                cfg.path = os.path.abspath(path)
                try:
                    with open(path) as f:
                        text = f.read()
                except OSError as e:
                    raise ConfigError(f"Fatal error, can't open config file '{path}': {e.strerror}") from None
        lines: list[list[str]] = []
        for a in args:
            if a.startswith("--") and len(a) > 2:
                lines.append([a[2:]])
            elif not lines:
                raise ConfigError(f"Invalid argument '{a}'")
            else:
                lines[-1].append(a)
        options = "\n".join(ln[0] + "".join(" " + _srepr(x) for x in ln[1:]) for ln in lines)
        cfg.load_lines(text + ("\n" + options if options else ""), path if cfg.path else "command line")
        return cfg

    # --- CONFIG GET / SET --------------------------------------------------------------------

    def get(self, name: str) -> str | None:
        """The CONFIG GET text of one directive (exact name or alias), or None if unknown."""
        d = BY_NAME.get(name.lower())
        return None if d is None else format_value(d, getattr(self, d.attr))

    def get_matching(self, patterns: Iterable[str]) -> dict[str, str]:
        """CONFIG GET: exact names (any case, shown as asked, hidden ones included) or Redis
        glob patterns (case-insensitive, over names and aliases, hidden ones excluded)."""
        out: dict[str, str] = {}
        for pat in patterns:
            if not any(ch in pat for ch in "[*?"):
                d = BY_NAME.get(pat.lower())
                if d is not None and pat not in out:
                    out[pat] = format_value(d, getattr(self, d.attr))
                continue
            p = pat.lower().encode("utf-8", "surrogateescape")
            for d in DIRECTIVES:
                if d.hidden:
                    continue
                for n in (d.name, d.alias):
                    if n is not None and n not in out and glob_match(p, n.encode()):
                        out[n] = format_value(d, getattr(self, d.attr))
        return out

    def set_many(self, pairs: list[tuple[str, str]], allow_protected: bool = False) -> None:
        """CONFIG SET: validate every pair, then set them all and apply each change; if any
        step fails, every value goes back to what it was. Errors are Redis 7.0's texts."""
        staged: list[tuple[Directive, str, Any]] = []
        seen: dict[str, Directive] = {}
        for name, _ in pairs:
            d = BY_NAME.get(name.lower())
            if d is None:
                shown = name.split("\x00", 1)[0]  # Redis's %s: up to a NUL
                raise ConfigError(f"Unknown option or number of arguments for CONFIG SET - '{shown}'")
            if not d.mutable:
                raise ConfigError(
                    f"CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
                )
            if d.protected and not allow_protected:
                raise ConfigError(
                    f"CONFIG SET failed (possibly related to argument '{name}') - can't set protected config"
                )
            if name.lower() in seen:
                raise ConfigError(
                    f"CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
                )
            seen[name.lower()] = d
        old = {d.attr: _copy(getattr(self, d.attr)) for d in seen.values()}
        for name, value in pairs:
            d = seen[name.lower()]
            args = ([] if value == "" else value.split(" ")) if d.multi_arg else [value]
            if d.kind in ("save", "bind", "percentiles") and not args:
                args = [""]
            try:
                staged.append((d, name.lower(), self.parse_value(d, args)))
            except ConfigError as e:
                self._restore(old)
                raise ConfigError(
                    f"CONFIG SET failed (possibly related to argument '{name.lower()}') - {e}"
                ) from None
            setattr(self, d.attr, staged[-1][2])
        applied: list[tuple[Directive, Any, Any]] = []
        try:
            for d, _, v in staged:
                prev = old[d.attr]
                if v == prev or any(a[0] is d for a in applied):
                    continue
                applied.append((d, prev, v))
                if self.on_change is not None:
                    self.on_change(d.name, prev, v)
        except ConfigError as e:
            self._restore(old)
            if self.on_change is not None:
                for d, prev, v in reversed(applied[:-1]):
                    try:
                        self.on_change(d.name, v, prev)
                    except ConfigError:
                        pass
            name = applied[-1][0].name if applied else "?"
            raise ConfigError(f"CONFIG SET failed (possibly related to argument '{name}') - {e}") from None

    def _restore(self, old: dict[str, Any]) -> None:
        for attr, v in old.items():
            setattr(self, attr, v)

    # --- CONFIG REWRITE ----------------------------------------------------------------------

    def rewrite_lines(self, d: Directive) -> tuple[list[str], bool]:
        """The lines CONFIG REWRITE writes for `d`, and whether they must be written even when
        the file does not mention the directive (Redis's "force")."""
        v = getattr(self, d.attr)
        k, n = d.kind, d.name
        if k == "save":
            return ([f"save {s} {c}" for s, c in v] or ['save ""']), True
        if k == "dir":
            return [f"dir {_srepr(v)}"], True
        if k == "obuf":
            names = {"normal": "normal", "replica": "replica", "pubsub": "pubsub"}
            lines = [
                f"{n} {names[c]} {format_memory(v[c][0])} {format_memory(v[c][1])} {v[c][2]}"
                for c in ("normal", "replica", "pubsub")
            ]
            return lines, v != OBUF_DEFAULT
        if k == "bind":
            if v == d.default:
                return [], False
            return [f"bind {' '.join(v) if v else chr(34) * 2}"], True
        if k == "replicaof":
            return ([] if v is None else [f"replicaof {v[0]} {v[1]}"]), v is not None
        if k == "notify":
            return [f"{n} {_srepr(v)}"], v != ""
        if k == "percentiles":
            return [f"{n} " + (" ".join(format_percentile(p) for p in v) if v else '""')], True
        if k == "oomvalues":
            return [f"{n} {' '.join(str(x) for x in v)}"], v != d.default
        if k == "shutdown":
            return [f"{n} {format_value(d, v)}"], v != d.default
        if k == "string":
            if d.null_empty and v == "":
                return [], False
            return [f"{n} {_srepr(v)}"], v != d.default
        if k == "memory":
            return [f"{n} {format_memory(v)}"], v != d.default
        if k == "mempct":
            return [f"{n} {-v}%" if v < 0 else f"{n} {format_memory(v)}"], v != d.default
        if k == "octal":
            return [f"{n} {v:o}"], v != d.default
        return [f"{n} {format_value(d, v)}"], v != d.default

    def rewrite(self, force_all: bool = False) -> None:
        """CONFIG REWRITE, as Redis does it: lines of directives we know are replaced in place
        (extra ones blanked), directives not in the file are appended after a "# Generated by
        CONFIG REWRITE" line only when they differ from the default (or always, with
        `force_all`: DEBUG CONFIG-REWRITE-FORCE-ALL), everything else stays."""
        if self.path is None:
            raise ConfigError("The server is running without a config file")
        try:
            with open(self.path) as f:
                old = f.read().split("\n")
        except FileNotFoundError:
            old = []
        except OSError as e:
            raise ConfigError(f"Rewriting config file: {e.strerror}") from None
        if old and old[-1] == "":
            old.pop()
        lines: list[str] = []
        where: dict[str, list[int]] = {}
        signature = False
        for raw in old:
            line = raw.strip("\r\n\t ")
            if not line or line.startswith("#"):
                signature = signature or line == _SIGNATURE
                lines.append(line)
                continue
            parts = split_args(line.encode("utf-8", "surrogateescape"))
            name = parts[0].decode("utf-8", "replace").lower() if parts else ""
            d = BY_NAME.get(name)
            if d is None and name not in _KEEP_AS_IS:
                lines.append("# ??? " + line)
                continue
            lines.append(line)
            if d is not None:
                where.setdefault(d.name, []).append(len(lines) - 1)
        appended: list[str] = []
        for d in DIRECTIVES:
            if d.hidden:
                continue
            new, force = self.rewrite_lines(d)
            force = force or force_all
            slots = where.pop(d.name, [])
            for i, text in enumerate(new):
                if i < len(slots):
                    lines[slots[i]] = text
                elif force or slots:
                    appended.append(text)
            for i in slots[len(new) :]:
                lines[i] = ""
        if appended:
            if not signature:
                lines.append(_SIGNATURE)
            lines.extend(appended)
        out: list[str] = []
        for line in lines:
            if line == "" and out and out[-1] == "":
                continue
            out.append(line)
        content = "".join(line + "\n" for line in out)
        tmp = f"{self.path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "w") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o644 & ~umask)
            os.replace(tmp, self.path)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise ConfigError(f"Rewriting config file: {e.strerror}") from None


_SIGNATURE = "# Generated by CONFIG REWRITE"
_KEEP_AS_IS = {"include", "rename-command", "user", "loadmodule"}


def _copy(v: Any) -> Any:
    if isinstance(v, list):
        return list(v)
    if isinstance(v, dict):
        return dict(v)
    return v
