"""Redis's RDB snapshot format, both directions, byte-compatible with Redis 7.0.

Saving writes only the plain, universally loadable encodings (strings with Redis's integer and
LZF forms, LIST, SET, ZSET_2, HASH), so any Redis >= 4 and `redis-check-rdb` read our files.
Loading reads everything Redis 7.0 writes or still loads, plus Redis 7.2's listpack sets;
modules and streams are refused with RdbError, as a Redis without the module would refuse them.

Speed matters (a snapshot of a million keys must take seconds): the writer batches into one
bytearray written in big chunks, the reader parses a large in-memory window of the stream, and
the CRC64 is computed incrementally over whole chunks by crcmod's C code.
"""

from __future__ import annotations

import math
import os
import struct
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import crcmod
import structlog

from server import REDIS_VERSION
from server.datatypes import ZSet
from server.persistence import lzf
from server.persistence.encodings import (
    EncodingError,
    Entry,
    decode_intset,
    decode_listpack,
    decode_ziplist,
    decode_zipmap,
)

if TYPE_CHECKING:
    from server.keyspace import Database, Keyspace

log = structlog.get_logger("server.persistence.rdb")

RDB_VERSION = 10
MAX_LOADABLE_VERSION = 12  # files up to Redis 7.4's format load when they hold no newer types

# Value types.
TYPE_STRING = 0
TYPE_LIST = 1
TYPE_SET = 2
TYPE_ZSET = 3
TYPE_HASH = 4
TYPE_ZSET_2 = 5
TYPE_MODULE_PRE_GA = 6
TYPE_MODULE_2 = 7
TYPE_HASH_ZIPMAP = 9
TYPE_LIST_ZIPLIST = 10
TYPE_SET_INTSET = 11
TYPE_ZSET_ZIPLIST = 12
TYPE_HASH_ZIPLIST = 13
TYPE_LIST_QUICKLIST = 14
TYPE_STREAM_LISTPACKS = 15
TYPE_HASH_LISTPACK = 16
TYPE_ZSET_LISTPACK = 17
TYPE_LIST_QUICKLIST_2 = 18
TYPE_STREAM_LISTPACKS_2 = 19
TYPE_SET_LISTPACK = 20
TYPE_STREAM_LISTPACKS_3 = 21
TYPE_HASH_METADATA_PRE_GA = 22
TYPE_HASH_LISTPACK_EX_PRE_GA = 23
TYPE_HASH_METADATA = 24
TYPE_HASH_LISTPACK_EX = 25

# Opcodes.
OP_SLOT_INFO = 244
OP_FUNCTION2 = 245
OP_FUNCTION_PRE_GA = 246
OP_MODULE_AUX = 247
OP_IDLE = 248
OP_FREQ = 249
OP_AUX = 250
OP_RESIZEDB = 251
OP_EXPIRETIME_MS = 252
OP_EXPIRETIME = 253
OP_SELECTDB = 254
OP_EOF = 255

QUICKLIST_NODE_PLAIN = 1
QUICKLIST_NODE_PACKED = 2

_STREAM_TYPES = (TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2, TYPE_STREAM_LISTPACKS_3)
_HFE_TYPES = (
    TYPE_HASH_METADATA_PRE_GA,
    TYPE_HASH_LISTPACK_EX_PRE_GA,
    TYPE_HASH_METADATA,
    TYPE_HASH_LISTPACK_EX,
)

crc64 = crcmod.mkCrcFun(0x1AD93D23594C935A9, initCrc=0, rev=True, xorOut=0)
"""Redis's CRC64 (Jones polynomial, reflected): crc64(data, previous_crc) continues a stream."""

_CHUNK = 1 << 20  # bytes per write() when saving, per read() when loading
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_I32 = struct.Struct("<i")
_F64 = struct.Struct("<d")


class RdbError(Exception):
    """An RDB file or DUMP payload that is corrupt, truncated or uses an unsupported type.

    For DUMP payloads (`restore_value`) the message is Redis's RESTORE error text without the
    "ERR " prefix: "DUMP payload version or checksum are wrong" or "Bad data format".
    """


