"""Client requests that change state: is-master-down-by-addr, FAILOVER, RESET, MONITOR, REMOVE,
SET, CONFIG SET, DEBUG, FLUSHCONFIG, SIMULATE-FAILURE. Texts are stock's.

Each handler ends with a ReplyTo action; when it changed persisted state the step also starts
with PersistState, so the reply (a vote, an +OK) is only sent once the change is durable.
"""

from __future__ import annotations

from dataclasses import replace

from sentinel.core.actions import Level, Log, ReplyTo
from sentinel.core.config import MasterConfig, atoi, check_address, is_ip, parse_int, yes_no
from sentinel.core.election import vote
from sentinel.core.failover import reset_master, run_state_machine, start_failover
from sentinel.core.glob import glob_match
from sentinel.core.info import Role
from sentinel.core.instances import is_master_down_reply
from sentinel.core.links import close_instance, event
from sentinel.core.model import Ctx, Switchover, World, new_master
from sentinel.core.replies import ErrorReply, Reply, Status
from sentinel.core.selection import select_replica, switchover_problem, switchover_target
from sentinel.core.timers import DEBUG_NAMES, set_debug

OK = Status("OK")
NO_SUCH_MASTER = ErrorReply("ERR No such master with that name")


def _reply(ctx: Ctx, request: int, reply: Reply) -> None:
    ctx.emit(ReplyTo(request, reply))


def is_master_down(w: World, ctx: Ctx, request: int, ip: str, port: int, epoch: int, runid: str) -> None:
    """Answer a peer: do we see this master SDOWN (never in TILT), and our vote if it asks."""
    master = next((m for m in w.masters.values() if m.host == ip and m.port == port), None)
    down = not w.tilt and master is not None and master.sdown
    leader: str | None = None
    leader_epoch = 0
    if master is not None and runid != "*":
        leader, leader_epoch = vote(w, ctx, master, max(0, epoch), runid)
    _reply(ctx, request, is_master_down_reply(down, leader, leader_epoch))


def failover(w: World, ctx: Ctx, request: int, name: str) -> None:
    """SENTINEL FAILOVER: start a forced failover (no election needed)."""
    m = w.masters.get(name)
    if m is None:
        _reply(ctx, request, NO_SUCH_MASTER)
        return
    if m.in_failover:
        _reply(ctx, request, ErrorReply("INPROG Failover already in progress"))
        return
    if select_replica(m, w.timers, ctx.now).chosen is None:
        _reply(ctx, request, ErrorReply("NOGOODSLAVE No suitable replica to promote"))
        return
    ctx.emit(Log(Level.NOTICE, f"Executing user requested FAILOVER of '{name}'"))
    start_failover(w, ctx, m, forced=True)
    _reply(ctx, request, OK)
    if not w.tilt:
        run_state_machine(w, ctx, m)


def switchover(
    w: World, ctx: Ctx, request: int, name: str, host: str | None, port: int | None, timeout: int
) -> None:
    """Ours: SENTINEL SWITCHOVER, a planned failover of a live master with no acknowledged-write loss.

    Checked first (nothing changes on refusal): a known master, no failover running, no TILT, the
    master reachable and reporting role master, and an eligible target (the named replica, or
    the best one). Then it is a forced failover (new epoch, no election, as SENTINEL FAILOVER)
    whose promotion is the master's own `FAILOVER TO <target> TIMEOUT <ms>` (failover.py).
    Allowed in maintenance mode: it is an operator's explicit action.
    """
    m = w.masters.get(name)
    if m is None:
        _reply(ctx, request, NO_SUCH_MASTER)
        return
    if m.in_failover:
        _reply(ctx, request, ErrorReply("INPROG Failover already in progress"))
        return
    if w.tilt:
        _reply(ctx, request, ErrorReply("TILT This sentinel is in TILT mode: try again later or ask another"))
        return
    if m.sdown or not m.cc.up or m.role_reported is not Role.MASTER:
        _reply(
            ctx,
            request,
            ErrorReply(
                "MASTERDOWN The master is not reachable as a master: a switchover needs it alive "
                "(use SENTINEL FAILOVER)"
            ),
        )
        return
    if host is not None and port is not None:
        target = m.replica_at(host, port)
        if target is None:
            _reply(ctx, request, ErrorReply(f"ERR No replica {host}:{port} known for master {name}"))
            return
        why = switchover_problem(target, m, w.timers, ctx.now)
        if why is not None:
            _reply(ctx, request, ErrorReply(f"NOGOODSLAVE Replica {target.name} cannot be promoted: {why}"))
            return
    else:
        sel = switchover_target(m, w.timers, ctx.now)
        if sel.chosen is None:
            _reply(ctx, request, ErrorReply(f"NOGOODSLAVE No suitable replica to promote ({sel.why_none()})"))
            return
        target = sel.chosen
    ctx.emit(Log(Level.NOTICE, f"Executing user requested SWITCHOVER of '{name}' to {target.name}"))
    start_failover(w, ctx, m, forced=True)
    m.switchover = Switchover(target.name, timeout)
    m.failover_kind = "switchover"
    _reply(ctx, request, OK)
    run_state_machine(w, ctx, m)


