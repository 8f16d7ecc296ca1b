"""Set commands (value type: `set[bytes]`).

Reply order: Redis 7.0 keeps a small all-integer set as a sorted intset, so SMEMBERS & co. list
such a set in ascending numeric order; `_ordered` reproduces that, other sets come out in hash
order, as in Redis (where the order is unspecified too).

Random picks (SPOP, SRANDMEMBER, and HRANDFIELD in hashes.py) need indexable members, which
Python's sets and dicts lack; a `Pool` keeps a list of the members of a few big collections so
that picks cost O(1) instead of an O(n) walk each, and every command that adds or removes
members of a pooled collection in place reports it to the pool (`pool_of` before the change,
then `Pool.added`/`Pool.removed`), so that a queue-like mix of SADD and SPOP stays O(1) too.
A pool holds its collection alive, so pools of collections that left the keyspace are swept
whenever pools are built or dropped.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from random import Random
from typing import Any

from server.client import Client
from server.commands.args import INT64_MAX, parse_int
from server.commands.registry import command
from server.commands.scan import is_int_string, mark_encoding, scan_key, unmark_encoding
from server.errors import SYNTAX, WRONGTYPE, CommandError
from server.protocol import resp

NOT_POSITIVE = "ERR value is out of range, must be positive"
LONG_RANGE = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
VALUE_OUT_OF_RANGE = "ERR value is out of range"
NUMKEYS_POSITIVE = "ERR numkeys should be greater than 0"
NUMKEYS_TOO_MANY = "ERR Number of keys can't be greater than number of args"
LIMIT_NEGATIVE = "ERR LIMIT can't be negative"
# Beyond this many repeated picks a reply could never be built (Redis would run out of memory).
MAX_REPEATED_PICKS = 1 << 32
_EMPTY_SET3 = b"~0\r\n"
_SPOP_MOVE_STRATEGY_MUL = 5  # Redis's threshold between popping in place and rebuilding
_INTSET_DEFAULT = 512

# --- random picks ---------------------------------------------------------------------------------

_POOL_MIN = 64  # below this size a fresh list per call is cheaper than the bookkeeping
_POOL_SLOTS = 4  # pooled collections at most (each pool is one list of references)


class Pool:
    """An indexable list of a collection's members for O(1) random picks.

    `items` holds every live member exactly once plus the members removed since the list was
    built (`dead`, also exactly once each): removals just mark, picks skip and drop dead
    slots, additions revive a dead slot or append. So `len(items) == len(obj) + len(dead)`
    as long as every in-place change is reported; a mismatch means an unreported change and
    the pool is rebuilt.
    """

    __slots__ = ("dead", "items", "obj")

    def __init__(self, obj: Any, items: list[bytes]) -> None:
        self.obj = obj  # a strong reference: the id() key can't be reused while pooled
        self.items = items
        self.dead: set[bytes] = set()

    def added(self, member: bytes) -> None:
        """`member` (absent before) was just added to the collection."""
        dead = self.dead
        if dead and member in dead:
            dead.remove(member)
        else:
            self.items.append(member)

    def removed(self, member: bytes) -> None:
        """`member` (present before) was just removed from the collection."""
        self.dead.add(member)


_pools: dict[int, Pool] = {}


def pool_of(obj: Any) -> Pool | None:
    """`obj`'s pool if it has a valid one. Call it *before* changing `obj`, then report the
    changes to the pool."""
    if not _pools:
        return None
    p = _pools.get(id(obj))
    if p is None:
        return None
    if p.obj is obj and len(p.items) == len(obj) + len(p.dead):
        return p
    del _pools[id(obj)]
    return None


def random_pool(obj: set[bytes] | dict[bytes, bytes]) -> list[bytes]:
    """Exactly the members of `obj` (a set, or a hash's fields) as an indexable list, never
    to be mutated by the caller. Cached for big collections, so repeated picks stay cheap."""
    n = len(obj)
    if n < _POOL_MIN:
        if _pools:
            _pools.pop(id(obj), None)  # picks from small collections bypass (and would stale) it
        return list(obj)
    p = pool_of(obj)
    if p is not None and not p.dead:
        return p.items
    _sweep()
    items = list(obj)
    key = id(obj)
    if key not in _pools and len(_pools) >= _POOL_SLOTS:
        del _pools[next(iter(_pools))]
    _pools[key] = Pool(obj, items)
    return items


def random_member(obj: set[bytes] | dict[bytes, bytes], rng: Random) -> tuple[bytes, int, Pool | None]:
    """A uniformly random member of non-empty `obj`, its index in the pool and the pool
    (None for small collections): O(1) expected for pooled ones."""
    n = len(obj)
    if n >= _POOL_MIN:
        p = pool_of(obj)
        if p is None or len(p.dead) > n:  # missing, or mostly dead slots: rebuild
            random_pool(obj)
            p = _pools[id(obj)]
        items, dead = p.items, p.dead
        while True:
            i = rng.randrange(len(items))
            m = items[i]
            if not dead or m not in dead:
                return m, i, p
            dead.remove(m)
            _swap_remove(items, i)
    items = random_pool(obj)
    i = rng.randrange(n)
    return items[i], i, None


def random_sample(
    obj: set[bytes] | dict[bytes, bytes], k: int, rng: Random
) -> tuple[list[bytes], list[bytes], list[int]]:
    """`k` distinct random members of `obj` (0 < k < len(obj)), the list they were drawn
    from and their indexes in it (SPOP hands both to `_pool_take`). O(k) expected when a
    pool exists, even with removals pending in it."""
    n = len(obj)
    p = pool_of(obj) if n >= _POOL_MIN else None
    if p is not None and p.dead and 4 * k <= n and len(p.dead) <= n:
        items, dead = p.items, p.dead
        size = len(items)
        chosen: dict[int, None] = {}
        while len(chosen) < k:
            i = rng.randrange(size)
            if i not in chosen and items[i] not in dead:
                chosen[i] = None
        indexes = list(chosen)
    else:
        items = random_pool(obj)
        indexes = rng.sample(range(len(items)), k)
    return [items[i] for i in indexes], items, indexes


def random_choices(obj: set[bytes] | dict[bytes, bytes], k: int, rng: Random) -> list[bytes]:
    """`k` random members of non-empty `obj`, repeats allowed (negative counts)."""
    n = len(obj)
    p = pool_of(obj) if n >= _POOL_MIN else None
    if p is not None and p.dead and len(p.dead) <= n:
        items, dead = p.items, p.dead
        size = len(items)
        out: list[bytes] = []
        while len(out) < k:
            m = items[rng.randrange(size)]
            if m not in dead:
                out.append(m)
        return out
    return rng.choices(random_pool(obj), k=k)


def _swap_remove(items: list[bytes], i: int) -> None:
    last = items.pop()
    if i < len(items):
        items[i] = last


def _sweep() -> None:
    """Drop pools whose collection nothing else references any more (its key was deleted,
    evicted or overwritten elsewhere), so that a pool never keeps a dead collection alive
    longer than until the next pool is built or a pooled collection goes away."""
    dead = [k for k, p in _pools.items() if sys.getrefcount(p.obj) <= 2]  # our ref + the argument
    for k in dead:
        del _pools[k]


def forget_pool(obj: Any) -> None:
    """`obj` is leaving the keyspace (or changed beyond tracking): drop its pool."""
    if _pools:
        _pools.pop(id(obj), None)
        _sweep()


def _pool_take(obj: Any, items: list[bytes], indexes: list[int]) -> None:
    """Keep `obj`'s pool in sync after the members at `indexes` of `items` (a list that
    `random_pool` returned) were removed from `obj`."""
    p = _pools.get(id(obj))
    if p is None:
        return
    if p.items is not items:
        del _pools[id(obj)]
        return
    for i in sorted(indexes, reverse=True):
        _swap_remove(items, i)


# --- helpers --------------------------------------------------------------------------------------


def _lookup_set(c: Client, key: bytes) -> set[bytes] | None:
    v = c.db.lookup(key)
    if v is None or v.__class__ is set:
        return v
    raise CommandError(WRONGTYPE)


def _load_sets(c: Client, keys: list[bytes]) -> list[set[bytes] | None]:
    """Every key's set (None if missing); WRONGTYPE if any is not a set, as Redis 7.0 checks
    all of them before computing anything."""
    lookup = c.db.lookup
    out: list[set[bytes] | None] = []
    for k in keys:
        v = lookup(k)
        if v is not None and v.__class__ is not set:
            raise CommandError(WRONGTYPE)
        out.append(v)
    return out


def _ordered(c: Client, members: set[bytes]) -> Iterable[bytes]:
    """Redis's order for a set reply: ascending numbers when the set would be an intset."""
    limit = int(getattr(c.engine.config, "set_max_intset_entries", _INTSET_DEFAULT))
    if len(members) <= limit and all(is_int_string(m) for m in members):
        return sorted(members, key=int)
    return members


