"""String commands, as Redis 7.0's t_string.c.

Values are `bytes`. Integers live as their canonical decimal text, so INCR and friends parse
and format per call (Redis's int encoding is only a memory optimisation). INCRBYFLOAT computes
in x87 80-bit extended precision, as Redis's `long double` does on x86-64, with exact integer
arithmetic (see `_ext_round`), so results and formatting agree digit for digit.
"""

from __future__ import annotations

import re

from server.client import Client
from server.commands.args import INT64_MAX, INT64_MIN, parse_int
from server.commands.registry import command
from server.commands.scan import ENCODING_MARKS, is_int_string, mark_encoding, mark_raw, unmark_encoding
from server.errors import (
    EXPIRE_INVALID,
    INCR_OVERFLOW,
    NAN_OR_INF,
    NOT_FLOAT,
    STRING_TOO_LONG,
    SYNTAX,
    WRONGTYPE,
    CommandError,
)
from server.keyspace import now_ms
from server.protocol import resp
from server.protocol.resp import BULK_HEADERS

_NX, _XX, _GET, _KEEPTTL, _PERSIST = 1, 2, 4, 8, 16
_EXPIRE_UNITS = (b"ex", b"px", b"exat", b"pxat")


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


def _parse_extended(argv: list[bytes], for_set: bool) -> tuple[int, bytes, int]:
    """Redis's parseExtendedStringArgumentsOrReply for SET (NX XX GET KEEPTTL EX PX EXAT PXAT)
    and GETEX (PERSIST EX PX EXAT PXAT). Returns (flags, expire unit, index of its value);
    a repeated unit of the same kind is allowed (the last wins), mixing them is not."""
    flags = 0
    unit = b""
    exp_idx = 0
    i = 3 if for_set else 2
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        if for_set and opt == b"nx" and not flags & _XX:
            flags |= _NX
        elif for_set and opt == b"xx" and not flags & _NX:
            flags |= _XX
        elif for_set and opt == b"get":
            flags |= _GET
        elif for_set and opt == b"keepttl" and not unit:
            flags |= _KEEPTTL
        elif not for_set and opt == b"persist" and not unit:
            flags |= _PERSIST
        elif (
            opt in _EXPIRE_UNITS
            and not flags & (_KEEPTTL | _PERSIST)
            and (not unit or unit == opt)
            and i + 1 < n
        ):
            unit = opt
            exp_idx = i + 1
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    return flags, unit, exp_idx


def _already_expired(c: Client, when: int) -> bool:
    """Redis's checkAlreadyExpired: a past deadline deletes now, except where the master decides."""
    return when <= now_ms() and not c.engine.is_replica and c.kind != "master"


@command("get", 2, "readonly fast", 1, 1, 1, group="string")
def get(c: Client, argv: list[bytes]) -> bytes:
    v = c.db.lookup(argv[1])
    if v is None:
        c.engine.stat_keyspace_misses += 1
        return resp.NULL3 if c.resp == 3 else resp.NULL2
    c.engine.stat_keyspace_hits += 1
    if v.__class__ is not bytes:
        raise CommandError(WRONGTYPE)
    return resp.bulk(v) if len(v) > 1024 else BULK_HEADERS[len(v)] + v + b"\r\n"


