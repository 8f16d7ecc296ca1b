"""The supervisor's sans-IO policy: back-off, crash loop, health, stop order, the empty-master rule.

A `Harness` drives one `SupervisorPolicy` with a fake clock, answers `Spawn` at once (as the
driver does) and keeps every action with the time it was returned.
"""

from __future__ import annotations

import itertools
import signal
from typing import Any

import pytest

from sentinel.supervisor.policy import (
    Action,
    AsConfigured,
    AsMaster,
    Assess,
    Assessed,
    Child,
    DatasetState,
    Event,
    Exit,
    Exited,
    HealthSettings,
    Hint,
    HoldServer,
    Kill,
    Log,
    MasterView,
    NotifyReady,
    NotifyStatus,
    NotifyStopping,
    NotifyWatchdog,
    Phase,
    Probe,
    ProbeResult,
    ReplicaData,
    ReplicaOf,
    RestartSettings,
    SendSignal,
    SignalReceived,
    Spawn,
    Spawned,
    SpawnFailed,
    Start,
    StartServer,
    StopSettings,
    SupervisorPolicy,
    Tick,
    decide_server_start,
)

SELF = ("10.0.0.1", 6379)
OTHER = ("10.0.0.2", 6379)
EMPTY = DatasetState(True, "no file dump.rdb")
DATA = DatasetState(False, "keys in dump.rdb")


def view(addr: tuple[str, int] | None, replicas: int = 1, epoch: int = 1, answered: int = 3) -> MasterView:
    return MasterView(addr, config_epoch=epoch, replicas=replicas, answered=answered, asked=3)


class Harness:
    def __init__(self, **kw: Any) -> None:
        kw.setdefault(
            "restart",
            RestartSettings(initial_delay=1, max_delay=8, multiplier=2, stable_after=30, crash_loop_limit=5),
        )
        kw.setdefault("health", HealthSettings(interval=1, start_timeout=20, hang_timeout=5, probe_timeout=1))
        kw.setdefault("stop", StopSettings(sentinel=3, server=10))
        self.p = SupervisorPolicy(self_addr=SELF, **kw)
        self.now = 0.0
        self.pids = itertools.count(100)
        self.log: list[tuple[float, Action]] = []
        self.pid: dict[Child, int] = {}

    def feed(self, ev: Event) -> list[Action]:
        out: list[Action] = []
        queue = [ev]
        while queue:
            acts = self.p.step(self.now, queue.pop(0))
            for a in acts:
                self.log.append((self.now, a))
                out.append(a)
                if isinstance(a, Spawn):
                    pid = next(self.pids)
                    self.pid[a.child] = pid
                    queue.append(Spawned(a.child, pid))
        return out

    def advance(self, to: float) -> list[Action]:
        """Tick at every deadline up to `to` (answering nothing else)."""
        out: list[Action] = []
        while True:
            d = self.p.next_deadline()
            if d is None or d > to:
                break
            self.now = max(self.now, d)
            out += self.feed(Tick())
        self.now = max(self.now, to)
        return out

    def answer_probes(self, acts: list[Action], ok: bool = True) -> list[Action]:
        out: list[Action] = []
        for a in acts:
            if isinstance(a, Probe):
                out += self.feed(ProbeResult(a.child, a.pid, ok))
        return out

    def boot(self, v: MasterView | None = None, ds: DatasetState = DATA) -> None:
        """Start, answer the first assessment, bring both children up."""
        acts = self.feed(Start())
        token = next(a.token for a in acts if isinstance(a, Assess))
        self.feed(Assessed(token, v or view(SELF, replicas=0), ds))
        self.bring_up()

    def bring_up(self) -> None:
        for _ in range(50):
            acts = self.advance(self.now + 0.1)
            self.answer_probes(acts)
            if all(self.p.children[c].phase is Phase.UP for c in Child):
                return
        raise AssertionError("children not up")

    def crash(self, child: Child, rc: int = -9) -> list[Action]:
        return self.feed(Exited(child, self.pid[child], rc))

    def of(self, kind: type, acts: list[Action] | None = None) -> list[Any]:
        src = [a for _, a in self.log] if acts is None else acts
        return [a for a in src if isinstance(a, kind)]

    def assess_token(self, acts: list[Action]) -> int:
        return next(a.token for a in acts if isinstance(a, Assess))


