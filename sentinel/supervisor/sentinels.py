"""Asking the sentinels (RESP, redis-py): who is the master, and "your master is down".

`ask_sentinel` sends `SENTINEL GET-MASTER-ADDR-BY-NAME <name>` and `SENTINEL MASTER <name>` to
one sentinel (bounded by its socket timeouts); `combine` turns the answers into one
`MasterView`: the address with the highest config epoch (a sentinel that missed a failover
still answers with the old address and an older epoch), the local sentinel winning ties.

`send_hint` sends `SENTINEL IS-MASTER-DOWN-HINT <name> <ip> <port> [EXITED-MS-AGO <ms>]`
(docs/operations.md, "The hint"): the supervisor knows first-hand that the master process is
gone and will not be started as master again, and when it exited if it saw that. Ours implements it (sentinel/core/hint.py: checked by its own PING,
then SDOWN at once); a stock sentinel answers "unknown subcommand", and the failover then
simply waits for down-after-milliseconds, as it would without a supervisor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sentinel.supervisor.policy import MasterView

HINT_SUBCOMMAND = "IS-MASTER-DOWN-HINT"


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    host: str
    port: int
    password: str | None = None
    username: str | None = None
    local: bool = False

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class SentinelAnswer:
    target: SentinelTarget
    addr: tuple[str, int] | None = None
    config_epoch: int = 0
    replicas: int = 0
    replica_addrs: tuple[tuple[str, int], ...] = ()
    """The replicas it knows (SENTINEL REPLICAS), for the empty-master rule's new-cluster case."""
    error: str | None = None
    """Set when the sentinel could not be asked (nothing else is meaningful then)."""


def _client(t: SentinelTarget, timeout: float) -> redis.Redis:
    return redis.Redis(
        host=t.host,
        port=t.port,
        password=t.password,
        username=t.username,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        protocol=2,
        retry=Retry(NoBackoff(), 0),  # one attempt: the caller bounds the whole query
    )


def _fields(reply: Any) -> dict[str, str]:
    """SENTINEL MASTER's reply as a dict (a flat pair list in RESP2, a map in RESP3)."""
    if isinstance(reply, dict):
        return {str(k): str(v) for k, v in reply.items()}
    if isinstance(reply, list):
        return {str(reply[i]): str(reply[i + 1]) for i in range(0, len(reply) - 1, 2)}
    return {}


def ask_sentinel(t: SentinelTarget, name: str, timeout: float = 1.0) -> SentinelAnswer:
    """One sentinel's view of master `name` (blocking, bounded by `timeout` per operation)."""
    r = _client(t, timeout)
    try:
        addr_reply = r.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
        if not addr_reply:
            return SentinelAnswer(t)  # it answered: it does not know that master
        addr = (str(addr_reply[0]), int(addr_reply[1]))
        epoch = 0
        replicas = 0
        try:
            f = _fields(r.execute_command("SENTINEL", "MASTER", name))
            epoch = int(f.get("config-epoch", "0"))
            replicas = int(f.get("num-slaves", "0"))
        except redis.ResponseError:
            pass
        found: list[tuple[str, int]] = []
        if replicas:
            try:
                for rep in r.execute_command("SENTINEL", "REPLICAS", name) or []:
                    rf = _fields(rep)
                    found.append((rf["ip"], int(rf["port"])))
            except (redis.ResponseError, KeyError, ValueError, TypeError):
                found = []
        return SentinelAnswer(
            t, addr=addr, config_epoch=epoch, replicas=replicas, replica_addrs=tuple(found)
        )
    except (redis.RedisError, OSError, ValueError, IndexError, TypeError) as e:
        return SentinelAnswer(t, error=f"{type(e).__name__}: {e}")
    finally:
        r.close()


def combine(answers: Iterable[SentinelAnswer]) -> MasterView:
    """One view from every answer: highest config epoch wins, the local sentinel breaks ties."""
    answers = list(answers)
    asked = len(answers)
    ok = [a for a in answers if a.error is None]
    known = [a for a in ok if a.addr is not None]
    if not known:
        return MasterView(None, answered=len(ok), asked=asked)
    best = max(known, key=lambda a: (a.config_epoch, a.target.local))
    assert best.addr is not None
    key = (best.addr[0].lower(), best.addr[1])
    same = [
        a
        for a in known
        if a.addr is not None
        and (a.addr[0].lower(), a.addr[1]) == key
        and a.config_epoch == best.config_epoch
    ]
    return MasterView(
        addr=best.addr,
        config_epoch=best.config_epoch,
        replicas=max(a.replicas for a in same),
        replica_addrs=tuple(sorted({x for a in same for x in a.replica_addrs})),
        answered=len(ok),
        asked=asked,
        sources=tuple(a.target.label for a in same),
    )


@dataclass(frozen=True, slots=True)
class HintResult:
    target: SentinelTarget
    outcome: str
    """"accepted", "unsupported" (unknown subcommand), "refused", or "unreachable"."""
    detail: str = ""


def send_hint(
    t: SentinelTarget,
    name: str,
    host: str,
    port: int,
    timeout: float = 1.0,
    exited_ms_ago: int | None = None,
) -> HintResult:
    """`SENTINEL IS-MASTER-DOWN-HINT <name> <host> <port> [EXITED-MS-AGO <ms>]` to one sentinel
    (blocking, bounded)."""
    r = _client(t, timeout)
    extra = () if exited_ms_ago is None else ("EXITED-MS-AGO", str(exited_ms_ago))
    try:
        reply = r.execute_command("SENTINEL", HINT_SUBCOMMAND, name, host, str(port), *extra)
        return HintResult(t, "accepted", str(reply))
    except redis.ResponseError as e:
        text = str(e)
        if "unknown subcommand" in text.lower():
            return HintResult(t, "unsupported", text)
        return HintResult(t, "refused", text)
    except (redis.RedisError, OSError) as e:
        return HintResult(t, "unreachable", f"{type(e).__name__}: {e}")
    finally:
        r.close()


def state_file_peers(path: Path, name: str) -> list[tuple[str, int]]:
    """Sentinels the local sentinel discovered for `name` (its state file), best effort."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        entries = doc["masters"][name]["known_sentinels"]
        return [(str(h), int(p)) for h, p, *_ in entries]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def targets(
    *,
    local: tuple[str, int],
    local_password: str | None,
    peer_user: str | None,
    peer_password: str | None,
    peer_lists: Iterable[Iterable[tuple[str, int]]],
) -> list[SentinelTarget]:
    """The local sentinel first, then every distinct peer."""
    out = [SentinelTarget(local[0], local[1], local_password, None, local=True)]
    seen = {(local[0].lower(), local[1])}
    for peers in peer_lists:
        for host, port in peers:
            k = (host.lower(), port)
            if k in seen:
                continue
            seen.add(k)
            out.append(SentinelTarget(host, port, peer_password, peer_user))
    return out