def maintenance(w: World, ctx: Ctx, request: int, name: str, on: bool) -> None:
    """Ours: SENTINEL MAINTENANCE <name> ON|OFF (`+maintenance` / `-maintenance`, persisted).

    While on, this sentinel starts no automatic failover for the master and grants no vote for
    it to another sentinel, so with a majority of sentinels paused nobody can be elected.
    Detection goes on (SDOWN/ODOWN are still shown); SENTINEL FAILOVER and SWITCHOVER still work.
    """
    m = w.masters.get(name)
    if m is None:
        _reply(ctx, request, NO_SUCH_MASTER)
        return
    if m.maintenance != on:
        m.maintenance = on
        m.delay_logged = False
        ctx.persist()
        event(w, ctx, Level.WARNING, "+maintenance" if on else "-maintenance", m, m)
    _reply(ctx, request, OK)


def reset(w: World, ctx: Ctx, request: int, pattern: str) -> None:
    """SENTINEL RESET <pattern>: reset matching masters (peers dropped too); reply the count."""
    count = 0
    for m in list(w.masters.values()):
        if glob_match(pattern, m.name):
            reset_master(w, ctx, m, drop_peers=True)
            event(w, ctx, Level.WARNING, "+reset-master", m, m)
            count += 1
    _reply(ctx, request, count)


def monitor(w: World, ctx: Ctx, request: int, name: str, ip: str, port_s: str, quorum_s: str) -> None:
    """SENTINEL MONITOR."""
    quorum = parse_int(quorum_s)
    if quorum is None:
        _reply(ctx, request, ErrorReply("ERR Invalid quorum"))
        return
    port = parse_int(port_s)
    if port is None:
        _reply(ctx, request, ErrorReply("ERR Invalid port"))
        return
    if quorum <= 0:
        _reply(ctx, request, ErrorReply("ERR Quorum must be 1 or greater."))
        return
    if not w.settings.resolve_hostnames and not is_ip(ip):
        _reply(ctx, request, ErrorReply("ERR Invalid IP address or hostname specified"))
        return
    if name in w.masters:
        _reply(ctx, request, ErrorReply("ERR Duplicate master name."))
        return
    err = check_address(ip, port, w.settings.resolve_hostnames)
    if err is not None:
        _reply(ctx, request, ErrorReply("ERR " + err))
        return
    settings = MasterConfig(
        name=name,
        host=ip,
        port=port,
        quorum=quorum,
        down_after=w.timers.default_down_after,
        failover_timeout=w.timers.default_failover_timeout,
    )
    m = new_master(settings, ctx.now)
    w.masters[name] = m
    w.removed.pop(name, None)
    ctx.persist()
    _reply(ctx, request, OK)
    event(w, ctx, Level.WARNING, "+monitor", m, m, f" quorum {quorum}")


