"""SORT and SORT_RO, as Redis 7.0's sort.c.

Elements of a list, set or sorted set are sorted by their own value or by the value of other
keys named by a BY pattern (`weight_*`, `obj_*->field` for a hash field), numerically
(C's strtod, with its exact acceptance and range rules) or with ALPHA; GET patterns fetch
other keys per element, LIMIT picks a range and STORE (SORT only) writes the result as a list.

Orders are Redis's exactly where Redis's are defined by input order:
- numeric ties are broken by comparing the elements as binary strings;
- ALPHA without STORE compares with strcoll in the server's LC_COLLATE locale (as Redis sets
  it at startup): strcmp order for C/POSIX/C.UTF-8 (text up to the first NUL), else strxfrm keys;
- remaining ties keep input order, as glibc's qsort (a merge sort) does, except with BY and a
  LIMIT that selects a sub-range, where Redis runs its partial quicksort (`_pqsort`, ported
  here compare for compare) and so do we;
- input order is the list's order, an intset's ascending order, and for other sets and
  sorted sets (sorted by element, not rank) Redis's hash order, which no one can reproduce:
  only there can ties (ALPHA with BY), and `BY nosort` on a hashtable set, come out in
  another order than stock Redis's.

Also as Redis: a sorted set that was sorted stays skiplist-encoded; `BY nosort` with STORE on a
set sorts it (ALPHA, binary) so that the stored list does not depend on hash order; STORE
counts one change per stored element (one for deleting the destination) and is propagated as
is. One difference: Redis tests strtod's errno without clearing it, so once anything left
errno at ERANGE (an out-of-range score here, or another command's number parsing such as
`ZADD z 1e400 m`), stock rejects every later non-integer score until something else sets errno
(integer-encoded values skip the check); here each score is judged on its own.
"""

from __future__ import annotations

import ctypes
import locale
import re
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from itertools import islice
from typing import Any

from server.client import Client
from server.commands.args import parse_int
from server.commands.registry import command
from server.commands.scan import encoding_for, mark_encoding
from server.commands.strings import count_lookup
from server.datatypes import ZSet
from server.errors import SYNTAX, WRONGTYPE, CommandError
from server.protocol import resp

SCORE_ERR = "ERR One or more scores can't be converted into double"

# --- C's strtod, as SORT reads scores ---------------------------------------------------------------

_DEC = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP]([+-]?[0-9]+))?")
_INF = re.compile(rb"[+-]?(?:inf|infinity)", re.IGNORECASE)
_DBL_MIN = 2.2250738585072014e-308


def _hex_exact(sign: bytes, digits: bytes, exp: bytes | None) -> Fraction:
    whole, _, frac = digits.partition(b".")
    mant = int((whole + frac) or b"0", 16)
    e = (int(exp) if exp else 0) - 4 * len(frac)
    value = Fraction(mant) * (Fraction(2) ** e)
    return -value if sign == b"-" else value


def strtod_score(b: bytes) -> float | None:
    """Redis's SORT score: strtod over the C string (so up to a NUL; "" is 0), rejected (None)
    if text remains after the number, on ERANGE (overflow, or an inexact result below the
    normal range) or for NaN."""
    try:
        f = float(b)  # the usual case: a plain decimal number of normal magnitude
    except ValueError:
        return _strtod_slow(b)
    if _DBL_MIN <= abs(f) < _INFINITY and b[-1] not in _SPACE and b"_" not in b:
        return f
    return _strtod_slow(b)


_INFINITY = float("inf")
_SPACE = b" \t\n\r\x0b\x0c"


def _strtod_slow(b: bytes) -> float | None:
    s = b.split(b"\0", 1)[0]
    if not s:
        return 0.0  # nothing converted, and the end pointer is at the terminating NUL
    t = s.lstrip(_SPACE)
    if _DEC.fullmatch(t):
        try:
            f = float(t)
        except ValueError:
            return None
        if f in (float("inf"), float("-inf")):
            return None  # overflow
        if abs(f) < _DBL_MIN and Fraction(t.decode()) != Fraction(f):
            return None  # underflow, inexact
        return f
    m = _HEX.fullmatch(t)
    if m is not None:
        sign, digits, exp = m.groups()
        if exp is not None and len(exp.lstrip(b"+-")) > 6:  # far beyond the double range
            return None if int(digits.replace(b".", b"") or b"0", 16) else (-0.0 if sign == b"-" else 0.0)
        exact = _hex_exact(sign, digits, exp)
        try:
            f = float.fromhex(t.decode())
        except OverflowError:
            return None
        if abs(f) < _DBL_MIN and exact != Fraction(f):
            return None
        return f
    if _INF.fullmatch(t):
        return float("-inf") if t[:1] == b"-" else float("inf")
    return None


