"""RESP2/RESP3 reply encoding.

Handlers return encoded bytes, not Python values, so the hot path does no generic encoding;
these helpers build them. Where RESP2 and RESP3 differ (null, map, set, double, push, bool),
the helper takes the connection's protocol version.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

OK = b"+OK\r\n"
PONG = b"+PONG\r\n"
QUEUED = b"+QUEUED\r\n"
ZERO = b":0\r\n"
ONE = b":1\r\n"
EMPTY_ARRAY = b"*0\r\n"
EMPTY_BULK = b"$0\r\n\r\n"
NULL2 = b"$-1\r\n"
NULL_ARRAY2 = b"*-1\r\n"
NULL3 = b"_\r\n"

_SMALL_INTS = [b":%d\r\n" % i for i in range(-1, 10001)]
_BULK_HEADERS = [b"$%d\r\n" % i for i in range(0, 1025)]
BULK_HEADERS = _BULK_HEADERS  # for hot paths that inline `bulk`: BULK_HEADERS[n] for n <= 1024
_ARRAY_HEADERS = [b"*%d\r\n" % i for i in range(0, 1025)]


def integer(n: int) -> bytes:
    if -1 <= n <= 10000:
        return _SMALL_INTS[n + 1]
    return b":%d\r\n" % n


def bulk(b: bytes) -> bytes:
    n = len(b)
    if n <= 1024:
        return _BULK_HEADERS[n] + b + b"\r\n"
    return b"$%d\r\n%b\r\n" % (n, b)


def bulk_or_null(b: bytes | None, proto: int) -> bytes:
    if b is None:
        return NULL3 if proto == 3 else NULL2
    return bulk(b)


def null(proto: int) -> bytes:
    return NULL3 if proto == 3 else NULL2


def null_array(proto: int) -> bytes:
    return NULL3 if proto == 3 else NULL_ARRAY2


def simple(s: str | bytes) -> bytes:
    if isinstance(s, str):
        s = s.encode()
    return b"+" + s + b"\r\n"


def error(msg: str | bytes) -> bytes:
    if isinstance(msg, str):
        msg = msg.encode()
    return b"-" + msg.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"


def array_header(n: int) -> bytes:
    return _ARRAY_HEADERS[n] if n <= 1024 else b"*%d\r\n" % n


def array(items: Sequence[bytes]) -> bytes:
    """An array of already-encoded replies."""
    return array_header(len(items)) + b"".join(items)


def bulk_array(items: Iterable[bytes]) -> bytes:
    """An array of bulk strings (inlined header lookup: LRANGE, SMEMBERS ... spend their time here)."""
    h = _BULK_HEADERS
    parts = [h[len(b)] + b + b"\r\n" if len(b) <= 1024 else bulk(b) for b in items]
    return array_header(len(parts)) + b"".join(parts)


def bulk_array_nullable(items: Iterable[bytes | None], proto: int) -> bytes:
    nul = null(proto)
    parts = [nul if b is None else bulk(b) for b in items]
    return array_header(len(parts)) + b"".join(parts)


def map_header(n: int, proto: int) -> bytes:
    return b"%%%d\r\n" % n if proto == 3 else array_header(2 * n)


def map_(pairs: Sequence[tuple[bytes, bytes]], proto: int) -> bytes:
    """A map of already-encoded keys and values (a flat array in RESP2)."""
    return map_header(len(pairs), proto) + b"".join(k + v for k, v in pairs)


def set_header(n: int, proto: int) -> bytes:
    return b"~%d\r\n" % n if proto == 3 else array_header(n)


def bulk_set(items: Iterable[bytes], proto: int) -> bytes:
    parts = [bulk(b) for b in items]
    return set_header(len(parts), proto) + b"".join(parts)


def push_header(n: int, proto: int) -> bytes:
    return b">%d\r\n" % n if proto == 3 else array_header(n)


def format_double(f: float) -> bytes:
    """Redis 7.0's addReplyDouble text: C's "%.17g" (1.1 -> 1.1000000000000001, 1e+20), and
    "inf"/"-inf"/"nan" (Python's %g spells them as C does)."""
    return b"%.17g" % f


def double(f: float, proto: int) -> bytes:
    if proto == 3:
        if math.isnan(f):
            return b",nan\r\n"
        return b"," + format_double(f) + b"\r\n"
    return bulk(format_double(f))


def boolean(v: bool, proto: int) -> bytes:
    if proto == 3:
        return b"#t\r\n" if v else b"#f\r\n"
    return ONE if v else ZERO


def verbatim(text: bytes, proto: int, fmt: bytes = b"txt") -> bytes:
    if proto == 3:
        body = fmt + b":" + text
        return b"=%d\r\n%b\r\n" % (len(body), body)
    return bulk(text)


def encode(value: Any, proto: int) -> bytes:
    """Generic encoding for cold paths (INFO, CONFIG, COMMAND, CLIENT ...).

    str/bytes -> bulk, int -> integer, float -> double, None -> null, list/tuple -> array,
    dict -> map, set/frozenset -> set, bool -> boolean, `Simple` -> status line.
    """
    if value is None:
        return null(proto)
    if isinstance(value, bool):
        return boolean(value, proto)
    if isinstance(value, int):
        return integer(value)
    if isinstance(value, bytes):
        return bulk(value)
    if isinstance(value, Simple):
        return simple(value.text)
    if isinstance(value, str):
        return bulk(value.encode())
    if isinstance(value, float):
        return double(value, proto)
    if isinstance(value, Mapping):
        return map_header(len(value), proto) + b"".join(
            encode(k, proto) + encode(v, proto) for k, v in value.items()
        )
    if isinstance(value, set | frozenset):
        return set_header(len(value), proto) + b"".join(encode(v, proto) for v in value)
    if isinstance(value, list | tuple):
        return array_header(len(value)) + b"".join(encode(v, proto) for v in value)
    raise TypeError(f"cannot encode {type(value).__name__}")


class Simple:
    """A status reply (`+text`) inside a generically encoded structure."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text