def remove(w: World, ctx: Ctx, request: int, name: str) -> None:
    """SENTINEL REMOVE."""
    m = w.masters.get(name)
    if m is None:
        _reply(ctx, request, NO_SUCH_MASTER)
        return
    event(w, ctx, Level.WARNING, "-monitor", m, m)
    for inst in (m, *m.replicas.values(), *m.peers.values()):
        close_instance(w, ctx, inst)
    del w.masters[name]
    if m.file_snapshot is not None:
        w.removed[name] = dict(m.file_snapshot)
    ctx.persist()
    _reply(ctx, request, OK)


_DENY_SCRIPTS = (
    "ERR Reconfiguration of scripts path is denied for security reasons. Check the "
    "deny-scripts-reconfig configuration directive in your Sentinel configuration"
)


def set_options(
    w: World, ctx: Ctx, request: int, name: str, args: tuple[str, ...], executable: frozenset[str]
) -> None:
    """SENTINEL SET: options are applied in order; those before an error are kept (stock)."""
    m = w.masters.get(name)
    if m is None:
        _reply(ctx, request, NO_SUCH_MASTER)
        return
    changes = 0
    j = 0
    error: ErrorReply | None = None
    while j < len(args):
        option = args[j]
        more = len(args) - 1 - j
        low = option.lower()
        start = j
        redacted = False
        bad: str | None = None
        s = m.settings
        if low in ("down-after-milliseconds", "failover-timeout", "parallel-syncs", "quorum") and more > 0:
            j += 1
            v = parse_int(args[j])
            if v is None or v <= 0:
                bad = args[j]
            else:
                if low == "down-after-milliseconds":
                    m.settings = replace(s, down_after=v)
                elif low == "failover-timeout":
                    m.settings = replace(s, failover_timeout=v)
                elif low == "parallel-syncs":
                    m.settings = replace(s, parallel_syncs=v)
                else:
                    m.settings = replace(s, quorum=v)
        elif low in ("notification-script", "client-reconfig-script") and more > 0:
            j += 1
            value = args[j]
            if w.settings.deny_scripts_reconfig:
                error = ErrorReply(_DENY_SCRIPTS)
                break
            if value and value not in executable:
                what = (
                    "Notification script" if low == "notification-script" else "Client reconfiguration script"
                )
                error = ErrorReply(f"ERR {what} seems non existing or non executable")
                break
            if low == "notification-script":
                m.settings = replace(s, notification_script=value or None)
            else:
                m.settings = replace(s, client_reconfig_script=value or None)
        elif low in ("auth-pass", "auth-user") and more > 0:
            j += 1
            if low == "auth-pass":
                m.settings = replace(s, auth_pass=args[j] or None)
            else:
                m.settings = replace(s, auth_user=args[j] or None)
            for inst in (m, *m.replicas.values()):
                close_instance(w, ctx, inst)
            redacted = low == "auth-pass"
        elif low == "rename-command" and more > 1:
            old, new = args[j + 1], args[j + 2]
            j += 2
            if not old or not new:
                bad = old if new else new
            else:
                renames = [p for p in s.renamed_commands if p[0].lower() != old.lower()]
                if old.lower() != new.lower():
                    renames.append((old, new))
                m.settings = replace(s, renamed_commands=tuple(renames))
        elif low == "master-reboot-down-after-period" and more > 0:
            j += 1
            v = parse_int(args[j])
            if v is None or v < 0:
                bad = args[j]
            else:
                m.settings = replace(s, reboot_down_after=v)
        else:
            error = ErrorReply(f"ERR Unknown option or number of arguments for SENTINEL SET '{option}'")
            break
        if bad is not None:
            error = ErrorReply(f"ERR Invalid argument '{bad}' for SENTINEL SET '{option}'")
            break
        changes += 1
        shown = args[start + 1 : j + 1]
        if redacted:
            shown = ("******",)
        event(w, ctx, Level.WARNING, "+set", m, m, " " + " ".join((option, *shown)))
        j += 1
    if changes:
        ctx.persist()
    _reply(ctx, request, error if error is not None else OK)


_CONFIG_SET_PARAMS = (
    "resolve-hostnames",
    "announce-hostnames",
    "announce-ip",
    "announce-port",
    "sentinel-user",
    "sentinel-pass",
    "loglevel",
)
_LOGLEVELS = ("debug", "verbose", "notice", "warning", "nothing")


