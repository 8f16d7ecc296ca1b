"""Notification / client-reconfig scripts: what runs, limits, retries, timeouts."""

from __future__ import annotations

from collections.abc import Sequence

from sentinel.core import Action, KillScript, Publish, RunScript
from sentinel.core.events import ScriptExited, ScriptStarted
from sentinel.core.instances import pending_scripts
from sentinel.core.model import Ctx
from sentinel.core.scripts import ScriptQueue, retry_delay
from sentinel.core.timers import Timers
from tests.sentinel.driver import Driver, conf, healthy

NOTIFY = "sentinel notification-script mymaster /bin/notify\n"


def runs(acts: Sequence[Action]) -> list[RunScript]:
    return [a for a in acts if isinstance(a, RunScript)]


def published(acts: Sequence[Action]) -> list[tuple[str, str]]:
    return [(a.event, a.payload) for a in acts if isinstance(a, Publish)]


def test_warning_events_with_an_instance_run_the_notification_script() -> None:
    d = healthy(Driver.create(conf(extra=NOTIFY)))
    for r in runs(d.log):  # +monitor's run ends first: scripts run one at a time, in order
        d.step(ScriptStarted(r.job, 100 + r.job))
        d.step(ScriptExited(r.job, 0))
    d.dead.add("mymaster")
    started: list[RunScript] = []
    for _ in range(80):
        acts = d.tick(d.now + 100)
        d.settle()
        started += runs(acts)
        for r in runs(acts):
            d.step(ScriptStarted(r.job, 100 + r.job))
            d.step(ScriptExited(r.job, 0))
    assert started and started[0].argv == ("/bin/notify", "+sdown", "master mymaster 10.0.0.1 6379")


def test_notice_events_and_tilt_do_not_run_it() -> None:
    d = Driver.create(conf(extra=NOTIFY))
    # +monitor is a WARNING event tied to the master: it runs the script at start, as stock
    assert [r.argv for r in runs(d.log)] == [
        ("/bin/notify", "+monitor", "master mymaster 10.0.0.1 6379 quorum 2")
    ]
    d2 = healthy(Driver.create(conf(extra=NOTIFY)))
    slave_runs = [r for r in runs(d2.log) if r.argv[1] == "+slave"]
    assert slave_runs == []
    acts = d2.tick(d2.now + 5000)
    assert "+tilt" in d2.names(acts) and not [r for r in runs(acts) if r.argv[1] == "+tilt"]


def test_retry_delays_double() -> None:
    t = Timers()
    assert [retry_delay(t, n) for n in (1, 2, 3, 4)] == [30_000, 60_000, 120_000, 240_000]


def _queue_with_job() -> tuple[ScriptQueue, Timers, Ctx, int]:
    q, t = ScriptQueue(), Timers()
    q.schedule(0, ("/bin/s", "a"))
    ctx = Ctx(0)
    q.run_pending(ctx)
    (run,) = ctx.actions
    assert isinstance(run, RunScript)
    return q, t, ctx, run.job


def test_exit_1_and_signals_are_retried_then_dropped() -> None:
    q, t, _, job = _queue_with_job()
    now = 0
    for attempt in range(1, 10):
        ctx = Ctx(now)
        q.exited(ctx, t, job, 1 if attempt % 2 else 0, 0 if attempt % 2 else 9)
        assert ctx.actions == []
        (j,) = q.jobs
        assert not j.running and j.start_time == now + retry_delay(t, attempt)
        now = j.start_time
        ctx = Ctx(now - 1)
        q.run_pending(ctx)
        assert ctx.actions == []
        ctx = Ctx(now)
        q.run_pending(ctx)
        assert [type(a) for a in ctx.actions] == [RunScript] and j.retry_num == attempt + 1
    ctx = Ctx(now)
    q.exited(ctx, t, job, 1, 0)  # the 10th attempt failed: give up
    assert q.jobs == [] and published(ctx.actions) == [("-script-error", "/bin/s 0 1")]


def test_exit_2_is_an_error_and_exit_0_is_done() -> None:
    q, t, _, job = _queue_with_job()
    ctx = Ctx(5)
    q.exited(ctx, t, job, 2, 0)
    assert q.jobs == [] and published(ctx.actions) == [("-script-error", "/bin/s 0 2")]
    q, t, _, job = _queue_with_job()
    ctx = Ctx(5)
    q.exited(ctx, t, job, 0, 0)
    assert q.jobs == [] and ctx.actions == []


