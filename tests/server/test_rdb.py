"""RDB format without a peer: encodings, LZF, crafted legacy files, corruption, round-trips."""

from __future__ import annotations

import io
import math
import os
import random
import socket
import struct
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.datatypes import ZSet
from server.persistence import lzf
from server.persistence.encodings import (
    EncodingError,
    decode_intset,
    decode_listpack,
    decode_ziplist,
    decode_zipmap,
    encode_intset,
    encode_listpack,
    encode_ziplist,
    encode_zipmap,
)
from server.persistence.rdb import (
    OP_AUX,
    OP_EOF,
    OP_FREQ,
    OP_FUNCTION2,
    OP_IDLE,
    OP_MODULE_AUX,
    OP_RESIZEDB,
    OP_SELECTDB,
    RDB_VERSION,
    TYPE_HASH_LISTPACK,
    TYPE_HASH_ZIPLIST,
    TYPE_HASH_ZIPMAP,
    TYPE_LIST_QUICKLIST,
    TYPE_LIST_QUICKLIST_2,
    TYPE_LIST_ZIPLIST,
    TYPE_MODULE_2,
    TYPE_SET_INTSET,
    TYPE_SET_LISTPACK,
    TYPE_STREAM_LISTPACKS_2,
    TYPE_STRING,
    TYPE_ZSET,
    TYPE_ZSET_LISTPACK,
    TYPE_ZSET_ZIPLIST,
    RdbError,
    RdbInfo,
    crc64,
    dump_value,
    encode_length,
    encode_string,
    load_rdb,
    load_rdb_file,
    restore_value,
    save_rdb,
    save_rdb_file,
)
from tests.server.rdb_helpers import (
    blob,
    canon,
    craft_rdb,
    fill_keyspace,
    keyspace_snapshot,
    make_zset,
    new_keyspace,
    stream,
)

FUTURE = 4_000_000_000_000  # ms, year 2096


def load_bytes(data: bytes, **kw: Any) -> tuple[dict[int, dict[bytes, Any]], RdbInfo]:
    ks = new_keyspace()
    info = load_rdb(io.BytesIO(data), ks, **kw)
    return keyspace_snapshot(ks), info


def save_bytes(dataset: dict[int, dict[bytes, tuple[Any, int | None]]], **kw: Any) -> bytes:
    ks = new_keyspace()
    fill_keyspace(ks, dataset)
    f = io.BytesIO()
    save_rdb(f, ks.dbs, **kw)
    return f.getvalue()


# --- listpack / ziplist / intset / zipmap -------------------------------------------------------

INT_SAMPLES = [0, 1, 12, 13, 127, 128, -1, -128, -129, 4095, 4096, -4096, -4097, 32767, 32768, -32768,
               -32769, (1 << 23) - 1, 1 << 23, -(1 << 23), -(1 << 23) - 1, (1 << 31) - 1, 1 << 31,
               -(1 << 31), -(1 << 31) - 1, (1 << 63) - 1, -(1 << 63)]  # fmt: skip
STR_SAMPLES = [
    b"",
    b"a",
    b"x" * 63,
    b"y" * 64,
    b"z" * 4095,
    b"w" * 4096,
    b"\x00\xff" * 100,
    b"007",
    b"+1",
    b"-0",
]


def test_listpack_round_trip_every_entry_encoding() -> None:
    entries: list[bytes | int] = [*INT_SAMPLES, *STR_SAMPLES]
    lp = encode_listpack(entries)
    got = decode_listpack(lp)
    assert got == entries


def test_listpack_integer_strings_become_integers() -> None:
    assert decode_listpack(encode_listpack([b"12", b"-5", b"007"])) == [12, -5, b"007"]


