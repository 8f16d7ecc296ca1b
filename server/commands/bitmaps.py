"""Bitmap commands, as Redis 7.0.15's bitops.c: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
BITFIELD, BITFIELD_RO.

Values are plain `bytes` (bit 0 is the most significant bit of byte 0). Reads work on
memoryviews (no copies): BITCOUNT is a C-level popcount of one big int (about 2.5 ns per byte,
so 150 ms for 64 MB where Redis takes a few ms), BITPOS a regex scan for the first interesting
byte. As in 7.0.15, SETBIT and BITFIELD count (and so propagate) a change only when the string
grew or a stored value differs; a bit write always leaves the string raw-encoded.

Writes and the cost of immutable strings. Redis flips a bit in place; a `bytes` value cannot be
changed, so a write normally builds a new string: one copy of the whole value (measured per
SETBIT at random offsets: 1 MB ~0.1 ms, 16 MB ~6 ms, 64 MB ~100 ms). To keep SETBIT and BITFIELD
O(1) on big bitmaps (measured ~5 us per SETBIT at any size), a write that does not grow the
string changes the stored `bytes` object in place (`_Buf`), but only when no one else can tell:

- the string is at least `INPLACE_MIN` bytes (small values may be shared singletons and are
  cheap to copy anyway);
- the keyspace holds the only reference to the object: its reference count is exactly that of
  a value held by one dict and the handler (calibrated at import), so no argv, reply, slow log
  entry, memoryview, encoding mark, COPY of the key or anything else shares it;
- the interpreter is CPython 3.11-3.13 with the GIL, and the object layout was verified at
  import (content offset and cached-hash slot); otherwise `INPLACE` is False and writes copy.

The object's cached hash is reset after a change, so it stays a valid `bytes` in every respect.
Forked children (RDB, AOF rewrite, full sync) have their own copy of memory and never see it.
A write that grows the string (SETBIT/BITFIELD past the end) still builds a new object, as
Python `bytes` cannot grow: O(n) per growth, where Redis amortises with preallocation (a
bitmap grown one byte at a time costs O(n^2) in all; setting its highest bit first avoids it).
"""

from __future__ import annotations

import ctypes
import re
import sys
import sysconfig

from server.client import Client
from server.commands.args import INT64_MAX, parse_int
from server.commands.registry import command
from server.commands.scan import ENCODING_MARKS, mark_raw, unmark_encoding
from server.commands.strings import count_lookup
from server.errors import SYNTAX, WRONGTYPE, CommandError
from server.protocol import resp

BIT_OFFSET_ERR = "ERR bit offset is not an integer or out of range"
BIT_VALUE_ERR = "ERR bit is not an integer or out of range"
BITFIELD_TYPE_ERR = (
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
)
_U64 = 1 << 64

# --- in-place writes to exclusively owned bytes ----------------------------------------------------

INPLACE_MIN = 4096
_SVAL = bytes.__basicsize__ - 1  # offset of ob_sval in PyBytesObject
_SHASH = _SVAL - ctypes.sizeof(ctypes.c_ssize_t)  # offset of ob_shash, just before it


def _refs(v: bytes) -> int:
    return sys.getrefcount(v)


def _calibrate() -> tuple[bool, int]:
    """Check the PyBytesObject layout and measure the reference count of a value that only a
    dict and one local variable hold, seen through `_refs` as the handlers call it."""
    if sys.implementation.name != "cpython" or sys.version_info[:2] not in ((3, 11), (3, 12), (3, 13)):
        return False, 0
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return False, 0  # free-threaded builds count references differently
    try:
        probe = bytes(range(256)) * 20
        if ctypes.string_at(id(probe) + _SVAL, len(probe) + 1) != probe + b"\0":
            return False, 0
        h = hash(probe)
        if ctypes.c_ssize_t.from_address(id(probe) + _SHASH).value != h:
            return False, 0
        d = {b"k": bytes(bytearray(INPLACE_MIN))}
        v = d[b"k"]
        baseline = _refs(v)
        other = v  # one more holder must show
        if _refs(v) != baseline + 1:
            return False, 0
        del other
    except Exception:  # any surprise: copy on every write
        return False, 0
    return True, baseline


