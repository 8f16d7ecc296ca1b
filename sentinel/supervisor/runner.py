"""The supervisor's Trio driver: executes the policy's actions and feeds it what happens.

One task owns the `SupervisorPolicy` and is its only caller. It executes each step's actions in
order before taking the next event; the answers a `Spawn` produces (`Spawned`/`SpawnFailed`)
are fed before any other event. Everything slow runs in its own task and comes back as an event
through one channel: child exits (a pidfd per child), PING probes, assessments (sentinel
queries in worker threads plus the dataset scan), hints, signals. Every such task is bounded.

Children are started with `subprocess.Popen` from this (main) thread: in their own session (a
terminal's Ctrl-C reaches only the supervisor, which stops them in order), stdin on /dev/null,
stdout/stderr inherited (journald gets all three processes' logs), without systemd's
NOTIFY_SOCKET/WATCHDOG_* variables, and with PR_SET_PDEATHSIG=SIGTERM so that they stop if the
supervisor dies without stopping them (under systemd, KillMode=mixed covers that too).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import structlog
import trio

from sentinel.supervisor.config import HostConfig, HostConfigError, load_host_config
from sentinel.supervisor.dataset import inspect_dataset
from sentinel.supervisor.facts import (
    SentinelFacts,
    ServerFacts,
    sentinel_argv,
    sentinel_facts,
    server_argv,
    server_facts,
)
from sentinel.supervisor.notify import SYSTEMD_ONLY_ENV, Notifier, watchdog_interval
from sentinel.supervisor.policy import (
    FORWARDED_SIGNALS,
    STOP_SIGNALS,
    Action,
    Assess,
    Assessed,
    Child,
    DatasetState,
    Event,
    Exit,
    Exited,
    Hint,
    Kill,
    Log,
    NotifyReady,
    NotifyStatus,
    NotifyStopping,
    NotifyWatchdog,
    Probe,
    ProbeResult,
    ReplicaData,
    SendSignal,
    SignalReceived,
    Spawn,
    Spawned,
    SpawnFailed,
    Start,
    SupervisorPolicy,
    Tick,
    same_addr,
)
from sentinel.supervisor.sentinels import (
    HintResult,
    SentinelAnswer,
    SentinelTarget,
    ask_sentinel,
    combine,
    send_hint,
    state_file_peers,
    targets,
)
from server.log import configure_logging

log = structlog.get_logger("supervisor")

EXIT_CONFIG = 2
DATASET_SCAN_TIMEOUT = 10.0
STATUS_HEARTBEAT = 10.0
#: Passed to both children: where the supervisor publishes its status (for metrics, the CLI).
STATUS_ENV = "HASENTINEL_SUPERVISOR_STATUS"

_PR_SET_PDEATHSIG = 1


def _pdeathsig_setter() -> Callable[[], None] | None:
    """A preexec_fn that asks the kernel to SIGTERM the child when its parent thread dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class Supervisor:
    """Runs one host's server and sentinel until stopped; `await run()` returns the exit code."""

    def __init__(
        self,
        hc: HostConfig,
        server: ServerFacts,
        sentinel: SentinelFacts,
        notifier: Notifier | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = dict(os.environ if env is None else env)
        self.hc = hc
        self.server = server
        self.sentinel = sentinel
        self.notifier = notifier or Notifier(None)
        wd = watchdog_interval(env, os.getpid()) if self.notifier.enabled else None
        self.policy = SupervisorPolicy(
            self_addr=hc.server_addr,
            restart=hc.restart,
            health=hc.health,
            stop=hc.stop,
            watchdog_interval=wd,
        )
        self.child_env = {k: v for k, v in env.items() if k not in SYSTEMD_ONLY_ENV}
        if hc.status_file is not None:
            self.child_env[STATUS_ENV] = str(hc.status_file)
        self._status_key = ""
        self._status_written = -math.inf
        self._status_error = False
        self._hinting = False
        self.procs: dict[Child, subprocess.Popen[bytes]] = {}
        self.hint_reported: set[tuple[str, str]] = set()
        self._preexec = _pdeathsig_setter()
        self._send: trio.MemorySendChannel[Event] | None = None
        self._nursery: trio.Nursery | None = None

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> int:
        send, recv = trio.open_memory_channel[Event](math.inf)
        self._send = send
        code: int | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self._signals, send)
                pending: deque[Event] = deque([Start()])
                while code is None:
                    while pending and code is None:
                        ev = pending.popleft()
                        for a in self.policy.step(trio.current_time(), ev):
                            code = self._execute(a, pending)
                            if code is not None:
                                break
                    self._publish_status(trio.current_time())
                    if code is not None:
                        break
                    deadline = min(
                        self.policy.next_deadline() or math.inf, self._status_written + STATUS_HEARTBEAT
                    )
                    with trio.move_on_at(deadline):
                        pending.append(await recv.receive())
                        continue
                    pending.append(Tick())
                nursery.cancel_scope.cancel()
        finally:
            self._kill_leftovers()
            self.notifier.close()
        return code

    async def _signals(
        self, send: trio.MemorySendChannel[Event], task_status: Any = trio.TASK_STATUS_IGNORED
    ) -> None:
        with trio.open_signal_receiver(*STOP_SIGNALS, *FORWARDED_SIGNALS) as signals:
            task_status.started()
            async for sig in signals:
                await send.send(SignalReceived(sig))

    def _publish_status(self, now: float) -> None:
        """Write the status file when the state changed, and every STATUS_HEARTBEAT seconds."""
        path = self.hc.status_file
        if path is None:
            return
        snap = self.policy.snapshot()
        key = json.dumps(snap, sort_keys=True)
        if key == self._status_key and now - self._status_written < STATUS_HEARTBEAT:
            return
        self._status_key = key
        self._status_written = now
        wall = time.time()
        for c in snap["children"]:
            spawned = c.pop("spawned_at")
            c["started_at"] = None if spawned is None else round(wall - (now - spawned), 3)
            c["uptime_seconds"] = None if spawned is None else round(now - spawned, 3)
        doc = {
            "version": 1,
            "pid": os.getpid(),
            "host_config": str(self.hc.path),
            "master_name": self.hc.master_name,
            "this_server": f"{self.hc.address}:{self.hc.server.port}",
            "updated_at": round(wall, 3),
            **snap,
        }
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
            os.replace(tmp, path)
            self._status_error = False
        except OSError as e:
            if not self._status_error:
                log.warning("cannot write the status file", path=str(path), error=str(e))
            self._status_error = True

    def _feed(self, ev: Event) -> None:
        assert self._send is not None
        self._send.send_nowait(ev)

    def _start_task(self, fn: Callable[..., Any], *args: Any) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(fn, *args)

    # --- actions -------------------------------------------------------------------------

    def _execute(self, a: Action, pending: deque[Event]) -> int | None:
        if isinstance(a, Spawn):
            pending.append(self._spawn(a))
        elif isinstance(a, (SendSignal, Kill)):
            sig = signal.SIGKILL if isinstance(a, Kill) else a.signum
            p = self.procs.get(a.child)
            if p is not None and p.pid == a.pid:
                try:
                    p.send_signal(sig)
                except ProcessLookupError:
                    pass
        elif isinstance(a, Probe):
            self._start_task(self._probe, a.child, a.pid)
        elif isinstance(a, Assess):
            self._start_task(self._assess, a.token)
        elif isinstance(a, Hint):
            if not self._hinting:  # one round at a time (a round is bounded; holds retry often)
                self._hinting = True
                self._start_task(self._hint, a.host, a.port, a.exited_at)
        elif isinstance(a, NotifyReady):
            self.notifier.notify("READY=1")
        elif isinstance(a, NotifyWatchdog):
            self.notifier.watchdog()
        elif isinstance(a, NotifyStopping):
            self.notifier.stopping()
        elif isinstance(a, NotifyStatus):
            self.notifier.status(a.text)
        elif isinstance(a, Log):
            getattr(log, a.level, log.info)(a.message, **a.fields)
        elif isinstance(a, Exit):
            return a.code
        return None

    def _spawn(self, a: Spawn) -> Event:
        if a.child is Child.SERVER:
            argv = server_argv(self.hc, a.role)
            cwd = str(self.hc.server.data_dir)
        else:
            argv = sentinel_argv(self.hc)
            cwd = str(self.hc.sentinel.state_dir)
        try:
            p = subprocess.Popen(
                argv,
                cwd=cwd,
                env=self.child_env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
                preexec_fn=self._preexec,  # prctl only; see _pdeathsig_setter
            )
        except (OSError, subprocess.SubprocessError) as e:
            log.error("could not start child", child=a.child.value, argv=argv, error=str(e))
            return SpawnFailed(a.child, str(e))
        self.procs[a.child] = p
        log.info("spawned", child=a.child.value, pid=p.pid, argv=argv)
        self._start_task(self._reap, a.child, p)
        return Spawned(a.child, p.pid)

    async def _reap(self, child: Child, p: subprocess.Popen[bytes]) -> None:
        """Wait for the child's exit without blocking (pidfd), reap it, report it."""
        try:
            fd = os.pidfd_open(p.pid)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                await trio.lowlevel.wait_readable(fd)
            finally:
                os.close(fd)
        while p.poll() is None:  # without pidfd (or woken early): poll
            await trio.sleep(0.05)
        if child is Child.SENTINEL and self.sentinel.vips:
            await self._release_vips(p.returncode)
        self._feed(Exited(child, p.pid, p.returncode))

    async def _release_vips(self, returncode: int) -> None:
        """A dead sentinel's VIP must go before anything else happens: the peers take it once
        this host has been silent for T_lease + margin (docs/vip.md), which is safe only if a
        silent host carries no VIP. A clean exit removed it already (then this is a no-op)."""
        from sentinel.vip.release import release_vips

        results = await trio.to_thread.run_sync(release_vips, list(self.sentinel.vips))
        for name, result in results:
            if isinstance(result, str):
                log.error("could not remove the VIP of the dead sentinel", master=name, error=result)
            elif result:
                log.warning("removed the VIP the dead sentinel left", master=name, returncode=returncode)

    def _kill_leftovers(self) -> None:
        for child, p in self.procs.items():
            if p.poll() is None:
                log.warning("killing a child left running", child=child.value, pid=p.pid)
                try:
                    p.kill()
                    p.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass

    # --- probes, assessments, hints ----------------------------------------------------

    async def _probe(self, child: Child, pid: int) -> None:
        port = self.hc.server.port if child is Child.SERVER else self.hc.sentinel.port
        ok = False
        detail = "timeout"
        with trio.move_on_after(self.hc.health.probe_timeout):
            try:
                stream = await trio.open_tcp_stream(self.hc.address, port)
                async with stream:
                    await stream.send_all(b"*1\r\n$4\r\nPING\r\n")
                    data = await stream.receive_some(256)
                ok = bool(data) and data[:1] in (b"+", b"-")
                detail = data[:64].decode("utf-8", "replace").strip() if data else "connection closed"
            except (OSError, trio.BrokenResourceError) as e:
                detail = str(e)
        self._feed(ProbeResult(child, pid, ok, detail))

    def _targets(self) -> list[SentinelTarget]:
        s = self.sentinel
        return targets(
            local=self.hc.sentinel_addr,
            local_password=s.requirepass,
            peer_user=s.peer_user,
            peer_password=s.peer_pass,
            peer_lists=[
                self.hc.sentinel.peers,
                s.config_peers,
                state_file_peers(s.state_path, self.hc.master_name),
            ],
        )

    async def _ask_all(self, tg: list[SentinelTarget]) -> list[SentinelAnswer]:
        timeout = self.hc.health.probe_timeout
        answers: list[SentinelAnswer] = [SentinelAnswer(t, error="no answer in time") for t in tg]

        async def one(i: int, t: SentinelTarget) -> None:
            answers[i] = await trio.to_thread.run_sync(
                ask_sentinel, t, self.hc.master_name, timeout, abandon_on_cancel=True
            )

        with trio.move_on_after(3 * timeout + 0.5):
            async with trio.open_nursery() as n:
                for i, t in enumerate(tg):
                    n.start_soon(one, i, t)
        return answers

    async def _assess(self, token: int) -> None:
        answers = await self._ask_all(self._targets())
        view = combine(answers)
        dataset = DatasetState(True, "the dataset scan did not finish in time: treated as empty")
        with trio.move_on_after(DATASET_SCAN_TIMEOUT):
            dataset = await trio.to_thread.run_sync(
                inspect_dataset, self.server.files, abandon_on_cancel=True
            )
        replicas: ReplicaData | None = None
        if (
            dataset.empty
            and view.addr is not None
            and view.replicas
            and same_addr(view.addr, self.hc.server_addr)
        ):
            from sentinel.supervisor.replicas import probe_replicas

            replicas = ReplicaData(False, "the replicas did not answer in time")
            with trio.move_on_after(3 * self.hc.health.probe_timeout * max(1, view.replicas) + 0.5):
                replicas = await trio.to_thread.run_sync(
                    probe_replicas,
                    view.replica_addrs,
                    view.replicas,
                    self.server.auth,
                    self.hc.health.probe_timeout,
                    abandon_on_cancel=True,
                )
        log.debug(
            "assessed",
            view=view.describe(),
            replicas=replicas,
            dataset=dataset.detail,
            answers=[
                {
                    "sentinel": a.target.label,
                    "addr": a.addr,
                    "epoch": a.config_epoch,
                    "replicas": a.replicas,
                    "error": a.error,
                }
                for a in answers
            ],
        )
        self._feed(Assessed(token, view, dataset, self.server.replicaof, replicas))

    async def _hint(self, host: str, port: int, exited_at: float | None) -> None:
        try:
            await self._hint_round(host, port, exited_at)
        finally:
            self._hinting = False

    async def _hint_round(self, host: str, port: int, exited_at: float | None) -> None:
        tg = self._targets()
        timeout = self.hc.health.probe_timeout
        results: list[HintResult] = [HintResult(t, "unreachable", "no answer in time") for t in tg]

        async def one(i: int, t: SentinelTarget) -> None:
            # How long ago, at the moment of sending (the policy's clock is trio's).
            ago = None if exited_at is None else max(0, int((trio.current_time() - exited_at) * 1000))
            results[i] = await trio.to_thread.run_sync(
                send_hint, t, self.hc.master_name, host, port, timeout, ago, abandon_on_cancel=True
            )

        with trio.move_on_after(timeout + 0.5):
            async with trio.open_nursery() as n:
                for i, t in enumerate(tg):
                    n.start_soon(one, i, t)
        for r in results:
            key = (r.target.label, r.outcome)
            first = key not in self.hint_reported
            self.hint_reported.add(key)
            fields = {
                "sentinel": r.target.label,
                "master": f"{host}:{port}",
                "outcome": r.outcome,
                "detail": r.detail,
            }
            if r.outcome == "unsupported" and first:
                log.warning(
                    "sentinel does not implement SENTINEL IS-MASTER-DOWN-HINT: the failover waits for "
                    "down-after-milliseconds",
                    **fields,
                )
            elif r.outcome == "accepted" and first:
                log.info("master-down hint sent", **fields)
            else:
                log.debug("master-down hint", **fields)