@dataclass
class RdbInfo:
    """What a load found besides the keys: aux fields, counters, the replication position."""

    aux: dict[str, bytes]
    keys_loaded: int
    keys_expired_skipped: int
    repl_id: str | None
    repl_offset: int | None
    rdb_version: int
    functions: list[bytes] = field(default_factory=list)
    """Function library sources (FUNCTION2 opcodes); not loaded, kept so nothing is lost silently."""
    empty_keys_skipped: int = 0
    """Collections with no elements (Redis skips them too)."""
    trailing: bytes = b""
    """Bytes read from a non-seekable stream past the RDB's end (a socket's next data)."""


# =============================================================================================
# Writing
# =============================================================================================


def _len_table() -> list[bytes]:
    table = [bytes((n,)) for n in range(64)]
    table += [bytes((0x40 | (n >> 8), n & 0xFF)) for n in range(64, 16384)]
    return table


_LEN = _len_table()
_NLEN = len(_LEN)


def encode_length(n: int) -> bytes:
    """Redis's length encoding: 6, 14, 32 or 64 bits, big-endian beyond one byte."""
    if n < _NLEN:
        return _LEN[n]
    if n <= 0xFFFFFFFF:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


_INT_START = frozenset(b"-0123456789")


def _int_encoding(s: bytes) -> bytes | None:
    """The RDB integer form of `s` if it spells an int32 canonically (rdbTryIntegerEncoding)."""
    try:
        v = int(s)
    except ValueError:
        return None
    if b"%d" % v != s:
        return None
    if -128 <= v <= 127:
        return b"\xc0" + (v & 0xFF).to_bytes(1, "little")
    if -32768 <= v <= 32767:
        return b"\xc1" + (v & 0xFFFF).to_bytes(2, "little")
    if -2147483648 <= v <= 2147483647:
        return b"\xc2" + (v & 0xFFFFFFFF).to_bytes(4, "little")
    return None


def encode_string(s: bytes, compress: bool = True) -> bytes:
    """A string as rdbSaveRawString writes it: int form, LZF form (len > 20) or raw."""
    n = len(s)
    if n <= 11 and n and s[0] in _INT_START:
        enc = _int_encoding(s)
        if enc is not None:
            return enc
    if compress and n > 20:
        c = lzf.compress(s, n - 4)
        if c is not None:
            return b"\xc3" + encode_length(len(c)) + encode_length(n) + c
    if n < 64:
        return _LEN[n] + s
    return encode_length(n) + s


def _encode_value(out: bytearray, v: Any, compress: bool) -> int:
    """Append the type byte's payload for `v` to `out`; returns the RDB type byte."""
    es = encode_string
    cls = v.__class__
    if cls is bytes:
        out += es(v, compress)
        return TYPE_STRING
    if cls is deque:
        out += encode_length(len(v))
        for e in v:
            out += es(e, compress)
        return TYPE_LIST
    if cls is set:
        out += encode_length(len(v))
        for e in v:
            out += es(e, compress)
        return TYPE_SET
    if cls is dict:
        out += encode_length(len(v))
        for k, e in v.items():
            out += es(k, compress)
            out += es(e, compress)
        return TYPE_HASH
    if cls is ZSet:
        # Redis saves from the tail so loading inserts at the skiplist's head: keep its order.
        out += encode_length(len(v))
        pack = _F64.pack
        for score, member in reversed(v.order):
            out += es(member, compress)
            out += pack(score)
        return TYPE_ZSET_2
    raise TypeError(f"cannot save a value of type {cls.__name__} in an RDB file")


_TYPE_BYTE = [bytes((t,)) for t in range(256)]


class _Writer:
    """Accumulates output in a bytearray; writes it (and extends the CRC) in big chunks."""

    __slots__ = ("crc", "f", "out")

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.out = bytearray()
        self.crc = 0

    def flush(self) -> None:
        if self.out:
            data = bytes(self.out)
            self.crc = crc64(data, self.crc)
            self.f.write(data)
            self.out = bytearray()