def _intset_limit(c: Client) -> int:
    return int(getattr(c.engine.config, "set_max_intset_entries", _INTSET_DEFAULT))


def _note_shrink(c: Client, key: bytes, s: set[bytes], before: int, removed: Iterable[bytes]) -> None:
    """Redis 7.0 never turns a hashtable-encoded set back into an intset. Encodings here are
    derived from contents, so when removals leave intset-like contents in a set that was a
    hashtable (too big, or holding a non-integer), record the sticky encoding for OBJECT
    ENCODING and SSCAN. Cheap unless the set is small."""
    limit = _intset_limit(c)
    if not s or len(s) > limit:
        return
    if before <= limit and all(map(is_int_string, removed)):
        return  # it was an intset already
    if all(map(is_int_string, s)):
        mark_encoding(c.db, key, s, b"hashtable")


def _set_reply(c: Client, members: set[bytes]) -> bytes:
    if not members:
        return _EMPTY_SET3 if c.resp == 3 else resp.EMPTY_ARRAY
    return resp.bulk_set(_ordered(c, members), c.resp)


def _store(c: Client, dst: bytes, result: set[bytes]) -> bytes:
    """The *STORE forms: replace `dst` by `result`, or delete it when `result` is empty."""
    db = c.db
    old = db.data.get(dst)
    if old is not None and old.__class__ is set:
        forget_pool(old)
    if result:
        db.set(dst, result)
        c.engine.dirty += 1
        return resp.integer(len(result))
    if db.delete(dst):
        c.engine.dirty += 1
    return resp.ZERO