INPLACE, _OWNED_REFS = _calibrate()


class _Buf:
    """A write target over the current value. Reads see the value itself (zero-padded when the
    write grows it); the first write either copies it into a bytearray (the default) or, when
    allowed (see the module docstring), changes the stored `bytes` object in place."""

    __slots__ = ("ba", "grew", "inplace", "v", "written")

    def __init__(self, v: bytes, size: int, inplace: bool, existed: bool) -> None:
        self.v = v
        self.inplace = inplace
        self.written = False
        self.grew = not existed or size > len(v)  # Redis's strGrowSize != 0
        self.ba: bytearray | None = None
        if self.grew:
            ba = bytearray(size)  # zeroed once: no temporary padding string
            ba[: len(v)] = v
            self.ba = ba

    def view(self) -> memoryview:
        return memoryview(self.v if self.ba is None else self.ba)

    def write(self, pos: int, data: bytes) -> None:
        self.written = True
        if self.ba is not None:
            self.ba[pos : pos + len(data)] = data
        elif self.inplace:
            ctypes.memmove(id(self.v) + _SVAL + pos, data, len(data))
        else:
            self.ba = bytearray(self.v)
            self.ba[pos : pos + len(data)] = data

    def finish(self) -> bytes:
        """The value to store: the new string, or the same object (its cached hash reset if it
        was changed in place)."""
        if self.ba is not None:
            return bytes(self.ba)
        if self.written:
            ctypes.c_ssize_t.from_address(id(self.v) + _SHASH).value = -1
        return self.v


def _write_target(c: Client, key: bytes, maxbit: int) -> _Buf:
    """Redis's lookupStringForBitCommand: the key's string (or a new one), zero-padded so that
    bit `maxbit` exists. A write lookup: not counted in keyspace hits/misses."""
    size = (maxbit >> 3) + 1
    v = c.db.lookup(key)
    if v is None:
        return _Buf(b"", size, False, False)
    if v.__class__ is not bytes:
        raise CommandError(WRONGTYPE)
    n = len(v)
    # `v` is this frame's only reference besides the keyspace's (see _calibrate)
    inplace = INPLACE and n >= size and n >= INPLACE_MIN and _refs(v) == _OWNED_REFS
    return _Buf(v, size, inplace, True)


def _store(c: Client, key: bytes, buf: _Buf) -> None:
    """Put the string back (TTL kept, as Redis changes the object in place). Redis's bit
    writers unshare the value first, so it is raw-encoded afterwards, whatever its length or
    contents, even when no bit changed."""
    new = buf.finish()
    db = c.db
    if new is not buf.v or buf.grew:
        db.set(key, new, keepttl=True)
    if len(new) <= 44:
        mark_raw(db, key, new)
    elif ENCODING_MARKS:
        unmark_encoding(db, key)


# --- argument parsing ---------------------------------------------------------------------------


def _cstr(b: bytes) -> bytes:
    """What C's string functions see of an argument: up to the first NUL, lowercased."""
    return b.split(b"\0", 1)[0].lower()


def _wrap64(n: int) -> int:
    n &= _U64 - 1
    return n - _U64 if n >> 63 else n


def bit_offset(c: Client, arg: bytes, bits: int = 0) -> int:
    """Redis's getBitOffsetFromArgument: a non-negative offset whose byte is below
    proto-max-bulk-len (the master's stream is exempt); with `bits`, "#N" means N * bits."""
    usehash = bits > 0 and arg[:1] == b"#"
    off = parse_int(arg[1:] if usehash else arg, BIT_OFFSET_ERR)
    if usehash:
        off = _wrap64(off * bits)  # C's int64 multiplication
    if off < 0 or (c.kind != "master" and (off >> 3) >= c.engine.config.proto_max_bulk_len):
        raise CommandError(BIT_OFFSET_ERR)
    return off


