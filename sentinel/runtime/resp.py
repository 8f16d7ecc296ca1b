"""RESP on the sentinel's outgoing links: command encoding and a sans-IO reply parser.

The core needs status and bulk replies kept apart (a bulk "PONG" is not a valid PING reply), which
hiredis's reader does not do, so replies are parsed here into `sentinel.core.replies` values.
Links speak RESP2, but RESP3 types are accepted too (a peer may send them; they cost nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

from sentinel.core.replies import ErrorReply, Reply, Status

ENCODING = "utf-8"
ERRORS = "surrogateescape"
MAX_BULK = 512 * 1024 * 1024
MAX_ELEMENTS = 1 << 24


class ReplyProtocolError(Exception):
    """The peer sent something that is not RESP: the link must be dropped."""


def encode_command(argv: Sequence[str]) -> bytes:
    """A RESP multibulk request; strings go out as utf-8 (surrogateescape: bytes round-trip)."""
    parts = [b"*%d\r\n" % len(argv)]
    for a in argv:
        b = a.encode(ENCODING, ERRORS)
        parts.append(b"$%d\r\n%b\r\n" % (len(b), b))
    return b"".join(parts)


def decode(b: bytes) -> str:
    """Bulk bytes to str, losslessly."""
    return b.decode(ENCODING, ERRORS)


class _Incomplete(Exception):
    pass


class ReplyParser:
    """Feed bytes, take complete replies with `gets()` (returns `NEED_MORE` when none is ready)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif self._pos > 65536:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def gets(self) -> tuple[bool, Reply]:
        """(True, reply) for the next complete reply, (False, None) when more bytes are needed."""
        if self._pos >= len(self._buf):
            return False, None
        try:
            value, pos = self._parse(self._pos)
        except _Incomplete:
            return False, None
        self._pos = pos
        return True, value

    def _line(self, pos: int) -> tuple[bytes, int]:
        end = self._buf.find(b"\r\n", pos)
        if end < 0:
            if len(self._buf) - pos > 65536:
                raise ReplyProtocolError("line too long")
            raise _Incomplete
        return bytes(self._buf[pos:end]), end + 2

    def _int(self, raw: bytes) -> int:
        try:
            return int(raw)
        except ValueError:
            raise ReplyProtocolError(f"bad integer {raw[:32]!r}") from None

    def _parse(self, pos: int) -> tuple[Reply, int]:
        buf = self._buf
        if pos >= len(buf):
            raise _Incomplete
        kind = buf[pos : pos + 1]
        line, pos = self._line(pos + 1)
        if kind == b"+":
            return Status(decode(line)), pos
        if kind == b"-":
            return ErrorReply(decode(line)), pos
        if kind == b":":
            return self._int(line), pos
        if kind in (b"$", b"=", b"!"):
            n = self._int(line)
            if n < 0:
                return None, pos
            if n > MAX_BULK:
                raise ReplyProtocolError("bulk too long")
            if len(buf) < pos + n + 2:
                raise _Incomplete
            body = bytes(buf[pos : pos + n])
            if kind == b"=":
                body = body[4:]  # verbatim: "txt:" prefix
            if kind == b"!":
                return ErrorReply(decode(body)), pos + n + 2
            return decode(body), pos + n + 2
        if kind in (b"*", b">", b"~", b"%", b"|"):
            n = self._int(line)
            if n < 0:
                return None, pos
            if n > MAX_ELEMENTS:
                raise ReplyProtocolError("aggregate too long")
            count = 2 * n if kind in (b"%", b"|") else n
            items: list[Reply] = []
            for _ in range(count):
                item, pos = self._parse(pos)
                items.append(item)
            if kind == b"|":  # attributes precede the real reply: skip them
                return self._parse(pos)
            return items, pos
        if kind == b"_":
            return None, pos
        if kind == b"#":
            return (1 if line == b"t" else 0), pos
        if kind in (b",", b"("):
            return decode(line), pos
        raise ReplyProtocolError(f"unexpected byte {kind!r}")