def _default_aux() -> dict[str, str | int]:
    return {
        "redis-ver": REDIS_VERSION,
        "redis-bits": 64,
        "ctime": int(time.time()),
        "used-mem": 0,
        "aof-base": 0,
    }


def save_rdb(
    f: BinaryIO,
    dbs: Sequence[Database],
    *,
    aux: Mapping[str, str | int] | None = None,
    compress: bool = True,
) -> None:
    """Write a complete RDB (header, aux fields, every non-empty db, EOF, CRC64) to `f`.

    `f` only needs write(): a file, a pipe or a socket file all work. Keys are written with
    their absolute expiry, already-expired ones included (the loader decides, as in Redis).
    """
    fields = _default_aux()
    if aux:
        fields.update(aux)
    w = _Writer(f)
    out = w.out
    out += b"REDIS%04d" % RDB_VERSION
    for k, v in fields.items():
        out.append(OP_AUX)
        out += encode_string(k.encode(), False)
        out += encode_string(v.encode() if isinstance(v, str) else b"%d" % v, False)
    for db in dbs:
        data = db.data
        if not data:
            continue
        expires = db.expires
        out.append(OP_SELECTDB)
        out += encode_length(db.id)
        out.append(OP_RESIZEDB)
        out += encode_length(len(data))
        out += encode_length(len(expires))
        es = encode_string
        pack_ms = _I64.pack
        for key, v in data.items():
            if expires:
                when = expires.get(key)
                if when is not None:
                    out.append(OP_EXPIRETIME_MS)
                    out += pack_ms(when)
            if v.__class__ is bytes:
                out.append(TYPE_STRING)
                out += es(key, compress)
                out += es(v, compress)
            else:
                body = bytearray()
                t = _encode_value(body, v, compress)
                out.append(t)
                out += es(key, compress)
                out += body
            if len(out) >= _CHUNK:
                w.flush()
                out = w.out
    out.append(OP_EOF)
    w.flush()
    f.write(_U64.pack(w.crc))
    flush = getattr(f, "flush", None)
    if flush is not None:
        flush()


def save_rdb_file(
    path: str | os.PathLike[str],
    dbs: Sequence[Database],
    *,
    aux: Mapping[str, str | int] | None = None,
    compress: bool = True,
) -> None:
    """save_rdb to `path` atomically: temp file in the same dir, fsync, rename, fsync the dir."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, f"temp-{os.getpid()}-{time.monotonic_ns()}.rdb")
    try:
        with open(tmp, "wb") as fh:
            save_rdb(fh, dbs, aux=aux, compress=compress)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dfd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def dump_value(value: Any) -> bytes:
    """DUMP's payload: type byte, value, RDB version (2 bytes LE), CRC64 of all that (8 bytes LE)."""
    body = bytearray()
    t = _encode_value(body, value, True)
    payload = bytes((t,)) + bytes(body) + RDB_VERSION.to_bytes(2, "little")
    return payload + _U64.pack(crc64(payload))


# =============================================================================================
# Reading
# =============================================================================================


class _Truncated(Exception):
    """Internal: the stream ended inside the RDB."""