def test_listpack_known_bytes() -> None:
    # Redis 7.0: RPUSH l a 1 hello -> listpack bytes as DUMP shows them.
    lp = bytes.fromhex("130000000300816102010185" + "68656c6c6f06ff")
    assert decode_listpack(lp) == [b"a", 1, b"hello"]
    assert encode_listpack([b"a", b"1", b"hello"]) == lp


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x07\x00\x00\x00\x00\x00\xff"[:-1],
        b"\x08\x00\x00\x00\x00\x00\xff\xff",  # length mismatch with entries
        b"\x07\x00\x00\x00\x01\x00\xff",  # count says 1, none present
        b"\x0b\x00\x00\x00\x01\x00\x85ab\x06\xff",  # string past the end
        b"\x09\x00\x00\x00\x01\x00\xf5\x01\xff",  # unknown encoding
        b"\x07\x00\x00\x00\x00\x00\xfe",  # no end byte
    ],
)
def test_listpack_rejects_malformed(bad: bytes) -> None:
    with pytest.raises(EncodingError):
        decode_listpack(bad)


def test_ziplist_round_trip_every_entry_encoding() -> None:
    entries: list[bytes | int] = [*INT_SAMPLES, *STR_SAMPLES, b"q" * 16383, b"r" * 16384]
    # Long entries push prevlen to its 5-byte form.
    zl = encode_ziplist(entries)
    assert decode_ziplist(zl) == entries


def test_ziplist_known_bytes() -> None:
    # Redis 6.2: RPUSH l a 1 -> ziplist as stored in an RDB.
    zl = bytes.fromhex("100000000d000000020000016103f2ff")
    assert decode_ziplist(zl) == [b"a", 1]


@pytest.mark.parametrize("cut", [2, 3, 5, 8])
def test_ziplist_rejects_truncation(cut: int) -> None:
    zl = encode_ziplist([b"hello", 300, b"world"])
    bad = bytearray(zl[:-cut] + b"\xff")
    bad[0:4] = struct.pack("<I", len(bad))
    with pytest.raises(EncodingError):
        decode_ziplist(bytes(bad))


def test_ziplist_rejects_bad_prevlen() -> None:
    zl = bytearray(encode_ziplist([b"hello", b"world"]))
    zl[10 + 7] = 3  # the second entry's prevlen
    with pytest.raises(EncodingError):
        decode_ziplist(bytes(zl))


@pytest.mark.parametrize("values", [[1, 2, 3], [-40000, 5, 40000], [-(1 << 40), 0, 1 << 40], []])
def test_intset_round_trip(values: list[int]) -> None:
    blob_ = encode_intset(values)
    assert decode_intset(blob_) == sorted(values)


def test_intset_rejects_unsorted_and_bad_width() -> None:
    with pytest.raises(EncodingError):
        decode_intset(struct.pack("<II2h", 2, 2, 5, 3))
    with pytest.raises(EncodingError):
        decode_intset(struct.pack("<II2h", 3, 2, 3, 5))
    with pytest.raises(EncodingError):
        decode_intset(struct.pack("<II2h", 2, 3, 3, 5))


def test_zipmap_round_trip() -> None:
    pairs = [(b"a", b"1"), (b"k" * 300, b"v" * 500), (b"", b"")]
    zm = encode_zipmap(pairs)
    assert decode_zipmap(zm) == [x for p in pairs for x in p]
    with pytest.raises(EncodingError):
        decode_zipmap(zm[:-3] + b"\xff")


# --- LZF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"a" * 1000,
        b"abc" * 5000,
        os.urandom(3000),
        b"hello world, hello world, hello!" * 40,
        bytes(range(256)) * 50,
    ],
)
def test_lzf_python_and_c_agree(data: bytes) -> None:
    c = lzf.py_compress(data, len(data) + 200)
    assert c is not None
    assert lzf.py_decompress(c, len(data)) == data
    assert lzf.decompress(c, len(data)) == data
    cc = lzf.compress(data, len(data) + 200)
    assert cc is not None
    assert lzf.py_decompress(cc, len(data)) == data


def test_lzf_rejects_wrong_length_and_garbage() -> None:
    c = lzf.compress(b"x" * 100, 96)
    assert c is not None
    for dec in (lzf.decompress, lzf.py_decompress):
        with pytest.raises(lzf.LzfError):
            dec(c, 99)
        with pytest.raises(lzf.LzfError):
            dec(c, 101)
        with pytest.raises(lzf.LzfError):
            dec(b"\xe0\xff\x05", 300)  # back reference before the start


