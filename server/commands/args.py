"""Argument parsing shared by commands, with Redis's exact errors for bad numbers."""

from __future__ import annotations

import math
import time

from server.errors import NOT_FLOAT, NOT_INTEGER, TIMEOUT_NEGATIVE, TIMEOUT_NOT_FLOAT, CommandError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def parse_int(b: bytes, err: str = NOT_INTEGER) -> int:
    """Redis's string2ll: optional '-', digits, no leading zeros or '+', within int64."""
    n = len(b)
    if 0 < n < 19 and b.isdigit() and (b[0] != 0x30 or n == 1):
        return int(b)  # the common case: up to 18 ASCII digits always fit
    if n == 0 or n > 20:
        raise CommandError(err)
    if b[0] == 0x2D:
        digits = b[1:]
        if not digits or digits[0] == 0x30:
            raise CommandError(err)
    else:
        digits = b
        if n > 1 and b[0] == 0x30:
            raise CommandError(err)
    if not digits.isdigit():
        raise CommandError(err)
    v = int(b)
    if v < INT64_MIN or v > INT64_MAX:
        raise CommandError(err)
    return v


def parse_float(b: bytes, err: str = NOT_FLOAT) -> float:
    """Redis's string2ld/strtod rules: no spaces, no NaN; 'inf', '-inf', '+inf' accepted."""
    if not b or b[0] in b" \t\n\r\x0b\x0c" or b[-1] in b" \t\n\r\x0b\x0c":
        raise CommandError(err)
    try:
        v = float(b)
    except ValueError:
        raise CommandError(err) from None
    if math.isnan(v):
        raise CommandError(err)
    low = b.lower()
    if low in (b"infinity", b"+infinity", b"-infinity") or b"_" in b:
        raise CommandError(err)
    return v


def parse_timeout(b: bytes) -> float | None:
    """A blocking command's timeout in seconds (float allowed): None means forever.

    Exactly as Redis 7.0.15 reads it: a long double (string2ld, so hex and "inf" are accepted),
    times 1000 in x87 precision, rounded up to whole milliseconds and cast to long long (which
    turns anything out of range, inf included, into LLONG_MIN: "timeout is negative"). So
    0.0001 waits 1 ms while -0.0001 (0 ms) waits forever, as in Redis.
    """
    if b.isdigit() and len(b) < 16:  # the usual case: whole seconds
        n = int(b)
        return None if n == 0 else float(n)
    from server.commands.strings import _ext_parse, _ext_round, _Inf

    text = b.split(b"\0", 1)[0]  # strtold reads the C string: a NUL ends it
    try:
        # "\0...": strtold converts nothing, which reads as 0 (an empty argument is an error)
        v = _ext_parse(text) if text else (0, 0) if b else None
        if v is None:
            raise CommandError(TIMEOUT_NOT_FLOAT)
        m, e = v
        pm, pe = _ext_round((m * 1000) << e, 1) if e >= 0 else _ext_round(m * 1000, 1 << -e)
    except _Inf:
        raise CommandError(TIMEOUT_NEGATIVE) from None
    ms = -((-pm << pe) if pe >= 0 else (-pm >> -pe))  # ceil(pm * 2**pe)
    if ms < 0 or ms > INT64_MAX:
        raise CommandError(TIMEOUT_NEGATIVE)
    return None if ms == 0 else ms / 1000


def block_deadline(seconds: float | None) -> float | None:
    """The trio-clock deadline for a blocking wait of `seconds` (None: forever)."""
    if seconds is None:
        return None
    import trio

    try:
        now = trio.current_time()
    except RuntimeError:  # outside a trio run (unit tests of the engine)
        now = time.monotonic()
    return now + seconds
