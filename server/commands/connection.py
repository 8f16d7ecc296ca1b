"""Connection commands as Redis 7.0: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET.

There are no ACL users here: `default` is the only user, its password is `requirepass` (none:
any password is accepted with the explicit username, as Redis's `nopass` default user).
"""

from __future__ import annotations

import hmac

from server import REDIS_VERSION
from server.client import Client
from server.commands.args import parse_int
from server.commands.clientcmd import shown, validate_name
from server.commands.pubsub import drop_subscriptions
from server.commands.registry import command
from server.commands.transactions import discard_transaction
from server.errors import DB_INDEX_OUT_OF_RANGE, SYNTAX, WRONGPASS, CommandError
from server.protocol import resp


@command("ping", -1, "fast", group="connection")
def ping(c: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 2:
        raise CommandError("ERR wrong number of arguments for 'ping' command")
    if c.in_pubsub:
        return resp.array([resp.bulk(b"pong"), resp.bulk(argv[1] if len(argv) == 2 else b"")])
    return resp.PONG if len(argv) == 1 else resp.bulk(argv[1])


@command("echo", 2, "loading stale fast", group="connection")
def echo(c: Client, argv: list[bytes]) -> bytes:
    return resp.bulk(argv[1])


@command("quit", -1, "noscript loading stale fast no_auth allow_busy", group="connection")
def quit_(c: Client, argv: list[bytes]) -> bytes:
    c.close_after_reply = True
    return resp.OK


@command("select", 2, "loading stale fast", group="connection")
def select(c: Client, argv: list[bytes]) -> bytes:
    idx = parse_int(argv[1])
    if not -(2**31) <= idx < 2**31:  # Redis reads the index as a C int
        raise CommandError("ERR value is out of range, value must between -2147483648 and 2147483647")
    if not 0 <= idx < len(c.engine.keyspace):
        raise CommandError(DB_INDEX_OUT_OF_RANGE)
    c.db = c.engine.keyspace[idx]
    return resp.OK


def _check_password(c: Client, user: bytes, password: bytes) -> bool:
    required = c.engine.config.requirepass.encode("utf-8", "surrogateescape")
    if user != b"default":
        return False
    if not required:
        return True  # the default user has nopass: any password is accepted
    return hmac.compare_digest(password, required)


@command("auth", -2, "noscript loading stale fast no_auth allow_busy", group="connection")
def auth(c: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    if len(argv) == 2:
        if not c.engine.config.requirepass:
            raise CommandError(
                "ERR AUTH <password> called without any password configured for the default user. "
                "Are you sure your configuration is correct?"
            )
        user, password = b"default", argv[1]
    else:
        user, password = argv[1], argv[2]
    if not _check_password(c, user, password):
        raise CommandError(WRONGPASS)
    c.authenticated = True
    c.user = user
    return resp.OK


@command("hello", -1, "noscript loading stale fast no_auth allow_busy", group="connection")
def hello(c: Client, argv: list[bytes]) -> bytes:
    ver = c.resp
    i = 1
    if len(argv) >= 2:
        ver = parse_int(argv[1], "ERR Protocol version is not an integer or out of range")
        i = 2
        if ver < 2 or ver > 3:
            raise CommandError("NOPROTO unsupported protocol version")
    name: bytes | None = None
    creds: tuple[bytes, bytes] | None = None
    while i < len(argv):
        opt = argv[i].lower()
        left = len(argv) - i - 1
        if opt == b"auth" and left >= 2:
            creds = (argv[i + 1], argv[i + 2])
            i += 3
        elif opt == b"setname" and left >= 1:
            name = argv[i + 1]
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{shown(argv[i])}'")
    if creds is not None:
        if not _check_password(c, *creds):
            raise CommandError(WRONGPASS)
        c.authenticated = True
        c.user = creds[0]
    if not c.authenticated:
        raise CommandError(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            "HELLO AUTH <user> <pass> option can be used to authenticate the client and "
            "select the RESP protocol version at the same time"
        )
    if name is not None:
        validate_name(name)
        c.name = name
    c.resp = ver
    eng = c.engine
    role = "replica" if eng.is_replica else "master"
    info = {
        "server": "redis",
        "version": REDIS_VERSION,
        "proto": ver,
        "id": c.id,
        "mode": "standalone",
        "role": role,
        "modules": [],
    }
    return resp.encode(info, ver)


@command("reset", 1, "noscript loading stale fast no_auth allow_busy", group="connection")
def reset(c: Client, argv: list[bytes]) -> bytes:
    """Back to a fresh connection's state (Redis's clearClientConnectionState).

    lib-name/lib-ver stay (they describe the library behind the connection), as does NO-EVICT.
    """
    eng = c.engine
    discard_transaction(c)
    drop_subscriptions(c)
    hook = eng.hooks.get("client_reset")
    if hook is not None:  # e.g. MONITOR bookkeeping of the admin commands
        hook(c)
    c.db = eng.keyspace[0]
    c.resp = 2
    c.name = b""
    c.authenticated = not eng.config.requirepass
    c.user = b"default"
    c.no_touch = False
    c.reply_off = False
    c.reply_skip_next = False
    return resp.simple("RESET")
