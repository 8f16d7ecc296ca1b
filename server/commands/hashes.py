"""Hash commands (value type: `dict[bytes, bytes]`, insertion-ordered like Redis's listpack).

HINCRBYFLOAT computes in Redis's `long double` (x87 80-bit extended precision on the x86-64
builds everyone runs) and prints with `%.17Lf` minus trailing zeros; Python has no such type,
so `_ld_*` below emulate it exactly with integers: strtold-style parsing, round-to-nearest-even
to a 64-bit significand with the extended exponent range, and exact decimal formatting.
"""

from __future__ import annotations

import re

from server.client import Client
from server.commands.args import INT64_MAX, INT64_MIN, parse_int
from server.commands.registry import command
from server.commands.scan import mark_encoding, scan_key
from server.commands.sets import (
    LONG_RANGE,
    MAX_REPEATED_PICKS,
    VALUE_OUT_OF_RANGE,
    forget_pool,
    pool_of,
    random_choices,
    random_member,
    random_sample,
)
from server.errors import INCR_OVERFLOW, NAN_OR_INF, NOT_FLOAT, SYNTAX, WRONGTYPE, CommandError, wrong_arity
from server.protocol import resp

_LISTPACK_ENTRIES = 128  # Redis 7.0's defaults, when the config does not carry the directives
_LISTPACK_VALUE = 64
HASH_NOT_INTEGER = "ERR hash value is not an integer"
HASH_NOT_FLOAT = "ERR hash value is not a float"
VALUE_NAN_OR_INF = "ERR value is NaN or Infinity"


def _lookup_hash(c: Client, key: bytes) -> dict[bytes, bytes] | None:
    """The hash at `key`, None if missing; WRONGTYPE for any other type."""
    v = c.db.lookup(key)
    if v is None or v.__class__ is dict:
        return v
    raise CommandError(WRONGTYPE)


def _lookup_or_create(c: Client, key: bytes) -> dict[bytes, bytes]:
    """Redis's hashTypeLookupWriteOrCreate: the hash at `key`, created empty when missing."""
    db = c.db
    v = db.lookup(key)
    if v is None:
        v = {}
        db.set(key, v)
        return v
    if v.__class__ is not dict:
        raise CommandError(WRONGTYPE)
    return v


# --- HSET family ---------------------------------------------------------------------------------


def _limits(c: Client) -> tuple[int, int]:
    config = c.engine.config
    return (
        int(getattr(config, "hash_max_listpack_entries", _LISTPACK_ENTRIES)),
        int(getattr(config, "hash_max_listpack_value", _LISTPACK_VALUE)),
    )


def _note_shrink(c: Client, key: bytes, h: dict[bytes, bytes]) -> None:
    """`h` was hashtable-encoded in Redis (too many fields, or a long field or value) and
    just lost fields or long values: Redis never converts back to a listpack, but encodings
    here follow contents, so record the sticky one if the contents now look small."""
    entries, vmax = _limits(c)
    if h and len(h) <= entries and all(len(f) <= vmax and len(v) <= vmax for f, v in h.items()):
        mark_encoding(c.db, key, h, b"hashtable")


def _update(c: Client, key: bytes, h: dict[bytes, bytes], argv: list[bytes]) -> None:
    """Set the field/value pairs of argv[2:], reporting new fields to a random-pick pool."""
    shrinks = False
    if h:
        entries, vmax = _limits(c)
        if len(h) <= entries:  # (a hash with too many fields stays big whatever HSET writes)
            if len(argv) == 4:
                old = h.get(argv[2])
                shrinks = old is not None and len(old) > vmax
            else:
                shrinks = any(len(h.get(f, b"")) > vmax for f in argv[2::2])
    n = len(argv)
    p = pool_of(h)
    if p is None:
        if n == 4:
            h[argv[2]] = argv[3]
        else:
            for i in range(2, n, 2):
                h[argv[i]] = argv[i + 1]
    else:
        for i in range(2, n, 2):
            f = argv[i]
            if f not in h:
                p.added(f)
            h[f] = argv[i + 1]
    if shrinks:  # a long value was overwritten: the hash may look like a listpack again
        _note_shrink(c, key, h)


