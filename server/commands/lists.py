"""List commands, Redis 7.0 semantics (value type: `collections.deque[bytes]`).

The blocking forms (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) first act like their plain form;
when every key is empty they return a `Block`. Its `retry` runs inside the write that made a
key ready (oldest blocked client first) and serves the client from *that* key, as Redis 7.0
does, then propagates what really happened: LPOP/RPOP [count], LMOVE or RPOPLPUSH. A key that
was re-created with another type does not wake a list waiter (Redis 7.0 only serves list
waiters from lists); inside MULTI/EXEC the blocking forms answer at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from itertools import islice

from server.blocking import Block
from server.client import Client
from server.commands.args import INT64_MAX, INT64_MIN, block_deadline, parse_int, parse_timeout
from server.commands.registry import command
from server.errors import (
    INDEX_OUT_OF_RANGE,
    NO_SUCH_KEY,
    NOT_INTEGER,
    SYNTAX,
    WRONGTYPE,
    CommandError,
    wrong_arity,
)
from server.keyspace import Database
from server.protocol import resp

List = deque[bytes]

_POSITIVE = "ERR value is out of range, must be positive"
_NUMKEYS = "ERR numkeys should be greater than 0"
_COUNT = "ERR count should be greater than 0"


def range_long(b: bytes, lo: int, hi: int, msg: str) -> int:
    """Redis's getRangeLongFromObjectOrReply with a message: `msg` for a bad number too."""
    try:
        n = parse_int(b)
    except CommandError:
        raise CommandError(msg) from None
    if n < lo or n > hi:
        raise CommandError(msg)
    return n


def _list(db: Database, key: bytes) -> List | None:
    """The list at `key`, None if missing; WRONGTYPE for any other type."""
    v = db.lookup(key)
    if v is None or v.__class__ is deque:
        return v
    raise CommandError(WRONGTYPE)


def _side(b: bytes) -> bool:
    """LEFT/RIGHT (getListPositionFromObjectOrReply): True for LEFT."""
    s = b.lower()
    if s == b"left":
        return True
    if s == b"right":
        return False
    raise CommandError(SYNTAX)


# --- push ------------------------------------------------------------------------------------------


def _push(c: Client, argv: list[bytes], left: bool, only_existing: bool) -> bytes:
    """LPUSH/RPUSH/LPUSHX/RPUSHX: the X forms never create the key."""
    db = c.db
    key = argv[1]
    v = db.lookup(key)
    if v is None:
        if only_existing:
            return resp.ZERO
        v = deque()
        db.set(key, v)
    elif v.__class__ is not deque:
        raise CommandError(WRONGTYPE)
    if len(argv) == 3:  # one element (the common case): no iterator to build
        if left:
            v.appendleft(argv[2])
        else:
            v.append(argv[2])
    elif left:
        v.extendleft(islice(argv, 2, None))
    else:
        v.extend(islice(argv, 2, None))
    c.engine.dirty += len(argv) - 2
    return resp.integer(len(v))


@command("lpush", -3, "write denyoom fast", 1, 1, 1, group="list")
def lpush(c: Client, argv: list[bytes]) -> bytes:
    return _push(c, argv, True, False)


@command("rpush", -3, "write denyoom fast", 1, 1, 1, group="list")
def rpush(c: Client, argv: list[bytes]) -> bytes:
    return _push(c, argv, False, False)


@command("lpushx", -3, "write denyoom fast", 1, 1, 1, group="list")
def lpushx(c: Client, argv: list[bytes]) -> bytes:
    return _push(c, argv, True, True)


@command("rpushx", -3, "write denyoom fast", 1, 1, 1, group="list")
def rpushx(c: Client, argv: list[bytes]) -> bytes:
    return _push(c, argv, False, True)


# --- pop -------------------------------------------------------------------------------------------


def _pop_n(v: List, left: bool, n: int) -> list[bytes]:
    """Pop `n` elements from one end, in pop order."""
    pop = v.popleft if left else v.pop
    return [pop() for _ in range(n)]


