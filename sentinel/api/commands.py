"""The commands a sentinel answers (stock 7.0 sentinel mode, plus 7.2's CLIENT SETINFO and
multi-pair SENTINEL CONFIG GET/SET).

Read-only queries are answered from `core.world` with the `sentinel.core.instances` helpers
(commands run between core steps: both are synchronous in the same Trio thread). Requests that
change state become core events; the core's `ReplyTo` answers them (`Runtime.request`).
Texts are stock's; replies are RESP2 or RESP3 per connection (HELLO).
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sentinel.api import encode
from sentinel.api.table import CLIENT_HELP, COMMAND_HELP, COMMANDS, SENTINEL_HELP, CommandSpec
from sentinel.core import instances, ownership
from sentinel.core.config import parse_int
from sentinel.core.events import (
    ConfigSetRequest,
    DebugRequest,
    FailoverRequest,
    FlushConfigRequest,
    HelloReceived,
    IsMasterDownRequest,
    MaintenanceRequest,
    MasterDownHintRequest,
    MonitorRequest,
    RemoveRequest,
    ResetRequest,
    SetRequest,
    SimulateFailureRequest,
    SwitchoverRequest,
)
from sentinel.core.replies import ErrorReply
from sentinel.core.timers import HELLO_CHANNEL
from server import REDIS_VERSION
from server.protocol import resp

if TYPE_CHECKING:
    from sentinel.api.server import ApiClient, ApiServer

Handler = Callable[["ApiServer", "ApiClient", list[str]], Awaitable[bytes | None]]

NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NOT_INTEGER = "ERR value is not an integer or out of range"
SYNTAX = "ERR syntax error"
NO_SUCH_MASTER = "ERR No such master with that name"
PUBSUB_CONTEXT = (
    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
    "are allowed in this context"
)
_PUBSUB_ALLOWED = {"subscribe", "psubscribe", "unsubscribe", "punsubscribe", "ping"}
_CONFIG_ONLY = "ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported."
DEFAULT_SWITCHOVER_TIMEOUT = 5000
"""ms the master may pause writes waiting for the target's offset (SENTINEL SWITCHOVER)."""


def _err(text: str) -> bytes:
    return encode.error(text)


def _printable(s: str, limit: int = 128) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in s[:limit])


def unknown_command(name: str, args: list[str]) -> bytes:
    """Stock's text: the name and up to 8 arguments, each quoted."""
    shown = " ".join("'" + _printable(a) + "'" for a in args[:8])
    return _err(f"ERR unknown command '{_printable(name)}', with args beginning with: {shown}" + (" " if shown else ""))


def unknown_subcommand(cmd: str, sub: str) -> bytes:
    """`ERR unknown subcommand 'x'. Try CMD HELP.`."""
    return _err(f"ERR unknown subcommand '{_printable(sub)}'. Try {cmd.upper()} HELP.")


def wrong_arity(name: str) -> bytes:
    """`ERR wrong number of arguments for 'name' command` (name is `cmd|sub` for subcommands)."""
    return _err(f"ERR wrong number of arguments for '{name}' command")


def _arity_ok(arity: int, argc: int) -> bool:
    return argc == arity if arity > 0 else argc >= -arity


async def execute(srv: ApiServer, client: ApiClient, raw: list[bytes]) -> bytes | None:
    """Run one request; returns the encoded reply (None: no reply, the connection is closing)."""
    argv = [a.decode("utf-8", "surrogateescape") for a in raw]
    name = argv[0].lower()
    spec = COMMANDS.get(name)
    if spec is None:
        return unknown_command(argv[0], argv[1:])
    full = name
    if spec.subcommands and len(argv) >= 2:
        sub = spec.subcommands.get(argv[1].lower())
        if sub is None:
            if not _arity_ok(spec.arity, len(argv)):
                return wrong_arity(name)
            return unknown_subcommand(name, argv[1])
        full = sub.name
        if not _arity_ok(sub.arity, len(argv)):
            return wrong_arity(sub.name)
    elif not _arity_ok(spec.arity, len(argv)):
        return wrong_arity(name)
    if not client.authenticated and "no_auth" not in spec.flags:
        return _err(NOAUTH)
    if client.proto == 2 and client.subscribed and name not in _PUBSUB_ALLOWED:
        return _err(PUBSUB_CONTEXT.format(name))
    client.last_cmd = full
    handler = HANDLERS[name]
    return await handler(srv, client, argv)


