"""Sorted-set commands, Redis 7.0 semantics (value type: `server.datatypes.ZSet`).

A ZSet is a dict member -> score plus a SortedList of (score, member), which orders exactly like
Redis's skiplist (score, then bytewise member). Ranges become bisections on that list.

Redis parses numbers in three different ways here, and the differences are visible:
- scores, increments and weights (string2d): the whole string must be a strtod float, no
  leading space, no NaN, no overflow to +-inf or underflow to 0 ("ERR value is not a valid float");
- ZRANGEBYSCORE-style bounds (zslParseRange): plain strtod, so leading spaces, overflow to inf and
  even an empty string (0) are accepted ("ERR min or max is not a float");
- lex bounds: '[' or '(' prefixed, or exactly '-' / '+' ("ERR min or max not valid string range item").
Scores are replied with %.17g (`resp.double`), and -0 is stored as 0, as listpack storage does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from server.blocking import Block
from server.client import Client
from server.commands.args import INT64_MAX, block_deadline, parse_int, parse_timeout
from server.commands.lists import mpop_keys, parse_mpop, range_long, served_key_only
from server.commands.registry import command
from server.commands.scan import encoding_for, scan_key
from server.datatypes import ZSet
from server.errors import NOT_FLOAT, SYNTAX, WRONGTYPE, CommandError
from server.keyspace import Database
from server.protocol import resp

_NOT_FLOAT_RANGE = "ERR min or max is not a float"
_NOT_LEX_RANGE = "ERR min or max not valid string range item"
_NAN_SCORE = "ERR resulting score is not a number (NaN)"
_POSITIVE = "ERR value is out of range, must be positive"
_INF = math.inf

# --- number parsing ----------------------------------------------------------------------------

_DEC = rb"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_HEX = rb"0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?"
_NAN = rb"nan(?:\([0-9A-Za-z_]*\))?"
_FLOAT_RE = re.compile(
    rb"([+-]?)(?:(" + _DEC + rb")|(" + _HEX + rb")|(inf(?:inity)?)|(" + _NAN + rb"))", re.I
)
_LEADING_SPACE = b" \t\n\r\x0b\x0c"


def _strtod(text: bytes) -> tuple[float, bool] | None:
    """glibc strtod over all of `text`: (value, ERANGE?), or None if it is not entirely a float."""
    m = _FLOAT_RE.fullmatch(text)
    if m is None:
        return None
    sign, dec, hexa, inf, _nan = m.groups()
    if dec is not None:
        v = float(dec)
        erange = v == _INF or (v == 0.0 and dec.lstrip(b"0.")[:1] not in (b"", b"e", b"E"))
    elif hexa is not None:
        try:
            v = float.fromhex(hexa.decode())
        except OverflowError:
            v = _INF
        erange = v == _INF or (v == 0.0 and hexa[2:].split(b"p")[0].split(b"P")[0].strip(b"0.") != b"")
    elif inf is not None:
        v, erange = _INF, False
    else:
        v, erange = math.nan, False
    return (-v if sign == b"-" else v), erange


def parse_score(b: bytes, err: str = NOT_FLOAT) -> float:
    """Redis's string2d (scores, increments, weights)."""
    if not b or b[0] in _LEADING_SPACE:
        raise CommandError(err)
    r = _strtod(b)
    if r is None:
        raise CommandError(err)
    v, erange = r
    if erange or v != v:
        raise CommandError(err)
    return v


def _range_value(b: bytes) -> float:
    """One zslParseRange bound without its '(' (strtod on a C string, isnan rejected)."""
    text = b.split(b"\0", 1)[0]
    if not text:
        return 0.0  # strtod converts nothing and stops at the end: Redis reads it as 0
    r = _strtod(text.lstrip(_LEADING_SPACE))
    if r is None or r[0] != r[0]:
        raise CommandError(_NOT_FLOAT_RANGE)
    return r[0]


def parse_score_range(bmin: bytes, bmax: bytes) -> tuple[float, bool, float, bool]:
    """(min, min exclusive, max, max exclusive) of a ZRANGEBYSCORE-style range."""
    minex = bmin[:1] == b"("
    maxex = bmax[:1] == b"("
    mn = _range_value(bmin[1:] if minex else bmin)
    mx = _range_value(bmax[1:] if maxex else bmax)
    return mn, minex, mx, maxex


# A lex bound: (kind, value, exclusive) with kind -1 for '-', 1 for '+', 0 for a member.
LexBound = tuple[int, bytes, bool]


def _lex_item(b: bytes) -> LexBound:
    """One zslParseLexRangeItem: '+', '-', '(member' or '[member'."""
    c = b[:1]
    if c == b"+" or c == b"-":
        if len(b) > 1 and b[1] != 0:  # C compares c[1] to '\0'
            raise CommandError(_NOT_LEX_RANGE)
        return (1 if c == b"+" else -1), b"", True
    if c == b"(":
        return 0, b[1:], True
    if c == b"[":
        return 0, b[1:], False
    raise CommandError(_NOT_LEX_RANGE)


def parse_lex_range(bmin: bytes, bmax: bytes) -> tuple[LexBound, LexBound]:
    """Both bounds of a BYLEX range, with Redis's single error text."""
    try:
        return _lex_item(bmin), _lex_item(bmax)
    except CommandError:
        raise CommandError(_NOT_LEX_RANGE) from None


