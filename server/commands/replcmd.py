"""Replication commands: REPLICAOF/SLAVEOF, REPLCONF, PSYNC/SYNC, WAIT, FAILOVER."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.client import Client
from server.commands.args import parse_int
from server.commands.registry import command
from server.errors import SYNTAX, CommandError
from server.protocol import resp

if TYPE_CHECKING:
    from server.blocking import Block
    from server.replication.master import Replication


def _repl(c: Client) -> Replication:
    repl = c.engine.repl
    if repl is None:
        raise CommandError("ERR replication is not available in this process")
    return repl


def _replicaof(c: Client, argv: list[bytes]) -> bytes:
    repl = _repl(c)
    host, port_arg = argv[1], argv[2]
    if host.lower() == b"no" and port_arg.lower() == b"one":
        if c.engine.is_replica:
            repl.promote()
        return resp.OK
    if c.kind == "replica":
        raise CommandError("ERR Command is not valid when client is a replica.")
    port = parse_int(port_arg, "ERR Invalid master port")
    if not 0 < port < 65536:
        raise CommandError("ERR Invalid master port")
    h = host.decode("utf-8", "replace")
    if c.engine.is_replica and repl.master_addr == (h, port):
        return resp.simple("OK Already connected to specified master")
    repl.set_master(h, port)
    return resp.OK


@command("replicaof", 3, "admin noscript stale no_async_loading", group="server")
def replicaof(c: Client, argv: list[bytes]) -> bytes:
    return _replicaof(c, argv)


@command("slaveof", 3, "admin noscript stale no_async_loading", group="server")
def slaveof(c: Client, argv: list[bytes]) -> bytes:
    return _replicaof(c, argv)


@command("replconf", -1, "admin noscript loading stale allow_busy", group="server")
def replconf(c: Client, argv: list[bytes]) -> bytes:
    return _repl(c).replconf(c, argv)


@command("psync", -3, "admin noscript no_async_loading no_multi", group="server")
def psync(c: Client, argv: list[bytes]) -> bytes:
    return _repl(c).psync(c, argv)


@command("sync", 1, "admin noscript no_async_loading no_multi", group="server")
def sync(c: Client, argv: list[bytes]) -> bytes:
    return _repl(c).psync(c, argv)


@command("wait", 3, "noscript", group="generic")
def wait(c: Client, argv: list[bytes]) -> bytes | Block:
    n = parse_int(argv[1])
    timeout = parse_int(argv[2], "ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    return _repl(c).wait(c, n, timeout)


@command("failover", -1, "admin noscript stale", group="server")
def failover(c: Client, argv: list[bytes]) -> bytes:
    repl = _repl(c)
    target: tuple[str, int] | None = None
    timeout = 0
    force = abort = False
    i = 1
    while i < len(argv):
        opt = argv[i].lower()
        if opt == b"to" and i + 2 < len(argv) and target is None:
            port = parse_int(argv[i + 2])
            target = (argv[i + 1].decode("utf-8", "replace"), port)
            i += 3
        elif opt == b"timeout" and i + 1 < len(argv):
            timeout = parse_int(argv[i + 1])
            if timeout <= 0:
                raise CommandError("ERR FAILOVER timeout must be greater than 0")
            i += 2
        elif opt == b"force":
            force = True
            i += 1
        elif opt == b"abort":
            abort = True
            i += 1
        else:
            raise CommandError(SYNTAX)
    if abort:
        if target is not None or force or timeout:
            raise CommandError("ERR FAILOVER abort does not accept additional arguments.")  # Redis: syntax
        if repl.failover is None:
            raise CommandError("ERR No failover in progress.")
        repl.failover.abort("FAILOVER ABORT")
        return resp.OK
    repl.start_failover(target, timeout, force)
    return resp.OK