def _read_string(c: Client, key: bytes) -> bytes | None:
    """A read lookup (counted in keyspace stats) that must find a string or nothing."""
    v = c.db.lookup(key)
    count_lookup(c, v)
    if v is not None and v.__class__ is not bytes:
        raise CommandError(WRONGTYPE)
    return v


# --- SETBIT / GETBIT ------------------------------------------------------------------------------


@command("setbit", 4, "write denyoom", 1, 1, 1, group="bitmap")
def setbit(c: Client, argv: list[bytes]) -> bytes:
    """Returns the old bit. A change (propagated, WATCH-visible) only if the string grew or the
    bit flipped, as in Redis 7.0.15."""
    offset = bit_offset(c, argv[2])
    on = parse_int(argv[3], BIT_VALUE_ERR)
    if on & ~1:
        raise CommandError(BIT_VALUE_ERR)
    buf = _write_target(c, argv[1], offset)
    byte = offset >> 3
    shift = 7 - (offset & 7)
    old = buf.view()[byte]
    bit = old >> shift & 1
    if bit != on:
        buf.write(byte, bytes((old ^ (1 << shift),)))
    _store(c, argv[1], buf)
    if buf.grew or bit != on:
        c.engine.dirty += 1
    return resp.ONE if bit else resp.ZERO


@command("getbit", 3, "readonly fast", 1, 1, 1, group="bitmap")
def getbit(c: Client, argv: list[bytes]) -> bytes:
    offset = bit_offset(c, argv[2])
    v = _read_string(c, argv[1])
    byte = offset >> 3
    if v is None or byte >= len(v):
        return resp.ZERO
    return resp.ONE if v[byte] >> (7 - (offset & 7)) & 1 else resp.ZERO


# --- BITCOUNT / BITPOS ----------------------------------------------------------------------------


def _range_unit(arg: bytes) -> bool:
    """BIT or BYTE (True for BIT); anything else is a syntax error."""
    u = _cstr(arg)
    if u == b"bit":
        return True
    if u == b"byte":
        return False
    raise CommandError(SYNTAX)


def _clamp(start: int, end: int, totlen: int) -> tuple[int, int]:
    """Redis's index normalisation: negatives from the end, then clamped into [0, totlen-1]."""
    if start < 0:
        start += totlen
    if end < 0:
        end += totlen
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= totlen:
        end = totlen - 1
    return start, end


def _popcount(v: bytes | memoryview) -> int:
    return int.from_bytes(v, "little").bit_count()


@command("bitcount", -2, "readonly", 1, 1, 1, group="bitmap")
def bitcount(c: Client, argv: list[bytes]) -> bytes:
    """A missing key counts 0 before the range is even parsed (Redis 7.0's order)."""
    v = _read_string(c, argv[1])
    if v is None:
        return resp.ZERO
    n = len(argv)
    if n == 2:
        return resp.integer(_popcount(v))
    if n not in (4, 5):
        raise CommandError(SYNTAX)
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    if start < 0 and end < 0 and start > end:
        return resp.ZERO
    isbit = _range_unit(argv[4]) if n == 5 else False
    totlen = len(v) * 8 if isbit else len(v)
    start, end = _clamp(start, end, totlen)
    if start > end:
        return resp.ZERO
    if not isbit:
        return resp.integer(_popcount(memoryview(v)[start : end + 1]))
    bits = int.from_bytes(memoryview(v)[start >> 3 : (end >> 3) + 1], "big")
    bits >>= 7 - (end & 7)  # drop the bits after `end`
    bits &= (1 << (end - start + 1)) - 1  # and those before `start`
    return resp.integer(bits.bit_count())


_NONZERO = re.compile(rb"[^\x00]")
_NONFF = re.compile(rb"[^\xff]")


