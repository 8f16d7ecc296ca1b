"""Sans-IO request parser: bytes in, argument vectors out.

Fast path: `hiredis.Reader` parses multibulk requests. Inline requests, malformed input and the
rare read that mixes the two go through `StrictParser`, a transcription of Redis's own
processInlineBuffer/processMultibulkBuffer, so errors carry Redis's exact texts. The hiredis path
keeps the raw bytes it was fed since its buffer was last empty; when hiredis rejects something,
those bytes are re-parsed strictly (skipping the commands already returned), which yields the
exact Redis outcome without the strict parser's cost on the common path.
"""

from __future__ import annotations

import ctypes
import re
import sys
from dataclasses import dataclass

import hiredis

PROTO_INLINE_MAX_SIZE = 64 * 1024
PROTO_MBULK_BIG_ARG = 32 * 1024
RETAIN_LIMIT = 1 << 20  # retained input above which consumed commands are forgotten
MAX_MULTIBULK_LEN = 2**31 - 1  # Redis 7.0: INT_MAX (the 1M cap is older Redis)
UNAUTH_MAX_MULTIBULK = 10
UNAUTH_MAX_BULK = 16384
FAST_MAX_MULTIBULK = 1024 * 1024  # larger requests go to the strict parser (see _new_reader)


class ProtocolError(Exception):
    """Input Redis would answer with `-ERR Protocol error: ...` and then close the connection."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def reply(self) -> bytes:
        # The detail may quote one input byte (chr of it): sent back raw, CR/LF as spaces.
        detail = self.detail.encode("latin-1").replace(b"\r", b" ").replace(b"\n", b" ")
        return b"-ERR Protocol error: " + detail + b"\r\n"


@dataclass(slots=True)
class Limits:
    proto_max_bulk_len: int = 512 * 1024 * 1024
    query_buffer_limit: int = 1024 * 1024 * 1024
    authenticated: bool = True


_HEX = b"0123456789abcdefABCDEF"
_ISSPACE = b" \t\n\x0b\x0c\r"  # C's isspace
_NOT_BULK = b"+=(~"  # line types hiredis would take for a request's bulk strings or array
_not_bulk_line = re.compile(rb"\n[+=(~]").search
_SPLIT_SLOW = re.compile(rb"[\x00\x0b\x0c\"']")  # what bytes.split() would not split like Redis


def split_args(line: bytes) -> list[bytes] | None:
    """Redis's sdssplitargs: whitespace-separated, "double" (with escapes) and 'single' quotes.

    Returns None on unbalanced quotes, as Redis does. As there, the line is a C string (it ends
    at the first NUL), blanks between tokens and after a closing quote are C's isspace, but an
    unquoted token ends only at a space, tab, CR or LF (a \\v or \\f is part of the token).
    """
    if _SPLIT_SLOW.search(line) is None:
        return line.split()  # no quotes, NUL, \v, \f: the same split, in C (bytes.split's separators)
    nul = line.find(0)
    if nul >= 0:
        line = line[:nul]
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _ISSPACE:
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        inq = insq = False
        done = False
        while not done:
            if inq:
                if i >= n:
                    return None
                ch = line[i]
                if (
                    ch == 0x5C
                    and i + 3 < n
                    and line[i + 1] == 0x78
                    and line[i + 2] in _HEX
                    and line[i + 3] in _HEX
                ):
                    cur.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif ch == 0x5C and i + 1 < n:
                    c2 = line[i + 1]
                    cur.append({0x6E: 10, 0x72: 13, 0x74: 9, 0x62: 8, 0x61: 7}.get(c2, c2))
                    i += 1
                elif ch == 0x22:
                    if i + 1 < n and line[i + 1] not in _ISSPACE:
                        return None
                    done = True
                else:
                    cur.append(ch)
            elif insq:
                if i >= n:
                    return None
                ch = line[i]
                if ch == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    i += 1
                    cur.append(0x27)
                elif ch == 0x27:
                    if i + 1 < n and line[i + 1] not in _ISSPACE:
                        return None
                    done = True
                else:
                    cur.append(ch)
            else:
                if i >= n:
                    done = True
                    continue
                ch = line[i]
                if ch in b" \n\r\t":
                    done = True
                elif ch == 0x22:
                    inq = True
                elif ch == 0x27:
                    insq = True
                else:
                    cur.append(ch)
            if i < n:
                i += 1
        args.append(bytes(cur))


def _parse_ll(b: bytes) -> int | None:
    """Redis's string2ll: no sign '+', no leading zeros, no spaces."""
    if not b or len(b) > 20:
        return None
    s = b[1:] if b[:1] == b"-" else b
    if not s.isdigit() or (len(s) > 1 and s[:1] == b"0") or (s == b"0" and b[:1] == b"-"):
        return None
    v = int(b)
    if v < -(2**63) or v > 2**63 - 1:
        return None
    return v


