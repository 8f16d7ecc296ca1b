"""Generic keyspace commands, as Redis 7.0's db.c, expire.c and object.c.

Reads that Redis does with LOOKUP_NOTOUCH (TYPE, EXISTS, TTL, OBJECT ...) go through `_peek`,
which expires a key whose time has come but does not count as an access for LRU eviction.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

from server.client import Client
from server.commands.args import INT64_MAX, parse_int
from server.commands.registry import command, container
from server.commands.scan import (
    ENCODING_MARKS,
    clear_encoding_marks,
    encoding_for,
    forget_container,
    is_int_string,
    marked_encoding,
    move_encoding_mark,
    scan_generic,
    swap_encoding_marks,
    unmark_encoding,
)
from server.commands.strings import count_lookup
from server.datatypes import ZSet
from server.errors import (
    DB_INDEX_OUT_OF_RANGE,
    EXPIRE_INVALID,
    NO_SUCH_KEY,
    NOT_INTEGER,
    SYNTAX,
    CommandError,
)
from server.glob import match as glob_match
from server.keyspace import Database, Value, now_ms, type_name
from server.protocol import resp

SAME_OBJECT = "ERR source and destination objects are the same"
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_SHARED_REFCOUNT = 2147483647  # Redis's OBJ_SHARED_REFCOUNT (INT_MAX), shared integers 0..9999
_LFU_INIT_VAL = 5


def _peek(db: Database, key: bytes) -> Value | None:
    """The live value of `key` without touching its LRU position; expires it if due."""
    v = db.data.get(key)
    if v is None:
        return None
    if db.expires:
        when = db.expires.get(key)
        if when is not None and when <= now_ms():
            return db.lookup(key)  # deletes and propagates DEL (a replica only hides it)
    return v


def _read(c: Client, key: bytes) -> Value | None:
    """`_peek` for a read command: counted in keyspace_hits/misses, as Redis's lookupKeyRead."""
    v = _peek(c.db, key)
    count_lookup(c, v)
    return v


def _parse_int32(b: bytes, err: str = NOT_INTEGER) -> int:
    """Redis's getIntFromObjectOrReply."""
    n = parse_int(b, err)
    if n < _INT32_MIN or n > _INT32_MAX:
        raise CommandError(err)
    return n


def _db_at(c: Client, index: int) -> Database:
    ks = c.engine.keyspace
    if index < 0 or index >= len(ks):
        raise CommandError(DB_INDEX_OUT_OF_RANGE)
    return ks[index]


def copy_value(v: Value) -> Value:
    """A deep copy of a value (COPY): collections are new objects, members are immutable bytes."""
    cls = v.__class__
    if cls is bytes:
        return v
    if cls is deque:
        return deque(v)
    if cls is dict:
        return dict(v)
    if cls is set:
        return set(v)
    if cls is ZSet:
        z = ZSet()
        z.scores = dict(v.scores)
        z.order = v.order.copy()
        return z
    raise CommandError("ERR unknown type object")


# --- existence and deletion --------------------------------------------------------------------


def _delete_keys(c: Client, argv: list[bytes]) -> bytes:
    db = c.db
    n = 0
    for k in argv[1:]:
        if _peek(db, k) is not None and db.delete(k):
            n += 1
            if ENCODING_MARKS:
                unmark_encoding(db, k)
    c.engine.dirty += n
    return resp.integer(n)


def _none_written(argv: list[bytes]) -> list[bytes]:
    """The handler signals what it changed itself: DEL/UNLINK through `Database.delete` (only
    keys that existed), COPY on the target db (never the source)."""
    return []


@command("del", -2, "write", 1, -1, 1, group="generic", written_keys_fn=_none_written)
def del_(c: Client, argv: list[bytes]) -> bytes:
    return _delete_keys(c, argv)


@command("unlink", -2, "write fast", 1, -1, 1, group="generic", written_keys_fn=_none_written)
def unlink(c: Client, argv: list[bytes]) -> bytes:
    return _delete_keys(c, argv)


