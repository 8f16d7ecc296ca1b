"""LZF, the compression Redis applies to long strings in RDB files (liblzf's format).

The C binding (python-neo-lzf, module `lzf`) is used when it is importable, because snapshot save
and load speed depends on it; the pure-Python codec below is the same format and is what runs
when the binding is missing. Both raise LzfError on input that does not decode to exactly the
length the RDB file announced.
"""

from __future__ import annotations

from collections.abc import Callable

_MAX_LIT = 32  # a literal run holds 1..32 bytes
_MAX_OFF = 1 << 13  # a back reference reaches 1..8192 bytes back
_MAX_REF = 264  # and copies 3..264 bytes (7 + 255 + 2)


class LzfError(ValueError):
    """Compressed data that is corrupt or does not match its announced length."""


def py_decompress(data: bytes, out_len: int) -> bytes:
    """Decode liblzf's format; the result must be exactly `out_len` bytes long."""
    out = bytearray()
    i = 0
    n = len(data)
    try:
        while i < n:
            c = data[i]
            i += 1
            if c < 32:
                c += 1
                if i + c > n:
                    raise LzfError("literal run past the end of the compressed data")
                out += data[i : i + c]
                i += c
            else:
                length = c >> 5
                if length == 7:
                    length += data[i]
                    i += 1
                ref = len(out) - ((c & 0x1F) << 8) - data[i] - 1
                i += 1
                length += 2
                if ref < 0:
                    raise LzfError("back reference before the start of the output")
                end = ref + length
                if end <= len(out):
                    out += out[ref:end]
                else:
                    # Overlapping copy: the referenced run repeats itself.
                    period = len(out) - ref
                    chunk = bytes(out[ref:])
                    reps, rest = divmod(length, period)
                    out += chunk * reps + chunk[:rest]
            if len(out) > out_len:
                raise LzfError("compressed data expands past its announced length")
    except IndexError:
        raise LzfError("truncated compressed data") from None
    if len(out) != out_len:
        raise LzfError(f"compressed data expands to {len(out)} bytes, not {out_len}")
    return bytes(out)


def py_compress(data: bytes, max_len: int) -> bytes | None:
    """liblzf-compatible compression (greedy, 3-byte hash); None if it needs over `max_len` bytes."""
    n = len(data)
    out = bytearray()
    table: dict[bytes, int] = {}
    lit_start = 0
    i = 0
    limit = n - 2  # a match needs 3 bytes
    while i < limit:
        key = data[i : i + 3]
        ref = table.get(key)
        table[key] = i
        if ref is not None and i - ref <= _MAX_OFF:
            length = 3
            maxlen = min(_MAX_REF, n - i)
            while length < maxlen and data[ref + length] == data[i + length]:
                length += 1
            _emit_literals(out, data, lit_start, i)
            off = i - ref - 1
            ln = length - 2
            if ln < 7:
                out.append((ln << 5) | (off >> 8))
            else:
                out.append((7 << 5) | (off >> 8))
                out.append(ln - 7)
            out.append(off & 0xFF)
            end = i + length
            # Index the positions inside the match so later data can refer to them.
            j = i + 1
            while j < end and j < limit:
                table[data[j : j + 3]] = j
                j += 1
            i = end
            lit_start = i
            if len(out) > max_len:
                return None
        else:
            i += 1
    _emit_literals(out, data, lit_start, n)
    if len(out) > max_len or not out:
        return None
    return bytes(out)


def _emit_literals(out: bytearray, data: bytes, start: int, end: int) -> None:
    while start < end:
        run = min(_MAX_LIT, end - start)
        out.append(run - 1)
        out += data[start : start + run]
        start += run


def _c_codec() -> tuple[Callable[[bytes, int], bytes], Callable[[bytes, int], bytes | None]] | None:
    try:
        import lzf as clzf  # type: ignore[import-not-found]
    except ImportError:
        return None

    def decompress(data: bytes, out_len: int) -> bytes:
        if out_len == 0:
            if data:
                raise LzfError("compressed data for an empty string")
            return b""
        try:
            out: bytes | None = clzf.decompress(data, out_len)
        except ValueError as e:
            raise LzfError(str(e)) from None
        if out is None:
            raise LzfError(f"compressed data expands past its announced length {out_len}")
        if len(out) != out_len:
            raise LzfError(f"compressed data expands to {len(out)} bytes, not {out_len}")
        return out

    def compress(data: bytes, max_len: int) -> bytes | None:
        if max_len <= 0:
            return None
        out: bytes | None = clzf.compress(data, max_len)
        return out

    return decompress, compress


_codec = _c_codec()
HAVE_C = _codec is not None
decompress: Callable[[bytes, int], bytes] = _codec[0] if _codec else py_decompress
compress: Callable[[bytes, int], bytes | None] = _codec[1] if _codec else py_compress
