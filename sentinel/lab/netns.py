"""Named network namespaces on one bridged L2 segment (root-namespace plumbing via `ip`).

Topology (the bridge lives in its own namespace; the lab subnet exists nowhere in the root one):

    <prefix>br   br0 (bridge) --+-- v<role> ==veth== eth0  <prefix><role>  <subnet>.<last>/24

Only `ip netns ...` and `ip -n <ours> ...` are run; every call is bounded in time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

IP_TIMEOUT = 15.0


def ip(*args: str, check: bool = True, timeout: float = IP_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run `ip args` (bounded)."""
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout, check=check)


def list_netns() -> list[str]:
    """Names of the named network namespaces."""
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(ns: str) -> list[int]:
    """PIDs of processes inside namespace `ns`."""
    out = ip("netns", "pids", ns, check=False).stdout
    return [int(x) for x in out.split() if x.isdigit()]


def delete_netns(ns: str, prefix: str) -> None:
    """Kill (by PID) what still runs inside our namespace `ns`, then delete it."""
    if not ns.startswith(prefix):
        raise ValueError(f"refusing to touch a namespace that is not ours: {ns}")
    for _ in range(20):
        pids = [p for p in netns_pids(ns) if p != os.getpid()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    ip("netns", "del", ns, check=False)


@dataclass
class Member:
    """A namespace with `eth0` on the segment."""

    name: str
    address: IPv4Interface
    mac: str

    def argv(self, *cmd: str) -> list[str]:
        """`cmd` wrapped to run in this namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def addresses(self) -> list[IPv4Interface]:
        """IPv4 addresses on eth0."""
        out = json.loads(
            ip("-n", self.name, "-j", "-4", "addr", "show", "dev", "eth0", check=False).stdout or "[]"
        )
        return [
            IPv4Interface(f"{a['local']}/{a['prefixlen']}") for link in out for a in link.get("addr_info", [])
        ]


@dataclass
class Segment:
    """Namespaces `<prefix><role>` bridged on `subnet` (a /24)."""

    prefix: str
    subnet: IPv4Network
    namespaces: list[str] = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)

    @property
    def bridge_ns(self) -> str:
        """The namespace holding br0."""
        return f"{self.prefix}br"

    def addr(self, last: int) -> IPv4Interface:
        """<subnet>.<last>/<prefixlen>."""
        return IPv4Interface(f"{self.subnet.network_address + last}/{self.subnet.prefixlen}")

    def mac(self, last: int) -> str:
        """A fixed, locally administered MAC for the member ending in `last`."""
        return f"02:00:0a:fa:{self.subnet.network_address.packed[2]:02x}:{last:02x}"

    def _add_ns(self, name: str) -> None:
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def build_bridge(self) -> None:
        """Create the bridge namespace and br0."""
        self._add_ns(self.bridge_ns)
        ip(
            "-n",
            self.bridge_ns,
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
        ip("-n", self.bridge_ns, "link", "set", "br0", "up")

    def attach(self, role: str, last: int) -> Member:
        """Create `<prefix><role>` with eth0 = <subnet>.<last> on the bridge."""
        name = f"{self.prefix}{role}"
        self._add_ns(name)
        m = Member(name, self.addr(last), self.mac(last))
        port = f"v{role}"[:15]
        # Both veth ends are created directly in their namespaces: nothing touches the root's links.
        ip("-n", self.bridge_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name)
        ip("-n", self.bridge_ns, "link", "set", port, "master", "br0", "up")
        ip("-n", name, "link", "set", "eth0", "address", m.mac, "up")
        ip("-n", name, "addr", "add", str(m.address), "dev", "eth0")
        self.members[role] = m
        return m

    def teardown(self) -> None:
        """Delete every namespace of this segment (killing what runs inside, by PID)."""
        for ns in reversed(self.namespaces):
            delete_netns(ns, self.prefix)
        self.namespaces.clear()


def address_of(ip_text: str) -> IPv4Address:
    """Parse an IPv4 address."""
    return IPv4Address(ip_text)