@command("exists", -2, "readonly fast", 1, -1, 1, group="generic")
def exists(c: Client, argv: list[bytes]) -> bytes:
    return resp.integer(sum(1 for k in argv[1:] if _read(c, k) is not None))


@command("touch", -2, "readonly fast", 1, -1, 1, group="generic")
def touch(c: Client, argv: list[bytes]) -> bytes:
    lookup = c.db.lookup
    n = 0
    for k in argv[1:]:
        v = lookup(k)
        count_lookup(c, v)
        if v is not None:
            n += 1
    return resp.integer(n)


@command("type", 2, "readonly fast", 1, 1, 1, group="generic")
def type_(c: Client, argv: list[bytes]) -> bytes:
    v = _read(c, argv[1])
    return b"+none\r\n" if v is None else b"+" + type_name(v) + b"\r\n"


# --- expiry ----------------------------------------------------------------------------------------

_EXP_NX, _EXP_XX, _EXP_GT, _EXP_LT = 1, 2, 4, 8


def _parse_expire_flags(argv: list[bytes]) -> int:
    flags = 0
    for opt in argv[3:]:
        o = opt.lower()
        if o == b"nx":
            flags |= _EXP_NX
        elif o == b"xx":
            flags |= _EXP_XX
        elif o == b"gt":
            flags |= _EXP_GT
        elif o == b"lt":
            flags |= _EXP_LT
        else:
            # Redis formats it with %s: the option ends at a NUL byte; other bytes go back as sent.
            shown = opt.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            raise CommandError("ERR Unsupported option " + shown)
    if flags & _EXP_NX and flags & (_EXP_XX | _EXP_GT | _EXP_LT):
        raise CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if flags & _EXP_GT and flags & _EXP_LT:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    return flags


def _expire_generic(c: Client, argv: list[bytes], relative: bool, seconds: bool) -> bytes:
    """EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT: a past deadline deletes the key (propagated as DEL);
    otherwise the deadline is set and propagated as PEXPIREAT with the absolute time."""
    key = argv[1]
    flags = _parse_expire_flags(argv)
    when = parse_int(argv[2])
    name = argv[0].decode("latin-1").lower()
    if seconds:
        if when > INT64_MAX // 1000 or when < -(INT64_MAX // 1000):
            raise CommandError(EXPIRE_INVALID.format(name))
        when *= 1000
    base = now_ms() if relative else 0
    if when > INT64_MAX - base:
        raise CommandError(EXPIRE_INVALID.format(name))
    when += base
    db = c.db
    if db.lookup(key) is None:
        return resp.ZERO
    if flags:
        current = db.expires.get(key)
        if flags & _EXP_NX and current is not None:
            return resp.ZERO
        if flags & _EXP_XX and current is None:
            return resp.ZERO
        if flags & _EXP_GT and (current is None or when <= current):
            return resp.ZERO
        if flags & _EXP_LT and current is not None and when >= current:
            return resp.ZERO
    engine = c.engine
    if when <= now_ms() and not engine.is_replica and c.kind != "master":
        db.delete(key)
        lazy = getattr(engine.config, "lazyfree_lazy_expire", False)
        c.prop = [[b"UNLINK" if lazy else b"DEL", key]]
    else:
        db.set_expire(key, when)
        if relative or seconds:
            c.prop = [[b"PEXPIREAT", key, b"%d" % when, *argv[3:]]]
    engine.dirty += 1
    return resp.ONE


@command("expire", -3, "write fast", 1, 1, 1, group="generic")
def expire(c: Client, argv: list[bytes]) -> bytes:
    return _expire_generic(c, argv, True, True)


@command("pexpire", -3, "write fast", 1, 1, 1, group="generic")
def pexpire(c: Client, argv: list[bytes]) -> bytes:
    return _expire_generic(c, argv, True, False)


@command("expireat", -3, "write fast", 1, 1, 1, group="generic")
def expireat(c: Client, argv: list[bytes]) -> bytes:
    return _expire_generic(c, argv, False, True)


@command("pexpireat", -3, "write fast", 1, 1, 1, group="generic")
def pexpireat(c: Client, argv: list[bytes]) -> bytes:
    return _expire_generic(c, argv, False, False)