@command("set", -3, "write denyoom", 1, 1, 1, group="string")
def set_(c: Client, argv: list[bytes]) -> bytes:
    key, value = argv[1], argv[2]
    db = c.db
    if len(argv) == 3:
        db.set(key, value)
        if ENCODING_MARKS:
            unmark_encoding(db, key)
        c.engine.dirty += 1
        return resp.OK
    flags, unit, exp_idx = _parse_extended(argv, True)
    expire = parse_expire_option(unit, argv[exp_idx], "set") if unit else None
    old = db.lookup(key)
    if flags & _GET:
        count_lookup(c, old)
    if flags & _GET and old is not None and old.__class__ is not bytes:
        raise CommandError(WRONGTYPE)
    if (flags & _NX and old is not None) or (flags & _XX and old is None):
        if flags & _GET:
            return resp.bulk_or_null(old, c.resp)
        return resp.null(c.resp)
    db.set(key, value, keepttl=bool(flags & _KEEPTTL))
    if ENCODING_MARKS:
        unmark_encoding(db, key)
    if expire is not None:
        db.set_expire(key, expire)
        c.prop = [[b"SET", key, value, b"PXAT", b"%d" % expire]]
    c.engine.dirty += 1
    if flags & _GET:
        return resp.bulk_or_null(old, c.resp)
    return resp.OK


def _set_with_expire(c: Client, key: bytes, value: bytes, unit: bytes, amount: bytes, name: str) -> None:
    """SETEX/PSETEX: set with a relative expiry, propagated as SET ... PXAT."""
    when = parse_expire_option(unit, amount, name)
    db = c.db
    db.set(key, value)
    if ENCODING_MARKS:
        unmark_encoding(db, key)
    db.set_expire(key, when)
    c.prop = [[b"SET", key, value, b"PXAT", b"%d" % when]]
    c.engine.dirty += 1


@command("setex", 4, "write denyoom", 1, 1, 1, group="string")
def setex(c: Client, argv: list[bytes]) -> bytes:
    _set_with_expire(c, argv[1], argv[3], b"ex", argv[2], "setex")
    return resp.OK


@command("psetex", 4, "write denyoom", 1, 1, 1, group="string")
def psetex(c: Client, argv: list[bytes]) -> bytes:
    _set_with_expire(c, argv[1], argv[3], b"px", argv[2], "psetex")
    return resp.OK


@command("setnx", 3, "write denyoom fast", 1, 1, 1, group="string")
def setnx(c: Client, argv: list[bytes]) -> bytes:
    db = c.db
    if db.lookup(argv[1]) is not None:
        return resp.ZERO
    db.set(argv[1], argv[2])
    if ENCODING_MARKS:
        unmark_encoding(db, argv[1])
    c.engine.dirty += 1
    return resp.ONE


def count_lookup(c: Client, v: object) -> None:
    """Redis's keyspace_hits/misses, counted by read lookups (lookupKeyRead), not by writes."""
    if v is None:
        c.engine.stat_keyspace_misses += 1
    else:
        c.engine.stat_keyspace_hits += 1


def _get_string(c: Client, key: bytes) -> bytes | None:
    """A read lookup (counted in keyspace stats) that must find a string or nothing."""
    v = c.db.lookup(key)
    count_lookup(c, v)
    if v is not None and v.__class__ is not bytes:
        raise CommandError(WRONGTYPE)
    return v


@command("getset", 3, "write denyoom fast", 1, 1, 1, group="string")
def getset(c: Client, argv: list[bytes]) -> bytes:
    old = _get_string(c, argv[1])
    c.db.set(argv[1], argv[2])
    if ENCODING_MARKS:
        unmark_encoding(c.db, argv[1])
    c.engine.dirty += 1
    c.prop = [[b"SET", argv[1], argv[2]]]
    return resp.bulk_or_null(old, c.resp)


@command("getdel", 2, "write fast", 1, 1, 1, group="string")
def getdel(c: Client, argv: list[bytes]) -> bytes:
    old = _get_string(c, argv[1])
    if old is None:
        return resp.null(c.resp)
    c.db.delete(argv[1])
    if ENCODING_MARKS:
        unmark_encoding(c.db, argv[1])
    c.engine.dirty += 1
    lazy = getattr(c.engine.config, "lazyfree_lazy_user_del", False)
    c.prop = [[b"UNLINK" if lazy else b"DEL", argv[1]]]
    return resp.bulk(old)


