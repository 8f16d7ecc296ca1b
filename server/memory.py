"""Memory accounting and eviction (`maxmemory`, `maxmemory-policy`).

`used_memory` is what the allocators hold for live objects: glibc's in-use bytes (mallinfo2)
plus CPython's small-object blocks. Like Redis's counter, it drops as soon as keys are freed,
so eviction can loop "evict, re-measure" without overshooting.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import heapq
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.engine import Engine
    from server.keyspace import Database

_PYMALLOC_AVG_BLOCK = 48  # bytes; CPython's small objects (ints, short bytes, tuples) average


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
    )]


def _load_mallinfo2() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _Mallinfo2
    fn.argtypes = []
    return fn


_mallinfo2 = _load_mallinfo2()


def allocator_used() -> int:
    """Bytes currently allocated by this process's allocators."""
    py = sys.getallocatedblocks() * _PYMALLOC_AVG_BLOCK
    if _mallinfo2 is None:
        return py
    mi = _mallinfo2()
    return int(mi.uordblks + mi.hblkhd) + py


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    except OSError:
        return 0


class MemoryManager:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.baseline = allocator_used()  # the empty server, so used_memory starts near Redis's ~1 MB
        self.peak = 0

    def used(self) -> int:
        u = max(allocator_used() - self.baseline, 0) + 1_000_000
        if u > self.peak:
            self.peak = u
        return u

    def make_room(self) -> bool:
        """Evict under the configured policy until under `maxmemory`; False if it cannot."""
        limit = self.engine.config.maxmemory
        if not limit or self.used() <= limit:
            return True
        policy = self.engine.config.maxmemory_policy
        if policy == "noeviction":
            return False
        for _ in range(100_000):
            if not self._evict_batch(policy, 16):
                return self.used() <= limit
            if self.used() <= limit:
                return True
        return False

    def _evict_batch(self, policy: str, n: int) -> bool:
        evicted = 0
        for _ in range(n):
            db, key = self._pick(policy)
            if db is None or key is None:
                break
            db.delete(key)
            self.engine.stat_evictedkeys += 1
            self.engine._feed(db.id, [b"DEL", key])
            evicted += 1
        return evicted > 0

    def _pick(self, policy: str) -> tuple[Database | None, bytes | None]:
        eng = self.engine
        volatile = policy.startswith("volatile")
        best: tuple[Database | None, bytes | None] = (None, None)
        best_ttl = None
        for db in eng.keyspace.dbs:
            if not db.data or (volatile and not db.expires):
                continue
            if policy in ("allkeys-lru", "allkeys-lfu") and db.lru:
                return db, next(iter(db.lru))
            if policy in ("volatile-lru", "volatile-lfu") and db.lru:
                for i, k in enumerate(db.lru):
                    if k in db.expires:
                        return db, k
                    if i > 4096:
                        break
                return db, next(iter(db.expires))
            if policy == "allkeys-random":
                return db, db.random_key(eng.rng)
            if policy == "volatile-random":
                keys = list(db.expires)
                return db, keys[eng.rng.randrange(len(keys))]
            if policy == "volatile-ttl":
                heap = db.expire_heap
                while heap and db.expires.get(heap[0][1]) != heap[0][0]:
                    heapq.heappop(heap)
                if heap and (best_ttl is None or heap[0][0] < best_ttl):
                    best_ttl = heap[0][0]
                    best = (db, heap[0][1])
        return best
