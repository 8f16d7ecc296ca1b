"""The request parser against Redis's grammar: fast path, inline, mixed input, errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.protocol.parser import Limits, ProtocolError, RequestParser, StrictParser, split_args


def encode(argv: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in argv)


def parse_all(data: bytes, chunk: int | None = None, limits: Limits | None = None) -> list[list[bytes]]:
    p = RequestParser(limits)
    out: list[list[bytes]] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        p.feed(piece)
        while (cmd := p.next_command()) is not None:
            out.append(cmd)
    return out


def test_multibulk_pipeline() -> None:
    data = encode([b"SET", b"k", b"v"]) + encode([b"GET", b"k"])
    assert parse_all(data) == [[b"SET", b"k", b"v"], [b"GET", b"k"]]


def test_inline_and_quotes() -> None:
    assert parse_all(b"SET k \"a b\\x41\\n\"\r\nGET 'k'\n") == [[b"SET", b"k", b"a bA\n"], [b"GET", b"k"]]


def test_inline_then_resp_then_inline_in_one_read() -> None:
    data = b"PING\r\n" + encode([b"ECHO", b"x"]) + b"PING\r\n" + encode([b"GET", b"k"])
    assert parse_all(data) == [[b"PING"], [b"ECHO", b"x"], [b"PING"], [b"GET", b"k"]]


def test_empty_lines_and_empty_multibulk_are_skipped() -> None:
    assert parse_all(b"\r\n*0\r\n*-1\r\nPING\r\n") == [[b"PING"]]


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"*1\r\n:5\r\n", "expected '$', got ':'"),
        (b"*x\r\n", "invalid multibulk length"),
        (b"*01\r\n$1\r\na\r\n", "invalid multibulk length"),
        (b"*1\r\n$-1\r\n", "invalid bulk length"),
        (b"*1\r\n$abc\r\n", "invalid bulk length"),
        (b'SET "a\r\n', "unbalanced quotes in request"),
        (b"*2147483648\r\n", "invalid multibulk length"),
    ],
)
def test_protocol_errors_match_redis(data: bytes, detail: str) -> None:
    with pytest.raises(ProtocolError) as ei:
        parse_all(data)
    assert ei.value.detail == detail
    assert ei.value.reply == b"-ERR Protocol error: " + detail.encode() + b"\r\n"


def test_commands_before_an_error_are_still_returned() -> None:
    p = RequestParser()
    p.feed(encode([b"PING"]) + b"*1\r\n:5\r\n")
    assert p.next_command() == [b"PING"]
    with pytest.raises(ProtocolError):
        p.next_command()


def test_bulk_length_limit_applies_before_the_body_arrives() -> None:
    p = RequestParser(Limits(proto_max_bulk_len=100))
    p.feed(b"*2\r\n$3\r\nSET\r\n$1000\r\n" + b"x" * 40000)
    with pytest.raises(ProtocolError) as ei:
        while p.next_command() is not None:
            pass
    assert ei.value.detail == "invalid bulk length"


def test_inline_too_big() -> None:
    with pytest.raises(ProtocolError) as ei:
        parse_all(b"x" * (70 * 1024))
    assert ei.value.detail == "too big inline request"


def test_unauthenticated_multibulk_limit() -> None:
    with pytest.raises(ProtocolError) as ei:
        parse_all(b"*20\r\n", limits=Limits(authenticated=False))
    assert ei.value.detail == "unauthenticated multibulk length"


@pytest.mark.parametrize("chunk", [None, 1, 3])
@pytest.mark.parametrize(
    ("data", "got"),
    [
        (b"*1\r\n+ok\r\n", "+"),
        (b"*2\r\n$4\r\nECHO\r\n=7\r\ntxt:abc\r\n", "="),
        (b"*2\r\n$4\r\nECHO\r\n(12\r\n", "("),
    ],
)
def test_non_bulk_element_inside_an_array_is_a_protocol_error(
    data: bytes, got: str, chunk: int | None
) -> None:
    """hiredis returns a status, verbatim or big-number element as bytes, like a bulk string;
    Redis wants '$' there, and so do we (the strict parser decides such input)."""
    with pytest.raises(ProtocolError) as ei:
        parse_all(encode([b"PING"]) + data, chunk)
    assert ei.value.detail == f"expected '$', got '{got}'"


def test_plus_inside_bulk_values_is_still_a_bulk_string() -> None:
    """The bytes that make the fast path hand over to the strict parser can be data."""
    cmds = [[b"SET", b"k", b"\n+x\r\n=y\n(z~"], [b"ECHO", b"+"], [b"ECHO", b"\n~1"]]
    for chunk in (None, 1, 5):
        assert parse_all(b"".join(encode(c) for c in cmds), chunk) == cmds


def test_inline_command_ended_by_a_bare_lf_after_a_multibulk() -> None:
    """hiredis waits for a CR after `$`; Redis reads `$\\n` as the inline command `$`."""
    for data in (encode([b"PING"]) + b"$\n", encode([b"PING"]) + b"+PING\n:1\n"):
        p = RequestParser()
        p.feed(data)
        got = []
        while batch := p.commands():
            got += batch
        assert got == [[b"PING"], *([[b"$"]] if data.endswith(b"$\n") else [[b"+PING"], [b":1"]])]


def test_top_level_resp3_set_is_an_inline_command() -> None:
    assert parse_all(encode([b"PING"]) + b"~1\r\n$4\r\nPING\r\n") == [[b"PING"], [b"~1"], [b"$4"], [b"PING"]]


def test_nul_hides_the_rest_of_an_inline_line() -> None:
    """Redis finds the newline with strchr: a NUL before it leaves the request incomplete."""
    p = RequestParser()
    p.feed(b"PING\r\nPI\x00NG\r\nPING\r\n")
    assert p.next_command() == [b"PING"]
    assert p.next_command() is None
    with pytest.raises(ProtocolError, match="too big inline request"):
        p.feed(b"x" * 70000)
        p.next_command()


def test_nul_in_a_header_line_leaves_it_incomplete() -> None:
    for data in (b"*1\x00\r\n$4\r\nPING\r\n", b"*1\r\n$4\x00\r\nPING\r\n"):
        assert parse_all(data) == []


@pytest.mark.parametrize("chunk", [None, 4096, 65536])
@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"*" + b"1" * 70000, "too big mbulk count string"),
        (b"*1\r\n$" + b"9" * 70000, "too big bulk count string"),
        (encode([b"PING"]) * 3000 + b"*2\r\n$4\r\nECHO\r\n$" + b"9" * 70000, "too big bulk count string"),
    ],
)
def test_too_big_count_strings_on_the_fast_path(data: bytes, detail: str, chunk: int | None) -> None:
    with pytest.raises(ProtocolError) as ei:
        parse_all(data, chunk)
    assert ei.value.detail == detail


def test_huge_multibulk_counts_skip_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """hiredis would allocate the whole array from the header: above FAST_MAX_MULTIBULK the
    strict parser takes the request, builds it as it arrives, and does not parse it again from
    the start on every read."""
    from server.protocol import parser

    if parser._MAXELEMENTS_OFFSET is None:
        pytest.skip("this hiredis build has another reader layout")
    monkeypatch.setattr(parser, "FAST_MAX_MULTIBULK", 100)
    big = [b"SADD", b"s", *[b"m%d" % i for i in range(150)]]
    data = encode([b"PING"]) + encode(big) + encode([b"GET", b"k"])
    for chunk in (None, 7, 64):
        assert parse_all(data, chunk) == [[b"PING"], big, [b"GET", b"k"]]
    p = RequestParser()
    p.feed(b"*2147483647\r\n$4\r\nPING\r\n")
    assert p.commands() == []
    assert p._reader is None and p._strict is not None  # hiredis holds no array


def test_strict_parser_resumes_an_unfinished_multibulk() -> None:
    s = StrictParser(Limits())
    s.feed(b"*3\r\n$1\r\na\r\n$1\r")
    assert s.next_command() is None
    s.feed(b"\nb\r\n$2\r\ncc")
    assert s.next_command() is None
    s.compact()
    s.feed(b"\r\n*1\r\n$1\r\nd\r\n")
    assert s.next_command() == [b"a", b"b", b"cc"]
    assert s.next_command() == [b"d"]


def test_split_args_is_sdssplitargs() -> None:
    assert split_args(b"a\x0bb c\x0cd") == [b"a\x0bb", b"c\x0cd"]  # \v, \f: part of a token
    assert split_args(b"\x0b\x0c a \x0b") == [b"a"]  # but blanks between tokens
    assert split_args(b"\"a\"\x0b'b'\x0c") == [b"a", b"b"]  # and after a closing quote
    assert split_args(b"a b\x00c d") == [b"a", b"b"]  # a C string: it ends at the NUL
    assert split_args(b'"a\x00b"') is None  # ... even inside quotes
    assert split_args(b"a\tb\rc\nd") == [b"a", b"b", b"c", b"d"]


def test_split_args_unbalanced() -> None:
    assert split_args(b'"abc') is None
    assert split_args(b"'abc") is None
    assert split_args(b'"a"b') is None
    assert split_args(b"  a   b  ") == [b"a", b"b"]


argvs = st.lists(st.lists(st.binary(max_size=40), min_size=1, max_size=6), min_size=1, max_size=8)


@given(argvs, st.integers(min_value=1, max_value=64))
def test_any_chunking_gives_the_same_commands(cmds: list[list[bytes]], chunk: int) -> None:
    data = b"".join(encode(c) for c in cmds)
    assert parse_all(data, chunk) == cmds


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=50))
def test_arbitrary_bytes_never_crash(data: bytes, chunk: int) -> None:
    """Any byte sequence parses to commands or a ProtocolError, never another exception."""
    try:
        for cmd in parse_all(data, chunk):
            assert cmd and all(isinstance(a, bytes) for a in cmd)
    except ProtocolError:
        pass


def _outcomes(data: bytes, chunk: int, batched: bool) -> list[object]:
    """Commands and the protocol error (if any) as the network loop sees them, read by read."""
    p = RequestParser()
    out: list[object] = []
    try:
        for i in range(0, len(data), chunk):
            p.feed(data[i : i + chunk])
            if batched:
                while batch := p.commands():
                    out.extend(batch)
            else:
                while (cmd := p.next_command()) is not None:
                    out.append(cmd)
    except ProtocolError as e:
        out.append(("error", e.detail))
    return out


fragments = st.lists(
    st.one_of(
        argvs.map(lambda cmds: b"".join(encode(c) for c in cmds)),
        st.sampled_from(
            [b"PING\r\n", b"*0\r\n", b"*-1\r\n", b"*1\r\n:5\r\n", b"*x\r\n", b"*1\r\n+ok\r\n", b"\r\n"]
        ),
        st.sampled_from(  # inline lines, which come in batches (StrictParser.inline_commands)
            [b"PING\n", b'SET a "b c"\r\n', b"ECHO 'x y'\n", b'GET "open\r\n', b"PI\x00NG\r\n", b"  \r\n", b"\n"]
        ),
        st.binary(max_size=12),
    ),
    max_size=6,
)


@given(fragments, st.integers(min_value=1, max_value=80))
def test_batched_commands_match_one_by_one(parts: list[bytes], chunk: int) -> None:
    """`commands()` yields what repeated `next_command()` does, the error after the same commands."""
    data = b"".join(parts)
    assert _outcomes(data, chunk, True) == _outcomes(data, chunk, False)


def test_continuous_pipelining_keeps_retained_input_bounded() -> None:
    """A client that never pauses (redis-cli --pipe) leaves a partial command at the end of every
    read; the parser must still forget the commands it already returned."""
    p = RequestParser()
    one = encode([b"SET", b"key:123", b"x" * 30])
    stream = one * 200_000  # ~10 MB
    got = 0
    for i in range(0, len(stream), 65536 + 7):  # reads that end mid-command
        p.feed(stream[i : i + 65536 + 7])
        got += len(p.commands())
        assert p._raw_len < 2 * (1 << 20) + 65536  # bounded, not the whole stream
    assert got == 200_000


def test_error_after_trimmed_commands_is_still_exact() -> None:
    p = RequestParser()
    good = encode([b"PING"]) * 40_000
    p.feed(good[: len(good) - 3])
    n = len(p.commands())
    p.feed(good[len(good) - 3 :] + b"*1\r\n:5\r\n")
    n += len(p.commands())
    assert n == 40_000
    with pytest.raises(ProtocolError) as ei:
        p.commands()
    assert ei.value.detail == "expected '$', got ':'"
