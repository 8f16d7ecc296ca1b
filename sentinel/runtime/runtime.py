"""The production runtime: one Trio task owns the `SentinelCore` and calls `step()`.

Every other task (links, the API's client connections, scripts, signals) only feeds events
through one memory channel and executes actions; read-only API queries look at `core.world`
between steps (steps and action execution are synchronous, so they never interleave with one).

A step's actions are executed in order: `PersistState` (always first) is written atomically and
durably before anything else, and a failed write stops the process (the core already acts as if
the state were on disk). `Crash` exits at once with its code. See docs/sentinel-runtime.md.
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import trio

from sentinel.core.actions import (
    Action,
    CloseLink,
    Crash,
    KillScript,
    Level,
    Log,
    OpenLink,
    PersistState,
    Publish,
    ReplyTo,
    RunScript,
    SendCommand,
    VipAcquire,
    VipAnnounce,
    VipRelease,
    VipRenew,
)
from sentinel.core.config import SentinelConfig
from sentinel.core.core import SentinelCore
from sentinel.core.events import Event, ScriptExited, Start, Tick
from sentinel.core.ownership import AddrState, lease_ms
from sentinel.core.replies import ErrorReply, Reply
from sentinel.runtime.links import Link
from sentinel.runtime.metrics import Metrics, VipSample, metrics_address
from sentinel.runtime.scripts import ScriptRunner
from sentinel.runtime.statefile import StateWriteError, write_state
from sentinel.runtime.vip import VipManager

log = structlog.get_logger("sentinel")

CONNECT_TIMEOUT = 2.0
"""Seconds an OpenLink may take before it is reported LinkDown."""
REQUEST_TIMEOUT = 10.0
"""Bound on a client request's wait for the core's ReplyTo (the core answers in the same step)."""

_LEVEL_METHOD = {Level.DEBUG: "debug", Level.VERBOSE: "info", Level.NOTICE: "info", Level.WARNING: "warning"}


class FatalError(Exception):
    """The sentinel cannot go on safely (the state file could not be written)."""


class CrashRequested(Exception):
    """SIMULATE-FAILURE fired (only raised when the runtime is told not to exit the process)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class _Waiter:
    done: trio.Event = field(default_factory=trio.Event)
    reply: Reply = None