# --- collation (ALPHA without STORE) ----------------------------------------------------------------


def _strcmp_key(b: bytes) -> bytes:
    return b.split(b"\0", 1)[0]


def _collation() -> Callable[[bytes], bytes]:
    """A key function whose order is strcoll's in the locale Redis would use (LC_COLLATE from
    the environment: Redis calls setlocale(LC_COLLATE, "") at startup)."""
    try:
        name = locale.setlocale(locale.LC_COLLATE, "")
    except locale.Error:
        return _strcmp_key
    if name in ("C", "POSIX") or name.startswith(("C.", "POSIX.")):
        return _strcmp_key  # glibc's C, POSIX and C.UTF-8 collate as strcmp
    try:
        libc = ctypes.CDLL(None)
        strxfrm = libc.strxfrm
        strxfrm.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
        strxfrm.restype = ctypes.c_size_t
    except (OSError, AttributeError):
        return _strcmp_key

    def key(b: bytes) -> bytes:
        src = b.split(b"\0", 1)[0]
        n = strxfrm(None, src, 0)
        out = ctypes.create_string_buffer(n + 1)
        strxfrm(out, src, n + 1)
        return out.raw[:n]

    return key


_COLL_KEY = _collation()

# --- pattern lookups --------------------------------------------------------------------------------


def lookup_by_pattern(c: Client, pattern: bytes, subst: bytes) -> bytes | None:
    """Redis's lookupKeyByPattern: "#" is the element itself; the first '*' is replaced by the
    element, "->field" after it reads a hash field; a pattern without '*' names nothing. The
    pattern is read as a C string where Redis uses strchr/strstr, whole where it uses sdslen."""
    if pattern[:1] == b"#" and pattern[1:2] in (b"", b"\0"):
        return subst
    cpat = pattern.split(b"\0", 1)[0]
    star = cpat.find(b"*")
    if star < 0:
        return None
    arrow = cpat.find(b"->", star + 1)
    field: bytes | None = None
    if arrow >= 0 and arrow + 2 < len(cpat):
        field = pattern[arrow + 2 :]
        key = pattern[:star] + subst + pattern[star + 1 : arrow]
    else:
        key = pattern[:star] + subst + pattern[star + 1 :]
    v = c.db.lookup(key)
    count_lookup(c, v)
    if v is None:
        return None
    if field is not None:
        if v.__class__ is not dict:
            return None
        fv: bytes | None = v.get(field)
        return fv
    return v if v.__class__ is bytes else None


# --- Redis's partial quicksort (pqsort.c) -----------------------------------------------------------


def _pqsort(a: list[Any], cmp: Callable[[Any, Any], int], lrange: int, rrange: int) -> None:
    """Sort `a` enough that positions lrange..rrange hold what a full sort would put there,
    making exactly the comparisons and swaps of Redis's pqsort (Bentley-McIlroy quicksort that
    skips partitions outside the range), so that ties land where Redis puts them."""

    def swap(i: int, j: int) -> None:
        a[i], a[j] = a[j], a[i]

    def vecswap(i: int, j: int, n: int) -> None:
        for k in range(n):
            a[i + k], a[j + k] = a[j + k], a[i + k]

    def med3(x: int, y: int, z: int) -> int:
        if cmp(a[x], a[y]) < 0:
            return y if cmp(a[y], a[z]) < 0 else (z if cmp(a[x], a[z]) < 0 else x)
        return y if cmp(a[y], a[z]) > 0 else (x if cmp(a[x], a[z]) < 0 else z)

    def outside(lo: int, n: int) -> bool:
        return (lrange < lo and rrange < lo) or (lrange > lo + n - 1 and rrange > lo + n - 1)

    # Partitions are disjoint, so the order they are sorted in does not matter: a stack
    # replaces pqsort's recursion (no depth limit on adversarial inputs).
    todo = [(0, len(a))]
    while todo:
        lo, n = todo.pop()
        if n < 7:
            for pm in range(lo + 1, lo + n):
                pl = pm
                while pl > lo and cmp(a[pl - 1], a[pl]) > 0:
                    swap(pl, pl - 1)
                    pl -= 1
            continue
        pm = lo + n // 2
        if n > 7:
            pl = lo
            pn = lo + n - 1
            if n > 40:
                d = n // 8
                pl = med3(pl, pl + d, pl + 2 * d)
                pm = med3(pm - d, pm, pm + d)
                pn = med3(pn - 2 * d, pn - d, pn)
            pm = med3(pl, pm, pn)
        swap(lo, pm)
        pa = pb = lo + 1
        pc = pd = lo + n - 1
        while True:
            while pb <= pc:
                r = cmp(a[pb], a[lo])
                if r > 0:
                    break
                if r == 0:
                    swap(pa, pb)
                    pa += 1
                pb += 1
            while pb <= pc:
                r = cmp(a[pc], a[lo])
                if r < 0:
                    break
                if r == 0:
                    swap(pc, pd)
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            swap(pb, pc)
            pb += 1
            pc -= 1
        pn = lo + n
        r = min(pa - lo, pb - pa)
        vecswap(lo, pb - r, r)
        r = min(pd - pc, pn - pd - 1)
        vecswap(pb, pn - r, r)
        r = pb - pa
        if r > 1 and not outside(lo, r):
            todo.append((lo, r))
        r = pd - pc
        if r > 1 and not outside(pn - r, r):
            todo.append((pn - r, r))


