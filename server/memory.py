"""Memory accounting (`used_memory`) and eviction under `maxmemory`.

Redis counts every byte it allocates; a Python server cannot, but two allocators hold all of
its memory and both can be asked:

- glibc's in-use bytes (`mallinfo2`: large objects, dict and list tables, buffers), O(1);
- CPython's small-object allocator (pymalloc, objects up to 512 bytes: most keys and short
  values), which lives in its own mmap'ed arenas that glibc never sees. `sys.getallocatedblocks`
  counts its blocks (O(pools)); `sys._debugmallocstats` gives their exact bytes but costs a few
  milliseconds, so it is used to calibrate the average block size now and then, and the block
  count carries the estimate in between.

`used_memory` is that total minus what the process held when the engine was created (the
interpreter, the code), plus Redis's start-up figure, so an empty server reports about what an
empty Redis does and the figure tracks the dataset. Like Redis's counter it drops as soon as
keys are freed, so eviction can run "evict, re-measure" without overshooting.

The per-command check (`make_room`, called for every denyoom command when `maxmemory` is set)
uses a cached measurement refreshed every few milliseconds (the refresh interval adapts so that
measuring stays under ~2% of the time) minus the estimated size of what it evicted since.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import heapq
import os
import re
import sys
import time
from collections import deque
from itertools import islice
from typing import TYPE_CHECKING, Any

from server.datatypes import ZSet

if TYPE_CHECKING:
    from server.engine import Engine
    from server.keyspace import Database

STARTUP_BYTES = 880_000  # what an empty Redis 7.0 reports as used_memory_startup
_DICT_ENTRY = 40  # bytes per key in db.data's table (entry + index), amortized
_EXPIRE_ENTRY = 64  # expires dict entry + the int deadline + the heap tuple


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _load_mallinfo2() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _Mallinfo2
    fn.argtypes = []
    return fn


_mallinfo2 = _load_mallinfo2()


def glibc_used() -> tuple[int, int]:
    """(bytes in use, bytes the heap spans incl. free chunks) according to glibc."""
    if _mallinfo2 is None:
        return 0, 0
    mi = _mallinfo2()
    return int(mi.uordblks + mi.hblkhd), int(mi.arena + mi.hblkhd)


_ALLOC_RE = re.compile(rb"# bytes in allocated blocks\s*=\s*([\d,]+)")
_ARENAS_RE = re.compile(rb"(\d[\d,]*) arenas \* (\d[\d,]*) bytes/arena")


def pymalloc_stats() -> tuple[int, int] | None:
    """(bytes in allocated pymalloc blocks, bytes of arenas) from `sys._debugmallocstats`,
    which writes to C stderr: fd 2 is pointed at a memfd for the call. None if unavailable."""
    try:
        fd = os.memfd_create("hasentinel-mallocstats")
    except (AttributeError, OSError):
        return None
    saved = -1
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(fd, 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
        size = os.lseek(fd, 0, os.SEEK_END)
        data = os.pread(fd, size, 0)
    except OSError:
        return None
    finally:
        if saved >= 0:
            os.close(saved)
        os.close(fd)
    m = _ALLOC_RE.search(data)
    if m is None:
        return None
    arenas = _ARENAS_RE.search(data)
    arena_bytes = 0
    if arenas is not None:
        arena_bytes = int(arenas.group(1).replace(b",", b"")) * int(arenas.group(2).replace(b",", b""))
    return int(m.group(1).replace(b",", b"")), arena_bytes


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def total_system_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _obj(o: object) -> int:
    """sys.getsizeof rounded up to the allocator's 16-byte granularity."""
    return (sys.getsizeof(o) + 15) & ~15


def value_size(v: Any, samples: int = 0) -> int:
    """Approximate bytes held by a value. Collections with more than `samples` elements
    (0: all) are measured on a sample and scaled, as Redis's MEMORY USAGE does."""
    cls = v.__class__
    if cls is bytes:
        return _obj(v)
    if cls is ZSet:
        n = len(v.scores)
        # scores dict + SortedList of (score, member) tuples + the float objects
        base = _obj(v.scores) + _obj(v.order) + 64
        if not n:
            return base
        picked = list(islice(v.scores, samples)) if samples else list(v.scores)
        per = sum(_obj(m) + 24 + 56 + 24 for m in picked) / len(picked)
        return int(base + per * n)
    if cls is dict:
        n = len(v)
        if not n:
            return _obj(v)
        picked = list(islice(v.items(), samples)) if samples else list(v.items())
        per = sum(_obj(a) + _obj(b) for a, b in picked) / len(picked)
        return int(_obj(v) + per * n)
    if cls is deque or cls is set or cls is list:
        n = len(v)
        if not n:
            return _obj(v)
        picked = list(islice(v, samples)) if samples else list(v)
        per = sum(_obj(x) for x in picked) / len(picked)
        return int(_obj(v) + per * n)
    return _obj(v)