def _inter(sets: list[set[bytes] | None]) -> set[bytes]:
    live = [s for s in sets if s is not None]
    if len(live) < len(sets):
        return set()
    live.sort(key=len)
    return live[0].intersection(*live[1:])


def _union(sets: list[set[bytes] | None]) -> set[bytes]:
    return set().union(*[s for s in sets if s is not None])


def _diff(sets: list[set[bytes] | None]) -> set[bytes]:
    first = sets[0]
    if first is None:
        return set()
    return first.difference(*[s for s in sets[1:] if s is not None])


# --- single-set commands ----------------------------------------------------------------------------


@command("sadd", -3, "write denyoom fast", 1, 1, 1, group="set")
def sadd(c: Client, argv: list[bytes]) -> bytes:
    db = c.db
    key = argv[1]
    s = db.lookup(key)
    if s is None:
        s = set()
        db.set(key, s)
    elif s.__class__ is not set:
        raise CommandError(WRONGTYPE)
    before = len(s)
    p = pool_of(s)
    if p is not None:
        for m in argv[2:]:
            if m not in s:
                s.add(m)
                p.added(m)
    elif len(argv) == 3:
        s.add(argv[2])
    else:
        s.update(argv[2:])
    added = len(s) - before
    if added:
        c.engine.dirty += added
    return resp.integer(added)


@command("srem", -3, "write fast", 1, 1, 1, group="set")
def srem(c: Client, argv: list[bytes]) -> bytes:
    key = argv[1]
    s = _lookup_set(c, key)
    if s is None:
        return resp.ZERO
    before = len(s)
    members = argv[2:]
    # what is removed matters for the sticky encoding only if the set can end up small
    present = [m for m in members if m in s] if before - len(members) <= _intset_limit(c) else ()
    p = pool_of(s)
    if p is not None:
        for m in members:
            if m in s:
                s.remove(m)
                p.removed(m)
    elif len(argv) == 3:
        s.discard(argv[2])
    else:
        s.difference_update(members)
    deleted = before - len(s)
    if deleted:
        if not s:
            forget_pool(s)
            c.db.delete(key)
        else:
            _note_shrink(c, key, s, before, present)
        c.engine.dirty += deleted
    return resp.integer(deleted)


@command("smembers", 2, "readonly", 1, 1, 1, group="set")
def smembers(c: Client, argv: list[bytes]) -> bytes:
    s = _lookup_set(c, argv[1])
    if s is None:
        return _EMPTY_SET3 if c.resp == 3 else resp.EMPTY_ARRAY
    return _set_reply(c, s)


