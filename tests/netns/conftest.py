"""A lab of Linux network namespaces: N hosts and a client on one bridged L2 segment.

Reusable by every multi-host test (VIP, ownership, lab drills). Topology, all inside namespaces
this test session creates; the test subnet exists nowhere in the root namespace:

    <prefix>L-br   br0 (bridge) --+-- vh0 ==veth== eth0  <prefix>L-h0   10.250.K.11/24
                                  +-- vh1 ==veth== eth0  <prefix>L-h1   10.250.K.12/24
                                  +-- vc  ==veth== eth0  <prefix>L-c    10.250.K.2/24  (client)

`<prefix>` is `hsvip-<pid>-`; K is one octet per lab in the session. Each host's eth0 gets the
fixed MAC 02:00:0a:fa:KK:NN (NN = the address's last octet in hex), so tests can assert MACs.

Fixtures:
- `netns_lab(hosts=3)` -> `Lab` (factory; every lab built is torn down after the test);
- `lab` -> a 3-host `Lab`.

`Lab` helpers: `host.run(...)` / `host.popen(...)` run a command in a namespace, `lab.ping(ip)`
pings from the client, `lab.neigh(ip)` reads the client's ARP entry, `lab.capture()` records ARP
frames arriving at the client, `lab.python(ns, ...)` runs this repo's Python in a namespace.

Teardown is guaranteed: processes the lab started are killed by PID, then every process still
inside one of its namespaces (only ours are named with the prefix) is killed by PID, then the
namespaces are deleted (which removes the veths and the bridge). A session fixture also sweeps
namespaces left by this run, and by earlier runs whose pid no longer exists.

Tests needing all this skip with a reason when not root or when `ip netns add` fails.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from sentinel.vip.garp import ArpFrame, parse_arp

REPO = Path(__file__).resolve().parents[2]
NSTOOL = Path(__file__).resolve().parent / "nstool.py"
NS_PREFIX = f"hsvip-{os.getpid()}-"
NS_RE = re.compile(r"^hsvip-(\d+)-")
IP_TIMEOUT = 15.0
PACKET_OUTGOING = 4
_lab_ids = itertools.count(1)
_availability: list[str | None] = []


# -- root-namespace plumbing (only `ip netns ...` / `ip -n <ours> ...`) ---------------------------


def _ip(*args: str, check: bool = True, timeout: float = IP_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout, check=check)


def list_netns() -> list[str]:
    """Names of the named network namespaces."""
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(ns: str) -> list[int]:
    """PIDs of processes inside namespace `ns`."""
    out = _ip("netns", "pids", ns, check=False).stdout
    return [int(x) for x in out.split() if x.isdigit()]


def delete_netns(ns: str) -> None:
    """Kill (by PID) what still runs inside our namespace `ns`, then delete it."""
    assert NS_RE.match(ns), f"refusing to touch a namespace that is not ours: {ns}"
    for _ in range(5):
        pids = [p for p in netns_pids(ns) if p != os.getpid()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    _ip("netns", "del", ns, check=False)


def sweep(pred: Callable[[str], bool]) -> list[str]:
    """Delete our namespaces matching `pred`; returns their names."""
    gone = [ns for ns in list_netns() if NS_RE.match(ns) and pred(ns)]
    for ns in gone:
        delete_netns(ns)
    return gone


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(ns: str) -> bool:
    m = NS_RE.match(ns)
    return m is not None and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1)))


def netns_unavailable() -> str | None:
    """Why namespace tests cannot run here, or None (checked once per session)."""
    if not _availability:
        reason: str | None = None
        if not sys.platform.startswith("linux"):
            reason = "network namespaces need Linux"
        elif os.geteuid() != 0:
            reason = "network namespace tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW)"
        elif shutil.which("ip") is None:
            reason = "iproute2's `ip` is not installed"
        else:
            probe = f"{NS_PREFIX}probe"
            try:
                r = _ip("netns", "add", probe, check=False)
                if r.returncode != 0:
                    reason = f"`ip netns add` does not work here: {r.stderr.strip()}"
            finally:
                _ip("netns", "del", probe, check=False)
        _availability.append(reason)
    return _availability[0]


def require_netns() -> None:
    """Skip the calling test when namespaces are not available."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _netns_sweep() -> Iterator[None]:
    """Before: remove namespaces of dead earlier runs. After: remove every namespace of this run."""
    can = sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("ip") is not None
    if can:
        sweep(_stale)
    try:
        yield
    finally:
        if can:
            sweep(lambda ns: ns.startswith(NS_PREFIX))


# -- the lab ------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