def _ttl_generic(c: Client, key: bytes, ms: bool, absolute: bool) -> bytes:
    db = c.db
    if _read(c, key) is None:
        return resp.integer(-2)
    when = db.expires.get(key)
    if when is None:
        return resp.integer(-1)
    t = when if absolute else when - now_ms()
    if t < 0:
        t = 0
    return resp.integer(t if ms else (t + 500) // 1000)


@command("ttl", 2, "readonly fast", 1, 1, 1, group="generic")
def ttl(c: Client, argv: list[bytes]) -> bytes:
    return _ttl_generic(c, argv[1], False, False)


@command("pttl", 2, "readonly fast", 1, 1, 1, group="generic")
def pttl(c: Client, argv: list[bytes]) -> bytes:
    return _ttl_generic(c, argv[1], True, False)


@command("expiretime", 2, "readonly fast", 1, 1, 1, group="generic")
def expiretime(c: Client, argv: list[bytes]) -> bytes:
    return _ttl_generic(c, argv[1], False, True)


@command("pexpiretime", 2, "readonly fast", 1, 1, 1, group="generic")
def pexpiretime(c: Client, argv: list[bytes]) -> bytes:
    return _ttl_generic(c, argv[1], True, True)


@command("persist", 2, "write fast", 1, 1, 1, group="generic")
def persist(c: Client, argv: list[bytes]) -> bytes:
    db = c.db
    if db.lookup(argv[1]) is None or not db.persist(argv[1]):
        return resp.ZERO
    c.engine.dirty += 1
    return resp.ONE


# --- renaming, copying, moving -------------------------------------------------------------------


def _rename_generic(c: Client, argv: list[bytes], nx: bool) -> bytes:
    src, dst = argv[1], argv[2]
    db = c.db
    v = db.lookup(src)
    if v is None:
        raise CommandError(NO_SUCH_KEY)
    if src == dst:
        return resp.ZERO if nx else resp.OK
    when = db.expires.get(src)
    if db.lookup(dst) is not None:
        if nx:
            return resp.ZERO
        db.delete(dst)
    db.set(dst, v)
    move_encoding_mark(db, src, db, dst, v)
    if when is not None:
        db.set_expire(dst, when)
    db.delete(src)
    c.engine.dirty += 1
    return resp.ONE if nx else resp.OK


@command("rename", 3, "write", 1, 2, 1, group="generic")
def rename(c: Client, argv: list[bytes]) -> bytes:
    return _rename_generic(c, argv, False)


@command("renamenx", 3, "write fast", 1, 2, 1, group="generic")
def renamenx(c: Client, argv: list[bytes]) -> bytes:
    return _rename_generic(c, argv, True)


@command("copy", -3, "write denyoom", 1, 2, 1, group="generic", written_keys_fn=_none_written)
def copy(c: Client, argv: list[bytes]) -> bytes:
    src_db = dst_db = c.db
    replace = False
    i = 3
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        if opt == b"replace":
            replace = True
        elif opt == b"db" and i + 1 < n:
            dst_db = _db_at(c, _parse_int32(argv[i + 1]))
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    key, newkey = argv[1], argv[2]
    if src_db is dst_db and key == newkey:
        raise CommandError(SAME_OBJECT)
    v = src_db.lookup(key)
    count_lookup(c, v)
    if v is None:
        return resp.ZERO
    when = src_db.expires.get(key)
    if dst_db.lookup(newkey) is not None:
        if not replace:
            return resp.ZERO
        dst_db.delete(newkey)
    dup = copy_value(v)
    dst_db.set(newkey, dup)
    move_encoding_mark(src_db, key, dst_db, newkey, v, dup)
    if when is not None:
        dst_db.set_expire(newkey, when)
    dst_db.signal_modified(newkey)
    dst_db.signal_ready(newkey)
    c.engine.dirty += 1
    return resp.ONE


@command("move", 3, "write fast", 1, 1, 1, group="generic")
def move(c: Client, argv: list[bytes]) -> bytes:
    src = c.db
    dst = _db_at(c, _parse_int32(argv[2]))
    if src is dst:
        raise CommandError(SAME_OBJECT)
    key = argv[1]
    v = src.lookup(key)
    if v is None:
        return resp.ZERO
    when = src.expires.get(key)
    if dst.lookup(key) is not None:
        return resp.ZERO
    dst.set(key, v)
    move_encoding_mark(src, key, dst, key, v)
    if when is not None:
        dst.set_expire(key, when)
    src.delete(key)
    dst.signal_modified(key)
    dst.signal_ready(key)
    c.engine.dirty += 1
    return resp.ONE


# --- whole-keyspace commands ---------------------------------------------------------------------


@command("keys", 2, "readonly", group="generic")
def keys(c: Client, argv: list[bytes]) -> bytes:
    db = c.db
    pattern = argv[1]
    expires = db.expires
    now = now_ms()
    found = list(db.data) if pattern == b"*" else [k for k in db.data if glob_match(pattern, k)]
    if expires:
        found = [k for k in found if expires.get(k, now + 1) > now]
    return resp.bulk_array(found)


@command("scan", -2, "readonly", group="generic")
def scan(c: Client, argv: list[bytes]) -> bytes:
    return scan_generic(c, argv, c.db, 1, "db")


@command("randomkey", 1, "readonly", group="generic")
def randomkey(c: Client, argv: list[bytes]) -> bytes:
    """A uniformly random live key; expired keys met on the way are expired first (Redis's
    dbRandomKey), and a replica, which cannot expire, gives up after 100 tries."""
    db = c.db
    rng = c.engine.rng
    replica = c.engine.is_replica
    all_volatile = len(db.expires) == len(db.data)
    tries = 0
    while db.data:
        data = db.data
        key = next(itertools.islice(data, rng.randrange(len(data)), None))
        when = db.expires.get(key)
        if when is not None and when <= now_ms():
            tries += 1
            if replica and all_volatile and tries >= 100:
                return resp.bulk(key)
            db.lookup(key)  # expires it (a replica only hides it)
            continue
        return resp.bulk(key)
    return resp.null(c.resp)


@command("dbsize", 1, "readonly fast", group="generic")
def dbsize(c: Client, argv: list[bytes]) -> bytes:
    return resp.integer(len(c.db.data))


def _flush_flags(argv: list[bytes]) -> None:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() not in (b"sync", b"async")):
        raise CommandError(SYNTAX)