def test_lzf_incompressible_is_refused() -> None:
    data = os.urandom(100)
    assert lzf.compress(data, 96) is None
    assert lzf.py_compress(data, 96) is None


# --- string and length encodings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("s", "prefix"),
    [
        (b"0", b"\xc0"),
        (b"-128", b"\xc0"),
        (b"127", b"\xc0"),
        (b"128", b"\xc1"),
        (b"-32768", b"\xc1"),
        (b"32768", b"\xc2"),
        (b"-2147483648", b"\xc2"),
        (b"2147483648", b"\x0a"),  # past int32: raw
        (b"007", b"\x03"),
        (b"+1", b"\x02"),
        (b"-0", b"\x02"),
        (b" 1", b"\x02"),
        (b"1_0", b"\x03"),
    ],
)
def test_string_integer_forms(s: bytes, prefix: bytes) -> None:
    enc = encode_string(s)
    assert enc.startswith(prefix)
    data = craft_rdb([(TYPE_STRING, b"k", enc, None)])
    snap, _ = load_bytes(data)
    assert snap[0][b"k"][0] == ("string", s)


def test_string_lzf_form_and_threshold() -> None:
    assert encode_string(b"a" * 20) == b"\x14" + b"a" * 20  # Redis compresses only past 20 bytes
    enc = encode_string(b"a" * 21)
    assert enc[0] == 0xC3
    assert encode_string(b"a" * 21, compress=False)[0] == 21


@pytest.mark.parametrize("n", [0, 63, 64, 16383, 16384, 0xFFFFFFFF, 0x100000000])
def test_length_encoding_boundaries(n: int) -> None:
    enc = encode_length(n)
    expected_size = 1 if n < 64 else 2 if n < 16384 else 5 if n <= 0xFFFFFFFF else 9
    assert len(enc) == expected_size


@pytest.mark.parametrize("size", [63, 64, 16383, 16384, 70000])
def test_long_strings_round_trip(size: int) -> None:
    v = os.urandom(size)
    data = save_bytes({0: {b"k": (v, None), b"c": (b"c" * size, None)}})
    snap, _ = load_bytes(data)
    assert snap[0][b"k"][0] == ("string", v)
    assert snap[0][b"c"][0] == ("string", b"c" * size)


# --- legacy and compact types in crafted files --------------------------------------------------


def test_crafted_legacy_encodings_load() -> None:
    h_pairs = [(b"f1", b"v1"), (b"n", b"123")]
    z_pairs = [(b"a", b"1.5"), (b"b", b"-inf"), (b"c", b"7")]
    entries = [
        (TYPE_LIST_ZIPLIST, b"lz", blob(encode_ziplist([b"a", b"1", b"-70000", b"b" * 100])), None),
        (TYPE_SET_INTSET, b"si", blob(encode_intset([3, -1, 1 << 40])), FUTURE),
        (TYPE_ZSET_ZIPLIST, b"zz", blob(encode_ziplist([x for p in z_pairs for x in p])), None),
        (TYPE_HASH_ZIPLIST, b"hz", blob(encode_ziplist([x for p in h_pairs for x in p])), None),
        (TYPE_HASH_ZIPMAP, b"hm", blob(encode_zipmap(h_pairs)), None),
        (
            TYPE_LIST_QUICKLIST,
            b"q1",
            encode_length(2)
            + blob(encode_ziplist([b"x", b"1"]))
            + encode_string(encode_ziplist([b"y"] * 50)),
            None,
        ),
        (
            TYPE_LIST_QUICKLIST_2,
            b"q2",
            encode_length(3)
            + encode_length(2)
            + blob(encode_listpack([b"p", b"2"]))
            + encode_length(1)
            + blob(b"plain node")
            + encode_length(2)
            + blob(encode_listpack([b"z"])),
            None,
        ),
        (TYPE_HASH_LISTPACK, b"hl", blob(encode_listpack([x for p in h_pairs for x in p])), None),
        (TYPE_ZSET_LISTPACK, b"zl", blob(encode_listpack([x for p in z_pairs for x in p])), None),
        (TYPE_SET_LISTPACK, b"sl", blob(encode_listpack([b"m1", b"5", b"m2"])), None),
        (TYPE_ZSET, b"z1", encode_length(3) + b"\x01a\x033.5" + b"\x01b\xfe" + b"\x01c\xff", None),
    ]
    snap, info = load_bytes(craft_rdb(entries, version=11))
    assert info.rdb_version == 11
    db = snap[0]
    assert db[b"lz"][0] == ("list", [b"a", b"1", b"-70000", b"b" * 100])
    assert db[b"si"] == (("set", frozenset({b"3", b"-1", b"%d" % (1 << 40)})), FUTURE)
    assert db[b"zz"][0] == ("zset", {b"a": 1.5, b"b": -math.inf, b"c": 7.0})
    assert db[b"hz"][0] == ("hash", dict(h_pairs))
    assert db[b"hm"][0] == ("hash", dict(h_pairs))
    assert db[b"q1"][0] == ("list", [b"x", b"1"] + [b"y"] * 50)
    assert db[b"q2"][0] == ("list", [b"p", b"2", b"plain node", b"z"])
    assert db[b"hl"][0] == ("hash", dict(h_pairs))
    assert db[b"zl"][0] == ("zset", {b"a": 1.5, b"b": -math.inf, b"c": 7.0})
    assert db[b"sl"][0] == ("set", frozenset({b"m1", b"5", b"m2"}))
    assert db[b"z1"][0] == ("zset", {b"a": 3.5, b"b": math.inf, b"c": -math.inf})
    assert info.keys_loaded == len(entries)