def _pop(c: Client, argv: list[bytes], left: bool) -> bytes:
    """LPOP/RPOP [count]: the count form answers a null *array* for a missing key."""
    n = len(argv)
    if n > 3:
        raise wrong_arity(b"lpop" if left else b"rpop")
    db = c.db
    key = argv[1]
    if n == 2:
        v = db.lookup(key)
        if v is None:
            return resp.NULL3 if c.resp == 3 else resp.NULL2
        if v.__class__ is not deque:
            raise CommandError(WRONGTYPE)
        x = v.popleft() if left else v.pop()
        if not v:
            db.delete(key)
        c.engine.dirty += 1
        return resp.bulk(x)
    count = range_long(argv[2], 0, INT64_MAX, _POSITIVE)
    v = db.lookup(key)
    if v is None:
        return resp.null_array(c.resp)
    if v.__class__ is not deque:
        raise CommandError(WRONGTYPE)
    if count == 0:
        return resp.EMPTY_ARRAY
    items = _pop_n(v, left, min(count, len(v)))
    if not v:
        db.delete(key)
    c.engine.dirty += len(items)
    return resp.bulk_array(items)


@command("lpop", -2, "write fast", 1, 1, 1, group="list")
def lpop(c: Client, argv: list[bytes]) -> bytes:
    return _pop(c, argv, True)


@command("rpop", -2, "write fast", 1, 1, 1, group="list")
def rpop(c: Client, argv: list[bytes]) -> bytes:
    return _pop(c, argv, False)


# --- reads -----------------------------------------------------------------------------------------


@command("llen", 2, "readonly fast", 1, 1, 1, group="list")
def llen(c: Client, argv: list[bytes]) -> bytes:
    v = _list(c.db, argv[1])
    return resp.ZERO if v is None else resp.integer(len(v))


def _slice(v: List, start: int, end: int) -> list[bytes]:
    """Elements start..end (normalised, inclusive), walking from the nearer end of the deque."""
    n = len(v)
    if start <= n - 1 - end:
        return list(islice(v, start, end + 1))
    out = list(islice(reversed(v), n - 1 - end, n - start))
    out.reverse()
    return out


@command("lrange", 4, "readonly", 1, 1, 1, group="list")
def lrange(c: Client, argv: list[bytes]) -> bytes:
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    v = c.db.lookup(argv[1])
    if v is None:
        return resp.EMPTY_ARRAY
    if v.__class__ is not deque:
        raise CommandError(WRONGTYPE)
    n = len(v)
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return resp.EMPTY_ARRAY
    if end >= n:
        end = n - 1
    return resp.bulk_array(v if start == 0 and end == n - 1 else _slice(v, start, end))


@command("lindex", 3, "readonly", 1, 1, 1, group="list")
def lindex(c: Client, argv: list[bytes]) -> bytes:
    v = _list(c.db, argv[1])
    if v is None:
        return resp.null(c.resp)
    i = parse_int(argv[2])
    n = len(v)
    if i < 0:
        i += n
    if i < 0 or i >= n:
        return resp.null(c.resp)
    return resp.bulk(v[i])


@command("lpos", -3, "readonly", 1, 1, 1, group="list")
def lpos(c: Client, argv: list[bytes]) -> bytes:
    """LPOS with RANK/COUNT/MAXLEN; options are parsed before the key is looked up."""
    ele = argv[2]
    rank, count, maxlen = 1, -1, 0
    j, n = 3, len(argv)
    while j < n:
        opt = argv[j].lower()
        more = j + 1 < n
        if opt == b"rank" and more:
            j += 1
            rank = parse_int(argv[j])
            if rank == 0:
                raise CommandError(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
                    "or use negative to start from the end of the list"
                )
        elif opt == b"count" and more:
            j += 1
            count = range_long(argv[j], 0, INT64_MAX, "ERR COUNT can't be negative")
        elif opt == b"maxlen" and more:
            j += 1
            maxlen = range_long(argv[j], 0, INT64_MAX, "ERR MAXLEN can't be negative")
        else:
            raise CommandError(SYNTAX)
        j += 1
    v = c.db.lookup(argv[1])
    if v is None:
        return resp.EMPTY_ARRAY if count != -1 else resp.null(c.resp)
    if v.__class__ is not deque:
        raise CommandError(WRONGTYPE)
    from_tail = rank < 0
    unbounded = rank == INT64_MIN  # -rank overflows in C: every match qualifies, COUNT never stops
    if unbounded:
        rank = 1
    elif from_tail:
        rank = -rank
    size = len(v)
    it = reversed(v) if from_tail else iter(v)
    if maxlen:
        it = islice(it, maxlen)
    found: list[int] = []
    matches = 0
    for idx, x in enumerate(it):
        if x == ele:
            matches += 1
            if matches >= rank:
                found.append(size - idx - 1 if from_tail else idx)
                if count == -1 or (count and not unbounded and matches - rank + 1 >= count):
                    break
    if count != -1:
        return resp.array_header(len(found)) + b"".join([resp.integer(i) for i in found])
    return resp.integer(found[0]) if found else resp.null(c.resp)


