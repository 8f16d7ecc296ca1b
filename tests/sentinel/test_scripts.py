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


def test_at_most_16_running_and_256_queued() -> None:
    q = ScriptQueue()
    for i in range(300):
        q.schedule(0, ("/bin/s", str(i)))
    assert len(q.jobs) == 256 and q.jobs[0].argv[1] == "44"  # the oldest idle ones were dropped
    ctx = Ctx(0)
    q.run_pending(ctx)
    assert len(ctx.actions) == 16 and q.running == 16
    q.schedule(0, ("/bin/s", "new"))
    assert len(q.jobs) == 256 and all(j.running for j in q.jobs[:16])
    view = pending_scripts(q, 10)
    assert view[0][1] == ("flags", "running") and view[0][3] == ("run-time", "10")
    assert view[20][1] == ("flags", "scheduled") and view[20][3] == ("run-delay", "0")
