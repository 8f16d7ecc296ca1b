"""What a drill needs from a lab: the `LabBackend` protocol.

A backend runs three hosts (`hosts`, the first one the initial master, holding the VIP) each
with `hasentinel supervise` (server + sentinel, the sentinel owning the VIP by the ownership
rule of docs/vip.md), and one client node (`CLIENT`) that reaches the hosts and the VIP.
`NetnsLab` (sentinel/drill/netns.py) is the network-namespace implementation; a Vagrant/SSH
backend implements the same methods with `ssh`/`vagrant ssh`, `tc` and `ip` on the VMs.

Clocks: records carry a monotonic time `t` and a wall time `w`. `shared_clock` says whether the
monotonic clocks of every node and of the drill process are the same clock (true for namespaces
on one kernel); when false the checker uses the wall times (keep the VMs NTP-synchronised).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

CLIENT = "client"

Service = Literal["server", "sentinel", "supervisor"]


@dataclass(frozen=True)
class Netem:
    """`tc qdisc ... netem` parameters for one host's egress."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0

    def args(self) -> list[str]:
        """The netem arguments after `netem`."""
        out: list[str] = []
        if self.delay_ms or self.jitter_ms:
            out += ["delay", f"{self.delay_ms}ms", f"{self.jitter_ms}ms"]
        if self.loss_pct:
            out += ["loss", f"{self.loss_pct}%"]
        return out


@dataclass(frozen=True)
class LabProfile:
    """The cluster settings a backend starts with (the drills' defaults)."""

    down_after_ms: int = 1000
    failover_timeout_ms: int = 5000
    master_restart: str = "never"  # a crashed master always waits for a failover (docs/operations.md)


@runtime_checkable
class LabBackend(Protocol):
    """A three-host cluster plus a client that a drill can start, observe and break."""

    name: str
    hosts: tuple[str, ...]
    vip: str  # the VIP's address, without prefix
    master_name: str
    server_port: int
    sentinel_port: int
    profile: LabProfile
    shared_clock: bool
    python: str  # the Python (with this package installed) to run on every node

    def up(self, timeout: float) -> None:
        """Start a fresh cluster (empty data, the first host master with the VIP) and wait,
        bounded, until it is healthy: a write through the VIP works and every sentinel knows
        the two replicas and the two other sentinels. Raises on failure."""

    def down(self) -> None:
        """Stop everything the backend started and remove the lab (also after a failure)."""

    def address(self, host: str) -> str:
        """The host's own address (where its server and sentinel listen)."""

    def run(self, node: str, argv: list[str], timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
        """Run `argv` on `node` (a host or CLIENT), bounded; never raises for a non-zero exit."""

    def spawn(self, node: str, argv: list[str]) -> subprocess.Popen[str]:
        """Start `argv` on `node` in the background: stdin and stdout are pipes (text), stderr is
        kept by the backend. The caller stops it with `stop(p)`."""

    def stop(self, p: subprocess.Popen[str], timeout: float = 5.0) -> None:
        """Stop a process from `spawn` (close stdin, then SIGTERM, then SIGKILL, bounded)."""

    def kill(self, host: str, service: Service, sig: int = 9) -> list[int]:
        """Send `sig` to the host's service process(es); returns the PIDs signalled."""

    def power_off(self, host: str) -> None:
        """The host dies: off the network at once, every service process SIGKILLed (the
        supervisor too: nothing restarts, nothing cleans up)."""

    def power_on(self, host: str) -> None:
        """The host boots again: addresses added at run time (the VIP) are gone, the network is
        back, `hasentinel supervise` starts with the data left on disk."""

    def cut(self, a: str, b: str, port: int | None = None) -> None:
        """Drop every packet between hosts `a` and `b` (both directions, silently), or only
        those from or to `port` on either side. The client is never cut."""

    def heal(self) -> None:
        """Remove every cut."""

    def netem(self, host: str, spec: Netem) -> None:
        """Delay / lose the host's outgoing packets."""

    def clear_netem(self, host: str) -> None:
        """Remove the host's netem."""


class _Probed(Protocol):
    """What `cluster_health` reads of a lab (read-only, so properties do)."""

    @property
    def hosts(self) -> tuple[str, ...]: ...
    @property
    def vip(self) -> str: ...
    @property
    def master_name(self) -> str: ...
    @property
    def server_port(self) -> int: ...
    @property
    def sentinel_port(self) -> int: ...
    def run(self, node: str, argv: list[str], timeout: float = 10.0) -> subprocess.CompletedProcess[str]: ...


def cluster_health(lab: _Probed) -> str | None:
    """None when `lab` is healthy as `up` promises (a write through the VIP works and every
    sentinel knows two replicas and two peers), else what is missing."""
    r = lab.run(CLIENT, ["redis-cli", "-h", lab.vip, "-p", str(lab.server_port), "SET", "drill:probe", "1"])
    if r.stdout.strip() != "OK":
        return f"write through the VIP: {(r.stdout + r.stderr).strip()}"
    for h in lab.hosts:
        r = lab.run(h, ["redis-cli", "-p", str(lab.sentinel_port), "SENTINEL", "MASTER", lab.master_name])
        f = r.stdout.split("\n")
        kv = dict(zip(f[0::2], f[1::2], strict=False))
        if kv.get("num-slaves") != "2" or kv.get("num-other-sentinels") != "2":
            return f"sentinel on {h}: {kv.get('num-slaves')} replicas, {kv.get('num-other-sentinels')} peers"
    return None


def wait_healthy(
    check: Callable[[], str | None], timeout: float, period: float, sleep: Callable[[float], None] = time.sleep
) -> str | None:
    """Run `check` every `period` s until it says healthy (None) or `timeout` s passed; returns
    its last answer."""
    deadline = time.monotonic() + timeout
    why = check()
    for _ in range(int(timeout / period) + 1):
        if why is None or time.monotonic() >= deadline:
            break
        sleep(period)
        why = check()
    return why
