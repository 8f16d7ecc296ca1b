"""Ours: `SENTINEL IS-MASTER-DOWN-HINT <name> <ip> <port> [EXITED-MS-AGO <ms>]`, "this master
process is gone" (and, when the supervisor saw it exit, how long ago).

Sent by the host's supervisor (`hasentinel supervise`, docs/operations.md) when it holds back a
crashed master that must not come back as master (an empty dataset would wipe its replicas).
The hint is never trusted blindly: it starts a check of our own, and only our own link decides.

* **Accepted** (`+OK`) when the name is known, `<ip> <port>` is the address we monitor as its
  master, and we are not in TILT. Otherwise an error and nothing changes: `-ERR No such master
  with that name`, `-ERR master address mismatch ...`, `-TILT ...`. A hint for a master already
  SDOWN, failing over, or with a check running changes nothing and answers `+OK` (idempotent:
  the supervisor repeats it at every retry of its hold).
* **The check** (`+master-down-hint ... #checking <bound> ms`): a PING now on the command link
  if it is up, else a connection attempt now (the reconnect throttle is bypassed once per
  check; an attempt already in flight is awaited instead).
* **Confirmed** if, after the hint, our command link to the master fails (refused, reset, lost)
  or no valid PING reply (+PONG, -LOADING, -MASTERDOWN, as in monitor.py) arrives within the
  bound, min(down-after, HINT_CHECK_MAX): the master is SDOWN at once (`+sdown`, the reason in
  the log) instead of after down-after of silence, and we ask the peers is-master-down-by-addr
  at once, as on any SDOWN. ODOWN still needs the quorum, the failover still needs the majority
  vote: only the start of our own SDOWN moves.
* **Ignored** (`-master-down-hint ... #master answered PING: hint ignored`) if a valid reply
  arrives first (any valid reply received after the hint counts, even to an older PING: the
  hint must never make a live master down).

* **The exit time** (EXITED-MS-AGO, from a supervisor that saw its server exit): kept as
  `Master.exit_reported` for the master's current address, whatever else the hint does (also
  when the master is SDOWN already). It is evidence that the master was up until then, which
  the replica selection's master-link age rule needs when nothing else dates the master
  (selection.py): a sentinel restarted after the master died, with a lone replica, could
  otherwise never promote it, while the supervisor holds the master back waiting for exactly
  that failover. The supervisor reports the moment it saw the exit, the latest the process can
  have been up, so the evidence never makes a replica look fresher than it is by more than the
  hint's transit time.

The confirmed state ends with the next valid PING reply (then `-sdown` as usual) or with any
change of the master's address (failover, SENTINEL RESET: the address generation changes).
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.core.actions import Channel, Level, Log, ReplyTo
from sentinel.core.detect import check_sdown
from sentinel.core.election import ask_peers
from sentinel.core.failover import evaluate
from sentinel.core.links import event, open_link, send_ping
from sentinel.core.model import Ctx, Instance, Master, World
from sentinel.core.replies import ErrorReply, Status

HINT_CHECK_MAX = 1_000
"""Upper bound (ms) of the hint's PING check; the bound is min(down-after, this). A live master
answers PING in well under a millisecond, so 1 s is a wide margin for a loaded host; with a
down-after below it, ordinary detection is as fast and the check never waits longer."""

_EVENT = "+master-down-hint"
_IGNORED = "-master-down-hint"


@dataclass(slots=True)
class HintCheck:
    """A running (or confirmed) check started by a hint, for one address of one master."""

    started: int
    """When the hint arrived: only observations after it count."""
    deadline: int
    """started + bound: no valid PING reply by then confirms the hint."""
    generation: int
    """The master's address generation when the hint arrived (an address change voids it)."""
    link_failed: bool = False
    """Our command link to the master failed or was lost after the hint."""
    confirmed: int | None = None
    """When the check confirmed the hint (the master is SDOWN from then on, until it answers)."""


def check_bound(master: Master) -> int:
    """How long the check waits for a valid PING reply: min(down-after, HINT_CHECK_MAX)."""
    return max(1, min(master.down_after, HINT_CHECK_MAX))


def _running(master: Master) -> HintCheck | None:
    h = master.hint
    if h is None or h.generation != master.addr_generation or h.confirmed is not None:
        return None
    return h