def test_empty_collections_are_skipped() -> None:
    entries = [
        (TYPE_LIST_QUICKLIST_2, b"e1", encode_length(1) + encode_length(2) + blob(encode_listpack([])), None),
        (TYPE_HASH_LISTPACK, b"e2", blob(encode_listpack([])), None),
        (TYPE_SET_INTSET, b"e3", blob(encode_intset([])), None),
        (2, b"e4", encode_length(0), None),
        (TYPE_STRING, b"ok", encode_string(b""), None),
    ]
    snap, info = load_bytes(craft_rdb(entries))
    assert snap == {0: {b"ok": (("string", b""), None)}}
    assert info.empty_keys_skipped == 4
    assert info.keys_loaded == 1


@pytest.mark.parametrize(
    ("t", "body", "msg"),
    [
        (2, encode_length(2) + encode_string(b"a") + encode_string(b"a"), "duplicate set"),
        (4, encode_length(2) + encode_string(b"a") * 4, "duplicate hash"),
        (5, encode_length(1) + encode_string(b"a") + struct.pack("<d", math.nan), "NaN"),
        (TYPE_HASH_LISTPACK, blob(encode_listpack([b"a", b"1", b"b"])), "odd number"),
        (TYPE_LIST_QUICKLIST_2, encode_length(1) + encode_length(3) + blob(b"x"), "container"),
        (TYPE_SET_INTSET, blob(b"\x02\x00\x00\x00\x05\x00\x00\x00"), "intset"),
        (TYPE_MODULE_2, encode_length(0x1234567 << 10), "module"),
        (TYPE_STREAM_LISTPACKS_2, encode_length(0), "stream"),
        (24, b"", "field expirations"),
        (8, b"", "unknown RDB value type"),
    ],
)
def test_invalid_values_are_refused(t: int, body: bytes, msg: str) -> None:
    with pytest.raises(RdbError, match=msg):
        load_bytes(craft_rdb([(t, b"k", body, None)], version=11))


def test_duplicate_keys_are_refused() -> None:
    v = encode_string(b"v")
    with pytest.raises(RdbError, match="duplicate key"):
        load_bytes(craft_rdb([(TYPE_STRING, b"k", v, None), (TYPE_STRING, b"k", v, None)]))