def _first_bit(v: bytes, bit: int, first: int, last: int) -> int:
    """The first bit equal to `bit` in bit positions [first, last] of `v`, or -1."""
    fb, lb = first >> 3, last >> 3
    want = 0xFF if bit == 0 else 0  # a byte with no `bit` in it
    # the partial first byte, then whole bytes, then the partial last byte
    if first & 7 or fb == lb:
        stop = last if fb == lb else fb * 8 + 7
        for pos in range(first, stop + 1):
            if (v[pos >> 3] >> (7 - (pos & 7))) & 1 == bit:
                return pos
        if fb == lb:
            return -1
        fb += 1
    whole_end = lb if last & 7 == 7 else lb - 1
    if fb <= whole_end:
        m = (_NONFF if bit == 0 else _NONZERO).search(v, fb, whole_end + 1)
        if m is not None:
            byte = m.start()
            x = v[byte] ^ want  # its `bit` bits are now the set ones
            return byte * 8 + 8 - x.bit_length()
    if last & 7 != 7:
        for pos in range(lb * 8, last + 1):
            if (v[lb] >> (7 - (pos & 7))) & 1 == bit:
                return pos
    return -1


@command("bitpos", -3, "readonly", 1, 1, 1, group="bitmap")
def bitpos(c: Client, argv: list[bytes]) -> bytes:
    """A missing key is an infinite run of zeros (0 for a clear bit, -1 for a set one), answered
    before the range is parsed; without an explicit end, a clear bit may be found just past the
    string's end (the string counts as zero-padded), as in Redis."""
    bit = parse_int(argv[2])
    if bit not in (0, 1):
        raise CommandError("ERR The bit argument must be 1 or 0.")
    v = _read_string(c, argv[1])
    if v is None:
        return resp.integer(-1 if bit else 0)
    n = len(argv)
    end_given = False
    isbit = False
    strlen = len(v)
    if n in (4, 5, 6):
        start = parse_int(argv[3])
        if n == 6:
            isbit = _range_unit(argv[5])
        if n >= 5:
            end = parse_int(argv[4])
            end_given = True
        else:
            end = strlen * 8 + 7 if isbit else strlen - 1
        start, end = _clamp(start, end, strlen * 8 if isbit else strlen)
    elif n == 3:
        start, end = 0, strlen - 1
    else:
        raise CommandError(SYNTAX)
    if start > end:
        return resp.integer(-1)
    first, last = (start, end) if isbit else (start * 8, end * 8 + 7)
    pos = _first_bit(v, bit, first, last)
    if pos == -1 and bit == 0 and not end_given:
        pos = ((last >> 3) + 1) * 8  # the zero padding right after the range
    return resp.integer(pos)


# --- BITOP ------------------------------------------------------------------------------------------

_NOT_TABLE = bytes(range(255, -1, -1))


@command("bitop", -4, "write denyoom", 2, -1, 1, group="bitmap", written_keys_fn=lambda argv: argv[2:3])
def bitop(c: Client, argv: list[bytes]) -> bytes:
    """Missing keys and short strings count as zero bytes; the result (as long as the longest
    input) replaces the destination, or deletes it when every input is empty."""
    op = _cstr(argv[1])
    if op not in (b"and", b"or", b"xor", b"not"):
        raise CommandError(SYNTAX)
    if op == b"not" and len(argv) != 4:
        raise CommandError("ERR BITOP NOT must be called with a single source key.")
    srcs: list[bytes] = []
    for k in argv[3:]:
        v = _read_string(c, k)
        srcs.append(b"" if v is None else v)
    maxlen = max(len(s) for s in srcs)
    db = c.db
    dest = argv[2]
    if not maxlen:
        if db.delete(dest):
            c.engine.dirty += 1
        return resp.ZERO
    if op == b"not":
        res = srcs[0].translate(_NOT_TABLE)
    else:
        # big-endian ints padded on the right: bytes past a short string are zeros
        acc = int.from_bytes(srcs[0], "big") << (8 * (maxlen - len(srcs[0])))
        for s in srcs[1:]:
            x = int.from_bytes(s, "big") << (8 * (maxlen - len(s)))
            if op == b"and":
                acc &= x
            elif op == b"or":
                acc |= x
            else:
                acc ^= x
        res = acc.to_bytes(maxlen, "big")
    db.set(dest, res)
    if len(res) <= 44:
        mark_raw(db, dest, res)  # BITOP stores a raw string, even a short or numeric one
    elif ENCODING_MARKS:
        unmark_encoding(db, dest)
    c.engine.dirty += 1
    return resp.integer(maxlen)