def config_set(w: World, ctx: Ctx, request: int, args: tuple[str, ...]) -> None:
    """SENTINEL CONFIG SET p v [p v ...]: everything is checked before anything is applied."""
    if not args or len(args) % 2:
        _reply(ctx, request, ErrorReply("ERR wrong number of arguments for 'sentinel|config' command"))
        return
    pairs = [(args[i].lower(), args[i], args[i + 1]) for i in range(0, len(args), 2)]
    seen: set[str] = set()
    for low, orig, value in pairs:
        if low not in _CONFIG_SET_PARAMS:
            _reply(ctx, request, ErrorReply(f"ERR Invalid argument '{orig}' to SENTINEL CONFIG SET"))
            return
        if low in seen:
            _reply(ctx, request, ErrorReply(f"ERR Duplicate argument '{orig}' to SENTINEL CONFIG SET"))
            return
        seen.add(low)
        ok = True
        if low in ("resolve-hostnames", "announce-hostnames"):
            ok = yes_no(value) is not None
        elif low == "announce-port":
            v = parse_int(value)
            ok = v is not None and 0 <= v <= 65535
        elif low == "loglevel":
            ok = value.lower() in _LOGLEVELS
        if not ok:
            _reply(ctx, request, ErrorReply(f"ERR Invalid value '{value}' to SENTINEL CONFIG SET '{orig}'"))
            return
    s = w.settings
    drop = False
    for low, _orig, value in pairs:
        if low == "resolve-hostnames":
            s.resolve_hostnames = bool(yes_no(value))
        elif low == "announce-hostnames":
            s.announce_hostnames = bool(yes_no(value))
        elif low == "announce-ip":
            s.announce_ip = value or None
        elif low == "announce-port":
            s.announce_port = atoi(value)
        elif low == "sentinel-user":
            s.sentinel_user = value or None
            drop = True
        elif low == "sentinel-pass":
            s.sentinel_pass = value or None
            drop = True
        elif low == "loglevel":
            s.loglevel = value.lower()
    ctx.persist()
    _reply(ctx, request, OK)
    if drop:
        for m in w.masters.values():
            for p in m.peers.values():
                close_instance(w, ctx, p)


def debug(w: World, ctx: Ctx, request: int, args: tuple[str, ...]) -> None:
    """SENTINEL DEBUG p v [p v ...]: positive integers only; all checked, then applied."""
    if len(args) % 2:
        _reply(
            ctx,
            request,
            ErrorReply(f"ERR Unknown option or number of arguments for SENTINEL DEBUG '{args[-1]}'"),
        )
        return
    values: list[tuple[str, int]] = []
    for i in range(0, len(args), 2):
        name, raw = args[i], args[i + 1]
        if name.lower() not in DEBUG_NAMES:
            _reply(
                ctx,
                request,
                ErrorReply(f"ERR Unknown option or number of arguments for SENTINEL DEBUG '{name}'"),
            )
            return
        v = parse_int(raw)
        if v is None or v <= 0:
            _reply(ctx, request, ErrorReply(f"ERR Invalid argument '{raw}' for SENTINEL DEBUG '{name}'"))
            return
        values.append((name, v))
    for name, v in values:
        set_debug(w.timers, name, v)
    _reply(ctx, request, OK)


def flushconfig(ctx: Ctx, request: int) -> None:
    """SENTINEL FLUSHCONFIG: persist, then +OK."""
    ctx.persist()
    _reply(ctx, request, OK)


SIMULATE_FLAGS = ("crash-after-election", "crash-after-promotion")


def simulate_failure(w: World, ctx: Ctx, request: int, flags: tuple[str, ...]) -> None:
    """SENTINEL SIMULATE-FAILURE: arm crash points (a Crash action fires there)."""
    chosen: set[str] = set()
    for f in flags:
        low = f.lower()
        if low in SIMULATE_FLAGS:
            chosen.add(low)
        elif low == "help":
            _reply(ctx, request, list(SIMULATE_FLAGS))
            return
        else:
            _reply(ctx, request, ErrorReply("ERR Unknown failure simulation specified"))
            return
    w.simulate_failure = chosen
    _reply(ctx, request, OK)