@dataclass
class Netns:
    """A namespace of the lab; commands run in it via `ip netns exec`."""

    name: str
    lab: Lab = field(repr=False, compare=False)

    def argv(self, *cmd: str) -> list[str]:
        """`cmd` wrapped to run in this namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(
        self,
        *cmd: str,
        timeout: float = 30.0,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `cmd` here to completion (bounded), capturing text output."""
        r = subprocess.run(
            self.argv(*cmd), capture_output=True, text=True, timeout=timeout, env={**_env(), **(env or {})}
        )
        if check and r.returncode != 0:
            raise AssertionError(f"{cmd} in {self.name} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
        return r

    def popen(self, *cmd: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[str]:
        """Start `cmd` here; the lab kills it by PID at teardown."""
        p: subprocess.Popen[str] = subprocess.Popen(  # type: ignore[call-overload]
            self.argv(*cmd), text=True, env={**_env(), **(env or {})}, **kw
        )
        self.lab.procs.append(p)
        return p

    def python(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        """Run this repo's Python (the venv's) here: `python(*args)`."""
        return self.run(sys.executable, *args, **kw)  # type: ignore[arg-type]

    def ip(self, *args: str, check: bool = True) -> str:
        """`ip -n <this> args`, stdout."""
        return _ip("-n", self.name, *args, check=check).stdout


@dataclass
class Host(Netns):
    """A namespace with one interface `eth0` on the lab's segment."""

    address: IPv4Interface
    mac: str
    ifname: str = "eth0"

    @property
    def ip_addr(self) -> IPv4Address:
        """The host's own address (no prefix)."""
        return self.address.ip

    def addresses(self) -> list[IPv4Interface]:
        """IPv4 addresses on eth0, read with `ip -j`."""
        out = json.loads(self.ip("-j", "-4", "addr", "show", "dev", self.ifname) or "[]")
        return [
            IPv4Interface(f"{a['local']}/{a['prefixlen']}") for link in out for a in link.get("addr_info", [])
        ]


@dataclass
class Captured:
    """One ARP frame seen at the client (`t`: kernel receive time; compare with other `t`s only)."""

    t: float
    raw: bytes
    outgoing: bool
    arp: ArpFrame | None


class ArpCapture:
    """ARP frames arriving at a namespace's interface, recorded by `nstool.py capture`."""

    def __init__(self, ns: Netns, iface: str = "eth0", seconds: float = 30.0, max_frames: int = 500) -> None:
        self.proc = ns.popen(
            sys.executable,
            str(NSTOOL),
            "capture",
            "--iface",
            iface,
            "--seconds",
            str(seconds),
            "--max",
            str(max_frames),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.frames: list[Captured] = []
        threading.Thread(target=self._read, daemon=True).start()
        first = self._lines.get(timeout=15)
        if first != "READY":
            self.stop()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"capture did not start: {first!r} {err}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def _drain(self, wait: float) -> bool:
        """Move available lines into `frames`; False once the capture ended."""
        try:
            line = self._lines.get(timeout=max(0.0, wait))
        except queue.Empty:
            return True
        for _ in range(10000):
            if line is None:
                return False
            rec = json.loads(line)
            raw = bytes.fromhex(rec["hex"])
            try:
                arp: ArpFrame | None = parse_arp(raw)
            except ValueError:
                arp = None
            self.frames.append(Captured(rec["t"], raw, rec["pkttype"] == PACKET_OUTGOING, arp))
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return True
        return True

    def wait_for(
        self, pred: Callable[[Captured], bool], count: int = 1, timeout: float = 5.0
    ) -> list[Captured]:
        """Frames matching `pred`, once `count` have arrived or `timeout` passed (whichever first)."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            got = [f for f in self.frames if pred(f)]
            left = deadline - time.monotonic()
            if len(got) >= count or left <= 0:
                return got
            if not self._drain(min(left, 0.1)) and self._lines.empty():
                return [f for f in self.frames if pred(f)]
        return [f for f in self.frames if pred(f)]

    def stop(self) -> None:
        """Kill the capture helper (by PID)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> ArpCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class NeighEntry:
    """The client's ARP cache entry for an address."""

    ip: str
    lladdr: str | None
    state: list[str]


@dataclass
class Lab:
    """N host namespaces and a client namespace bridged on 10.250.K.0/24."""

    lab_id: int
    subnet: IPv4Network
    bridge: Netns = field(init=False)
    client: Host = field(init=False)
    hosts: list[Host] = field(default_factory=list)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def ns_name(self, role: str) -> str:
        """Our namespace name for `role` in this lab."""
        return f"{NS_PREFIX}{self.lab_id}-{role}"

    def addr(self, last: int) -> IPv4Interface:
        """10.250.K.<last>/24."""
        return IPv4Interface(f"{self.subnet.network_address + last}/{self.subnet.prefixlen}")

    def mac(self, last: int) -> str:
        """The fixed MAC of the lab member whose address ends in `last`."""
        return f"02:00:0a:fa:{self.subnet.network_address.packed[2]:02x}:{last:02x}"

    def vip(self, last: int = 100) -> IPv4Interface:
        """A VIP on the lab's segment (10.250.K.100/24 by default)."""
        return self.addr(last)

    def _add_ns(self, role: str) -> str:
        name = self.ns_name(role)
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")
        return name

    def _attach(self, role: str, port: str, last: int) -> Host:
        name = self._add_ns(role)
        h = Host(name=name, lab=self, address=self.addr(last), mac=self.mac(last))
        # Both veth ends are created directly in their namespaces: nothing touches the root's links.
        _ip(
            "-n", self.bridge.name, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name
        )
        _ip("-n", self.bridge.name, "link", "set", port, "master", "br0", "up")
        _ip("-n", name, "link", "set", "eth0", "address", h.mac, "up")
        _ip("-n", name, "addr", "add", str(h.address), "dev", "eth0")
        return h

    def build(self, hosts: int) -> Lab:
        """Create the namespaces, bridge and links (the caller tears down on failure)."""
        self.bridge = Netns(self._add_ns("br"), self)
        _ip(
            "-n",
            self.bridge.name,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        )
        _ip("-n", self.bridge.name, "link", "set", "br0", "up")
        self.client = self._attach("c", "vc", 2)
        for i in range(hosts):
            self.hosts.append(self._attach(f"h{i}", f"vh{i}", 11 + i))
        for h in self.hosts:
            assert self.ping(h.ip_addr, count=3, timeout=1.0), f"lab broken: client cannot reach {h.ip_addr}"
        return self

    def ping(self, ip: IPv4Address | IPv4Interface | str, count: int = 1, timeout: float = 1.0) -> bool:
        """ICMP echo from the client to `ip` (a lab address); True if any reply."""
        dst = str(ip.ip if isinstance(ip, IPv4Interface) else ip)
        assert IPv4Address(dst) in self.subnet, f"{dst} is not a lab address"
        r = self.client.run(
            sys.executable,
            str(NSTOOL),
            "ping",
            "--dst",
            dst,
            "--count",
            str(count),
            "--timeout",
            str(timeout),
            check=False,
            timeout=count * timeout + 15,
        )
        return r.returncode == 0

    def neigh(self, ip: IPv4Address | IPv4Interface | str) -> NeighEntry | None:
        """The client's ARP cache entry for `ip` (`ip neigh` in the client namespace)."""
        dst = str(ip.ip if isinstance(ip, IPv4Interface) else ip)
        out = json.loads(self.client.ip("-j", "neigh", "show", "to", dst, "dev", "eth0") or "[]")
        if not out:
            return None
        e = out[0]
        return NeighEntry(e["dst"], e.get("lladdr"), list(e.get("state", [])))

    def wait_neigh_mac(
        self, ip: IPv4Address | IPv4Interface | str, mac: str, timeout: float = 5.0
    ) -> NeighEntry | None:
        """Poll the client's ARP entry until it shows `mac` (bounded); the last entry read."""
        deadline = time.monotonic() + timeout
        entry = None
        for _ in range(int(timeout / 0.05) + 2):
            entry = self.neigh(ip)
            if (entry and entry.lladdr == mac) or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return entry

    def capture(self, seconds: float = 30.0, max_frames: int = 500) -> ArpCapture:
        """Start recording ARP frames at the client's eth0 (returns once the socket is bound)."""
        return ArpCapture(self.client, seconds=seconds, max_frames=max_frames)

    def holders(self, vip: IPv4Interface) -> list[str]:
        """Names of the lab hosts whose eth0 carries `vip`'s address."""
        return [h.name for h in self.hosts if any(a.ip == vip.ip for a in h.addresses())]

    def close(self) -> None:
        """Kill what we started (by PID), then delete every namespace of this lab."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        for ns in reversed(self.namespaces):
            delete_netns(ns)


@pytest.fixture
def netns_lab() -> Iterator[Callable[..., Lab]]:
    """`netns_lab(hosts=3)` -> a fresh `Lab`; all labs made are torn down after the test."""
    require_netns()
    labs: list[Lab] = []

    def make(hosts: int = 3) -> Lab:
        lab_id = next(_lab_ids)
        lab = Lab(lab_id, IPv4Network(f"10.250.{(lab_id - 1) % 250 + 1}.0/24"))
        labs.append(lab)
        return lab.build(hosts)

    try:
        yield make
    finally:
        for lab in labs:
            lab.close()


@pytest.fixture
def lab(netns_lab: Callable[..., Lab]) -> Lab:
    """A 3-host lab."""
    return netns_lab(3)
