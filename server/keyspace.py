"""The keyspace: numbered databases of typed values with millisecond expiries.

Values are plain Python objects: `bytes` (string), `collections.deque` (list), `dict` (hash),
`set` (set) and `ZSet` (sorted set). Expiry is lazy on access plus an active cycle driven by a
min-heap of deadlines (exact, where Redis samples). Every mutation of the keyspace from outside
a command handler (expiry, eviction, FLUSH*) goes through here so that WATCH, blocked clients,
propagation and memory accounting see it.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from server.datatypes import ZSet
from server.errors import WRONGTYPE, CommandError

if TYPE_CHECKING:
    from server.client import Client
    from server.engine import Engine

Value = Any  # bytes | deque[bytes] | dict[bytes, bytes] | set[bytes] | ZSet


def type_name(v: Value) -> bytes:
    cls = v.__class__
    if cls is bytes:
        return b"string"
    if cls is deque:
        return b"list"
    if cls is dict:
        return b"hash"
    if cls is set:
        return b"set"
    if cls is ZSet:
        return b"zset"
    return b"none"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Database:
    __slots__ = (
        "blocking",
        "data",
        "engine",
        "expire_heap",
        "expires",
        "id",
        "lru",
        "watched",
    )

    def __init__(self, db_id: int, engine: Engine) -> None:
        self.id = db_id
        self.engine = engine
        self.data: dict[bytes, Value] = {}
        self.expires: dict[bytes, int] = {}
        self.expire_heap: list[tuple[int, bytes]] = []
        self.watched: dict[bytes, list[Client]] = {}
        self.blocking: dict[bytes, deque[Client]] = {}
        self.lru: dict[bytes, None] | None = None  # access order, only under an LRU policy

    def __len__(self) -> int:
        return len(self.data)

    # --- reads -------------------------------------------------------------------------------

    def lookup(self, key: bytes) -> Value | None:
        """The live value of `key`, or None. Expires it first if its time has come."""
        v = self.data.get(key)
        if v is None:
            return None
        if self.expires and key in self.expires and self._expired(key):
            return None
        if self.lru is not None and not self.engine.no_touch:  # CLIENT NO-TOUCH: not an access
            self.lru.pop(key, None)
            self.lru[key] = None
        return v

    def lookup_typed(self, key: bytes, cls: type) -> Any:
        """The value if it is of class `cls`, None if missing; WRONGTYPE otherwise."""
        v = self.lookup(key)
        if v is None or v.__class__ is cls:
            return v
        raise CommandError(WRONGTYPE)

    def exists(self, key: bytes) -> bool:
        return self.lookup(key) is not None

    def get_expire(self, key: bytes) -> int | None:
        return self.expires.get(key)

    def _expired(self, key: bytes) -> bool:
        when = self.expires[key]
        if when > now_ms():
            return False
        if self.engine.is_replica:
            # A replica waits for the master's DEL, but never serves the stale value.
            return True
        self.delete(key)
        self.engine.propagate_expired(self.id, key)
        return True

    # --- writes ------------------------------------------------------------------------------

    def set(self, key: bytes, value: Value, keepttl: bool = False) -> None:
        """Store `value` at `key`, dropping any TTL unless `keepttl`."""
        self.data[key] = value
        if not keepttl and self.expires:
            self.expires.pop(key, None)
        if self.lru is not None:
            self.lru.pop(key, None)
            self.lru[key] = None

    def delete(self, key: bytes) -> bool:
        if self.data.pop(key, None) is None:
            return False
        if self.expires:
            self.expires.pop(key, None)
        if self.lru is not None:
            self.lru.pop(key, None)
        self.signal_modified(key)
        return True

    def set_expire(self, key: bytes, when_ms: int) -> None:
        self.expires[key] = when_ms
        heap = self.expire_heap
        heapq.heappush(heap, (when_ms, key))
        if len(heap) > 64 and len(heap) > 2 * len(self.expires):
            self.expire_heap = [(w, k) for k, w in self.expires.items()]
            heapq.heapify(self.expire_heap)

    def persist(self, key: bytes) -> bool:
        return self.expires.pop(key, None) is not None

    def flush(self) -> int:
        n = len(self.data)
        for key in list(self.watched):
            self.signal_modified(key)
        self.data = {}
        self.expires = {}
        self.expire_heap = []
        if self.lru is not None:
            self.lru = {}
        return n

    def signal_modified(self, key: bytes) -> None:
        """Invalidate WATCHes on `key` (Redis's signalModifiedKey)."""
        if self.watched:
            clients = self.watched.get(key)
            if clients:
                for c in clients:
                    c.dirty_cas = True

    def signal_ready(self, key: bytes) -> None:
        """A blocked client may now be served from `key` (Redis's signalKeyAsReady)."""
        if key in self.blocking:
            self.engine.ready_keys.append((self, key))

    # --- expiry and sampling --------------------------------------------------------------------

    def active_expire(self, now: int, budget: int) -> int:
        """Delete up to `budget` keys whose deadline has passed; returns how many."""
        heap = self.expire_heap
        expires = self.expires
        done = 0
        while heap and done < budget and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            if expires.get(key) != when:
                continue  # stale heap entry: TTL changed or key gone
            self.delete(key)
            self.engine.propagate_expired(self.id, key)
            done += 1
        return done

    def random_key(self, rng: random.Random) -> bytes | None:
        """A uniformly random live key (O(n) in the worst case; used by RANDOMKEY and eviction)."""
        for _ in range(100):
            if not self.data:
                return None
            key = next(itertools.islice(self.data, rng.randrange(len(self.data)), None))
            if self.expires and key in self.expires and self._expired(key):
                continue
            return key
        return None

    def keys(self) -> Iterator[bytes]:
        return iter(list(self.data))


class Keyspace:
    """All databases; SWAPDB and SELECT work on indexes into this list."""

    def __init__(self, engine: Engine, count: int) -> None:
        self.dbs = [Database(i, engine) for i in range(count)]

    def __getitem__(self, i: int) -> Database:
        return self.dbs[i]

    def __len__(self) -> int:
        return len(self.dbs)

    def total_keys(self) -> int:
        return sum(len(db.data) for db in self.dbs)