def test_opcodes_aux_idle_freq_function_and_module_aux() -> None:
    body = bytearray(b"REDIS0010")
    body += bytes((OP_AUX,)) + encode_string(b"repl-id") + encode_string(b"ab" * 20)
    body += bytes((OP_AUX,)) + encode_string(b"repl-offset") + encode_string(b"12345")
    body += bytes((OP_AUX,)) + encode_string(b"lua") + encode_string(b"return 1")
    body += bytes((OP_FUNCTION2,)) + encode_string(
        b"#!lua name=lib\nredis.register_function('f', function() end)"
    )
    body += (
        bytes((OP_SELECTDB,)) + encode_length(2) + bytes((OP_RESIZEDB,)) + encode_length(2) + encode_length(0)
    )
    body += (
        bytes((OP_IDLE,))
        + encode_length(100)
        + bytes((TYPE_STRING,))
        + encode_string(b"a")
        + encode_string(b"1")
    )
    body += bytes((OP_FREQ,)) + b"\x05" + bytes((TYPE_STRING,)) + encode_string(b"b") + encode_string(b"2")
    good = bytes(body) + bytes((OP_EOF,))
    snap, info = load_bytes(good + struct.pack("<Q", crc64(good)))
    assert snap == {2: {b"a": (("string", b"1"), None), b"b": (("string", b"2"), None)}}
    assert info.repl_id == "ab" * 20
    assert info.repl_offset == 12345
    assert info.aux["lua"] == b"return 1"
    assert len(info.functions) == 1
    mod = (
        bytes(body)
        + bytes((OP_MODULE_AUX,))
        + encode_length(0x2A << 10)
        + encode_length(2)
        + encode_length(2)
    )
    with pytest.raises(RdbError, match="module"):
        load_bytes(mod + bytes((OP_EOF,)) + b"\0" * 8)


def test_too_many_databases_and_bad_header() -> None:
    data = save_bytes({15: {b"k": (b"v", None)}})
    ks = new_keyspace(4)
    with pytest.raises(RdbError, match="databases"):
        load_rdb(io.BytesIO(data), ks)
    with pytest.raises(RdbError, match="signature"):
        load_bytes(b"RADIS0010" + data[9:])
    with pytest.raises(RdbError, match="version"):
        load_bytes(b"REDIS0099" + data[9:])


def test_checksum_zero_is_not_checked_and_old_versions_have_none() -> None:
    entries = [(TYPE_STRING, b"k", encode_string(b"v"), None)]
    snap, _ = load_bytes(craft_rdb(entries, checksum=False))
    assert snap[0][b"k"][0] == ("string", b"v")
    # Version 4 files end at the EOF opcode.
    old = craft_rdb(entries, version=4)[:-8]
    snap, info = load_bytes(old)
    assert info.rdb_version == 4 and snap[0][b"k"][0] == ("string", b"v")


# --- saving -------------------------------------------------------------------------------------


def sample_dataset() -> dict[int, dict[bytes, tuple[Any, int | None]]]:
    return {
        0: {
            b"s": (b"hello", None),
            b"i": (b"-123456", FUTURE),
            b"": (b"empty key", None),
            b"\x00\xff": (bytes(range(256)), FUTURE + 1),
            b"big": (b"abc" * 10000, None),
            b"l": (deque([b"a", b"", b"1", b"x" * 100]), None),
            b"st": ({b"1", b"2", b"m"}, None),
            b"h": ({b"f": b"v", b"n": b"10", b"": b""}, None),
            b"z": (make_zset({b"a": 1.0, b"b": -math.inf, b"c": math.inf, b"d": 1e-300, b"e": -0.0}), FUTURE),
        },
        3: {b"other": (b"db", None)},
        15: {b"last": (deque([b"x"] * 1000), 1)},
    }


@pytest.mark.parametrize("compress", [True, False])
def test_save_load_round_trip(compress: bool) -> None:
    ds = sample_dataset()
    data = save_bytes(ds, compress=compress)
    assert data.startswith(b"REDIS0010")
    snap, info = load_bytes(data, skip_expired=False)
    assert snap == {d: {k: (canon(v), t) for k, (v, t) in keys.items()} for d, keys in ds.items()}
    assert info.keys_loaded == sum(len(k) for k in ds.values())
    assert info.aux["redis-ver"] == b"7.0.15"
    assert info.aux["redis-bits"] == b"64"
    assert struct.unpack("<Q", data[-8:])[0] == crc64(data[:-8])