# --- back-off ----------------------------------------------------------------------------------


def test_backoff_sequence_is_exponential_and_capped() -> None:
    r = RestartSettings(initial_delay=0.5, max_delay=30, multiplier=2)
    assert [r.delay(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert RestartSettings(initial_delay=1, max_delay=1, multiplier=3).delay(5) == 1
    assert RestartSettings(initial_delay=2, multiplier=1).delay(7) == 2
    assert r.delay(10_000) == 30  # no overflow for long crash streaks


def test_sentinel_restarts_follow_the_backoff() -> None:
    h = Harness(
        restart=RestartSettings(
            initial_delay=1, max_delay=5, multiplier=2, stable_after=30, crash_loop_limit=10
        )
    )
    h.boot()
    delays = []
    for _ in range(5):
        died = h.now
        h.crash(Child.SENTINEL)
        acts = h.advance(h.now + 10)
        spawn_at = next(
            t for t, a in h.log if isinstance(a, Spawn) and a.child is Child.SENTINEL and t > died
        )
        delays.append(spawn_at - died)
        h.answer_probes(acts)
    assert delays == [1, 2, 4, 5, 5]
    logs = [a for _, a in h.log if isinstance(a, Log) and a.message.startswith("child ended")]
    assert [x.fields["consecutive_crashes"] for x in logs] == [1, 2, 3, 4, 5]
    assert [x.fields["delay"] for x in logs] == [1, 2, 4, 5, 5]


def test_stable_uptime_resets_the_count() -> None:
    h = Harness()
    h.boot()
    h.crash(Child.SENTINEL)
    h.answer_probes(h.advance(h.now + 1.5))
    h.crash(Child.SENTINEL)  # second quick crash: 2 s
    h.answer_probes(h.advance(h.now + 2.5))
    assert h.p.children[Child.SENTINEL].crashes == 2
    # a long healthy run...
    for _ in range(40):
        h.answer_probes(h.advance(h.now + 1))
    h.crash(Child.SENTINEL)
    last = [a for _, a in h.log if isinstance(a, Log) and a.message.startswith("child ended")][-1]
    assert last.fields["consecutive_crashes"] == 1
    assert last.fields["delay"] == 1


def test_crash_loop_limit_stops_everything_and_exits_3() -> None:
    h = Harness(restart=RestartSettings(initial_delay=1, max_delay=8, stable_after=30, crash_loop_limit=3))
    h.boot()
    h.crash(Child.SENTINEL, rc=1)
    h.answer_probes(h.advance(h.now + 1))
    h.crash(Child.SENTINEL, rc=1)
    h.answer_probes(h.advance(h.now + 2))
    acts = h.crash(Child.SENTINEL, rc=1)
    assert any(isinstance(a, Log) and a.level == "critical" and "crash loop" in a.message for a in acts)
    assert NotifyStopping() in acts
    # the server is stopped (the sentinel is already gone), then the supervisor exits 3
    assert SendSignal(Child.SERVER, h.pid[Child.SERVER], signal.SIGTERM) in acts
    status = [a.text for a in acts if isinstance(a, NotifyStatus)][-1]
    assert status.startswith("crash loop: sentinel ended 3 times in a row") and "exit code 1" in status
    acts = h.crash(Child.SERVER, rc=0)
    assert acts[-1] == Exit(3)
    assert h.p.next_deadline() is None
    # no restart was scheduled after the limit
    assert len([a for a in h.of(Spawn) if a.child is Child.SENTINEL]) == 3


def test_spawn_failure_counts_as_a_crash() -> None:
    h = Harness()
    h.boot()
    h.crash(Child.SENTINEL)
    p = h.p
    # the driver failed to exec at the next start
    acts = p.step(h.now + 1, Tick())
    assert Spawn(Child.SENTINEL, None) in acts
    h.now += 1
    acts = h.feed(SpawnFailed(Child.SENTINEL, "No such file or directory"))
    assert p.children[Child.SENTINEL].crashes == 2
    assert p.children[Child.SENTINEL].phase is Phase.BACKOFF
    assert "could not be started" in p.children[Child.SENTINEL].last_exit


# --- health ------------------------------------------------------------------------------------


def test_child_that_never_answers_is_killed_at_start_timeout() -> None:
    h = Harness()
    h.feed(Start())
    acts = h.advance(19.9)
    h.answer_probes(acts, ok=False)
    assert not h.of(Kill)
    acts = h.advance(20.0)
    assert Kill(Child.SENTINEL, h.pid[Child.SENTINEL]) in acts
    # and then it is a crash like any other
    acts = h.crash(Child.SENTINEL)
    assert h.p.children[Child.SENTINEL].phase is Phase.BACKOFF


def test_hung_child_is_killed_after_hang_timeout() -> None:
    h = Harness()
    h.boot()
    t0 = h.now
    kills: list[Action] = []
    while h.now < t0 + 10 and not kills:
        acts = h.advance(h.now + 0.5)
        kills = [a for a in acts if isinstance(a, Kill)]
        for a in acts:
            if isinstance(a, Probe):
                h.feed(ProbeResult(a.child, a.pid, a.child is Child.SENTINEL))
    assert kills == [Kill(Child.SERVER, h.pid[Child.SERVER])]
    last_ok = h.p.children[Child.SERVER].last_ok
    assert h.now - last_ok == pytest.approx(5, abs=0.01)
    # one kill only, and no more probes of it
    acts = h.advance(h.now + 3)
    assert not [a for a in acts if isinstance(a, (Kill, Probe)) and a.child is Child.SERVER]


def test_late_probe_results_of_a_dead_child_are_ignored() -> None:
    h = Harness()
    h.boot()
    old = h.pid[Child.SENTINEL]
    h.crash(Child.SENTINEL)
    h.advance(h.now + 1)
    h.feed(ProbeResult(Child.SENTINEL, old, True))
    assert h.p.children[Child.SENTINEL].phase is Phase.STARTING


# --- readiness, watchdog, status ---------------------------------------------------------------


def test_ready_once_both_children_answer() -> None:
    h = Harness()
    acts = h.feed(Start())
    assert [a for a in acts if isinstance(a, (Spawn, Assess))] == [Spawn(Child.SENTINEL, None), Assess(1)]
    h.feed(Assessed(1, view(SELF, replicas=0), DATA))
    assert not h.of(NotifyReady)
    # only the sentinel answers
    for _ in range(5):
        for a in h.advance(h.now + 0.1):
            if isinstance(a, Probe):
                h.feed(ProbeResult(a.child, a.pid, a.child is Child.SENTINEL))
    assert not h.of(NotifyReady)
    h.bring_up()
    assert len(h.of(NotifyReady)) == 1
    assert h.of(NotifyStatus)[-1].text.startswith("server up as master (pid")


def test_ready_when_the_server_is_held_on_purpose() -> None:
    h = Harness()
    acts = h.feed(Start())
    h.feed(Assessed(h.assess_token(acts), view(SELF, replicas=2), EMPTY))
    for _ in range(5):
        h.answer_probes(h.advance(h.now + 0.1))
    assert h.p.children[Child.SERVER].phase is Phase.HELD
    assert len(h.of(NotifyReady)) == 1
    assert (
        "server held: this server is the sentinels' master and its dataset is empty"
        in h.of(NotifyStatus)[-1].text
    )


def test_watchdog_every_interval_while_running() -> None:
    h = Harness(watchdog_interval=2.0)
    h.boot()
    start = len(h.of(NotifyWatchdog))
    for _ in range(10):
        h.answer_probes(h.advance(h.now + 1))
    assert len(h.of(NotifyWatchdog)) - start == 5
    times = [t for t, a in h.log if isinstance(a, NotifyWatchdog)]
    assert all(b - a == pytest.approx(2.0) for a, b in itertools.pairwise(times))


def test_no_watchdog_without_interval() -> None:
    h = Harness()
    h.boot()
    h.advance(h.now + 20)
    assert not h.of(NotifyWatchdog)


def test_status_changes_only_with_state() -> None:
    h = Harness()
    h.boot()
    n = len(h.of(NotifyStatus))
    for _ in range(10):
        h.answer_probes(h.advance(h.now + 1))
    assert len(h.of(NotifyStatus)) == n
    h.crash(Child.SERVER)
    assert len(h.of(NotifyStatus)) == n + 1


# --- signals and stop order --------------------------------------------------------------------


def test_stop_stops_the_sentinel_before_the_server() -> None:
    h = Harness()
    h.boot()
    s, v = h.pid[Child.SENTINEL], h.pid[Child.SERVER]
    acts = h.feed(SignalReceived(signal.SIGTERM))
    assert NotifyStopping() in acts
    sigs = [a for a in acts if isinstance(a, SendSignal)]
    assert sigs == [SendSignal(Child.SENTINEL, s, signal.SIGTERM)]
    acts = h.advance(h.now + 1)
    assert not [a for a in acts if isinstance(a, (SendSignal, Kill, Probe, Spawn, Assess))]
    acts = h.crash(Child.SENTINEL, rc=0)
    assert [a for a in acts if isinstance(a, SendSignal)] == [SendSignal(Child.SERVER, v, signal.SIGTERM)]
    acts = h.crash(Child.SERVER, rc=0)
    assert acts[-1] == Exit(0)
    # nothing is restarted during or after the stop
    assert len(h.of(Spawn)) == 2


def test_stop_kills_a_child_that_overstays_its_grace() -> None:
    h = Harness()
    h.boot()
    t0 = h.now
    h.feed(SignalReceived(signal.SIGINT))
    acts = h.advance(t0 + 2.9)
    assert not [a for a in acts if isinstance(a, Kill)]
    acts = h.advance(t0 + 3.0)
    assert [a for a in acts if isinstance(a, Kill)] == [Kill(Child.SENTINEL, h.pid[Child.SENTINEL])]
    acts = h.crash(Child.SENTINEL)
    assert SendSignal(Child.SERVER, h.pid[Child.SERVER], signal.SIGTERM) in acts
    acts = h.advance(h.now + 10)
    assert Kill(Child.SERVER, h.pid[Child.SERVER]) in acts


def test_second_stop_signal_kills_at_once() -> None:
    h = Harness()
    h.boot()
    h.feed(SignalReceived(signal.SIGTERM))
    acts = h.feed(SignalReceived(signal.SIGTERM))
    assert [a for a in acts if isinstance(a, Kill)] == [
        Kill(Child.SENTINEL, h.pid[Child.SENTINEL]),
        Kill(Child.SERVER, h.pid[Child.SERVER]),
    ]


def test_stop_while_the_server_waits_for_its_restart() -> None:
    h = Harness()
    h.boot()
    h.crash(Child.SERVER)
    acts = h.feed(SignalReceived(signal.SIGTERM))
    assert [a for a in acts if isinstance(a, SendSignal)] == [
        SendSignal(Child.SENTINEL, h.pid[Child.SENTINEL], signal.SIGTERM)
    ]
    acts = h.crash(Child.SENTINEL, rc=0)
    assert acts[-1] == Exit(0)
    # the pending assessment's answer is ignored
    assert h.feed(Assessed(99, view(SELF), DATA)) == []


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2])
def test_other_signals_are_forwarded_sentinel_first(sig: int) -> None:
    h = Harness()
    h.boot()
    acts = h.feed(SignalReceived(sig))
    assert [a for a in acts if isinstance(a, SendSignal)] == [
        SendSignal(Child.SENTINEL, h.pid[Child.SENTINEL], sig),
        SendSignal(Child.SERVER, h.pid[Child.SERVER], sig),
    ]
    assert not h.p.stopping