def key_size(db: Database, key: bytes, samples: int = 0) -> int:
    """Approximate bytes freed by deleting `key` (MEMORY USAGE, eviction accounting)."""
    v = db.data.get(key)
    n = _obj(key) + _DICT_ENTRY
    if v is not None:
        n += value_size(v, samples)
    if key in db.expires:
        n += _EXPIRE_ENTRY
    return n


class MemoryManager:
    """used_memory for INFO/MEMORY, and the maxmemory policy (evict or refuse writes)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Calibration point: exact pymalloc bytes and block count at that moment.
        self._cal_blocks = sys.getallocatedblocks()
        stats = pymalloc_stats()
        self._cal_bytes = stats[0] if stats is not None else self._cal_blocks * 64
        self._arena_bytes = stats[1] if stats is not None else self._cal_bytes
        self._marginal = self._cal_bytes / max(self._cal_blocks, 1)
        self._cal_at = time.monotonic()
        self._cal_cost = 0.0
        glibc, _ = glibc_used()
        self.baseline = glibc + self._cal_bytes
        self.peak = STARTUP_BYTES
        self._cached = STARTUP_BYTES
        self._at = 0.0
        self._freed = 0  # estimated bytes evicted since the cached measurement
        self._in_at = 0  # engine.stat_net_input_bytes at the cached measurement
        self.interval = 0.005
        self.startup = STARTUP_BYTES

    # --- measuring -------------------------------------------------------------------------------

    def pymalloc_bytes(self) -> int:
        """Bytes in pymalloc blocks: the calibration point plus the blocks allocated since,
        at the average size of the blocks that arrived between the last two calibrations."""
        blocks = sys.getallocatedblocks()
        return int(self._cal_bytes + (blocks - self._cal_blocks) * self._marginal)

    def pymalloc_arena_bytes(self) -> int:
        """Bytes of pymalloc arenas at the last calibration (allocated plus free blocks)."""
        return max(self._arena_bytes, self.pymalloc_bytes())

    def used(self) -> int:
        """A fresh used_memory measurement (also updates the cache and the peak)."""
        t0 = time.perf_counter()
        glibc, _ = glibc_used()
        u = max(glibc + self.pymalloc_bytes() - self.baseline, 0) + STARTUP_BYTES
        cost = time.perf_counter() - t0
        # Keep measuring under ~2% of the time at worst, never slower than every 50 ms.
        self.interval = min(max(0.005, cost * 50), 0.05)
        self._cached = u
        self._at = time.monotonic()
        self._freed = 0
        self._in_at = self.engine.stat_net_input_bytes
        if u > self.peak:
            self.peak = u
        return u

    def used_estimate(self) -> int:
        """The cached measurement (refreshed when stale), plus every byte received since (an
        upper bound of what writes can have added, so a burst cannot overshoot the limit before
        the next measurement), minus what was evicted since."""
        if time.monotonic() - self._at >= self.interval:
            return self.used()
        received = self.engine.stat_net_input_bytes - self._in_at
        return max(self._cached + max(received, 0) - self._freed, 0)

    def calibrate(self) -> None:
        """Re-measure pymalloc's exact bytes (a few ms at most) and update the block size."""
        t0 = time.perf_counter()
        blocks = sys.getallocatedblocks()
        stats = pymalloc_stats()
        if stats is None:
            return
        nbytes = stats[0]
        db = blocks - self._cal_blocks
        if abs(db) >= 1000:
            self._marginal = max(16.0, min(512.0, (nbytes - self._cal_bytes) / db))
        self._cal_blocks, self._cal_bytes = blocks, nbytes
        self._arena_bytes = stats[1]
        self._cal_at = time.monotonic()
        self._cal_cost = time.perf_counter() - t0

    def cron(self) -> None:
        """Periodic: recalibrate when pymalloc grew or shrank noticeably (bounded cost)."""
        now = time.monotonic()
        if now - self._cal_at < max(0.5, self._cal_cost * 200):
            return
        blocks = sys.getallocatedblocks()
        if abs(blocks - self._cal_blocks) > max(0.05 * self._cal_blocks, 20_000):
            self.calibrate()
        self.used()

    def used_for_report(self) -> int:
        """A measurement for INFO / MEMORY: recalibrates first if pymalloc changed a lot."""
        blocks = sys.getallocatedblocks()
        if abs(blocks - self._cal_blocks) > max(0.05 * self._cal_blocks, 5_000):
            self.calibrate()
        return self.used()

    def reset_peak(self) -> None:
        self.peak = self.used()

    def rss(self) -> int:
        return rss_bytes()

    def overhead(self) -> dict[str, int]:
        """The parts of used_memory that are not the dataset (INFO, MEMORY STATS)."""
        eng = self.engine
        normal = replicas = 0
        for c in eng.clients.values():
            pending = getattr(c.transport, "pending_bytes", 0)
            if c.kind == "replica":
                replicas += pending
            else:
                normal += pending + 1024  # query buffer (rbs=1024) + reply backlog
        backlog = 0
        repl = getattr(eng, "repl", None)
        bl = getattr(repl, "backlog", None) if repl is not None else None
        if bl is not None:
            backlog = int(getattr(bl, "histlen", 0) or 0)
        hashtables = {}
        for db in eng.keyspace.dbs:
            if db.data:
                hashtables[db.id] = (
                    sys.getsizeof(db.data),
                    sys.getsizeof(db.expires) if db.expires else 0,
                )
        total_tables = sum(a + b for a, b in hashtables.values())
        return {
            "startup": STARTUP_BYTES,
            "backlog": backlog,
            "clients_normal": normal,
            "clients_slaves": replicas,
            "tables": total_tables,
            "total": STARTUP_BYTES + backlog + normal + replicas + total_tables,
        }

    # --- eviction --------------------------------------------------------------------------------

    def make_room(self) -> bool:
        """Evict under the configured policy until under `maxmemory`; False if it cannot."""
        eng = self.engine
        cfg = eng.config
        limit = cfg.maxmemory
        if not limit:
            return True
        if eng.is_replica and cfg.replica_ignore_maxmemory:
            return True  # a replica mirrors its master's evictions (its DELs) instead
        used = self.used_estimate()
        if used <= limit:
            return True
        policy = cfg.maxmemory_policy
        if policy == "noeviction":
            return False
        # Evict by estimated size, then check with a real measurement (dict tables and
        # allocator slack mean the estimate can be optimistic) and go on while it helps.
        for attempt in range(8):
            target = used - limit
            freed = 0
            while freed < target:
                picked = self._pick(policy)
                if not picked:
                    break
                for db, key in picked:
                    freed += self._evict(db, key)
            self._freed += freed
            if freed == 0:
                return False  # nothing left that the policy may evict
            before = used
            used = self.used_estimate() if attempt == 0 else self.used()
            if used <= limit:
                return True
            if attempt and used >= before:
                break
        return False

    def _evict(self, db: Database, key: bytes) -> int:
        if key not in db.data:
            return 0
        size = key_size(db, key, samples=16)
        db.delete(key)
        eng = self.engine
        eng.stat_evictedkeys += 1
        eng._feed(db.id, [b"DEL", key])
        return size

    def _pick(self, policy: str) -> list[tuple[Database, bytes]]:
        """The next key(s) to evict under `policy` (empty when nothing qualifies)."""
        dbs = [db for db in self.engine.keyspace.dbs if db.data]
        if not dbs:
            return []
        if policy.startswith("volatile"):
            dbs = [db for db in dbs if db.expires]
            if not dbs:
                return []
        if policy == "volatile-ttl":
            return self._pick_ttl(dbs)
        # With several databases, evict from the largest (Redis samples them all).
        db = max(dbs, key=lambda d: len(d.expires) if policy.startswith("volatile") else len(d.data))
        rng = self.engine.rng
        if policy in ("allkeys-lru", "allkeys-lfu"):
            order = db.lru if db.lru else db.data
            return [(db, k) for k in islice(order, 4)]
        if policy in ("volatile-lru", "volatile-lfu"):
            if db.lru:
                # The least recently used volatile key near the head of the LRU order; past a
                # short scan, the key whose TTL was set longest ago stands in for it.
                expires = db.expires
                for k in islice(db.lru, 256):
                    if k in expires:
                        return [(db, k)]
            return [(db, next(iter(db.expires)))]
        if policy == "allkeys-random":
            r = rng.randrange(len(db.data))
            return [(db, k) for k in islice(db.data, r, r + 4)]
        if policy == "volatile-random":
            heap = db.expire_heap
            for _ in range(16 if heap else 0):
                when, k = heap[rng.randrange(len(heap))]
                if db.expires.get(k) == when:
                    return [(db, k)]
            return [(db, next(iter(db.expires)))]
        return []

    def _pick_ttl(self, dbs: list[Database]) -> list[tuple[Database, bytes]]:
        best: tuple[int, Database, bytes] | None = None
        for db in dbs:
            heap = db.expire_heap
            while heap and db.expires.get(heap[0][1]) != heap[0][0]:
                heapq.heappop(heap)
            if heap and (best is None or heap[0][0] < best[0]):
                best = (heap[0][0], db, heap[0][1])
        return [] if best is None else [(best[1], best[2])]
