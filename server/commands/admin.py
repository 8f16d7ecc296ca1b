"""Server administration commands: INFO, CONFIG, COMMAND, DEBUG, ROLE, TIME, LOLWUT, MEMORY,
LATENCY, SLOWLOG, MONITOR and MODULE, with Redis 7.0's replies and error texts.

COMMAND INFO/DOCS combine what this server actually does (arity, flags and key positions from
the command table) with Redis 7.0.15's own metadata for the same commands (ACL categories,
tips, key specs, documentation: `command_docs.json`, generated from `redis-server` 7.0.15's
`COMMAND` and `COMMAND DOCS` replies), so redis-cli's hints and client libraries see what they
expect.

DEBUG dispatches through `DEBUG_SUBCOMMANDS`; other layers add theirs with
`@debug_subcommand("name", arity)` (DEBUG RELOAD and LOADAOF call the persistence layer's
`debug_reload` / `debug_loadaof` hooks).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import math
import os
import random
import re
import resource
import signal
import struct
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import structlog

from server import REDIS_VERSION
from server.client import Client
from server.commands.args import parse_int
from server.commands.registry import TABLE, Command, command, container
from server.config import ConfigError, parse_memory
from server.datatypes import ZSet
from server.errors import NO_SUCH_KEY, NOT_INTEGER, SYNTAX, CommandError, quoted
from server.glob import match as glob_match
from server.info import all_commands, info_text, replid
from server.instrument import state
from server.memory import STARTUP_BYTES, glibc_used, key_size
from server.protocol import resp

log = structlog.get_logger("server.admin")

Handler = Callable[[Client, list[bytes]], bytes]


def help_reply(lines: list[str]) -> bytes:
    """Redis's addReplyHelp: one status line per entry."""
    return resp.array([resp.simple(line) for line in lines])


def _help(cmd: str, body: list[str]) -> bytes:
    return help_reply(
        [
            f"{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            *body,
            "HELP",
            "    Prints this help.",
        ]
    )


def is_local(c: Client) -> bool:
    """Redis's islocalClient: a loopback or unix-socket connection."""
    host = c.addr.rsplit(":", 1)[0] if c.addr else ""
    return host.startswith("127.") or host in ("::1", "[::1]", "") or host.startswith("unix")


def allow_protected(setting: str, c: Client) -> bool:
    return setting == "yes" or (setting == "local" and is_local(c))


