"""The dataset scan: would the server load a key? Crafted RDB/AOF files and real servers' files."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sentinel.supervisor.dataset import DataFiles, _Undecided, inspect_dataset, rdb_has_keys
from server.persistence.rdb import OP_AUX, OP_EOF, OP_FUNCTION2, OP_MODULE_AUX, encode_string, save_rdb
from tests.conftest import ServerProcess
from tests.server.rdb_helpers import craft_rdb, new_keyspace

Start = Callable[..., ServerProcess]


def rdb_bytes(keys: dict[bytes, bytes], db: int = 0, aux: dict[str, str | int] | None = None) -> bytes:
    ks = new_keyspace()
    for k, v in keys.items():
        ks[db].set(k, v)
    f = io.BytesIO()
    save_rdb(f, ks.dbs, aux=aux)
    return f.getvalue()


def test_rdb_without_keys_is_empty() -> None:
    # aux fields of every encoding: plain, integer-encoded, LZF-compressed
    data = rdb_bytes({}, aux={"redis-ver": "7.0.15", "ctime": 1700000000, "big": "x" * 500})
    has, end = rdb_has_keys(io.BytesIO(data))
    assert not has
    assert end == len(data)


@pytest.mark.parametrize("db", [0, 5])
def test_rdb_with_a_key_is_not_empty(db: int) -> None:
    assert rdb_has_keys(io.BytesIO(rdb_bytes({b"k": b"v"}, db=db)))[0]


def test_rdb_key_with_expiry_and_hand_crafted_aux() -> None:
    data = craft_rdb([(0, b"k", encode_string(b"v"), 1 << 40)], aux={b"x" * 100: b"12345"})
    assert rdb_has_keys(io.BytesIO(data))[0]


def test_rdb_function_library_is_not_a_key() -> None:
    out = bytearray(b"REDIS0010")
    out += bytes((OP_AUX,)) + encode_string(b"redis-ver") + encode_string(b"7.0.15")
    out += bytes((OP_FUNCTION2,)) + encode_string(
        b"#!lua name=lib\nredis.register_function('f', function() end)"
    )
    out += bytes((OP_EOF,)) + b"\0" * 8
    assert rdb_has_keys(io.BytesIO(bytes(out))) == (False, len(out))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"REDIS00",
        b"NOTREDIS0",
        rdb_bytes({b"k": b"v"})[:9] + bytes((OP_AUX,)) + b"\x05ab",  # truncated aux
        b"REDIS0010" + bytes((OP_MODULE_AUX,)) + b"\x01",  # opaque module data
    ],
)
def test_undecidable_streams_raise(data: bytes) -> None:
    with pytest.raises(_Undecided):
        rdb_has_keys(io.BytesIO(data))


def test_inspect_rdb_files(tmp_path: Path) -> None:
    files = DataFiles(dir=str(tmp_path))
    st = inspect_dataset(files)
    assert st.empty and "no file" in st.detail
    (tmp_path / "dump.rdb").write_bytes(rdb_bytes({}))
    assert inspect_dataset(files).empty
    (tmp_path / "dump.rdb").write_bytes(rdb_bytes({b"a": b"1"}))
    st = inspect_dataset(files)
    assert not st.empty and "keys in" in st.detail
    # a truncated file counts as empty (the server could not load it anyway)
    (tmp_path / "dump.rdb").write_bytes(rdb_bytes({b"a": b"1"})[:12])
    st = inspect_dataset(files)
    assert st.empty and "treated as empty" in st.detail
    (tmp_path / "dump.rdb").write_bytes(b"")
    assert inspect_dataset(files).empty


def test_inspect_multipart_aof(tmp_path: Path) -> None:
    adir = tmp_path / "appendonlydir"
    adir.mkdir()
    files = DataFiles(dir=str(tmp_path), appendonly=True)
    # no AOF at all: the server loads the RDB
    (tmp_path / "dump.rdb").write_bytes(rdb_bytes({b"a": b"1"}))
    assert not inspect_dataset(files).empty
    (tmp_path / "dump.rdb").unlink()
    (adir / "appendonly.aof.manifest").write_text(
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    )
    (adir / "appendonly.aof.1.base.rdb").write_bytes(rdb_bytes({}))
    (adir / "appendonly.aof.1.incr.aof").write_bytes(b"")
    st = inspect_dataset(files)
    assert st.empty and "AOF holds no key" in st.detail
    (adir / "appendonly.aof.1.incr.aof").write_bytes(
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
    )
    assert not inspect_dataset(files).empty
    (adir / "appendonly.aof.1.incr.aof").write_bytes(b"")
    (adir / "appendonly.aof.1.base.rdb").write_bytes(rdb_bytes({b"k": b"v"}))
    assert not inspect_dataset(files).empty
    # a file the manifest names is missing: treated as empty
    (adir / "appendonly.aof.1.base.rdb").unlink()
    assert inspect_dataset(files).empty
    # a broken manifest: treated as empty
    (adir / "appendonly.aof.manifest").write_text("garbage\n")
    st = inspect_dataset(files)
    assert st.empty and "invalid" in st.detail


def test_inspect_legacy_aof_with_preamble(tmp_path: Path) -> None:
    files = DataFiles(dir=str(tmp_path), appendonly=True)
    legacy = tmp_path / "appendonly.aof"
    legacy.write_bytes(rdb_bytes({}))
    assert inspect_dataset(files).empty
    legacy.write_bytes(rdb_bytes({}) + b"*1\r\n$8\r\nFLUSHALL\r\n")
    st = inspect_dataset(files)
    assert not st.empty and "after the RDB preamble" in st.detail


def _wait_file(p: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not p.exists():
        assert time.monotonic() < deadline, f"{p} never appeared"
        time.sleep(0.02)


def test_real_server_rdb(start_server: Start, tmp_path: Path) -> None:
    d = tmp_path / "rdb"
    srv = start_server("--save", "", cwd=d)
    files = DataFiles(dir=str(d))
    r = srv.client()
    r.save()
    assert inspect_dataset(files).empty
    r.set("k", "v" * 1000)
    r.save()
    assert not inspect_dataset(files).empty
    r.flushall()
    r.save()
    assert inspect_dataset(files).empty
    r.close()


def test_real_server_aof(start_server: Start, tmp_path: Path) -> None:
    d = tmp_path / "aof"
    srv = start_server("--save", "", "--appendonly", "yes", "--appendfsync", "always", cwd=d)
    files = DataFiles(dir=str(d), appendonly=True)
    _wait_file(d / "appendonlydir" / "appendonly.aof.manifest")
    st = inspect_dataset(files)
    assert st.empty, st.detail
    r = srv.client()
    r.set("k", "v")
    assert not inspect_dataset(files).empty
    r.bgrewriteaof()
    deadline = time.monotonic() + 10
    while r.info("persistence")["aof_rewrite_in_progress"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert not inspect_dataset(files).empty
    r.close()
