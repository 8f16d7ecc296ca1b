"""Glob patterns: the regex fast path (`match`) must agree with the port of Redis's
stringmatchlen (`stringmatch`) everywhere, and both with stock Redis's KEYS."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from server.glob import compile_pattern, match, stringmatch

# Every metacharacter plus a few ordinary bytes, so classes, ranges, escapes and negation
# collide with each other and with the subject strings.
PATTERN_ALPHABET = b"ab*?[]^-\\"
SUBJECT_ALPHABET = b"ab-^]\\[*?c"

patterns = st.binary(max_size=10).map(lambda b: bytes(PATTERN_ALPHABET[x % len(PATTERN_ALPHABET)] for x in b))
subjects = st.binary(max_size=8).map(lambda b: bytes(SUBJECT_ALPHABET[x % len(SUBJECT_ALPHABET)] for x in b))


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patterns, subjects)
@example(b"[", b"[")
@example(b"[a-", b"a")
@example(b"[a-", b"-")
@example(b"[]", b"]")
@example(b"[^]", b"a")
@example(b"\\", b"\\")
@example(b"a\\", b"a\\")
@example(b"[\\", b"\\")
@example(b"[b-a]", b"a")
@example(b"*[", b"a[")
def test_match_equals_stringmatch(pattern: bytes, subject: bytes) -> None:
    assert match(pattern, subject) == stringmatch(pattern, subject)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=12), st.binary(max_size=12))
def test_match_equals_stringmatch_any_bytes(pattern: bytes, subject: bytes) -> None:
    """Arbitrary bytes too (NUL, newlines, high bytes): regex DOTALL and escaping must hold."""
    assert match(pattern, subject) == stringmatch(pattern, subject)


# (pattern, subject, expected) as stock Redis 7.0 answers them (verified by the KEYS test below).
TABLE: list[tuple[bytes, bytes, bool]] = [
    (b"*", b"", False),  # stringmatchlen never matches an empty subject (KEYS * special-cases it)
    (b"**", b"", False),
    (b"", b"", True),
    (b"*", b"x", True),
    (b"h?llo", b"hello", True),
    (b"h?llo", b"hllo", False),
    (b"h*llo", b"heeeello", True),
    (b"h[ae]llo", b"hallo", True),
    (b"h[ae]llo", b"hillo", False),
    (b"h[^e]llo", b"hallo", True),
    (b"h[^e]llo", b"hello", False),
    (b"h[a-b]llo", b"hbllo", True),
    (b"h[b-a]llo", b"hallo", True),  # reversed ranges are swapped
    (b"h\\*llo", b"h*llo", True),
    (b"h\\*llo", b"hello", False),
    (b"[", b"[", False),
    (b"a[", b"a[", False),
    (b"[]", b"]", False),
    (b"[a-]", b"-", False),
    (b"[a-]", b"a", True),
    (b"[\\]]", b"]", True),
    (b"\\", b"\\", True),
    (b"*a", b"bba", True),
    (b"*a*", b"xyz", False),
    (b"a*b*c", b"axxbyyc", True),
    (b"a?", b"a\n", True),
]


@pytest.mark.parametrize(("pattern", "subject", "expected"), TABLE)
def test_table(pattern: bytes, subject: bytes, expected: bool) -> None:
    assert stringmatch(pattern, subject) is expected
    assert match(pattern, subject) is expected


def test_unterminated_class_falls_back_to_the_port() -> None:
    """An unterminated class has no exact regex translation, so `match` must use the port."""
    assert compile_pattern(b"[ab") is None
    assert match(b"[ab", b"a") == stringmatch(b"[ab", b"a")


def test_table_and_keys_agree_with_stock(server: Any, stock: Any) -> None:
    """KEYS with each table pattern returns the same keys on stock Redis and on our server, and
    exactly the subjects `match` accepts (KEYS * alone is special-cased to every key, "" too)."""
    subjects = sorted({s for _, s, _ in TABLE} | {b"hallo", b"hello", b"hillo", b"hbllo", b"x"})
    ours, theirs = server.client(), stock.client()
    for cli in (ours, theirs):
        cli.flushall()
        for s in subjects:
            cli.set(s, b"1")
    for pattern, _, _ in TABLE:
        expected = sorted(s for s in subjects if pattern == b"*" or match(pattern, s))
        assert sorted(theirs.keys(pattern)) == expected, pattern
        assert sorted(ours.keys(pattern)) == expected, pattern