class Runtime:
    """Drives one core: events in, actions out, ticks on time."""

    def __init__(
        self,
        core: SentinelCore,
        config: SentinelConfig,
        *,
        config_path: Path | None = None,
        state_file: Path | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        listen: bool = True,
        exit_on_crash: bool = True,
        persist: Callable[[str], None] | None = None,
        on_loglevel: Callable[[str], None] | None = None,
        vip: VipManager | None = None,
    ) -> None:
        """`persist` overrides the state write (tests); `listen=False` runs without the API;
        `on_loglevel` is called when SENTINEL CONFIG SET loglevel changes the level."""
        from sentinel.api.server import ApiServer  # the API needs the Runtime type; import late

        self.core = core
        self.config = config
        self.config_path = config_path
        self.state_file = state_file
        self.connect_timeout = connect_timeout
        self.exit_on_crash = exit_on_crash
        self._persist = persist
        self._on_loglevel = on_loglevel
        self._loglevel = core.world.settings.loglevel
        self._send, self._recv = trio.open_memory_channel[Event](math.inf)
        self._links: dict[int, Link] = {}
        self._waiters: dict[int, _Waiter] = {}
        self._next_request = 1
        self._nursery: trio.Nursery | None = None
        self._stopping = False
        self.started_at = trio.current_time() if _in_trio() else 0.0
        self.scripts = ScriptRunner(self.feed, lambda: self.core.world.timers.script_max_runtime)
        self.api: ApiServer | None = ApiServer(self) if listen else None
        self.steps = 0
        self.ready = trio.Event()
        self.metrics = Metrics(core, self.now)
        self.metrics_address = metrics_address(config)
        """(host, port) of the metrics endpoint (`metrics-port`), None when off."""
        self.metrics_port: int | None = None
        """The port the metrics endpoint is bound to (once listening)."""
        self._failover_ids: dict[str, tuple[int, str]] = {}
        """master -> (epoch, failover id) of the failovers we run, for the logs."""
        self.vip = vip if vip is not None else VipManager(config, self.feed, clock=self.now)
        """Executes VipAcquire / VipRenew / VipRelease / VipAnnounce (sentinel/runtime/vip.py)."""
        if self.vip.configured:
            self.metrics.vip_source = self._vip_samples

    # --- clock and inputs -------------------------------------------------------------------

    def now(self) -> int:
        """Monotonic milliseconds (Trio's clock, so tests can use a MockClock)."""
        return int(trio.current_time() * 1000)

    def feed(self, ev: Event) -> None:
        """Queue an event for the core task (any task may call this)."""
        try:
            self._send.send_nowait(ev)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    async def request(self, make: Callable[[int], Event]) -> Reply:
        """Feed a client request and wait for the ReplyTo the core answers it with."""
        rid = self._next_request
        self._next_request += 1
        waiter = _Waiter()
        self._waiters[rid] = waiter
        try:
            self.feed(make(rid))
            with trio.move_on_after(REQUEST_TIMEOUT):
                await waiter.done.wait()
                return waiter.reply
            return ErrorReply("ERR timed out waiting for the sentinel to process the request")
        finally:
            self._waiters.pop(rid, None)

    def shutdown(self, reason: str = "") -> None:
        """Stop the runtime cleanly (SIGTERM, SIGINT, SHUTDOWN)."""
        if not self._stopping:
            log.warning("shutting down", reason=reason)
        self._stopping = True
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    # --- main -------------------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[Runtime] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, start the core, serve until shutdown. Raises FatalError / CrashRequested."""
        self.started_at = trio.current_time()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self.api is not None:
                    await nursery.start(self.api.serve)
                if self.metrics_address is not None:
                    host, port = self.metrics_address
                    self.metrics_port = await nursery.start(self.metrics.serve, host, port)
                nursery.start_soon(self._signals)
                if self.vip.configured:
                    await nursery.start(self.vip.run)  # its first observation follows Start
                self._step(Start())
                self.ready.set()
                task_status.started(self)
                await self._core_loop()
        finally:
            self.scripts.kill_all()
            if self.vip.configured:
                self.vip.release_all()  # a silent host must not keep the VIP (docs/vip.md)
            for link in list(self._links.values()):
                link.close()

    async def _core_loop(self) -> None:
        next_tick = trio.current_time() + self.core.next_tick_in() / 1000
        recv = self._recv
        while True:
            if trio.current_time() >= next_tick:
                self._step(Tick())
                next_tick = trio.current_time() + self.core.next_tick_in() / 1000
                await trio.lowlevel.checkpoint()
                continue
            with trio.move_on_at(next_tick):
                ev = await recv.receive()
                self._step(ev)
                # an event may bring the next tick forward (the VIP rule's polls and lease end)
                next_tick = min(next_tick, trio.current_time() + self.core.next_tick_in() / 1000)

    async def _signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for sig in signals:
                self.shutdown(f"received {signal.Signals(sig).name}")
                return

    # --- one step ---------------------------------------------------------------------------

    def _step(self, ev: Event) -> None:
        if isinstance(ev, ScriptExited):
            self.metrics.script_exited(ev.job, ev.exit_code, ev.signal)
        actions = self.core.step(self.now(), ev)
        self.steps += 1
        if isinstance(ev, ScriptExited):
            self._log_script_result(ev.job)
        self.execute(actions)
        level = self.core.world.settings.loglevel
        if level != self._loglevel:
            self._loglevel = level
            if self._on_loglevel is not None:
                self._on_loglevel(level)

    def execute(self, actions: list[Action]) -> None:
        """Carry out one step's actions, in order (PersistState first and durable)."""
        for a in actions:
            if isinstance(a, Publish) and a.event == "+new-epoch":
                self._note_new_epoch(a.payload)  # so the step's earlier log lines carry its id too
        for a in actions:
            if isinstance(a, SendCommand):
                link = self._links.get(a.link)
                if link is not None:
                    link.send(a.tag, a.argv)
                # else: the link already ended and its LinkDown is queued; the core drops the tag
            elif isinstance(a, PersistState):
                self._write_state(a.state)
            elif isinstance(a, OpenLink):
                self._open_link(a)
            elif isinstance(a, CloseLink):
                link = self._links.pop(a.link, None)
                if link is not None:
                    link.close()
                    log.debug("link closed", link=a.link, label=link.label, channel=link.channel.value)
            elif isinstance(a, Publish):
                self._publish(a)
            elif isinstance(a, Log):
                getattr(log, _LEVEL_METHOD[a.level])(a.message, **self._failover_context())
            elif isinstance(a, ReplyTo):
                waiter = self._waiters.get(a.request)
                if waiter is not None:
                    waiter.reply = a.reply
                    waiter.done.set()
            elif isinstance(a, RunScript):
                log.info("running script", job=a.job, argv=list(a.argv), **self._failover_context())
                self.metrics.script_started(a.job, a.argv)
                assert self._nursery is not None
                self._nursery.start_soon(self.scripts.run, a.job, a.argv)
            elif isinstance(a, KillScript):
                log.warning("killing script", job=a.job, **self._failover_context())
                self.scripts.kill(a.job)
            elif isinstance(a, (VipAcquire, VipRenew, VipRelease, VipAnnounce)):
                self.vip.execute(a)
            elif isinstance(a, Crash):
                self._crash(a.code)
                return

    def _write_state(self, text: str) -> None:
        try:
            if self._persist is not None:
                self._persist(text)
            else:
                assert self.state_file is not None
                write_state(self.state_file, text)
        except (StateWriteError, OSError) as e:
            log.critical("cannot persist the sentinel state, exiting", error=str(e), state_file=str(self.state_file))
            raise FatalError(str(e)) from e

    def _open_link(self, a: OpenLink) -> None:
        link = Link(a, self.feed, self.connect_timeout)
        old = self._links.pop(a.link, None)
        if old is not None:
            old.close()
        self._links[a.link] = link
        log.debug(
            "opening link",
            link=a.link,
            host=a.host,
            port=a.port,
            channel=a.channel.value,
            peer=a.peer,
            label=a.label,
            **self._failover_context(),
        )
        assert self._nursery is not None
        self._nursery.start_soon(self._run_link, link)

    async def _run_link(self, link: Link) -> None:
        try:
            await link.run()
        finally:
            if self._links.get(link.id) is link:
                del self._links[link.id]

    def _note_new_epoch(self, payload: str) -> None:
        """A failover we start claims a brand new epoch: the master whose failover epoch it is
        (no other can have it) gets a failover id from now on."""
        if not payload.isdigit():
            return
        for m in self.core.world.masters.values():
            if m.failover_epoch == int(payload):
                self._failover_ids[m.name] = (m.failover_epoch, f"{m.name}-{m.failover_epoch}-{self.core.myid[:8]}")
                return

    def _publish(self, a: Publish) -> None:
        fields = event_fields(self.core, a.event, a.payload)
        if a.event == "+new-epoch":
            ours = [name for name, (epoch, _) in self._failover_ids.items() if epoch == fields.get("epoch")]
            if ours:
                fields["master"] = ours[0]
        master = fields.get("master")
        m = self.core.world.masters.get(master) if master is not None else None
        if m is not None:
            assert master is not None
            if a.event == "+try-failover" and master not in self._failover_ids:
                epoch = m.failover_epoch
                self._failover_ids[master] = (epoch, f"{master}-{epoch}-{self.core.myid[:8]}")
            current = self._failover_ids.get(master)
            if current is not None:
                fields["failover_epoch"], fields["failover_id"] = current
            if a.event == "+failover-end" or a.event.startswith("-failover-abort-"):
                self._failover_ids.pop(master, None)
            elif a.event == "+switch-master" and not m.in_failover:
                self._failover_ids.pop(master, None)  # another leader's switch ended ours
        elif a.event in ("+new-epoch", "+vote-for-leader"):
            fields.update(self._failover_context())
        getattr(log, _LEVEL_METHOD[a.level])(a.event, **fields)
        self.metrics.on_publish(a.event, master)
        if a.level is not Level.DEBUG and self.api is not None:
            self.api.publish(a.event, a.payload)

    def _failover_context(self) -> dict[str, Any]:
        """Fields for log lines written while failovers we run are in progress."""
        if not self._failover_ids:
            return {}
        if len(self._failover_ids) == 1:
            ((master, (epoch, fid)),) = self._failover_ids.items()
            return {"master": master, "failover_epoch": epoch, "failover_id": fid}
        return {"failover_id": sorted(fid for _, fid in self._failover_ids.values())}

    def _crash(self, code: int) -> None:
        log.critical("simulated failure, exiting", code=code)
        if self.exit_on_crash:
            os._exit(code)
        raise CrashRequested(code)

    # --- introspection for the API and tests ------------------------------------------------

    def _log_script_result(self, job: int) -> None:
        """Every attempt's result, as the core recorded it (SENTINEL SCRIPT-HISTORY has them too)."""
        r = self.core.world.scripts.result_of(job)
        if r is None or r.job != job:
            return
        level = "info" if r.outcome == "ok" else "warning"
        getattr(log, level)(
            "script result",
            job=r.job,
            argv=list(r.argv),
            attempt=r.attempt,
            outcome=r.outcome,
            exit_code=r.exit_code,
            signal=r.signal,
            duration_ms=r.ended - r.started,
        )

    def _vip_samples(self) -> list[VipSample]:
        out = []
        now = self.now()
        for name, o in self.core.world.ownership.items():
            m = self.core.world.masters.get(name)
            age: float | None = None
            if o.lease_forever:
                age = 0.0
            elif m is not None and m.settings.vip is not None and o.lease_until is not None:
                age = max(0.0, (now - (o.lease_until - lease_ms(m, m.settings.vip))) / 1000)
            out.append(VipSample(o.vip, o.addr is AddrState.HELD, age))
        return out

    @property
    def link_count(self) -> int:
        """Links currently open or connecting."""
        return len(self._links)


def _in_trio() -> bool:
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


def event_fields(core: SentinelCore, event: str, payload: str) -> dict[str, Any]:
    """Structured log fields for a sentinel event: payload, master name and epochs."""
    w = core.world
    fields: dict[str, Any] = {"payload": payload, "current_epoch": w.current_epoch}
    parts = payload.split()
    master: str | None = None
    if event == "+switch-master" and parts:
        master = parts[0]
    elif len(parts) >= 4 and parts[0] in ("master", "slave", "sentinel"):
        if "@" in parts:
            i = parts.index("@")
            master = parts[i + 1] if i + 1 < len(parts) else None
        elif parts[0] == "master":
            master = parts[1]
    if event == "+new-epoch" and parts and parts[0].isdigit():
        fields["epoch"] = int(parts[0])
    elif event == "+vote-for-leader" and len(parts) == 2 and parts[1].isdigit():
        fields["leader"] = parts[0]
        fields["epoch"] = int(parts[1])
    if master is not None:
        fields["master"] = master
        m = w.masters.get(master)
        if m is not None:
            fields["config_epoch"] = m.config_epoch
            if m.in_failover:
                fields["failover_epoch"] = m.failover_epoch
                fields["failover_state"] = m.failover_state.label
    return fields