# --- in-place writes -------------------------------------------------------------------------------


@command("lset", 4, "write denyoom", 1, 1, 1, group="list")
def lset(c: Client, argv: list[bytes]) -> bytes:
    v = c.db.lookup(argv[1])
    if v is None:
        raise CommandError(NO_SUCH_KEY)
    if v.__class__ is not deque:
        raise CommandError(WRONGTYPE)
    i = parse_int(argv[2])
    n = len(v)
    if i < 0:
        i += n
    if i < 0 or i >= n:
        raise CommandError(INDEX_OUT_OF_RANGE)
    v[i] = argv[3]
    c.engine.dirty += 1
    return resp.OK


@command("lrem", 4, "write", 1, 1, 1, group="list")
def lrem(c: Client, argv: list[bytes]) -> bytes:
    """LREM: count > 0 removes from the head, < 0 from the tail, 0 all matches."""
    toremove = parse_int(argv[2])
    key = argv[1]
    v = _list(c.db, key)
    if v is None:
        return resp.ZERO
    ele = argv[3]
    limit = abs(toremove) or len(v)
    removed = 0
    if toremove >= 0:
        kept: list[bytes] = []
        for x in v:
            if removed < limit and x == ele:
                removed += 1
            else:
                kept.append(x)
    else:
        kept = []
        for x in reversed(v):
            if removed < limit and x == ele:
                removed += 1
            else:
                kept.append(x)
        kept.reverse()
    if removed:
        v.clear()
        v.extend(kept)
        if not v:
            c.db.delete(key)
        c.engine.dirty += removed
    return resp.integer(removed)


@command("ltrim", 4, "write", 1, 1, 1, group="list")
def ltrim(c: Client, argv: list[bytes]) -> bytes:
    """LTRIM: counts one change per removed element (none when nothing is trimmed)."""
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    key = argv[1]
    v = _list(c.db, key)
    if v is None:
        return resp.OK
    n = len(v)
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        ltrim_n, rtrim_n = n, 0
    else:
        if end >= n:
            end = n - 1
        ltrim_n, rtrim_n = start, n - end - 1
    if ltrim_n + rtrim_n:
        if ltrim_n + rtrim_n >= n:
            v.clear()
        else:
            for _ in range(ltrim_n):
                v.popleft()
            for _ in range(rtrim_n):
                v.pop()
        if not v:
            c.db.delete(key)
        c.engine.dirty += ltrim_n + rtrim_n
    return resp.OK


@command("linsert", 5, "write denyoom", 1, 1, 1, group="list")
def linsert(c: Client, argv: list[bytes]) -> bytes:
    where = argv[2].lower()
    if where not in (b"before", b"after"):
        raise CommandError(SYNTAX)
    v = _list(c.db, argv[1])
    if v is None:
        return resp.ZERO
    try:
        i = v.index(argv[3])
    except ValueError:
        return resp.integer(-1)
    v.insert(i if where == b"before" else i + 1, argv[4])
    c.engine.dirty += 1
    return resp.integer(len(v))


# --- moves -----------------------------------------------------------------------------------------


def _move(c: Client, db: Database, src: bytes, v: List, dst: bytes, from_left: bool, to_left: bool) -> bytes:
    """Pop from `v` (the non-empty list at `src`) and push onto `dst`; WRONGTYPE before any change."""
    if dst == src:
        d: List | None = v
    else:
        d = db.lookup(dst)
        if d is not None and d.__class__ is not deque:
            raise CommandError(WRONGTYPE)
    x = v.popleft() if from_left else v.pop()
    if d is None:
        d = deque()
        db.set(dst, d)
    if to_left:
        d.appendleft(x)
    else:
        d.append(x)
    if not v:
        db.delete(src)
    c.engine.dirty += 1
    return resp.bulk(x)


