"""Redis's glob-style patterns (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET).

`stringmatch` is a line-by-line port of Redis's `stringmatchlen` (the reference semantics);
`match` compiles the same pattern to a regular expression once and is what the server uses.
A property test holds the two equal.
"""

from __future__ import annotations

import re
from functools import lru_cache


def stringmatch(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    try:
        return _sm(pattern, 0, string, 0, nocase, [False], 0)
    except RecursionError:
        return False  # deeper than Python allows: Redis gives up at 1000 levels too


def _sm(p: bytes, pi: int, s: bytes, si: int, nocase: bool, skip_longer: list[bool], nesting: int) -> bool:
    """Redis 7.0.15's stringmatchlen_impl, including its defences against abusive patterns
    (CVE-2022-36021): a nesting limit, and `skip_longer`, which stops retrying earlier stars once
    the rest of the pattern matched nowhere in the rest of the string."""
    if nesting > 1000:
        return False
    plen, slen = len(p), len(s)
    while pi < plen and si < slen:
        c = p[pi]
        if c == 0x2A:  # '*'
            while pi + 1 < plen and p[pi + 1] == 0x2A:
                pi += 1
            if pi + 1 == plen:
                return True
            while si < slen:
                if _sm(p, pi + 1, s, si, nocase, skip_longer, nesting + 1):
                    return True
                if skip_longer[0]:
                    return False
                si += 1
            skip_longer[0] = True
            return False
        if c == 0x3F:  # '?'
            si += 1
        elif c == 0x5B:  # '['
            pi += 1
            negate = pi < plen and p[pi] == 0x5E
            if negate:
                pi += 1
            matched = False
            while True:
                if pi < plen and p[pi] == 0x5C and plen - pi >= 2:
                    pi += 1
                    if p[pi] == s[si]:
                        matched = True
                elif pi < plen and p[pi] == 0x5D:
                    break
                elif pi >= plen:
                    pi -= 1
                    break
                elif plen - pi >= 3 and p[pi + 1] == 0x2D:
                    start, end = p[pi], p[pi + 2]
                    ch = s[si]
                    if start > end:
                        start, end = end, start
                    if nocase:
                        start, end, ch = _lower(start), _lower(end), _lower(ch)
                    pi += 2
                    if start <= ch <= end:
                        matched = True
                elif nocase:
                    if _lower(p[pi]) == _lower(s[si]):
                        matched = True
                elif p[pi] == s[si]:
                    matched = True
                pi += 1
            if negate:
                matched = not matched
            if not matched:
                return False
            si += 1
        else:
            if c == 0x5C and plen - pi >= 2:
                pi += 1
                c = p[pi]
            if nocase:
                if _lower(c) != _lower(s[si]):
                    return False
            elif c != s[si]:
                return False
            si += 1
        pi += 1
        if si == slen:
            while pi < plen and p[pi] == 0x2A:
                pi += 1
            break
    return pi == plen and si == slen


def _lower(c: int) -> int:
    return c + 32 if 0x41 <= c <= 0x5A else c


@lru_cache(maxsize=1024)
def compile_pattern(pattern: bytes) -> re.Pattern[bytes] | None:
    """A regex equivalent to `pattern`, or None where translation is not exact (then use
    `stringmatch`)."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:
            out.append(b".*")
        elif c == 0x3F:
            out.append(b".")
        elif c == 0x5B:
            i += 1
            negate = i < n and pattern[i] == 0x5E
            if negate:
                i += 1
            members: list[bytes] = []
            while True:
                if i < n and pattern[i] == 0x5C and n - i >= 2:
                    i += 1
                    members.append(re.escape(bytes([pattern[i]])))
                elif i < n and pattern[i] == 0x5D:
                    break
                elif i >= n:
                    # Unterminated class: Redis re-reads the last byte; leave it to stringmatch.
                    return None
                elif n - i >= 3 and pattern[i + 1] == 0x2D:
                    a, b = pattern[i], pattern[i + 2]
                    if a > b:
                        a, b = b, a
                    members.append(re.escape(bytes([a])) + b"-" + re.escape(bytes([b])))
                    i += 2
                else:
                    members.append(re.escape(bytes([pattern[i]])))
                i += 1
            if not members:
                out.append(b"(?!)" if not negate else b".")
            else:
                out.append(b"[" + (b"^" if negate else b"") + b"".join(members) + b"]")
        else:
            if c == 0x5C and n - i >= 2:
                i += 1
                c = pattern[i]
            out.append(re.escape(bytes([c])))
        i += 1
    return re.compile(_linear(out), re.DOTALL)


_STAR = b".*"


def _linear(tokens: list[bytes]) -> bytes:
    """Join token regexes so that matching cannot backtrack exponentially.

    Between stars every token matches exactly one byte, so the pattern is seg0 * seg1 * ... * segN
    with fixed-length segments, and taking each middle segment's leftmost occurrence is always
    right. Atomic groups `(?>.*?seg)` commit to that occurrence, which makes the match linear in
    practice (Redis 7.0's skipLongerMatches reaches the same bound in C)."""
    segs: list[list[bytes]] = [[]]
    for t in tokens:
        if t is _STAR or t == _STAR:
            if segs[-1] or len(segs) == 1:
                segs.append([])
            continue
        segs[-1].append(t)
    if len(segs) == 1:
        return b"".join(segs[0])
    head, middle, last = segs[0], segs[1:-1], segs[-1]
    out = b"".join(head)
    for seg in middle:
        out += b"(?>.*?" + b"".join(seg) + b")"
    return out + b".*" + b"".join(last)


def match(pattern: bytes, string: bytes) -> bool:
    """Redis's glob match, through a compiled regex built to run in linear time (see `_linear`);
    the rare patterns the regex cannot express exactly use `stringmatch`."""
    if not string:
        return not pattern  # stringmatchlen never matches an empty string, not even with "*"
    if pattern == b"*":
        return True
    rx = compile_pattern(pattern)
    if rx is None:
        return stringmatch(pattern, string)
    return rx.fullmatch(string) is not None