@command("getex", -2, "write fast", 1, 1, 1, group="string")
def getex(c: Client, argv: list[bytes]) -> bytes:
    key = argv[1]
    flags, unit, exp_idx = _parse_extended(argv, False)
    old = _get_string(c, key)
    if old is None:
        return resp.null(c.resp)
    db = c.db
    if unit:
        when = parse_expire_option(unit, argv[exp_idx], "getex")
        if unit in (b"exat", b"pxat") and _already_expired(c, when):
            db.delete(key)
            lazy = getattr(c.engine.config, "lazyfree_lazy_expire", False)
            c.prop = [[b"UNLINK" if lazy else b"DEL", key]]
        else:
            db.set_expire(key, when)
            c.prop = [[b"PEXPIREAT", key, b"%d" % when]]
        c.engine.dirty += 1
    elif flags & _PERSIST and db.persist(key):
        c.prop = [[b"PERSIST", key]]
        c.engine.dirty += 1
    return resp.bulk(old)


@command("mget", -2, "readonly fast", 1, -1, 1, group="string")
def mget(c: Client, argv: list[bytes]) -> bytes:
    lookup = c.db.lookup
    nul = resp.null(c.resp)
    parts = [resp.array_header(len(argv) - 1)]
    misses = 0
    for k in argv[1:]:
        v = lookup(k)
        if v is None:
            misses += 1
        parts.append(resp.bulk(v) if v.__class__ is bytes else nul)
    engine = c.engine
    engine.stat_keyspace_misses += misses
    engine.stat_keyspace_hits += len(argv) - 1 - misses
    return b"".join(parts)


def _check_pairs(argv: list[bytes]) -> None:
    if len(argv) % 2 == 0:
        raise CommandError(f"ERR wrong number of arguments for '{argv[0].decode('latin-1').lower()}' command")


@command("mset", -3, "write denyoom", 1, -1, 2, group="string")
def mset(c: Client, argv: list[bytes]) -> bytes:
    _check_pairs(argv)
    dbset = c.db.set
    for i in range(1, len(argv), 2):
        dbset(argv[i], argv[i + 1])
    if ENCODING_MARKS:
        for i in range(1, len(argv), 2):
            unmark_encoding(c.db, argv[i])
    c.engine.dirty += (len(argv) - 1) // 2
    return resp.OK


@command("msetnx", -3, "write denyoom", 1, -1, 2, group="string")
def msetnx(c: Client, argv: list[bytes]) -> bytes:
    _check_pairs(argv)
    db = c.db
    for i in range(1, len(argv), 2):
        if db.lookup(argv[i]) is not None:
            return resp.ZERO
    for i in range(1, len(argv), 2):
        db.set(argv[i], argv[i + 1])
        if ENCODING_MARKS:
            unmark_encoding(db, argv[i])
    c.engine.dirty += (len(argv) - 1) // 2
    return resp.ONE


# --- counters ------------------------------------------------------------------------------------


def _incr(c: Client, key: bytes, by: int) -> bytes:
    db = c.db
    v = db.lookup(key)
    if v is None:
        cur = 0
    elif v.__class__ is not bytes:
        raise CommandError(WRONGTYPE)
    else:
        cur = parse_int(v)
    new = cur + by
    if new > INT64_MAX or new < INT64_MIN:
        raise CommandError(INCR_OVERFLOW)
    text = b"%d" % new
    db.set(key, text, True)  # keepttl
    if ENCODING_MARKS:
        unmark_encoding(db, key)
    c.engine.dirty += 1
    return resp.integer(new) if -1 <= new <= 10000 else b":" + text + b"\r\n"


@command("incr", 2, "write denyoom fast", 1, 1, 1, group="string")
def incr(c: Client, argv: list[bytes]) -> bytes:
    return _incr(c, argv[1], 1)


@command("decr", 2, "write denyoom fast", 1, 1, 1, group="string")
def decr(c: Client, argv: list[bytes]) -> bytes:
    return _incr(c, argv[1], -1)


