"""Whether the replicas an empty master would wipe hold anything (the empty-master rule's
exception for a new cluster).

The rule (policy.decide_server_start) holds back a server that the sentinels name as the master
when its dataset is empty and they know replicas: as master it would make them drop their data.
A new cluster is exactly that case with nothing at stake: the sentinels may know the replicas
before anything was ever written (a sentinel that owns the VIP registers its own server as a
replica at once), and all of them are empty. So the supervisor asks every known replica: only
if each answers, is not loading, and holds no key, the empty master starts. Any doubt keeps the
rule: a replica with data holds the master back and hints the sentinels (a failover is the way
out); one that does not answer (yet: at a cluster's first start the replicas' servers may start
a moment later), that is loading, or replicas the sentinels know without an address, hold it
back, without the hint at a start (with it after a crash), and the supervisor asks again.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sentinel.supervisor.policy import ReplicaData


def _keys(info: dict[str, object]) -> int:
    """Keys in INFO keyspace (`db0: {keys: N, ...}` as redis-py parses it)."""
    total = 0
    for name, v in info.items():
        if name.startswith("db") and isinstance(v, dict):
            total += int(v.get("keys", 0))
    return total


def probe_one(host: str, port: int, password: str | None, timeout: float) -> tuple[bool | None, str]:
    """(empty, why) for one replica: True empty, False holds keys, None cannot tell."""
    r = redis.Redis(
        host=host,
        port=port,
        password=password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        persistence = r.info("persistence")
        if int(persistence.get("loading", 0)) or int(persistence.get("async_loading", 0)):
            return None, f"{host}:{port} is loading its dataset"
        keys = _keys(r.info("keyspace"))
        return keys == 0, f"{host}:{port} holds {keys} key(s)"
    except (redis.RedisError, OSError, ValueError) as e:
        return None, f"{host}:{port} did not answer ({type(e).__name__})"
    finally:
        r.close()


def probe_replicas(
    addrs: tuple[tuple[str, int], ...], known: int, password: str | None, timeout: float = 1.0
) -> ReplicaData:
    """Ask each replica in `addrs`; `known`: how many the sentinels count (all must answer)."""
    unknown = ""
    if known < 1 or len(addrs) < known:
        unknown = f"{len(addrs)} replica address(es) for {known} known replica(s)"
    details = []
    for host, port in addrs:
        empty, why = probe_one(host, port, password, timeout)
        if empty is False:
            return ReplicaData(False, why)
        if empty is None:
            unknown = unknown or why
        details.append(why)
    if unknown:
        return ReplicaData(False, unknown, unknown=True)
    return ReplicaData(True, "; ".join(details))
