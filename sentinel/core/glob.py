"""Redis glob matching (`stringmatchlen`), for SENTINEL RESET and CONFIG GET patterns.

Kept here rather than imported from server/ so the core depends on nothing outside itself.
"""

from __future__ import annotations


def glob_match(pattern: str, subject: str, nocase: bool = False) -> bool:
    """`*`, `?`, `[...]` (with `^` negation and `a-z` ranges) and `\\` escapes."""
    if nocase:
        pattern, subject = pattern.lower(), subject.lower()
    return _match(pattern, 0, subject, 0)


def _match(p: str, pi: int, s: str, si: int) -> bool:
    while pi < len(p):
        c = p[pi]
        if c == "*":
            while pi + 1 < len(p) and p[pi + 1] == "*":
                pi += 1
            if pi + 1 == len(p):
                return True
            return any(_match(p, pi + 1, s, k) for k in range(si, len(s) + 1))
        if si >= len(s):
            return False
        if c == "?":
            si += 1
        elif c == "[":
            pi += 1
            negate = pi < len(p) and p[pi] == "^"
            if negate:
                pi += 1
            matched = False
            while pi < len(p) and p[pi] != "]":
                if p[pi] == "\\" and pi + 1 < len(p):
                    pi += 1
                    matched |= p[pi] == s[si]
                elif pi + 2 < len(p) and p[pi + 1] == "-":
                    lo, hi = sorted((p[pi], p[pi + 2]))
                    matched |= lo <= s[si] <= hi
                    pi += 2
                else:
                    matched |= p[pi] == s[si]
                pi += 1
            if matched == negate:
                return False
            si += 1
        else:
            if c == "\\" and pi + 1 < len(p):
                pi += 1
                c = p[pi]
            if c != s[si]:
                return False
            si += 1
        pi += 1
    return si == len(s)