class _Reader:
    """A window over the input: `buf[pos:]` is unread; refills from `f` as parsing needs.

    The CRC covers every byte consumed; it is extended whenever consumed bytes are dropped
    from the window, and finally up to the EOF opcode.
    """

    __slots__ = ("buf", "crc", "f", "pos", "read", "track_crc")

    def __init__(self, f: BinaryIO | None, data: bytes = b"", track_crc: bool = True) -> None:
        self.f = f
        self.buf = data
        self.pos = 0
        self.crc = 0
        self.track_crc = track_crc
        self.read = None if f is None else getattr(f, "read1", None) or f.read

    def need(self, n: int) -> None:
        """Make at least `n` unread bytes available, or raise _Truncated."""
        avail = len(self.buf) - self.pos
        if avail >= n:
            return
        if self.read is None:
            raise _Truncated
        if self.track_crc and self.pos:
            self.crc = crc64(self.buf[: self.pos], self.crc)
        parts = [self.buf[self.pos :]]
        want = n - avail
        while want > 0:
            chunk = self.read(max(_CHUNK, min(want, 16 * _CHUNK)))
            if not chunk:
                self.buf = b"".join(parts)
                self.pos = 0
                raise _Truncated
            parts.append(chunk)
            want -= len(chunk)
        self.buf = b"".join(parts)
        self.pos = 0

    def u8(self) -> int:
        if self.pos >= len(self.buf):
            self.need(1)
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def take(self, n: int) -> bytes:
        pos = self.pos
        end = pos + n
        if end > len(self.buf):
            self.need(n)
            pos = 0
            end = n
        self.pos = end
        return self.buf[pos:end]

    def length(self) -> int:
        b = self.u8()
        t = b >> 6
        if t == 0:
            return b & 0x3F
        if t == 1:
            return ((b & 0x3F) << 8) | self.u8()
        if b == 0x80:
            return int.from_bytes(self.take(4), "big")
        if b == 0x81:
            return int.from_bytes(self.take(8), "big")
        raise RdbError(f"invalid length encoding {b:#x}")

    def string(self) -> bytes:
        buf = self.buf
        pos = self.pos
        if pos < len(buf):
            b = buf[pos]
            if b < 0x40:
                end = pos + 1 + b
                if end <= len(buf):
                    self.pos = end
                    return buf[pos + 1 : end]
        b = self.u8()
        t = b >> 6
        if t == 0:
            return self.take(b)
        if t == 1:
            return self.take(((b & 0x3F) << 8) | self.u8())
        if b == 0x80:
            return self.take(int.from_bytes(self.take(4), "big"))
        if b == 0x81:
            return self.take(int.from_bytes(self.take(8), "big"))
        enc = b & 0x3F
        if enc == 0:
            return b"%d" % int.from_bytes(self.take(1), "little", signed=True)
        if enc == 1:
            return b"%d" % int.from_bytes(self.take(2), "little", signed=True)
        if enc == 2:
            return b"%d" % int.from_bytes(self.take(4), "little", signed=True)
        if enc == 3:
            clen = self.length()
            ulen = self.length()
            if ulen > clen * 100 + 64:
                raise RdbError(f"LZF string claims {ulen} bytes from {clen} compressed bytes")
            data = self.take(clen)
            try:
                return lzf.decompress(data, ulen)
            except lzf.LzfError as e:
                raise RdbError(f"invalid LZF compressed string: {e}") from None
        raise RdbError(f"unknown string encoding {enc}")

    def double_str(self) -> float:
        """A ZSET (type 3) score: length byte then ASCII; 253/254/255 are nan/+inf/-inf."""
        n = self.u8()
        if n == 253:
            return math.nan
        if n == 254:
            return math.inf
        if n == 255:
            return -math.inf
        text = self.take(n)
        try:
            return float(text)
        except ValueError:
            raise RdbError(f"invalid score {text!r}") from None

    def double_bin(self) -> float:
        v: float = _F64.unpack(self.take(8))[0]
        return v


def _as_bytes(e: Entry) -> bytes:
    return e if isinstance(e, bytes) else b"%d" % e


def _as_score(e: Entry) -> float:
    if e.__class__ is int:
        return float(e)
    try:
        return float(e)
    except ValueError:
        raise RdbError(f"invalid score {e!r}") from None


def _module_name(module_id: int) -> str:
    """The 9-character name a module type id encodes (6 bits per char, 10 bits of version)."""
    charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    mid = module_id >> 10
    return "".join(charset[(mid >> (6 * (8 - i))) & 63] for i in range(9))


def _make_zset(pairs: Iterable[tuple[bytes, float]], expected: int) -> ZSet:
    z = ZSet()
    scores = z.scores
    for member, score in pairs:
        if math.isnan(score):
            raise RdbError("sorted set with a NaN score")
        scores[member] = score
    if len(scores) != expected:
        raise RdbError("duplicate sorted set members")
    z.order.update([(s, m) for m, s in scores.items()])
    return z