@command("incrby", 3, "write denyoom fast", 1, 1, 1, group="string")
def incrby(c: Client, argv: list[bytes]) -> bytes:
    return _incr(c, argv[1], parse_int(argv[2]))


@command("decrby", 3, "write denyoom fast", 1, 1, 1, group="string")
def decrby(c: Client, argv: list[bytes]) -> bytes:
    n = parse_int(argv[2])
    if n == INT64_MIN:
        raise CommandError("ERR decrement would overflow")
    return _incr(c, argv[1], -n)


# --- x87 80-bit extended precision, exactly (INCRBYFLOAT) -----------------------------------------
#
# A finite value is an exact rational m * 2**e (m a signed int of at most 64 bits). Parsing and
# addition round the exact result to the nearest representable extended value, ties to even, as
# glibc's strtold and the x87 FPU do; formatting is glibc's exact "%.17Lf".

_EXT_MANT = 64
_EXT_EMIN = -16382  # exponent of the leading bit of the smallest normal value
_EXT_EMAX = 16383  # exponent of the leading bit of the largest finite value
_EXT_SUBNORMAL_SHIFT = -_EXT_EMIN + _EXT_MANT - 1  # the subnormal unit is 2**-16445
_MAX_LD_CHARS = 5 * 1024  # Redis's MAX_LONG_DOUBLE_CHARS

_DEC_RE = re.compile(rb"([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?")
_HEX_RE = re.compile(
    rb"([+-]?)0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))(?:[pP]([+-]?\d+))?"
)
_INF_RE = re.compile(rb"([+-]?)(?:inf|infinity)", re.IGNORECASE)


class _Inf(Exception):
    """The exact value is beyond the extended range (strtold's ERANGE with HUGE_VALL)."""


_CHUNK_DIGITS = 4000  # below CPython's int<->str conversion limit (4300 digits)
_CHUNK = 10**_CHUNK_DIGITS


def _dec_to_int(digits: bytes) -> int:
    """int(digits) for up to MAX_LONG_DOUBLE_CHARS digits, past CPython's conversion limit."""
    if len(digits) <= _CHUNK_DIGITS:
        return int(digits)
    return _dec_to_int(digits[:-_CHUNK_DIGITS]) * _CHUNK + int(digits[-_CHUNK_DIGITS:])


def _int_to_dec(n: int) -> bytes:
    """b"%d" % n for a non-negative n of any size (extended values reach 4933 digits)."""
    if n < _CHUNK:
        return b"%d" % n
    hi, lo = divmod(n, _CHUNK)
    return _int_to_dec(hi) + b"%0*d" % (_CHUNK_DIGITS, lo)


def _ext_round(num: int, den: int) -> tuple[int, int]:
    """Round num/den (den > 0) to extended precision: (m, e) with value m * 2**e; m may be 0."""
    if num == 0:
        return 0, 0
    neg = num < 0
    if neg:
        num = -num
    top = num.bit_length() - den.bit_length()  # floor(log2(num/den)) is top or top - 1
    if (num >> top if top >= 0 else num << -top) < den:
        top -= 1
    if top > _EXT_EMAX:
        raise _Inf
    shift = _EXT_SUBNORMAL_SHIFT if top < _EXT_EMIN else _EXT_MANT - 1 - top
    if shift >= 0:
        num <<= shift
    else:
        den <<= -shift
    q, r = divmod(num, den)
    twice = 2 * r
    if twice > den or (twice == den and q & 1):
        q += 1
    if q >> _EXT_MANT:  # rounding carried into a 65th bit
        q >>= 1
        shift -= 1
        if _EXT_MANT - 1 - shift > _EXT_EMAX:
            raise _Inf
    return (-q if neg else q), -shift