@command("sismember", 3, "readonly fast", 1, 1, 1, group="set")
def sismember(c: Client, argv: list[bytes]) -> bytes:
    s = _lookup_set(c, argv[1])
    return resp.ONE if s is not None and argv[2] in s else resp.ZERO


@command("smismember", -3, "readonly fast", 1, 1, 1, group="set")
def smismember(c: Client, argv: list[bytes]) -> bytes:
    s = _lookup_set(c, argv[1])
    members = argv[2:]
    if s is None:
        return resp.array_header(len(members)) + resp.ZERO * len(members)
    one, zero = resp.ONE, resp.ZERO
    return resp.array_header(len(members)) + b"".join([one if m in s else zero for m in members])


@command("scard", 2, "readonly fast", 1, 1, 1, group="set")
def scard(c: Client, argv: list[bytes]) -> bytes:
    s = _lookup_set(c, argv[1])
    return resp.integer(0 if s is None else len(s))


@command("smove", 4, "write fast", 1, 2, 1, group="set")
def smove(c: Client, argv: list[bytes]) -> bytes:
    db = c.db
    src_key, dst_key, member = argv[1], argv[2], argv[3]
    src = db.lookup(src_key)
    dst = db.lookup(dst_key)
    if src is None:
        return resp.ZERO
    if src.__class__ is not set or (dst is not None and dst.__class__ is not set):
        raise CommandError(WRONGTYPE)
    if src is dst:
        return resp.ONE if member in src else resp.ZERO
    if member not in src:
        return resp.ZERO
    p = pool_of(src)
    src.remove(member)
    if not src:
        forget_pool(src)
        db.delete(src_key)
    else:
        if p is not None:
            p.removed(member)
        _note_shrink(c, src_key, src, len(src) + 1, (member,))
    engine = c.engine
    engine.dirty += 1
    if dst is None:
        db.set(dst_key, {member})
        engine.dirty += 1
    elif member not in dst:
        p = pool_of(dst)
        dst.add(member)
        if p is not None:
            p.added(member)
        engine.dirty += 1
    return resp.ONE


# --- random members ---------------------------------------------------------------------------------


@command("spop", -2, "write fast", 1, 1, 1, group="set")
def spop(c: Client, argv: list[bytes]) -> bytes:
    n = len(argv)
    if n == 3:
        return _spop_count(c, argv)
    if n > 3:
        raise CommandError(SYNTAX)
    key = argv[1]
    s = _lookup_set(c, key)
    if s is None:
        return resp.NULL3 if c.resp == 3 else resp.NULL2
    member, i, p = random_member(s, c.engine.rng)
    s.remove(member)
    if p is not None:
        _swap_remove(p.items, i)
    if not s:
        forget_pool(s)
        c.db.delete(key)
    else:
        _note_shrink(c, key, s, len(s) + 1, (member,))
    c.engine.dirty += 1
    c.prop = [[b"SREM", key, member]]
    return resp.bulk(member)


def _spop_count(c: Client, argv: list[bytes]) -> bytes:
    try:
        count = parse_int(argv[2])
    except CommandError:
        raise CommandError(NOT_POSITIVE) from None
    if count < 0:
        raise CommandError(NOT_POSITIVE)
    key = argv[1]
    s = _lookup_set(c, key)
    if s is None or count == 0:
        return _EMPTY_SET3 if c.resp == 3 else resp.EMPTY_ARRAY
    engine = c.engine
    engine.dirty += count  # as Redis counts it, even when the set is smaller
    if count >= len(s):
        reply = _set_reply(c, s)
        forget_pool(s)
        c.db.delete(key)
        c.prop = [[b"DEL", key]]
        return reply
    before = len(s)
    picked, items, indexes = random_sample(s, count, engine.rng)
    s.difference_update(picked)
    _pool_take(s, items, indexes)
    if (before - count) * _SPOP_MOVE_STRATEGY_MUL > count:
        _note_shrink(c, key, s, before, picked)  # Redis pops from the set itself
    else:
        unmark_encoding(c.db, key)  # Redis builds a new set of the remaining members
    c.prop = [[b"SREM", key, m] for m in picked]
    return resp.bulk_set(picked, c.resp)