# --- the empty-master rule: decision table -------------------------------------------------------

CASES = [
    # view, dataset, configured replicaof, after crash, master_restart -> expected
    (view(OTHER), EMPTY, None, True, "unless-empty", StartServer(ReplicaOf(*OTHER), "")),
    (view(OTHER), DATA, None, False, "unless-empty", StartServer(ReplicaOf(*OTHER), "")),
    (view(OTHER), DATA, SELF, True, "never", StartServer(ReplicaOf(*OTHER), "")),
    (view(SELF, replicas=0), EMPTY, None, True, "unless-empty", StartServer(AsMaster(), "")),
    (view(SELF, replicas=0), EMPTY, None, True, "never", StartServer(AsMaster(), "")),
    (view(SELF, replicas=2), EMPTY, None, True, "unless-empty", HoldServer("", hint=True)),
    (view(SELF, replicas=2), EMPTY, None, False, "unless-empty", HoldServer("", hint=True)),
    (view(SELF, replicas=2), EMPTY, OTHER, True, "unless-empty", HoldServer("", hint=True)),
    (view(SELF, replicas=2), DATA, None, True, "unless-empty", StartServer(AsMaster(), "")),
    (view(SELF, replicas=2), DATA, None, True, "never", HoldServer("", hint=True)),
    (view(SELF, replicas=2), DATA, None, False, "never", StartServer(AsMaster(), "")),
    (view(None), EMPTY, OTHER, True, "unless-empty", StartServer(AsConfigured(), "")),
    (view(None), DATA, None, True, "unless-empty", StartServer(AsConfigured(), "")),
    (view(None), EMPTY, None, True, "unless-empty", HoldServer("", hint=False)),
    (view(None, answered=0), EMPTY, None, False, "unless-empty", HoldServer("", hint=False)),
]


