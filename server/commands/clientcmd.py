"""CLIENT and its subcommands, as Redis 7.0 (SETINFO, NO-TOUCH and lib-name/lib-ver as 7.2).

Killing another connection removes it from the engine at once (as Redis's freeClient: a PUBLISH
or CLIENT LIST right after no longer sees it) and cancels its connection task; killing yourself
closes the connection after the reply. CLIENT TRACKING (server-assisted client-side caching) is
not implemented: `CLIENT TRACKING ON` is refused with an explicit error, OFF is accepted.
"""

from __future__ import annotations

import time

from server.client import Client
from server.commands.args import INT64_MAX, parse_int
from server.commands.registry import command, container
from server.errors import SYNTAX, CommandError
from server.protocol import resp

container("client", -2, "", group="connection")

_CONN = "noscript loading stale"
_ADMIN = "admin noscript loading stale"

UNBLOCKED_ERROR = b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
TRACKING_UNSUPPORTED = "ERR CLIENT TRACKING ON is not supported by this server (no client-side caching)"

_TYPES = {
    b"normal": "normal",
    b"slave": "replica",
    b"replica": "replica",
    b"pubsub": "pubsub",
    b"master": "master",
}

_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "HELP",
    "    Prints this help.",
]


# --- helpers ------------------------------------------------------------------------------------


def shown(arg: bytes, limit: int | None = None) -> str:
    """User bytes as Redis echoes them in an error (`%s`: up to the first NUL, raw bytes kept)."""
    raw = arg.split(b"\x00", 1)[0]
    if limit is not None:
        raw = raw[:limit]
    return raw.decode("utf-8", "surrogateescape")


def _valid_attr(value: bytes) -> bool:
    """Redis's charset for names and lib attributes: printable ASCII without space ('!'..'~')."""
    return all(0x21 <= ch <= 0x7E for ch in value)