def _gte_min(m: bytes, bound: LexBound) -> bool:
    """Member >= the lex min bound (zslLexValueGteMin)."""
    kind, v, ex = bound
    if kind:
        return kind < 0
    return m > v if ex else m >= v


def _lte_max(m: bytes, bound: LexBound) -> bool:
    """Member <= the lex max bound (zslLexValueLteMax)."""
    kind, v, ex = bound
    if kind:
        return kind > 0
    return m < v if ex else m <= v


# --- ranges on the sorted list -------------------------------------------------------------------


def score_span(zs: ZSet, mn: float, minex: bool, mx: float, maxex: bool) -> tuple[int, int]:
    """[lo, hi) positions of the entries within the score range (lo >= hi: empty)."""
    order = zs.order
    n = len(order)
    if minex:
        lo = n if mn == _INF else order.bisect_left((math.nextafter(mn, _INF),))
    else:
        lo = order.bisect_left((mn,))
    if maxex:
        hi = order.bisect_left((mx,))
    else:
        hi = n if mx == _INF else order.bisect_left((math.nextafter(mx, _INF),))
    return lo, hi


def _lex_pos(zs: ZSet, score: float, bound: LexBound, is_min: bool) -> int:
    """Bisection position of a lex bound in a zset whose scores are all `score`."""
    kind, v, ex = bound
    order = zs.order
    if kind:
        return 0 if kind < 0 else len(order)
    if is_min != ex:  # [min or (max: first entry >= v
        return int(order.bisect_left((score, v)))
    return int(order.bisect_right((score, v)))


def _lex_maybe_in_range(order: Any, bmin: LexBound, bmax: LexBound) -> bool:
    """zzlIsInLexRange: the range is not empty in itself, the last entry is >= min and the
    first entry is <= max."""
    cmp = (bmin[0], bmin[1]) > (bmax[0], bmax[1]) or (
        (bmin[0], bmin[1]) == (bmax[0], bmax[1]) and (bmin[2] or bmax[2])
    )
    return not cmp and _gte_min(order[-1][1], bmin) and _lte_max(order[0][1], bmax)


def _lex_start(zs: ZSet, bmin: LexBound, bmax: LexBound, reverse: bool) -> int | None:
    """Where Redis's walk of a mixed-score zset starts (zzlFirst/LastInLexRange), or None."""
    order = zs.order
    n = len(order)
    if not n or not _lex_maybe_in_range(order, bmin, bmax):
        return None
    if not reverse:
        for i in range(n):
            if _gte_min(order[i][1], bmin):
                return i if _lte_max(order[i][1], bmax) else None
        return None
    for i in range(n - 1, -1, -1):
        if _lte_max(order[i][1], bmax):
            return i if _gte_min(order[i][1], bmin) else None
    return None


def _uniform(zs: ZSet) -> bool:
    """All scores equal (what lex ranges are meant for): lex ranges are then bisections."""
    order = zs.order
    return not order or order[0][0] == order[-1][0]


def lex_span(zs: ZSet, bmin: LexBound, bmax: LexBound) -> tuple[int, int]:
    """[lo, hi) positions of the entries in the lex range (ZLEXCOUNT, ZREMRANGEBYLEX).

    With equal scores this is a bisection; otherwise Redis's listpack walk (defined behaviour
    for small zsets): from the first entry in range, on while entries are <= max."""
    order = zs.order
    if _uniform(zs):
        if not order:
            return 0, 0
        score = order[0][0]
        return _lex_pos(zs, score, bmin, True), _lex_pos(zs, score, bmax, False)
    lo = _lex_start(zs, bmin, bmax, False)
    if lo is None:
        return 0, 0
    hi = lo
    while hi < len(order) and _lte_max(order[hi][1], bmax):
        hi += 1
    return lo, hi


def lex_entries(
    zs: ZSet, bmin: LexBound, bmax: LexBound, reverse: bool, offset: int, limit: int
) -> list[tuple[float, bytes]]:
    """The entries ZRANGE BYLEX [REV] [LIMIT] returns (the offset is skipped before checking)."""
    if _uniform(zs):
        lo, hi = lex_span(zs, bmin, bmax)
        return _entries(zs, *_limited(lo, hi, offset, limit, reverse), reverse)
    i = _lex_start(zs, bmin, bmax, reverse)
    if i is None or offset < 0:
        return []
    order = zs.order
    step = -1 if reverse else 1
    i += step * offset
    out: list[tuple[float, bytes]] = []
    while 0 <= i < len(order) and (limit < 0 or len(out) < limit):
        e = order[i]
        if not (_gte_min(e[1], bmin) if reverse else _lte_max(e[1], bmax)):
            break
        out.append(e)
        i += step
    return out