@command("hset", -4, "write denyoom fast", 1, 1, 1, group="hash")
def hset(c: Client, argv: list[bytes]) -> bytes:
    n = len(argv)
    if n & 1:
        raise wrong_arity(b"hset")
    h = _lookup_or_create(c, argv[1])
    before = len(h)
    _update(c, argv[1], h, argv)
    c.engine.dirty += (n - 2) >> 1
    return resp.integer(len(h) - before)


@command("hmset", -4, "write denyoom fast", 1, 1, 1, group="hash")
def hmset(c: Client, argv: list[bytes]) -> bytes:
    n = len(argv)
    if n & 1:
        raise wrong_arity(b"hmset")
    h = _lookup_or_create(c, argv[1])
    _update(c, argv[1], h, argv)
    c.engine.dirty += (n - 2) >> 1
    return resp.OK


@command("hsetnx", 4, "write denyoom fast", 1, 1, 1, group="hash")
def hsetnx(c: Client, argv: list[bytes]) -> bytes:
    h = _lookup_or_create(c, argv[1])
    field = argv[2]
    if field in h:
        return resp.ZERO
    p = pool_of(h)
    h[field] = argv[3]
    if p is not None:
        p.added(field)
    c.engine.dirty += 1
    return resp.ONE


# --- reads ---------------------------------------------------------------------------------------


@command("hget", 3, "readonly fast", 1, 1, 1, group="hash")
def hget(c: Client, argv: list[bytes]) -> bytes:
    h = c.db.lookup(argv[1])
    if h is None:
        return resp.NULL3 if c.resp == 3 else resp.NULL2
    if h.__class__ is not dict:
        raise CommandError(WRONGTYPE)
    v = h.get(argv[2])
    if v is None:
        return resp.NULL3 if c.resp == 3 else resp.NULL2
    return resp.bulk(v)


@command("hmget", -3, "readonly fast", 1, 1, 1, group="hash")
def hmget(c: Client, argv: list[bytes]) -> bytes:
    h = _lookup_hash(c, argv[1])
    nul = resp.NULL3 if c.resp == 3 else resp.NULL2
    fields = argv[2:]
    if h is None:
        return resp.array_header(len(fields)) + nul * len(fields)
    bulk = resp.bulk
    parts = [nul if (v := h.get(f)) is None else bulk(v) for f in fields]
    return resp.array_header(len(parts)) + b"".join(parts)


@command("hgetall", 2, "readonly", 1, 1, 1, group="hash")
def hgetall(c: Client, argv: list[bytes]) -> bytes:
    h = _lookup_hash(c, argv[1])
    if h is None:
        return b"%0\r\n" if c.resp == 3 else resp.EMPTY_ARRAY
    bulk = resp.bulk
    body = b"".join([bulk(f) + bulk(v) for f, v in h.items()])
    return resp.map_header(len(h), c.resp) + body


@command("hkeys", 2, "readonly", 1, 1, 1, group="hash")
def hkeys(c: Client, argv: list[bytes]) -> bytes:
    h = _lookup_hash(c, argv[1])
    if h is None:
        return resp.EMPTY_ARRAY
    return resp.bulk_array(h)


@command("hvals", 2, "readonly", 1, 1, 1, group="hash")
def hvals(c: Client, argv: list[bytes]) -> bytes:
    h = _lookup_hash(c, argv[1])
    if h is None:
        return resp.EMPTY_ARRAY
    return resp.bulk_array(h.values())


@command("hlen", 2, "readonly fast", 1, 1, 1, group="hash")
def hlen(c: Client, argv: list[bytes]) -> bytes:
    h = _lookup_hash(c, argv[1])
    return resp.integer(0 if h is None else len(h))


@command("hexists", 3, "readonly fast", 1, 1, 1, group="hash")
def hexists(c: Client, argv: list[bytes]) -> bytes:
    h = _lookup_hash(c, argv[1])
    return resp.ONE if h is not None and argv[2] in h else resp.ZERO


