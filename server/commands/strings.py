"""String commands."""

from __future__ import annotations

from server.client import Client
from server.commands.args import INT64_MAX, parse_int
from server.commands.registry import command
from server.errors import EXPIRE_INVALID, SYNTAX, WRONGTYPE, CommandError
from server.keyspace import now_ms
from server.protocol import resp

_NX, _XX, _GET, _KEEPTTL = 1, 2, 4, 8


def parse_expire_option(unit: bytes, value: bytes, cmdname: str) -> int:
    """EX/PX/EXAT/PXAT value -> absolute unix time in ms, with Redis's checks."""
    n = parse_int(value)
    u = unit.lower()
    if n <= 0 or (u in (b"ex", b"exat") and n > INT64_MAX // 1000):
        raise CommandError(EXPIRE_INVALID.format(cmdname))
    ms = n * 1000 if u in (b"ex", b"exat") else n
    if u in (b"ex", b"px"):
        ms += now_ms()
    if ms <= 0 or ms > INT64_MAX:
        raise CommandError(EXPIRE_INVALID.format(cmdname))
    return ms


@command("get", 2, "readonly fast", 1, 1, 1, group="string")
def get(c: Client, argv: list[bytes]) -> bytes:
    v = c.db.lookup(argv[1])
    if v is None:
        return resp.NULL3 if c.resp == 3 else resp.NULL2
    if v.__class__ is not bytes:
        raise CommandError(WRONGTYPE)
    return resp.bulk(v)


@command("set", -3, "write denyoom", 1, 1, 1, group="string")
def set_(c: Client, argv: list[bytes]) -> bytes:
    key, value = argv[1], argv[2]
    db = c.db
    if len(argv) == 3:
        db.set(key, value)
        c.engine.dirty += 1
        return resp.OK
    flags = 0
    expire: int | None = None
    exp_unit = b""
    exp_idx = 0
    i = 3
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        if opt == b"nx" and not flags & (_XX):
            flags |= _NX
        elif opt == b"xx" and not flags & (_NX):
            flags |= _XX
        elif opt == b"get":
            flags |= _GET
        elif opt == b"keepttl" and expire is None:
            flags |= _KEEPTTL
        elif opt in (b"ex", b"px", b"exat", b"pxat") and not flags & _KEEPTTL and expire is None and i + 1 < n:
            exp_unit = opt
            exp_idx = i + 1
            expire = -1  # parsed after the syntax check, as Redis reports syntax errors first
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if expire is not None:
        expire = parse_expire_option(exp_unit, argv[exp_idx], "set")
    old = db.lookup(key)
    if flags & _GET and old is not None and old.__class__ is not bytes:
        raise CommandError(WRONGTYPE)
    if (flags & _NX and old is not None) or (flags & _XX and old is None):
        if flags & _GET:
            return resp.bulk_or_null(old, c.resp)
        return resp.null(c.resp)
    db.set(key, value, keepttl=bool(flags & _KEEPTTL))
    if expire is not None:
        db.set_expire(key, expire)
        if exp_unit in (b"ex", b"px", b"exat"):
            prop = [b"SET", key, value, b"PXAT", b"%d" % expire]
            c.prop = [prop]
    c.engine.dirty += 1
    if flags & _GET:
        return resp.bulk_or_null(old, c.resp)
    return resp.OK