def _rank_span(n: int, start: int, end: int) -> tuple[int, int]:
    """Redis's index sanitising for rank ranges: [lo, hi) (empty when lo >= hi)."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return 0, 0
    if end >= n:
        end = n - 1
    return start, end + 1


def _limited(lo: int, hi: int, offset: int, limit: int, reverse: bool) -> tuple[int, int]:
    """Apply LIMIT offset count to the [lo, hi) span, from the top end when reversed."""
    if offset < 0:
        return 0, 0
    if reverse:
        hi -= offset
        if limit >= 0:
            lo = max(lo, hi - limit)
    else:
        lo += offset
        if limit >= 0:
            hi = min(hi, lo + limit)
    return lo, hi


def _entries(zs: ZSet, lo: int, hi: int, reverse: bool) -> list[tuple[float, bytes]]:
    """The (score, member) entries at positions [lo, hi), reversed on request."""
    if lo >= hi:
        return []
    return list(zs.order.islice(lo, hi, reverse=reverse))


# --- replies -----------------------------------------------------------------------------------------


def _dbl(f: float, proto: int) -> bytes:
    """A score reply: %.17g as a bulk string (RESP2) or a double (RESP3)."""
    s = b"%.17g" % f
    if proto == 3:
        return b"," + s + b"\r\n"
    return b"$%d\r\n%b\r\n" % (len(s), s)


def entries_reply(entries: list[tuple[float, bytes]], withscores: bool, proto: int) -> bytes:
    """Members, or member/score pairs (flat in RESP2, [member, double] arrays in RESP3)."""
    bulk = resp.bulk
    if not withscores:
        return resp.array_header(len(entries)) + b"".join([bulk(m) for _, m in entries])
    if proto == 2:
        return resp.array_header(2 * len(entries)) + b"".join([bulk(m) + _dbl(s, 2) for s, m in entries])
    return resp.array_header(len(entries)) + b"".join([b"*2\r\n" + bulk(m) + _dbl(s, 3) for s, m in entries])


def _zset(db: Database, key: bytes) -> ZSet | None:
    """The zset at `key`, None if missing; WRONGTYPE for any other type."""
    v = db.lookup(key)
    if v is None or v.__class__ is ZSet:
        return v
    raise CommandError(WRONGTYPE)


def _store(c: Client, dst: bytes, entries: list[tuple[float, bytes]], added_one_by_one: bool) -> bytes:
    """Write a result zset to `dst` (dropping its TTL), or delete `dst` if the result is empty.

    A -0 score survives only where Redis keeps the result skiplist-encoded: ZRANGESTORE adds the
    entries one by one to a zset created for their number; the set operations convert their
    result to a listpack at the end when it fits."""
    if any(not s for s, _ in entries):
        cfg = c.engine.config
        max_n, max_len = cfg.zset_max_listpack_entries, cfg.zset_max_listpack_value
        if added_one_by_one:
            lp = len(entries) <= max_n
            fixed = []
            for n, (s, m) in enumerate(entries, 1):
                lp = lp and n <= max_n and len(m) <= max_len
                fixed.append((0.0 if lp and not s else s, m))
            entries = fixed
        elif len(entries) <= max_n and all(len(m) <= max_len for _, m in entries):
            entries = [(s + 0.0, m) for s, m in entries]
    zs = ZSet()
    scores = zs.scores
    for s, m in entries:
        scores[m] = s
    db = c.db
    if scores:
        zs.order.update((s, m) for m, s in scores.items())
        db.set(dst, zs)
        c.engine.dirty += 1
        return resp.integer(len(scores))
    if db.delete(dst):
        c.engine.dirty += 1
    return resp.ZERO


def _first_key(argv: list[bytes]) -> list[bytes]:
    """The destination of ZRANGESTORE and the *STORE set operations: the only key they write."""
    return argv[1:2]


# --- ZADD / ZINCRBY / ZREM -------------------------------------------------------------------------

_NX, _XX, _GT, _LT, _INCR, _CH = 1, 2, 4, 8, 16, 32
_ZADD_OPTS = {b"nx": _NX, b"xx": _XX, b"gt": _GT, b"lt": _LT, b"incr": _INCR, b"ch": _CH}


def _zadd(c: Client, argv: list[bytes], flags: int) -> bytes:
    """zaddGenericCommand (ZADD and ZINCRBY): option checks in Redis's order, then scores."""
    n = len(argv)
    i = 2
    opts = _ZADD_OPTS
    while i < n:
        f = opts.get(argv[i].lower())
        if f is None:
            break
        flags |= f
        i += 1
    elements = n - i
    if elements % 2 or not elements:
        raise CommandError(SYNTAX)
    if flags & _NX and flags & _XX:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    if (flags & _NX and flags & (_GT | _LT)) or (flags & _GT and flags & _LT):
        raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    incr = flags & _INCR
    if incr and elements > 2:
        raise CommandError("ERR INCR option supports a single increment-element pair")
    scores = [parse_score(argv[j]) for j in range(i, n, 2)]
    db = c.db
    key = argv[1]
    zs = db.lookup(key)
    zeros = 0.0 in scores  # a -0 is stored as 0 while the zset is listpack-encoded
    if zs is None:
        if flags & _XX:
            if incr:
                return resp.null(c.resp)
            return resp.ZERO
        zs = ZSet()
        db.set(key, zs)
        lp = zeros and _listpack_fits(c, 1, len(argv[i + 1]))  # 7.0 looks at the first member only
    elif zs.__class__ is not ZSet:
        raise CommandError(WRONGTYPE)
    else:
        # The encoding Redis has now: SORT, for one, leaves a small zset skiplist-encoded.
        lp = zeros and encoding_for(db, key, zs) == b"listpack"
    sd = zs.scores
    order = zs.order
    added = updated = 0
    if not flags & ~_CH and not zeros:  # plain ZADD [CH]: the hot path
        for j, s in enumerate(scores):
            m = argv[i + 2 * j + 1]
            old = sd.get(m)
            if old is None:
                sd[m] = s
                order.add((s, m))
                added += 1
            elif old != s:
                order.remove((old, m))
                sd[m] = s
                order.add((s, m))
                updated += 1
        if added or updated:
            c.engine.dirty += added + updated
        return resp.integer(added + updated if flags & _CH else added)
    nx, xx, gt, lt = flags & _NX, flags & _XX, flags & _GT, flags & _LT
    processed = 0
    score = 0.0
    for j, s in enumerate(scores):
        m = argv[i + 2 * j + 1]
        old = sd.get(m)
        if old is not None:
            if nx:
                continue
            if incr:
                s += old
                if s != s:
                    if added or updated:
                        c.engine.dirty += added + updated
                    raise CommandError(_NAN_SCORE)
            if (lt and s >= old) or (gt and s <= old):
                continue
            score = s
            processed += 1
            if s != old:
                if lp and not s:
                    s = 0.0
                order.remove((old, m))
                sd[m] = s
                order.add((s, m))
                updated += 1
        elif not xx:
            score = s
            processed += 1
            if lp:
                lp = _listpack_fits(c, len(sd) + 1, len(m))  # else Redis converts to a skiplist
                if lp and not s:
                    s = 0.0
            sd[m] = s
            order.add((s, m))
            added += 1
    if added or updated:
        c.engine.dirty += added + updated
    elif not zs:
        db.delete(key)  # nothing was added to the zset this call created
    if incr:
        return _dbl(score, c.resp) if processed else resp.null(c.resp)
    return resp.integer(added + updated if flags & _CH else added)


