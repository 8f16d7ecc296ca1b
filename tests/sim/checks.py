"""The invariants, checked as the simulation runs (a violation stops the run at once), and the
open findings that explain some violations (`KNOWN`, docs/simulation.md#findings).

| kind | invariant | checked |
|---|---|---|
| `persist-first` | PersistState at most once per step, always first | every core step |
| `two-leaders` | at most one leader (`+elected-leader`) per failover epoch | every executed event |
| `double-vote` | a sentinel votes for at most one candidate per epoch, across restarts | every executed `+vote-for-leader` |
| `epoch-reused` | a sentinel's failover epochs (`+try-failover`) strictly increase, across restarts | every executed `+try-failover` |
| `epoch-decreased` | a core's current epoch never decreases while it runs, and a restart starts from the last durable epoch | every step, every boot |
| `config-epoch` | one config epoch names one master address, across all sentinels | every step |
| `vote-not-durable` | a vote (in a reply) or a vote request (asking in epoch e) leaves only when the state file already holds it | every executed ReplyTo / SendCommand |
| `two-vip-holders` | at most one host holds the VIP at any instant | after every step and server event |
| `two-writable-masters` | at most one server accepts writes at any instant (role master, min-replicas fence, lease gate) | after every step and server event |
| `hooks-overlap` | client-reconfig hooks of one host never run their critical sections concurrently | every hook start |
| `lost-write` | every write acknowledged by `WAIT 1` is in the final master's data (one-fault profile) | end of run |
| `no-convergence` | after the heal, the majority converges within the liveness bound | liveness phase |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentinel.core import PersistState, SentinelState
from sentinel.core.actions import Action
from sentinel.core.events import Event

if TYPE_CHECKING:
    from tests.sim.runtime import HookJob, SentinelProc
    from tests.sim.world import World

MASTER_NAME = "mymaster"


KNOWN: dict[str, str] = {}
"""Open findings (docs/simulation.md, tests/sim/test_findings.py): a violation explained by one
of them is reported by the sweep under its name instead of failing it."""

CLOSED = {
    "F1": "the old master acknowledged writes after the new master's offsets were read; fixed: "
    "the other replicas are repointed at the chosen one before its promotion (core detach.py)",
    "F2": "a replica reporting role:master (an interrupted promotion) was ranked with offset 0; "
    "fixed: ranked at its offset in the master's history (selection.ranking_offset)",
    "F3": "no failover ever: every replica 'disconnected too long' measured from a recent SDOWN; "
    "fixed: the link age is measured from when the master was last known up "
    "(selection.link_down_limit)",
    "F5": "no failover ever: a lone replica nobody could date while the supervisor held the crashed "
    "master back; fixed: the supervisor's hint carries the exit time (hint.note_exit, "
    "selection.link_down_limit)",
    "F4": "with the core's VIP rule, a holder whose sentinel was stalled past T_lease + margin kept "
    "the address; fixed: the address carries a kernel lifetime renewed with the lease "
    "(ownership.address_deadline)",
}
"""Closed findings: their signature no longer excuses a violation (a recurrence fails the
sweep, with the finding named in the message)."""


class Violation(AssertionError):
    """An invariant failed (`known`: the open finding that explains it, if any)."""

    def __init__(self, kind: str, message: str, known: str = "") -> None:
        if known in CLOSED:
            message += f" [like closed finding {known}: {CLOSED[known]}]"
            known = ""
        super().__init__(f"{kind}: {message}" + (f" [known {known}: {KNOWN[known]}]" if known else ""))
        self.kind = kind
        self.message = message
        self.known = known


class Checks:
    """State needed to check the invariants over a whole run."""

    direct_vote_checks = True
    """The per-sentinel vote checks (`double-vote`, `vote-not-durable`). A test turns them off
    to show that the planted vote bugs are also found by their consequences (two leaders)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.leaders: dict[int, str] = {}
        self.votes: dict[tuple[str, int], str] = {}
        self.last_try: dict[str, int] = {}
        self.mem_epoch: dict[str, int] = {}
        self.durable_epoch: dict[str, int] = {}
        self.config_masters: dict[int, tuple[str, int]] = {}
        self.hook_active: dict[str, HookJob | None] = {}
        self._parsed: dict[str, SentinelState] = {}
        self.stats: dict[str, int] = {
            "elections": 0,
            "votes": 0,
            "tilts": 0,
            "switches": 0,
            "hooks": 0,
        }

    def fail(self, kind: str, message: str, known: str = "") -> None:
        """Record and raise a violation."""
        self.world.trace("-", f"VIOLATION {kind}: {message}" + (f" [{known}]" if known else ""))
        raise Violation(kind, message, known)

    # --- per step -----------------------------------------------------------------------------

    def after_step(self, proc: SentinelProc, ev: Event, actions: list[Action]) -> None:
        """Persist-first, epochs, config epochs."""
        persists = [i for i, a in enumerate(actions) if isinstance(a, PersistState)]
        if persists not in ([], [0]):
            self.fail("persist-first", f"{proc.host}: PersistState at {persists} in {actions!r}")
        core = proc.core
        assert core is not None
        w = core.world
        host = proc.host
        prev = self.mem_epoch.get(host, 0)
        if w.current_epoch < prev:
            self.fail("epoch-decreased", f"{host}: current epoch {w.current_epoch} after {prev}")
        self.mem_epoch[host] = w.current_epoch
        m = w.masters.get(MASTER_NAME)
        if m is not None and m.config_epoch > 0:
            known = self.config_masters.get(m.config_epoch)
            if known is None:
                self.config_masters[m.config_epoch] = m.addr
            elif known != m.addr:
                self.fail(
                    "config-epoch",
                    f"{host}: config epoch {m.config_epoch} names {m.addr}, elsewhere {known}",
                )

    def on_boot(self, proc: SentinelProc, state: SentinelState | None) -> None:
        """A restart starts from the last durable epoch (and the in-memory check restarts)."""
        host = proc.host
        epoch = state.current_epoch if state is not None else 0
        durable = self.durable_epoch.get(host, 0)
        if epoch < durable:
            self.fail("epoch-decreased", f"{host}: restarted at epoch {epoch}, the file had {durable}")
        self.mem_epoch[host] = epoch

    def on_durable(self, proc: SentinelProc, state: str) -> None:
        """A state write completed."""
        st = self._parse(state)
        self.durable_epoch[proc.host] = st.current_epoch

    def _parse(self, text: str) -> SentinelState:
        st = self._parsed.get(text)
        if st is None:
            if len(self._parsed) > 64:
                self._parsed.clear()
            st = SentinelState.from_json(text)
            self._parsed[text] = st
        return st

    # --- executed actions ---------------------------------------------------------------------

    def on_event(self, proc: SentinelProc, event: str, payload: str) -> None:
        """An executed Publish."""
        core = proc.core
        assert core is not None
        myid = core.myid
        host = proc.host
        if event == "+elected-leader":
            epoch = core.world.masters[MASTER_NAME].failover_epoch
            self.stats["elections"] += 1
            other = self.leaders.setdefault(epoch, myid)
            if other != myid:
                self.fail("two-leaders", f"epoch {epoch}: {other[:8]} and {myid[:8]} ({host})")
        elif event == "+vote-for-leader" and self.direct_vote_checks:
            runid, epoch_s = payload.split()
            epoch = int(epoch_s)
            self.stats["votes"] += 1
            prev = self.votes.setdefault((myid, epoch), runid.lower())
            if prev != runid.lower():
                self.fail("double-vote", f"{host} voted for {prev[:8]} and {runid[:8]} in epoch {epoch}")
        elif event == "+try-failover":
            epoch = core.world.masters[MASTER_NAME].failover_epoch
            last = self.last_try.get(myid, 0)
            if epoch <= last:
                self.fail("epoch-reused", f"{host}: failover in epoch {epoch} after one in {last}")
            self.last_try[myid] = epoch
        elif event == "+tilt":
            self.stats["tilts"] += 1
        elif event == "+switch-master":
            self.stats["switches"] += 1

    def on_send(self, proc: SentinelProc, argv: tuple[str, ...]) -> None:
        """A command leaves: a vote request must be in an epoch already on disk."""
        if self.direct_vote_checks and len(argv) == 6 and argv[0] == "SENTINEL" and argv[5] != "*":
            epoch = int(argv[4])
            durable = self._parse(proc.durable).current_epoch if proc.durable else 0
            if durable < epoch:
                self.fail(
                    "vote-not-durable",
                    f"{proc.host} asks for votes in epoch {epoch}, its state file has epoch {durable}",
                )

    def on_reply(self, proc: SentinelProc, reply: Any) -> None:
        """A reply leaves: a vote it carries must be on disk."""
        if not self.direct_vote_checks or not (
            isinstance(reply, list) and len(reply) == 3 and reply[1] != "*"
        ):
            return
        leader, epoch = str(reply[1]), int(reply[2])
        st = self._parse(proc.durable) if proc.durable else None
        ms = st.masters.get(MASTER_NAME) if st is not None else None
        ok = ms is not None and (
            ms.leader_epoch > epoch
            or (ms.leader_epoch == epoch and (ms.leader or "").lower() == leader.lower())
        )
        if not ok:
            have = (ms.leader, ms.leader_epoch) if ms is not None else None
            self.fail(
                "vote-not-durable",
                f"{proc.host} sends its vote for {leader[:8]} in epoch {epoch}; the file has {have}",
            )

    # --- instants -----------------------------------------------------------------------------

    def instant(self) -> None:
        """At most one VIP holder and one write-accepting master, now."""
        w = self.world
        holders = [h for h in w.host_names if w.vip.holds(h)]
        if len(holders) > 1:
            self.fail("two-vip-holders", f"{holders} hold the VIP")
        writable = [s.host for s in w.servers.values() if w.write_accepting(s)]
        if len(writable) > 1:
            self.fail("two-writable-masters", f"servers on {writable} accept writes")

    # --- hooks --------------------------------------------------------------------------------

    def hook_enter(self, host: str, h: HookJob) -> None:
        """A hook starts its work on `host`."""
        cur = self.hook_active.get(host)
        if cur is not None:
            self.fail(
                "hooks-overlap",
                f"{host}: hook pid {h.pid} {h.argv[3:]} starts while pid {cur.pid} {cur.argv[3:]} runs",
            )
        self.hook_active[host] = h
        self.stats["hooks"] += 1

    def hook_leave(self, host: str, h: HookJob) -> None:
        """A hook's work ended (exit or kill)."""
        if self.hook_active.get(host) is h:
            self.hook_active[host] = None

    # --- end of run ---------------------------------------------------------------------------

    def final_writes(self, master_history: list[int], acked: list[int]) -> None:
        """Every WAIT 1 acknowledged write is in the final master's data."""
        have = set(master_history)
        missing = [wid for wid in acked if wid not in have]
        if missing:
            causes = {self.world.loss_cause(wid) for wid in missing}
            known = causes.pop() if len(causes) == 1 else ""
            self.fail(
                "lost-write",
                f"{len(missing)} of {len(acked)} WAIT-1 acknowledged writes missing from the final "
                f"master, first {missing[:5]}",
                known,
            )
