"""The cursor engine behind SCAN, HSCAN, SSCAN and ZSCAN, and Redis's encoding rules.

Redis iterates its hash tables with a reverse-binary bucket cursor, which survives rehashing
and guarantees that every element present for the whole iteration is returned at least once.
Python's dicts and sets expose no bucket positions, and iterating them while they change is
an error, so the cursor here names a *snapshot*:

- A call with cursor 0 on a big container copies the container's keys into a list (one C-level
  `list(container)`, a few milliseconds for a million keys; values are not copied) and stores
  it in a bounded LRU cache under a fresh snapshot id. Every later call does O(COUNT) work:
  it walks the next entries of the snapshot, drops those no longer present (or expired),
  filters by MATCH/TYPE, and returns cursor `snapshot_id << 32 | position`, or 0 at the end.
- Every element present for the whole scan was in the snapshot, so it is returned (the
  guarantee); elements added during the scan may or may not be (Redis says the same).
- A cursor this server issued whose snapshot is gone (evicted under memory pressure, used on
  another key, or FLUSH/SWAPDB replaced the container) restarts the scan from a fresh
  snapshot. That can return duplicates, which Redis allows, but never skips an element. The
  cache holds up to `MAX_SNAPSHOTS` snapshots and `MAX_SNAPSHOT_ITEMS` references in all,
  evicting the least recently used first.
- A cursor it never issued (made up, such as -1, or from before a restart) ends the scan:
  cursor 0 and no elements, one of the answers Redis gives for such cursors ("undefined
  behaviour, never a crash").
- Small collections that Redis keeps listpack/intset-encoded are returned whole in one call
  with cursor 0, in Redis's order (insertion order for hashes, ascending score for zsets,
  ascending integers for intsets), whatever COUNT says, exactly as Redis does.

The cache lives per Engine (a WeakKeyDictionary), so several engines in one process (tests)
never see each other's cursors.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

from server.commands.args import parse_int
from server.datatypes import ZSet
from server.errors import SYNTAX, WRONGTYPE, CommandError
from server.glob import match as glob_match
from server.keyspace import now_ms, type_name
from server.protocol import resp

if TYPE_CHECKING:
    from server.client import Client
    from server.config import Config
    from server.engine import Engine
    from server.keyspace import Database

INVALID_CURSOR = "ERR invalid cursor"
EMPTY_SCAN = b"*2\r\n$1\r\n0\r\n*0\r\n"
MAX_SNAPSHOTS = 1024
MAX_SNAPSHOT_ITEMS = 8_000_000
_U64 = 1 << 64
_POS_BITS = 32
_POS_MASK = (1 << _POS_BITS) - 1

# Redis 7.0's default encoding thresholds (used when the config does not carry them).
_DEFAULTS = {
    "hash_max_listpack_entries": 128,
    "hash_max_listpack_value": 64,
    "set_max_intset_entries": 512,
    "zset_max_listpack_entries": 128,
    "zset_max_listpack_value": 64,
}


def _limit(config: Config, name: str) -> int:
    return int(getattr(config, name, _DEFAULTS[name]))


# --- encodings (OBJECT ENCODING and the small-collection rule of SCAN) -------------------------


def is_int_string(b: bytes) -> bool:
    """Redis's string2ll: would this string be stored as an integer (int encoding, intset)?"""
    n = len(b)
    if n == 0 or n > 20:
        return False
    if b[0] == 0x2D:
        digits = b[1:]
        if not digits or digits[0] == 0x30:
            return False
    else:
        digits = b
        if n > 1 and b[0] == 0x30:
            return False
    if not digits.isdigit() or not digits.isascii():
        return False
    return -(2**63) <= int(b) <= 2**63 - 1


def hash_is_listpack(h: dict[bytes, bytes], config: Config) -> bool:
    if len(h) > _limit(config, "hash_max_listpack_entries"):
        return False
    vmax = _limit(config, "hash_max_listpack_value")
    return all(len(f) <= vmax and len(v) <= vmax for f, v in h.items())