def _listpack_fits(c: Client, entries: int, member_len: int) -> bool:
    """Whether a zset of `entries` entries with this member stays listpack-encoded."""
    cfg = c.engine.config
    return entries <= cfg.zset_max_listpack_entries and member_len <= cfg.zset_max_listpack_value


@command("zadd", -4, "write denyoom fast", 1, 1, 1, group="sorted-set")
def zadd(c: Client, argv: list[bytes]) -> bytes:
    return _zadd(c, argv, 0)


@command("zincrby", 4, "write denyoom fast", 1, 1, 1, group="sorted-set")
def zincrby(c: Client, argv: list[bytes]) -> bytes:
    return _zadd(c, argv, _INCR)


@command("zrem", -3, "write fast", 1, 1, 1, group="sorted-set")
def zrem(c: Client, argv: list[bytes]) -> bytes:
    db = c.db
    key = argv[1]
    zs = _zset(db, key)
    if zs is None:
        return resp.ZERO
    deleted = 0
    for m in islice(argv, 2, None):
        if zs.remove(m):
            deleted += 1
    if deleted:
        if not zs:
            db.delete(key)
        c.engine.dirty += deleted
    return resp.integer(deleted)


# --- point reads -----------------------------------------------------------------------------------


@command("zscore", 3, "readonly fast", 1, 1, 1, group="sorted-set")
def zscore(c: Client, argv: list[bytes]) -> bytes:
    zs = _zset(c.db, argv[1])
    s = None if zs is None else zs.scores.get(argv[2])
    if s is None:
        return resp.NULL3 if c.resp == 3 else resp.NULL2
    return _dbl(s, c.resp)


@command("zmscore", -3, "readonly fast", 1, 1, 1, group="sorted-set")
def zmscore(c: Client, argv: list[bytes]) -> bytes:
    zs = _zset(c.db, argv[1])
    proto = c.resp
    nul = resp.null(proto)
    scores = {} if zs is None else zs.scores
    parts = []
    for m in islice(argv, 2, None):
        s = scores.get(m)
        parts.append(nul if s is None else _dbl(s, proto))
    return resp.array(parts)


@command("zcard", 2, "readonly fast", 1, 1, 1, group="sorted-set")
def zcard(c: Client, argv: list[bytes]) -> bytes:
    zs = _zset(c.db, argv[1])
    return resp.ZERO if zs is None else resp.integer(len(zs))


def _rank(c: Client, argv: list[bytes], reverse: bool) -> bytes:
    """ZRANK/ZREVRANK."""
    zs = _zset(c.db, argv[1])
    if zs is None:
        return resp.null(c.resp)
    r = zs.rank(argv[2])
    if r is None:
        return resp.null(c.resp)
    return resp.integer(len(zs) - 1 - r if reverse else r)


@command("zrank", 3, "readonly fast", 1, 1, 1, group="sorted-set")
def zrank(c: Client, argv: list[bytes]) -> bytes:
    return _rank(c, argv, False)


@command("zrevrank", 3, "readonly fast", 1, 1, 1, group="sorted-set")
def zrevrank(c: Client, argv: list[bytes]) -> bytes:
    return _rank(c, argv, True)


@command("zcount", 4, "readonly fast", 1, 1, 1, group="sorted-set")
def zcount(c: Client, argv: list[bytes]) -> bytes:
    mn, minex, mx, maxex = parse_score_range(argv[2], argv[3])
    zs = _zset(c.db, argv[1])
    if zs is None:
        return resp.ZERO
    lo, hi = score_span(zs, mn, minex, mx, maxex)
    return resp.integer(max(hi - lo, 0))


@command("zlexcount", 4, "readonly fast", 1, 1, 1, group="sorted-set")
def zlexcount(c: Client, argv: list[bytes]) -> bytes:
    bmin, bmax = parse_lex_range(argv[2], argv[3])
    zs = _zset(c.db, argv[1])
    if zs is None:
        return resp.ZERO
    lo, hi = lex_span(zs, bmin, bmax)
    return resp.integer(max(hi - lo, 0))