def flush_database(db: Database) -> int:
    """Empty one database: invalidates WATCHes of keys that existed (Redis 7.0's
    touchAllWatchedKeysInDb), drops data, expiries and LRU order. Returns the keys removed."""
    for key in list(db.watched):
        if key in db.data:
            db.signal_modified(key)
    n = len(db.data)
    forget_container(db.engine, db.data)
    clear_encoding_marks(db)
    db.data = {}
    db.expires = {}
    db.expire_heap = []
    if db.lru is not None:
        db.lru = {}
    return n


@command("flushdb", -1, "write", group="generic")
def flushdb(c: Client, argv: list[bytes]) -> bytes:
    _flush_flags(argv)
    # +1 so that FLUSHDB of an empty db is still propagated, as Redis forces it.
    c.engine.dirty += flush_database(c.db) + 1
    return resp.OK


@command("flushall", -1, "write", group="generic")
def flushall(c: Client, argv: list[bytes]) -> bytes:
    _flush_flags(argv)
    engine = c.engine
    removed = sum(flush_database(db) for db in engine.keyspace.dbs)
    engine.dirty += removed + 1
    hook = engine.hooks.get("flushall")
    if hook is not None:
        hook()  # persistence: Redis saves an empty RDB right away when save points are set
    return resp.OK