def set_is_intset(s: set[bytes], config: Config) -> bool:
    if len(s) > _limit(config, "set_max_intset_entries"):
        return False
    return all(is_int_string(m) for m in s)


def zset_is_listpack(z: ZSet, config: Config) -> bool:
    if len(z) > _limit(config, "zset_max_listpack_entries"):
        return False
    vmax = _limit(config, "zset_max_listpack_value")
    return all(len(m) <= vmax for m in z.scores)


def object_encoding(value: Any, config: Config, string_encoding: bytes | None = None) -> bytes:
    """What Redis 7.0's OBJECT ENCODING would answer for a value with these contents.

    Collections carry no history, so the answer is the encoding a freshly built value with
    the same contents would have (Redis's are sticky: a hash that outgrew listpack stays a
    hashtable when it shrinks). For strings, `string_encoding` is what the command that wrote
    it left (see `mark_encoding`), when that differs from a fresh SET's choice.
    """
    cls = value.__class__
    if cls is bytes:
        if string_encoding is not None:
            return string_encoding
        if is_int_string(value):
            return b"int"
        return b"embstr" if len(value) <= 44 else b"raw"
    if cls is deque:
        return b"quicklist"  # Redis 7.0 has no listpack-encoded lists
    if cls is dict:
        return b"listpack" if hash_is_listpack(value, config) else b"hashtable"
    if cls is set:
        return b"intset" if set_is_intset(value, config) else b"hashtable"
    if cls is ZSet:
        return b"listpack" if zset_is_listpack(value, config) else b"skiplist"
    return b"unknown"


# Some writers leave a string in an encoding a fresh SET would not choose: APPEND and SETRANGE
# make it raw (even short or numeric ones), INCRBYFLOAT makes "16" an embstr. Values are plain
# bytes with no room for a flag, so each Database maps such keys to (the very object written,
# its encoding); a mark counts only while that object is still the key's value (an overwrite by
# any module makes it stale). The string commands drop marks on overwrite (1-byte values are
# shared singletons, so identity alone cannot tell them apart); stale marks are swept whenever
# a db's marks double.
ENCODING_MARKS: dict[Database, dict[bytes, tuple[Any, bytes]]] = {}
_sweep_at: dict[Database, int] = {}


def mark_encoding(db: Database, key: bytes, value: Any, encoding: bytes) -> None:
    marks = ENCODING_MARKS.get(db)
    if marks is None:
        marks = ENCODING_MARKS[db] = {}
    marks[key] = (value, encoding)
    if len(marks) > _sweep_at.get(db, 1024):
        data = db.data
        for k in [k for k, (v, _) in marks.items() if data.get(k) is not v]:
            del marks[k]
        _sweep_at[db] = max(1024, 2 * len(marks))


_BIG_ENCODINGS = (b"hashtable", b"skiplist")
_STICKY_MAX_LEN = 512  # the largest small-encoding threshold (set-max-intset-entries)


def encoding_for(db: Database, key: bytes, value: Any) -> bytes:
    """The encoding Redis would report for `key` now: a recorded one (a string written by
    APPEND/SETRANGE/INCRBYFLOAT, a collection that was seen converted), else the one its
    contents imply. A collection seen in its big encoding stays there, as Redis never
    converts back when it shrinks; modules can record a conversion the moment it happens
    with `mark_encoding(db, key, container, b"hashtable")`."""
    enc = marked_encoding(db, key, value)
    if enc is not None:
        return enc
    enc = object_encoding(value, db.engine.config)
    if enc in _BIG_ENCODINGS and len(value) <= _STICKY_MAX_LEN:
        # Only a collection small enough to pass for listpack/intset needs remembering; the
        # bound also caps what a stale mark (the key deleted elsewhere) keeps alive until the
        # next sweep.
        mark_encoding(db, key, value, enc)
    return enc