# --- BITFIELD ---------------------------------------------------------------------------------------

_GET, _SET, _INCRBY = 0, 1, 2
_WRAP, _SAT, _FAIL = 0, 1, 2


def _bitfield_type(arg: bytes) -> tuple[bool, int]:
    """Redis's getBitfieldTypeFromArgument: i1..i64 or u1..u63 -> (signed, bits)."""
    sign = arg[:1]
    if sign not in (b"i", b"u"):
        raise CommandError(BITFIELD_TYPE_ERR)
    signed = sign == b"i"
    bits = parse_int(arg[1:].split(b"\0", 1)[0], BITFIELD_TYPE_ERR)  # read with strlen
    if bits < 1 or bits > (64 if signed else 63):
        raise CommandError(BITFIELD_TYPE_ERR)
    return signed, bits


def _get_field(view: memoryview, offset: int, bits: int, signed: bool) -> int:
    """The `bits`-wide field at bit `offset` (zero beyond the end of the string)."""
    first, last = offset >> 3, (offset + bits - 1) >> 3
    chunk = bytes(view[first : last + 1])
    nbytes = last - first + 1
    if len(chunk) < nbytes:
        chunk += bytes(nbytes - len(chunk))
    word = int.from_bytes(chunk, "big")
    val = (word >> (nbytes * 8 - (offset & 7) - bits)) & ((1 << bits) - 1)
    if signed and val >> (bits - 1):
        val -= 1 << bits
    return val


def _set_field(buf: _Buf, offset: int, bits: int, value: int) -> None:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    nbytes = last - first + 1
    word = int.from_bytes(buf.view()[first : last + 1], "big")
    shift = nbytes * 8 - (offset & 7) - bits
    mask = ((1 << bits) - 1) << shift
    word = (word & ~mask) | ((value << shift) & mask)
    buf.write(first, word.to_bytes(nbytes, "big"))


def _signed_overflow(value: int, incr: int, bits: int) -> int:
    """Redis's checkSignedBitfieldOverflow, int64 wrap-arounds included: 1 (too big), -1 (too
    small) or 0. Its C arithmetic makes SET of a value near INT64_MIN count as too *big* for a
    field narrower than 64 bits (so SAT stores the maximum), as stock Redis does."""
    hi = INT64_MAX if bits == 64 else (1 << (bits - 1)) - 1
    lo = -hi - 1
    maxincr = _wrap64(hi - value)
    minincr = _wrap64(lo - value)
    if value > hi or (bits != 64 and incr > maxincr) or (value >= 0 and incr > 0 and incr > maxincr):
        return 1
    if value < lo or (bits != 64 and incr < minincr) or (value < 0 and incr < 0 and incr < minincr):
        return -1
    return 0


def _unsigned_overflow(value: int, incr: int, bits: int) -> int:
    """Redis's checkUnsignedBitfieldOverflow (`value` is a uint64, `incr` an int64)."""
    hi = (1 << bits) - 1
    if value > hi or (incr > 0 and incr > _wrap64(hi - value)):
        return 1
    if incr < 0 and incr < _wrap64(-value):
        return -1
    return 0


