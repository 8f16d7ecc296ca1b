"""Persistence in the running server, as Redis 7.0 does it.

Loading at start (the AOF when it is on and exists, else the RDB; always into a fresh keyspace
that replaces the empty one only once loading succeeded), save points checked from the cron,
SAVE, BGSAVE and BGREWRITEAOF in a forked child that writes from its copy-on-write image while
the parent keeps serving, the AOF's life cycle (on/off at run time, automatic rewrites), the
final save of SHUTDOWN/SIGTERM, the MISCONF write fence and INFO's `# Persistence` section.

One child at a time, as in Redis (hasActiveChildProcess): a BGSAVE asked for during a rewrite
is refused or scheduled, and the other way round.
"""

from __future__ import annotations

import gc
import heapq
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import structlog
import trio

from server.config import ConfigError
from server.errors import CommandError
from server.keyspace import Keyspace
from server.persistence.aof import (
    AOF_OFF,
    AOF_ON,
    AOF_WAIT_REWRITE,
    Aof,
    AofError,
    fsync_dir,
    write_base_file,
)

if TYPE_CHECKING:
    from server.client import Client
    from server.commands.registry import Command
    from server.engine import Engine
    from server.keyspace import Database
    from server.persistence.rdb import RdbInfo

log = structlog.get_logger("server.persistence")

BGSAVE_RETRY_DELAY = 5  # CONFIG_BGSAVE_RETRY_DELAY: seconds before retrying a failed save point
MISCONF_RDB = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
    "Commands that may modify the data set are disabled, because this instance is configured to report "
    "errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the "
    "Redis logs for details about the RDB error."
)
SHUTTING_DOWN = "ERR the server is shutting down: the final save is done, writes are refused"


class PersistenceError(Exception):
    """The dataset on disk cannot be loaded: the server must not start."""


@dataclass
class Child:
    """The one background child (Redis's child_pid / child_type)."""

    kind: str  # "rdb" | "aof" | "repl" (a snapshot streamed to replicas)
    pid: int
    started: float
    pipe: int  # read end: the child's error message, if it fails
    keys_total: int
    on_done: Callable[[bool], None] | None = None  # for "repl": told whether the child succeeded