@pytest.mark.parametrize(("v", "ds", "conf", "crash", "mr", "expected"), CASES)
def test_decision_table(
    v: MasterView, ds: DatasetState, conf: tuple[str, int] | None, crash: bool, mr: Any, expected: Any
) -> None:
    d = decide_server_start(
        view=v, self_addr=SELF, dataset=ds, configured_replicaof=conf, after_crash=crash, master_restart=mr
    )
    if isinstance(expected, StartServer):
        assert isinstance(d, StartServer) and d.role == expected.role
    else:
        assert isinstance(d, HoldServer) and d.hint == expected.hint
    assert d.why


def test_empty_master_starts_only_when_its_replicas_are_empty_too() -> None:
    """A new cluster: the sentinels know the replicas but nothing was ever written anywhere
    (every replica answered and holds no key). Data on any replica keeps the hold."""
    kw: dict[str, Any] = dict(
        view=view(SELF, replicas=2), self_addr=SELF, dataset=EMPTY, configured_replicaof=None, after_crash=False
    )
    d = decide_server_start(**kw, replicas=ReplicaData(True, "r1 holds 0 key(s); r2 holds 0 key(s)"))
    assert isinstance(d, StartServer) and d.role == AsMaster() and "new cluster" in d.why and "r2 holds 0" in d.why
    d = decide_server_start(**kw, replicas=ReplicaData(False, "r1 holds 3 key(s)"))
    assert isinstance(d, HoldServer) and d.hint  # a replica holds data: only a failover helps
    d = decide_server_start(**kw, replicas=ReplicaData(False, "r2 did not answer", unknown=True))
    assert isinstance(d, HoldServer) and not d.hint and "r2 did not answer" in d.why  # ask again
    d = decide_server_start(**{**kw, "after_crash": True}, replicas=ReplicaData(False, "?", unknown=True))
    assert isinstance(d, HoldServer) and d.hint  # after a crash: a failover, fast
    # after a crash with master_restart = never, the failover is awaited whatever the replicas hold
    d = decide_server_start(**{**kw, "after_crash": True}, master_restart="never", replicas=ReplicaData(True, ""))
    assert isinstance(d, HoldServer) and d.hint