def _pairs(entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    if len(entries) % 2:
        raise RdbError("odd number of entries in a hash or sorted set encoding")
    return entries[0::2], entries[1::2]


def _hash_from(entries: list[Entry]) -> dict[bytes, bytes]:
    fields, values = _pairs(entries)
    h = {_as_bytes(k): _as_bytes(v) for k, v in zip(fields, values, strict=True)}
    if len(h) != len(fields):
        raise RdbError("duplicate hash fields")
    return h


def _set_from(members: Iterable[bytes], expected: int) -> set[bytes]:
    s = set(members)
    if len(s) != expected:
        raise RdbError("duplicate set members")
    return s


def _load_value(r: _Reader, t: int) -> Any:
    """Read one value of RDB type `t`; None for an empty collection (skipped, as Redis does)."""
    try:
        return _load_value_inner(r, t)
    except EncodingError as e:
        raise RdbError(f"corrupt {_TYPE_NAMES.get(t, str(t))} encoding: {e}") from None


def _load_value_inner(r: _Reader, t: int) -> Any:
    if t == TYPE_STRING:
        return r.string()
    if t == TYPE_LIST:
        n = r.length()
        return deque(r.string() for _ in range(n)) or None
    if t == TYPE_SET:
        n = r.length()
        return _set_from((r.string() for _ in range(n)), n) or None
    if t in (TYPE_ZSET_2, TYPE_ZSET):
        n = r.length()
        score = r.double_bin if t == TYPE_ZSET_2 else r.double_str
        pairs = []
        for _ in range(n):
            m = r.string()
            pairs.append((m, score()))
        return _make_zset(pairs, n) if n else None
    if t == TYPE_HASH:
        n = r.length()
        h: dict[bytes, bytes] = {}
        for _ in range(n):
            k = r.string()
            h[k] = r.string()
        if len(h) != n:
            raise RdbError("duplicate hash fields")
        return h or None
    if t in (TYPE_LIST_QUICKLIST_2, TYPE_LIST_QUICKLIST):
        n = r.length()
        lst = deque[bytes]()
        for _ in range(n):
            container = QUICKLIST_NODE_PACKED
            if t == TYPE_LIST_QUICKLIST_2:
                container = r.length()
                if container not in (QUICKLIST_NODE_PLAIN, QUICKLIST_NODE_PACKED):
                    raise RdbError(f"quicklist node with unknown container {container}")
            blob = r.string()
            if container == QUICKLIST_NODE_PLAIN:
                lst.append(blob)
                continue
            entries = decode_listpack(blob) if t == TYPE_LIST_QUICKLIST_2 else decode_ziplist(blob)
            lst.extend(e if isinstance(e, bytes) else b"%d" % e for e in entries)
        return lst or None
    if t == TYPE_LIST_ZIPLIST:
        return deque(map(_as_bytes, decode_ziplist(r.string()))) or None
    if t == TYPE_SET_INTSET:
        ints = decode_intset(r.string())
        return {b"%d" % v for v in ints} or None
    if t == TYPE_SET_LISTPACK:
        entries = decode_listpack(r.string())
        return _set_from(map(_as_bytes, entries), len(entries)) or None
    if t in (TYPE_HASH_ZIPLIST, TYPE_HASH_LISTPACK):
        blob = r.string()
        entries = decode_listpack(blob) if t == TYPE_HASH_LISTPACK else decode_ziplist(blob)
        return _hash_from(entries) or None
    if t == TYPE_HASH_ZIPMAP:
        return _hash_from(list(decode_zipmap(r.string()))) or None
    if t in (TYPE_ZSET_ZIPLIST, TYPE_ZSET_LISTPACK):
        blob = r.string()
        entries = decode_listpack(blob) if t == TYPE_ZSET_LISTPACK else decode_ziplist(blob)
        members, scores = _pairs(entries)
        if not members:
            return None
        return _make_zset(
            ((_as_bytes(m), _as_score(s)) for m, s in zip(members, scores, strict=True)), len(members)
        )
    if t in (TYPE_MODULE_2, TYPE_MODULE_PRE_GA):
        name = _module_name(r.length())
        raise RdbError(f"the RDB holds data of module type '{name}'; modules are not supported")
    if t in _STREAM_TYPES:
        raise RdbError("the RDB holds a stream; the stream type is not supported")
    if t in _HFE_TYPES:
        raise RdbError("the RDB holds a hash with field expirations (Redis 7.4+); not supported")
    raise RdbError(f"unknown RDB value type {t}")


_TYPE_NAMES = {
    TYPE_HASH_ZIPMAP: "zipmap hash",
    TYPE_LIST_ZIPLIST: "ziplist list",
    TYPE_SET_INTSET: "intset",
    TYPE_ZSET_ZIPLIST: "ziplist sorted set",
    TYPE_HASH_ZIPLIST: "ziplist hash",
    TYPE_LIST_QUICKLIST: "quicklist",
    TYPE_HASH_LISTPACK: "listpack hash",
    TYPE_ZSET_LISTPACK: "listpack sorted set",
    TYPE_LIST_QUICKLIST_2: "quicklist",
    TYPE_SET_LISTPACK: "listpack set",
}


def load_rdb(
    f: BinaryIO,
    keyspace: Keyspace,
    *,
    skip_expired: bool = True,
    verify_checksum: bool = True,
) -> RdbInfo:
    """Load an RDB stream into `keyspace` (which the caller swaps in only if this returns).

    Raises RdbError for anything corrupt, truncated or unsupported. `skip_expired` drops keys
    whose deadline has passed (a master loading; a replica passes False). A stored checksum of
    0 means the writer did not compute one and is not checked, as in Redis.
    """
    r = _Reader(f, track_crc=verify_checksum)
    try:
        info = _load(r, keyspace, skip_expired, verify_checksum)
    except _Truncated:
        raise RdbError("unexpected end of file: the RDB is truncated") from None
    except (OverflowError, MemoryError) as e:
        raise RdbError(f"corrupt RDB: impossible size ({e.__class__.__name__})") from None
    except (IndexError, ValueError, struct.error) as e:
        raise RdbError(f"corrupt RDB: {e}") from None
    rest = r.buf[r.pos :]
    if rest:
        seek = getattr(f, "seek", None)
        seekable = getattr(f, "seekable", None)
        if seek is not None and seekable is not None and seekable():
            seek(-len(rest), os.SEEK_CUR)
        else:
            info.trailing = rest
    return info


def load_rdb_file(
    path: str | os.PathLike[str],
    keyspace: Keyspace,
    *,
    skip_expired: bool = True,
    verify_checksum: bool = True,
) -> RdbInfo:
    """load_rdb from the file at `path`."""
    with open(path, "rb") as fh:
        return load_rdb(fh, keyspace, skip_expired=skip_expired, verify_checksum=verify_checksum)


def _load(r: _Reader, keyspace: Keyspace, skip_expired: bool, verify_checksum: bool) -> RdbInfo:
    header = r.take(9)
    if header[:5] != b"REDIS":
        raise RdbError("wrong signature: not an RDB file")
    try:
        version = int(header[5:])
    except ValueError:
        raise RdbError(f"invalid RDB version {header[5:]!r}") from None
    if not 1 <= version <= MAX_LOADABLE_VERSION:
        raise RdbError(f"can't handle RDB format version {version}")
    info = RdbInfo(
        aux={}, keys_loaded=0, keys_expired_skipped=0, repl_id=None, repl_offset=None, rdb_version=version
    )
    ndbs = len(keyspace)
    db = keyspace[0]
    data = db.data
    lru = db.lru
    now = int(time.time() * 1000)
    expire = -1
    loaded = 0
    skipped = 0
    string = r.string
    while True:
        pos = r.pos
        if pos < len(r.buf):
            t = r.buf[pos]
            r.pos = pos + 1
        else:
            t = r.u8()
        if t < OP_SLOT_INFO:
            key = string()
            # Plain strings are most keys of most datasets: skip the generic dispatch for them.
            value = string() if t == TYPE_STRING else _load_value(r, t)
            if value is None:
                info.empty_keys_skipped += 1
                expire = -1
                continue
            if expire != -1 and skip_expired and expire < now:
                skipped += 1
                expire = -1
                continue
            if key in data:
                raise RdbError(f"duplicate key {key!r} in db {db.id}")
            data[key] = value
            if lru is not None:
                lru[key] = None
            if expire != -1:
                db.set_expire(key, expire)
                expire = -1
            loaded += 1
        elif t == OP_EXPIRETIME_MS:
            expire = _I64.unpack(r.take(8))[0]
        elif t == OP_EXPIRETIME:
            expire = _I32.unpack(r.take(4))[0] * 1000
        elif t == OP_SELECTDB:
            dbid = r.length()
            if dbid >= ndbs:
                raise RdbError(f"the RDB was written by a server with more than {ndbs} databases (db {dbid})")
            db = keyspace[dbid]
            data = db.data
            lru = db.lru
        elif t == OP_RESIZEDB:
            r.length()
            r.length()
        elif t == OP_AUX:
            k = r.string()
            v = r.string()
            name = k.decode("utf-8", "replace")
            info.aux[name] = v
            if name == "repl-id":
                info.repl_id = v.decode("ascii", "replace")
            elif name == "repl-offset":
                try:
                    info.repl_offset = int(v)
                except ValueError:
                    log.warning("rdb_bad_repl_offset", value=v)
        elif t == OP_IDLE:
            r.length()
        elif t == OP_FREQ:
            r.u8()
        elif t == OP_EOF:
            break
        elif t == OP_FUNCTION2:
            code = r.string()
            info.functions.append(code)
            log.warning("rdb_function_skipped", reason="functions are not supported", size=len(code))
        elif t == OP_FUNCTION_PRE_GA:
            raise RdbError("pre-release function format not supported")
        elif t == OP_MODULE_AUX:
            name = _module_name(r.length())
            raise RdbError(f"the RDB holds aux data of module '{name}'; modules are not supported")
        elif t == OP_SLOT_INFO:
            r.length()
            r.length()
            r.length()
        else:
            raise RdbError(f"unknown RDB opcode {t}")
    info.keys_loaded = loaded
    info.keys_expired_skipped = skipped
    if version >= 5:
        end = r.pos
        if r.track_crc:
            r.crc = crc64(r.buf[:end], r.crc)
        stored = _U64.unpack(r.take(8))[0]
        if verify_checksum and stored != 0 and stored != r.crc:
            raise RdbError(f"wrong RDB checksum: expected {stored:#018x}, got {r.crc:#018x}")
    if info.empty_keys_skipped:
        log.warning("rdb_empty_keys_skipped", count=info.empty_keys_skipped)
    return info


def restore_value(payload: bytes) -> Any:
    """Decode a DUMP payload; RdbError carries RESTORE's error text (without "ERR ")."""
    if len(payload) < 10:
        raise RdbError("DUMP payload version or checksum are wrong")
    version = payload[-10] | (payload[-9] << 8)
    if version > RDB_VERSION:
        raise RdbError("DUMP payload version or checksum are wrong")
    if _U64.unpack(payload[-8:])[0] != crc64(payload[:-8]):
        raise RdbError("DUMP payload version or checksum are wrong")
    r = _Reader(None, payload[:-10], track_crc=False)
    try:
        t = r.u8()
        if t >= OP_SLOT_INFO:
            raise RdbError("Bad data format")
        value = _load_value(r, t)
    except (_Truncated, RdbError, OverflowError, MemoryError, IndexError, ValueError, struct.error):
        raise RdbError("Bad data format") from None
    if value is None:
        raise RdbError("Bad data format")
    return value
