"""sd_notify(3) over the NOTIFY_SOCKET datagram socket, without libsystemd.

systemd passes `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket) to a `Type=notify`
service, and `WATCHDOG_USEC` (with `WATCHDOG_PID`) when `WatchdogSec=` is set. Messages are
newline-separated `KEY=VALUE` assignments in one datagram: `READY=1`, `STATUS=...`,
`WATCHDOG=1`, `STOPPING=1`. Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

#: Variables that are for this process only: never passed on to the children.
SYSTEMD_ONLY_ENV = (
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
)


def socket_address(value: str) -> str | None:
    """NOTIFY_SOCKET's value as an AF_UNIX address ('@x' -> abstract '\\0x'); None if unusable."""
    if not value:
        return None
    if value[0] == "@":
        return "\0" + value[1:]
    if value[0] == "/":
        return value
    return None  # vsock: and other transports are not supported


def watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
    """Seconds between WATCHDOG=1 messages (half of WatchdogSec), None when not asked for."""
    usec = env.get("WATCHDOG_USEC", "")
    wpid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if wpid and (not wpid.isdigit() or int(wpid) != pid):
        return None
    return int(usec) / 1_000_000 / 2


class Notifier:
    """Sends sd_notify messages; silently does nothing without NOTIFY_SOCKET."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.sock: socket.socket | None = None
        self.errors = 0
        if address is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        return cls(socket_address(env.get("NOTIFY_SOCKET", "")))

    @property
    def enabled(self) -> bool:
        return self.sock is not None

    def notify(self, *assignments: str) -> bool:
        """Send one datagram with the assignments; returns whether it was sent."""
        if self.sock is None or self.address is None:
            return False
        data = "\n".join(assignments).encode("utf-8", "replace")
        try:
            self.sock.sendto(data, self.address)
        except OSError:
            self.errors += 1
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify("STATUS=" + text.replace("\n", " "))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