# ---------------------------------------------------------------------------------------------
# Entry point


def prepare(path: str) -> tuple[HostConfig, ServerFacts, SentinelFacts]:
    """Load and check the host config and the two config files it names."""
    hc = load_host_config(path)
    return hc, server_facts(hc), sentinel_facts(hc)


def main(argv: list[str] | None = None) -> int:
    """`hasentinel supervise <host config> [--check]`; returns the exit code."""
    ap = argparse.ArgumentParser(
        prog="hasentinel supervise",
        description="Run this host's server and sentinel, restart them, keep an empty master from wiping its replicas.",
    )
    ap.add_argument("config", help="the host config (TOML), e.g. /etc/hasentinel/host.toml")
    ap.add_argument("--check", action="store_true", help="check the configs, print the commands, exit")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        hc, srv, sen = prepare(args.config)
    except HostConfigError as e:
        print(f"hasentinel supervise: {e}", file=sys.stderr)
        return EXIT_CONFIG
    if args.check:
        print(f"host config {hc.path}: OK (master {hc.master_name!r}, this host {hc.address})")
        print("sentinel: " + " ".join(sentinel_argv(hc)))
        print("server:   " + " ".join(server_argv(hc, None)) + "  [+ --replicaof <decided at each start>]")
        print(f"dataset:  {inspect_dataset(srv.files).detail}")
        peers = [f"{h}:{p}" for h, p in (*hc.sentinel.peers, *sen.config_peers)]
        print(
            f"peers:    {', '.join(peers) or '(none configured; discovered ones are read from ' + str(sen.state_path) + ')'}"
        )
        return 0
    configure_logging(hc.log_level, hc.log_file, service="supervisor")
    sup = Supervisor(hc, srv, sen, Notifier.from_env())
    return trio.run(sup.run)