def _exponent(exp: bytes | None) -> int:
    """A written exponent, clamped far beyond the extended range (it may have 5000 digits)."""
    if not exp:
        return 0
    if len(exp.lstrip(b"+-").lstrip(b"0")) > 9:
        return -(10**9) if exp[:1] == b"-" else 10**9
    return int(exp)


def _ext_parse(b: bytes) -> tuple[int, int] | None:
    """Redis's string2ld: strtold over the whole string, no leading space, no NaN, no ERANGE to
    zero or infinity. Returns (m, e), or None if invalid; raises _Inf for +-inf input."""
    if not b or len(b) >= _MAX_LD_CHARS or b[0] in b" \t\n\r\x0b\x0c":
        return None
    m = _DEC_RE.fullmatch(b)
    if m is not None:
        sign, ip, fp, only_fp, exp = m.groups()
        digits = (ip or b"") + (fp or b"") if only_fp is None else only_fp
        frac_len = len(fp or b"") if only_fp is None else len(only_fp)
        e10 = _exponent(exp) - frac_len
        stripped = digits.lstrip(b"0")
        if not stripped:
            return 0, 0
        magnitude = len(stripped) + e10  # value < 10**magnitude
        if magnitude > 4934:
            return None  # overflow: HUGE_VALL with ERANGE
        if magnitude < -4952:
            return None  # underflow to zero with ERANGE
        n = _dec_to_int(stripped)
        if sign == b"-":
            n = -n
        try:
            mant, e = _ext_round(n * 10**e10, 1) if e10 >= 0 else _ext_round(n, 10**-e10)
        except _Inf:
            return None
        return None if mant == 0 else (mant, e)
    m = _HEX_RE.fullmatch(b)
    if m is not None:
        sign, ip, fp, only_fp, exp = m.groups()
        digits = (ip or b"") + (fp or b"") if only_fp is None else only_fp
        frac_len = len(fp or b"") if only_fp is None else len(only_fp)
        n = int(digits, 16)
        if n == 0:
            return 0, 0
        e2 = _exponent(exp) - 4 * frac_len
        bits = n.bit_length() + e2
        if bits > _EXT_EMAX + 2:
            return None
        if bits < -_EXT_SUBNORMAL_SHIFT - 2:
            return None
        if sign == b"-":
            n = -n
        try:
            mant, e = _ext_round(n << e2, 1) if e2 >= 0 else _ext_round(n, 1 << -e2)
        except _Inf:
            return None
        return None if mant == 0 else (mant, e)
    if _INF_RE.fullmatch(b) is not None:
        raise _Inf
    return None


def _ext_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (ma, ea), (mb, eb) = a, b
    if ma == 0:
        return b
    if mb == 0:
        return a
    e = min(ea, eb)
    total = (ma << (ea - e)) + (mb << (eb - e))
    if e >= 0:
        return _ext_round(total << e, 1)
    return _ext_round(total, 1 << -e)


def _ext_format(v: tuple[int, int]) -> bytes:
    """glibc's "%.17Lf", then Redis's LD_STR_HUMAN trimming (trailing zeros, '.', "-0")."""
    m, e = v
    neg = m < 0
    if neg:
        m = -m
    scaled = 10**17
    if e >= 0:
        q = (m << e) * scaled
    else:
        q, r = divmod(m * scaled, 1 << -e)
        twice = 2 * r
        if twice > (1 << -e) or (twice == (1 << -e) and q & 1):
            q += 1
    ip, fp = divmod(q, scaled)
    s = _int_to_dec(ip) + b".%017d" % fp
    s = s.rstrip(b"0").rstrip(b".")
    if s == b"0":
        return s
    return b"-" + s if neg else s