# --- ZRANGE and friends ----------------------------------------------------------------------------

_AUTO, _RANK, _SCORE, _LEX = 0, 1, 2, 3


def _zrange_generic(
    c: Client, argv: list[bytes], start: int, dst: bytes | None, rangetype: int, rev: bool | None
) -> bytes:
    """zrangeGenericCommand: ZRANGE (BYSCORE/BYLEX/REV/LIMIT), the legacy forms, ZRANGESTORE."""
    key = argv[start]
    minidx, maxidx = start + 1, start + 2
    withscores = False
    offset, limit = 0, -1
    j, n = start + 3, len(argv)
    while j < n:
        opt = argv[j].lower()
        left = n - j - 1
        if dst is None and opt == b"withscores":
            withscores = True
        elif opt == b"limit" and left >= 2:
            offset = parse_int(argv[j + 1])
            limit = parse_int(argv[j + 2])
            j += 2
        elif rev is None and opt == b"rev":
            rev = True
        elif rangetype == _AUTO and opt == b"bylex":
            rangetype = _LEX
        elif rangetype == _AUTO and opt == b"byscore":
            rangetype = _SCORE
        else:
            raise CommandError(SYNTAX)
        j += 1
    reverse = bool(rev)
    if rangetype == _AUTO:
        rangetype = _RANK
    if limit != -1 and rangetype == _RANK:
        raise CommandError(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        )
    if withscores and rangetype == _LEX:
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    if reverse and rangetype != _RANK:
        minidx, maxidx = maxidx, minidx
    if rangetype == _RANK:
        rstart = parse_int(argv[minidx])
        rend = parse_int(argv[maxidx])
    elif rangetype == _SCORE:
        srange = parse_score_range(argv[minidx], argv[maxidx])
    else:
        lrange = parse_lex_range(argv[minidx], argv[maxidx])
    zs = _zset(c.db, key)
    if zs is None:
        return resp.EMPTY_ARRAY if dst is None else _store(c, dst, [], True)
    if rangetype == _RANK:
        lo, hi = _rank_span(len(zs), rstart, rend)
        if reverse:
            size = len(zs)
            lo, hi = size - hi, size - lo
    elif offset > 0 and offset >= len(zs):
        lo = hi = 0
    elif rangetype == _SCORE:
        lo, hi = _limited(*score_span(zs, *srange), offset, limit, reverse)
    else:
        entries = lex_entries(zs, lrange[0], lrange[1], reverse, offset, limit)
        return entries_reply(entries, withscores, c.resp) if dst is None else _store(c, dst, entries, True)
    entries = _entries(zs, lo, hi, reverse)
    if dst is not None:
        return _store(c, dst, entries, True)
    return entries_reply(entries, withscores, c.resp)


@command("zrange", -4, "readonly", 1, 1, 1, group="sorted-set")
def zrange(c: Client, argv: list[bytes]) -> bytes:
    return _zrange_generic(c, argv, 1, None, _AUTO, None)


@command("zrangestore", -5, "write denyoom", 1, 2, 1, group="sorted-set", written_keys_fn=_first_key)
def zrangestore(c: Client, argv: list[bytes]) -> bytes:
    return _zrange_generic(c, argv, 2, argv[1], _AUTO, None)


@command("zrevrange", -4, "readonly", 1, 1, 1, group="sorted-set")
def zrevrange(c: Client, argv: list[bytes]) -> bytes:
    return _zrange_generic(c, argv, 1, None, _RANK, True)


@command("zrangebyscore", -4, "readonly", 1, 1, 1, group="sorted-set")
def zrangebyscore(c: Client, argv: list[bytes]) -> bytes:
    return _zrange_generic(c, argv, 1, None, _SCORE, False)


@command("zrevrangebyscore", -4, "readonly", 1, 1, 1, group="sorted-set")
def zrevrangebyscore(c: Client, argv: list[bytes]) -> bytes:
    return _zrange_generic(c, argv, 1, None, _SCORE, True)


@command("zrangebylex", -4, "readonly", 1, 1, 1, group="sorted-set")
def zrangebylex(c: Client, argv: list[bytes]) -> bytes:
    return _zrange_generic(c, argv, 1, None, _LEX, False)


@command("zrevrangebylex", -4, "readonly", 1, 1, 1, group="sorted-set")
def zrevrangebylex(c: Client, argv: list[bytes]) -> bytes:
    return _zrange_generic(c, argv, 1, None, _LEX, True)


# --- ZREMRANGEBY* ----------------------------------------------------------------------------------


def _zremrange(c: Client, argv: list[bytes], rangetype: int) -> bytes:
    """ZREMRANGEBYRANK/SCORE/LEX: the range is parsed before the key is looked up."""
    if rangetype == _RANK:
        start = parse_int(argv[2])
        end = parse_int(argv[3])
    elif rangetype == _SCORE:
        srange = parse_score_range(argv[2], argv[3])
    else:
        lrange = parse_lex_range(argv[2], argv[3])
    db = c.db
    key = argv[1]
    zs = _zset(db, key)
    if zs is None:
        return resp.ZERO
    if rangetype == _RANK:
        lo, hi = _rank_span(len(zs), start, end)
    elif rangetype == _SCORE:
        lo, hi = score_span(zs, *srange)
    else:
        lo, hi = lex_span(zs, *lrange)
    if lo >= hi:
        return resp.ZERO
    order = zs.order
    scores = zs.scores
    for _, m in order.islice(lo, hi):
        del scores[m]
    del order[lo:hi]
    if not zs:
        db.delete(key)
    c.engine.dirty += hi - lo
    return resp.integer(hi - lo)


