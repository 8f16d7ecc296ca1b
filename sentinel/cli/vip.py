"""Who holds the VIP, as observed (never as assumed from the sentinels' configuration).

Three observations, none needing privileges:

* `local`: binding a socket to the VIP succeeds only if this host carries the address;
* `service`: a connection to VIP:<master port> is answered by some server: its `run_id` and
  `role` say which instance the VIP leads to (compared with the instances the sentinels know);
* `arp`: after that connection attempt the kernel's neighbour table (/proc/net/arp) holds the
  MAC that answered for the VIP; the same table, filled the same way for every known host,
  says which host that MAC belongs to (only on the VIP's own L2 segment).

The VIP address comes from `--vip`, else `HASENTINEL_VIP`, else the `vip` key of the VIP config
file (`HASENTINEL_VIP_CONF`, default /etc/hasentinel/vip.conf). Without one the VIP is shown as
`unknown` with that reason.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from sentinel.cli.client import Endpoint, Sources, data_client, info_of

DEFAULT_VIP_CONF = Path("/etc/hasentinel/vip.conf")
ARP_TABLE = Path("/proc/net/arp")


@dataclass(frozen=True)
class Instance:
    """A data node the sentinels know: address, run id, role as the sentinels see it."""

    ep: Endpoint
    runid: str
    role: str


def vip_address(option: str | None, env: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """(VIP address, where it came from or why there is none)."""
    env = os.environ if env is None else env
    if option:
        return option.split("/")[0], "--vip"
    if env.get("HASENTINEL_VIP"):
        return env["HASENTINEL_VIP"].split("/")[0], "HASENTINEL_VIP"
    conf = Path(env["HASENTINEL_VIP_CONF"]) if env.get("HASENTINEL_VIP_CONF") else DEFAULT_VIP_CONF
    try:
        from sentinel.vip.config import read_conf_file

        values = read_conf_file(conf)
    except Exception as e:
        if not conf.exists():
            return None, f"no VIP configured (pass --vip ADDR, set HASENTINEL_VIP, or create {conf})"
        return None, f"VIP config unusable: {e}"
    if "vip" not in values:
        return None, f"{conf} has no 'vip' key"
    return values["vip"].split("/")[0], str(conf)


def is_local(ip: str) -> bool:
    """Whether this host carries `ip` (bind succeeds only for a local address)."""
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        try:
            s.bind((ip, 0))
        except OSError:
            return False
    return True


def arp_table(path: Path = ARP_TABLE) -> dict[str, str]:
    """IPv4 -> MAC of the complete entries of the kernel's neighbour table."""
    out: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[2] != "0x0" and parts[3] != "00:00:00:00:00:00":
            out[parts[0]] = parts[3].lower()
    return out


def _poke(ip: str, port: int) -> None:
    """Make the kernel resolve `ip`'s MAC (a UDP datagram to the discard port; no answer needed)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"", (ip, port))


def observe(
    vip: str | None,
    why: str,
    src: Sources,
    master: str,
    port: int | None,
    instances: list[Instance],
) -> dict[str, Any]:
    """The `vip` object of `status --json` (see docs/cli.md for its fields)."""
    doc: dict[str, Any] = {
        "address": vip,
        "state": "unknown",
        "holder": None,
        "reason": None,
        "observations": [],
    }
    if vip is None:
        doc["reason"] = why
        return doc
    try:
        ipaddress.ip_address(vip)
    except ValueError:
        doc["reason"] = f"'{vip}' is not an IP address"
        return doc
    obs: list[dict[str, Any]] = doc["observations"]
    local = is_local(vip)
    obs.append({"method": "local", "result": "this host carries the VIP" if local else "not on this host"})
    leads_to: Instance | None = None
    if port is not None:
        c = data_client(src, Endpoint(vip, port), master)
        try:
            info = info_of(c)
            runid = info.get("run_id", "")
            leads_to = next((i for i in instances if i.runid and i.runid == runid), None)
            role = info.get("role", "?")
            if leads_to is None:
                text = f"VIP:{port} answers as a {role} unknown to the sentinels (run_id {runid[:8]})"
            else:
                text = f"VIP:{port} leads to {leads_to.ep} (reports role {role})"
            obs.append({"method": "service", "result": text, "role": role})
        except (redis.RedisError, OSError) as e:
            obs.append({"method": "service", "result": f"VIP:{port} does not answer: {e}"})
        finally:
            c.close()
    if ":" not in vip and not local:
        _poke(vip, 9)
        for i in instances:
            _poke(i.ep.host, 9)
        table = arp_table()
        mac = table.get(vip)
        if mac is None:
            obs.append({"method": "arp", "result": "no ARP entry for the VIP (not on this segment, or no holder)"})
        else:
            hosts = sorted({i.ep.host for i in instances if table.get(i.ep.host) == mac})
            text = f"VIP is at MAC {mac}" + (f" = {', '.join(hosts)}" if hosts else " (no known host has it)")
            obs.append({"method": "arp", "result": text, "mac": mac, "hosts": hosts})
            if leads_to is None and len(hosts) == 1:
                leads_to = next(i for i in instances if i.ep.host == hosts[0])
    if leads_to is not None:
        doc["holder"] = str(leads_to.ep)
        doc["state"] = "master" if leads_to.role == "master" else "wrong"
        if doc["state"] == "wrong":
            doc["reason"] = f"the VIP leads to {leads_to.ep}, which is not the master"
    elif local:
        doc["state"] = "local"
        doc["holder"] = "this host"
    else:
        doc["state"] = "unreachable"
        doc["reason"] = "nothing answers on the VIP"
    return doc