def _lmove(c: Client, src: bytes, dst: bytes, from_left: bool, to_left: bool) -> bytes | None:
    """LMOVE's body: the reply, or None when the source is missing (the caller's null)."""
    db = c.db
    v = _list(db, src)
    if v is None:
        return None
    return _move(c, db, src, v, dst, from_left, to_left)


@command("lmove", 5, "write denyoom", 1, 2, 1, group="list")
def lmove(c: Client, argv: list[bytes]) -> bytes:
    r = _lmove(c, argv[1], argv[2], _side(argv[3]), _side(argv[4]))
    return resp.null(c.resp) if r is None else r


@command("rpoplpush", 3, "write denyoom", 1, 2, 1, group="list")
def rpoplpush(c: Client, argv: list[bytes]) -> bytes:
    r = _lmove(c, argv[1], argv[2], False, True)
    return resp.null(c.resp) if r is None else r


def _side_name(left: bool) -> bytes:
    """The word LMOVE is propagated with for a side."""
    return b"left" if left else b"right"


def _blmove(
    c: Client,
    src: bytes,
    dst: bytes,
    from_left: bool,
    to_left: bool,
    timeout: float | None,
    prop: list[bytes],
) -> bytes | Block:
    """BLMOVE/BRPOPLPUSH: move now if `src` has elements (propagated as `prop`), else block."""
    r = _lmove(c, src, dst, from_left, to_left)
    if r is not None:
        c.prop = [prop]
        return r
    if c.in_exec:
        return resp.null(c.resp)
    db = c.db
    is_lmove = prop[0] == b"LMOVE"

    def retry() -> bytes | None:
        """Serve this waiter from the key that became ready, if it now holds elements."""
        v = db.lookup(src)
        if v.__class__ is not deque or not v:
            return None
        reply = _move(c, db, src, v, dst, from_left, to_left)
        if is_lmove:
            c.prop = [[b"LMOVE", src, dst, _side_name(from_left), _side_name(to_left)]]
        else:
            c.prop = [[b"RPOPLPUSH", src, dst]]
        return reply

    return Block(
        keys=[src], retry=retry, on_timeout=resp.null_array(c.resp), deadline=block_deadline(timeout)
    )


@command("blmove", 6, "write denyoom noscript blocking", 1, 2, 1, group="list")
def blmove(c: Client, argv: list[bytes]) -> bytes | Block:
    from_left = _side(argv[3])
    to_left = _side(argv[4])
    timeout = parse_timeout(argv[5])
    return _blmove(c, argv[1], argv[2], from_left, to_left, timeout, [b"LMOVE", *argv[1:5]])


@command("brpoplpush", 4, "write denyoom noscript blocking", 1, 2, 1, group="list")
def brpoplpush(c: Client, argv: list[bytes]) -> bytes | Block:
    timeout = parse_timeout(argv[3])
    return _blmove(c, argv[1], argv[2], False, True, timeout, [b"RPOPLPUSH", argv[1], argv[2]])


# --- multi-key pops (LMPOP, BLPOP, BRPOP, BLMPOP) ------------------------------------------------------


def parse_mpop(argv: list[bytes], idx: int, words: tuple[bytes, bytes]) -> tuple[list[bytes], bool, int]:
    """numkeys key... WHERE [COUNT n] from argv[idx]: (keys, first word?, count), Redis's errors
    and order of checks (shared with ZMPOP/BZMPOP, `words` being LEFT/RIGHT or MIN/MAX)."""
    numkeys = range_long(argv[idx], 1, INT64_MAX, _NUMKEYS)
    where_idx = idx + numkeys + 1
    n = len(argv)
    if where_idx >= n:
        raise CommandError(SYNTAX)
    w = argv[where_idx].lower()
    if w == words[0]:
        first = True
    elif w == words[1]:
        first = False
    else:
        raise CommandError(SYNTAX)
    count = -1
    j = where_idx + 1
    while j < n:
        if count == -1 and argv[j].lower() == b"count" and j + 1 < n:
            count = range_long(argv[j + 1], 1, INT64_MAX, _COUNT)
            j += 2
        else:
            raise CommandError(SYNTAX)
    return argv[idx + 1 : where_idx], first, 1 if count == -1 else count