@command("zremrangebyrank", 4, "write", 1, 1, 1, group="sorted-set")
def zremrangebyrank(c: Client, argv: list[bytes]) -> bytes:
    return _zremrange(c, argv, _RANK)


@command("zremrangebyscore", 4, "write", 1, 1, 1, group="sorted-set")
def zremrangebyscore(c: Client, argv: list[bytes]) -> bytes:
    return _zremrange(c, argv, _SCORE)


@command("zremrangebylex", 4, "write", 1, 1, 1, group="sorted-set")
def zremrangebylex(c: Client, argv: list[bytes]) -> bytes:
    return _zremrange(c, argv, _LEX)


# --- pops ------------------------------------------------------------------------------------------


def _pop_entries(zs: ZSet, count: int, maximum: bool) -> list[tuple[float, bytes]]:
    """Remove and return up to `count` lowest (or highest) entries."""
    order = zs.order
    n = min(count, len(order))
    if maximum:
        out = list(order.islice(len(order) - n, len(order), reverse=True))
        del order[len(order) - n :]
    else:
        out = list(order.islice(0, n))
        del order[:n]
    scores = zs.scores
    for _, m in out:
        del scores[m]
    return out


def _pop_pairs(entries: list[tuple[float, bytes]], proto: int, nested: bool) -> bytes:
    """Member/score pairs, flat or as [member, score] arrays."""
    bulk = resp.bulk
    if nested:
        return b"".join([b"*2\r\n" + bulk(m) + _dbl(s, proto) for s, m in entries])
    return b"".join([bulk(m) + _dbl(s, proto) for s, m in entries])


def _zpop(c: Client, argv: list[bytes], maximum: bool) -> bytes:
    """ZPOPMIN/ZPOPMAX [count]: flat pairs, nested in RESP3 when a count is given."""
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = -1
    if len(argv) == 3:
        count = range_long(argv[2], 0, INT64_MAX, _POSITIVE)
    db = c.db
    key = argv[1]
    zs = _zset(db, key)
    if zs is None or count == 0:
        return resp.EMPTY_ARRAY
    nested = c.resp > 2 and count != -1
    entries = _pop_entries(zs, 1 if count == -1 else count, maximum)
    if not zs:
        db.delete(key)
    c.engine.dirty += len(entries)
    header = resp.array_header(len(entries) if nested else 2 * len(entries))
    return header + _pop_pairs(entries, c.resp, nested)


@command("zpopmin", -2, "write fast", 1, 1, 1, group="sorted-set")
def zpopmin(c: Client, argv: list[bytes]) -> bytes:
    return _zpop(c, argv, False)


@command("zpopmax", -2, "write fast", 1, 1, 1, group="sorted-set")
def zpopmax(c: Client, argv: list[bytes]) -> bytes:
    return _zpop(c, argv, True)


def _serve_zpop(c: Client, db: Database, key: bytes, zs: ZSet, maximum: bool, count: int) -> bytes:
    """Pop for BZPOP*/ZMPOP/BZMPOP from the non-empty `zs`; sets the propagation.

    count 0: BZPOPMIN/MAX's [key, member, score]; else *MPOP's [key, [[member, score], ...]]."""
    name = b"ZPOPMAX" if maximum else b"ZPOPMIN"
    proto = c.resp
    if count == 0:
        entries = _pop_entries(zs, 1, maximum)
        reply = b"*3\r\n" + resp.bulk(key) + _pop_pairs(entries, proto, False)
        c.prop = [[name, key]]
    else:
        entries = _pop_entries(zs, count, maximum)
        reply = (
            b"*2\r\n" + resp.bulk(key) + resp.array_header(len(entries)) + _pop_pairs(entries, proto, True)
        )
        c.prop = [[name, key, b"%d" % len(entries)]]
    db.signal_modified(key)  # this key only (lists.served_key_only)
    if not zs:
        db.delete(key)
    c.engine.dirty += len(entries)
    return reply


def _blocking_zpop(
    c: Client, keys: list[bytes], maximum: bool, count: int, timeout: float | None
) -> bytes | Block:
    """BZPOPMIN/BZPOPMAX (count 0) and BZMPOP: serve now, else block."""
    db = c.db
    for key in keys:
        zs = db.lookup(key)
        if zs is None:
            continue
        if zs.__class__ is not ZSet:
            raise CommandError(WRONGTYPE)
        return _serve_zpop(c, db, key, zs, maximum, count)
    if c.in_exec:
        return resp.null_array(c.resp)
    blk = Block(
        keys=list(dict.fromkeys(keys)),
        retry=lambda: None,
        on_timeout=resp.null_array(c.resp),
        deadline=block_deadline(timeout),
    )

    def retry() -> bytes | None:
        """Serve this waiter from the key that became ready, if it now is a non-empty zset."""
        ready = blk.ready_key
        for key in blk.keys if ready is None else (ready,):
            zs = db.lookup(key)
            if zs.__class__ is ZSet and zs:
                return _serve_zpop(c, db, key, zs, maximum, count)
        return None

    blk.retry = retry
    return blk