# --- connection ----------------------------------------------------------------------------


async def cmd_ping(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """PING [message]; in RESP2 pub/sub mode the reply is ["pong", message]."""
    if len(argv) > 2:
        return wrong_arity("ping")
    if c.proto == 2 and c.subscribed:
        return resp.array([resp.bulk(b"pong"), encode.bulk(argv[1] if len(argv) == 2 else "")])
    if len(argv) == 2:
        return encode.bulk(argv[1])
    return resp.PONG


def _check_password(srv: ApiServer, user: str, password: str) -> bytes | None:
    req = srv.rt.config.requirepass
    if not req:
        if user == "default":
            return None  # the default user has nopass: any password is accepted
        return _err(WRONGPASS)
    if user != "default" or password != req:
        return _err(WRONGPASS)
    return None


async def cmd_auth(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """AUTH <password> | AUTH <username> <password> (only the default user exists)."""
    if len(argv) > 3:
        return _err(SYNTAX)
    if len(argv) == 2 and not srv.rt.config.requirepass:
        return _err(
            "ERR AUTH <password> called without any password configured for the default user. "
            "Are you sure your configuration is correct?"
        )
    user, password = ("default", argv[1]) if len(argv) == 2 else (argv[1], argv[2])
    failure = _check_password(srv, user, password)
    if failure is not None:
        return failure
    c.authenticated = True
    return resp.OK


async def cmd_hello(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """HELLO [protover [AUTH user pass] [SETNAME name]]: sentinel's map has mode=sentinel, no role."""
    proto = c.proto
    if len(argv) >= 2:
        v = parse_int(argv[1])
        if v is None:
            return _err("ERR Protocol version is not an integer or out of range")
        if v < 2 or v > 3:
            return _err("NOPROTO unsupported protocol version")
        proto = v
    auth: tuple[str, str] | None = None
    setname: str | None = None
    i = 2
    while i < len(argv):
        opt = argv[i].lower()
        more = len(argv) - i - 1
        if opt == "auth" and more >= 2:
            auth = (argv[i + 1], argv[i + 2])
            i += 3
        elif opt == "setname" and more >= 1:
            setname = argv[i + 1]
            i += 2
        else:
            return _err(f"ERR Syntax error in HELLO option '{_printable(argv[i])}'")
    if auth is not None:
        failure = _check_password(srv, *auth)
        if failure is not None:
            return failure
        c.authenticated = True
    if not c.authenticated:
        return _err(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
            "select the RESP protocol version at the same time"
        )
    if setname is not None:
        bad = _bad_name(setname)
        if bad is not None:
            return bad
        c.name = setname
    c.proto = proto
    return resp.map_(
        [
            (resp.bulk(b"server"), resp.bulk(b"redis")),
            (resp.bulk(b"version"), encode.bulk(REDIS_VERSION)),
            (resp.bulk(b"proto"), resp.integer(proto)),
            (resp.bulk(b"id"), resp.integer(c.id)),
            (resp.bulk(b"mode"), resp.bulk(b"sentinel")),
            (resp.bulk(b"modules"), resp.EMPTY_ARRAY),
        ],
        proto,
    )


def _valid_attr(value: str) -> bool:
    return all(0x21 <= ord(ch) <= 0x7E for ch in value)


def _bad_name(name: str) -> bytes | None:
    if not _valid_attr(name):
        return _err("ERR Client names cannot contain spaces, newlines or special characters.")
    return None


async def cmd_client(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """CLIENT GETNAME/SETNAME/ID/INFO/LIST/KILL/SETINFO/HELP."""
    sub = argv[1].lower()
    if sub == "getname":
        return encode.bulk(c.name) if c.name else resp.null(c.proto)
    if sub == "setname":
        bad = _bad_name(argv[2])
        if bad is not None:
            return bad
        c.name = argv[2]
        return resp.OK
    if sub == "id":
        return resp.integer(c.id)
    if sub == "info":
        return resp.verbatim(encode.s2b(c.info_line() + "\n"), c.proto)
    if sub == "list":
        return _client_list(srv, c, argv)
    if sub == "kill":
        return _client_kill(srv, c, argv)
    if sub == "setinfo":
        attr = argv[2].lower()
        if attr not in ("lib-name", "lib-ver"):
            return _err(f"ERR Unrecognized option '{_printable(argv[2])}'")
        if not _valid_attr(argv[3]):
            return _err(f"ERR {_printable(argv[2])} cannot contain spaces, newlines or special characters.")
        if attr == "lib-name":
            c.lib_name = argv[3]
        else:
            c.lib_ver = argv[3]
        return resp.OK
    return resp.array([resp.simple(encode.s2b(line)) for line in CLIENT_HELP])


_TYPES = {"normal": "normal", "pubsub": "pubsub", "master": "master", "replica": "replica", "slave": "replica"}


def _client_type(c: ApiClient) -> str:
    return "pubsub" if c.subscribed else "normal"


def _client_list(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    clients = list(srv.clients.values())
    if len(argv) == 4 and argv[2].lower() == "type":
        wanted = _TYPES.get(argv[3].lower())
        if wanted is None:
            return _err(f"ERR Unknown client type '{_printable(argv[3])}'")
        clients = [x for x in clients if _client_type(x) == wanted]
    elif len(argv) > 3 and argv[2].lower() == "id":
        ids: list[int] = []
        for a in argv[3:]:
            v = parse_int(a)
            if v is None or v < 1:
                return _err("ERR Invalid client ID")
            ids.append(v)
        clients = [x for x in (srv.clients.get(i) for i in ids) if x is not None]
    elif len(argv) != 2:
        return _err(SYNTAX)
    text = "".join(x.info_line() + "\n" for x in clients)
    return resp.verbatim(encode.s2b(text), c.proto)


def _client_kill(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    addr: str | None = None
    laddr: str | None = None
    ctype: str | None = None
    cid = 0
    skipme = True
    if len(argv) == 3:  # old form: CLIENT KILL addr (may kill the caller)
        addr = argv[2]
        skipme = False
    else:
        i = 2
        while i < len(argv):
            opt = argv[i].lower()
            if i + 1 >= len(argv):
                return _err(SYNTAX)
            val = argv[i + 1]
            if opt == "id":
                v = parse_int(val)
                if v is None or v < 1:
                    return _err("ERR client-id should be greater than 0")
                cid = v
            elif opt == "type":
                t = _TYPES.get(val.lower())
                if t is None:
                    return _err(f"ERR Unknown client type '{_printable(val)}'")
                ctype = t
            elif opt == "addr":
                addr = val
            elif opt == "laddr":
                laddr = val
            elif opt == "user":
                if val != "default":
                    return _err(f"ERR No such user '{_printable(val)}'")
            elif opt == "skipme":
                if val.lower() not in ("yes", "no"):
                    return _err(SYNTAX)
                skipme = val.lower() == "yes"
            else:
                return _err(SYNTAX)
            i += 2
    victims = [
        x
        for x in list(srv.clients.values())
        if (addr is None or x.addr == addr)
        and (laddr is None or x.laddr == laddr)
        and (ctype is None or _client_type(x) == ctype)
        and (not cid or x.id == cid)
        and not (x is c and skipme)
    ]
    for x in victims:
        if x is c:
            c.close_after_reply = True
        else:
            x.kill()
    if len(argv) == 3:
        if not victims:
            return _err("ERR No such client")
        return resp.OK
    return resp.integer(len(victims))


# --- introspection -------------------------------------------------------------------------


def _command_info(spec: CommandSpec) -> bytes:
    return resp.array(
        [
            encode.bulk(spec.name),
            resp.integer(spec.arity),
            resp.array([resp.simple(f) for f in spec.flags]),
            resp.integer(0),
            resp.integer(0),
            resp.integer(0),
            resp.array([resp.simple(a) for a in spec.acl]),
            resp.array([encode.bulk(t) for t in spec.tips]),
            resp.EMPTY_ARRAY,
            resp.array([_command_info(s) for s in spec.subcommands.values()]),
        ]
    )


def _command_docs(spec: CommandSpec, proto: int) -> bytes:
    items = [
        (encode.bulk("summary"), encode.bulk(spec.summary)),
        (encode.bulk("since"), encode.bulk(spec.since)),
        (encode.bulk("group"), encode.bulk(spec.group)),
    ]
    if spec.subcommands:
        subs = resp.map_(
            [(encode.bulk(s.name), _command_docs(s, proto)) for s in spec.subcommands.values()], proto
        )
        items.append((encode.bulk("subcommands"), subs))
    return resp.map_(items, proto)


def _lookup(name: str) -> CommandSpec | None:
    low = name.lower()
    if "|" in low:
        parent, _, sub = low.partition("|")
        p = COMMANDS.get(parent)
        return p.subcommands.get(sub) if p is not None else None
    return COMMANDS.get(low)


async def cmd_command(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """COMMAND [COUNT | LIST | INFO [name...] | DOCS [name...] | GETKEYS | HELP]."""
    if len(argv) == 1:
        return resp.array([_command_info(s) for s in COMMANDS.values()])
    sub = argv[1].lower()
    if sub == "count":
        return resp.integer(len(COMMANDS))
    if sub == "list":
        if len(argv) > 2:
            if len(argv) != 5 or argv[2].lower() != "filterby":
                return _err(SYNTAX)
            kind, arg = argv[3].lower(), argv[4]
            if kind == "pattern":
                from sentinel.core.glob import glob_match

                names = [n for n in _all_names() if glob_match(arg, n, nocase=True)]
            elif kind == "aclcat":
                names = [n for n in _all_names() if f"@{arg.lower()}" in (_lookup(n) or COMMANDS["ping"]).acl]
            elif kind == "module":
                names = []
            else:
                return _err(SYNTAX)
            return resp.array([encode.bulk(n) for n in names])
        return resp.array([encode.bulk(n) for n in _all_names()])
    if sub == "info":
        if len(argv) == 2:
            return resp.array([_command_info(s) for s in COMMANDS.values()])
        out: list[bytes] = []
        for n in argv[2:]:
            spec = _lookup(n)
            out.append(_command_info(spec) if spec is not None else resp.null_array(c.proto))
        return resp.array(out)
    if sub == "docs":
        specs = list(COMMANDS.values()) if len(argv) == 2 else [s for s in map(_lookup, argv[2:]) if s is not None]
        return resp.map_([(encode.bulk(s.name), _command_docs(s, c.proto)) for s in specs], c.proto)
    if sub in ("getkeys", "getkeysandflags"):
        spec = _lookup(argv[2])
        if spec is None:
            return _err("ERR Invalid command specified")
        if not _arity_ok(spec.arity, len(argv) - 2):
            return _err("ERR Invalid number of arguments specified for command")
        return _err("ERR The command has no key arguments")
    return resp.array([resp.simple(encode.s2b(line)) for line in COMMAND_HELP])


def _all_names() -> list[str]:
    out: list[str] = []
    for spec in COMMANDS.values():
        out.append(spec.name)
        out.extend(s.name for s in spec.subcommands.values())
    return out


async def cmd_role(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """ROLE: ["sentinel", [master names]]."""
    names = list(srv.rt.core.world.masters)
    return resp.array([resp.bulk(b"sentinel"), resp.array([encode.bulk(n) for n in names])])


_INFO_SECTIONS = ("server", "clients", "cpu", "stats", "sentinel")


async def cmd_info(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """INFO [section ...]: server, clients, cpu, stats, sentinel; always a plain bulk string."""
    wanted: set[str] = set()
    if len(argv) == 1:
        wanted = set(_INFO_SECTIONS)
    for a in argv[1:]:
        low = a.lower()
        if low in ("all", "default", "everything"):
            wanted |= set(_INFO_SECTIONS)
        else:
            wanted.add(low)
    parts = [_info_section(srv, s) for s in _INFO_SECTIONS if s in wanted]
    return encode.bulk("\r\n".join(parts))


def _info_section(srv: ApiServer, name: str) -> str:
    rt = srv.rt
    if name == "sentinel":
        return instances.info_section(rt.core.world, rt.now())
    lines: list[str]
    if name == "server":
        uptime = int(time.monotonic() - _START)
        uname = platform.uname()
        lines = [
            "# Server",
            f"redis_version:{REDIS_VERSION}",
            "redis_git_sha1:00000000",
            "redis_git_dirty:0",
            "redis_build_id:0",
            "redis_mode:sentinel",
            f"os:{uname.system} {uname.release} {uname.machine}",
            "arch_bits:64",
            "monotonic_clock:POSIX clock_gettime",
            "multiplexing_api:epoll",
            "atomicvar_api:c11-builtin",
            "gcc_version:0.0.0",
            f"process_id:{os.getpid()}",
            "process_supervised:no",
            f"run_id:{srv.run_id}",
            f"tcp_port:{srv.bound_port or rt.config.port}",
            f"server_time_usec:{int(time.time() * 1_000_000)}",
            f"uptime_in_seconds:{uptime}",
            f"uptime_in_days:{uptime // 86400}",
            "hz:10",
            "configured_hz:10",
            f"lru_clock:{int(time.time()) & ((1 << 24) - 1)}",
            f"executable:{sys.executable}",
            f"config_file:{rt.config_path.resolve() if rt.config_path else ''}",
            "io_threads_active:0",
        ]
    elif name == "clients":
        lines = [
            "# Clients",
            f"connected_clients:{len(srv.clients)}",
            "cluster_connections:0",
            "maxclients:10000",
            "client_recent_max_input_buffer:0",
            "client_recent_max_output_buffer:0",
            "blocked_clients:0",
            "tracking_clients:0",
            "clients_in_timeout_table:0",
        ]
    elif name == "cpu":
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        lines = [
            "# CPU",
            f"used_cpu_sys:{me.ru_stime:.6f}",
            f"used_cpu_user:{me.ru_utime:.6f}",
            f"used_cpu_sys_children:{kids.ru_stime:.6f}",
            f"used_cpu_user_children:{kids.ru_utime:.6f}",
            f"used_cpu_sys_main_thread:{me.ru_stime:.6f}",
            f"used_cpu_user_main_thread:{me.ru_utime:.6f}",
        ]
    else:
        chans, pats = srv.pubsub_counts()
        lines = [
            "# Stats",
            f"total_connections_received:{srv.stat_connections}",
            f"total_commands_processed:{srv.stat_commands}",
            "instantaneous_ops_per_sec:0",
            f"total_net_input_bytes:{srv.stat_net_in}",
            f"total_net_output_bytes:{srv.stat_net_out}",
            "total_net_repl_input_bytes:0",
            "total_net_repl_output_bytes:0",
            "instantaneous_input_kbps:0.00",
            "instantaneous_output_kbps:0.00",
            f"rejected_connections:{srv.stat_rejected}",
            f"pubsub_channels:{chans}",
            f"pubsub_patterns:{pats}",
            "pubsubshard_channels:0",
            f"total_error_replies:{srv.stat_errors}",
            f"sentinel_core_steps:{rt.steps}",
            f"sentinel_links:{rt.link_count}",
        ]
    return "\r\n".join(lines) + "\r\n"


_START = time.monotonic()


# --- pub/sub -------------------------------------------------------------------------------


def _sub_reply(kind: str, target: str | None, count: int, proto: int) -> bytes:
    return encode.push(
        [encode.bulk(kind), encode.bulk(target) if target is not None else resp.null(proto), resp.integer(count)],
        proto,
    )


async def cmd_subscribe(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """SUBSCRIBE channel...: event channels are named after the events (`+switch-master`, ...)."""
    out = []
    for ch in argv[1:]:
        c.channels.add(ch)
        out.append(_sub_reply("subscribe", ch, len(c.channels) + len(c.patterns), c.proto))
    return b"".join(out)


async def cmd_psubscribe(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """PSUBSCRIBE pattern... (`*` for every event)."""
    out = []
    for p in argv[1:]:
        c.patterns.add(p)
        out.append(_sub_reply("psubscribe", p, len(c.channels) + len(c.patterns), c.proto))
    return b"".join(out)


async def cmd_unsubscribe(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """UNSUBSCRIBE [channel...]."""
    return _unsub(c, c.channels, "unsubscribe", argv[1:])


async def cmd_punsubscribe(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """PUNSUBSCRIBE [pattern...]."""
    return _unsub(c, c.patterns, "punsubscribe", argv[1:])


def _unsub(c: ApiClient, subs: set[str], kind: str, names: list[str]) -> bytes:
    targets = names or sorted(subs)
    if not targets:
        return _sub_reply(kind, None, len(c.channels) + len(c.patterns), c.proto)
    out = []
    for t in targets:
        subs.discard(t)
        out.append(_sub_reply(kind, t, len(c.channels) + len(c.patterns), c.proto))
    return b"".join(out)


async def cmd_publish(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """Only hellos from other sentinels: fed to the core, answered :1 at once."""
    if argv[1] != HELLO_CHANNEL:
        return _err("ERR Only HELLO messages are accepted by Sentinel instances.")
    srv.rt.feed(HelloReceived(argv[2]))
    return resp.ONE


async def cmd_shutdown(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes | None:
    """SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: the state is always on disk already."""
    opts = [a.lower() for a in argv[1:]]
    if any(o not in ("nosave", "save", "now", "force", "abort") for o in opts):
        return _err(SYNTAX)
    if "abort" in opts:
        if len(opts) > 1:
            return _err(SYNTAX)
        return _err("ERR No shutdown in progress.")
    c.close_after_reply = True
    srv.rt.shutdown("SHUTDOWN command")
    return None


# --- SENTINEL ------------------------------------------------------------------------------


async def cmd_sentinel(srv: ApiServer, c: ApiClient, argv: list[str]) -> bytes:
    """Every SENTINEL subcommand."""
    rt = srv.rt
    w = rt.core.world
    sub = argv[1].lower()
    proto = c.proto
    if sub == "masters":
        return encode.maps(instances.masters_maps(w, rt.now()), proto)
    if sub == "master":
        m = w.masters.get(argv[2])
        if m is None:
            return _err(NO_SUCH_MASTER)
        return encode.pairs(instances.instance_map(m, m, rt.now()), proto)
    if sub in ("replicas", "slaves", "sentinels"):
        m = w.masters.get(argv[2])
        if m is None:
            return _err(NO_SUCH_MASTER)
        if sub == "sentinels":
            return encode.maps(instances.sentinels_maps(m, rt.now()), proto)
        return encode.maps(instances.replicas_maps(m, rt.now()), proto)
    if sub == "get-master-addr-by-name":
        addr = instances.master_addr(w, argv[2])
        if addr is None:
            return resp.null_array(proto)
        return encode.value(addr, proto)
    if sub == "ckquorum":
        m = w.masters.get(argv[2])
        if m is None:
            return _err(NO_SUCH_MASTER)
        return encode.value(instances.ckquorum(m), proto)
    if sub == "myid":
        return encode.bulk(w.myid)
    if sub == "info-cache":
        return encode.value(instances.info_cache(w, argv[2:], rt.now()), proto)
    if sub == "pending-scripts":
        return encode.maps(instances.pending_scripts(w.scripts, rt.now()), proto)
    if sub == "script-history":
        count: int | None = None
        if len(argv) > 3:
            return wrong_arity("sentinel|script-history")
        if len(argv) == 3:
            count = parse_int(argv[2])
            if count is None or count < 0:
                return _err(NOT_INTEGER)
        return encode.maps(instances.script_history(w.scripts, rt.now(), count), proto)
    if sub == "vip-status":
        st = ownership.vip_status(w, argv[2], rt.now())
        if isinstance(st, ErrorReply):
            return _err(st.text)
        return encode.pairs(st, proto)
    if sub == "help":
        return resp.array([resp.simple(encode.s2b(line)) for line in SENTINEL_HELP])
    if sub == "debug" and len(argv) == 2:
        return encode.pairs(list(instances.debug_map(w.timers)), proto)
    if sub == "config":
        op = argv[2].lower()
        if op == "get" and len(argv) >= 4:
            return encode.pairs(list(instances.config_get(w, argv[3:])), proto)
        if op == "set" and len(argv) >= 5:
            args = tuple(argv[3:])
            return encode.value(await rt.request(lambda r: ConfigSetRequest(r, args)), proto)
        if op in ("get", "set"):
            return wrong_arity("sentinel|config")
        return _err(_CONFIG_ONLY)
    if sub == "switchover":
        return await _switchover(srv, argv, proto)
    if sub == "maintenance":
        m = w.masters.get(argv[2])
        if len(argv) == 3:
            return _err(NO_SUCH_MASTER) if m is None else encode.bulk("on" if m.maintenance else "off")
        mode = argv[3].lower()
        if len(argv) != 4 or mode not in ("on", "off"):
            return _err(SYNTAX)
        name = argv[2]
        return encode.value(await rt.request(lambda r: MaintenanceRequest(r, name, mode == "on")), proto)
    if sub == "is-master-down-by-addr":
        port = parse_int(argv[3])
        epoch = parse_int(argv[4])
        if port is None or epoch is None:
            return _err(NOT_INTEGER)
        ip, runid = argv[2], argv[5]
        return encode.value(
            await rt.request(lambda r: IsMasterDownRequest(r, ip, port, epoch, runid)), proto
        )
    if sub == "is-master-down-hint":  # ours: from this host's supervisor (sentinel/core/hint.py)
        name, ip = argv[2], argv[3]
        hint_port = parse_int(argv[4])
        if hint_port is None:
            return _err(NOT_INTEGER)
        exited: int | None = None
        if len(argv) > 5:
            if len(argv) != 7 or argv[5].lower() != "exited-ms-ago":
                return _err(SYNTAX)
            exited = parse_int(argv[6])
            if exited is None or exited < 0:
                return _err(NOT_INTEGER)
        return encode.value(
            await rt.request(lambda r: MasterDownHintRequest(r, name, ip, hint_port, exited)), proto
        )
    reply = await rt.request(lambda r: _operator_request(r, sub, argv))
    return encode.value(reply, proto)


async def _switchover(srv: ApiServer, argv: list[str], proto: int) -> bytes:
    """SENTINEL SWITCHOVER <name> [<ip> <port>] [TIMEOUT <ms>]."""
    name, rest = argv[2], argv[3:]
    host: str | None = None
    port: int | None = None
    timeout = DEFAULT_SWITCHOVER_TIMEOUT
    if len(rest) >= 2 and rest[0].lower() != "timeout":
        host, port = rest[0], parse_int(rest[1])
        if port is None:
            return _err(NOT_INTEGER)
        rest = rest[2:]
    if rest:
        if len(rest) != 2 or rest[0].lower() != "timeout":
            return _err(SYNTAX)
        t = parse_int(rest[1])
        if t is None or t <= 0:
            return _err("ERR TIMEOUT must be a positive number of milliseconds")
        timeout = t
    reply = await srv.rt.request(lambda r: SwitchoverRequest(r, name, host, port, timeout))
    return encode.value(reply, proto)


def _operator_request(
    r: int, sub: str, argv: list[str]
) -> (
    FailoverRequest
    | ResetRequest
    | MonitorRequest
    | RemoveRequest
    | SetRequest
    | DebugRequest
    | FlushConfigRequest
    | SimulateFailureRequest
):
    if sub == "failover":
        return FailoverRequest(r, argv[2])
    if sub == "reset":
        return ResetRequest(r, argv[2])
    if sub == "monitor":
        return MonitorRequest(r, argv[2], argv[3], argv[4], argv[5])
    if sub == "remove":
        return RemoveRequest(r, argv[2])
    if sub == "set":
        args = tuple(argv[3:])
        return SetRequest(r, argv[2], args, executable=frozenset(a for a in args if _executable(a)))
    if sub == "debug":
        return DebugRequest(r, tuple(argv[2:]))
    if sub == "flushconfig":
        return FlushConfigRequest(r)
    if sub == "simulate-failure":
        return SimulateFailureRequest(r, tuple(argv[2:]))
    raise AssertionError(f"unhandled SENTINEL {sub}")  # the table lists only handled names


def _executable(path: str) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


HANDLERS: dict[str, Handler] = {
    "auth": cmd_auth,
    "client": cmd_client,
    "command": cmd_command,
    "hello": cmd_hello,
    "info": cmd_info,
    "ping": cmd_ping,
    "psubscribe": cmd_psubscribe,
    "publish": cmd_publish,
    "punsubscribe": cmd_punsubscribe,
    "role": cmd_role,
    "sentinel": cmd_sentinel,
    "shutdown": cmd_shutdown,
    "subscribe": cmd_subscribe,
    "unsubscribe": cmd_unsubscribe,
}