@command("incrbyfloat", 3, "write denyoom fast", 1, 1, 1, group="string")
def incrbyfloat(c: Client, argv: list[bytes]) -> bytes:
    key = argv[1]
    db = c.db
    v = db.lookup(key)
    if v is not None and v.__class__ is not bytes:
        raise CommandError(WRONGTYPE)
    try:
        cur = (0, 0) if v is None else _ext_parse(v)
        if cur is None:
            raise CommandError(NOT_FLOAT)
    except _Inf:
        cur = None  # inf is a valid float; any sum with it is not finite
    try:
        by = _ext_parse(argv[2])
        if by is None:
            raise CommandError(NOT_FLOAT)
    except _Inf:
        by = None
    if cur is None or by is None:
        raise CommandError(NAN_OR_INF)
    try:
        total = _ext_add(cur, by)
    except _Inf:
        raise CommandError(NAN_OR_INF) from None
    new = _ext_format(total)
    db.set(key, new, keepttl=True)
    if is_int_string(new):
        mark_encoding(db, key, new, b"embstr")  # Redis never int-encodes INCRBYFLOAT's result
    elif ENCODING_MARKS:
        unmark_encoding(db, key)
    c.engine.dirty += 1
    c.prop = [[b"SET", key, new, b"KEEPTTL"]]
    return resp.bulk(new)


# --- ranges and lengths ----------------------------------------------------------------------------


def _check_length(c: Client, size: int, append: int) -> None:
    """Redis's checkStringLength: the result may not exceed proto-max-bulk-len (the master's
    stream is exempt)."""
    if c.kind != "master" and size + append > c.engine.config.proto_max_bulk_len:
        raise CommandError(STRING_TOO_LONG)


@command("append", 3, "write denyoom fast", 1, 1, 1, group="string")
def append(c: Client, argv: list[bytes]) -> bytes:
    key, extra = argv[1], argv[2]
    db = c.db
    v = db.lookup(key)
    if v is None:
        new = extra
        if ENCODING_MARKS:
            unmark_encoding(db, key)  # a new key is encoded as SET would (int/embstr/raw)
    elif v.__class__ is not bytes:
        raise CommandError(WRONGTYPE)
    else:
        _check_length(c, len(v), len(extra))
        new = v + extra
        mark_raw(db, key, new)  # appended-to strings are raw in Redis, whatever the length
    db.set(key, new, keepttl=True)
    c.engine.dirty += 1
    return resp.integer(len(new))


@command("strlen", 2, "readonly fast", 1, 1, 1, group="string")
def strlen(c: Client, argv: list[bytes]) -> bytes:
    v = _get_string(c, argv[1])
    return resp.ZERO if v is None else resp.integer(len(v))


@command("getrange", 4, "readonly", 1, 1, 1, group="string")
def getrange(c: Client, argv: list[bytes]) -> bytes:
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    v = _get_string(c, argv[1])
    if v is None:
        return resp.EMPTY_BULK
    n = len(v)
    if start < 0 and end < 0 and start > end:
        return resp.EMPTY_BULK
    if start < 0:
        start = max(n + start, 0)
    if end < 0:
        end = max(n + end, 0)
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return resp.EMPTY_BULK
    return resp.bulk(v[start : end + 1])


@command("substr", 4, "readonly", 1, 1, 1, group="string")
def substr(c: Client, argv: list[bytes]) -> bytes:
    return getrange(c, argv)


@command("setrange", 4, "write denyoom", 1, 1, 1, group="string")
def setrange(c: Client, argv: list[bytes]) -> bytes:
    key, piece = argv[1], argv[3]
    offset = parse_int(argv[2])
    if offset < 0:
        raise CommandError("ERR offset is out of range")
    db = c.db
    v = db.lookup(key)
    if v is None:
        if not piece:
            return resp.ZERO
        _check_length(c, offset, len(piece))
        new = bytes(offset) + piece
    elif v.__class__ is not bytes:
        raise CommandError(WRONGTYPE)
    else:
        if not piece:
            return resp.integer(len(v))
        _check_length(c, offset, len(piece))
        if offset > len(v):
            new = v + bytes(offset - len(v)) + piece
        else:
            new = v[:offset] + piece + v[offset + len(piece) :]
    db.set(key, new, keepttl=True)
    mark_raw(db, key, new)  # SETRANGE always leaves a raw string
    c.engine.dirty += 1
    return resp.integer(len(new))