def test_expired_keys_skipped_on_request() -> None:
    data = save_bytes(sample_dataset())
    snap, info = load_bytes(data)
    assert b"last" not in snap.get(15, {})
    assert info.keys_expired_skipped == 1
    snap, info = load_bytes(data, skip_expired=False)
    assert snap[15][b"last"][1] == 1
    assert info.keys_expired_skipped == 0


def test_aux_fields_given_by_caller() -> None:
    data = save_bytes({}, aux={"repl-id": "f" * 40, "repl-offset": 777, "repl-stream-db": 0, "aof-base": 1})
    snap, info = load_bytes(data)
    assert snap == {}
    assert info.repl_id == "f" * 40
    assert info.repl_offset == 777
    assert info.aux["aof-base"] == b"1"
    assert info.aux["repl-stream-db"] == b"0"


def test_save_needs_only_write() -> None:
    class WriteOnly:
        def __init__(self) -> None:
            self.parts: list[bytes] = []

        def write(self, b: bytes) -> int:
            self.parts.append(bytes(b))
            return len(b)

        def flush(self) -> None:
            pass

    ks = new_keyspace()
    fill_keyspace(ks, sample_dataset())
    w = WriteOnly()
    save_rdb(w, ks.dbs)  # type: ignore[arg-type]
    f = io.BytesIO()
    save_rdb(f, ks.dbs)
    # Same bytes except ctime, which may tick between the two saves.
    assert len(b"".join(w.parts)) == len(f.getvalue())


