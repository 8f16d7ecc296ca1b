"""Which of the capabilities the VIP needs this process lacks (read from /proc/self/status).

CAP_NET_ADMIN adds and removes the address; CAP_NET_RAW sends gratuitous ARPs. Root has both
unless a bounding set or a user namespace took them away, so the effective set is what counts.
"""

from __future__ import annotations

from pathlib import Path

CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
NEEDED = {"CAP_NET_ADMIN": CAP_NET_ADMIN, "CAP_NET_RAW": CAP_NET_RAW}


def effective_caps(status: str | None = None) -> int | None:
    """The CapEff mask of this process (None when it cannot be read: not Linux)."""
    if status is None:
        try:
            status = Path("/proc/self/status").read_text()
        except OSError:
            return None
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return None


def missing_capabilities(status: str | None = None) -> list[str]:
    """Names of the needed capabilities that are not in the effective set (empty: all there)."""
    eff = effective_caps(status)
    if eff is None:
        return []  # cannot tell: the first netlink/raw-socket call will say
    return [name for name, bit in NEEDED.items() if not eff & (1 << bit)]


def capability_error(missing: list[str], what: str) -> str:
    """The operator-facing message for missing capabilities."""
    caps = " and ".join(missing)
    return (
        f"{what} needs {caps} (CAP_NET_ADMIN adds/removes the address, CAP_NET_RAW sends gratuitous "
        f"ARP): run as root or grant them, e.g. systemd AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW"
    )
