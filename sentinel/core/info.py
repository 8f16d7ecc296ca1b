"""INFO reply parsing, exactly the fields and rules of stock `sentinelRefreshInstanceInfo`.

Lines are split on CRLF and matched by prefix. The replica-only fields are read only after a
`role:slave` line was seen earlier in the same reply (so the server must print `role:` before
`master_host`). Absent fields are None: the caller keeps its previous value for them, as stock
does, except `master_link_down_ms` which stock resets to 0 before every parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sentinel.core.config import atoi


class Role(StrEnum):
    """Role an instance reports in INFO ("" when the reply had no role line)."""

    UNKNOWN = ""
    MASTER = "master"
    SLAVE = "slave"


@dataclass(slots=True)
class InfoReport:
    """What the sentinel uses from one INFO reply."""

    run_id: str | None = None
    role: Role = Role.UNKNOWN
    replicas: list[tuple[str, int]] = field(default_factory=list)
    """(ip, port) of every `slaveN:` line (only parsed when asked: the instance is a master)."""
    master_link_down_ms: int = 0
    """`master_link_down_since_seconds` x 1000 (-1000 when the link never came up), else 0."""
    master_host: str | None = None
    master_port: int | None = None
    master_link_up: bool | None = None
    slave_priority: int | None = None
    slave_repl_offset: int | None = None
    replica_announced: bool | None = None


def parse_info(text: str, as_master: bool = True) -> InfoReport:
    """Parse an INFO bulk reply. `as_master`: the instance is one of our masters (read slaveN)."""
    r = InfoReport()
    for line in text.split("\r\n"):
        if len(line) >= 47 and line.startswith("run_id:"):
            r.run_id = line[7:47]
        if as_master and len(line) >= 7 and line.startswith("slave") and line[5].isdigit():
            addr = _replica_line(line)
            if addr is not None:
                r.replicas.append(addr)
        if line.startswith("master_link_down_since_seconds:"):
            r.master_link_down_ms = atoi(line[31:]) * 1000
        if line.startswith("role:master"):
            r.role = Role.MASTER
        elif line.startswith("role:slave"):
            r.role = Role.SLAVE
        if r.role is Role.SLAVE:
            if line.startswith("master_host:"):
                r.master_host = line[12:]
            elif line.startswith("master_port:"):
                r.master_port = atoi(line[12:])
            elif line.startswith("master_link_status:"):
                r.master_link_up = line[19:21].lower() == "up"
            elif line.startswith("slave_priority:"):
                r.slave_priority = atoi(line[15:])
            elif line.startswith("slave_repl_offset:"):
                r.slave_repl_offset = max(0, atoi(line[18:]))
            elif line.startswith("replica_announced:"):
                r.replica_announced = atoi(line[18:]) != 0
    return r


def _replica_line(line: str) -> tuple[str, int] | None:
    """`slaveN:ip=..,port=..,...` (new format) or `slaveN:<ip>,<port>,<state>` (old format)."""
    if "ip=" not in line:
        colon = line.find(":")
        if colon < 0:
            return None
        parts = line[colon + 1 :].split(",")
        if len(parts) < 3:
            return None
        return parts[0], atoi(parts[1])
    ip_at = line.find("ip=")
    port_at = line.find("port=")
    if port_at < 0:
        return None
    ip = line[ip_at + 3 :].split(",", 1)[0]
    port = line[port_at + 5 :].split(",", 1)[0]
    return ip, atoi(port)


@dataclass(slots=True)
class ReplIds:
    """Ours: the PSYNC2 fields of INFO (any role), read only when ranking replicas."""

    master_repl_offset: int | None = None
    """The offset of the stream this server holds (a master's own offset)."""
    master_replid: str | None = None
    """The history it serves or follows (a replica's is its master's)."""
    master_replid2: str | None = None
    """The history a promoted replica continued from."""
    second_repl_offset: int | None = None
    """Up to where (exclusive) it holds the `master_replid2` history."""


def parse_repl_ids(text: str) -> ReplIds:
    """`master_replid`, `master_replid2`, `master_repl_offset`, `second_repl_offset` of an INFO
    reply (not part of `parse_info`, which runs on every INFO: these are needed at selection)."""
    r = ReplIds()
    for line in text.split("\r\n"):
        if not line.startswith(("master_repl", "second_repl")):
            continue
        if line.startswith("master_repl_offset:"):
            r.master_repl_offset = max(0, atoi(line[19:]))
        elif line.startswith("master_replid:"):
            r.master_replid = line[14:]
        elif line.startswith("master_replid2:"):
            r.master_replid2 = line[15:]
        elif line.startswith("second_repl_offset:"):
            r.second_repl_offset = atoi(line[19:])
    return r