def _apply(value: int, incr: int, bits: int, signed: bool, owtype: int) -> tuple[int, bool]:
    """value + incr as the field stores it: (the result, whether it overflowed). SAT clamps to
    the side Redis's check reports, WRAP (and FAIL, which stores nothing) keeps the low bits."""
    over = _signed_overflow(value, incr, bits) if signed else _unsigned_overflow(value, incr, bits)
    total = value + incr
    if not over:
        return total, False
    if owtype == _SAT:
        if signed:
            hi = (1 << (bits - 1)) - 1
            return (hi if over > 0 else -hi - 1), True
        return ((1 << bits) - 1 if over > 0 else 0), True
    wrapped = total & ((1 << bits) - 1)
    if signed and wrapped >> (bits - 1):
        wrapped -= 1 << bits
    return wrapped, True


def _bitfield(c: Client, argv: list[bytes], readonly_cmd: bool) -> bytes:
    ops: list[tuple[int, int, int, bool, int, int]] = []  # (op, offset, bits, signed, value, owtype)
    owtype = _WRAP
    readonly = True
    highest = 0
    j = 2
    n = len(argv)
    while j < n:
        remargs = n - j - 1
        sub = _cstr(argv[j])
        if sub == b"get" and remargs >= 2:
            opcode = _GET
        elif sub == b"set" and remargs >= 3:
            opcode = _SET
        elif sub == b"incrby" and remargs >= 3:
            opcode = _INCRBY
        elif sub == b"overflow" and remargs >= 1:
            kind = _cstr(argv[j + 1])
            if kind == b"wrap":
                owtype = _WRAP
            elif kind == b"sat":
                owtype = _SAT
            elif kind == b"fail":
                owtype = _FAIL
            else:
                raise CommandError("ERR Invalid OVERFLOW type specified")
            j += 2
            continue
        else:
            raise CommandError(SYNTAX)
        signed, bits = _bitfield_type(argv[j + 1])
        offset = bit_offset(c, argv[j + 2], bits)
        value = 0
        if opcode != _GET:
            readonly = False
            highest = max(highest, offset + bits - 1)
            value = parse_int(argv[j + 3])
        ops.append((opcode, offset, bits, signed, value, owtype))
        j += 3 if opcode == _GET else 4
    buf: _Buf | None = None
    if readonly:
        v = _read_string(c, argv[1])
        view = memoryview(b"" if v is None else v)
    else:
        if readonly_cmd:
            raise CommandError("ERR BITFIELD_RO only supports the GET subcommand")
        buf = _write_target(c, argv[1], highest)
        view = buf.view()
    nul = resp.null(c.resp)
    out = [resp.array_header(len(ops))]
    changes = 0
    for opcode, offset, bits, signed, value, ow in ops:
        if opcode == _GET:
            out.append(resp.integer(_get_field(view, offset, bits, signed)))
            continue
        assert buf is not None
        old = _get_field(view, offset, bits, signed)
        if opcode == _INCRBY:
            new, over = _apply(old, value, bits, signed, ow)
            ret = new
        else:
            # SET of an unsigned field reads the argument as a uint64 (-1 is 2**64-1)
            new, over = _apply(value if signed else value & (_U64 - 1), 0, bits, signed, ow)
            ret = old
        if over and ow == _FAIL:
            out.append(nul)
            continue
        out.append(resp.integer(ret))
        if buf.grew or new != old:
            changes += 1
            _set_field(buf, offset, bits, new)
            view = buf.view()
    if buf is not None:
        _store(c, argv[1], buf)
        c.engine.dirty += changes
    return b"".join(out)


@command("bitfield", -2, "write denyoom", 1, 1, 1, group="bitmap")
def bitfield(c: Client, argv: list[bytes]) -> bytes:
    """A SET/INCRBY counts as a change if it stored another value, or stored anything into a
    string this command grew (FAIL refusals never count), as Redis 7.0.15 does: the command is
    propagated whole if any did. With only GETs it is a read."""
    return _bitfield(c, argv, False)


@command("bitfield_ro", -2, "readonly fast", 1, 1, 1, group="bitmap")
def bitfield_ro(c: Client, argv: list[bytes]) -> bytes:
    return _bitfield(c, argv, True)