# --- LCS ------------------------------------------------------------------------------------------


def _lcs_rows(a: bytes, b: bytes, keep: bool) -> tuple[int, list[int]]:
    """Bit-parallel LCS (Allison-Dix/Hyyro): row i as a bit vector V_i over b's positions, where
    bit k is 0 exactly when LCS(i, k+1) = LCS(i, k) + 1. Returns (length, rows if `keep`)."""
    blen = len(b)
    full = (1 << blen) - 1
    masks: dict[int, int] = {}
    for j, ch in enumerate(b):
        masks[ch] = masks.get(ch, 0) | (1 << j)
    v = full
    rows = [v] if keep else []
    for ch in a:
        u = v & masks.get(ch, 0)
        v = ((v + u) | (v - u)) & full
        if keep:
            rows.append(v)
    return blen - v.bit_count(), rows


@command("lcs", -3, "readonly", 1, 2, 1, group="string")
def lcs(c: Client, argv: list[bytes]) -> bytes:
    db = c.db
    strs: list[bytes] = []
    for k in (argv[1], argv[2]):
        v = db.lookup(k)
        count_lookup(c, v)
        if v is not None and v.__class__ is not bytes:
            raise CommandError("ERR The specified keys must contain string values")
        strs.append(v or b"")
    a, b = strs
    getidx = getlen = withmatchlen = False
    minmatchlen = 0
    i = 3
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        if opt == b"idx":
            getidx = True
        elif opt == b"len":
            getlen = True
        elif opt == b"withmatchlen":
            withmatchlen = True
        elif opt == b"minmatchlen" and i + 1 < n:
            minmatchlen = max(parse_int(argv[i + 1]), 0)
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if getidx and getlen:
        raise CommandError("ERR If you want both the length and indexes, please just use IDX.")
    alen, blen = len(a), len(b)
    if (alen + 1) * (blen + 1) * 4 > c.engine.config.proto_max_bulk_len:
        raise CommandError("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    computelcs = getidx or not getlen
    total, rows = _lcs_rows(a, b, computelcs)
    if not computelcs:
        return resp.integer(total)

    def table(i: int, j: int) -> int:
        return j - (rows[i] & ((1 << j) - 1)).bit_count()

    result = bytearray(total)
    idx = total
    matches: list[bytes] = []
    arange_start, arange_end, brange_start, brange_end = alen, 0, 0, 0
    i, j = alen, blen
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            result[idx - 1] = a[i - 1]
            if arange_start == alen:
                arange_start = arange_end = i - 1
                brange_start = brange_end = j - 1
            elif arange_start == i and brange_start == j:
                arange_start -= 1
                brange_start -= 1
            else:
                emit = True
            if arange_start == 0 or brange_start == 0:
                emit = True
            idx -= 1
            i -= 1
            j -= 1
        else:
            if table(i - 1, j) > table(i, j - 1):
                i -= 1
            else:
                j -= 1
            if arange_start != alen:
                emit = True
        if emit:
            match_len = arange_end - arange_start + 1
            if getidx and (minmatchlen == 0 or match_len >= minmatchlen):
                entry = [
                    resp.array_header(2) + resp.integer(arange_start) + resp.integer(arange_end),
                    resp.array_header(2) + resp.integer(brange_start) + resp.integer(brange_end),
                ]
                if withmatchlen:
                    entry.append(resp.integer(match_len))
                matches.append(resp.array(entry))
            arange_start = alen
    if getidx:
        return (
            resp.map_header(2, c.resp)
            + resp.bulk(b"matches")
            + resp.array(matches)
            + resp.bulk(b"len")
            + resp.integer(total)
        )
    return resp.bulk(bytes(result))