def test_save_rdb_file_is_atomic(tmp_path: Path) -> None:
    ks = new_keyspace()
    fill_keyspace(ks, sample_dataset())
    path = tmp_path / "dump.rdb"
    path.write_bytes(b"old")
    save_rdb_file(path, ks.dbs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump.rdb"]
    ks2 = new_keyspace()
    load_rdb_file(path, ks2, skip_expired=False)
    assert keyspace_snapshot(ks2) == keyspace_snapshot(ks)

    bad = new_keyspace()
    bad[0].data[b"x"] = object()  # not a Redis value: the save fails midway
    with pytest.raises(TypeError):
        save_rdb_file(path, bad.dbs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump.rdb"]
    assert load_rdb_file(path, new_keyspace(), skip_expired=False).keys_loaded == ks.total_keys()


def test_load_from_pipe_reports_trailing_bytes() -> None:
    data = save_bytes(sample_dataset())
    a, b = socket.socketpair()
    b.settimeout(5)
    try:
        payload = data + b"+PING\r\n"

        def send() -> None:
            a.sendall(payload)

        t = threading.Thread(target=send)
        t.start()
        f = b.makefile("rb")
        ks = new_keyspace()
        info = load_rdb(f, ks, skip_expired=False)  # must not wait for more than the RDB needs
        t.join(5)
        rest = info.trailing
        while len(rest) < 7:
            rest += f.read1(100)
        assert rest == b"+PING\r\n"
        assert keyspace_snapshot(ks)[0][b"s"][0] == ("string", b"hello")
    finally:
        a.close()
        b.close()


def test_load_from_seekable_file_leaves_position_after_rdb() -> None:
    data = save_bytes(sample_dataset())
    f = io.BytesIO(data + b"tail")
    info = load_rdb(f, new_keyspace())
    assert info.trailing == b""
    assert f.read() == b"tail"


# --- corruption ---------------------------------------------------------------------------------


def small_file() -> bytes:
    return save_bytes(
        {
            0: {
                b"s": (b"v" * 30, FUTURE),
                b"l": (deque([b"1", b"two"]), None),
                b"z": (make_zset({b"m": 2.5}), None),
            },
            1: {b"h": ({b"f": b"1"}, None), b"st": ({b"a"}, None)},
        }
    )


def test_every_truncation_raises() -> None:
    data = small_file()
    for n in range(len(data)):
        with pytest.raises(RdbError):
            load_bytes(data[:n])


def test_every_flipped_byte_raises() -> None:
    data = small_file()
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x5A
        with pytest.raises(RdbError):
            load_bytes(bytes(bad))


def test_flipped_bytes_without_checksum_never_crash() -> None:
    data = small_file()
    for i in range(9, len(data) - 8):
        for x in (0x01, 0x80, 0xFF):
            bad = bytearray(data)
            bad[i] ^= x
            try:
                load_bytes(bytes(bad), verify_checksum=False)
            except RdbError:
                pass


def test_random_corruption_never_crashes() -> None:
    """Several random byte changes (and cuts) in files full of compact encodings: RdbError or a
    load, never another exception; the same bytes as DUMP payloads give RESTORE's errors."""
    h_pairs = [b"f1", b"v1", b"n", b"123"]
    z_flat = [b"a", b"1.5", b"b", b"-inf", b"c", b"7"]
    entries = [
        (TYPE_LIST_ZIPLIST, b"lz", blob(encode_ziplist([b"a", b"1", b"-70000", b"b" * 100])), None),
        (TYPE_SET_INTSET, b"si", blob(encode_intset([3, -1, 1 << 40])), FUTURE),
        (TYPE_ZSET_ZIPLIST, b"zz", blob(encode_ziplist(z_flat)), None),
        (TYPE_HASH_ZIPLIST, b"hz", blob(encode_ziplist(h_pairs)), None),
        (TYPE_HASH_ZIPMAP, b"hm", blob(encode_zipmap([(b"f1", b"v1"), (b"n", b"123")])), None),
        (TYPE_LIST_QUICKLIST, b"q1", encode_length(1) + encode_string(encode_ziplist([b"y"] * 50)), None),
        (
            TYPE_LIST_QUICKLIST_2,
            b"q2",
            encode_length(2)
            + encode_length(2)
            + blob(encode_listpack([b"p", 70000, -5, b"q" * 70]))
            + encode_length(1)
            + blob(b"plain node"),
            None,
        ),
        (TYPE_HASH_LISTPACK, b"hl", blob(encode_listpack(h_pairs)), None),
        (TYPE_ZSET_LISTPACK, b"zl", blob(encode_listpack(z_flat)), None),
        (TYPE_SET_LISTPACK, b"sl", blob(encode_listpack([b"m1", b"5", b"m2"])), None),
    ]
    files = [craft_rdb(entries, version=11), small_file()]
    rng = random.Random(1234)
    for _ in range(1500):
        data = bytearray(rng.choice(files))
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(9, len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        try:
            load_bytes(bytes(data), verify_checksum=False)
        except RdbError:
            pass
        raw = bytes(data[9:200]) + RDB_VERSION.to_bytes(2, "little")
        try:
            restore_value(raw + struct.pack("<Q", crc64(raw)))
        except RdbError as e:
            assert str(e) == "Bad data format"


def test_pure_python_lzf_fallback_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lzf, "compress", lzf.py_compress)
    monkeypatch.setattr(lzf, "decompress", lzf.py_decompress)
    ds = sample_dataset()
    data = save_bytes(ds)
    assert b"\xc3" in data
    snap, _ = load_bytes(data, skip_expired=False)
    assert snap == {d: {k: (canon(v), t) for k, (v, t) in keys.items()} for d, keys in ds.items()}


def test_huge_lengths_fail_fast() -> None:
    for body in (b"\x81" + (1 << 62).to_bytes(8, "big"), b"\xc3\x05\x81" + (1 << 60).to_bytes(8, "big")):
        t0 = time.monotonic()
        with pytest.raises(RdbError):
            load_bytes(craft_rdb([(TYPE_STRING, b"k", body, None)]))
        assert time.monotonic() - t0 < 2


# --- DUMP / RESTORE payloads --------------------------------------------------------------------


def test_dump_restore_round_trip() -> None:
    for _, (v, _t) in sample_dataset()[0].items():
        assert canon(restore_value(dump_value(v))) == canon(v)


def test_dump_payload_layout() -> None:
    p = dump_value(b"hello")
    assert p[:7] == b"\x00\x05hello"
    assert p[7:9] == RDB_VERSION.to_bytes(2, "little")
    assert p[9:] == struct.pack("<Q", crc64(p[:9]))


def test_restore_errors_match_redis_text() -> None:
    p = dump_value(b"hello")
    with pytest.raises(RdbError, match=r"^DUMP payload version or checksum are wrong$"):
        restore_value(p[:-1] + bytes([p[-1] ^ 1]))
    newer = p[:7] + (RDB_VERSION + 1).to_bytes(2, "little")
    with pytest.raises(RdbError, match=r"^DUMP payload version or checksum are wrong$"):
        restore_value(newer + struct.pack("<Q", crc64(newer)))
    with pytest.raises(RdbError, match=r"^DUMP payload version or checksum are wrong$"):
        restore_value(b"short")
    for body in (b"\x00\x09abc", b"\x02\x00", b"\x0f\x00", b"\xff"):
        raw = body + RDB_VERSION.to_bytes(2, "little")
        with pytest.raises(RdbError, match=r"^Bad data format$"):
            restore_value(raw + struct.pack("<Q", crc64(raw)))


def test_restore_reads_compact_encodings() -> None:
    body = bytes((TYPE_ZSET_LISTPACK,)) + blob(encode_listpack([b"a", b"1", b"b", b"2.5"]))
    raw = body + (9).to_bytes(2, "little")
    z = restore_value(raw + struct.pack("<Q", crc64(raw)))
    assert isinstance(z, ZSet) and z.scores == {b"a": 1.0, b"b": 2.5}


# --- property: random datasets round-trip -------------------------------------------------------

_keys = st.binary(max_size=20)
_elems = st.one_of(
    st.binary(max_size=80),
    st.integers(min_value=-(1 << 64), max_value=1 << 64).map(lambda i: b"%d" % i),
    st.sampled_from([b"a" * 200, b"0", b"-1", b"x" * 21]),
)
_scores = st.one_of(st.floats(allow_nan=False), st.integers(-(1 << 60), 1 << 60).map(float))
_values = st.one_of(
    _elems,
    st.lists(_elems, min_size=1, max_size=40).map(deque),
    st.sets(_elems, min_size=1, max_size=40),
    st.dictionaries(_elems, _elems, min_size=1, max_size=40),
    st.dictionaries(_elems, _scores, min_size=1, max_size=40).map(make_zset),
)
_ttls = st.one_of(st.none(), st.integers(min_value=0, max_value=1 << 62))
_datasets = st.dictionaries(
    st.integers(min_value=0, max_value=15),
    st.dictionaries(_keys, st.tuples(_values, _ttls), min_size=1, max_size=12),
    max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=_datasets, compress=st.booleans())
def test_random_datasets_round_trip(
    ds: dict[int, dict[bytes, tuple[Any, int | None]]], compress: bool
) -> None:
    data = save_bytes(ds, compress=compress)
    snap, info = load_bytes(data, skip_expired=False)
    assert snap == {d: {k: (canon(v), t) for k, (v, t) in keys.items()} for d, keys in ds.items()}
    assert info.keys_loaded == sum(len(k) for k in ds.values())
    for keys in ds.values():
        for v, _ in keys.values():
            assert canon(restore_value(dump_value(v))) == canon(v)


# --- speed --------------------------------------------------------------------------------------


def test_hundred_thousand_keys_is_fast() -> None:
    ks = new_keyspace()
    data = ks[0].data
    for i in range(100_000):
        data[b"key:%d" % i] = b"%d" % i if i % 2 else b"value-%d" % i
    for i in range(0, 100_000, 10):
        ks[0].set_expire(b"key:%d" % i, FUTURE)
    f = io.BytesIO()
    t0 = time.perf_counter()
    save_rdb(f, ks.dbs)
    ks2 = new_keyspace()
    load_rdb(stream(f.getvalue()), ks2)
    elapsed = time.perf_counter() - t0
    assert len(ks2[0].data) == 100_000 and len(ks2[0].expires) == 10_000
    assert elapsed < 10, elapsed  # about 0.2 s on a laptop; this only catches quadratic slips
