"""used_memory accounting and maxmemory eviction through a real server: the figure follows the
dataset like RSS does, and each policy evicts the keys it should (set maxmemory a few MB above
current usage, write until eviction, look at which keys are gone)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tests.server.rawresp import Raw

VALUE = 1000  # bytes per value: a few thousand keys fill a few MB
SLACK = 1024 * 1024  # transient memory over the limit: a pipeline's query buffer and replies


def used(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def write(r: redis.Redis, names: list[str], ttl: int | None = None, size: int = VALUE) -> int:
    """SET every name to a distinct value (with EX `ttl`); returns how many got OOM errors."""
    oom = 0
    pipe = r.pipeline(transaction=False)
    for i, name in enumerate(names):
        value = (name.encode() + b":%d:" % i).ljust(size, b"v")
        if ttl is None:
            pipe.set(name, value)
        else:
            pipe.set(name, value, ex=ttl)
    for res in pipe.execute(raise_on_error=False):
        if isinstance(res, redis.ResponseError):
            assert str(res).startswith("command not allowed when used memory"), res
            oom += 1
    return oom


def limit_above_usage(r: redis.Redis, policy: str, extra: int = 4 * 1024 * 1024) -> int:
    limit = used(r) + extra
    assert r.config_set("maxmemory-policy", policy) is True
    assert r.config_set("maxmemory", limit) is True
    return limit


def test_used_memory_tracks_rss(r: redis.Redis) -> None:
    before = r.info("memory")
    n = 30000
    for start in range(0, n, 5000):
        assert write(r, [f"key:{i}" for i in range(start, start + 5000)], size=500) == 0
    after = r.info("memory")
    d_used = after["used_memory"] - before["used_memory"]
    d_rss = after["used_memory_rss"] - before["used_memory_rss"]
    assert d_used > n * 500  # at least the payload
    assert 0.6 < d_used / d_rss < 1.5, (d_used, d_rss)
    assert after["used_memory_peak"] >= after["used_memory"]
    assert after["used_memory_dataset"] > n * 500
    assert 0.5 < after["mem_fragmentation_ratio"] < 5
    # Freeing the keys brings used_memory back down (RSS need not follow).
    r.flushall()
    assert used(r) < after["used_memory"] - n * 500


def test_memory_usage_is_close_to_what_a_key_costs(r: redis.Redis) -> None:
    base = used(r)
    write(r, [f"k{i}" for i in range(5000)], size=2000)
    per_key = (used(r) - base) / 5000
    usage = r.memory_usage("k1")
    assert usage is not None
    assert 0.7 < usage / per_key < 1.3, (usage, per_key)


def test_noeviction_refuses_writes_but_serves_reads(server: Any, stock: Any) -> None:
    r = server.client()
    r.set("keep", "me")
    limit = limit_above_usage(r, "noeviction")
    oom = write(r, [f"k{i}" for i in range(20000)])
    assert oom > 0
    assert r.info("stats")["evicted_keys"] == 0
    assert used(r) < limit + SLACK
    assert r.get("keep") == b"me"  # reads still work
    assert r.exists("k0") == 1
    # The exact error, as stock Redis words it.
    stock.client().config_set("maxmemory", 1)
    r.config_set("maxmemory", 1)
    with Raw(server.port) as a, Raw(stock.port) as b:
        assert a.call("SET", "x", "y") == b.call("SET", "x", "y")
        assert a.call("SET", "x", "y").startswith(b"-OOM command not allowed when used memory > 'maxmemory'.")
        assert a.call("DEL", "k0") == b":1\r\n"  # not a denyoom command
        assert a.call("GET", "keep") == b"$2\r\nme\r\n"
    # More room: writes go through again.
    assert r.config_set("maxmemory", 0) is True
    assert r.set("x", "y") is True


def test_allkeys_lru_evicts_least_recently_used_first(r: redis.Redis) -> None:
    write(r, [f"old:{i}" for i in range(500)])
    limit = limit_above_usage(r, "allkeys-lru")
    hot = [f"old:{i}" for i in range(10)]
    for start in range(0, 15000, 500):
        r.mget(hot)  # keep these recently used
        assert write(r, [f"new:{i}" for i in range(start, start + 500)]) == 0
    info = r.info()
    assert info["evicted_keys"] > 5000
    assert info["used_memory"] < limit + SLACK
    assert all(r.exists(k) for k in hot)
    cold_left = sum(r.exists(f"old:{i}") for i in range(10, 500))
    assert cold_left == 0
    newest = sum(r.exists(f"new:{i}") for i in range(14500, 15000))
    assert newest == 500  # the latest writes are the most recently used


def test_allkeys_lfu_keeps_keys_in_use(r: redis.Redis) -> None:
    write(r, [f"old:{i}" for i in range(200)])
    limit_above_usage(r, "allkeys-lfu")
    hot = [f"old:{i}" for i in range(5)]
    for start in range(0, 12000, 400):
        r.mget(hot)
        assert write(r, [f"new:{i}" for i in range(start, start + 400)]) == 0
    assert r.info("stats")["evicted_keys"] > 3000
    assert all(r.exists(k) for k in hot)
    assert sum(r.exists(f"old:{i}") for i in range(5, 200)) == 0


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-random", "volatile-ttl", "volatile-lfu"])
def test_volatile_policies_evict_only_keys_with_a_ttl(r: redis.Redis, policy: str) -> None:
    write(r, [f"persistent:{i}" for i in range(300)])
    write(r, [f"volatile:{i}" for i in range(300)], ttl=10000)
    limit_above_usage(r, policy, extra=2 * 1024 * 1024)
    oom = 0
    for start in range(0, 6000, 300):
        oom += write(r, [f"new:{i}" for i in range(start, start + 300)], ttl=10000 + start)
    assert r.info("stats")["evicted_keys"] > 1000
    assert all(r.exists(f"persistent:{i}") for i in range(300))
    assert sum(r.exists(f"volatile:{i}") for i in range(300)) < 300
    # Once only keys without a TTL are left, writes of such keys hit the limit.
    oom = write(r, [f"more:{i}" for i in range(20000)])
    assert oom > 0


def test_volatile_ttl_evicts_the_soonest_expiry_first(r: redis.Redis) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(400):
        pipe.set(f"t:{i}", b"x" * VALUE, ex=10000 + i * 10)  # t:0 expires first
    pipe.execute()
    limit_above_usage(r, "volatile-ttl", extra=1024 * 1024)
    n = 0
    while r.info("stats")["evicted_keys"] < 50:  # write until a good number were evicted
        write(r, [f"new:{i}" for i in range(n, n + 50)], ttl=100000)
        n += 50
        assert n < 20000
    survivors = [i for i in range(400) if r.exists(f"t:{i}")]
    assert survivors, "everything was evicted"
    gone = [i for i in range(400) if i not in set(survivors)]
    assert len(gone) >= 50 and max(gone) < min(survivors)  # a prefix: the soonest expiries
    assert all(r.exists(f"new:{i}") for i in range(n))  # they expire last


def test_allkeys_random_evicts_old_and_new_keys(r: redis.Redis) -> None:
    write(r, [f"old:{i}" for i in range(1000)])
    limit = limit_above_usage(r, "allkeys-random", extra=2 * 1024 * 1024)
    for start in range(0, 10000, 500):
        assert write(r, [f"new:{i}" for i in range(start, start + 500)]) == 0
    info = r.info()
    assert info["evicted_keys"] > 5000
    assert info["used_memory"] < limit + SLACK
    old_left = sum(r.exists(f"old:{i}") for i in range(1000))
    new_left = sum(r.exists(f"new:{i}") for i in range(10000))
    assert old_left < 1000 and new_left < 10000
    assert new_left > 0


def test_lowering_maxmemory_evicts_at_once(r: redis.Redis) -> None:
    write(r, [f"k{i}" for i in range(5000)])
    before = used(r)
    r.config_set("maxmemory-policy", "allkeys-lru")
    r.config_set("maxmemory", before // 2)
    r.set("trigger", "x")  # the next write makes room
    after = r.info()
    assert after["evicted_keys"] > 1000
    assert after["used_memory"] <= before // 2 + SLACK
    assert r.get("trigger") == b"x"


def test_evictions_reach_replicas_and_aof_as_del(r: redis.Redis) -> None:
    """An evicted key is propagated as DEL (checked through MONITOR-free means: the AOF)."""
    r.config_set("appendonly", "yes")
    write(r, [f"old:{i}" for i in range(100)])
    limit_above_usage(r, "allkeys-lru", extra=1024 * 1024)
    write(r, [f"new:{i}" for i in range(3000)])
    assert r.info("stats")["evicted_keys"] > 0
    r.config_set("maxmemory", 0)
    assert r.execute_command("DEBUG", "LOADAOF") == b"OK"
    assert r.exists("old:0") == 0  # the AOF replayed the eviction's DEL


def test_memory_stats_and_doctor(r: redis.Redis) -> None:
    stats = r.memory_stats()
    assert stats["total.allocated"] == pytest.approx(used(r), rel=0.2)
    assert stats["startup.allocated"] < stats["total.allocated"]
    assert stats["keys.count"] == 0
    write(r, [f"k{i}" for i in range(8000)])
    stats = r.memory_stats()
    assert stats["keys.count"] == 8000
    assert stats["dataset.bytes"] > 8000 * VALUE
    doctor = r.execute_command("MEMORY", "DOCTOR")
    assert doctor.startswith((b"Hi Sam, I can't find any memory issue", b"Sam, I detected"))
    assert r.memory_purge() is True