@command("hstrlen", 3, "readonly fast", 1, 1, 1, group="hash")
def hstrlen(c: Client, argv: list[bytes]) -> bytes:
    h = _lookup_hash(c, argv[1])
    if h is None:
        return resp.ZERO
    v = h.get(argv[2])
    return resp.ZERO if v is None else resp.integer(len(v))


# --- HDEL ----------------------------------------------------------------------------------------


@command("hdel", -3, "write fast", 1, 1, 1, group="hash")
def hdel(c: Client, argv: list[bytes]) -> bytes:
    key = argv[1]
    h = _lookup_hash(c, key)
    if h is None:
        return resp.ZERO
    deleted = 0
    longest = 0
    before = len(h)
    p = pool_of(h)
    for f in argv[2:]:
        v = h.pop(f, None)
        if v is not None:
            deleted += 1
            longest = max(longest, len(f), len(v))
            if p is not None:
                p.removed(f)
            if not h:
                break  # Redis stops once the hash is gone
    if deleted:
        if not h:
            forget_pool(h)
            c.db.delete(key)
        else:
            entries, vmax = _limits(c)
            if before > entries or longest > vmax:
                _note_shrink(c, key, h)
        c.engine.dirty += deleted
    return resp.integer(deleted)


# --- increments ----------------------------------------------------------------------------------


@command("hincrby", 4, "write denyoom fast", 1, 1, 1, group="hash")
def hincrby(c: Client, argv: list[bytes]) -> bytes:
    incr = parse_int(argv[3])
    h = _lookup_or_create(c, argv[1])
    field = argv[2]
    old = h.get(field)
    value = 0 if old is None else parse_int(old, HASH_NOT_INTEGER)
    value += incr
    if value > INT64_MAX or value < INT64_MIN:
        raise CommandError(INCR_OVERFLOW)
    p = pool_of(h) if old is None else None
    h[field] = b"%d" % value
    if p is not None:
        p.added(field)
    c.engine.dirty += 1
    return resp.integer(value)


@command("hincrbyfloat", 4, "write denyoom fast", 1, 1, 1, group="hash")
def hincrbyfloat(c: Client, argv: list[bytes]) -> bytes:
    incr = ld_parse(argv[3])
    if incr is None:
        raise CommandError(NOT_FLOAT)
    if incr is _LD_INF:
        raise CommandError(VALUE_NAN_OR_INF)
    key, field = argv[1], argv[2]
    h = _lookup_or_create(c, key)
    old = h.get(field)
    if old is None:
        value: tuple[int, int] = _LD_ZERO
    else:
        parsed = ld_parse(old)
        if parsed is None:
            raise CommandError(HASH_NOT_FLOAT)
        if parsed is _LD_INF:
            raise CommandError(NAN_OR_INF)
        value = parsed
    total = ld_add(value, incr)
    if total is None:
        raise CommandError(NAN_OR_INF)
    text = ld_format_human(total)
    p = pool_of(h) if old is None else None
    h[field] = text
    if p is not None:
        p.added(field)
    elif old is not None and len(old) > _limits(c)[1]:
        _note_shrink(c, key, h)
    c.engine.dirty += 1
    c.prop = [[b"HSET", key, field, text]]
    return resp.bulk(text)


# --- HRANDFIELD ----------------------------------------------------------------------------------