def wire_len(argv: list[bytes]) -> int:
    """Bytes of `argv` as a canonical RESP array (`*N` then `$len` + data per argument)."""
    c = len(argv)
    n = 4 if c < 10 else 5 if c < 100 else len(str(c)) + 3
    for a in argv:
        la = len(a)
        n += la + (6 if la < 10 else 7 if la < 100 else 8 if la < 1000 else len(str(la)) + 5)
    return n


class StrictParser:
    """Redis's request parser, byte for byte. Slower; used for inline input and error recovery."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.buf = bytearray()
        self.pos = 0
        self.wait_line = -1  # where the header line (no CR yet) that input stopped in starts
        # An unfinished multibulk: (its start, count, arguments so far, where the next one
        # starts), so that one of millions of arguments is not parsed again on every read.
        self._resume: tuple[int, int, list[bytes], int] | None = None

    def feed(self, data: bytes) -> None:
        if self.pos and self.pos == len(self.buf):
            self.buf.clear()
            self.pos = 0
            self._resume = None
        self.buf += data

    @property
    def pending(self) -> int:
        return len(self.buf) - self.pos

    def compact(self) -> None:
        if self.pos:
            r = self._resume
            if r is not None:
                self._resume = (r[0] - self.pos, r[1], r[2], r[3] - self.pos)
            del self.buf[: self.pos]
            self.pos = 0

    def next_command(self) -> list[bytes] | None:
        """Next complete command, or None if more input is needed. Empty commands are skipped."""
        while self.pos < len(self.buf):
            cmd = self._multibulk() if self.buf[self.pos] == 0x2A else self._inline()  # '*': RESP
            if cmd is None:
                return None
            if cmd:
                return cmd
        return None

    def inline_commands(self) -> list[list[bytes]]:
        """Every complete inline command at the front of the input, at once (a pipeline of
        PINGs); empty where `next_command` has to decide: a multibulk, an incomplete line, a NUL
        in the input, unbalanced quotes. Same result as `next_command` per command."""
        buf, pos = self.buf, self.pos
        last = buf.rfind(b"\n")
        if last < pos or buf[pos] == 0x2A:
            return []
        chunk = bytes(buf[pos : last + 1])
        if b"\x00" in chunk:
            return []
        out: list[list[bytes]] = []
        p = 0
        for line in chunk.split(b"\n")[:-1]:
            if line[:1] == b"*":
                break
            n = len(line) + 1
            args = split_args(line[:-1] if line[-1:] == b"\r" else line)
            if args is None:
                break
            p += n
            if args:
                out.append(args)
        self.pos = pos + p
        return out

    def _inline(self) -> list[bytes] | None:
        buf, pos = self.buf, self.pos
        nl = buf.find(b"\n", pos)
        if nl >= 0 and buf.find(b"\x00", pos, nl) >= 0:
            nl = -1  # Redis looks for the newline with strchr: a NUL before it hides it
        if nl < 0:
            if len(buf) - pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError("too big inline request")
            return None
        end = nl
        if end > pos and buf[end - 1] == 0x0D:
            end -= 1
        args = split_args(bytes(buf[pos:end]))
        if args is None:
            raise ProtocolError("unbalanced quotes in request")
        self.pos = nl + 1
        return args

    def _multibulk(self) -> list[bytes] | None:
        buf, pos = self.buf, self.pos
        resume = self._resume
        if resume is not None and resume[0] == pos:
            return self._bulks(pos, resume[1], resume[2], resume[3])
        cr = buf.find(b"\r", pos)
        if cr >= 0 and buf.find(b"\x00", pos, cr) >= 0:
            cr = -1  # Redis looks for the CR with strchr: a NUL before it hides it
        if cr < 0 or cr + 1 >= len(buf):
            if len(buf) - pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError("too big mbulk count string")
            self.wait_line = pos
            return None
        count = _parse_ll(bytes(buf[pos + 1 : cr]))
        if count is None or count > MAX_MULTIBULK_LEN:
            raise ProtocolError("invalid multibulk length")
        if not self.limits.authenticated and count > UNAUTH_MAX_MULTIBULK:
            raise ProtocolError("unauthenticated multibulk length")
        p = cr + 2
        if count <= 0:
            self.pos = p
            return []
        return self._bulks(pos, count, [], p)

    def _bulks(self, pos: int, count: int, args: list[bytes], p: int) -> list[bytes] | None:
        """The arguments of the multibulk at `pos`, from `p` on (`args` holds those before)."""
        buf = self.buf
        for _ in range(count - len(args)):
            if p >= len(buf):
                self._resume = (pos, count, args, p)
                return None
            cr = buf.find(b"\r", p)
            if cr >= 0 and buf.find(b"\x00", p, cr) >= 0:
                cr = -1  # as above
            if cr < 0 or cr + 1 >= len(buf):
                if len(buf) - p > PROTO_INLINE_MAX_SIZE:
                    raise ProtocolError("too big bulk count string")
                self.wait_line = p
                self._resume = (pos, count, args, p)
                return None
            if buf[p] != 0x24:  # '$'
                raise ProtocolError(f"expected '$', got '{chr(buf[p])}'")
            blen = _parse_ll(bytes(buf[p + 1 : cr]))
            if blen is None or blen < 0 or blen > self.limits.proto_max_bulk_len:
                raise ProtocolError("invalid bulk length")
            if not self.limits.authenticated and blen > UNAUTH_MAX_BULK:
                raise ProtocolError("unauthenticated bulk length")
            start = cr + 2
            if start + blen + 2 > len(buf):
                self._resume = (pos, count, args, p)
                return None
            args.append(bytes(buf[start : start + blen]))
            p = start + blen + 2
        self._resume = None
        self.pos = p
        return args

    def check_partial(self) -> None:
        """Validate the headers of an incomplete command (limits apply before its body arrives)."""
        save = self.pos
        self.wait_line = -1
        try:
            self.next_command()
        finally:
            self.pos = save


def _maxelements_offset() -> int | None:
    """Where hiredis keeps a reader's `maxelements` (from the address of its redisReader), if
    this build has the layout checked here: hiredis-py's object holds the `redisReader *` right
    after the object header, and hiredis's struct has `maxbuf` (which the Python API reads and
    writes) just before `maxelements`, whose default is 2**32 - 1."""
    if sys.implementation.name != "cpython":
        return None
    try:
        r = hiredis.Reader()
        base = ctypes.c_void_p.from_address(id(r) + object.__basicsize__).value
        if not base:
            return None
        maxbuf_off = 4 + 128 + 4 + 8 + 8 + 8  # err, errstr, padding, buf, pos, len
        maxbuf = ctypes.c_size_t.from_address(base + maxbuf_off)
        maxel = ctypes.c_longlong.from_address(base + maxbuf_off + 8)
        before = r.getmaxbuf()
        r.setmaxbuf(12345)
        ok = maxbuf.value == 12345 and maxel.value == 2**32 - 1
        r.setmaxbuf(before)
        return maxbuf_off + 8 if ok and maxbuf.value == before else None
    except Exception:  # any surprise: keep hiredis's default
        return None


_MAXELEMENTS_OFFSET = _maxelements_offset()


def _new_reader() -> hiredis.Reader:
    """A hiredis reader refusing arrays of more than FAST_MAX_MULTIBULK elements.

    hiredis allocates a whole array as soon as it reads its header; a request announcing
    2**31 - 1 arguments and never sending them costs seconds of CPU when that array is freed.
    Redis allocates arguments as they arrive, and so does the strict parser, which gets the
    larger requests: hiredis raises a protocol error for them and the fallback replays them."""
    r = hiredis.Reader()
    if _MAXELEMENTS_OFFSET is not None:
        base = ctypes.c_void_p.from_address(id(r) + object.__basicsize__).value
        if base:
            ctypes.c_longlong.from_address(base + _MAXELEMENTS_OFFSET).value = FAST_MAX_MULTIBULK
    return r


class RequestParser:
    """The connection's parser: hiredis on the fast path, StrictParser for everything else."""

    __slots__ = ("_done", "_next_check", "_raw", "_raw_len", "_reader", "_strict", "limits")

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._reader: hiredis.Reader | None = None
        self._strict: StrictParser | None = None
        self._raw: list[bytes] = []  # bytes fed to hiredis since its buffer was last empty
        self._raw_len = 0
        self._done: list[list[bytes]] = []  # commands hiredis returned since then
        self._next_check = PROTO_MBULK_BIG_ARG

    @property
    def buffered(self) -> int:
        """Bytes received but not yet parsed into commands (for the query buffer limit)."""
        if self._strict is not None:
            return self._strict.pending
        if self._reader is not None and self._raw_len:
            # Not _raw_len: that keeps every byte since hiredis's buffer was last empty, which
            # under steady pipelining spans many consumed commands and would trip the limit.
            # hiredis's own buffer is what is unparsed (plus < 1 KiB it has not compacted yet).
            return int(self._reader.len())
        return self._raw_len

    def feed(self, data: bytes) -> None:
        if self._strict is not None:
            self._strict.feed(data)
        elif self._raw_len == 0 and (data[:1] != b"*" or not self.limits.authenticated):
            self._strict = StrictParser(self.limits)
            self._strict.feed(data)
        else:
            if self._reader is None:
                self._reader = _new_reader()
            self._reader.feed(data)
            self._raw.append(data)
            self._raw_len += len(data)
            if data[0] in _NOT_BULK or (
                _not_bulk_line(data) is not None
                if len(data) <= 128
                else (b"+" in data or b"=" in data or b"(" in data or b"~" in data)
                and _not_bulk_line(data) is not None
            ):
                # Maybe a status, verbatim or big-number element, which hiredis returns as bytes
                # like a bulk string, or a top-level RESP3 set, which it returns as a list; Redis
                # wants '$' and '*' there. The strict parser has Redis's grammar: let it decide.
                # (A long read is first searched for the bytes alone, with memchr: the common
                # request has none of them; for a short one a single search costs less.)
                self._to_strict()
        limit = self.limits.query_buffer_limit
        # (On the hiredis path `buffered` never exceeds the retained bytes: skip asking hiredis.)
        if (self._strict is not None or self._raw_len > limit) and self.buffered > limit:
            raise ProtocolError("query buffer limit exceeded")

    def next_command(self) -> list[bytes] | None:
        """The next complete command, None when more input is needed; raises ProtocolError."""
        strict = self._strict
        if strict is not None:
            cmd = strict.next_command()
            if cmd is None:
                if strict.pending == 0:
                    self._strict = None
                elif strict.pending > PROTO_MBULK_BIG_ARG:
                    strict.compact()
                    strict.check_partial()
            return cmd
        reader = self._reader
        if reader is None or not self._raw_len:
            return None
        try:
            cmd = reader.gets()
        except hiredis.ProtocolError:
            return self._fallback()
        if cmd.__class__ is list and cmd:
            for a in cmd:
                if a.__class__ is not bytes:
                    return self._fallback()
            if reader.has_data():
                self._done.append(cmd)
                if self._raw_len > RETAIN_LIMIT:
                    self._trim()
            else:  # everything fed so far is parsed: forget the retained bytes
                self._raw.clear()
                self._raw_len = 0
                self._done.clear()
                self._next_check = PROTO_MBULK_BIG_ARG
            return cmd
        if cmd is not False:
            return self._fallback()
        # An incomplete command: validate its headers now (Redis rejects a bad length before
        # the body arrives), cheaply: small buffers always, big ones at doubling sizes.
        if self._raw_len < 1024 or self._raw_len >= self._next_check:
            self._next_check = max(2 * self._raw_len, PROTO_MBULK_BIG_ARG)
            if self._check_partial():
                return self.next_command()
        return None

    def commands(self) -> list[list[bytes]]:
        """Every complete command available now, in order; empty when more input is needed.

        The batch form of `next_command` for the network loop (one call per read instead of one
        per command). A protocol error after some complete commands is raised by the next call,
        once those have run, as Redis answers the commands before the bad one. Input the strict
        parser handles (unauthenticated, error recovery) comes one command per call, so each is
        parsed with the limits in force after the previous one ran; complete inline lines from
        an authenticated client come at once (no limit applies inside them).
        """
        reader = self._reader
        strict = self._strict
        if strict is not None and self.limits.authenticated:
            batch = strict.inline_commands()
            if batch:
                if strict.pending == 0:
                    self._strict = None
                return batch
        if strict is not None or reader is None or not self._raw_len:
            cmd = self.next_command()
            return [] if cmd is None else [cmd]
        out: list[list[bytes]] = []
        gets, has_data = reader.gets, reader.has_data
        try:
            while True:
                cmd = gets()
                if cmd.__class__ is not list or not cmd:
                    break
                for a in cmd:
                    if a.__class__ is not bytes:
                        break
                else:
                    out.append(cmd)
                    if has_data():
                        continue
                    # Everything fed so far is parsed: forget the retained bytes.
                    self._raw.clear()
                    self._raw_len = 0
                    self._done.clear()
                    self._next_check = PROTO_MBULK_BIG_ARG
                    return out
                break  # a reply type that is no request: Redis's grammar decides below
        except hiredis.ProtocolError:
            cmd = None
        self._done.extend(out)
        try:
            if cmd is False:
                # An incomplete command: validate its headers now, as next_command does.
                if self._raw_len < 1024 or self._raw_len >= self._next_check:
                    self._next_check = max(2 * self._raw_len, PROTO_MBULK_BIG_ARG)
                    if self._check_partial() and (cmd := self.next_command()) is not None:
                        out.append(cmd)
                return out
            cmd = self._fallback()  # hiredis disagreed with Redis's grammar: replay strictly
        except ProtocolError:
            if out:
                return out  # the parser stays at the error: the next call raises it again
            raise
        if cmd is not None:
            out.append(cmd)
        return out

    def _trim(self) -> None:
        """Forget the bytes of commands already returned, so a client that pipelines without
        pause (`redis-cli --pipe`) keeps O(1 MiB) here, not everything it ever sent.

        Their size is their canonical RESP length (what clients send); if that does not land on a
        command start (a client used a non-canonical form hiredis accepts), the strict parser
        finds the exact boundary instead."""
        data = b"".join(self._raw)
        n = sum(wire_len(c) for c in self._done)
        if not (n == len(data) or data[n : n + 1] == b"*"):
            strict = StrictParser(self.limits)
            strict.feed(data)
            for _ in self._done:
                strict.next_command()
            n = strict.pos
        rest = data[n:]
        self._raw = [rest] if rest else []
        self._raw_len = len(rest)
        self._done.clear()
        self._next_check = max(2 * self._raw_len, PROTO_MBULK_BIG_ARG)

    def _check_partial(self) -> bool:
        """Validate the headers of the incomplete command at the end of the retained bytes.

        True when Redis's grammar finds a complete command there that hiredis waits on (an
        inline command after a multibulk, ended by a bare LF, such as `$\n`): the strict
        parser then has the input."""
        self._trim()
        strict = StrictParser(self.limits)
        strict.feed(b"".join(self._raw))
        try:
            done = strict.next_command() is not None
        except ProtocolError:
            self._fallback()
            raise
        if done:
            self._to_strict()
            return True
        if strict.wait_line >= 0:
            # A header line without its CR: Redis rejects it once it exceeds 64 KiB ("too big
            # (m)bulk count string"), and hiredis would just wait. Check again by then.
            self._next_check = min(self._next_check, strict.wait_line + PROTO_INLINE_MAX_SIZE + 1)
        return False

    def _fallback(self) -> list[bytes] | None:
        """hiredis disagreed with Redis's grammar: replay the retained bytes strictly."""
        self._to_strict()
        return self.next_command()

    def _to_strict(self) -> None:
        """Hand the retained bytes (minus the commands already returned) to the strict parser."""
        strict = StrictParser(self.limits)
        strict.feed(b"".join(self._raw))
        for _ in self._done:
            strict.next_command()
        strict.compact()
        self._reader = None
        self._raw.clear()
        self._raw_len = 0
        self._done.clear()
        self._strict = strict