def _str(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


# --- INFO ------------------------------------------------------------------------------------------


@command("info", -1, "loading stale", group="server")
def info(c: Client, argv: list[bytes]) -> bytes:
    return resp.verbatim(info_text(c.engine, argv[1:]).encode("utf-8", "surrogateescape"), c.resp)


# --- CONFIG ----------------------------------------------------------------------------------------

container("config")


@command("get", -3, "admin noscript loading stale", parent="config", group="server")
def config_get(c: Client, argv: list[bytes]) -> bytes:
    found = c.engine.config.get_matching(_str(a) for a in argv[2:])
    return resp.map_(
        [
            (resp.bulk(k.encode("utf-8", "surrogateescape")), resp.bulk(v.encode("utf-8", "surrogateescape")))
            for k, v in found.items()
        ],
        c.resp,
    )


@command("set", -4, "admin noscript loading stale", parent="config", group="server")
def config_set(c: Client, argv: list[bytes]) -> bytes:
    if len(argv) % 2:
        raise CommandError(SYNTAX)
    eng = c.engine
    state(eng)  # make sure the admin layer's config_change hook is in place
    pairs = [(_str(argv[i]), _str(argv[i + 1])) for i in range(2, len(argv), 2)]
    try:
        eng.config.set_many(pairs, allow_protected=allow_protected(eng.config.enable_protected_configs, c))
    except ConfigError as e:
        raise CommandError(f"ERR {e}") from None
    return resp.OK


@command("resetstat", 2, "admin noscript loading stale", parent="config", group="server")
def config_resetstat(c: Client, argv: list[bytes]) -> bytes:
    reset_stats(c.engine)
    return resp.OK


def reset_stats(eng: Any) -> None:
    """Redis's resetServerStats + resetCommandTableStats + resetErrorTableStats."""
    for name in (
        "stat_numconnections",
        "stat_expiredkeys",
        "stat_evictedkeys",
        "stat_keyspace_hits",
        "stat_keyspace_misses",
        "stat_net_input_bytes",
        "stat_net_output_bytes",
        "stat_rejected_conn",
        "stat_total_error_replies",
        "stat_unexpected_error_replies",
    ):
        setattr(eng, name, 0)
    errorstats = getattr(eng, "errorstats", None)
    if isinstance(errorstats, dict):
        errorstats.clear()
    eng.ops_samples.clear()
    for cmd in all_commands():
        cmd.calls = cmd.usec = cmd.failed_calls = cmd.rejected_calls = 0
    st = state(eng)
    st.reset_stats()
    st.net_samples.clear()
    eng.memory.reset_peak()
    hook = eng.hooks.get("reset_stats")
    if hook is not None:
        hook()


@command("rewrite", 2, "admin noscript loading stale", parent="config", group="server")
def config_rewrite(c: Client, argv: list[bytes]) -> bytes:
    try:
        c.engine.config.rewrite()
    except ConfigError as e:
        log.warning("CONFIG REWRITE failed", error=str(e))
        raise CommandError(f"ERR {e}") from None
    log.info("CONFIG REWRITE executed with success")
    return resp.OK


@command("help", 2, "loading stale", parent="config", group="server")
def config_help(c: Client, argv: list[bytes]) -> bytes:
    return _help(
        "CONFIG",
        [
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    )


# --- COMMAND ---------------------------------------------------------------------------------------

_DOCS_PATH = Path(__file__).with_name("command_docs.json")
# Redis's flag order in COMMAND INFO (hidden ones: may_replicate, sentinel, only_sentinel, protected).
_FLAG_ORDER = [
    "write",
    "readonly",
    "denyoom",
    "module",
    "admin",
    "pubsub",
    "noscript",
    "blocking",
    "loading",
    "stale",
    "skip_monitor",
    "skip_slowlog",
    "asking",
    "fast",
    "no_auth",
    "no_mandatory_keys",
    "no_async_loading",
    "no_multi",
    "movablekeys",
    "allow_busy",
]
_ACL_ORDER = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
]
_GROUP_ACL = {
    "string": "string",
    "list": "list",
    "set": "set",
    "sorted-set": "sortedset",
    "sorted_set": "sortedset",
    "zset": "sortedset",
    "hash": "hash",
    "bitmap": "bitmap",
    "hyperloglog": "hyperloglog",
    "geo": "geo",
    "stream": "stream",
    "pubsub": "pubsub",
    "connection": "connection",
    "transactions": "transaction",
    "scripting": "scripting",
    "generic": "keyspace",
}


@cache
def _stock_meta() -> dict[str, Any]:
    """Redis 7.0.15's COMMAND/COMMAND DOCS metadata, keyed by command name."""
    with open(_DOCS_PATH) as f:
        data: dict[str, Any] = json.load(f)
    return data


def _meta(cmd: Command) -> dict[str, Any] | None:
    data = _stock_meta()
    if cmd.parent is not None:
        p = data.get(cmd.parent.name.decode())
        sub = p.get("sub", {}).get(cmd.name.decode()) if p else None
        return sub if isinstance(sub, dict) else None
    m = data.get(cmd.name.decode())
    return m if isinstance(m, dict) else None


def command_flags(cmd: Command) -> list[str]:
    flags = set(cmd.flags)
    if cmd.keys_fn is not None:
        flags.add("movablekeys")
    return [f for f in _FLAG_ORDER if f in flags]


def acl_categories(cmd: Command) -> list[str]:
    m = _meta(cmd)
    if m is not None:
        return list(m["acl"])
    # Redis's setImplicitACLCategories plus the command's group.
    cats: set[str] = set()
    f = cmd.flags
    if "write" in f:
        cats.add("write")
    if "readonly" in f:
        cats.add("read")
    if "admin" in f:
        cats.update(("admin", "dangerous"))
    if "pubsub" in f:
        cats.add("pubsub")
    cats.add("fast" if "fast" in f else "slow")
    if "blocking" in f:
        cats.add("blocking")
    g = _GROUP_ACL.get(cmd.group)
    if g:
        cats.add(g)
    return ["@" + c for c in _ACL_ORDER if c in cats]


def key_specs(cmd: Command) -> list[dict[str, Any]]:
    m = _meta(cmd)
    if m is not None:
        return list(m["key_specs"])
    if cmd.first_key <= 0:
        return []
    flags = ["RW", "update"] if "write" in cmd.flags else ["RO", "access"]
    last = cmd.last_key if cmd.last_key < 0 else cmd.last_key - cmd.first_key
    return [
        {
            "flags": flags,
            "begin_search": {"type": "index", "spec": {"index": cmd.first_key}},
            "find_keys": {"type": "range", "spec": {"lastkey": last, "keystep": cmd.step or 1, "limit": 0}},
        }
    ]


def _statuses(items: list[str], proto: int) -> bytes:
    return resp.set_header(len(items), proto) + b"".join(resp.simple(s) for s in items)


def _typed(v: Any, proto: int, key: str = "") -> bytes:
    """Encode metadata with Redis's reply types: flag lists are sets of status replies,
    history and tips sets, key specs sets of maps, argument lists arrays of maps."""
    if isinstance(v, dict):
        return resp.map_header(len(v), proto) + b"".join(
            resp.bulk(k.encode()) + _typed(x, proto, k) for k, x in v.items()
        )
    if isinstance(v, list):
        if key in ("flags", "doc_flags", "acl"):
            return _statuses(v, proto)
        if key in ("history", "tips", "key_specs"):
            return resp.set_header(len(v), proto) + b"".join(_typed(x, proto) for x in v)
        return resp.array_header(len(v)) + b"".join(_typed(x, proto) for x in v)
    if isinstance(v, bool):
        return resp.integer(int(v))
    if isinstance(v, int):
        return resp.integer(v)
    return resp.bulk(str(v).encode())


def command_info_reply(cmd: Command, proto: int) -> bytes:
    m = _meta(cmd)
    tips = list(m["tips"]) if m is not None else []
    subs = list(cmd.subcommands.values())
    parts = [
        resp.bulk(cmd.full_name.encode()),
        resp.integer(cmd.arity),
        _statuses(command_flags(cmd), proto),
        resp.integer(cmd.first_key),
        resp.integer(cmd.last_key),
        resp.integer(cmd.step),
        _statuses(acl_categories(cmd), proto),
        resp.set_header(len(tips), proto) + b"".join(resp.bulk(t.encode()) for t in tips),
        _typed(key_specs(cmd), proto, "key_specs"),
        (resp.array([command_info_reply(s, proto) for s in subs]) if subs else resp.set_header(0, proto)),
    ]
    return resp.array(parts)


def command_docs_reply(cmd: Command, proto: int) -> bytes:
    m = _meta(cmd)
    docs: dict[str, Any] = dict(m["docs"]) if m is not None else {}
    if "group" not in docs:
        docs["group"] = cmd.group
    order = (
        "summary",
        "since",
        "group",
        "complexity",
        "doc_flags",
        "deprecated_since",
        "replaced_by",
        "history",
        "arguments",
    )
    pairs = [(k, docs[k]) for k in order if k in docs]
    body = [resp.bulk(k.encode()) + _typed(v, proto, k) for k, v in pairs]
    if cmd.subcommands:
        subs = list(cmd.subcommands.values())
        body.append(
            resp.bulk(b"subcommands")
            + resp.map_header(len(subs), proto)
            + b"".join(resp.bulk(s.full_name.encode()) + command_docs_reply(s, proto) for s in subs)
        )
    return resp.map_header(len(body), proto) + b"".join(body)


def lookup_fullname(name: bytes) -> Command | None:
    """A command by its full name ("get", "config|get"), as COMMAND INFO/DOCS take them."""
    base, _, sub = name.lower().partition(b"|")
    cmd = TABLE.get(base)
    if cmd is None or not sub:
        return cmd
    return cmd.subcommands.get(sub)


def lookup_argv(argv: list[bytes]) -> Command | None:
    """Redis's lookupCommand: the subcommand when the command has subcommands."""
    cmd = TABLE.get(argv[0].lower())
    if cmd is None or not cmd.subcommands or len(argv) < 2:
        return cmd
    return cmd.subcommands.get(argv[1].lower())


def _top_level() -> list[Command]:
    seen: set[int] = set()
    out = []
    for cmd in TABLE.values():
        if id(cmd) not in seen:
            seen.add(id(cmd))
            out.append(cmd)
    return out


@command("command", -1, "loading stale", group="server")
def command_(c: Client, argv: list[bytes]) -> bytes:
    cmds = _top_level()
    return resp.array([command_info_reply(cmd, c.resp) for cmd in cmds])


@command("count", 2, "loading stale", parent="command", group="server")
def command_count(c: Client, argv: list[bytes]) -> bytes:
    return resp.integer(len(_top_level()))


@command("info", -2, "loading stale", parent="command", group="server")
def command_info(c: Client, argv: list[bytes]) -> bytes:
    if len(argv) == 2:
        return command_(c, argv)
    out = []
    for name in argv[2:]:
        cmd = lookup_fullname(name)
        out.append(resp.null(c.resp) if cmd is None else command_info_reply(cmd, c.resp))
    return resp.array(out)


@command("docs", -2, "loading stale", parent="command", group="server")
def command_docs(c: Client, argv: list[bytes]) -> bytes:
    if len(argv) == 2:
        cmds = _top_level()
    else:
        found = [lookup_fullname(n) for n in argv[2:]]
        cmds = [cmd for cmd in found if cmd is not None]
    return resp.map_header(len(cmds), c.resp) + b"".join(
        resp.bulk(cmd.full_name.encode()) + command_docs_reply(cmd, c.resp) for cmd in cmds
    )


@command("list", -2, "loading stale", parent="command", group="server")
def command_list(c: Client, argv: list[bytes]) -> bytes:
    keep: Callable[[Command], bool] = lambda cmd: True  # noqa: E731
    if len(argv) == 5 and argv[2].lower() == b"filterby":
        kind, arg = argv[3].lower(), argv[4]
        if kind == b"module":
            keep = lambda cmd: False  # noqa: E731  (no modules here)
        elif kind == b"aclcat":
            cat = "@" + _str(arg).lower()
            keep = lambda cmd: cat in acl_categories(cmd)  # noqa: E731
        elif kind == b"pattern":
            pat = arg.lower()
            keep = lambda cmd: glob_match(pat, cmd.full_name.encode())  # noqa: E731
        else:
            raise CommandError(SYNTAX)
    elif len(argv) != 2:
        raise CommandError(SYNTAX)
    names = [cmd.full_name.encode() for cmd in all_commands() if keep(cmd)]
    return resp.bulk_array(names)


def _keys_and_flags(argv: list[bytes]) -> tuple[Command, list[tuple[bytes, list[str]]]]:
    """COMMAND GETKEYS/GETKEYSANDFLAGS: the keys of a full command line, with their flags."""
    cmd = lookup_argv(argv)
    if cmd is None:
        raise CommandError("ERR Invalid command specified")
    specs = key_specs(cmd)
    if cmd.first_key <= 0 and cmd.keys_fn is None and not specs:
        raise CommandError("ERR The command has no key arguments")
    if (cmd.arity > 0 and cmd.arity != len(argv)) or len(argv) < -cmd.arity:
        raise CommandError("ERR Invalid number of arguments specified for command")
    try:
        keys = cmd.keys(argv)
    except (CommandError, IndexError, ValueError):
        keys = []
    if not keys and "no_mandatory_keys" not in cmd.flags:
        raise CommandError("ERR Invalid arguments specified for command")
    out = []
    for i, k in enumerate(keys):
        spec_flags = list(specs[min(i, len(specs) - 1)]["flags"]) if specs else []
        if "variable_flags" in spec_flags:
            if cmd.name == b"set" and not any(a.lower() == b"get" for a in argv[3:]):
                spec_flags = ["OW", "update"]
            else:
                spec_flags = [f for f in spec_flags if f != "variable_flags"]
        out.append((k, spec_flags))
    return cmd, out


@command("getkeys", -4, "loading stale", parent="command", group="server")
def command_getkeys(c: Client, argv: list[bytes]) -> bytes:
    _, found = _keys_and_flags(argv[2:])
    return resp.bulk_array(k for k, _ in found)


@command("getkeysandflags", -4, "loading stale", parent="command", group="server")
def command_getkeysandflags(c: Client, argv: list[bytes]) -> bytes:
    _, found = _keys_and_flags(argv[2:])
    return resp.array([resp.array([resp.bulk(k), _statuses(f, c.resp)]) for k, f in found])


@command("help", 2, "loading stale", parent="command", group="server")
def command_help(c: Client, argv: list[bytes]) -> bytes:
    return _help(
        "COMMAND",
        [
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    )


# --- simple server commands ------------------------------------------------------------------------


@command("time", 1, "loading stale fast", group="server")
def time_(c: Client, argv: list[bytes]) -> bytes:
    sec, usec = divmod(time.time_ns() // 1000, 1_000_000)
    return resp.bulk_array([b"%d" % sec, b"%d" % usec])


@command("role", 1, "noscript loading stale fast", group="server")
def role(c: Client, argv: list[bytes]) -> bytes:
    hook = c.engine.hooks.get("role")
    if hook is not None:
        r: bytes = hook(c)
        return r
    offset = getattr(c.engine, "repl_offset", 0)
    return resp.array([resp.bulk(b"master"), resp.integer(offset), resp.EMPTY_ARRAY])


@command("monitor", 1, "admin noscript loading stale", group="server")
def monitor(c: Client, argv: list[bytes]) -> bytes:
    if c.in_exec or c.in_multi:
        raise CommandError("ERR MONITOR isn't allowed for DENY BLOCKING client")
    if c.kind in ("replica", "master"):
        return b""  # replicas are never monitors (Redis ignores the command silently)
    st = state(c.engine)
    if c in st.monitors:
        return b""
    st.add_monitor(c)
    return resp.OK


def stop_monitor(c: Client) -> None:
    """Leave MONITOR mode (RESET; a closed connection is dropped on the next feed)."""
    state(c.engine).remove_monitor(c)


# --- MODULE ----------------------------------------------------------------------------------------

container("module")

_MODULE_DENIED = (
    'ERR MODULE command not allowed. If the enable-module-command option is set to "local", you can '
    "run it from a local connection, otherwise you need to set this option in the configuration file, "
    "and then restart the server."
)


@command("list", 2, "admin noscript", parent="module", group="server")
def module_list(c: Client, argv: list[bytes]) -> bytes:
    return resp.EMPTY_ARRAY


@command("load", -3, "admin noscript no_async_loading", parent="module", group="server")
def module_load(c: Client, argv: list[bytes]) -> bytes:
    if not allow_protected(c.engine.config.enable_module_command, c):
        raise CommandError(_MODULE_DENIED)
    raise CommandError("ERR Error loading the extension. Please check the server logs.")


@command("loadex", -3, "admin noscript no_async_loading", parent="module", group="server")
def module_loadex(c: Client, argv: list[bytes]) -> bytes:
    return module_load(c, argv)


@command("unload", 3, "admin noscript no_async_loading", parent="module", group="server")
def module_unload(c: Client, argv: list[bytes]) -> bytes:
    if not allow_protected(c.engine.config.enable_module_command, c):
        raise CommandError(_MODULE_DENIED)
    raise CommandError("ERR Error unloading module: no such module with that name")


@command("help", 2, "loading stale", parent="module", group="server")
def module_help(c: Client, argv: list[bytes]) -> bytes:
    return _help(
        "MODULE",
        [
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    )


# --- LOLWUT ----------------------------------------------------------------------------------------


class _Canvas:
    def __init__(self, width: int, height: int, color: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray([color]) * (width * height)

    def set(self, x: int, y: int, color: int) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.pixels[x + y * self.width] = color

    def get(self, x: int, y: int) -> int:
        if 0 <= x < self.width and 0 <= y < self.height:
            return self.pixels[x + y * self.width]
        return 0

    def line(self, x1: int, y1: int, x2: int, y2: int, color: int) -> None:
        dx, dy = abs(x2 - x1), abs(y2 - y1)
        sx = 1 if x1 < x2 else -1
        sy = 1 if y1 < y2 else -1
        err = dx - dy
        while True:
            self.set(x1, y1, color)
            if x1 == x2 and y1 == y2:
                break
            e2 = err * 2
            if e2 > -dy:
                err -= dy
                x1 += sx
            if e2 < dx:
                err += dx
                y1 += sy

    def square(self, x: int, y: int, size: float, angle: float, color: int) -> None:
        size = float(round(size / 1.4142135623))
        k = math.pi / 4 + angle
        px, py = [], []
        for _ in range(4):
            px.append(round(math.sin(k) * size + x))
            py.append(round(math.cos(k) * size + y))
            k += math.pi / 2
        for j in range(4):
            self.line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color)


def _lolwut5(cols: int, per_row: int, per_col: int) -> str:
    """Georg Nees' Schotter, rendered with braille characters (LOLWUT VERSION 5)."""
    rng = random.Random()
    width = cols * 2
    padding = 2 if width > 4 else 0
    side = (width - padding * 2) / per_row
    height = int(side * per_col + padding * 2)
    canvas = _Canvas(width, height, 0)
    for y in range(per_col):
        for x in range(per_row):
            sx = int(x * side + side / 2 + padding)
            sy = int(y * side + side / 2 + padding)
            angle = 0.0
            if y > 1:
                r1, r2, r3 = (rng.random() / per_col * y for _ in range(3))
                if rng.getrandbits(1):
                    r1 = -r1
                if rng.getrandbits(1):
                    r2 = -r2
                if rng.getrandbits(1):
                    r3 = -r3
                angle = r1
                sx += int(r2 * side / 3)
                sy += int(r3 * side / 3)
            canvas.square(sx, sy, side, angle, 1)
    out = []
    for y in range(0, canvas.height, 4):
        for x in range(0, canvas.width, 2):
            g = canvas.get
            byte = (
                g(x, y)
                | g(x, y + 1) << 1
                | g(x, y + 2) << 2
                | g(x + 1, y) << 3
                | g(x + 1, y + 1) << 4
                | g(x + 1, y + 2) << 5
                | g(x, y + 3) << 6
                | g(x + 1, y + 3) << 7
            )
            out.append(chr(0x2800 + byte))
        if y != canvas.height - 1:
            out.append("\n")
    return "".join(out) + f"\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. {REDIS_VERSION}\n"


def _lolwut6(cols: int, rows: int) -> str:
    """A city skyline after the 8 bit game Plaguemon (LOLWUT VERSION 6)."""
    rng = random.Random()
    canvas = _Canvas(cols, rows, 3)

    def skyscraper(xoff: int, width: int, height: int, windows: bool, color: int) -> None:
        starty = canvas.height - 1
        endy = starty - height + 1
        for y in range(starty, endy - 1, -1):
            for x in range(xoff, xoff + width):
                if y == endy and (x <= xoff + 1 or x >= xoff + width - 2):
                    continue  # the roof is four pixels narrower
                c = color
                if windows and xoff + 1 < x < xoff + width - 2 and endy + 1 < y < starty - 1:
                    relx, rely = x - (xoff + 1), y - (endy + 1)
                    if (relx // 2) % 2 and rely % 2:
                        while True:
                            c = 1 + rng.randrange(2)
                            if c != color:
                                break
                        if relx % 2:
                            c = canvas.get(x - 1, y)
                canvas.set(x, y, c)

    for color in (2, 1):
        offset = -10
        while offset < canvas.width:
            offset += rng.randrange(8)
            width = 10 + rng.randrange(9)
            if color == 2:
                height = canvas.height // 2 + rng.randrange(max(canvas.height, 1)) // 2
            else:
                height = canvas.height // 2 + rng.randrange(max(canvas.height, 1)) // 3
            skyscraper(offset, width, height, False, color)
            offset += width // 2 if color == 2 else width + 1
    offset = -10
    while offset < canvas.width:
        offset += rng.randrange(8)
        width = 5 + rng.randrange(14)
        if width % 4:
            width += width % 3
        height = canvas.height // 3 + rng.randrange(max(canvas.height, 1)) // 2
        skyscraper(offset, width, height, True, 0)
        offset += width + 5
    escapes = {0: "0;30;40m", 1: "0;90;100m", 2: "0;37;47m", 3: "0;97;107m"}
    lines = []
    for y in range(canvas.height):
        lines.append(
            "".join(f"\033[{escapes.get(canvas.get(x, y), '0;30;40m')} \033[0m" for x in range(canvas.width))
        )
    return (
        "\n".join(lines)
        + "\nDedicated to the 8 bit game developers of past and present.\n"
        + f"Original 8 bit image from Plaguemon by hikikomori. Redis ver. {REDIS_VERSION}\n"
    )


def _long(b: bytes) -> int:
    return parse_int(b, NOT_INTEGER)


@command("lolwut", -1, "readonly fast", group="server")
def lolwut(c: Client, argv: list[bytes]) -> bytes:
    version = REDIS_VERSION
    args = argv[1:]
    if len(argv) >= 3 and argv[1].lower() == b"version":
        version = f"{_long(argv[2]) & 0xFFFFFFFF}.0.0"
        args = argv[3:]
    if (version[0] == "5" and version[1] == "." and version[2] != "9") or version.startswith("4.9"):
        nums = [_long(a) for a in args[:3]]
        cols = min(max(nums[0] if len(nums) > 0 else 66, 1), 1000)
        per_row = min(max(nums[1] if len(nums) > 1 else 8, 1), 200)
        per_col = min(max(nums[2] if len(nums) > 2 else 12, 1), 200)
        text = _lolwut5(cols, per_row, per_col)
    elif (version[0] == "6" and version[1] == "." and version[2] != "9") or version.startswith("5.9"):
        nums = [_long(a) for a in args[:2]]
        cols = min(max(nums[0] if len(nums) > 0 else 80, 1), 1000)
        rows = min(max(nums[1] if len(nums) > 1 else 20, 1), 1000)
        text = _lolwut6(cols, rows)
    else:
        text = f"Redis ver. {REDIS_VERSION}\n"
    return resp.verbatim(text.encode(), c.resp)


# --- MEMORY ----------------------------------------------------------------------------------------

container("memory")


@command("usage", -3, "readonly", 2, 2, 1, parent="memory", group="server")
def memory_usage(c: Client, argv: list[bytes]) -> bytes:
    samples = 5
    i = 3
    while i < len(argv):
        if argv[i].lower() == b"samples" and i + 1 < len(argv):
            samples = parse_int(argv[i + 1])
            if samples < 0:
                raise CommandError(SYNTAX)
            i += 2
        else:
            raise CommandError(SYNTAX)
    db = c.db
    key = argv[2]
    if key not in db.data or (key in db.expires and db.lookup(key) is None):
        return resp.null(c.resp)
    return resp.integer(key_size(db, key, samples) + 16)  # + the key's dict entry object header


def memory_stats_pairs(eng: Any) -> list[tuple[str, Any]]:
    mem = eng.memory
    used = mem.used_for_report()
    over = mem.overhead()
    keys = eng.keyspace.total_keys()
    dataset = max(used - over["total"], 0)
    rss = mem.rss()
    in_use, heap = glibc_used()
    allocated = in_use + mem.pymalloc_bytes()
    active = max(heap + mem.pymalloc_arena_bytes(), allocated)
    pairs: list[tuple[str, Any]] = [
        ("peak.allocated", max(mem.peak, used)),
        ("total.allocated", used),
        ("startup.allocated", STARTUP_BYTES),
        ("replication.backlog", over["backlog"]),
        ("clients.slaves", over["clients_slaves"]),
        ("clients.normal", over["clients_normal"]),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
    ]
    for db in eng.keyspace.dbs:
        if db.data:
            pairs.append(
                (
                    f"db.{db.id}",
                    [
                        ("overhead.hashtable.main", sys.getsizeof(db.data)),
                        ("overhead.hashtable.expires", sys.getsizeof(db.expires) if db.expires else 0),
                        ("overhead.hashtable.slot-to-keys", 0),
                    ],
                )
            )
    pairs += [
        ("overhead.total", over["total"]),
        ("keys.count", keys),
        ("keys.bytes-per-key", (used - STARTUP_BYTES) // keys if keys else 0),
        ("dataset.bytes", dataset),
        ("dataset.percentage", dataset * 100.0 / (used - STARTUP_BYTES) if used > STARTUP_BYTES else 0.0),
        ("peak.percentage", used * 100.0 / max(mem.peak, used)),
        ("allocator.allocated", allocated),
        ("allocator.active", active),
        ("allocator.resident", rss),
        ("allocator-fragmentation.ratio", active / allocated if allocated else 0.0),
        ("allocator-fragmentation.bytes", active - allocated),
        ("allocator-rss.ratio", rss / active if active else 0.0),
        ("allocator-rss.bytes", rss - active),
        ("rss-overhead.ratio", 1.0),
        ("rss-overhead.bytes", 0),
        ("fragmentation", rss / used if used else 0.0),
        ("fragmentation.bytes", rss - used),
    ]
    return pairs


def _encode_pairs(pairs: list[tuple[str, Any]], proto: int) -> bytes:
    out = []
    for k, v in pairs:
        if isinstance(v, list):
            enc = _encode_pairs(v, proto)
        elif isinstance(v, float):
            enc = resp.double(v, proto)
        else:
            enc = resp.integer(int(v))
        out.append((resp.bulk(k.encode()), enc))
    return resp.map_(out, proto)


@command("stats", 2, "", parent="memory", group="server")
def memory_stats(c: Client, argv: list[bytes]) -> bytes:
    return _encode_pairs(memory_stats_pairs(c.engine), c.resp)


def memory_doctor_report(eng: Any) -> str:
    """Redis's getMemoryDoctorReport, on this server's figures."""
    mem = eng.memory
    used = mem.used_for_report()
    if used < 5 * 1024 * 1024:
        return (
            "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be "
            "used in these conditions. Please, leave for your mission on Earth and fill it with some "
            "data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
        )
    rss = mem.rss()
    over = mem.overhead()
    reports = []
    if mem.peak / used > 1.5:
        reports.append(
            " * Peak memory: In the past this instance used more than 150% the memory that is currently "
            "using. The allocator is normally not able to release memory after a peak, so you can expect "
            "to see a big fragmentation ratio, however this is actually harmless and is only due to the "
            "memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than "
            "expected, the memory will be used as soon as you fill the Redis instance with more data. If "
            "the memory peak was only occasional and you want to try to reclaim memory, please try the "
            "MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n"
        )
    if rss / used > 1.4 and rss - used > 10 * 1024 * 1024:
        reports.append(
            " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 "
            "(this means that the Resident Set Size of the Redis process is much larger than the sum of "
            "the logical allocations Redis performed). This problem is usually due either to a large peak "
            "memory (check if there is a peak memory entry above in the report) or may result from a "
            "workload that causes the allocator to fragment memory a lot. If the problem is a large peak "
            "memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator "
            'and not the default libc malloc. Note: The currently used allocator is "libc".\n\n'
        )
    nclients = max(len(eng.clients), 1)
    if over["clients_slaves"] > 10 * 1024 * 1024:
        reports.append(
            " * Big replica buffers: The replica output buffers in this instance are greater than 10MB for "
            "each replica (on average). This likely means that there is some replica instance that is "
            "struggling receiving data, either because it is too slow or because of networking issues. As "
            "a result, data piles on the master output buffers. Please try to identify what replica is "
            "not receiving data correctly and why. You can use the INFO output in order to check the "
            "replicas delays and the CLIENT LIST command to check the output buffers of each replica.\n\n"
        )
    if over["clients_normal"] / nclients > 200 * 1024:
        reports.append(
            " * Big client buffers: The clients output buffers in this instance are greater than 200K per "
            "client (on average). This may result from different causes, like Pub/Sub clients subscribed "
            "to channels bot not receiving data fast enough, so that data piles on the Redis instance "
            "output buffer, or clients sending commands with large replies or very large sequences of "
            "commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the "
            "issue if it causes problems in your instance, or to understand better why certain clients "
            "are using a big amount of memory.\n\n"
        )
    if not reports:
        return (
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs "
            "on this base.\n"
        )
    return (
        "Sam, I detected a few issues in this Redis instance memory implants:\n\n"
        + "".join(reports)
        + "I'm here to keep you safe, Sam. I want to help you.\n"
    )


@command("doctor", 2, "", parent="memory", group="server")
def memory_doctor(c: Client, argv: list[bytes]) -> bytes:
    return resp.verbatim(memory_doctor_report(c.engine).encode(), c.resp)


@command("malloc-stats", 2, "", parent="memory", group="server")
def memory_malloc_stats(c: Client, argv: list[bytes]) -> bytes:
    return resp.verbatim(b"Stats not supported for the current allocator", c.resp)


def _malloc_trim() -> None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(ctypes.c_size_t(0))
    except (OSError, AttributeError):
        pass


@command("purge", 2, "", parent="memory", group="server")
def memory_purge(c: Client, argv: list[bytes]) -> bytes:
    _malloc_trim()  # give free heap pages back to the OS, as jemalloc's purge does
    return resp.OK


@command("help", 2, "loading stale", parent="memory", group="server")
def memory_help(c: Client, argv: list[bytes]) -> bytes:
    return _help(
        "MEMORY",
        [
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )


# --- SLOWLOG ---------------------------------------------------------------------------------------

container("slowlog")


def _flush_watchdog(c: Client) -> Any:
    st = state(c.engine)
    if st.watchdog is not None:
        st.watchdog.flush(time.monotonic())
    return st


@command("get", -2, "admin loading stale", parent="slowlog", group="server")
def slowlog_get(c: Client, argv: list[bytes]) -> bytes:
    count = 10
    if len(argv) > 3:
        raise CommandError(
            f"ERR unknown subcommand or wrong number of arguments for '{quoted(argv[1], 128)}'. Try SLOWLOG HELP."
        )
    if len(argv) == 3:
        err = "ERR count should be greater than or equal to -1"
        count = parse_int(argv[2], err)
        if count < -1:
            raise CommandError(err)
    st = _flush_watchdog(c)
    entries = list(st.slowlog) if count == -1 else list(st.slowlog)[:count]
    return resp.array(
        [
            resp.array(
                [
                    resp.integer(e.id),
                    resp.integer(e.time),
                    resp.integer(e.duration),
                    resp.bulk_array(e.argv),
                    resp.bulk(e.peer),
                    resp.bulk(e.name),
                ]
            )
            for e in entries
        ]
    )


@command("len", 2, "admin loading stale", parent="slowlog", group="server")
def slowlog_len(c: Client, argv: list[bytes]) -> bytes:
    return resp.integer(len(_flush_watchdog(c).slowlog))


@command("reset", 2, "admin loading stale", parent="slowlog", group="server")
def slowlog_reset(c: Client, argv: list[bytes]) -> bytes:
    _flush_watchdog(c).slowlog.clear()
    return resp.OK


@command("help", 2, "loading stale", parent="slowlog", group="server")
def slowlog_help(c: Client, argv: list[bytes]) -> bytes:
    return _help(
        "SLOWLOG",
        [
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )


# --- LATENCY ---------------------------------------------------------------------------------------

container("latency")


@command("latest", 2, "admin noscript loading stale", parent="latency", group="server")
def latency_latest(c: Client, argv: list[bytes]) -> bytes:
    st = _flush_watchdog(c)
    out = []
    for name, ev in st.latency.items():
        if not ev.samples:
            continue
        ts, ms = ev.samples[-1]
        out.append(
            resp.array([resp.bulk(name.encode()), resp.integer(ts), resp.integer(ms), resp.integer(ev.max)])
        )
    return resp.array(out)


@command("history", 3, "admin noscript loading stale", parent="latency", group="server")
def latency_history(c: Client, argv: list[bytes]) -> bytes:
    ev = _flush_watchdog(c).latency.get(_str(argv[2]))
    if ev is None:
        return resp.EMPTY_ARRAY
    return resp.array([resp.array([resp.integer(ts), resp.integer(ms)]) for ts, ms in ev.samples])


@command("reset", -2, "admin noscript loading stale", parent="latency", group="server")
def latency_reset(c: Client, argv: list[bytes]) -> bytes:
    st = _flush_watchdog(c)
    if len(argv) == 2:
        n = len(st.latency)
        st.latency.clear()
        return resp.integer(n)
    n = 0
    for a in argv[2:]:
        if st.latency.pop(_str(a), None) is not None:
            n += 1
    return resp.integer(n)


def _time_label(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


@command("graph", 3, "admin noscript loading stale", parent="latency", group="server")
def latency_graph(c: Client, argv: list[bytes]) -> bytes:
    name = _str(argv[2])
    ev = _flush_watchdog(c).latency.get(name)
    if ev is None or not ev.samples:
        raise CommandError(f"ERR No samples available for event '{name}'")
    samples = list(ev.samples)
    hi = max(ms for _, ms in samples)
    lo = min(ms for _, ms in samples)
    rows = 4
    now = int(time.time())
    lines = [f"{name} - high {hi} ms, low {lo} ms (all time high {ev.max} ms)", "-" * 80]
    levels = [(rows * 2 * (ms - lo) // (hi - lo)) if hi > lo else rows * 2 for _, ms in samples]
    for r in range(rows, 0, -1):
        row = []
        for lv in levels:
            if lv >= r * 2:
                row.append("#" if lv == r * 2 and r == rows else "|")
            elif lv == r * 2 - 1:
                row.append("_")
            else:
                row.append(" ")
        lines.append("".join(row).rstrip())
    lines.append("")
    labels = [_time_label(now - ts) for ts, _ in samples]
    height = max(len(label) for label in labels)
    for i in range(height):
        lines.append("".join(label[i] if i < len(label) else " " for label in labels).rstrip())
    return resp.verbatim(("\n".join(lines) + "\n").encode(), c.resp)


def latency_doctor_report(eng: Any) -> str:
    st = state(eng)
    if eng.config.latency_monitor_threshold == 0:
        return (
            "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You "
            'may use "CONFIG SET latency-monitor-threshold <milliseconds>." in order to enable it. If we '
            "weren't in a deep space mission I'd suggest to take a look at "
            "https://redis.io/topics/latency-monitor.\n"
        )
    events = [(n, ev) for n, ev in st.latency.items() if ev.samples]
    if not events:
        return (
            "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the "
            "slightest bit. I honestly think you ought to sleep tonight.\n"
        )
    out = [
        "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n"
    ]
    for i, (name, ev) in enumerate(events, 1):
        vals = [ms for _, ms in ev.samples]
        avg = sum(vals) // len(vals)
        mad = sum(abs(v - avg) for v in vals) // len(vals)
        ts = [t for t, _ in ev.samples]
        period = (ts[-1] - ts[0]) / (len(ts) - 1) if len(ts) > 1 else 0.0
        out.append(
            f"{i}. {name}: {len(vals)} latency spikes (average {avg}ms, mean deviation {mad}ms, "
            f"period {period:.2f} sec). Worst all time event {ev.max}ms.\n"
        )
    out.append(
        "\nI have a few advices for you:\n\n"
        "- Check your Slow Log to understand what are the commands you are running which are too slow to "
        "execute. Please check https://redis.io/commands/slowlog for more information.\n"
        "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking "
        "operation. If you have very large objects that are often deleted, expired, or evicted, try to "
        "fragment those objects into multiple smaller objects.\n"
    )
    return "".join(out)


@command("doctor", 2, "admin noscript loading stale", parent="latency", group="server")
def latency_doctor(c: Client, argv: list[bytes]) -> bytes:
    _flush_watchdog(c)
    return resp.verbatim(latency_doctor_report(c.engine).encode(), c.resp)


@command("histogram", -2, "admin noscript loading stale", parent="latency", group="server")
def latency_histogram(c: Client, argv: list[bytes]) -> bytes:
    st = state(c.engine)
    if len(argv) == 2:
        cmds = [cmd for cmd in all_commands() if cmd.calls]
    else:
        found = [lookup_fullname(a) for a in argv[2:]]
        cmds = [cmd for cmd in found if cmd is not None]
    body = []
    for cmd in cmds:
        hist = st.histogram_usec(cmd)
        if not hist:
            continue
        inner = resp.map_(
            [
                (resp.bulk(b"calls"), resp.integer(cmd.calls)),
                (
                    resp.bulk(b"histogram_usec"),
                    resp.map_([(resp.integer(b), resp.integer(n)) for b, n in hist], c.resp),
                ),
            ],
            c.resp,
        )
        body.append((resp.bulk(cmd.full_name.encode()), inner))
    return resp.map_(body, c.resp)


@command("help", 2, "loading stale", parent="latency", group="server")
def latency_help(c: Client, argv: list[bytes]) -> bytes:
    return _help(
        "LATENCY",
        [
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    )


# --- DEBUG -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DebugSub:
    """One DEBUG subcommand: handler, arity over the whole argv (negative: at least), an upper
    bound on the argument count, and its lines in DEBUG HELP."""

    handler: Handler
    arity: int
    max_args: int | None
    help: tuple[str, ...]


DEBUG_SUBCOMMANDS: dict[bytes, DebugSub] = {}


def debug_subcommand(
    name: str, arity: int, help: tuple[str, ...] = (), max_args: int | None = None
) -> Callable[[Handler], Handler]:
    """Register `DEBUG <name>` (also for other layers: persistence, replication)."""

    def deco(fn: Handler) -> Handler:
        DEBUG_SUBCOMMANDS[name.lower().encode()] = DebugSub(fn, arity, max_args, help)
        return fn

    return deco


_DEBUG_DENIED = (
    'ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", you can run it '
    "from a local connection, otherwise you need to set this option in the configuration file, and then "
    "restart the server."
)


@command("debug", -2, "admin noscript loading stale", group="server")
def debug(c: Client, argv: list[bytes]) -> bytes:
    if not allow_protected(c.engine.config.enable_debug_command, c):
        raise CommandError(_DEBUG_DENIED)
    name = argv[1].lower()
    if name == b"help" and len(argv) == 2:
        lines = ["DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"]
        for entry in sorted(
            DEBUG_SUBCOMMANDS.values(), key=lambda s: _HELP_ORDER.get(s.help[0] if s.help else "", 99)
        ):
            lines.extend(entry.help)
        lines += ["HELP", "    Prints this help."]
        return help_reply(lines)
    sub = DEBUG_SUBCOMMANDS.get(name)
    n = len(argv)
    if (
        sub is None
        or (sub.arity > 0 and n != sub.arity)
        or (sub.arity < 0 and n < -sub.arity)
        or (sub.max_args is not None and n > sub.max_args)
    ):
        raise CommandError(
            f"ERR unknown subcommand or wrong number of arguments for '{quoted(argv[1], 128)}'. Try DEBUG HELP."
        )
    return sub.handler(c, argv)


_HELP_ORDER = {
    h: i
    for i, h in enumerate(
        [
            "CHANGE-REPL-ID",
            "CONFIG-REWRITE-FORCE-ALL",
            "DIGEST",
            "DIGEST-VALUE <key> [<key> ...]",
            "ERROR <string>",
            "LEAK <string>",
            "LOG <message>",
            "HTSTATS <dbid>",
            "HTSTATS-KEY <key>",
            "LOADAOF",
            "OBJECT <key>",
            "OOM",
            "PANIC",
            "POPULATE <count> [<prefix>] [<size>]",
            "PROTOCOL <type>",
            "RELOAD [option ...]",
            "SDSLEN <key>",
            "SEGFAULT",
            "SET-ACTIVE-EXPIRE <0|1>",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "SLEEP <seconds>",
            "ASSERT",
        ]
    )
}
_FLOAT_PREFIX = re.compile(rb"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _strtod(b: bytes) -> float:
    """C strtod on a prefix: "0.5abc" is 0.5, garbage is 0 (DEBUG SLEEP's parsing)."""
    m = _FLOAT_PREFIX.match(b)
    if m is None:
        low = b.strip().lower()
        return math.inf if low in (b"inf", b"+inf", b"infinity") else 0.0
    return float(m.group(0))


@debug_subcommand("sleep", 3, ("SLEEP <seconds>", "    Stop the server for <seconds>. Decimals allowed."))
def debug_sleep(c: Client, argv: list[bytes]) -> bytes:
    secs = _strtod(argv[2])
    if secs > 0 and math.isfinite(secs):
        start_wall = time.time()
        t0 = time.perf_counter_ns()
        time.sleep(secs)  # blocks the whole server, as in Redis
        cmd = TABLE[b"debug"]
        state(c.engine).note_exact(c, cmd, argv, time.perf_counter_ns() - t0, start_wall)
    return resp.OK


@debug_subcommand(
    "set-active-expire",
    3,
    (
        "SET-ACTIVE-EXPIRE <0|1>",
        "    Setting it to 0 disables expiring keys in background when they are not",
        "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
        "    default.",
    ),
)
def debug_set_active_expire(c: Client, argv: list[bytes]) -> bytes:
    m = re.match(rb"\s*[-+]?\d+", argv[2])
    c.engine.active_expire_enabled = bool(int(m.group(0))) if m else False
    return resp.OK


@debug_subcommand(
    "quicklist-packed-threshold",
    3,
    (
        "QUICKLIST-PACKED-THRESHOLD <size>",
        "    Sets the threshold for elements to be inserted as plain vs packed nodes",
        "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    ),
)
def debug_quicklist_packed_threshold(c: Client, argv: list[bytes]) -> bytes:
    err = "ERR argument must be a memory value bigger than 1 and smaller than 4gb"
    try:
        sz = parse_memory(_str(argv[2]))
    except ConfigError:
        raise CommandError(err) from None
    if sz > (1 << 32) - (1 << 20):
        raise CommandError(err)
    state(c.engine).quicklist_packed_threshold = sz or (1 << 30)
    return resp.OK


def _lru_clock() -> int:
    return int(time.time()) & ((1 << 24) - 1)


_INT_RE = re.compile(rb"-?[1-9][0-9]{0,18}|0")


def _listpack_entry_size(e: bytes) -> int:
    """Bytes of one listpack entry (encoding, data, back-length), as Redis lays it out."""
    if len(e) <= 20 and _INT_RE.fullmatch(e) and -(2**63) <= int(e) < 2**63:
        v = int(e)
        enc = (
            1
            if 0 <= v <= 127
            else 2
            if -4096 <= v <= 4095
            else 3
            if -(2**15) <= v < 2**15
            else 4
            if -(2**23) <= v < 2**23
            else 5
            if -(2**31) <= v < 2**31
            else 9
        )
        return enc + 1
    n = len(e)
    enc = n + (1 if n < 64 else 2 if n < 4096 else 5)
    return enc + (
        1 if enc < 128 else 2 if enc < 16384 else 3 if enc < 2097152 else 4 if enc < 268435456 else 5
    )


def _rdb_len_size(n: int) -> int:
    return 1 if n < 64 else 2 if n < 16384 else 5 if n <= 0xFFFFFFFF else 9


def _quicklist_nodes(v: deque[bytes], node_max: int = 8192) -> list[int]:
    """Listpack byte sizes of the quicklist nodes a list of this content would use."""
    sizes = []
    cur = 7  # listpack header (6) + end byte
    for e in v:
        es = _listpack_entry_size(e)
        if cur + es > node_max and cur > 7:
            sizes.append(cur)
            cur = 7
        cur += es
    sizes.append(cur)
    return sizes


def _serialized_length(v: Any) -> int:
    from server.persistence.rdb import dump_value

    try:
        return len(dump_value(v)) - 11  # minus type byte, RDB version and CRC64
    except (TypeError, ValueError):
        return 0


@debug_subcommand("object", 3, ("OBJECT <key>", "    Show low level info about `key` and associated value."))
def debug_object(c: Client, argv: list[bytes]) -> bytes:
    from server.commands.scan import encoding_for

    db = c.db
    key = argv[2]
    v = db.data.get(key)
    if v is None or (key in db.expires and db.lookup(key) is None):
        raise CommandError(NO_SUCH_KEY)
    enc = encoding_for(db, key, v).decode()
    cfg = c.engine.config
    shared = (
        enc == "int"
        and 0 <= int(v) < 10000
        and (not cfg.maxmemory or ("lru" not in cfg.maxmemory_policy and "lfu" not in cfg.maxmemory_policy))
    )
    if v.__class__ is deque:
        # Redis saves a list as quicklist nodes (one listpack blob each, uncompressed here).
        nodes = _quicklist_nodes(v)
        serialized = _rdb_len_size(len(nodes)) + sum(1 + _rdb_len_size(n) + n for n in nodes)
    else:
        serialized = _serialized_length(v)
    text = (
        f"Value at:0x{id(v):x} refcount:{2147483647 if shared else 1} encoding:{enc} "
        f"serializedlength:{serialized} lru:{_lru_clock()} lru_seconds_idle:0"
    )
    if v.__class__ is deque:
        text += (
            f" ql_nodes:{len(nodes)} ql_avg_node:{len(v) / len(nodes):.2f}"
            f" ql_listpack_max:{cfg.list_max_listpack_size}"
            f" ql_compressed:{1 if cfg.list_compress_depth else 0} ql_uncompressed_size:{sum(nodes)}"
        )
    return resp.simple(text)


@debug_subcommand(
    "sdslen", 3, ("SDSLEN <key>", "    Show low level SDS string info representing `key` and value.")
)
def debug_sdslen(c: Client, argv: list[bytes]) -> bytes:
    db = c.db
    key = argv[2]
    v = db.data.get(key)
    if v is None:
        raise CommandError(NO_SUCH_KEY)
    if v.__class__ is not bytes:
        raise CommandError("ERR Not an sds encoded string.")
    return resp.simple(
        f"key_sds_len:{len(key)}, key_sds_avail:0, key_zmalloc: {sys.getsizeof(key)}, "
        f"val_sds_len:{len(v)}, val_sds_avail:0, val_zmalloc: {sys.getsizeof(v)}"
    )


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data, usedforsecurity=False).digest()


def _xor(digest: bytearray, data: bytes) -> None:
    h = _sha1(data)
    for i in range(20):
        digest[i] ^= h[i]


def _mix(digest: bytearray, data: bytes) -> None:
    _xor(digest, data)
    digest[:] = _sha1(bytes(digest))


def _score_repr(score: float) -> bytes:
    return b"%.17g" % score  # what Redis 7.0 hashes (inf and -inf print as such)


def value_digest(db: Any, key: bytes, v: Any, d: bytearray | None = None) -> bytearray:
    """Redis's xorObjectDigest: mixes one value (type, content, whether it expires) into `d`
    (a fresh digest when None), in place, as Redis does."""
    if d is None:
        d = bytearray(20)
    cls = v.__class__
    type_id = {bytes: 0, deque: 1, set: 2, ZSet: 3, dict: 4}.get(cls, 0)
    _mix(d, struct.pack(">I", type_id))
    if cls is bytes:
        _mix(d, v)
    elif cls is deque:
        for e in v:
            _mix(d, e)
    elif cls is set:
        for e in v:
            _xor(d, e)
    elif cls is ZSet:
        for member, score in v:
            ed = bytearray(20)
            _mix(ed, member)
            _mix(ed, _score_repr(score))
            _xor(d, bytes(ed))
    elif cls is dict:
        for f, val in v.items():
            ed = bytearray(20)
            _mix(ed, f)
            _mix(ed, val)
            _xor(d, bytes(ed))
    if key in db.expires:
        _xor(d, b"!!expire!!")
    return d


def dataset_digest(eng: Any) -> bytes:
    """Redis's computeDatasetDigest: 40 hex zeros for an empty dataset."""
    final = bytearray(20)
    for db in eng.keyspace.dbs:
        if not db.data:
            continue
        _mix(final, struct.pack(">I", db.id))
        for key, v in db.data.items():
            d = bytearray(20)
            _mix(d, key)
            value_digest(db, key, v, d)
            _xor(final, bytes(d))
    return bytes(final)


@debug_subcommand("digest", 2, ("DIGEST", "    Output a hex signature representing the current DB content."))
def debug_digest(c: Client, argv: list[bytes]) -> bytes:
    return resp.simple(dataset_digest(c.engine).hex())


@debug_subcommand(
    "digest-value",
    -2,
    ("DIGEST-VALUE <key> [<key> ...]", "    Output a hex signature of the values of all the specified keys."),
)
def debug_digest_value(c: Client, argv: list[bytes]) -> bytes:
    db = c.db
    out = []
    for key in argv[2:]:
        v = db.data.get(key)
        out.append(resp.simple((value_digest(db, key, v) if v is not None else bytearray(20)).hex()))
    return resp.array(out)


@debug_subcommand(
    "error",
    3,
    (
        "ERROR <string>",
        "    Return a Redis protocol error with <string> as message. Useful for clients",
        "    unit tests to simulate Redis errors.",
    ),
)
def debug_error(c: Client, argv: list[bytes]) -> bytes:
    return b"-" + argv[2].replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"


@debug_subcommand("log", 3, ("LOG <message>", "    Write <message> to the server log."))
def debug_log(c: Client, argv: list[bytes]) -> bytes:
    log.warning(f"DEBUG LOG: {_str(argv[2])}")
    return resp.OK


@debug_subcommand("leak", 3, ("LEAK <string>", "    Create a memory leak of the input string."))
def debug_leak(c: Client, argv: list[bytes]) -> bytes:
    state(c.engine).leaked.append(bytes(argv[2]))
    return resp.OK


_PROTOCOL_TYPES = "string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"


@debug_subcommand(
    "protocol",
    3,
    (
        "PROTOCOL <type>",
        "    Reply with a test value of the specified type. <type> can be: string,",
        "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
        "    true, false.",
    ),
)
def debug_protocol(c: Client, argv: list[bytes]) -> bytes:
    t = argv[2].lower()
    p = c.resp
    ints = [resp.integer(i) for i in range(3)]
    if t == b"string":
        return resp.bulk(b"Hello World")
    if t == b"integer":
        return resp.integer(12345)
    if t == b"double":
        return resp.double(3.141, p)
    if t == b"bignum":
        big = b"1234567999999999999999999999999999999"
        return b"(" + big + b"\r\n" if p == 3 else resp.bulk(big)
    if t == b"null":
        return resp.null(p)
    if t == b"array":
        return resp.array(ints)
    if t == b"set":
        return resp.set_header(3, p) + b"".join(ints)
    if t == b"map":
        return resp.map_([(ints[i], resp.boolean(i == 1, p)) for i in range(3)], p)
    if t == b"attrib":
        reply = resp.bulk(b"Some real reply following the attribute")
        if p == 3:
            attr = (
                b"|1\r\n"
                + resp.bulk(b"key-popularity")
                + resp.array([resp.bulk(b"key:123"), resp.integer(90)])
            )
            return attr + reply
        return reply
    if t == b"push":
        if p < 3:
            raise CommandError("ERR RESP2 is not supported by this command")
        return (
            b">2\r\n"
            + resp.bulk(b"server-cpu-usage")
            + resp.integer(42)
            + resp.bulk(b"Some real reply following the push reply")
        )
    if t == b"verbatim":
        return resp.verbatim(b"This is a verbatim\nstring", p)
    if t == b"true":
        return resp.boolean(True, p)
    if t == b"false":
        return resp.boolean(False, p)
    raise CommandError(f"ERR Wrong protocol type name. Please use one of the following: {_PROTOCOL_TYPES}")


def _positive(b: bytes) -> int:
    v = parse_int(b)
    if v < 0:
        raise CommandError("ERR value is out of range, must be positive")
    return v


@debug_subcommand(
    "populate",
    -3,
    (
        "POPULATE <count> [<prefix>] [<size>]",
        "    Create <count> string keys named key:<num>. If <prefix> is specified then",
        "    it is used instead of the 'key' prefix. These are not propagated to",
        "    replicas. Cluster slots are not respected so keys not belonging to the",
        "    current node can be created in cluster mode.",
    ),
    max_args=5,
)
def debug_populate(c: Client, argv: list[bytes]) -> bytes:
    count = _positive(argv[2])
    prefix = argv[3] if len(argv) > 3 else b"key"
    size = _positive(argv[4]) if len(argv) > 4 else 0
    db = c.db
    for j in range(count):
        key = b"%b:%d" % (prefix, j)
        if db.lookup(key) is not None:
            continue
        val = b"value:%d" % j
        if size:
            val = val[:size].ljust(size, b"\0")
        db.set(key, val)
    return resp.OK


@debug_subcommand(
    "change-repl-id",
    2,
    (
        "CHANGE-REPL-ID",
        "    Change the replication IDs of the instance.",
        "    Dangerous: should be used only for testing the replication subsystem.",
    ),
)
def debug_change_repl_id(c: Client, argv: list[bytes]) -> bytes:
    eng = c.engine
    new = os.urandom(20).hex()
    repl = getattr(eng, "repl", None)
    if repl is not None and hasattr(repl, "replid"):
        repl.replid = new
        repl.replid2 = "0" * 40
        if hasattr(repl, "second_offset"):
            repl.second_offset = -1
    else:
        replid(eng)
    eng.replid = new
    log.warning("changed replication IDs by DEBUG CHANGE-REPL-ID", replid=new)
    return resp.OK


@debug_subcommand(
    "config-rewrite-force-all",
    2,
    (
        "CONFIG-REWRITE-FORCE-ALL",
        "    Like CONFIG REWRITE but writes all configuration options, including",
        "    keywords not listed in original configuration file or default values.",
    ),
)
def debug_config_rewrite_force_all(c: Client, argv: list[bytes]) -> bytes:
    try:
        c.engine.config.rewrite(force_all=True)
    except ConfigError as e:
        raise CommandError(f"ERR CONFIG-REWRITE-FORCE-ALL failed: {e}") from None
    return resp.OK


def _ht_stats(title: str, d: dict[Any, Any] | set[Any]) -> str:
    n = len(d)
    if not n:
        return f"[{title}]\nNo stats available for empty dictionaries\n"
    size = 8
    while size * 2 < n * 3:
        size *= 2
    return (
        f"[{title}]\nHash table 0 stats (main hash table):\n table size: {size}\n number of elements: {n}\n"
    )


@debug_subcommand(
    "htstats",
    -3,
    ("HTSTATS <dbid>", "    Return hash table statistics of the specified Redis database."),
    max_args=4,
)
def debug_htstats(c: Client, argv: list[bytes]) -> bytes:
    dbid = parse_int(argv[2])
    if not 0 <= dbid < len(c.engine.keyspace):
        raise CommandError("ERR Out of range database")
    db = c.engine.keyspace[dbid]
    text = _ht_stats("Dictionary HT", db.data) + _ht_stats("Expires HT", db.expires)
    return resp.verbatim(text.encode(), c.resp)


@debug_subcommand(
    "htstats-key",
    -3,
    ("HTSTATS-KEY <key>", "    Like HTSTATS but for the hash table stored at <key>'s value."),
    max_args=4,
)
def debug_htstats_key(c: Client, argv: list[bytes]) -> bytes:
    from server.commands.scan import encoding_for

    db = c.db
    v = db.data.get(argv[2])
    if v is None:
        raise CommandError(NO_SUCH_KEY)
    if encoding_for(db, argv[2], v) != b"hashtable" or not isinstance(v, dict | set):
        raise CommandError("ERR The value stored at the specified key is not represented using an hash table")
    stats = _ht_stats("Dictionary HT", v).split("\n", 1)[1]
    return resp.verbatim(stats.encode(), c.resp)


@debug_subcommand(
    "reload",
    -2,
    (
        "RELOAD [option ...]",
        "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
        "    * MERGE: conflicting keys will be loaded from RDB.",
        "    * NOFLUSH: the existing database will not be removed before load, but",
        "      conflicting keys will generate an exception and kill the server.",
        "    * NOSAVE: the database will be loaded from an existing RDB file.",
        "    Examples:",
        "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
        "      the database.",
        "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
        "      existing RDB file.",
        "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
        "      file to the database.",
    ),
)
def debug_reload(c: Client, argv: list[bytes]) -> bytes:
    save = flush = True
    merge = False
    for opt in argv[2:]:
        o = opt.lower()
        if o == b"merge":
            merge = True
        elif o == b"noflush":
            flush = False
        elif o == b"nosave":
            save = False
        else:
            raise CommandError("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
    hook = c.engine.hooks.get("debug_reload")
    if hook is None:
        raise CommandError("ERR Error trying to load the RDB dump, check server logs.")
    hook(save=save, flush=flush, merge=merge)
    log.warning("DB reloaded by DEBUG RELOAD")
    return resp.OK


@debug_subcommand(
    "loadaof", 2, ("LOADAOF", "    Flush the AOF buffers on disk and reload the AOF in memory.")
)
def debug_loadaof(c: Client, argv: list[bytes]) -> bytes:
    hook = c.engine.hooks.get("debug_loadaof")
    if hook is None:
        raise CommandError("ERR AOF is not enabled")
    hook()
    return resp.OK


def _crash(how: str, sig: int) -> bytes:
    """Die the way a crashing Redis does: log, then the signal's default action."""
    log.critical(f"crashed by DEBUG {how}", pid=os.getpid())
    for h in (sys.stdout, sys.stderr):
        try:
            h.flush()
        except (OSError, ValueError):
            pass
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    time.sleep(1)
    os._exit(1)


@debug_subcommand("segfault", 2, ("SEGFAULT", "    Crash the server with sigsegv."))
def debug_segfault(c: Client, argv: list[bytes]) -> bytes:
    return _crash("SEGFAULT", signal.SIGSEGV)


@debug_subcommand("panic", 2, ("PANIC", "    Crash the server simulating a panic."))
def debug_panic(c: Client, argv: list[bytes]) -> bytes:
    return _crash("PANIC", signal.SIGSEGV)


@debug_subcommand("assert", 2, ("ASSERT", "    Crash by assertion failed."))
def debug_assert(c: Client, argv: list[bytes]) -> bytes:
    return _crash("ASSERT", signal.SIGSEGV)


@debug_subcommand("oom", 2, ("OOM", "    Crash the server simulating an out-of-memory error."))
def debug_oom(c: Client, argv: list[bytes]) -> bytes:
    return _crash("OOM", signal.SIGABRT)