@command(
    "bzpopmin",
    -3,
    "write noscript blocking fast",
    1,
    -2,
    1,
    group="sorted-set",
    written_keys_fn=served_key_only,
)
def bzpopmin(c: Client, argv: list[bytes]) -> bytes | Block:
    timeout = parse_timeout(argv[-1])
    return _blocking_zpop(c, argv[1:-1], False, 0, timeout)


@command(
    "bzpopmax",
    -3,
    "write noscript blocking fast",
    1,
    -2,
    1,
    group="sorted-set",
    written_keys_fn=served_key_only,
)
def bzpopmax(c: Client, argv: list[bytes]) -> bytes | Block:
    timeout = parse_timeout(argv[-1])
    return _blocking_zpop(c, argv[1:-1], True, 0, timeout)


_MINMAX = (b"min", b"max")


@command(
    "zmpop",
    -4,
    "write movablekeys",
    keys_fn=mpop_keys(1),
    group="sorted-set",
    written_keys_fn=served_key_only,
)
def zmpop(c: Client, argv: list[bytes]) -> bytes:
    keys, minimum, count = parse_mpop(argv, 1, _MINMAX)
    db = c.db
    for key in keys:
        zs = db.lookup(key)
        if zs is None:
            continue
        if zs.__class__ is not ZSet:
            raise CommandError(WRONGTYPE)
        return _serve_zpop(c, db, key, zs, not minimum, count)
    return resp.null_array(c.resp)


@command(
    "bzmpop",
    -5,
    "write blocking movablekeys",
    keys_fn=mpop_keys(2),
    group="sorted-set",
    written_keys_fn=served_key_only,
)
def bzmpop(c: Client, argv: list[bytes]) -> bytes | Block:
    keys, minimum, count = parse_mpop(argv, 2, _MINMAX)
    timeout = parse_timeout(argv[1])
    return _blocking_zpop(c, keys, not minimum, count, timeout)


# --- ZRANDMEMBER -----------------------------------------------------------------------------------


@command("zrandmember", -2, "readonly", 1, 1, 1, group="sorted-set")
def zrandmember(c: Client, argv: list[bytes]) -> bytes:
    """ZRANDMEMBER [count [WITHSCORES]]: negative counts may repeat members."""
    n = len(argv)
    proto = c.resp
    rng = c.engine.rng
    if n == 2:
        zs = _zset(c.db, argv[1])
        if zs is None:
            return resp.null(proto)
        return resp.bulk(zs.order[rng.randrange(len(zs))][1])
    count = parse_int(argv[2])
    if count < -INT64_MAX:
        raise CommandError(f"ERR value is out of range, value must between {-INT64_MAX} and {INT64_MAX}")
    withscores = False
    if n > 4 or (n == 4 and argv[3].lower() != b"withscores"):
        raise CommandError(SYNTAX)
    if n == 4:
        withscores = True
        if count < -INT64_MAX // 2 or count > INT64_MAX // 2:
            raise CommandError("ERR value is out of range")
    zs = _zset(c.db, argv[1])
    if zs is None or count == 0:
        return resp.EMPTY_ARRAY
    order = zs.order
    size = len(order)
    if count < 0 or count == 1:
        picks = [order[rng.randrange(size)] for _ in range(-count if count < 0 else 1)]
    elif count >= size:
        picks = list(reversed(order))  # Redis 7.0 replies with the whole zset, highest first
    else:
        picks = [order[i] for i in rng.sample(range(size), count)]
    return entries_reply(picks, withscores, proto)


# --- ZUNION / ZINTER / ZDIFF (and *STORE, ZINTERCARD) ------------------------------------------------

_UNION, _INTER, _DIFF = 0, 1, 2
_SUM, _MIN, _MAX = 0, 1, 2


def _aggregate(target: float, val: float, how: int) -> float:
    """zunionInterAggregate: SUM (inf + -inf gives 0), MIN or MAX."""
    if how == _SUM:
        r = target + val
        return 0.0 if r != r else r  # inf + -inf: Redis keeps 0
    if how == _MIN:
        return val if val < target else target
    return val if val > target else target


def _members(src: Any) -> Iterable[tuple[bytes, float]]:
    """(member, score) of a zset, or of a set with every score 1."""
    if src.__class__ is ZSet:
        return src.scores.items()
    return ((m, 1.0) for m in src)


def _score_in(src: Any, m: bytes) -> float | None:
    """A member's score in a zset or set source (1 for sets), None if absent."""
    if src.__class__ is ZSet:
        return src.scores.get(m)
    return 1.0 if m in src else None