def mark_raw(db: Database, key: bytes, value: bytes) -> None:
    """APPEND/SETRANGE results: raw whatever the length (only short ones need a mark)."""
    if len(value) > 44:
        unmark_encoding(db, key)
    else:
        mark_encoding(db, key, value, b"raw")


def unmark_encoding(db: Database, key: bytes) -> None:
    marks = ENCODING_MARKS.get(db)
    if marks:
        marks.pop(key, None)


def marked_encoding(db: Database, key: bytes, value: Any) -> bytes | None:
    marks = ENCODING_MARKS.get(db)
    if marks is None:
        return None
    mark = marks.get(key)
    return mark[1] if mark is not None and mark[0] is value else None


def move_encoding_mark(
    src: Database, key: bytes, dst: Database, newkey: bytes, value: Any, copied: Any = None
) -> None:
    """RENAME/MOVE/COPY keep the encoding (Redis moves the object, or duplicates it in the same
    encoding); `copied` is the object now stored at `newkey` when it is not `value` itself."""
    enc = marked_encoding(src, key, value)
    if enc is not None:
        mark_encoding(dst, newkey, value if copied is None else copied, enc)
    else:
        unmark_encoding(dst, newkey)


def swap_encoding_marks(a: Database, b: Database) -> None:
    ma, mb = ENCODING_MARKS.pop(a, None), ENCODING_MARKS.pop(b, None)
    if mb is not None:
        ENCODING_MARKS[a] = mb
    if ma is not None:
        ENCODING_MARKS[b] = ma


def clear_encoding_marks(db: Database) -> None:
    ENCODING_MARKS.pop(db, None)


# --- score formatting as ZSCAN prints it -------------------------------------------------------

_LL_HALF = (2**63 - 1) // 2


def listpack_score(f: float) -> bytes:
    """A score as a listpack-encoded zset stores it (Redis's d2string)."""
    if f != f:
        return b"nan"
    if f == 0:
        return b"0"
    if f in (float("inf"), float("-inf")):
        return b"inf" if f > 0 else b"-inf"
    if -_LL_HALF <= f <= _LL_HALF and f == int(f):
        return b"%d" % int(f)
    return b"%.17g" % f


def skiplist_score(f: float) -> bytes:
    """A score as ZSCAN prints it for a skiplist-encoded zset (Redis's ld2string, %.17Lg)."""
    if f in (float("inf"), float("-inf")):
        return b"inf" if f > 0 else b"-inf"
    return b"%.17g" % f


# --- the snapshot cache ------------------------------------------------------------------------


class _Snapshot:
    __slots__ = ("container", "items")

    def __init__(self, container: Any, items: list[bytes]) -> None:
        self.container = container
        self.items = items


class ScanCache:
    """Bounded LRU of scan snapshots, keyed by snapshot id (the high half of a cursor)."""

    def __init__(self) -> None:
        self.snaps: OrderedDict[int, _Snapshot] = OrderedDict()
        self.next_id = 1
        self.wrapped = False
        self.total_items = 0

    def start(self, container: Any, items: list[bytes]) -> int:
        sid = self.next_id
        if sid < _POS_MASK:
            self.next_id = sid + 1
        else:
            self.next_id = 1
            self.wrapped = True
        old = self.snaps.pop(sid, None)
        if old is not None:
            self.total_items -= len(old.items)
        self.snaps[sid] = _Snapshot(container, items)
        self.total_items += len(items)
        while len(self.snaps) > 1 and (
            len(self.snaps) > MAX_SNAPSHOTS or self.total_items > MAX_SNAPSHOT_ITEMS
        ):
            _, ev = self.snaps.popitem(last=False)
            self.total_items -= len(ev.items)
        return sid

    def issued(self, sid: int) -> bool:
        """Whether a cursor with this snapshot id can have come from this server."""
        return 0 < sid <= _POS_MASK and (self.wrapped or sid < self.next_id)

    def get(self, sid: int, container: Any) -> _Snapshot | None:
        snap = self.snaps.get(sid)
        if snap is None or snap.container is not container:
            return None
        self.snaps.move_to_end(sid)
        return snap

    def forget(self, container: Any) -> None:
        """Drop every snapshot of `container` (a flushed keyspace), releasing its keys now."""
        for sid in [sid for sid, snap in self.snaps.items() if snap.container is container]:
            self.drop(sid)

    def drop(self, sid: int) -> None:
        snap = self.snaps.pop(sid, None)
        if snap is not None:
            self.total_items -= len(snap.items)


