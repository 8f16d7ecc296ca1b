"""The append-only file in Redis 7's multi-part layout, so stock Redis and we load each other's.

`dir/appenddirname/` holds a manifest (`appendonly.aof.manifest`) naming one base file (an RDB,
`appendonly.aof.N.base.rdb`, or RESP commands, `.base.aof`) and ordered incr files of RESP
commands (`appendonly.aof.N.incr.aof`). This module owns the layout, the writer the engine feeds
(`Aof.feed`, a `Sink`), the appendfsync policies, loading (base + incrs, a truncated tail) and
the parent's half of a rewrite: a new incr file at fork time, then the child's base installed
and the old files dropped. Forking and scheduling are the persistence manager's job.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

import structlog
import trio

from server.client import Client, NullTransport
from server.commands.registry import TABLE, Command
from server.datatypes import ZSet
from server.protocol import resp

if TYPE_CHECKING:
    from server.engine import Engine
    from server.keyspace import Database, Keyspace
    from server.persistence.rdb import RdbInfo

log = structlog.get_logger("server.persistence.aof")

AOF_OFF = 0
AOF_ON = 1
AOF_WAIT_REWRITE = 2  # turned on at run time: the first rewrite has not finished yet

TYPE_BASE = "b"
TYPE_HIST = "h"
TYPE_INCR = "i"

ITEMS_PER_CMD = 64  # AOF_REWRITE_ITEMS_PER_CMD: elements per RPUSH/SADD/ZADD/HMSET when rewriting
_READ_BUF = 1 << 20


class AofError(Exception):
    """The AOF cannot be loaded or opened: the server must not start on a partial dataset."""


def select_command(db_id: int) -> bytes:
    s = b"%d" % db_id
    return b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%b\r\n" % (len(s), s)


# --- the manifest ----------------------------------------------------------------------------


@dataclass
class AofInfo:
    name: str
    seq: int
    type: str


def _needs_repr(s: str) -> bool:
    return any(not ch.isprintable() or ch in " \"'\\" for ch in s)


def _repr(s: str) -> str:
    """sdscatrepr: a double-quoted string with C escapes."""
    out = ['"']
    for ch in s:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape"))
    out.append('"')
    return "".join(out)


@dataclass
class Manifest:
    """Redis's aofManifest: the base first, then history, then incr files in sequence order."""

    base: AofInfo | None = None
    incrs: list[AofInfo] = field(default_factory=list)
    history: list[AofInfo] = field(default_factory=list)
    base_seq: int = 0
    incr_seq: int = 0
    dirty: bool = False

    def copy(self) -> Manifest:
        return Manifest(
            base=None if self.base is None else AofInfo(self.base.name, self.base.seq, self.base.type),
            incrs=[AofInfo(a.name, a.seq, a.type) for a in self.incrs],
            history=[AofInfo(a.name, a.seq, a.type) for a in self.history],
            base_seq=self.base_seq,
            incr_seq=self.incr_seq,
            dirty=self.dirty,
        )

    @property
    def empty(self) -> bool:
        return self.base is None and not self.incrs

    def text(self) -> str:
        lines = []
        for a in ([self.base] if self.base else []) + self.history + self.incrs:
            name = _repr(a.name) if _needs_repr(a.name) else a.name
            lines.append(f"file {name} seq {a.seq} type {a.type}\n")
        return "".join(lines)

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        """aofLoadManifestFromFile, with its checks and messages."""
        from server.protocol.parser import split_args

        m = cls()
        maxseq = 0
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()
        if not lines or data == b"":
            raise AofError("Found an empty AOF manifest")
        for linenum, raw in enumerate(lines, 1):
            if raw.startswith(b"#"):
                continue
            line = raw.strip(b" \t\r\n")
            if len(raw) > 1024:
                raise AofError(f"The AOF manifest file contains too long line (line {linenum})")
            args = split_args(line) if line else None
            if not args or len(args) < 6 or len(args) % 2:
                raise AofError(f"Invalid AOF manifest file format (line {linenum}: {raw[:200]!r})")
            name: str | None = None
            seq = 0
            typ = ""
            for i in range(0, len(args), 2):
                k = args[i].lower()
                v = args[i + 1]
                if k == b"file":
                    name = v.decode("utf-8", "surrogateescape")
                    if "/" in name:
                        raise AofError(f"File can't be a path, just a filename (line {linenum})")
                elif k == b"seq":
                    try:
                        seq = int(v)
                    except ValueError:
                        seq = 0
                elif k == b"type":
                    typ = v[:1].decode("latin-1")
            if not name or not seq or not typ:
                raise AofError(f"Invalid AOF manifest file format (line {linenum}: {raw[:200]!r})")
            info = AofInfo(name, seq, typ)
            if typ == TYPE_BASE:
                if m.base is not None:
                    raise AofError("Found duplicate base file information")
                m.base = info
                m.base_seq = seq
            elif typ == TYPE_HIST:
                m.history.append(info)
            elif typ == TYPE_INCR:
                if seq <= maxseq:
                    raise AofError("Found a non-monotonic sequence number")
                m.incrs.append(info)
                m.incr_seq = seq
                maxseq = seq
            else:
                raise AofError(f"Unknown AOF file type '{typ}'")
        return m

    def new_base(self, filename: str, preamble: bool) -> str:
        """getNewBaseFileNameAndMarkPreAsHistory."""
        if self.base is not None:
            self.base.type = TYPE_HIST
            self.history.insert(0, self.base)
        self.base_seq += 1
        suffix = ".rdb" if preamble else ".aof"
        self.base = AofInfo(f"{filename}.{self.base_seq}.base{suffix}", self.base_seq, TYPE_BASE)
        self.dirty = True
        return self.base.name

    def new_incr(self, filename: str) -> str:
        self.incr_seq += 1
        info = AofInfo(f"{filename}.{self.incr_seq}.incr.aof", self.incr_seq, TYPE_INCR)
        self.incrs.append(info)
        self.dirty = True
        return info.name

    def last_incr(self, filename: str) -> str:
        if not self.incrs:
            return self.new_incr(filename)
        return self.incrs[-1].name

    def incrs_to_history(self, keep_last: bool) -> None:
        """markRewrittenIncrAofAsHistory: every incr but the one being written becomes history."""
        keep = self.incrs[-1:] if keep_last else []
        gone = self.incrs[:-1] if keep_last else self.incrs
        for a in reversed(gone):
            a.type = TYPE_HIST
            self.history.insert(0, a)
        self.incrs = keep
        self.dirty = True


