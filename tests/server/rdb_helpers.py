"""Shared by the RDB tests: a keyspace without an engine, canonical value forms, file crafting."""

from __future__ import annotations

import io
import struct
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from server.datatypes import ZSet
from server.keyspace import Keyspace
from server.persistence.rdb import (
    OP_AUX,
    OP_EOF,
    OP_EXPIRETIME_MS,
    OP_SELECTDB,
    crc64,
    encode_length,
    encode_string,
)

Canon = tuple[str, Any]


class NoEngine:
    """Just enough of an Engine for a Keyspace whose keys are only read back by tests."""

    is_replica = False

    def propagate_expired(self, db_id: int, key: bytes) -> None:
        pass


def new_keyspace(count: int = 16) -> Keyspace:
    return Keyspace(NoEngine(), count)  # type: ignore[arg-type]


def make_zset(pairs: Mapping[bytes, float]) -> ZSet:
    z = ZSet()
    for m, s in pairs.items():
        z.add(m, s)
    return z


def canon(v: Any) -> Canon:
    """A value in a form that compares by content (lists keep order, zsets map member->score)."""
    if isinstance(v, bytes):
        return ("string", v)
    if isinstance(v, deque | list):
        return ("list", list(v))
    if isinstance(v, set | frozenset):
        return ("set", frozenset(v))
    if isinstance(v, dict):
        return ("hash", dict(v))
    if isinstance(v, ZSet):
        return ("zset", dict(v.scores))
    raise TypeError(type(v))


def keyspace_snapshot(ks: Keyspace) -> dict[int, dict[bytes, tuple[Canon, int | None]]]:
    """db -> key -> (canonical value, absolute expiry ms or None), for non-empty dbs."""
    out: dict[int, dict[bytes, tuple[Canon, int | None]]] = {}
    for db in ks.dbs:
        if db.data:
            out[db.id] = {k: (canon(v), db.expires.get(k)) for k, v in db.data.items()}
    return out


def fill_keyspace(ks: Keyspace, dataset: Mapping[int, Mapping[bytes, tuple[Any, int | None]]]) -> None:
    for dbid, keys in dataset.items():
        db = ks[dbid]
        for k, (v, ttl) in keys.items():
            db.set(k, v)
            if ttl is not None:
                db.set_expire(k, ttl)


def craft_rdb(
    entries: Iterable[tuple[int, bytes, bytes, int | None]],
    *,
    version: int = 9,
    db: int = 0,
    aux: Mapping[bytes, bytes] | None = None,
    checksum: bool = True,
) -> bytes:
    """An RDB with hand-encoded values: (type, key, already-encoded value body, expiry ms)."""
    out = bytearray(b"REDIS%04d" % version)
    for k, v in (aux or {}).items():
        out += bytes((OP_AUX,)) + encode_string(k) + encode_string(v)
    out += bytes((OP_SELECTDB,)) + encode_length(db)
    for t, key, body, when in entries:
        if when is not None:
            out += bytes((OP_EXPIRETIME_MS,)) + struct.pack("<q", when)
        out += bytes((t,)) + encode_string(key) + body
    out.append(OP_EOF)
    out += struct.pack("<Q", crc64(bytes(out)) if checksum else 0)
    return bytes(out)


def blob(b: bytes) -> bytes:
    """An RDB string holding raw bytes (no integer or LZF form): how encodings are embedded."""
    return encode_length(len(b)) + b


def stream(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