# --- SORT ---------------------------------------------------------------------------------------------


def sort_keys(argv: list[bytes]) -> list[bytes]:
    """Redis's sortGetKeys: the sorted key, then the last STORE's key (options with arguments
    are skipped: LIMIT 2, GET 1, BY 1)."""
    keys = [argv[1]]
    store: bytes | None = None
    skips = {b"limit": 2, b"get": 1, b"by": 1}
    i = 2
    n = len(argv)
    while i < n:
        name = argv[i].split(b"\0", 1)[0].lower()
        skip = skips.get(name)
        if skip is not None:
            i += skip
        elif name == b"store" and i + 1 < n:
            store = argv[i + 1]
        i += 1
    if store is not None:
        keys.append(store)
    return keys


def _store_key(argv: list[bytes]) -> list[bytes]:
    return sort_keys(argv)[1:]


def _set_members(c: Client, key: bytes, s: set[bytes]) -> list[bytes]:
    """A set in Redis's iteration order: ascending numbers for an intset, else hash order."""
    if encoding_for(c.db, key, s) == b"intset":
        return sorted(s, key=int)
    return list(s)


def _sort(c: Client, argv: list[bytes], readonly: bool) -> bytes:
    desc = alpha = dontsort = False
    limit_start, limit_count = 0, -1
    sortby: bytes | None = None
    storekey: bytes | None = None
    gets: list[bytes] = []
    n = len(argv)
    j = 2
    while j < n:
        left = n - j - 1
        opt = argv[j].split(b"\0", 1)[0].lower()
        if opt == b"asc":
            desc = False
        elif opt == b"desc":
            desc = True
        elif opt == b"alpha":
            alpha = True
        elif opt == b"limit" and left >= 2:
            limit_start = parse_int(argv[j + 1])
            limit_count = parse_int(argv[j + 2])
            j += 2
        elif not readonly and opt == b"store" and left >= 1:
            storekey = argv[j + 1]
            j += 1
        elif opt == b"by" and left >= 1:
            sortby = argv[j + 1]
            if b"*" not in sortby.split(b"\0", 1)[0]:
                dontsort = True  # BY a constant: nothing to sort by
            j += 1
        elif opt == b"get" and left >= 1:
            gets.append(argv[j + 1])
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1

    db = c.db
    key = argv[1]
    value: Any = db.lookup(key)
    count_lookup(c, value)
    if value is None:
        value = deque()
    elif value.__class__ not in (deque, set, ZSet):
        raise CommandError(WRONGTYPE)
    elif value.__class__ is ZSet:
        mark_encoding(db, key, value, b"skiplist")  # SORT converts a sorted set for good

    if dontsort and value.__class__ is set and storekey is not None:
        # a stored result must not depend on hash order: sort the set's elements instead
        dontsort, alpha, sortby = False, True, None

    vectorlen = len(value)
    start = max(limit_start, 0)
    end = vectorlen - 1 if limit_count < 0 else start + limit_count - 1
    if start >= vectorlen:
        start, end = vectorlen - 1, vectorlen - 2
    if end >= vectorlen:
        end = vectorlen - 1

    vector: list[bytes]
    if dontsort and value.__class__ is deque:
        vector = []
        if end >= start:
            src = reversed(value) if desc else iter(value)
            vector = list(islice(src, start, end + 1))
            end -= start
            start = 0
    elif dontsort and value.__class__ is ZSet:
        count = end - start + 1
        vector = [
            m for _, m in value.order.islice(*_rank_slice(len(value), start, count, desc), reverse=desc)
        ]
        end -= start
        start = 0
    elif value.__class__ is deque:
        vector = list(value)
    elif value.__class__ is set:
        vector = _set_members(c, key, value)
    else:
        vector = list(value.scores)

    conversion_error = False
    if not dontsort:
        keys: list[Any]
        if alpha:
            if sortby is not None:
                coll = _COLL_KEY if storekey is None else None
                keys = []
                for e in vector:
                    bv = lookup_by_pattern(c, sortby, e)
                    # a missing BY value sorts first
                    keys.append((0, b"") if bv is None else (1, bv if coll is None else coll(bv)))
            elif storekey is None:
                keys = [_COLL_KEY(e) for e in vector]
            else:
                keys = vector  # STORE compares binary strings
        else:
            keys = []
            for e in vector:
                bv = e if sortby is None else lookup_by_pattern(c, sortby, e)
                score = 0.0
                if bv is not None:
                    f = strtod_score(bv)
                    if f is None:
                        conversion_error = True
                    else:
                        score = f
                keys.append(score)
        partial = sortby is not None and (start != 0 or end != vectorlen - 1)
        if partial and alpha and len(set(keys)) < len(keys):
            # Redis's partial quicksort; only where keys tie does its order differ from a full
            # sort's (numeric ties are broken by the element, so only ALPHA keys can tie)
            sign = -1 if desc else 1

            def cmp(x: int, y: int) -> int:
                kx, ky = keys[x], keys[y]
                return sign * ((kx > ky) - (kx < ky))

            order = list(range(len(vector)))
            _pqsort(order, cmp, start, end)
        else:
            # stable sorts, as glibc's merge sort; numeric ties go by binary element order
            order = list(range(len(vector)))
            if not alpha:
                order.sort(key=vector.__getitem__, reverse=desc)
            order.sort(key=keys.__getitem__, reverse=desc)
        vector = [vector[i] for i in order]

    if conversion_error:
        raise CommandError(SCORE_ERR)
    picked = vector[start : end + 1] if end >= start else []
    outputlen = len(picked) * len(gets) if gets else len(picked)

    if storekey is None:
        if not gets:
            return resp.bulk_array(picked)
        nul = resp.null(c.resp)
        parts = [resp.array_header(outputlen)]
        for e in picked:
            for pat in gets:
                v = lookup_by_pattern(c, pat, e)
                parts.append(nul if v is None else resp.bulk(v))
        return b"".join(parts)

    if gets:
        out: deque[bytes] = deque()
        for e in picked:
            for pat in gets:
                v = lookup_by_pattern(c, pat, e)
                out.append(b"" if v is None else v)
    else:
        out = deque(picked)
    if outputlen:
        db.set(storekey, out)
        c.engine.dirty += outputlen
    elif db.delete(storekey):
        c.engine.dirty += 1
    return resp.integer(outputlen)


def _rank_slice(size: int, start: int, count: int, desc: bool) -> tuple[int, int]:
    """The ascending-rank slice [lo, hi) holding `count` elements from `start` in the requested
    direction."""
    if count <= 0:
        return 0, 0
    if desc:
        return size - start - count, size - start
    return start, start + count


@command(
    "sort",
    -2,
    "write denyoom movablekeys",
    1,
    1,
    1,
    keys_fn=sort_keys,
    written_keys_fn=_store_key,
    group="generic",
)
def sort(c: Client, argv: list[bytes]) -> bytes:
    """STORE replaces the destination with a list (TTL dropped), or deletes it for an empty
    result; the command is propagated as is (its result depends only on the dataset)."""
    return _sort(c, argv, False)


@command("sort_ro", -2, "readonly movablekeys", 1, 1, 1, group="generic")
def sort_ro(c: Client, argv: list[bytes]) -> bytes:
    return _sort(c, argv, True)
