"""Redis's compact in-memory encodings, as they appear inside RDB strings.

Older and current Redis versions dump small collections as the raw bytes of their memory
encoding: ziplist (<= 6.2), listpack (>= 7.0), intset and zipmap (<= 2.4). Loading such a file
means decoding those blobs. Decoders return entries as `bytes` or `int` (integer-encoded
entries) and raise EncodingError on anything malformed: a corrupt file must never load as
silently wrong data. `encode_listpack` writes Redis 7's listpack, for tests and DUMP payloads.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable

Entry = bytes | int

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I16 = struct.Struct("<h")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")


class EncodingError(ValueError):
    """A ziplist/listpack/intset/zipmap blob that is not well formed."""


# --- listpack ---------------------------------------------------------------------------------


def _backlen_size(entry_len: int) -> int:
    if entry_len < 128:
        return 1
    if entry_len < 16384:
        return 2
    if entry_len < 2097152:
        return 3
    if entry_len < 268435456:
        return 4
    return 5


def decode_listpack(blob: bytes) -> list[Entry]:
    """All entries of a listpack (Redis >= 7.0's small-collection encoding)."""
    n = len(blob)
    if n < 7:
        raise EncodingError("listpack shorter than its header")
    total = _U32.unpack_from(blob, 0)[0]
    if total != n:
        raise EncodingError(f"listpack header says {total} bytes, blob has {n}")
    if blob[-1] != 0xFF:
        raise EncodingError("listpack without its end byte")
    count = _U16.unpack_from(blob, 4)[0]
    out: list[Entry] = []
    append = out.append
    p = 6
    end = n - 1
    while p < end:
        b = blob[p]
        if b < 0x80:  # 7-bit unsigned int
            append(b)
            p += 2  # entry byte + 1-byte backlen
            continue
        if b < 0xC0:  # 6-bit string length
            ln = b & 0x3F
            start = p + 1
            stop = start + ln
            append(blob[start:stop])
            elen = 1 + ln
        elif b < 0xE0:  # 13-bit signed int
            if p + 1 >= end:
                raise EncodingError("listpack entry past the end")
            v = ((b & 0x1F) << 8) | blob[p + 1]
            append(v - 8192 if v >= 4096 else v)
            elen = 2
        elif b < 0xF0:  # 12-bit string length
            if p + 1 >= end:
                raise EncodingError("listpack entry past the end")
            ln = ((b & 0x0F) << 8) | blob[p + 1]
            start = p + 2
            append(blob[start : start + ln])
            elen = 2 + ln
        elif b == 0xF0:  # 32-bit string length
            if p + 5 > end:
                raise EncodingError("listpack entry past the end")
            ln = _U32.unpack_from(blob, p + 1)[0]
            start = p + 5
            append(blob[start : start + ln])
            elen = 5 + ln
        elif b == 0xF1:
            if p + 3 > end:
                raise EncodingError("listpack entry past the end")
            append(_I16.unpack_from(blob, p + 1)[0])
            elen = 3
        elif b == 0xF2:
            if p + 4 > end:
                raise EncodingError("listpack entry past the end")
            append(int.from_bytes(blob[p + 1 : p + 4], "little", signed=True))
            elen = 4
        elif b == 0xF3:
            if p + 5 > end:
                raise EncodingError("listpack entry past the end")
            append(_I32.unpack_from(blob, p + 1)[0])
            elen = 5
        elif b == 0xF4:
            if p + 9 > end:
                raise EncodingError("listpack entry past the end")
            append(_I64.unpack_from(blob, p + 1)[0])
            elen = 9
        else:
            raise EncodingError(f"listpack entry with unknown encoding byte {b:#x}")
        p += elen + _backlen_size(elen)
    if p != end:
        raise EncodingError("listpack entries run past its end byte")
    if count != 0xFFFF and count != len(out):
        raise EncodingError(f"listpack header says {count} entries, found {len(out)}")
    return out


def _encode_backlen(ln: int) -> bytes:
    if ln <= 127:
        return bytes((ln,))
    if ln < 16383:
        return bytes((ln >> 7, (ln & 127) | 128))
    if ln < 2097151:
        return bytes((ln >> 14, ((ln >> 7) & 127) | 128, (ln & 127) | 128))
    if ln < 268435455:
        return bytes((ln >> 21, ((ln >> 14) & 127) | 128, ((ln >> 7) & 127) | 128, (ln & 127) | 128))
    return bytes(
        (
            ln >> 28,
            ((ln >> 21) & 127) | 128,
            ((ln >> 14) & 127) | 128,
            ((ln >> 7) & 127) | 128,
            (ln & 127) | 128,
        )
    )


def _listpack_entry(e: Entry) -> bytes:
    if isinstance(e, bytes):
        iv = _as_int(e)
        if iv is None:
            n = len(e)
            if n < 64:
                return bytes((0x80 | n,)) + e
            if n < 4096:
                return bytes((0xE0 | (n >> 8), n & 0xFF)) + e
            return b"\xf0" + _U32.pack(n) + e
        e = iv
    if 0 <= e <= 127:
        return bytes((e,))
    if -4096 <= e <= 4095:
        v = e & 0x1FFF
        return bytes((0xC0 | (v >> 8), v & 0xFF))
    if -(1 << 15) <= e < (1 << 15):
        return b"\xf1" + _I16.pack(e)
    if -(1 << 23) <= e < (1 << 23):
        return b"\xf2" + e.to_bytes(3, "little", signed=True)
    if -(1 << 31) <= e < (1 << 31):
        return b"\xf3" + _I32.pack(e)
    return b"\xf4" + _I64.pack(e)


def _as_int(s: bytes) -> int | None:
    """The integer `s` spells in canonical form (as Redis's string2ll accepts), else None."""
    if not s or len(s) > 20 or s[0] not in b"-0123456789":
        return None
    try:
        v = int(s)
    except ValueError:
        return None
    if b"%d" % v != s or not -(1 << 63) <= v < (1 << 63):
        return None
    return v


def encode_listpack(entries: Iterable[Entry]) -> bytes:
    """A listpack holding `entries` (strings that spell integers are stored as integers)."""
    body = bytearray()
    count = 0
    for e in entries:
        enc = _listpack_entry(e)
        body += enc
        body += _encode_backlen(len(enc))
        count += 1
    total = 6 + len(body) + 1
    return _U32.pack(total) + _U16.pack(min(count, 0xFFFF)) + bytes(body) + b"\xff"


# --- ziplist ----------------------------------------------------------------------------------


def decode_ziplist(blob: bytes) -> list[Entry]:
    """All entries of a ziplist (Redis <= 6.2's small-collection encoding)."""
    n = len(blob)
    if n < 11:
        raise EncodingError("ziplist shorter than its header")
    total = _U32.unpack_from(blob, 0)[0]
    if total != n:
        raise EncodingError(f"ziplist header says {total} bytes, blob has {n}")
    if blob[-1] != 0xFF:
        raise EncodingError("ziplist without its end byte")
    tail = _U32.unpack_from(blob, 4)[0]
    count = _U16.unpack_from(blob, 8)[0]
    out: list[Entry] = []
    append = out.append
    p = 10
    end = n - 1
    prev_len = 0
    last_start = 10
    while p < end:
        start = p
        b = blob[p]
        if b < 254:
            stored_prev = b
            p += 1
        elif b == 254:
            if p + 5 > end:
                raise EncodingError("ziplist entry past the end")
            stored_prev = _U32.unpack_from(blob, p + 1)[0]
            p += 5
        else:
            raise EncodingError("ziplist entry with an invalid prevlen")
        if stored_prev != prev_len:
            raise EncodingError("ziplist prevlen does not match the previous entry")
        if p >= end:
            raise EncodingError("ziplist entry past the end")
        e = blob[p]
        kind = e >> 6
        if kind == 0:
            ln = e & 0x3F
            p += 1
        elif kind == 1:
            if p + 2 > end:
                raise EncodingError("ziplist entry past the end")
            ln = ((e & 0x3F) << 8) | blob[p + 1]
            p += 2
        elif kind == 2:
            if e != 0x80 or p + 5 > end:
                raise EncodingError("ziplist entry with an invalid string encoding")
            ln = int.from_bytes(blob[p + 1 : p + 5], "big")
            p += 5
        else:
            ln = -1
            p += 1
            if e == 0xC0:
                v = _I16.unpack_from(blob, p)[0] if p + 2 <= end else None
                p += 2
            elif e == 0xD0:
                v = _I32.unpack_from(blob, p)[0] if p + 4 <= end else None
                p += 4
            elif e == 0xE0:
                v = _I64.unpack_from(blob, p)[0] if p + 8 <= end else None
                p += 8
            elif e == 0xF0:
                v = int.from_bytes(blob[p : p + 3], "little", signed=True) if p + 3 <= end else None
                p += 3
            elif e == 0xFE:
                v = int.from_bytes(blob[p : p + 1], "little", signed=True) if p + 1 <= end else None
                p += 1
            elif 0xF1 <= e <= 0xFD:
                v = (e & 0x0F) - 1
            else:
                raise EncodingError(f"ziplist entry with unknown encoding byte {e:#x}")
            if v is None:
                raise EncodingError("ziplist entry past the end")
            append(v)
        if ln >= 0:
            if p + ln > end:
                raise EncodingError("ziplist entry past the end")
            append(blob[p : p + ln])
            p += ln
        prev_len = p - start
        last_start = start
    if p != end:
        raise EncodingError("ziplist entries run past its end byte")
    if out and tail != last_start:
        raise EncodingError("ziplist tail offset does not point at its last entry")
    if count != 0xFFFF and count != len(out):
        raise EncodingError(f"ziplist header says {count} entries, found {len(out)}")
    return out


def encode_ziplist(entries: Iterable[Entry]) -> bytes:
    """A ziplist holding `entries`, as Redis <= 6.2 wrote them (for tests of old files)."""
    body = bytearray()
    prev_len = 0
    last_start = 10
    count = 0
    for e in entries:
        start = 10 + len(body)
        entry = bytearray(bytes((prev_len,)) if prev_len < 254 else b"\xfe" + _U32.pack(prev_len))
        iv = e if isinstance(e, int) else _as_int(e)
        if iv is not None:
            if 0 <= iv <= 12:
                entry.append(0xF1 + iv)
            elif -128 <= iv <= 127:
                entry += b"\xfe" + iv.to_bytes(1, "little", signed=True)
            elif -(1 << 15) <= iv < (1 << 15):
                entry += b"\xc0" + _I16.pack(iv)
            elif -(1 << 23) <= iv < (1 << 23):
                entry += b"\xf0" + iv.to_bytes(3, "little", signed=True)
            elif -(1 << 31) <= iv < (1 << 31):
                entry += b"\xd0" + _I32.pack(iv)
            else:
                entry += b"\xe0" + _I64.pack(iv)
        else:
            assert isinstance(e, bytes)
            ln = len(e)
            if ln < 64:
                entry.append(ln)
            elif ln < 16384:
                entry += bytes((0x40 | (ln >> 8), ln & 0xFF))
            else:
                entry += b"\x80" + ln.to_bytes(4, "big")
            entry += e
        body += entry
        prev_len = len(entry)
        last_start = start
        count += 1
    total = 10 + len(body) + 1
    return _U32.pack(total) + _U32.pack(last_start) + _U16.pack(min(count, 0xFFFF)) + bytes(body) + b"\xff"


# --- intset -----------------------------------------------------------------------------------


def decode_intset(blob: bytes) -> list[int]:
    """The members of an intset (a sorted array of 16, 32 or 64-bit integers)."""
    if len(blob) < 8:
        raise EncodingError("intset shorter than its header")
    width, count = struct.unpack_from("<II", blob, 0)
    fmt = {2: "h", 4: "i", 8: "q"}.get(width)
    if fmt is None:
        raise EncodingError(f"intset with invalid encoding {width}")
    if len(blob) != 8 + width * count:
        raise EncodingError("intset length does not match its header")
    values = list(struct.unpack_from(f"<{count}{fmt}", blob, 8))
    for a, b in itertools.pairwise(values):
        if a >= b:
            raise EncodingError("intset members are not sorted and unique")
    return values


def encode_intset(values: Iterable[int]) -> bytes:
    """An intset of `values` in the narrowest width that holds them all."""
    vs = sorted(set(values))
    width = 2
    for v in vs:
        if not -(1 << 15) <= v < (1 << 15):
            width = max(width, 4)
        if not -(1 << 31) <= v < (1 << 31):
            width = 8
    fmt = {2: "h", 4: "i", 8: "q"}[width]
    return struct.pack("<II", width, len(vs)) + struct.pack(f"<{len(vs)}{fmt}", *vs)


# --- zipmap -----------------------------------------------------------------------------------


def decode_zipmap(blob: bytes) -> list[bytes]:
    """Field, value, field, value... of a zipmap (Redis <= 2.4's small hash encoding)."""
    n = len(blob)
    if n < 2 or blob[-1] != 0xFF:
        raise EncodingError("zipmap without its end byte")
    out: list[bytes] = []
    p = 1  # skip the count byte (only a hint)
    end = n - 1

    def length() -> int:
        nonlocal p
        if p >= end:
            raise EncodingError("zipmap entry past the end")
        b = blob[p]
        if b < 254:
            p += 1
            return b
        if b == 254:
            if p + 5 > end:
                raise EncodingError("zipmap entry past the end")
            v: int = _U32.unpack_from(blob, p + 1)[0]
            p += 5
            return v
        raise EncodingError("zipmap entry with an invalid length")

    while p < end:
        kl = length()
        if p + kl > end:
            raise EncodingError("zipmap entry past the end")
        out.append(blob[p : p + kl])
        p += kl
        vl = length()
        if p >= end:
            raise EncodingError("zipmap entry past the end")
        free = blob[p]
        p += 1
        if p + vl + free > end:
            raise EncodingError("zipmap entry past the end")
        out.append(blob[p : p + vl])
        p += vl + free
    if p != end:
        raise EncodingError("zipmap entries run past its end byte")
    return out


def encode_zipmap(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """A zipmap of `pairs` (for tests of Redis 2.x files)."""

    def ln(x: int) -> bytes:
        return bytes((x,)) if x < 254 else b"\xfe" + _U32.pack(x)

    body = bytearray()
    count = 0
    for k, v in pairs:
        body += ln(len(k)) + k + ln(len(v)) + b"\x00" + v
        count += 1
    return bytes((min(count, 254),)) + bytes(body) + b"\xff"