# --- small file helpers ----------------------------------------------------------------------


def fsync_dir(path: str) -> None:
    fd = os.open(path or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# --- writing a base file (the child of a rewrite, or at start) -------------------------------


def _bulk_double(f: float) -> bytes:
    """A score as rioWriteBulkDouble writes it: %.17g, inf/-inf."""
    if f == float("inf"):
        s = b"inf"
    elif f == float("-inf"):
        s = b"-inf"
    else:
        s = b"%.17g" % f
    return resp.bulk(s)


def rewrite_commands(dbs: Sequence[Database]) -> Iterator[bytes]:
    """rewriteAppendOnlyFileRio: RESP commands that rebuild `dbs` (aof-use-rdb-preamble no)."""
    from collections import deque

    for db in dbs:
        if not db.data:
            continue
        yield select_command(db.id)
        expires = db.expires
        for key, v in db.data.items():
            kb = resp.bulk(key)
            cls = v.__class__
            if cls is bytes:
                yield b"*3\r\n$3\r\nSET\r\n" + kb + resp.bulk(v)
            elif cls is deque or cls is set:
                verb = b"$5\r\nRPUSH\r\n" if cls is deque else b"$4\r\nSADD\r\n"
                items = list(v)
                for i in range(0, len(items), ITEMS_PER_CMD):
                    part = items[i : i + ITEMS_PER_CMD]
                    yield resp.array_header(2 + len(part)) + verb + kb + b"".join(resp.bulk(x) for x in part)
            elif cls is ZSet:
                pairs = list(v)
                for i in range(0, len(pairs), ITEMS_PER_CMD):
                    part = pairs[i : i + ITEMS_PER_CMD]
                    yield (
                        resp.array_header(2 + 2 * len(part))
                        + b"$4\r\nZADD\r\n"
                        + kb
                        + b"".join(_bulk_double(s) + resp.bulk(m) for m, s in part)
                    )
            elif cls is dict:
                fields = list(v.items())
                for i in range(0, len(fields), ITEMS_PER_CMD):
                    part = fields[i : i + ITEMS_PER_CMD]
                    yield (
                        resp.array_header(2 + 2 * len(part))
                        + b"$5\r\nHMSET\r\n"
                        + kb
                        + b"".join(resp.bulk(k) + resp.bulk(x) for k, x in part)
                    )
            else:
                raise TypeError(f"cannot rewrite a value of type {cls.__name__}")
            when = expires.get(key) if expires else None
            if when is not None:
                yield b"*3\r\n$9\r\nPEXPIREAT\r\n" + kb + resp.bulk(b"%d" % when)


def write_base(f: BinaryIO, dbs: Sequence[Database], preamble: bool, compress: bool = True) -> None:
    """The content of a base file: an RDB with aof-base set, or RESP commands."""
    if preamble:
        from server.persistence.rdb import save_rdb

        save_rdb(f, dbs, aux={"aof-base": 1}, compress=compress)
        return
    chunk: list[bytes] = []
    size = 0
    for cmd in rewrite_commands(dbs):
        chunk.append(cmd)
        size += len(cmd)
        if size >= _READ_BUF:
            f.write(b"".join(chunk))
            chunk = []
            size = 0
    if chunk:
        f.write(b"".join(chunk))
    f.flush()


def write_base_file(dir_: str, dest: str, dbs: Sequence[Database], preamble: bool, compress: bool) -> None:
    """rewriteAppendOnlyFile: `temp-rewriteaof-<pid>.aof` in dir, fsync, rename to `dest`."""
    tmp = os.path.join(dir_, f"temp-rewriteaof-{os.getpid()}.aof")
    try:
        with open(tmp, "wb", buffering=_READ_BUF) as f:
            write_base(f, dbs, preamble, compress)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, dest)
    except BaseException:
        _unlink_quietly(tmp)
        raise