def mpop_keys(idx: int) -> Callable[[list[bytes]], list[bytes]]:
    """The key positions of an *MPOP command whose numkeys is argv[idx] (empty if malformed)."""

    def keys(argv: list[bytes]) -> list[bytes]:
        """Key positions for COMMAND GETKEYS, WATCH and wake-ups."""
        try:
            n = parse_int(argv[idx], NOT_INTEGER)
        except (CommandError, IndexError):
            return []
        if n < 1:
            return []
        return argv[idx + 1 : idx + 1 + n]

    return keys


def served_key_only(argv: list[bytes]) -> list[bytes]:
    """Written keys of the pops over several keys (B*POP, *MPOP): none from argv. They modify the
    one key they serve, which `_serve_pop` / zsets' `_serve_zpop` signal (WATCH), as Redis."""
    return []


def _serve_pop(c: Client, db: Database, key: bytes, v: List, left: bool, count: int) -> bytes:
    """Pop from the non-empty list `v` at `key` for a B*POP/*MPOP; sets the propagation.

    count 0 means BLPOP/BRPOP's [key, element] reply; otherwise *MPOP's [key, [elements]]."""
    name = b"LPOP" if left else b"RPOP"
    if count == 0:
        x = v.popleft() if left else v.pop()
        reply = b"*2\r\n" + resp.bulk(key) + resp.bulk(x)
        c.prop = [[name, key]]
        popped = 1
    else:
        items = _pop_n(v, left, min(count, len(v)))
        popped = len(items)
        reply = b"*2\r\n" + resp.bulk(key) + resp.bulk_array(items)
        c.prop = [[name, key, b"%d" % popped]]
    db.signal_modified(key)  # this key only: the other keys named are not touched (see below)
    if not v:
        db.delete(key)
    c.engine.dirty += popped
    return reply


def _blocking_pop(
    c: Client, keys: list[bytes], left: bool, count: int, timeout: float | None
) -> bytes | Block:
    """BLPOP/BRPOP (count 0) and BLMPOP: serve now from the first non-empty key, else block."""
    db = c.db
    for key in keys:
        v = db.lookup(key)
        if v is None:
            continue
        if v.__class__ is not deque:
            raise CommandError(WRONGTYPE)
        return _serve_pop(c, db, key, v, left, count)
    if c.in_exec:
        return resp.null_array(c.resp)
    blk = Block(
        keys=list(dict.fromkeys(keys)),
        retry=lambda: None,
        on_timeout=resp.null_array(c.resp),
        deadline=block_deadline(timeout),
    )

    def retry() -> bytes | None:
        """Serve this waiter from the key that became ready, if it now holds elements."""
        ready = blk.ready_key
        for key in blk.keys if ready is None else (ready,):
            v = db.lookup(key)
            if v.__class__ is deque and v:
                return _serve_pop(c, db, key, v, left, count)
        return None

    blk.retry = retry
    return blk


@command("blpop", -3, "write noscript blocking", 1, -2, 1, group="list", written_keys_fn=served_key_only)
def blpop(c: Client, argv: list[bytes]) -> bytes | Block:
    timeout = parse_timeout(argv[-1])
    return _blocking_pop(c, argv[1:-1], True, 0, timeout)


@command("brpop", -3, "write noscript blocking", 1, -2, 1, group="list", written_keys_fn=served_key_only)
def brpop(c: Client, argv: list[bytes]) -> bytes | Block:
    timeout = parse_timeout(argv[-1])
    return _blocking_pop(c, argv[1:-1], False, 0, timeout)


_LR = (b"left", b"right")


@command(
    "lmpop", -4, "write movablekeys", keys_fn=mpop_keys(1), group="list", written_keys_fn=served_key_only
)
def lmpop(c: Client, argv: list[bytes]) -> bytes:
    keys, left, count = parse_mpop(argv, 1, _LR)
    db = c.db
    for key in keys:
        v = db.lookup(key)
        if v is None:
            continue
        if v.__class__ is not deque:
            raise CommandError(WRONGTYPE)
        return _serve_pop(c, db, key, v, left, count)
    return resp.null_array(c.resp)


@command(
    "blmpop",
    -5,
    "write blocking movablekeys",
    keys_fn=mpop_keys(2),
    group="list",
    written_keys_fn=served_key_only,
)
def blmpop(c: Client, argv: list[bytes]) -> bytes | Block:
    keys, left, count = parse_mpop(argv, 2, _LR)
    timeout = parse_timeout(argv[1])
    return _blocking_pop(c, keys, left, count, timeout)
