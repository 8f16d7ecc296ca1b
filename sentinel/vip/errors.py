"""Errors of VIP management, split by what the caller should do about them.

A missing capability or interface is a configuration problem (retrying will not help); any other
`VipError` may be transient (a netlink hiccup, an interface going down) and is worth a retry.
"""

from __future__ import annotations


class VipError(Exception):
    """Something went wrong managing the VIP; may be transient."""


class InterfaceMissing(VipError):
    """The named interface does not exist (in the namespace we looked in)."""

    def __init__(self, iface: str, netns: str | None = None) -> None:
        where = f" in network namespace {netns!r}" if netns else ""
        super().__init__(f"interface {iface!r} does not exist{where}")
        self.iface = iface
        self.netns = netns


class CapabilityMissing(VipError):
    """The process lacks a Linux capability the operation needs; says exactly which one."""

    def __init__(self, capability: str, operation: str) -> None:
        super().__init__(
            f"{operation} needs {capability}: run as root or grant {capability} "
            f"(e.g. systemd AmbientCapabilities={capability})"
        )
        self.capability = capability
        self.operation = operation
