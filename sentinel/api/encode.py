"""Encoding the core's reply values (`sentinel.core.replies`) for a client's protocol version."""

from __future__ import annotations

from collections.abc import Sequence

from sentinel.core.replies import ErrorReply, Reply, Status
from server.protocol import resp


def s2b(s: str) -> bytes:
    """str to wire bytes (surrogateescape: bytes that came in go back out unchanged)."""
    return s.encode("utf-8", "surrogateescape")


def bulk(s: str) -> bytes:
    """A bulk string."""
    return resp.bulk(s2b(s))


def error(text: str) -> bytes:
    """An error reply; `text` starts with its code (`ERR ...`, `NOGOODSLAVE ...`)."""
    return resp.error(s2b(text))


def value(v: Reply, proto: int) -> bytes:
    """Any core reply value; None is a null bulk (`$-1` / `_`)."""
    if v is None:
        return resp.null(proto)
    if isinstance(v, Status):
        return resp.simple(s2b(v.text))
    if isinstance(v, ErrorReply):
        return error(v.text)
    if isinstance(v, bool):
        return resp.integer(int(v))
    if isinstance(v, int):
        return resp.integer(v)
    if isinstance(v, str):
        return bulk(v)
    return resp.array([value(x, proto) for x in v])


def pairs(items: Sequence[tuple[str, Reply]], proto: int) -> bytes:
    """A map (RESP3) or flat array of pairs (RESP2), keys as bulk strings."""
    return resp.map_([(bulk(k), value(v, proto)) for k, v in items], proto)


def maps(entries: Sequence[Sequence[tuple[str, Reply]]], proto: int) -> bytes:
    """An array of maps (SENTINEL MASTERS / REPLICAS / SENTINELS / PENDING-SCRIPTS)."""
    return resp.array([pairs(e, proto) for e in entries])


def push(items: Sequence[bytes], proto: int) -> bytes:
    """A pub/sub message: RESP3 push, RESP2 array."""
    return resp.push_header(len(items), proto) + b"".join(items)