def on_hint(
    w: World, ctx: Ctx, request: int, name: str, ip: str, port: int, exited_ms_ago: int | None = None
) -> None:
    """SENTINEL IS-MASTER-DOWN-HINT: check the request, start a check, answer at once."""
    m = w.masters.get(name)
    if m is None:
        ctx.emit(ReplyTo(request, ErrorReply("ERR No such master with that name")))
        return
    if ip.lower() != m.host.lower() or port != m.port:
        ctx.emit(
            ReplyTo(
                request,
                ErrorReply(f"ERR master address mismatch: {name} is at {m.host}:{m.port}, not {ip}:{port}"),
            )
        )
        return
    if w.tilt:
        ctx.emit(
            ReplyTo(request, ErrorReply("TILT This sentinel is in TILT mode: hint ignored, try again later"))
        )
        return
    ok = ReplyTo(request, Status("OK"))
    if exited_ms_ago is not None:
        note_exit(m, ctx.now - exited_ms_ago)
    if m.sdown or m.in_failover or _running(m) is not None:
        why = (
            "already subjectively down"
            if m.sdown
            else "failover in progress"
            if m.in_failover
            else "check running"
        )
        ctx.emit(Log(Level.DEBUG, f"master-down hint for {name} {m.host} {m.port}: nothing to do ({why})"))
        ctx.emit(ok)
        return
    bound = check_bound(m)
    m.hint = HintCheck(started=ctx.now, deadline=ctx.now + bound, generation=m.addr_generation)
    event(w, ctx, Level.NOTICE, _EVENT, m, m, f" #checking {bound} ms")
    ctx.emit(ok)
    cc = m.cc
    if cc.up:
        send_ping(w, ctx, m, m)
    elif cc.id is None:
        cc.last_attempt = ctx.now  # counts as the link's attempt for the reconnect throttle
        open_link(w, ctx, m, Channel.CMD)
    # else: a connection attempt is in flight; its LinkUp (then PING) or LinkDown decides
    progress(w, ctx, m)


def note_exit(m: Master, at: int) -> None:
    """Keep the latest exit time reported for the master's current address (selection.py uses
    it as evidence of when the master was last up; a later report only narrows it)."""
    prev = m.exit_reported
    if prev is not None and prev[0] == m.addr_generation:
        at = max(at, prev[1])
    m.exit_reported = (m.addr_generation, at)


def on_link_down(inst: Instance, channel: Channel) -> None:
    """Our command link to a master with a running check failed: the check confirms the hint."""
    if channel is Channel.CMD and isinstance(inst, Master):
        h = _running(inst)
        if h is not None:
            h.link_failed = True


def progress(w: World, ctx: Ctx, m: Master) -> None:
    """Conclude a running check if an observation decides it (after every step)."""
    h = m.hint
    if h is None:
        return
    if h.generation != m.addr_generation or m.last_avail_time >= h.started:
        m.hint = None  # the address moved, or the master answered (a confirmed hint ends here too)
        if h.confirmed is None and h.generation == m.addr_generation:
            event(w, ctx, Level.NOTICE, _IGNORED, m, m, " #master answered PING: hint ignored")
        return
    if h.confirmed is not None:
        return
    if h.link_failed:
        reason = "our connection to it failed"
    elif ctx.now >= h.deadline:
        reason = f"no valid PING reply within {h.deadline - h.started} ms"
    else:
        return
    h.confirmed = ctx.now
    ctx.emit(
        Log(
            Level.WARNING,
            f"master-down hint for master {m.name} {m.host} {m.port} confirmed ({reason}): "
            f"subjectively down now, without waiting down-after-milliseconds ({m.down_after} ms)",
        )
    )
    if not w.tilt and check_sdown(w, ctx, m, m):
        ask_peers(w, ctx, m, forced=True)
        evaluate(w, ctx, m)


def progress_all(w: World, ctx: Ctx) -> None:
    """`progress` for every master with a check (cheap: most have none)."""
    for m in list(w.masters.values()):
        if m.hint is not None:
            progress(w, ctx, m)


def next_deadline(w: World) -> int | None:
    """The earliest deadline of a running check (the core asks for a tick then)."""
    due = [h.deadline for m in w.masters.values() if (h := _running(m)) is not None]
    return min(due) if due else None