def _setop(
    c: Client, argv: list[bytes], dst: bytes | None, numkeys_idx: int, op: int, card_only: bool
) -> bytes:
    """zunionInterDiffGenericCommand: keys are type-checked before the options are parsed."""
    setnum = parse_int(argv[numkeys_idx])
    if setnum < 1:
        raise CommandError(
            f"ERR at least 1 input key is needed for '{argv[0].decode('latin-1').lower()}' command"
        )
    n = len(argv)
    if setnum > n - (numkeys_idx + 1):
        raise CommandError(SYNTAX)
    db = c.db
    srcs: list[Any] = []
    for k in argv[numkeys_idx + 1 : numkeys_idx + 1 + setnum]:
        v = db.lookup(k)
        if v is not None and v.__class__ is not ZSet and v.__class__ is not set:
            raise CommandError(WRONGTYPE)
        srcs.append(v)
    weights = [1.0] * setnum
    how = _SUM
    withscores = False
    limit = 0
    j = numkeys_idx + 1 + setnum
    while j < n:
        remaining = n - j
        opt = argv[j].lower()
        if op != _DIFF and not card_only and remaining >= setnum + 1 and opt == b"weights":
            for i in range(setnum):
                weights[i] = parse_score(argv[j + 1 + i], "ERR weight value is not a float")
            j += setnum + 1
        elif op != _DIFF and not card_only and remaining >= 2 and opt == b"aggregate":
            a = argv[j + 1].lower()
            if a == b"sum":
                how = _SUM
            elif a == b"min":
                how = _MIN
            elif a == b"max":
                how = _MAX
            else:
                raise CommandError(SYNTAX)
            j += 2
        elif dst is None and not card_only and opt == b"withscores":
            withscores = True
            j += 1
        elif card_only and remaining >= 2 and opt == b"limit":
            limit = range_long(argv[j + 1], 0, INT64_MAX, "ERR LIMIT can't be negative")
            j += 2
        else:
            raise CommandError(SYNTAX)
    pairs = list(zip(srcs, weights, strict=True))
    if op != _DIFF:
        pairs.sort(key=lambda p: 0 if p[0] is None else len(p[0]))  # stable, like glibc's qsort here
    result: dict[bytes, float] = {}
    if op == _INTER:
        first, w0 = pairs[0]
        if first:
            rest = pairs[1:]
            for m, s in _members(first):
                score = w0 * s
                if score != score:
                    score = 0.0
                for src, w in rest:
                    v = _score_in(src, m)
                    if v is None:
                        break
                    score = _aggregate(score, v * w, how)
                else:
                    result[m] = score
                    if card_only and limit and len(result) >= limit:
                        break
    elif op == _UNION:
        for src, w in pairs:
            if not src:
                continue
            for m, s in _members(src):
                score = w * s
                if score != score:
                    score = 0.0
                old = result.get(m)
                result[m] = score if old is None else _aggregate(old, score, how)
    else:
        first = pairs[0][0]
        if first:
            rest_srcs = [src for src, _ in pairs[1:] if src]
            for m, s in _members(first):
                if not any(_score_in(src, m) is not None for src in rest_srcs):
                    result[m] = s
    if card_only:
        return resp.integer(len(result))
    entries = sorted((s, m) for m, s in result.items())
    if dst is not None:
        return _store(c, dst, entries, False)
    return entries_reply(entries, withscores, c.resp)


def _setop_keys(numkeys_idx: int, with_dst: bool) -> Callable[[list[bytes]], list[bytes]]:
    """Key positions of the set operations: [destination] + the numkeys sources."""
    src_keys = mpop_keys(numkeys_idx)

    def keys(argv: list[bytes]) -> list[bytes]:
        """Key positions for COMMAND GETKEYS, WATCH and wake-ups."""
        return ([argv[1]] if with_dst else []) + src_keys(argv)

    return keys


@command(
    "zunionstore",
    -4,
    "write denyoom movablekeys",
    keys_fn=_setop_keys(2, True),
    group="sorted-set",
    written_keys_fn=_first_key,
)
def zunionstore(c: Client, argv: list[bytes]) -> bytes:
    return _setop(c, argv, argv[1], 2, _UNION, False)


@command(
    "zinterstore",
    -4,
    "write denyoom movablekeys",
    keys_fn=_setop_keys(2, True),
    group="sorted-set",
    written_keys_fn=_first_key,
)
def zinterstore(c: Client, argv: list[bytes]) -> bytes:
    return _setop(c, argv, argv[1], 2, _INTER, False)


@command(
    "zdiffstore",
    -4,
    "write denyoom movablekeys",
    keys_fn=_setop_keys(2, True),
    group="sorted-set",
    written_keys_fn=_first_key,
)
def zdiffstore(c: Client, argv: list[bytes]) -> bytes:
    return _setop(c, argv, argv[1], 2, _DIFF, False)


@command("zunion", -3, "readonly movablekeys", keys_fn=_setop_keys(1, False), group="sorted-set")
def zunion(c: Client, argv: list[bytes]) -> bytes:
    return _setop(c, argv, None, 1, _UNION, False)


@command("zinter", -3, "readonly movablekeys", keys_fn=_setop_keys(1, False), group="sorted-set")
def zinter(c: Client, argv: list[bytes]) -> bytes:
    return _setop(c, argv, None, 1, _INTER, False)


@command("zdiff", -3, "readonly movablekeys", keys_fn=_setop_keys(1, False), group="sorted-set")
def zdiff(c: Client, argv: list[bytes]) -> bytes:
    return _setop(c, argv, None, 1, _DIFF, False)


@command("zintercard", -3, "readonly movablekeys", keys_fn=_setop_keys(1, False), group="sorted-set")
def zintercard(c: Client, argv: list[bytes]) -> bytes:
    return _setop(c, argv, None, 1, _INTER, True)


# --- ZSCAN -----------------------------------------------------------------------------------------


@command("zscan", -3, "readonly", 1, 1, 1, group="sorted-set")
def zscan(c: Client, argv: list[bytes]) -> bytes:
    return scan_key(c, argv, "zset")