def validate_name(name: bytes) -> None:
    """Raise Redis's error for a client name CLIENT LIST could not print (used by HELLO too)."""
    if not _valid_attr(name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")


def client_type(c: Client) -> str:
    """Redis's getClientType: master, replica, pubsub (any subscription) or normal."""
    if c.kind == "master":
        return "master"
    if c.kind == "replica":
        return "replica"
    if c.subscriptions:
        return "pubsub"
    return "normal"


def _type_by_name(name: bytes) -> str:
    t = _TYPES.get(name.lower())
    if t is None:
        raise CommandError(f"ERR Unknown client type '{shown(name)}'")
    return t


def _syntax_error(argv: list[bytes]) -> CommandError:
    """Redis's addReplySubcommandSyntaxError (a known subcommand, a wrong argument count)."""
    return CommandError(
        f"ERR unknown subcommand or wrong number of arguments for '{shown(argv[1], 128)}'. Try CLIENT HELP."
    )


def _on_off(arg: bytes) -> bool:
    a = arg.lower()
    if a == b"on":
        return True
    if a == b"off":
        return False
    raise CommandError(SYNTAX)


def kill_client(c: Client, target: Client) -> None:
    """Disconnect `target` now (not `c` itself: that one closes after its reply)."""
    if target is c:
        c.close_after_reply = True
        return
    kill = target.kill
    c.engine.remove_client(target)
    if kill is not None:
        kill()
    # else: accepted but its task has not run yet; it sees `closed` on its first step and closes.


# --- introspection ------------------------------------------------------------------------------


@command("list", -2, _ADMIN, parent="client")
def client_list(c: Client, argv: list[bytes]) -> bytes:
    eng = c.engine
    if len(argv) == 4 and argv[2].lower() == b"type":
        wanted = _type_by_name(argv[3])
        clients = [x for x in eng.clients.values() if client_type(x) == wanted]
    elif len(argv) > 3 and argv[2].lower() == b"id":
        ids = [parse_int(a, "ERR Invalid client ID") for a in argv[3:]]
        clients = [x for x in (eng.clients.get(i) for i in ids) if x is not None]
    elif len(argv) != 2:
        raise CommandError(SYNTAX)
    else:
        clients = list(eng.clients.values())
    text = "".join(x.info_line() + "\n" for x in clients)
    return resp.verbatim(text.encode("utf-8", "surrogateescape"), c.resp)


@command("info", 2, _CONN, parent="client")
def client_info(c: Client, argv: list[bytes]) -> bytes:
    return resp.verbatim((c.info_line() + "\n").encode("utf-8", "surrogateescape"), c.resp)


@command("id", 2, _CONN, parent="client")
def client_id(c: Client, argv: list[bytes]) -> bytes:
    return resp.integer(c.id)


@command("getname", 2, _CONN, parent="client")
def client_getname(c: Client, argv: list[bytes]) -> bytes:
    return resp.bulk(c.name) if c.name else resp.null(c.resp)


@command("setname", 3, _CONN, parent="client")
def client_setname(c: Client, argv: list[bytes]) -> bytes:
    validate_name(argv[2])
    c.name = argv[2]
    return resp.OK


@command("setinfo", 4, _CONN, parent="client")
def client_setinfo(c: Client, argv: list[bytes]) -> bytes:
    attr = argv[2].lower()
    attr_shown = shown(argv[2])
    if attr not in (b"lib-name", b"lib-ver"):
        raise CommandError(f"ERR Unrecognized option '{attr_shown}'")
    if not _valid_attr(argv[3]):
        raise CommandError(f"ERR {attr_shown} cannot contain spaces, newlines or special characters.")
    if attr == b"lib-name":
        c.lib_name = argv[3]
    else:
        c.lib_ver = argv[3]
    return resp.OK


@command("help", 2, "loading stale", parent="client")
def client_help(c: Client, argv: list[bytes]) -> bytes:
    return resp.array([resp.simple(line) for line in _HELP])


# --- KILL ---------------------------------------------------------------------------------------


@command("kill", -3, _ADMIN, parent="client")
def client_kill(c: Client, argv: list[bytes]) -> bytes:
    addr: str | None = None
    laddr: str | None = None
    user: bytes | None = None
    ctype: str | None = None
    cid = 0
    skipme = True
    if len(argv) == 3:  # the old form, CLIENT KILL addr: may kill the caller itself
        addr = argv[2].decode("utf-8", "surrogateescape")
        skipme = False
    else:
        i = 2
        while i < len(argv):
            opt = argv[i].lower()
            if i + 1 >= len(argv):
                raise CommandError(SYNTAX)
            val = argv[i + 1]
            if opt == b"id":
                cid = parse_int(val, "ERR client-id should be greater than 0")
                if cid < 1:
                    raise CommandError("ERR client-id should be greater than 0")
            elif opt == b"type":
                ctype = _type_by_name(val)
            elif opt == b"addr":
                addr = val.decode("utf-8", "surrogateescape")
            elif opt == b"laddr":
                laddr = val.decode("utf-8", "surrogateescape")
            elif opt == b"user":
                if val != b"default":  # the only user without ACLs
                    raise CommandError(f"ERR No such user '{shown(val)}'")
                user = val
            elif opt == b"skipme":
                v = val.lower()
                if v == b"yes":
                    skipme = True
                elif v == b"no":
                    skipme = False
                else:
                    raise CommandError(SYNTAX)
            else:
                raise CommandError(SYNTAX)
            i += 2
    victims = []
    for x in list(c.engine.clients.values()):
        if addr is not None and x.addr != addr:
            continue
        if laddr is not None and x.laddr != laddr:
            continue
        if ctype is not None and client_type(x) != ctype:
            continue
        if cid and x.id != cid:
            continue
        if user is not None and x.user != user:
            continue
        if x is c and skipme:
            continue
        victims.append(x)
    for x in victims:
        kill_client(c, x)
    if len(argv) == 3:
        if not victims:
            raise CommandError("ERR No such client")
        return resp.OK
    return resp.integer(len(victims))


# --- PAUSE / UNPAUSE / UNBLOCK ------------------------------------------------------------------


@command("pause", -3, _ADMIN, parent="client")
def client_pause(c: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 4:
        raise _syntax_error(argv)
    pause_all = True
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode == b"write":
            pause_all = False
        elif mode != b"all":
            raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    ms = parse_int(argv[2], "ERR timeout is not an integer or out of range")
    if ms < 0:
        raise CommandError("ERR timeout is negative")
    if ms > INT64_MAX - time.time_ns() // 1_000_000:
        ms = 0  # Redis 7.0 adds it to the clock unchecked: the end time wraps into the past
    eng = c.engine
    now = time.monotonic()
    if eng.client_pause_until <= now:  # the previous pause is over: its mode no longer applies
        eng.client_pause_all = False
        eng.client_pause_until = 0.0
    # Like Redis, a new pause never shortens nor weakens one in progress.
    if ms > 0:
        eng.client_pause_all = eng.client_pause_all or pause_all
        eng.client_pause_until = max(eng.client_pause_until, now + ms / 1000.0)
    _pause_changed(c)
    return resp.OK


@command("unpause", 2, _ADMIN, parent="client")
def client_unpause(c: Client, argv: list[bytes]) -> bytes:
    eng = c.engine
    eng.client_pause_until = 0.0  # only CLIENT PAUSE's own pause: a FAILOVER's stays
    eng.client_pause_all = False
    _pause_changed(c)
    return resp.OK


def _pause_changed(c: Client) -> None:
    cb = c.engine.pause_changed
    if cb is not None:
        cb()


@command("unblock", -3, _ADMIN, parent="client")
def client_unblock(c: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 4:
        raise _syntax_error(argv)
    as_error = False
    if len(argv) == 4:
        reason = argv[3].lower()
        if reason == b"error":
            as_error = True
        elif reason != b"timeout":
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    target_id = parse_int(argv[2])
    eng = c.engine
    target = eng.clients.get(target_id)
    if target is None or target.block is None:
        return resp.ZERO
    blk = target.block
    eng.unblock(target, UNBLOCKED_ERROR if as_error else blk.on_timeout)
    return resp.ONE


# --- per-connection modes -----------------------------------------------------------------------


@command("reply", 3, _CONN, parent="client")
def client_reply(c: Client, argv: list[bytes]) -> bytes:
    mode = argv[2].lower()
    if mode == b"on":
        c.reply_off = False
        c.reply_skip = False
        return resp.OK
    if mode == b"off":
        c.reply_off = True
    elif mode == b"skip":
        if not c.reply_off:
            c.reply_skip_next = True
    else:
        raise CommandError(SYNTAX)
    c.reply_filter = True
    return b""


@command("no-evict", 3, _ADMIN, parent="client")
def client_no_evict(c: Client, argv: list[bytes]) -> bytes:
    c.no_evict = _on_off(argv[2])
    return resp.OK


@command("no-touch", 3, _CONN, parent="client")
def client_no_touch(c: Client, argv: list[bytes]) -> bytes:
    c.no_touch = _on_off(argv[2])
    return resp.OK


# --- client-side caching (not supported: tracking is always off) -------------------------------


@command("tracking", -3, _CONN, parent="client")
def client_tracking(c: Client, argv: list[bytes]) -> bytes:
    redirect = 0
    j = 3
    while j < len(argv):
        opt = argv[j].lower()
        more = j + 1 < len(argv)
        if opt == b"redirect" and more:
            j += 1
            if redirect:
                raise CommandError("ERR A client can only redirect to a single other client")
            redirect = parse_int(argv[j])
            if redirect not in c.engine.clients:
                raise CommandError("ERR The client ID you want redirect to does not exist")
        elif opt == b"prefix" and more:
            j += 1
        elif opt not in (b"bcast", b"optin", b"optout", b"noloop"):
            raise CommandError(SYNTAX)
        j += 1
    mode = argv[2].lower()
    if mode == b"on":
        raise CommandError(TRACKING_UNSUPPORTED)
    if mode != b"off":
        raise CommandError(SYNTAX)
    return resp.OK


@command("trackinginfo", 2, _CONN, parent="client")
def client_trackinginfo(c: Client, argv: list[bytes]) -> bytes:
    return resp.map_(
        [
            (resp.bulk(b"flags"), resp.bulk_set([b"off"], c.resp)),
            (resp.bulk(b"redirect"), resp.integer(-1)),
            (resp.bulk(b"prefixes"), resp.EMPTY_ARRAY),
        ],
        c.resp,
    )


@command("getredir", 2, _CONN, parent="client")
def client_getredir(c: Client, argv: list[bytes]) -> bytes:
    return resp.integer(-1)


@command("caching", 3, _CONN, parent="client")
def client_caching(c: Client, argv: list[bytes]) -> bytes:
    raise CommandError(
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"
    )