@command("srandmember", -2, "readonly", 1, 1, 1, group="set")
def srandmember(c: Client, argv: list[bytes]) -> bytes:
    n = len(argv)
    if n > 3:
        raise CommandError(SYNTAX)
    if n == 2:
        s = _lookup_set(c, argv[1])
        if s is None:
            return resp.NULL3 if c.resp == 3 else resp.NULL2
        return resp.bulk(random_member(s, c.engine.rng)[0])
    count = parse_int(argv[2])
    if count < -INT64_MAX:
        raise CommandError(LONG_RANGE)
    s = _lookup_set(c, argv[1])
    if s is None or count == 0:
        return resp.EMPTY_ARRAY
    rng = c.engine.rng
    picked: Iterable[bytes]
    if count < 0:
        if -count > MAX_REPEATED_PICKS:
            raise CommandError(VALUE_OUT_OF_RANGE)
        picked = random_choices(s, -count, rng)
    elif count >= len(s):
        picked = _ordered(c, s)
    else:
        picked = random_sample(s, count, rng)[0]
    return resp.bulk_array(picked)


# --- multi-set operations ---------------------------------------------------------------------------


@command("sinter", -2, "readonly", 1, -1, 1, group="set")
def sinter(c: Client, argv: list[bytes]) -> bytes:
    return _set_reply(c, _inter(_load_sets(c, argv[1:])))


@command("sunion", -2, "readonly", 1, -1, 1, group="set")
def sunion(c: Client, argv: list[bytes]) -> bytes:
    return _set_reply(c, _union(_load_sets(c, argv[1:])))


@command("sdiff", -2, "readonly", 1, -1, 1, group="set")
def sdiff(c: Client, argv: list[bytes]) -> bytes:
    return _set_reply(c, _diff(_load_sets(c, argv[1:])))


def _dst_key(argv: list[bytes]) -> list[bytes]:
    """The *STORE forms modify (and signal, for WATCH) only their destination, not the sources."""
    return argv[1:2]


@command("sinterstore", -3, "write denyoom", 1, -1, 1, group="set", written_keys_fn=_dst_key)
def sinterstore(c: Client, argv: list[bytes]) -> bytes:
    return _store(c, argv[1], _inter(_load_sets(c, argv[2:])))


@command("sunionstore", -3, "write denyoom", 1, -1, 1, group="set", written_keys_fn=_dst_key)
def sunionstore(c: Client, argv: list[bytes]) -> bytes:
    return _store(c, argv[1], _union(_load_sets(c, argv[2:])))


@command("sdiffstore", -3, "write denyoom", 1, -1, 1, group="set", written_keys_fn=_dst_key)
def sdiffstore(c: Client, argv: list[bytes]) -> bytes:
    return _store(c, argv[1], _diff(_load_sets(c, argv[2:])))


def _intercard_keys(argv: list[bytes]) -> list[bytes]:
    """SINTERCARD's keys: `numkeys` of them after the count (none if the count is invalid)."""
    try:
        n = parse_int(argv[1])
    except CommandError:
        return []
    if n < 1 or n > len(argv) - 2:
        return []
    return argv[2 : 2 + n]


@command("sintercard", -3, "readonly movablekeys", keys_fn=_intercard_keys, group="set")
def sintercard(c: Client, argv: list[bytes]) -> bytes:
    try:
        numkeys = parse_int(argv[1])
    except CommandError:
        raise CommandError(NUMKEYS_POSITIVE) from None
    if numkeys < 1:
        raise CommandError(NUMKEYS_POSITIVE)
    if numkeys > len(argv) - 2:
        raise CommandError(NUMKEYS_TOO_MANY)
    limit = 0
    i = 2 + numkeys
    n = len(argv)
    while i < n:
        if argv[i].lower() == b"limit" and i + 1 < n:
            try:
                limit = parse_int(argv[i + 1])
            except CommandError:
                raise CommandError(LIMIT_NEGATIVE) from None
            if limit < 0:
                raise CommandError(LIMIT_NEGATIVE)
            i += 2
        else:
            raise CommandError(SYNTAX)
    sets = _load_sets(c, argv[2 : 2 + numkeys])
    live = [s for s in sets if s is not None]
    if len(live) < len(sets):
        return resp.ZERO
    live.sort(key=len)
    first, rest = live[0], live[1:]
    if not limit:
        return resp.integer(len(first.intersection(*rest)))
    count = 0
    for m in first:
        for other in rest:
            if m not in other:
                break
        else:
            count += 1
            if count >= limit:
                break
    return resp.integer(count)


@command("sscan", -3, "readonly", 1, 1, 1, group="set")
def sscan(c: Client, argv: list[bytes]) -> bytes:
    return scan_key(c, argv, "set")
