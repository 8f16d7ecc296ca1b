"""Is there a dataset on disk? What the server would load at start, without loading it.

The server loads the AOF when `appendonly yes` and an AOF exists (a manifest naming files in
`<dir>/<appenddirname>/`, or a legacy single `<dir>/<appendfilename>`), otherwise the RDB file
`<dir>/<dbfilename>`. This module answers one question about that file set: would any key be
loaded? It reads only as far as the first key (an RDB's header and aux fields), so it costs the
same for a 1 KB and a 100 GB file.

"Empty" means *no key is proven to be there*. Everything uncertain (a missing file the manifest
names, a truncated or unreadable file, module data we cannot skip) counts as empty, because the
two mistakes do not cost the same: calling a non-empty dataset empty costs a failover (the
replicas have the data); calling an empty one non-empty lets an empty master wipe its replicas.
An AOF command counts as data (a `DEL` of a missing key too: it was replicated as well).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

from sentinel.supervisor.policy import DatasetState

OP_SLOT_INFO = 244
OP_FUNCTION2 = 245
OP_FUNCTION_PRE_GA = 246
OP_MODULE_AUX = 247
OP_IDLE = 248
OP_FREQ = 249
OP_AUX = 250
OP_RESIZEDB = 251
OP_EXPIRETIME_MS = 252
OP_EXPIRETIME = 253
OP_SELECTDB = 254
OP_EOF = 255


@dataclass(frozen=True, slots=True)
class DataFiles:
    """Where the server keeps its dataset (from its effective configuration)."""

    dir: str
    dbfilename: str = "dump.rdb"
    appendonly: bool = False
    appenddirname: str = "appendonlydir"
    appendfilename: str = "appendonly.aof"


class _Undecided(Exception):
    """The scan cannot tell (truncated, corrupt, opaque module data)."""


class _Scanner:
    """Sequential reader over an RDB stream that skips values without decoding them."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.offset = 0

    def take(self, n: int) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise _Undecided("the file ends early (truncated)")
        self.offset += n
        return b

    def u8(self) -> int:
        return self.take(1)[0]

    def length(self) -> tuple[int, int | None]:
        """(length, special encoding or None)."""
        b = self.u8()
        t = b >> 6
        if t == 0:
            return b & 0x3F, None
        if t == 1:
            return ((b & 0x3F) << 8) | self.u8(), None
        if b == 0x80:
            return int.from_bytes(self.take(4), "big"), None
        if b == 0x81:
            return int.from_bytes(self.take(8), "big"), None
        if t == 3:
            return 0, b & 0x3F
        raise _Undecided(f"invalid length encoding {b:#x}")

    def plain_length(self) -> int:
        n, special = self.length()
        if special is not None:
            raise _Undecided("an encoded value where a length was expected")
        return n

    def skip(self, n: int) -> None:
        # Reads in bounded chunks: a corrupt length must not allocate gigabytes.
        while n > 0:
            self.take(min(n, 1 << 20))
            n -= min(n, 1 << 20)

    def skip_string(self) -> None:
        n, special = self.length()
        if special is None:
            self.skip(n)
        elif special == 0:
            self.skip(1)
        elif special == 1:
            self.skip(2)
        elif special == 2:
            self.skip(4)
        elif special == 3:  # LZF: compressed length, original length, compressed bytes
            clen = self.plain_length()
            self.plain_length()
            self.skip(clen)
        else:
            raise _Undecided(f"unknown string encoding {special}")


def rdb_has_keys(f: BinaryIO) -> tuple[bool, int]:
    """Scan an RDB stream up to its first key or its EOF opcode.

    Returns (has_keys, offset just after the EOF opcode and checksum when no key was found).
    Raises _Undecided when the stream cannot be read that far."""
    s = _Scanner(f)
    header = s.take(9)
    if header[:5] != b"REDIS":
        raise _Undecided("not an RDB file")
    try:
        version = int(header[5:])
    except ValueError:
        raise _Undecided("invalid RDB version") from None
    while True:
        t = s.u8()
        if t < OP_SLOT_INFO or t in (OP_EXPIRETIME_MS, OP_EXPIRETIME, OP_IDLE, OP_FREQ):
            return True, s.offset  # a value type, or a key's metadata: a key follows
        if t == OP_EOF:
            if version >= 5:
                s.take(8)  # checksum
            return False, s.offset
        if t == OP_AUX:
            s.skip_string()
            s.skip_string()
        elif t == OP_SELECTDB:
            s.plain_length()
        elif t == OP_RESIZEDB:
            size = s.plain_length()
            s.plain_length()
            if size > 0:
                return True, s.offset
        elif t == OP_SLOT_INFO:
            s.plain_length()
            s.plain_length()
            s.plain_length()
        elif t == OP_FUNCTION2:
            s.skip_string()  # a function library is not a key
        else:
            raise _Undecided(f"cannot skip RDB opcode {t} (module or pre-GA function data)")


def _scan_file(path: str) -> DatasetState:
    """One persistence file: an RDB (possibly followed by AOF commands) or plain AOF commands."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return DatasetState(True, f"{path} is empty")
            head = f.read(5)
            if head != b"REDIS":
                return DatasetState(False, f"{path} holds AOF commands")
            f.seek(0)
            has, end = rdb_has_keys(f)
    except FileNotFoundError:
        return DatasetState(True, f"no file {path}")
    except OSError as e:
        return DatasetState(True, f"{path} is unreadable ({e.strerror}): treated as empty")
    except _Undecided as e:
        return DatasetState(True, f"{path}: {e}: treated as empty")
    if has:
        return DatasetState(False, f"keys in {path}")
    if end < size:
        return DatasetState(False, f"AOF commands after the RDB preamble of {path}")
    return DatasetState(True, f"{path} holds no key")


def inspect_dataset(files: DataFiles) -> DatasetState:
    """Whether the server would load at least one key from `files` (see the module docstring)."""
    if files.appendonly:
        aof = _inspect_aof(files)
        if aof is not None:
            return aof
    return _scan_file(os.path.join(files.dir, files.dbfilename))


def _inspect_aof(files: DataFiles) -> DatasetState | None:
    """The AOF's verdict, or None when there is no AOF (the server then loads the RDB)."""
    from server.persistence.aof import AofError, Manifest

    adir = os.path.join(files.dir, files.appenddirname)
    mpath = os.path.join(adir, files.appendfilename + ".manifest")
    try:
        with open(mpath, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = None
    except OSError as e:
        return DatasetState(True, f"AOF manifest {mpath} is unreadable ({e.strerror}): treated as empty")
    if data is not None:
        try:
            m = Manifest.parse(data)
        except AofError as e:
            return DatasetState(True, f"AOF manifest {mpath} is invalid ({e}): treated as empty")
        if not m.empty:
            names = ([m.base.name] if m.base else []) + [a.name for a in m.incrs]
            details = []
            for name in names:
                st = _scan_file(os.path.join(adir, name))
                if not st.empty:
                    return st
                details.append(st.detail)
            return DatasetState(True, "AOF holds no key: " + "; ".join(details))
    legacy = os.path.join(files.dir, files.appendfilename)
    if os.path.isfile(legacy):
        return _scan_file(legacy)
    return None