def _close_inherited_fds(keep: set[int]) -> None:
    """In a child: close every fd but stdio and `keep` (sockets, listeners, the AOF, epoll), so
    the child holds no client connection or port open after the parent closes them."""
    try:
        fds = [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 65536))
    for fd in fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _run_child(body: Callable[[], None], wfd: int, keep_fds: tuple[int, ...] = ()) -> NoReturn:
    """The forked child: run `body`, report a failure through the pipe, never return."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        gc.disable()  # collections would touch (and copy) every page of the parent's heap
        _close_inherited_fds({wfd, *keep_fds})
        body()
        code = 0
    except BaseException as e:
        try:
            os.write(wfd, f"{type(e).__name__}: {e}".encode("utf-8", "replace")[:2000])
        except BaseException:
            pass
    finally:
        os._exit(code)


def write_rdb(dir_: str, path: str, dbs: list[Database], aux: dict[str, str | int], compress: bool) -> None:
    """rdbSave: `temp-<pid>.rdb` in dir, fsync, rename over `path`, fsync the directory."""
    from server.persistence.rdb import save_rdb

    tmp = os.path.join(dir_, f"temp-{os.getpid()}.rdb")
    try:
        f = open(tmp, "wb", buffering=1 << 20)  # noqa: SIM115  (closed below)
    except OSError as e:
        raise OSError(
            e.errno,
            f"Failed opening the temp RDB file {os.path.basename(tmp)} (in server root dir {dir_}) "
            f"for saving: {e.strerror}",
        ) from None
    try:
        with f:
            save_rdb(f, dbs, aux=aux, compress=compress)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(dir_)


class Persistence:
    """Owns everything between the dataset in memory and the files in `dir`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        engine.persistence = self
        self.aof = Aof(engine)
        self.child: Child | None = None
        self.nursery: trio.Nursery | None = None
        self.lastbgsave_ok = True
        self.lastbgsave_try = 0.0
        self.dirty_before_bgsave = 0
        self.rdb_saves = 0
        self.rdb_last_bgsave_time = -1
        self.bgsave_scheduled = False
        self.loaded_rdb_info: RdbInfo | None = None  # aux of the file loaded at start (repl-id ...)
        self.rdb_last_load_keys_loaded = 0
        self.rdb_last_load_keys_expired = 0
        self.shutdown_done = False
        self.loading = False
        self._dirty_credit = 0
        self.bgsave_listeners: list[Callable[[bool], None]] = []  # told when a BGSAVE ends
        self._install_hooks()

    # --- wiring --------------------------------------------------------------------------------

    def _install_hooks(self) -> None:
        h = self.engine.hooks
        h["cron_persistence"] = self.cron
        h["info_persistence"] = self.info_fields
        h["after_flushall"] = self.after_flushall
        h["flushall"] = self.after_flushall  # the name server.commands.keys calls
        h["debug_reload"] = self.debug_reload
        h["debug_loadaof"] = self.debug_loadaof
        prev_check = h.get("check_write")

        def check_write(c: Client, cmd: Command) -> None:
            self.check_write(c)
            if prev_check is not None:
                prev_check(c, cmd)

        h["check_write"] = check_write
        prev_cfg = h.get("config_change")

        def config_change(name: str, old: Any, new: Any) -> None:
            self.config_changed(name, old, new)
            if prev_cfg is not None:
                prev_cfg(name, old, new)

        h["config_change"] = config_change
        prev_sync = h.get("after_full_sync")

        def after_full_sync() -> None:
            if prev_sync is not None:
                prev_sync()
            self.after_full_sync()

        h["after_full_sync"] = after_full_sync

    @property
    def dir(self) -> str:
        return self.engine.config.dir or "."

    @property
    def rdb_path(self) -> str:
        return os.path.join(self.dir, self.engine.config.dbfilename)

    def _rdb_aux(self) -> dict[str, str | int]:
        """Extra aux fields for our RDBs: the replication position, when that layer offers it."""
        hook = self.engine.hooks.get("rdb_save_info")
        if hook is None:
            return {}
        return dict(hook() or {})

    # --- loading at start ------------------------------------------------------------------------

    def load(self) -> None:
        """loadDataFromDisk + aofOpenIfNeededOnServerStart. Raises on anything fatal."""
        eng = self.engine
        cfg = eng.config
        t0 = time.monotonic()
        try:
            self.aof.load_manifest()
        except AofError as e:
            raise PersistenceError(str(e)) from None
        fresh = Keyspace(eng, cfg.databases)
        if cfg.appendonly and self.aof.exists():
            self.loading = True
            try:
                res = self.aof.load(fresh)
            except AofError as e:
                raise PersistenceError(str(e)) from None
            finally:
                self.loading = False
            self.rdb_last_load_keys_loaded = res.keys_loaded
            self.rdb_last_load_keys_expired = res.keys_expired
            self.loaded_rdb_info = res.rdb_info
            self.aof.current_size = res.total_size
            self.aof.rewrite_base_size = res.base_size
            self.aof.fsync_offset = res.total_size
            log.info(
                "DB loaded from append only file",
                seconds=round(time.monotonic() - t0, 3),
                keys=sum(len(db.data) for db in fresh.dbs),
            )
        else:
            if self._load_rdb_into(fresh):
                log.info(
                    "DB loaded from disk",
                    seconds=round(time.monotonic() - t0, 3),
                    keys=self.rdb_last_load_keys_loaded,
                )
                if cfg.appendonly:
                    log.warning(
                        "appendonly is on but there was no AOF yet: the RDB file was loaded and the "
                        "new AOF starts from it"
                    )
        self._install(fresh)
        eng.dirty = 0
        try:
            self.aof.open_on_start(eng.keyspace.dbs)
        except AofError as e:
            raise PersistenceError(str(e)) from None

    def _load_rdb_into(self, fresh: Keyspace) -> bool:
        from server.persistence.rdb import RdbError, load_rdb_file

        cfg = self.engine.config
        path = self.rdb_path
        if not os.path.exists(path):
            return False
        try:
            info = load_rdb_file(
                path, fresh, skip_expired=cfg.replicaof is None, verify_checksum=cfg.rdbchecksum
            )
        except RdbError as e:
            raise PersistenceError(f"Fatal error loading the DB from {path}: {e}") from None
        except OSError as e:
            raise PersistenceError(f"Fatal error loading the DB from {path}: {e.strerror}") from None
        self.loaded_rdb_info = info
        self.rdb_last_load_keys_loaded = info.keys_loaded
        self.rdb_last_load_keys_expired = info.keys_expired_skipped
        return True

    def _install(self, fresh: Keyspace, merge: bool = False) -> None:
        """Move a loaded keyspace's contents into the live databases (clients keep their db
        objects; WATCHers of the old contents are invalidated)."""
        for dst, src in zip(self.engine.keyspace.dbs, fresh.dbs, strict=True):
            for key in list(dst.watched):
                dst.signal_modified(key)
            if merge:
                dst.data.update(src.data)
                for k in src.data:
                    dst.expires.pop(k, None)
                dst.expires.update(src.expires)
            else:
                dst.data = src.data
                dst.expires = src.expires
            heap = [(w, k) for k, w in dst.expires.items()]
            heapq.heapify(heap)
            dst.expire_heap = heap
            if dst.lru is not None:
                dst.lru = dict.fromkeys(dst.data)

    async def start(self, nursery: trio.Nursery) -> None:
        """Background work in the server's nursery: child reaping and the everysec fsync."""
        self.nursery = nursery
        self.aof.nursery = nursery
        nursery.start_soon(self.aof.fsync_loop)

    # --- the background child ----------------------------------------------------------------------

    def has_child(self) -> bool:
        return self.child is not None

    def fork_child(
        self,
        kind: str,
        body: Callable[[], None],
        keep_fds: tuple[int, ...] = (),
        on_done: Callable[[bool], None] | None = None,
    ) -> Child:
        """Fork the one background child (replication snapshots use this too, so BGSAVE, AOF
        rewrites and full syncs never run two children at once, as in Redis)."""
        child = self._fork(kind, body, keep_fds)
        child.on_done = on_done
        return child

    def _fork(self, kind: str, body: Callable[[], None], keep_fds: tuple[int, ...] = ()) -> Child:
        """redisFork: raises OSError if fork fails."""
        rfd, wfd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(rfd)
            os.close(wfd)
            raise
        if pid == 0:
            os.close(rfd)
            _run_child(body, wfd, keep_fds)
        os.close(wfd)
        os.set_blocking(rfd, False)
        child = Child(kind, pid, time.time(), rfd, self.engine.keyspace.total_keys())
        self.child = child
        if self.nursery is not None:
            self.nursery.start_soon(self._reap, child)
        return child

    async def _reap(self, child: Child) -> None:
        """Wait for the child without blocking the loop (a pidfd, else polling waitpid)."""
        pidfd = -1
        try:
            pidfd = os.pidfd_open(child.pid)
        except (OSError, AttributeError):
            pidfd = -1
        status: int | None = None
        try:
            if pidfd >= 0:
                await trio.lowlevel.wait_readable(pidfd)
            while True:
                try:
                    done, st = os.waitpid(child.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if done:
                    status = st
                    break
                await trio.sleep(0.005 if pidfd >= 0 else 0.02)
        finally:
            if pidfd >= 0:
                os.close(pidfd)
        if self.child is child:
            self._child_done(child, status)

    def reap_now(self) -> None:
        """Reap a finished child synchronously (tests, and when no nursery is running)."""
        child = self.child
        if child is None:
            return
        try:
            done, st = os.waitpid(child.pid, os.WNOHANG)
        except ChildProcessError:
            self._child_done(child, None)
            return
        if done:
            self._child_done(child, st)

    def kill_child(self) -> None:
        """killRDBChild / killAppendOnlyChild: SIGUSR1 (not an error), wait, clean up."""
        child = self.child
        if child is None:
            return
        log.warning("killing the background child", kind=child.kind, pid=child.pid)
        status: int | None = None
        try:
            os.kill(child.pid, signal.SIGUSR1)
            _, status = os.waitpid(child.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            status = None
        self._child_done(child, status if status is not None else signal.SIGUSR1)

    def _child_done(self, child: Child, status: int | None) -> None:
        self.child = None
        msg = b""
        try:
            msg = os.read(child.pipe, 4096)
        except OSError:
            pass
        finally:
            os.close(child.pipe)
        if status is None:
            exitcode, bysignal = 1, 0
        elif os.WIFSIGNALED(status):
            exitcode, bysignal = 0, os.WTERMSIG(status)
        else:
            exitcode, bysignal = os.WEXITSTATUS(status), 0
        if msg:
            log.warning(
                "background child failed",
                kind=child.kind,
                pid=child.pid,
                error=msg.decode("utf-8", "replace"),
            )
        ok = exitcode == 0 and not bysignal
        if child.kind == "repl":
            if child.on_done is not None:
                child.on_done(ok)
        elif child.kind == "rdb":
            self._bgsave_done(child, ok, bysignal)
        else:
            self.aof.child_running = False
            self.aof.rewrite_done(child.pid, ok, bysignal)

    # --- RDB: SAVE, BGSAVE, save points --------------------------------------------------------------

    def rdb_save(self, reset_dirty: bool = True) -> bool:
        """rdbSave, synchronously (SAVE, SHUTDOWN, FLUSHALL, DEBUG RELOAD)."""
        cfg = self.engine.config
        try:
            write_rdb(self.dir, self.rdb_path, self.engine.keyspace.dbs, self._rdb_aux(), cfg.rdbcompression)
        except Exception as e:
            log.warning("write error saving DB on disk", error=str(e))
            return False
        log.info("DB saved on disk")
        if reset_dirty:
            self.engine.dirty = 0
        self.engine.lastsave = int(time.time())
        self.lastbgsave_ok = True
        return True

    def bgsave(self) -> bool:
        """rdbSaveBackground: fork a child writing dir/dbfilename; False if it could not start."""
        if self.child is not None:
            return False
        eng = self.engine
        cfg = eng.config
        self.rdb_saves += 1
        self.dirty_before_bgsave = eng.dirty
        self.lastbgsave_try = time.time()
        dir_, path, dbs, aux, compress = (
            self.dir,
            self.rdb_path,
            eng.keyspace.dbs,
            self._rdb_aux(),
            cfg.rdbcompression,
        )

        def body() -> None:
            write_rdb(dir_, path, dbs, aux, compress)

        try:
            child = self._fork("rdb", body)
        except OSError as e:
            self.lastbgsave_ok = False
            log.warning("can't save in background: fork", error=e.strerror)
            return False
        log.info("background saving started", pid=child.pid)
        return True

    def _bgsave_done(self, child: Child, ok: bool, bysignal: int) -> None:
        """backgroundSaveDoneHandlerDisk."""
        eng = self.engine
        self.rdb_last_bgsave_time = int(time.time() - child.started)
        if ok:
            log.info("background saving terminated with success")
            eng.dirty = max(0, eng.dirty - self.dirty_before_bgsave)
            eng.lastsave = int(time.time())
            self.lastbgsave_ok = True
        elif not bysignal:
            log.warning("background saving error")
            self.lastbgsave_ok = False
        else:
            log.warning("background saving terminated by signal", signal=bysignal)
            if bysignal != signal.SIGUSR1:
                self.lastbgsave_ok = False
        if not ok:
            try:
                os.unlink(os.path.join(self.dir, f"temp-{child.pid}.rdb"))
            except OSError:
                pass
        for cb in list(self.bgsave_listeners):
            try:
                cb(ok)
            except Exception:
                log.exception("bgsave listener failed")

    def bgsave_command(self, schedule: bool, in_exec: bool) -> str:
        """BGSAVE's decision tree; returns the status text or raises CommandError."""
        child = self.child
        if child is not None and child.kind == "rdb":
            raise CommandError("ERR Background save already in progress")
        if child is not None or in_exec:
            if schedule or in_exec:
                self.bgsave_scheduled = True
                return "Background saving scheduled"
            raise CommandError(
                "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in "
                "order to schedule a BGSAVE whenever possible."
            )
        if self.bgsave():
            return "Background saving started"
        raise CommandError("ERR")

    # --- AOF: rewrites, on/off ---------------------------------------------------------------------

    def start_rewrite(self) -> bool:
        """rewriteAppendOnlyFileBackground."""
        if self.child is not None:
            return False
        aof = self.aof
        eng = self.engine
        cfg = eng.config
        try:
            aof.prepare_rewrite()
        except OSError as e:
            log.warning("can't prepare the AOF rewrite", error=e.strerror, file=e.filename)
            aof.lastbgrewrite_ok = False
            return False
        aof.rewrites += 1
        dir_, dbs, preamble, compress = (
            self.dir,
            eng.keyspace.dbs,
            cfg.aof_use_rdb_preamble,
            cfg.rdbcompression,
        )

        def body() -> None:
            dest = os.path.join(dir_, f"temp-rewriteaof-bg-{os.getpid()}.aof")
            write_base_file(dir_, dest, dbs, preamble, compress)

        try:
            child = self._fork("aof", body)
        except OSError as e:
            aof.lastbgrewrite_ok = False
            log.warning("can't rewrite append only file in background: fork", error=e.strerror)
            return False
        aof.child_running = True
        aof.rewrite_scheduled = False
        aof.rewrite_time_start = time.time()
        log.info("background append only file rewriting started", pid=child.pid)
        return True

    def bgrewriteaof_command(self, in_exec: bool) -> str:
        child = self.child
        if child is not None and child.kind == "aof":
            raise CommandError("ERR Background append only file rewriting already in progress")
        if child is not None or in_exec:
            self.aof.rewrite_scheduled = True
            self.aof.consecutive_failures = 0
            return "Background append only file rewriting scheduled"
        if self.start_rewrite():
            return "Background append only file rewriting started"
        raise CommandError(
            "ERR Can't execute an AOF background rewriting. Please check the server logs for more information."
        )

    def enable_aof(self, in_exec: bool = False) -> bool:
        """startAppendOnly (CONFIG SET appendonly yes): the AOF starts with a rewrite."""
        aof = self.aof
        aof.begin_wait_rewrite()
        child = self.child
        if child is not None and child.kind != "aof":
            aof.rewrite_scheduled = True
            log.warning(
                "AOF was enabled but there is already another background operation; an AOF "
                "rewrite is scheduled"
            )
        elif in_exec:
            aof.rewrite_scheduled = True
        else:
            if child is not None:
                log.warning("AOF was enabled while a rewrite was running: restarting it")
                self.kill_child()
            if not self.start_rewrite():
                aof.state = AOF_OFF
                aof._unregister()
                log.warning("the AOF could not be enabled: the background rewrite did not start")
                return False
        return True

    def disable_aof(self) -> None:
        """stopAppendOnly (CONFIG SET appendonly no)."""
        if self.child is not None and self.child.kind == "aof":
            self.kill_child()
        self.aof.stop()

    def config_changed(self, name: str, old: Any, new: Any) -> None:
        if name == "appendonly":
            if new and self.aof.state == AOF_OFF:
                if not self.enable_aof():
                    raise ConfigError("Unable to turn on AOF. Check server logs.")
            elif not new and self.aof.state != AOF_OFF:
                self.disable_aof()
        elif name == "appendfsync" and new == "always" and self.aof.state != AOF_OFF:
            self.aof.flush()
            self.aof.fsync_now()

    def after_full_sync(self) -> None:
        """A replica replaced its dataset from the master: the AOF must restart from it
        (restartAOFAfterSYNC)."""
        if self.aof.state == AOF_OFF:
            return
        self.disable_aof()
        if not self.enable_aof():
            log.warning("failed restarting the AOF after a full sync; it stays off")
            self.engine.config.appendonly = False

    # --- the cron ------------------------------------------------------------------------------------

    def cron(self) -> None:
        """serverCron's persistence part (hz times a second)."""
        eng = self.engine
        aof = self.aof
        if self._dirty_credit:
            eng.dirty = max(0, eng.dirty - self._dirty_credit)
            self._dirty_credit = 0
        if aof.state != AOF_OFF and aof.buf:
            aof.flush()
        if self.nursery is None and self.child is not None:
            self.reap_now()
        if self.child is None and aof.rewrite_scheduled and not aof.rewrite_limited():
            self.start_rewrite()
        if self.child is None:
            now = time.time()
            cfg = eng.config
            for secs, changes in cfg.save:
                if (
                    eng.dirty >= changes
                    and now - eng.lastsave > secs
                    and (now - self.lastbgsave_try > BGSAVE_RETRY_DELAY or self.lastbgsave_ok)
                ):
                    log.info("save point reached, saving", changes=changes, seconds=secs)
                    self.bgsave()
                    break
            if (
                self.child is None
                and aof.state == AOF_ON
                and cfg.auto_aof_rewrite_percentage
                and aof.current_size > cfg.auto_aof_rewrite_min_size
            ):
                base = aof.rewrite_base_size or 1
                growth = aof.current_size * 100 // base - 100
                if growth >= cfg.auto_aof_rewrite_percentage and not aof.rewrite_limited():
                    log.info("starting automatic rewriting of AOF", growth_percent=growth)
                    self.start_rewrite()
        if (
            self.child is None
            and self.bgsave_scheduled
            and (time.time() - self.lastbgsave_try > BGSAVE_RETRY_DELAY or self.lastbgsave_ok)
            and self.bgsave()
        ):
            self.bgsave_scheduled = False

    # --- fences, FLUSHALL, SHUTDOWN ------------------------------------------------------------------

    def check_write(self, c: Client) -> None:
        """writeCommandsDeniedByDiskError (the master link and the AOF loader are exempt)."""
        if c.kind == "master":
            return
        if self.shutdown_done:
            raise CommandError(SHUTTING_DOWN)
        cfg = self.engine.config
        if cfg.stop_writes_on_bgsave_error and cfg.save and not self.lastbgsave_ok:
            raise CommandError(MISCONF_RDB)
        aof = self.aof
        if aof.state != AOF_OFF and not aof.write_status_ok:
            raise CommandError(f"MISCONF Errors writing to the AOF file: {os.strerror(aof.write_errno())}")

    def after_flushall(self) -> None:
        """FLUSHALL calls this after emptying the databases and counting its change(s) in
        engine.dirty: kill a BGSAVE child (its snapshot is stale) and, with save points
        configured, save the empty dataset synchronously. engine.dirty is left alone during the
        command so FLUSHALL still propagates (AOF, replicas); the saved changes are credited back
        at the next cron tick, so rdb_changes_since_last_save ends at 0 as in Redis 7.0."""
        if self.loading:  # a FLUSHALL replayed from the AOF: nothing to save yet
            return
        if self.child is not None and self.child.kind == "rdb":
            self.kill_child()
        if self.engine.config.save:
            before = self.engine.dirty
            if self.rdb_save(reset_dirty=False):
                self._dirty_credit = before

    def shutdown(self, save: bool | None, force: bool) -> bool:
        """prepareForShutdown: False means the server must keep running (the save failed)."""
        cfg = self.engine.config
        aof = self.aof
        log.warning("user requested shutdown")
        child = self.child
        if child is not None and child.kind == "rdb":
            log.warning("there is a child saving an .rdb, killing it")
            self.kill_child()
        if aof.state != AOF_OFF:
            child = self.child
            if child is not None and child.kind == "aof":
                if aof.state == AOF_WAIT_REWRITE:
                    if not force:
                        log.warning("writing initial AOF, can't exit")
                        return False
                    log.warning("writing initial AOF, exit anyway")
                log.warning("there is a child rewriting the AOF, killing it")
                self.kill_child()
            log.info("calling fsync() on the AOF file")
            aof.flush()
            aof.fsync_now()
        if (cfg.save and save is not False) or save is True:
            log.info("saving the final RDB snapshot before exiting")
            if not self.rdb_save():
                if force:
                    log.warning("error trying to save the DB, exit anyway")
                else:
                    log.warning("error trying to save the DB, can't exit")
                    return False
        self.shutdown_done = True
        log.warning("the server is now ready to exit, bye bye")
        return True

    # --- DEBUG RELOAD / LOADAOF ----------------------------------------------------------------------

    def debug_reload(self, save: bool = True, flush: bool = True, merge: bool = False) -> None:
        """DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: raises CommandError with Redis's texts."""
        from server.persistence.rdb import RdbError, load_rdb_file

        if save and not self.rdb_save():
            raise CommandError("ERR")
        eng = self.engine
        fresh = Keyspace(eng, eng.config.databases)
        try:
            info = load_rdb_file(
                self.rdb_path,
                fresh,
                skip_expired=eng.config.replicaof is None,
                verify_checksum=eng.config.rdbchecksum,
            )
        except (RdbError, OSError) as e:
            log.warning("DEBUG RELOAD could not load the RDB", error=str(e))
            raise CommandError("ERR Error trying to load the RDB dump, check server logs.") from None
        if not flush and not merge:
            for dst, src in zip(eng.keyspace.dbs, fresh.dbs, strict=True):
                if any(k in dst.data for k in src.data):
                    raise CommandError("ERR Error trying to load the RDB dump, check server logs.")
        self._install(fresh, merge=not flush)
        self.rdb_last_load_keys_loaded = info.keys_loaded
        self.rdb_last_load_keys_expired = info.keys_expired_skipped

    def debug_loadaof(self) -> None:
        """DEBUG LOADAOF: flush the AOF, then replace the dataset with what it loads to."""
        aof = self.aof
        if aof.state != AOF_ON:
            raise CommandError("ERR AOF is not enabled")
        aof.flush()
        eng = self.engine
        fresh = Keyspace(eng, eng.config.databases)
        self.loading = True
        try:
            aof.load(fresh)
        except AofError as e:
            log.critical("DEBUG LOADAOF failed, exiting", error=str(e))
            os._exit(1)
        finally:
            self.loading = False
        self._install(fresh)
        eng.dirty = 0
        log.warning("append only file loaded by DEBUG LOADAOF")

    # --- INFO ----------------------------------------------------------------------------------------

    def info_fields(self) -> list[tuple[str, str | int]]:
        """INFO's `# Persistence` section, Redis 7.0's fields in Redis's order."""
        eng = self.engine
        aof = self.aof
        child = self.child
        now = time.time()
        rdb_child = child is not None and child.kind == "rdb"
        aof_child = child is not None and child.kind == "aof"
        dirty = max(0, eng.dirty - self._dirty_credit)
        fields: list[tuple[str, str | int]] = [
            ("loading", 0),
            ("async_loading", 0),
            ("current_cow_peak", 0),
            ("current_cow_size", 0),
            ("current_cow_size_age", 0),
            ("current_fork_perc", "0.00"),
            ("current_save_keys_processed", 0),
            ("current_save_keys_total", child.keys_total if child is not None else 0),
            ("rdb_changes_since_last_save", dirty),
            ("rdb_bgsave_in_progress", 1 if rdb_child else 0),
            ("rdb_last_save_time", eng.lastsave),
            ("rdb_last_bgsave_status", "ok" if self.lastbgsave_ok else "err"),
            ("rdb_last_bgsave_time_sec", self.rdb_last_bgsave_time),
            ("rdb_current_bgsave_time_sec", int(now - child.started) if rdb_child and child else -1),
            ("rdb_saves", self.rdb_saves),
            ("rdb_last_cow_size", 0),
            ("rdb_last_load_keys_expired", self.rdb_last_load_keys_expired),
            ("rdb_last_load_keys_loaded", self.rdb_last_load_keys_loaded),
            ("aof_enabled", 1 if aof.state != AOF_OFF else 0),
            ("aof_rewrite_in_progress", 1 if aof_child else 0),
            ("aof_rewrite_scheduled", 1 if aof.rewrite_scheduled else 0),
            ("aof_last_rewrite_time_sec", aof.rewrite_time_last),
            ("aof_current_rewrite_time_sec", int(now - aof.rewrite_time_start) if aof_child else -1),
            ("aof_last_bgrewrite_status", "ok" if aof.lastbgrewrite_ok else "err"),
            ("aof_rewrites", aof.rewrites),
            ("aof_rewrites_consecutive_failures", aof.consecutive_failures),
            ("aof_last_write_status", "ok" if aof.write_status_ok else "err"),
            ("aof_last_cow_size", 0),
            ("module_fork_in_progress", 0),
            ("module_fork_last_cow_size", 0),
        ]
        if aof.state != AOF_OFF:
            fields += [
                ("aof_current_size", aof.current_size),
                ("aof_base_size", aof.rewrite_base_size),
                ("aof_pending_rewrite", 1 if aof.rewrite_scheduled else 0),
                ("aof_buffer_length", aof.buffer_length),
                ("aof_pending_bio_fsync", aof.fsync_in_progress),
                ("aof_delayed_fsync", aof.delayed_fsync),
            ]
        return fields


__all__ = ["AOF_ON", "Child", "Persistence", "PersistenceError", "write_rdb"]