# --- loading -----------------------------------------------------------------------------------


class _Truncated(Exception):
    pass


class _Replayer:
    """Runs AOF commands against the engine (whose keyspace is the fresh one being loaded)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.client = Client(engine, NullTransport(), addr="aof", kind="normal")
        self.client.name = b"aof-loader"
        self.in_multi = False
        self.queued: list[tuple[Command, list[bytes]]] = []
        self.errors = 0

    def lookup(self, argv: list[bytes], fname: str) -> Command:
        cmd = TABLE.get(argv[0].lower())
        if cmd is not None and cmd.subcommands:
            cmd = cmd.subcommands.get(argv[1].lower()) if len(argv) > 1 else None
        if cmd is None:
            name = argv[0].decode("utf-8", "replace")
            raise AofError(f"Unknown command '{name}' reading the append only file {fname}")
        return cmd

    def run(self, cmd: Command, argv: list[bytes]) -> None:
        r = self.engine.call(self.client, cmd, argv)
        if isinstance(r, bytes) and r[:1] == b"-":
            self.errors += 1
            if self.errors <= 5:
                log.warning(
                    "a command from the AOF failed while loading",
                    command=cmd.full_name,
                    reply=r[:200].decode("utf-8", "replace").strip(),
                )


def _replay_commands(f: BinaryIO, rp: _Replayer, fname: str) -> tuple[int, bool]:
    """Read RESP commands from `f` (at its current position) and run them.

    Returns (offset after the last complete command, truncated). Raises AofError on a format
    error, as loadSingleAppendOnlyFile's `fmterr`.
    """
    readline = f.readline
    read = f.read
    tell = f.tell
    valid_up_to = tell()
    valid_before_multi = valid_up_to
    fmterr = AofError(
        f"Bad file format reading the append only file {fname}: make a backup of your AOF file, "
        f"then use ./redis-check-aof --fix <filename.manifest>"
    )
    multi = TABLE.get(b"multi")
    exec_ = TABLE.get(b"exec")
    try:
        while True:
            line = readline(1024)
            if not line:
                break
            if line[:1] == b"#":
                if not line.endswith(b"\n"):
                    raise _Truncated
                continue
            if line[:1] != b"*":
                raise fmterr
            if not line.endswith(b"\n"):
                raise _Truncated if len(line) < 1024 else fmterr  # short only at the end of the file
            try:
                argc = int(line[1:])
            except ValueError:
                raise fmterr from None
            if argc < 1:
                raise fmterr
            argv: list[bytes] = []
            for _ in range(argc):
                hdr = readline(1024)
                if not hdr.endswith(b"\n"):
                    raise _Truncated if len(hdr) < 1024 else fmterr
                if hdr[:1] != b"$":
                    raise fmterr
                try:
                    n = int(hdr[1:])
                except ValueError:
                    raise fmterr from None
                if n < 0:
                    raise fmterr
                arg = read(n) if n else b""
                if len(arg) < n:
                    raise _Truncated
                crlf = read(2)
                if crlf != b"\r\n":
                    raise _Truncated if len(crlf) < 2 else fmterr
                argv.append(arg)
            cmd = rp.lookup(argv, fname)
            if cmd is multi:
                valid_before_multi = valid_up_to
                rp.in_multi = True
                rp.queued = []
            elif cmd is exec_ and rp.in_multi:
                rp.in_multi = False
                queued, rp.queued = rp.queued, []
                for qc, qa in queued:
                    rp.run(qc, qa)
            elif rp.in_multi:
                rp.queued.append((cmd, argv))
            else:
                rp.run(cmd, argv)
            valid_up_to = tell()
    except _Truncated:
        if rp.in_multi:
            rp.in_multi = False
            rp.queued = []
            return valid_before_multi, True
        return valid_up_to, True
    if rp.in_multi:
        log.warning("revert incomplete MULTI/EXEC transaction in AOF file", file=fname)
        rp.in_multi = False
        rp.queued = []
        return valid_before_multi, True
    return valid_up_to, False


@dataclass
class LoadResult:
    keys_loaded: int = 0
    keys_expired: int = 0
    base_size: int = 0
    total_size: int = 0
    truncated: bool = False
    rdb_info: RdbInfo | None = None


# --- the writer --------------------------------------------------------------------------------


class Aof:
    """The AOF's run-time state: manifest, open incr file, buffer and fsync bookkeeping."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = AOF_OFF
        self.manifest = Manifest()
        self.fd = -1
        self.buf: list[bytes] = []
        self.selected_db = -1
        self.child_running = False  # an AOF rewrite child exists (WAIT_REWRITE accepts writes then)
        self.current_size = 0
        self.rewrite_base_size = 0
        self.last_incr_size = 0
        self.fsync_offset = 0
        self.last_fsync = time.time()
        self.last_write_ok = True
        self.last_write_errno = 0
        self.bio_fsync_ok = True
        self.bio_fsync_errno = 0
        self.fsync_in_progress = 0
        self.delayed_fsync = 0
        self.rewrite_scheduled = False
        self.lastbgrewrite_ok = True
        self.rewrites = 0
        self.consecutive_failures = 0
        self.last_failure = 0.0
        self.rewrite_time_start = -1.0
        self.rewrite_time_last = -1
        self.nursery: trio.Nursery | None = None
        self._last_error_log = 0.0

    # --- paths ---------------------------------------------------------------------------------

    @property
    def cfg_dir(self) -> str:
        return self.engine.config.dir or "."

    @property
    def filename(self) -> str:
        return self.engine.config.appendfilename

    @property
    def dirpath(self) -> str:
        return os.path.join(self.cfg_dir, self.engine.config.appenddirname)

    def path(self, name: str) -> str:
        return os.path.join(self.dirpath, name)

    @property
    def manifest_path(self) -> str:
        return self.path(self.filename + ".manifest")

    @property
    def temp_incr_name(self) -> str:
        return f"temp-{self.filename}.incr"

    # --- the manifest on disk ------------------------------------------------------------------

    def load_manifest(self) -> None:
        """aofLoadManifestFromDisk: a missing directory or manifest is an empty manifest."""
        self.manifest = Manifest()
        if not os.path.isdir(self.dirpath):
            return
        try:
            with open(self.manifest_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return
        except OSError as e:
            raise AofError(
                f"can't open the AOF manifest file {self.manifest_path} for reading: {e.strerror}"
            ) from None
        try:
            self.manifest = Manifest.parse(data)
        except AofError as e:
            raise AofError(f"FATAL AOF MANIFEST FILE ERROR in {self.manifest_path}: {e}") from None

    def persist_manifest(self, m: Manifest) -> None:
        """writeAofManifestFile: temp manifest, fsync, rename, fsync the directory."""
        if not m.dirty:
            return
        tmp = self.path("temp-" + self.filename + ".manifest")
        data = m.text().encode("utf-8", "surrogateescape")
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self.manifest_path)
        fsync_dir(self.dirpath)
        m.dirty = False

    def exists(self) -> bool:
        """Whether there is an AOF to load: a manifest naming files, or a legacy single file."""
        return not self.manifest.empty or os.path.isfile(os.path.join(self.cfg_dir, self.filename))

    # --- loading -------------------------------------------------------------------------------

    def _upgrade_if_needed(self) -> None:
        """aofUpgradePrepare: move a Redis < 7 `appendonly.aof` into the directory as the base."""
        legacy = os.path.join(self.cfg_dir, self.filename)
        if not os.path.isfile(legacy):
            return
        m = self.manifest
        if not (
            not os.path.isdir(self.dirpath)
            or m.empty
            or (
                m.base is not None
                and not m.incrs
                and m.base.name == self.filename
                and not os.path.exists(self.path(self.filename))
            )
        ):
            return
        os.makedirs(self.dirpath, exist_ok=True)
        m.base = AofInfo(self.filename, 1, TYPE_BASE)
        m.base_seq = 1
        m.dirty = True
        self.persist_manifest(m)
        os.rename(legacy, self.path(self.filename))
        log.warning(
            "successfully migrated an old-style AOF file into the AOF directory",
            file=self.filename,
            dir=self.engine.config.appenddirname,
        )

    def load(self, keyspace: Keyspace) -> LoadResult:
        """loadAppendOnlyFiles into `keyspace` (fresh); raises AofError on anything fatal."""
        self._upgrade_if_needed()
        m = self.manifest
        res = LoadResult()
        if m.empty:
            return res
        files = ([m.base] if m.base else []) + list(m.incrs)
        for a in files:
            p = self.path(a.name)
            try:
                res.total_size += os.stat(p).st_size
            except FileNotFoundError:
                raise AofError(
                    f"the AOF file {a.name} listed in the manifest doesn't exist in {self.dirpath}"
                ) from None
            except OSError as e:
                raise AofError(f"can't stat the AOF file {a.name}: {e.strerror}") from None
        if m.base is not None:
            res.base_size = file_size(self.path(m.base.name))
        if res.total_size == 0:
            return res
        eng = self.engine
        saved_ks, saved_sinks, saved_dirty = eng.keyspace, eng.sinks, eng.dirty
        eng.keyspace = keyspace
        eng.sinks = []
        try:
            rp = _Replayer(eng)
            for i, a in enumerate(files):
                last = i == len(files) - 1
                t0 = time.monotonic()
                truncated = self._load_file(a, rp, keyspace, res, last)
                if truncated:
                    res.truncated = True
                log.info(
                    "DB loaded from " + ("base" if a.type == TYPE_BASE else "incr") + " file",
                    file=a.name,
                    seconds=round(time.monotonic() - t0, 3),
                )
        finally:
            eng.keyspace, eng.sinks, eng.dirty = saved_ks, saved_sinks, saved_dirty
        return res

    def _load_file(self, a: AofInfo, rp: _Replayer, keyspace: Keyspace, res: LoadResult, last: bool) -> bool:
        """loadSingleAppendOnlyFile; returns whether the file was truncated (and fixed)."""
        from server.persistence.rdb import RdbError, load_rdb

        p = self.path(a.name)
        cfg = self.engine.config
        try:
            f = open(p, "rb", buffering=_READ_BUF)  # noqa: SIM115  (closed below)
        except OSError as e:
            raise AofError(f"can't open the append log file {a.name} for reading: {e.strerror}") from None
        try:
            if os.fstat(f.fileno()).st_size == 0:
                return False
            if f.read(5) == b"REDIS":
                f.seek(0)
                try:
                    info = load_rdb(
                        f,
                        keyspace,
                        skip_expired=cfg.replicaof is None,
                        verify_checksum=cfg.rdbchecksum,
                    )
                except RdbError as e:
                    what = "RDB preamble of the AOF file" if a.name == self.filename else "RDB base file"
                    raise AofError(f"Error reading the {what} {a.name}, AOF loading aborted: {e}") from None
                res.keys_loaded = info.keys_loaded
                res.keys_expired = info.keys_expired_skipped
                res.rdb_info = info
            else:
                f.seek(0)
            try:
                valid_up_to, truncated = _replay_commands(f, rp, a.name)
            except OSError as e:
                raise AofError(
                    f"Unrecoverable error reading the append only file {a.name}: {e.strerror}"
                ) from None
        finally:
            f.close()
        if not truncated:
            return False
        if not cfg.aof_load_truncated:
            raise AofError(
                f"Unexpected end of file reading the append only file {a.name}. You can: 1) Make a backup of "
                f"your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can "
                f"set the 'aof-load-truncated' configuration option to yes and restart the server."
            )
        if not last:
            raise AofError(f"Fatal error: the truncated file {a.name} is not the last file")
        log.warning("!!! Warning: short read while loading the AOF file !!!", file=a.name)
        log.warning("!!! Truncating the AOF at offset !!!", file=a.name, offset=valid_up_to)
        try:
            os.truncate(p, valid_up_to)
        except OSError as e:
            raise AofError(f"Error truncating the AOF file {a.name}: {e.strerror}") from None
        log.warning("AOF loaded anyway because aof-load-truncated is enabled", file=a.name)
        return True

    # --- opening at start --------------------------------------------------------------------------

    def open_on_start(self, dbs: Sequence[Database]) -> None:
        """aofOpenIfNeededOnServerStart: base file if none, open the last incr file, manifest."""
        cfg = self.engine.config
        if not cfg.appendonly:
            return
        try:
            os.makedirs(self.dirpath, exist_ok=True)
        except OSError as e:
            raise AofError(f"Can't open or create append-only dir {self.dirpath}: {e.strerror}") from None
        m = self.manifest
        try:
            if m.base is None and not m.incrs:
                name = m.new_base(self.filename, cfg.aof_use_rdb_preamble)
                write_base_file(
                    self.cfg_dir, self.path(name), dbs, cfg.aof_use_rdb_preamble, cfg.rdbcompression
                )
                log.info("creating AOF base file on server start", file=name)
                fresh_incr = True
            else:
                fresh_incr = not m.incrs
            name = m.last_incr(self.filename)
            self.fd = os.open(self.path(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self.persist_manifest(m)
        except OSError as e:
            raise AofError(f"Can't open the append-only file: {e.strerror} ({e.filename})") from None
        self.last_incr_size = file_size(self.path(name))
        self.current_size = sum(file_size(self.path(a.name)) for a in ([m.base] if m.base else []) + m.incrs)
        if m.base is not None and not self.rewrite_base_size:
            self.rewrite_base_size = file_size(self.path(m.base.name))
        self.fsync_offset = self.current_size
        log.info(("creating" if fresh_incr else "opening") + " AOF incr file on server start", file=name)
        self.state = AOF_ON
        self.selected_db = -1
        self._register()
        self.delete_history()

    def _register(self) -> None:
        if self not in self.engine.sinks:
            self.engine.sinks.append(self)
        self.engine.flush_aof = self.flush

    def _unregister(self) -> None:
        if self in self.engine.sinks:
            self.engine.sinks.remove(self)
        self.engine.aof_pending = False

    def delete_history(self) -> None:
        """aofDelHistoryFiles."""
        m = self.manifest
        if not m.history:
            return
        for a in m.history:
            log.info("removing the history file", file=a.name)
            _unlink_quietly(self.path(a.name))
        m.history = []
        m.dirty = True
        try:
            self.persist_manifest(m)
        except OSError as e:
            log.warning("could not persist the AOF manifest after removing history files", error=e.strerror)

    # --- feeding and writing -------------------------------------------------------------------

    @property
    def accepting(self) -> bool:
        return self.state == AOF_ON or (self.state == AOF_WAIT_REWRITE and self.child_running)

    def feed(self, db_id: int, data: bytes) -> None:
        """The engine's sink: buffer the command; it is written before any reply goes out."""
        if not (self.state == AOF_ON or (self.state == AOF_WAIT_REWRITE and self.child_running)):
            return
        if db_id != self.selected_db:
            self.buf.append(select_command(db_id))
            self.selected_db = db_id
        self.buf.append(data)
        self.engine.aof_pending = True

    @property
    def buffer_length(self) -> int:
        return sum(len(b) for b in self.buf)

    def flush(self) -> None:
        """flushAppendOnlyFile: write the buffer; under appendfsync always, fsync it too.

        Called before a reply reaches a socket (network.SocketTransport.write), from the cron,
        and before rewrites and shutdown.
        """
        self.engine.aof_pending = False
        buf = self.buf
        if not buf or self.fd < 0:
            return
        data = buf[0] if len(buf) == 1 else b"".join(buf)
        fd = self.fd
        written = 0
        try:
            written = os.write(fd, data)
            while written < len(data):
                written += os.write(fd, memoryview(data)[written:])
        except OSError as e:
            self._write_error(data, written, e.errno or errno.EIO)
            return
        buf.clear()
        if not self.last_write_ok:
            log.warning("AOF write error looks solved, the server can write again")
            self.last_write_ok = True
        self.current_size += written
        self.last_incr_size += written
        policy = self.engine.config.appendfsync
        if policy == "always" and not (self.engine.config.no_appendfsync_on_rewrite and self._child_active()):
            try:
                os.fdatasync(fd)
            except OSError as e:
                log.critical(
                    "can't persist the AOF for fsync error when the AOF fsync policy is 'always', exiting",
                    error=e.strerror,
                )
                os._exit(1)
            self.fsync_offset = self.current_size
            self.last_fsync = time.time()

    def _child_active(self) -> bool:
        p = self.engine.persistence
        return p is not None and p.child is not None

    def _write_error(self, data: bytes, written: int, err: int) -> None:
        now = time.time()
        if now - self._last_error_log > 30:
            self._last_error_log = now
            log.warning(
                "error writing to the AOF file", error=os.strerror(err), written=written, expected=len(data)
            )
        if written:
            try:
                os.ftruncate(self.fd, self.last_incr_size)
                written = 0
            except OSError:
                pass
        self.last_write_errno = err
        if self.engine.config.appendfsync == "always":
            log.critical("can't recover from AOF write error when the AOF fsync policy is 'always', exiting")
            os._exit(1)
        self.last_write_ok = False
        if written:
            self.current_size += written
            self.last_incr_size += written
            data = data[written:]
        self.buf[:] = [data]

    def fsync_now(self) -> None:
        """A synchronous fsync (shutdown, turning the AOF off)."""
        if self.fd < 0:
            return
        try:
            os.fsync(self.fd)
            self.fsync_offset = self.current_size
            self.last_fsync = time.time()
        except OSError as e:
            log.warning("fail to fsync the AOF file", error=e.strerror)

    async def background_fsync(self) -> None:
        """appendfsync everysec: fsync a duplicate of the fd in a thread, so the loop never waits."""
        if self.fd < 0 or self.fsync_in_progress:
            return
        target = self.current_size
        dup = os.dup(self.fd)
        self.fsync_in_progress += 1
        try:
            await trio.to_thread.run_sync(_fsync_and_close, dup)
        except OSError as e:
            if self.bio_fsync_ok:
                log.warning("error in the background AOF fsync", error=e.strerror)
            self.bio_fsync_ok = False
            self.bio_fsync_errno = e.errno or errno.EIO
        else:
            if not self.bio_fsync_ok:
                log.warning("AOF fsync error looks solved")
            self.bio_fsync_ok = True
            self.fsync_offset = target
        finally:
            self.fsync_in_progress -= 1
        self.last_fsync = time.time()

    async def fsync_loop(self) -> None:
        """Once a second: write what is buffered and, under everysec, fsync in the background."""
        while True:
            await trio.sleep(1.0)
            if self.state == AOF_OFF or self.fd < 0:
                continue
            if self.buf:
                self.flush()
            cfg = self.engine.config
            if cfg.appendfsync != "everysec" or self.fsync_offset == self.current_size:
                continue
            if cfg.no_appendfsync_on_rewrite and self._child_active():
                continue
            await self.background_fsync()

    def _close_later(self, fd: int) -> None:
        """aof_background_fsync_and_close: the old incr file is fsynced and closed off the loop."""
        if self.nursery is None:
            try:
                os.fsync(fd)
            except OSError:
                pass
            os.close(fd)
            return

        async def job() -> None:
            try:
                await trio.to_thread.run_sync(_fsync_and_close, fd)
            except OSError as e:
                log.warning("fsync of a closed AOF file failed", error=e.strerror)

        self.nursery.start_soon(job)

    # --- rewrites (the parent's half) ------------------------------------------------------------

    def prepare_rewrite(self) -> None:
        """Before fork: flush, force a SELECT, and open the incr file that starts at the fork.

        openNewIncrAofForAppend: under AOF_ON a new incr file enters the manifest (persisted
        first, so a crash keeps a loadable set); under AOF_WAIT_REWRITE a temp incr file collects
        the writes until the first base exists. Raises OSError.
        """
        os.makedirs(self.dirpath, exist_ok=True)
        self.selected_db = -1
        self.flush()
        if self.state == AOF_OFF:
            return
        temp_m: Manifest | None = None
        if self.state == AOF_WAIT_REWRITE:
            name = self.temp_incr_name
        else:
            temp_m = self.manifest.copy()
            name = temp_m.new_incr(self.filename)
        newfd = os.open(self.path(name), os.O_WRONLY | os.O_TRUNC | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            if temp_m is not None:
                self.persist_manifest(temp_m)
        except OSError:
            os.close(newfd)
            raise
        log.info("creating AOF incr file on background rewrite", file=name)
        if self.fd >= 0:
            self._close_later(self.fd)
            self.fsync_offset = self.current_size
            self.last_fsync = time.time()
        self.fd = newfd
        self.last_incr_size = 0
        if temp_m is not None:
            self.manifest = temp_m

    def rewrite_done(self, child_pid: int, ok: bool, bysignal: int) -> None:
        """backgroundRewriteDoneHandler."""
        tmpfile = os.path.join(self.cfg_dir, f"temp-rewriteaof-bg-{child_pid}.aof")
        cfg = self.engine.config
        if ok:
            log.info("background AOF rewrite terminated with success")
            temp_m = self.manifest.copy()
            base_name = temp_m.new_base(self.filename, cfg.aof_use_rdb_preamble)
            base_path = self.path(base_name)
            incr_path: str | None = None
            try:
                os.rename(tmpfile, base_path)
                if self.state == AOF_WAIT_REWRITE:
                    incr_name = temp_m.new_incr(self.filename)
                    incr_path = self.path(incr_name)
                    try:
                        os.rename(self.path(self.temp_incr_name), incr_path)
                    except OSError:
                        incr_path = None
                        _unlink_quietly(base_path)
                        raise
                temp_m.incrs_to_history(keep_last=self.fd >= 0)
                try:
                    self.persist_manifest(temp_m)
                except OSError:
                    _unlink_quietly(base_path)
                    if incr_path is not None:
                        _unlink_quietly(incr_path)
                    raise
            except OSError as e:
                log.warning(
                    "background AOF rewrite could not be installed", error=e.strerror, file=e.filename
                )
                self.rewrite_failed()
            else:
                self.manifest = temp_m
                if self.fd >= 0:
                    self.selected_db = -1
                    self.current_size = file_size(base_path) + self.last_incr_size
                    self.rewrite_base_size = self.current_size
                    self.fsync_offset = self.current_size
                    self.last_fsync = time.time()
                self.delete_history()
                self.lastbgrewrite_ok = True
                self.consecutive_failures = 0
                log.info("background AOF rewrite finished successfully")
                if self.state == AOF_WAIT_REWRITE:
                    self.state = AOF_ON
        elif not bysignal:
            self.rewrite_failed()
            log.warning("background AOF rewrite terminated with error")
        else:
            import signal

            if bysignal != signal.SIGUSR1:
                self.rewrite_failed()
            log.warning("background AOF rewrite terminated by signal", signal=bysignal)
        self.remove_temp_files(child_pid)
        if self.state == AOF_WAIT_REWRITE:
            # The next rewrite starts over: what the failed one collected is covered by its fork.
            self.buf.clear()
            if self.fd >= 0:
                self._close_later(self.fd)
                self.fd = -1
            _unlink_quietly(self.path(self.temp_incr_name))
            self.rewrite_scheduled = True
        if self.rewrite_time_start >= 0:
            self.rewrite_time_last = int(time.time() - self.rewrite_time_start)
        self.rewrite_time_start = -1

    def remove_temp_files(self, child_pid: int) -> None:
        _unlink_quietly(os.path.join(self.cfg_dir, f"temp-rewriteaof-bg-{child_pid}.aof"))
        _unlink_quietly(os.path.join(self.cfg_dir, f"temp-rewriteaof-{child_pid}.aof"))

    # --- turning on and off at run time ------------------------------------------------------------

    def stop(self) -> None:
        """stopAppendOnly (the manager kills a rewrite child first)."""
        self.flush()
        self.fsync_now()
        if self.fd >= 0:
            os.close(self.fd)
        self.fd = -1
        self.selected_db = -1
        self.state = AOF_OFF
        self.rewrite_scheduled = False
        self.last_incr_size = 0
        self.buf.clear()
        self._unregister()

    def begin_wait_rewrite(self) -> None:
        """startAppendOnly's first half: from now on the first rewrite turns the AOF on."""
        self.state = AOF_WAIT_REWRITE
        self.last_fsync = time.time()
        if not self.bio_fsync_ok:
            log.warning("AOF reopen, just ignore the AOF fsync error in bio job")
            self.bio_fsync_ok = True
        if not self.last_write_ok:
            log.warning("AOF reopen, just ignore the last error")
            self.last_write_ok = True
        self._register()

    def rewrite_failed(self) -> None:
        self.lastbgrewrite_ok = False
        self.consecutive_failures += 1
        self.last_failure = time.time()

    def rewrite_limited(self) -> bool:
        """aofRewriteLimited: after 3 failures in a row, automatic retries back off (1, 2, 4 ...
        up to 60 minutes); BGREWRITEAOF still runs at once."""
        if self.consecutive_failures < 3:
            return False
        delay = 60 * min(60, 2 ** (self.consecutive_failures - 3))
        return time.time() - self.last_failure < delay

    # --- INFO --------------------------------------------------------------------------------------

    @property
    def write_status_ok(self) -> bool:
        return self.last_write_ok and self.bio_fsync_ok

    def write_errno(self) -> int:
        if not self.last_write_ok:
            return self.last_write_errno
        return self.bio_fsync_errno


def _fsync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