def test_decision_compares_hosts_case_insensitively() -> None:
    d = decide_server_start(
        view=view(("Host-A", 6379), replicas=1),
        self_addr=("host-a", 6379),
        dataset=EMPTY,
        configured_replicaof=None,
        after_crash=True,
    )
    assert isinstance(d, HoldServer)
    d = decide_server_start(
        view=view(("host-a", 6380), replicas=1),
        self_addr=("host-a", 6379),
        dataset=EMPTY,
        configured_replicaof=None,
        after_crash=True,
    )
    assert d == StartServer(ReplicaOf("host-a", 6380), d.why)


# --- the empty-master rule in the policy --------------------------------------------------------


def test_crashed_empty_master_is_held_hinted_then_started_as_replica() -> None:
    h = Harness()
    h.boot(view(SELF, replicas=0))
    t_crash = h.now
    acts = h.crash(Child.SERVER)
    tok = h.assess_token(acts)  # asked at once, not after the back-off
    acts = h.feed(Assessed(tok, view(SELF, replicas=1), EMPTY))
    assert Hint(*SELF, exited_at=t_crash) in acts  # when it exited: the sentinels date the master
    assert h.p.children[Child.SERVER].phase is Phase.HELD
    held = [a for a in acts if isinstance(a, Log) and a.message == "server held back"]
    assert held and held[0].level == "warning" and "wipe its 1 replica" in held[0].fields["why"]
    # still the master per the sentinels at the next retry: hinted again, still held
    acts = h.advance(h.now + 1)
    acts = h.feed(Assessed(h.assess_token(acts), view(SELF, replicas=1), EMPTY))
    assert Hint(*SELF, exited_at=t_crash) in acts and not [a for a in acts if isinstance(a, Spawn)]
    # failover done: started as a replica of the new master
    acts = h.advance(h.now + 1)
    acts = h.feed(Assessed(h.assess_token(acts), view(OTHER, epoch=2), EMPTY))
    assert Spawn(Child.SERVER, ReplicaOf(*OTHER)) in acts
    assert h.now - t_crash >= 1  # never before the back-off
    assert not [a for a in h.of(Spawn) if a.child is Child.SERVER and a.role == AsMaster()][1:]