def test_scripts_running_too_long_are_killed() -> None:
    q, t, _, job = _queue_with_job()
    q.started(job, 4242)
    ctx = Ctx(60_000)
    q.kill_timed_out(ctx, t)
    assert ctx.actions == []
    ctx = Ctx(60_001)
    q.kill_timed_out(ctx, t)
    assert ctx.actions[0] == KillScript(job)
    assert published(ctx.actions[1:]) == [("-script-timeout", "/bin/s 4242")]
    ctx = Ctx(60_100)
    q.kill_timed_out(ctx, t)
    assert ctx.actions == []  # killed once
    q.exited(ctx, t, job, 0, 9)  # killed by a signal: retried later
    assert len(q.jobs) == 1 and not q.jobs[0].running


def test_one_at_a_time_and_a_full_queue_refuses_the_new_job() -> None:
    """Ours (stock runs 16 at once and drops the oldest idle job): one script at a time, and a
    257th job is refused (recorded as dropped) instead of cancelling a queued one."""
    q = ScriptQueue()
    for i in range(300):
        q.schedule(0, ("/bin/s", str(i)))
    assert len(q.jobs) == 256 and q.jobs[0].argv[1] == "0" and q.jobs[-1].argv[1] == "255"
    assert [r.outcome for r in q.history] == ["dropped"] * 44 and q.history[0].argv[1] == "256"
    ctx = Ctx(0)
    q.run_pending(ctx)
    assert len(ctx.actions) == 1 and q.running == 1
    q.run_pending(ctx)
    assert len(ctx.actions) == 1  # still one
    view = pending_scripts(q, 10)
    assert view[0][1] == ("flags", "running") and view[0][3] == ("run-time", "10")
    assert view[20][1] == ("flags", "scheduled") and view[20][3] == ("run-delay", "0")
    assert dict(view[0])["job"] == "1"


def _finish(q: ScriptQueue, t: Timers, now: int, code: int = 0) -> RunScript | None:
    ctx = Ctx(now)
    q.run_pending(ctx)
    started = [a for a in ctx.actions if isinstance(a, RunScript)]
    if not started:
        return None
    q.exited(Ctx(now), t, started[0].job, code, 0)
    return started[0]


def test_event_order_per_stream_and_retries_keep_their_place() -> None:
    q, t = ScriptQueue(), Timers()
    q.schedule(0, ("/bin/notify", "+sdown"), master="m", kind="notify")
    q.schedule(0, ("/bin/notify", "+odown"), master="m", kind="notify")
    q.schedule(0, ("/bin/reconf", "m", "leader"), master="m", kind="reconfig")
    first = _finish(q, t, 0, code=1)  # +sdown fails with exit 1: retried in 30 s, keeps its place
    assert first is not None and first.argv[1] == "+sdown"
    nxt = _finish(q, t, 1)
    assert nxt is not None and nxt.argv[0] == "/bin/reconf"  # another stream is not held up
    assert _finish(q, t, 2) is None  # +odown waits behind the +sdown retry (same stream)
    again = _finish(q, t, 30_000)
    assert again is not None and again.argv[1] == "+sdown"
    last = _finish(q, t, 30_001)
    assert last is not None and last.argv[1] == "+odown"
    assert [(r.argv[1], r.outcome, r.attempt) for r in q.history] == [
        ("+sdown", "retry", 1),
        ("m", "ok", 1),
        ("+sdown", "ok", 2),
        ("+odown", "ok", 1),
    ]
    assert q.jobs == [] and q.ok == 3 and q.failed == 1


def test_a_newer_reconfig_supersedes_one_waiting_for_a_retry_of_the_same_master() -> None:
    q, t = ScriptQueue(), Timers()
    q.schedule(0, ("/bin/reconf", "m", "leader", "start", "a", "1", "b", "1"), master="m", kind="reconfig")
    _finish(q, t, 0, code=1)
    q.schedule(5, ("/bin/reconf", "n", "leader", "start", "a", "1", "b", "1"), master="n", kind="reconfig")
    assert len(q.jobs) == 2  # another master: not superseded
    q.schedule(10, ("/bin/reconf", "m", "observer", "start", "b", "1", "c", "1"), master="m", kind="reconfig")
    assert [j.argv[2] for j in q.jobs] == ["leader", "observer"] and q.jobs[0].master == "n"
    assert q.history[-1].outcome == "superseded" and q.history[-1].argv[2] == "leader"
    # a running job is never superseded
    q2 = ScriptQueue()
    q2.schedule(0, ("/bin/reconf", "m", "leader"), master="m", kind="reconfig")
    q2.run_pending(Ctx(0))
    q2.schedule(1, ("/bin/reconf", "m", "observer"), master="m", kind="reconfig")
    assert len(q2.jobs) == 2 and q2.jobs[0].running
