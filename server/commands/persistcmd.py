"""Persistence commands: SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE, SHUTDOWN.

The work is in server.persistence.manager.Persistence (reached as `engine.persistence`); these
handlers parse arguments and give Redis 7.0's replies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.client import Client
from server.commands.registry import command
from server.errors import SYNTAX, CommandError
from server.protocol import resp

if TYPE_CHECKING:
    from server.persistence.manager import Persistence


def _persistence(c: Client) -> Persistence:
    p = c.engine.persistence
    if p is None:
        raise CommandError("ERR persistence is not available in this server")
    return p


@command("save", 1, "admin noscript no_async_loading no_multi", group="server")
def save(c: Client, argv: list[bytes]) -> bytes:
    p = _persistence(c)
    if p.child is not None and p.child.kind == "rdb":
        raise CommandError("ERR Background save already in progress")
    p.rdb_saves += 1
    if p.rdb_save():
        return resp.OK
    raise CommandError("ERR")


@command("bgsave", -1, "admin noscript no_async_loading", group="server")
def bgsave(c: Client, argv: list[bytes]) -> bytes:
    schedule = False
    if len(argv) > 1:
        if len(argv) == 2 and argv[1].lower() == b"schedule":
            schedule = True
        else:
            raise CommandError(SYNTAX)
    return resp.simple(_persistence(c).bgsave_command(schedule, c.in_exec))


@command("bgrewriteaof", 1, "admin noscript no_async_loading", group="server")
def bgrewriteaof(c: Client, argv: list[bytes]) -> bytes:
    return resp.simple(_persistence(c).bgrewriteaof_command(c.in_exec))


@command("lastsave", 1, "loading stale fast", group="server")
def lastsave(c: Client, argv: list[bytes]) -> bytes:
    return resp.integer(c.engine.lastsave)


@command("shutdown", -1, "admin noscript loading stale no_multi allow_busy", group="server")
def shutdown(c: Client, argv: list[bytes]) -> bytes:
    """SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]; on success the connection just closes.

    There is no wait for lagging replicas here, so NOW changes nothing and ABORT never finds a
    shutdown in progress.
    """
    nosave = save_flag = force = abort = now = False
    for a in argv[1:]:
        opt = a.lower()
        if opt == b"nosave":
            nosave = True
        elif opt == b"save":
            save_flag = True
        elif opt == b"now":
            now = True
        elif opt == b"force":
            force = True
        elif opt == b"abort":
            abort = True
        else:
            raise CommandError(SYNTAX)
    if (abort and (nosave or save_flag or now or force)) or (nosave and save_flag):
        raise CommandError(SYNTAX)
    if abort:
        raise CommandError("ERR No shutdown in progress.")
    p = _persistence(c)
    save: bool | None = False if nosave else (True if save_flag else None)
    if not p.shutdown(save=save, force=force):
        raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
    c.close_after_reply = True
    hook = c.engine.hooks.get("request_shutdown")
    if hook is not None:
        hook()
    return b""