def test_a_hint_carries_no_exit_time_unless_this_supervisor_saw_the_exit() -> None:
    """At a start (the server was not ours to watch) the hint has no exit time; a spawn that
    failed is no exit of a running server either."""
    h = Harness()
    acts = h.feed(Start())
    held = ReplicaData(False, "a replica holds data")
    acts = h.feed(Assessed(h.assess_token(acts), view(SELF, replicas=1), EMPTY, replicas=held))
    assert Hint(*SELF, exited_at=None) in acts
    assert h.p.children[Child.SERVER].exited_at is None


def test_crashed_master_with_data_restarts_as_master_after_the_backoff() -> None:
    h = Harness()
    h.boot(view(SELF, replicas=2))
    t_crash = h.now
    acts = h.crash(Child.SERVER)
    acts = h.feed(Assessed(h.assess_token(acts), view(SELF, replicas=2), DATA))
    assert not [a for a in acts if isinstance(a, (Spawn, Hint))]
    acts = h.advance(t_crash + 1)  # back-off over: asks again (fresh view), then starts
    acts = h.feed(Assessed(h.assess_token(acts), view(SELF, replicas=2), DATA))
    assert Spawn(Child.SERVER, AsMaster()) in acts
    assert h.now == t_crash + 1


def test_master_restart_never_holds_a_crashed_master_with_data() -> None:
    h = Harness(restart=RestartSettings(initial_delay=0.5, master_restart="never"))
    h.boot(view(SELF, replicas=1))
    t_crash = h.now
    acts = h.crash(Child.SERVER)
    acts = h.feed(Assessed(h.assess_token(acts), view(SELF, replicas=1), DATA))
    assert Hint(*SELF, exited_at=t_crash) in acts


def test_boot_waits_for_the_local_sentinel_before_falling_back_to_the_config() -> None:
    h = Harness()
    acts = h.feed(Start())
    nobody = MasterView(None, answered=0, asked=3)
    acts = h.feed(Assessed(h.assess_token(acts), nobody, DATA))
    assert h.p.children[Child.SERVER].phase is Phase.HELD
    assert not [a for a in acts if isinstance(a, Hint)]
    hold = next(a for a in acts if isinstance(a, Log) and a.message == "server held back")
    assert hold.level == "info" and "local sentinel" in hold.fields["why"]
    # the local sentinel is up but still nobody knows the master: start as configured
    for _ in range(3):
        acts = h.advance(h.now + 0.1)
        h.answer_probes(acts)
    acts = h.advance(h.now + 1)
    acts = h.feed(Assessed(h.assess_token(acts), nobody, DATA))
    assert Spawn(Child.SERVER, AsConfigured()) in acts


def test_stale_assessment_is_ignored() -> None:
    h = Harness()
    h.boot()
    acts = h.crash(Child.SERVER)
    tok = h.assess_token(acts)
    assert h.feed(Assessed(tok + 7, view(OTHER), DATA)) == []
    acts = h.feed(Assessed(tok, view(OTHER), DATA))
    assert h.p.children[Child.SERVER].phase is Phase.BACKOFF