@command("swapdb", 3, "write fast", group="generic")
def swapdb(c: Client, argv: list[bytes]) -> bytes:
    id1 = _parse_int32(argv[1], "ERR invalid first DB index")
    id2 = _parse_int32(argv[2], "ERR invalid second DB index")
    ks = c.engine.keyspace
    if id1 < 0 or id1 >= len(ks) or id2 < 0 or id2 >= len(ks):
        raise CommandError(DB_INDEX_OUT_OF_RANGE)
    if id1 != id2:
        a, b = ks[id1], ks[id2]
        for db, other in ((a, b), (b, a)):
            for key in list(db.watched):
                if key in db.data or key in other.data:
                    db.signal_modified(key)
        a.data, b.data = b.data, a.data
        a.expires, b.expires = b.expires, a.expires
        a.expire_heap, b.expire_heap = b.expire_heap, a.expire_heap
        a.lru, b.lru = b.lru, a.lru
        swap_encoding_marks(a, b)
        for db in (a, b):
            for key in list(db.blocking):
                if key in db.data:
                    db.signal_ready(key)
    c.engine.dirty += 1
    return resp.OK


# --- OBJECT --------------------------------------------------------------------------------------

container("object", -2, group="generic")

_LFU_POLICIES = ("allkeys-lfu", "volatile-lfu")
_OBJECT_HELP = [
    b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"ENCODING <key>",
    b"    Return the kind of internal representation used in order to store the value",
    b"    associated with a <key>.",
    b"FREQ <key>",
    b"    Return the access frequency index of the <key>. The returned integer is",
    b"    proportional to the logarithm of the recent access frequency of the key.",
    b"IDLETIME <key>",
    b"    Return the idle time of the <key>, that is the approximated number of",
    b"    seconds elapsed since the last access to the key.",
    b"REFCOUNT <key>",
    b"    Return the number of references of the value associated with the specified",
    b"    <key>.",
    b"HELP",
    b"    Prints this help.",
]


def _object_value(c: Client, key: bytes) -> Any:
    return _read(c, key)


@command("encoding", 3, "readonly", 2, 2, 1, parent="object", group="generic")
def object_encoding_cmd(c: Client, argv: list[bytes]) -> bytes:
    db = c.db
    v = _read(c, argv[2])
    if v is None:
        return resp.null(c.resp)
    return resp.bulk(encoding_for(db, argv[2], v))


@command("refcount", 3, "readonly", 2, 2, 1, parent="object", group="generic")
def object_refcount(c: Client, argv: list[bytes]) -> bytes:
    v = _object_value(c, argv[2])
    if v is None:
        return resp.null(c.resp)
    config = c.engine.config
    if marked_encoding(c.db, argv[2], v) is not None:
        return resp.ONE  # APPEND/SETRANGE/INCRBYFLOAT results are never the shared integers
    policy = config.maxmemory_policy
    shared_ints = not config.maxmemory or ("lru" not in policy and "lfu" not in policy)
    if shared_ints and v.__class__ is bytes and is_int_string(v) and 0 <= int(v) < 10000:
        return resp.integer(_SHARED_REFCOUNT)
    return resp.ONE


@command("idletime", 3, "readonly", 2, 2, 1, parent="object", group="generic")
def object_idletime(c: Client, argv: list[bytes]) -> bytes:
    v = _object_value(c, argv[2])
    if v is None:
        return resp.null(c.resp)
    if c.engine.config.maxmemory_policy in _LFU_POLICIES:
        raise CommandError(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
            "switching between policies at runtime LRU and LFU data will take some time to adjust."
        )
    return resp.ZERO  # per-key access times are not kept (it would cost memory on every key)


@command("freq", 3, "readonly", 2, 2, 1, parent="object", group="generic")
def object_freq(c: Client, argv: list[bytes]) -> bytes:
    v = _object_value(c, argv[2])
    if v is None:
        return resp.null(c.resp)
    if c.engine.config.maxmemory_policy not in _LFU_POLICIES:
        raise CommandError(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
            "that when switching between policies at runtime LRU and LFU data will take some time "
            "to adjust."
        )
    return resp.integer(_LFU_INIT_VAL)


@command("help", 2, "loading stale", parent="object", group="generic")
def object_help(c: Client, argv: list[bytes]) -> bytes:
    return resp.array([resp.simple(line) for line in _OBJECT_HELP])