@command("hrandfield", -2, "readonly", 1, 1, 1, group="hash")
def hrandfield(c: Client, argv: list[bytes]) -> bytes:
    n = len(argv)
    if n == 2:
        h = c.db.lookup(argv[1])
        if h is None:
            return resp.null(c.resp)
        if h.__class__ is not dict:
            raise CommandError(WRONGTYPE)
        return resp.bulk(random_member(h, c.engine.rng)[0])
    count = parse_int(argv[2])
    if count < -INT64_MAX:
        raise CommandError(LONG_RANGE)
    withvalues = False
    if n > 4 or (n == 4 and argv[3].lower() != b"withvalues"):
        raise CommandError(SYNTAX)
    if n == 4:
        withvalues = True
        if count < -(INT64_MAX // 2) or count > INT64_MAX // 2:
            raise CommandError(VALUE_OUT_OF_RANGE)
    h = _lookup_hash(c, argv[1])
    if h is None or count == 0:
        return resp.EMPTY_ARRAY
    return _random_fields(c, h, count, withvalues)


def _random_fields(c: Client, h: dict[bytes, bytes], count: int, withvalues: bool) -> bytes:
    """HRANDFIELD with a count: distinct fields for count > 0, repeats allowed for count < 0."""
    rng = c.engine.rng
    size = len(h)
    if count < 0 or count == 1:
        k = -count if count < 0 else 1
        if k > MAX_REPEATED_PICKS:
            raise CommandError(VALUE_OUT_OF_RANGE)
        picked = random_choices(h, k, rng)
    elif count >= size:
        picked = list(h)
    else:
        picked = random_sample(h, count, rng)[0]
    bulk = resp.bulk
    if not withvalues:
        return resp.array_header(len(picked)) + b"".join([bulk(f) for f in picked])
    if c.resp == 3:
        return resp.array_header(len(picked)) + b"".join([b"*2\r\n" + bulk(f) + bulk(h[f]) for f in picked])
    return resp.array_header(2 * len(picked)) + b"".join([bulk(f) + bulk(h[f]) for f in picked])


@command("hscan", -3, "readonly", 1, 1, 1, group="hash")
def hscan(c: Client, argv: list[bytes]) -> bytes:
    return scan_key(c, argv, "hash")


# --- long double emulation -------------------------------------------------------------------------
#
# A finite long double is `(m, e)` meaning m * 2**e with |m| < 2**64 (the sign lives in m);
# zero is (0, 0). `_LD_INF` stands for either infinity (only ever rejected, never computed with).

_LD_ZERO: tuple[int, int] = (0, 0)
_LD_INF: tuple[int, int] = (1, 1 << 20)
_LD_MANT_BITS = 64
_LD_MIN_EXP = -16382  # the smallest normal is 2**-16382; subnormals share its quantum
_LD_OVERFLOW_BITS = 16384  # values >= 2**16384 overflow to infinity
_TEN_1000 = 10**1000
_TEN_4000 = 10**4000
MAX_LONG_DOUBLE_CHARS = 5 * 1024

_DEC_RE = re.compile(rb"([+-]?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?")
_HEX_RE = re.compile(
    rb"([+-]?)0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))(?:[pP]([+-]?[0-9]+))?"
)
_INF_RE = re.compile(rb"[+-]?(?:inf|infinity)", re.IGNORECASE)


def _digits_to_int(digits: bytes) -> int:
    """int() of a decimal digit string of any length (Python caps int<->str at 4300 digits)."""
    if len(digits) <= 4000:
        return int(digits)
    n = 0
    for i in range(0, len(digits), 1000):
        chunk = digits[i : i + 1000]
        n = n * 10 ** len(chunk) + int(chunk)
    return n


def _int_to_digits(n: int) -> bytes:
    """The decimal digits of `n` >= 0, of any length."""
    if n < _TEN_4000:
        return b"%d" % n
    parts: list[int] = []
    while n:
        n, r = divmod(n, _TEN_1000)
        parts.append(r)
    return b"%d" % parts[-1] + b"".join([b"%01000d" % p for p in reversed(parts[:-1])])


def _exponent(b: bytes | None) -> int:
    """An exponent's value, clamped far beyond any long double's range."""
    if not b:
        return 0
    neg = b[:1] == b"-"
    digits = b.lstrip(b"+-").lstrip(b"0")
    v = 10**18 if len(digits) > 18 else int(digits or b"0")
    return -v if neg else v


def _round_ratio(neg: bool, num: int, den: int) -> tuple[int, int] | None:
    """num/den (positive) rounded to nearest-even long double, with sign; None on overflow."""
    if num == 0:
        return _LD_ZERO
    e = num.bit_length() - den.bit_length()  # now 2**(e-1) < num/den < 2**(e+1)
    if (num < (den << e)) if e >= 0 else ((num << -e) < den):
        e -= 1  # so that 2**e <= num/den < 2**(e+1)
    q = max(e, _LD_MIN_EXP) - (_LD_MANT_BITS - 1)  # the quantum, 2**q
    if q >= 0:
        m, r = divmod(num, den << q)
        half = den << q
    else:
        m, r = divmod(num << -q, den)
        half = den
    r2 = r << 1
    if r2 > half or (r2 == half and m & 1):
        m += 1
    if m == 0:
        return _LD_ZERO
    if m.bit_length() + q > _LD_OVERFLOW_BITS:
        return None
    return (-m if neg else m, q)


def ld_parse(b: bytes) -> tuple[int, int] | None:
    """Redis's string2ld (strtold, whole string, no leading space, no NaN, no overflow or
    underflow to zero). Returns the value, `_LD_INF` for an infinity, or None if invalid."""
    n = len(b)
    if n == 0 or n >= MAX_LONG_DOUBLE_CHARS:
        return None
    nul = b.find(b"\x00")
    if nul >= 0:
        b = b[:nul]  # C sees the string end at the first NUL
        if not b:
            return _LD_ZERO  # strtold parses nothing and stops at the (empty) end
    if b[0] in b" \t\n\v\f\r":
        return None
    m = _DEC_RE.fullmatch(b)
    if m is not None:
        sign, ip, fp, fp_only, exp = m.groups()
        if fp_only is not None:
            ip, fp = b"", fp_only
        fp = fp or b""
        digits = (ip + fp).lstrip(b"0")
        if not digits:
            return _LD_ZERO
        x = _exponent(exp) - len(fp)
        adj = x + len(digits) - 1  # the value is in [10**adj, 10**(adj+1))
        if adj > 4933:
            return None  # overflow (ERANGE with HUGE_VALL)
        if adj < -4952:
            return None  # underflow to zero (ERANGE with 0)
        d = _digits_to_int(digits)
        r = _round_ratio(sign == b"-", d * 10**x, 1) if x >= 0 else _round_ratio(sign == b"-", d, 10**-x)
        if r is None or r[0] == 0:
            return None
        return r
    m = _HEX_RE.fullmatch(b)
    if m is not None:
        sign, ip, fp, fp_only, exp = m.groups()
        if fp_only is not None:
            ip, fp = b"", fp_only
        fp = fp or b""
        digits = (ip + fp).lstrip(b"0")
        if not digits:
            return _LD_ZERO
        x = _exponent(exp) - 4 * len(fp)
        d = int(digits, 16)
        top = d.bit_length() - 1 + x
        if top >= _LD_OVERFLOW_BITS:
            return None
        if top < _LD_MIN_EXP - _LD_MANT_BITS - 2:
            return None
        r = _round_ratio(sign == b"-", d << x, 1) if x >= 0 else _round_ratio(sign == b"-", d, 1 << -x)
        if r is None or r[0] == 0:
            return None
        return r
    if _INF_RE.fullmatch(b):
        return _LD_INF
    return None


def ld_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    """a + b rounded to long double; None when the sum overflows to infinity."""
    (ma, ea), (mb, eb) = a, b
    if ma == 0:
        return b
    if mb == 0:
        return a
    e = min(ea, eb)
    s = (ma << (ea - e)) + (mb << (eb - e))
    if e >= 0:
        return _round_ratio(s < 0, abs(s) << e, 1)
    return _round_ratio(s < 0, abs(s), 1 << -e)


def ld_format_human(v: tuple[int, int]) -> bytes:
    """Redis's ld2string(LD_STR_HUMAN): `%.17Lf`, trailing zeros and dot dropped, -0 as 0."""
    m, e = v
    neg = m < 0
    m = -m if neg else m
    if e >= 0:
        text = _int_to_digits(m << e)
    else:
        scaled, r = divmod(m * 10**17, 1 << -e)
        r2 = r << 1
        if r2 > (1 << -e) or (r2 == (1 << -e) and scaled & 1):
            scaled += 1
        ip, fp = divmod(scaled, 10**17)
        frac = (b"%017d" % fp).rstrip(b"0")
        text = _int_to_digits(ip) + b"." + frac if frac else _int_to_digits(ip)
    if neg and text != b"0":
        return b"-" + text
    return text