_caches: weakref.WeakKeyDictionary[Engine, ScanCache] = weakref.WeakKeyDictionary()


def cache_for(engine: Engine) -> ScanCache:
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = ScanCache()
    return cache


def forget_container(engine: Engine, container: Any) -> None:
    cache = _caches.get(engine)
    if cache is not None and cache.snaps:
        cache.forget(container)


# --- argument parsing -------------------------------------------------------------------------


def parse_cursor(b: bytes) -> int:
    """Redis's parseScanCursorOrReply: strtoul base 10 (sign allowed, wraps), no spaces."""
    if b and b[0] in b" \t\n\r\x0b\x0c":
        raise CommandError(INVALID_CURSOR)
    s = b
    neg = False
    if s[:1] in (b"+", b"-"):
        neg = s[:1] == b"-"
        s = s[1:]
    if not s:
        if b:  # a lone sign: strtoul parses nothing and stops at the sign
            raise CommandError(INVALID_CURSOR)
        return 0
    if not s.isdigit() or not s.isascii():
        raise CommandError(INVALID_CURSOR)
    v = int(s)
    if v >= _U64:
        raise CommandError(INVALID_CURSOR)
    return (_U64 - v) % _U64 if neg else v


def _parse_options(argv: list[bytes], start: int, allow_type: bool) -> tuple[int, bytes | None, bytes | None]:
    count = 10
    pattern: bytes | None = None
    typ: bytes | None = None
    i = start
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        if opt == b"count" and i + 1 < n:
            count = parse_int(argv[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif opt == b"match" and i + 1 < n:
            pattern = argv[i + 1]
            if pattern == b"*":
                pattern = None
        elif opt == b"type" and allow_type and i + 1 < n:
            typ = argv[i + 1].lower()
        else:
            raise CommandError(SYNTAX)
        i += 2
    return count, pattern, typ


# --- the scan itself ---------------------------------------------------------------------------


def _reply(cursor: int, parts: list[bytes]) -> bytes:
    return b"*2\r\n" + resp.bulk(b"%d" % cursor) + resp.array_header(len(parts)) + b"".join(parts)


def scan_generic(
    c: Client,
    argv: list[bytes],
    container: Any,
    cursor_arg_index: int,
    kind: str,
    encoding: bytes | None = None,
) -> bytes:
    """SCAN/HSCAN/SSCAN/ZSCAN: `argv[cursor_arg_index]` is the cursor, options follow it.

    `kind` is "db" (container: the Database), "hash" (dict), "set" (set) or "zset" (ZSet);
    `container` None means the key is missing (the empty scan reply, after the cursor check).
    `encoding` (default: computed from the contents) decides whether a collection is small
    (listpack/intset: returned whole) or paged. Replies: keys/members; field,value pairs for
    hashes; member,score pairs for zsets.
    """
    cursor = parse_cursor(argv[cursor_arg_index])
    if container is None:
        return EMPTY_SCAN
    count, pattern, typ = _parse_options(argv, cursor_arg_index + 1, kind == "db")
    if encoding is None and kind != "db":
        encoding = object_encoding(container, c.engine.config)
    if kind == "hash":
        if encoding == b"listpack":
            return _whole_hash(container, pattern)
        ident = container
    elif kind == "set":
        if encoding == b"intset":
            members = sorted(container, key=int)
            if pattern is not None:
                members = [m for m in members if glob_match(pattern, m)]
            return _reply(0, [resp.bulk(m) for m in members])
        ident = container
    elif kind == "zset":
        if encoding == b"listpack":
            return _whole_zset(container, pattern)
        ident = container.scores  # the member -> score dict: iterable and stable
    elif kind == "db":
        ident = container.data
    else:
        raise ValueError(f"unknown scan kind {kind!r}")

    cache = cache_for(c.engine)
    sid = cursor >> _POS_BITS
    pos = cursor & _POS_MASK
    snap = cache.get(sid, ident) if cursor else None
    if snap is None:
        if cursor and not cache.issued(sid):
            return EMPTY_SCAN
        if not ident:
            return EMPTY_SCAN
        sid = cache.start(ident, list(ident))
        pos = 0
        snap = cache.snaps[sid]
    items = snap.items
    end = len(items)
    budget = count * 10  # Redis visits at most 10*COUNT buckets per call
    picked: list[bytes] = []
    while pos < end and budget > 0 and len(picked) < count:
        k = items[pos]
        pos += 1
        budget -= 1
        if k in ident:
            picked.append(k)
    if pos >= end:
        cache.drop(sid)
        next_cursor = 0
    else:
        next_cursor = (sid << _POS_BITS) | pos
    parts: list[bytes] = []
    if kind == "db":
        _emit_keys(container, picked, pattern, typ, parts)
    elif kind == "hash":
        for f in picked:
            if pattern is None or glob_match(pattern, f):
                parts.append(resp.bulk(f))
                parts.append(resp.bulk(container[f]))
    elif kind == "set":
        for m in picked:
            if pattern is None or glob_match(pattern, m):
                parts.append(resp.bulk(m))
    else:
        scores = container.scores
        for m in picked:
            if pattern is None or glob_match(pattern, m):
                parts.append(resp.bulk(m))
                parts.append(resp.bulk(skiplist_score(scores[m])))
    return _reply(next_cursor, parts)


def _emit_keys(
    db: Any, picked: list[bytes], pattern: bytes | None, typ: bytes | None, parts: list[bytes]
) -> None:
    """Keys of a SCAN batch after MATCH, TYPE and expiry filtering (Redis's order of checks)."""
    data = db.data
    expires = db.expires
    now = now_ms() if expires else 0
    for k in picked:
        if pattern is not None and not glob_match(pattern, k):
            continue
        v = data.get(k)
        if v is None:
            continue
        if typ is not None and type_name(v) != typ:
            continue
        if expires:
            when = expires.get(k)
            if when is not None and when <= now:
                db.lookup(k)  # expire it now (deletes and propagates DEL), as Redis does
                continue
        parts.append(resp.bulk(k))


def _whole_hash(h: dict[bytes, bytes], pattern: bytes | None) -> bytes:
    parts: list[bytes] = []
    for f, v in h.items():
        if pattern is None or glob_match(pattern, f):
            parts.append(resp.bulk(f))
            parts.append(resp.bulk(v))
    return _reply(0, parts)


def _whole_zset(z: ZSet, pattern: bytes | None) -> bytes:
    parts: list[bytes] = []
    for m, score in z:
        if pattern is None or glob_match(pattern, m):
            parts.append(resp.bulk(m))
            parts.append(resp.bulk(listpack_score(score)))
    return _reply(0, parts)


_KIND_CLASS: dict[str, type] = {"hash": dict, "set": set, "zset": ZSet}


def scan_key(c: Client, argv: list[bytes], kind: str) -> bytes:
    """HSCAN/SSCAN/ZSCAN key cursor [MATCH p] [COUNT n], with Redis's order of checks:
    invalid cursor, then missing key (empty reply), then WRONGTYPE, then options."""
    parse_cursor(argv[2])
    db = c.db
    v = db.lookup(argv[1])
    if v is None:
        return EMPTY_SCAN
    if v.__class__ is not _KIND_CLASS[kind]:
        raise CommandError(WRONGTYPE)
    return scan_generic(c, argv, v, 2, kind, encoding_for(db, argv[1], v))
