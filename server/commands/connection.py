"""Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET."""

from __future__ import annotations

import hmac

from server import REDIS_VERSION
from server.client import Client
from server.commands.args import parse_int
from server.commands.registry import command
from server.errors import DB_INDEX_OUT_OF_RANGE, WRONGPASS, CommandError
from server.protocol import resp


@command("ping", -1, "fast sentinel", group="connection")
def ping(c: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 2:
        raise CommandError("ERR wrong number of arguments for 'ping' command")
    if c.in_pubsub:
        return resp.array([resp.bulk(b"pong"), resp.bulk(argv[1] if len(argv) == 2 else b"")])
    return resp.PONG if len(argv) == 1 else resp.bulk(argv[1])


@command("echo", 2, "fast", group="connection")
def echo(c: Client, argv: list[bytes]) -> bytes:
    return resp.bulk(argv[1])


@command("quit", -1, "allow_busy no_auth fast", group="connection")
def quit_(c: Client, argv: list[bytes]) -> bytes:
    c.close_after_reply = True
    return resp.OK


@command("select", 2, "loading stale fast", group="connection")
def select(c: Client, argv: list[bytes]) -> bytes:
    idx = parse_int(argv[1])
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
        raise CommandError("ERR syntax error")
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
        try:
            ver = int(argv[1])
        except ValueError:
            raise CommandError("ERR Protocol version is not an integer or out of range") from None
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
            raise CommandError(f"ERR Syntax error in HELLO option '{argv[i].decode('latin-1')}'")
    if creds is not None:
        if not _check_password(c, *creds):
            raise CommandError(WRONGPASS)
        c.authenticated = True
        c.user = creds[0]
    if not c.authenticated:
        raise CommandError("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                           "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
                           "select the RESP protocol version at the same time")
    if name is not None:
        from server.commands.clientcmd import validate_name

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
    eng = c.engine
    if c.in_multi:
        c.in_multi = False
        c.queued = []
        c.multi_error = False
    from server.commands.transactions import unwatch_all

    unwatch_all(c)
    for ch in list(c.channels):
        subs = eng.channels.get(ch)
        if subs is not None:
            subs.pop(c, None)
            if not subs:
                del eng.channels[ch]
    for p in list(c.patterns):
        subs = eng.patterns.get(p)
        if subs is not None:
            subs.pop(c, None)
            if not subs:
                del eng.patterns[p]
    c.channels = set()
    c.patterns = set()
    c.db = eng.keyspace[0]
    c.resp = 2
    c.name = b""
    c.authenticated = not eng.config.requirepass
    c.user = b"default"
    return resp.simple("RESET")
