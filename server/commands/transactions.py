"""Transactions as Redis 7.0: MULTI, EXEC, DISCARD, WATCH, UNWATCH.

Queueing, and the rejections that abort a transaction (unknown command, arity, OOM, READONLY,
...: `c.multi_error`, Redis's CLIENT_DIRTY_EXEC), happen in `Engine.execute`; running the queue
and wrapping its propagation in MULTI/EXEC is `Engine.exec_transaction`. This module holds the
commands and the WATCH bookkeeping: `db.watched` maps a key to the clients watching it, and
`Database.signal_modified` sets `c.dirty_cas` on each of them when the key changes.
"""

from __future__ import annotations

from server.client import Client
from server.commands.registry import command
from server.errors import (
    DISCARD_WITHOUT_MULTI,
    EXEC_WITHOUT_MULTI,
    EXECABORT,
    MULTI_NESTED,
    WATCH_IN_MULTI,
    CommandError,
)
from server.keyspace import now_ms
from server.protocol import resp


def unwatch_all(c: Client) -> None:
    """Stop watching every key (EXEC, DISCARD, UNWATCH, RESET, connection end)."""
    for db, key in c.watched:
        clients = db.watched.get(key)
        if clients is not None:
            try:
                clients.remove(c)
            except ValueError:
                pass
            if not clients:
                del db.watched[key]
    c.watched = []
    c.dirty_cas = False


def discard_transaction(c: Client) -> None:
    """Leave MULTI state entirely (Redis's discardTransaction): queue, flags and WATCHes."""
    c.in_multi = False
    c.queued = []
    c.multi_error = False
    unwatch_all(c)


def _watched_key_expired(c: Client) -> bool:
    """A watched key whose TTL ran out after WATCH is a change (Redis's isWatchedKeyExpired).

    WATCH deleted keys that were already expired, so any TTL that has run out now expired later.
    """
    now = now_ms()
    for db, key in c.watched:
        when = db.expires.get(key)
        if when is not None and when <= now and key in db.data:
            return True
    return False


@command("multi", 1, "noscript loading stale fast allow_busy", group="transactions")
def multi(c: Client, argv: list[bytes]) -> bytes:
    if c.in_multi:
        raise CommandError(MULTI_NESTED)
    c.in_multi = True
    c.queued = []
    c.multi_error = False
    return resp.OK


@command("exec", 1, "noscript loading stale skip_slowlog", group="transactions")
def exec_(c: Client, argv: list[bytes]) -> bytes:
    if not c.in_multi:
        raise CommandError(EXEC_WITHOUT_MULTI)
    if not c.dirty_cas and c.watched and _watched_key_expired(c):
        c.dirty_cas = True
    if c.multi_error:
        discard_transaction(c)
        raise CommandError(EXECABORT)
    if c.dirty_cas:
        discard_transaction(c)
        return resp.null_array(c.resp)
    unwatch_all(c)
    last_cmd = c.last_cmd
    try:
        return c.engine.exec_transaction(c)
    finally:
        discard_transaction(c)
        c.last_cmd = last_cmd


@command("discard", 1, "noscript loading stale fast allow_busy", group="transactions")
def discard(c: Client, argv: list[bytes]) -> bytes:
    if not c.in_multi:
        raise CommandError(DISCARD_WITHOUT_MULTI)
    discard_transaction(c)
    return resp.OK


@command("watch", -2, "noscript loading stale fast allow_busy", 1, -1, 1, group="transactions")
def watch(c: Client, argv: list[bytes]) -> bytes:
    if c.in_multi:
        raise CommandError(WATCH_IN_MULTI)
    if c.dirty_cas:
        return resp.OK  # no point in watching more: EXEC will fail anyway
    db = c.db
    now = now_ms()
    for key in argv[1:]:
        if (db, key) in c.watched:
            continue
        when = db.expires.get(key)
        if when is not None and when <= now:
            # Already expired: let it go now, so that its deletion does not count as a change
            # later (Redis remembers such keys as "expired when watched").
            db.lookup(key)
        clients = db.watched.get(key)
        if clients is None:
            clients = db.watched[key] = []
        clients.append(c)
        c.watched.append((db, key))
    return resp.OK


@command("unwatch", 1, "noscript loading stale fast allow_busy", group="transactions")
def unwatch(c: Client, argv: list[bytes]) -> bytes:
    unwatch_all(c)
    return resp.OK
