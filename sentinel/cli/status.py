"""`hasentinel status`: every sentinel's belief side by side, the data nodes as they are, the VIP
as observed, and a health verdict usable from monitoring (exit 0 healthy, 1 degraded, 2 down).

`build_status` returns the JSON document (`status --json`, schema in `sentinel.cli.schema` and
docs/cli.md); `render_status` draws it for a person.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis

from sentinel.cli.client import Endpoint, Sources, data_client, explain, info_of, parallel
from sentinel.cli.supervisor import read_status, status_path
from sentinel.cli.survey import MasterView, SentinelView, Survey
from sentinel.cli.vip import Instance, observe, vip_address

SCHEMA_ID = "hasentinel-status/1"
HEALTH_CODES = {"healthy": 0, "degraded": 1, "down": 2}
LAG_WARN_BYTES = 1 << 20
"""A replica further behind than this (bytes) is reported as lagging (degraded)."""


def _now_iso(t: float | None = None) -> str:
    return dt.datetime.fromtimestamp(time.time() if t is None else t, dt.UTC).isoformat(timespec="milliseconds")


def _int(v: str | None) -> int | None:
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        return None


@dataclass
class NodeInfo:
    """INFO of a data node as read directly by the CLI (None fields: not reachable)."""

    ep: Endpoint
    error: str | None
    info: dict[str, str]


def _read_node(src: Sources, master: str, ep: Endpoint) -> NodeInfo:
    c = data_client(src, ep, master)
    try:
        return NodeInfo(ep, None, info_of(c))
    except (redis.RedisError, OSError) as e:
        return NodeInfo(ep, explain(e, "server", ep, src.timeout), {})
    finally:
        c.close()


def _consensus(views: list[tuple[SentinelView, MasterView]]) -> tuple[Endpoint | None, int | None, bool]:
    """The most believed (address, epoch) among the views; whether all agree."""
    beliefs = Counter((mv.address, mv.config_epoch) for _, mv in views)
    if not beliefs:
        return None, None, True
    (addr, epoch), _ = max(beliefs.items(), key=lambda kv: (kv[1], kv[0][1] or -1))
    return addr, epoch, len(beliefs) == 1


def _replica_sets(views: list[tuple[SentinelView, MasterView]]) -> dict[str, tuple[str, ...]]:
    """Each sentinel's known replicas (SENTINEL REPLICAS, sorted addresses), for the sentinels
    whose answers are complete."""
    return {
        str(s.ep): tuple(sorted(f"{r.get('ip', '?')}:{r.get('port', '?')}" for r in mv.replicas))
        for s, mv in views
        if mv.error is None
    }


def _claim(s: SentinelView, mv: MasterView) -> dict[str, Any]:
    """One sentinel's own account of the VIP on its host (SENTINEL VIP-STATUS)."""
    v = mv.vip or {}
    return {
        "sentinel": str(s.ep),
        "vip": v.get("vip", "").split("/")[0] or None,
        "local_server": v.get("local-server") or None,
        "held": v.get("held") == "1",
        "state": v.get("state") or None,
        "lease": v.get("lease") == "1",
        "lease_remaining_ms": _int(v.get("lease-remaining-ms")),
        "fence": v.get("fence") or None,
        "error": v.get("last-error") or v.get("fence-error") or None,
    }


def _sentinel_doc(s: SentinelView) -> dict[str, Any]:
    return {
        "address": str(s.ep),
        "aliases": [str(a) for a in s.aliases],
        "sources": sorted(s.sources),
        "reachable": s.reachable,
        "error": s.error,
        "myid": s.myid,
        "flavour": s.flavour,
        "version": s.version,
        "tilt": s.tilt,
    }


def _master_doc(
    name: str, sv: Survey, src: Sources, vip: tuple[str | None, str], problems: list[dict[str, Any]]
) -> dict[str, Any]:
    views = [(s, s.masters[name]) for s in sv.reachable if name in s.masters]
    addr, epoch, agreed = _consensus(views)

    def problem(severity: str, message: str) -> None:
        problems.append({"severity": severity, "master": name, "message": message})

    runid_of_sentinel = {s.myid: s for s in sv.reachable if s.myid}
    view_docs: list[dict[str, Any]] = []
    for s, mv in views:
        fields = mv.fields
        ago = _int(fields.get("last-failover-ago"))
        view_docs.append(
            {
                "sentinel": str(s.ep),
                "address": str(mv.address) if mv.address else None,
                "config_epoch": mv.config_epoch,
                "agrees": (mv.address, mv.config_epoch) == (addr, epoch),
                "flags": mv.flags,
                "failover_state": fields.get("failover-state"),
                "maintenance": ("maintenance" in mv.flags) if s.flavour == "hasentinel" else None,
                "quorum_ok": mv.quorum_ok,
                "quorum_text": mv.quorum_text,
                "last_vote": (
                    {"leader": fields["leader"], "epoch": _int(fields.get("leader-epoch"))}
                    if "leader" in fields
                    else None
                ),
                "num_sentinels": (_int(fields.get("num-other-sentinels")) or 0) + 1,
                "last_failover": (
                    {
                        "epoch": _int(fields.get("last-failover-epoch")),
                        "kind": fields.get("last-failover-kind"),
                        "at": _now_iso(time.time() - ago / 1000) if ago is not None else None,
                        "duration_ms": _int(fields.get("last-failover-duration")),
                        "from": fields.get("last-failover-from"),
                        "to": fields.get("last-failover-to"),
                    }
                    if "last-failover-epoch" in fields
                    else None
                ),
                "error": mv.error,
            }
        )
    if not views:
        problem("down", "no reachable sentinel monitors this master")
    elif not agreed:
        beliefs = ", ".join(f"{d['sentinel']}: {d['address']} epoch {d['config_epoch']}" for d in view_docs)
        problem("degraded", f"sentinels disagree on the master: {beliefs}")
    known = _replica_sets([(s, mv) for s, mv in views if (mv.address, mv.config_epoch) == (addr, epoch)])
    if len(set(known.values())) > 1:
        # One of them would choose from fewer replicas in a failover (right after a change, this
        # lasts until its next INFO round, about 10 s).
        detail = "; ".join(f"{k}: {len(v)} ({', '.join(v) or 'none'})" for k, v in known.items())
        problem("degraded", f"sentinels disagree on the replicas: {detail}")
    quorum = _int(views[0][1].fields.get("quorum")) if views else None
    # The sentinels as a group: every known sentinel (by runid), reachable or not, and its vote.
    members: dict[str, dict[str, Any]] = {}
    for s, mv in views:
        if s.myid:
            members.setdefault(s.myid, {"runid": s.myid, "address": str(s.ep), "reachable": True, "seen_down_by": []})
        for p in mv.sentinels:
            rid = p.get("runid", "")
            if not rid:
                continue
            ep = Endpoint(p.get("ip", "?"), _int(p.get("port")) or 0)
            m = members.setdefault(
                rid, {"runid": rid, "address": str(ep), "reachable": rid in runid_of_sentinel, "seen_down_by": []}
            )
            if "s_down" in p.get("flags", ""):
                m["seen_down_by"].append(str(s.ep))
    for m in members.values():
        votes = [d["last_vote"] for d, (s, _) in zip(view_docs, views, strict=True) if s.myid == m["runid"]]
        m["last_vote"] = votes[0] if votes else None  # unreachable ones are reported once, globally
    group = sorted(members.values(), key=lambda m: m["address"])
    quorum_ok = [v for _, v in views if v.quorum_ok]
    for d in view_docs:
        if d["quorum_ok"] is False:
            problem("degraded", f"CKQUORUM on {d['sentinel']}: {d['quorum_text']}")
        if d["failover_state"]:
            problem("degraded", f"failover in progress on {d['sentinel']} ({d['failover_state']})")
        if d["maintenance"]:
            problem("degraded", f"maintenance mode on {d['sentinel']}: no automatic failover (hasentinel resume)")
    flags_down = [v for _, v in views if "o_down" in v.flags or "s_down" in v.flags]
    # The data nodes, read directly.
    node_addrs: list[Endpoint] = []
    if addr is not None:
        node_addrs.append(addr)
    best = next((mv for s, mv in views if (mv.address, mv.config_epoch) == (addr, epoch)), None)
    for r in best.replicas if best is not None else []:
        ep = Endpoint(r.get("ip", "?"), _int(r.get("port")) or 0)
        if ep not in node_addrs:
            node_addrs.append(ep)
    nodes = {n.ep: n for n in parallel(lambda ep: _read_node(src, name, ep), node_addrs)}
    master_node = nodes.get(addr) if addr is not None else None
    status = "ok"
    if master_node is not None and master_node.error is None:
        role = master_node.info.get("role")
        if role != "master":
            status = "not-master"
            problem("down", f"{addr} is believed master but reports role {role}")
    elif views and len(flags_down) * 2 > len(views):
        status = "odown" if any("o_down" in v.flags for v in flags_down) else "sdown"
        problem("down", f"master {addr} is down ({status} on {len(flags_down)} of {len(views)} sentinels)")
    elif master_node is not None:
        status = "unreachable"
        problem("degraded", f"{master_node.error} (the sentinels still see it up)")
    if status == "ok" and flags_down:
        problem("degraded", f"{len(flags_down)} sentinel(s) see the master down")
    master_offset = _int(master_node.info.get("master_repl_offset")) if master_node and not master_node.error else None
    slave_lines: dict[Endpoint, dict[str, str]] = {}
    if master_node is not None and master_node.error is None:
        for k, v in master_node.info.items():
            if k.startswith("slave") and k[5:].isdigit():
                kv = dict(x.split("=", 1) for x in v.split(",") if "=" in x)
                port = _int(kv.get("port"))
                if port is not None:
                    slave_lines[Endpoint(kv.get("ip", "?"), port)] = kv
    replicas = []
    for ep in node_addrs[1:] if addr is not None else node_addrs:
        node = nodes[ep]
        sview = next((r for r in (best.replicas if best else []) if (r.get("ip"), _int(r.get("port"))) == (ep.host, ep.port)), {})
        line = slave_lines.get(ep, {})
        info = node.info
        offset = _int(info.get("slave_repl_offset")) if node.error is None else _int(sview.get("slave-repl-offset"))
        if offset is None:
            offset = _int(line.get("offset"))
        lag_bytes = master_offset - offset if master_offset is not None and offset is not None else None
        role = info.get("role") if node.error is None else sview.get("role-reported")
        if node.error is not None:
            link = "unknown"  # what the sentinels last saw may be stale: the node does not answer us
        else:
            link = info.get("master_link_status", "down") if role == "slave" else "down"
        doc = {
            "address": str(ep),
            "reachable": node.error is None,
            "error": node.error,
            "role": role,
            "master": (f"{info.get('master_host')}:{info.get('master_port')}" if node.error is None and role == "slave" else None),
            "offset": offset,
            "lag_bytes": lag_bytes,
            "lag_seconds": _int(line.get("lag")),
            "link": link,
            "priority": _int(info.get("slave_priority") or sview.get("slave-priority")),
            "flags": [f for f in sview.get("flags", "").split(",") if f],
        }
        replicas.append(doc)
        if node.error is not None:
            problem("degraded", node.error)
        elif role != "slave":
            problem("degraded", f"replica {ep} reports role {role}")
        elif link != "up":
            problem("degraded", f"replica {ep} has its master link {link}")
        elif addr is not None and doc["master"] != str(addr):
            problem("degraded", f"replica {ep} replicates {doc['master']}, not the master {addr}")
        elif lag_bytes is not None and lag_bytes > LAG_WARN_BYTES:
            problem("degraded", f"replica {ep} is {lag_bytes} bytes behind")
    if addr is not None and not replicas:
        problem("degraded", "no replica: a failover would have nothing to promote")
    lasts = [d["last_failover"] for d in view_docs if d["last_failover"]]
    last = max(lasts, key=lambda x: (x["epoch"] or 0, x["duration_ms"] is not None), default=None)
    if last is not None:
        last = dict(last, reported_by=next(d["sentinel"] for d in view_docs if d["last_failover"] and d["last_failover"]["epoch"] == last["epoch"]))
    instances = [Instance(addr, master_node.info.get("run_id", "") if master_node else "", "master")] if addr else []
    instances += [
        Instance(ep, nodes[ep].info.get("run_id", ""), nodes[ep].info.get("role") or "?") for ep in node_addrs if ep != addr
    ]
    claims = [_claim(s, mv) for s, mv in views if mv.vip is not None]
    vip_addr, vip_why = vip
    if vip_addr is None and claims:
        vip_addr, vip_why = claims[0]["vip"], "the sentinels (SENTINEL VIP-STATUS)"
    vip_doc = observe(vip_addr, vip_why, src, name, addr.port if addr else None, instances)
    vip_doc["source"] = vip_why if vip_addr is not None else None
    vip_doc["claims"] = [{k: v for k, v in c.items() if k != "vip"} for c in claims]
    if vip_doc["state"] == "wrong":
        problem("degraded", vip_doc["reason"])
    elif vip_doc["state"] == "unreachable":
        problem("down", f"VIP {vip_doc['address']}: nothing answers")
    holders = [c for c in claims if c["held"]]
    if len(holders) > 1:
        problem("degraded", "the VIP is held on several hosts: " + ", ".join(c["local_server"] or "?" for c in holders))
    elif claims and not holders:
        problem("degraded", "no sentinel's host holds the VIP")
    elif holders and addr is not None and holders[0]["local_server"] not in (None, str(addr)):
        problem("degraded", f"the VIP is held by the host of {holders[0]['local_server']}, not the master's")
    for c in claims:
        if c["fence"] == "on":
            problem("degraded", f"{c['sentinel']} fences its server {c['local_server']} (writes paused: no lease)")
    return {
        "name": name,
        "address": str(addr) if addr else None,
        "config_epoch": epoch,
        "agreed": agreed,
        "status": status,
        "quorum": quorum,
        "sentinels_ok_quorum": len(quorum_ok),
        "maintenance": any(d["maintenance"] for d in view_docs),
        "views": view_docs,
        "sentinels": group,
        "replicas": replicas,
        "last_failover": last,
        "vip": vip_doc,
    }


def supervisor_doc(src: Sources, option: str | None, problems: list[dict[str, Any]]) -> dict[str, Any]:
    """This host's supervisor, from its status file; what is wrong with it goes to `problems`."""
    path = status_path(option, src.config.dir if src.config is not None else None)
    doc = read_status(path)

    def problem(message: str) -> None:
        problems.append({"severity": "degraded", "master": None, "message": f"supervisor: {message}"})

    if doc["available"]:
        if not doc["running"]:
            problem(doc["reason"])
        elif doc["crash_loop"]:
            problem(f"crash loop: {doc['crash_loop']}")
        else:
            for c in doc["children"]:
                if c["state"] != "up":
                    problem(f"{c['name']} is {c['state']}" + (f" ({c['held']})" if c["held"] else ""))
    elif option is not None:
        problem(doc["reason"])  # asked for explicitly: its absence is a problem
    return doc


def build_status(
    sv: Survey,
    src: Sources,
    master: str | None = None,
    vip_option: str | None = None,
    supervisor_option: str | None = None,
) -> dict[str, Any]:
    """The `status --json` document (also what the table is drawn from)."""
    problems: list[dict[str, Any]] = []
    names = [master] if master is not None else sv.master_names()
    if master is not None:
        sv.pick_master(master)
    for s in sv.sentinels:
        if not s.reachable:
            problems.append({"severity": "degraded", "master": None, "message": s.error or f"{s.ep} unreachable"})
        elif s.tilt:
            problems.append({"severity": "degraded", "master": None, "message": f"sentinel {s.ep} is in TILT mode"})
    if not sv.reachable:
        problems.append({"severity": "down", "master": None, "message": "no sentinel could be reached"})
    vip = vip_address(vip_option)
    masters = [_master_doc(n, sv, src, vip, problems) for n in names]
    supervisor = supervisor_doc(src, supervisor_option, problems)
    health = "healthy"
    if any(p["severity"] == "down" for p in problems):
        health = "down"
    elif problems:
        health = "degraded"
    return {
        "schema": SCHEMA_ID,
        "time": _now_iso(),
        "health": health,
        "exit_code": HEALTH_CODES[health],
        "problems": problems,
        "notes": list(sv.notes),
        "sentinels": [_sentinel_doc(s) for s in sv.sentinels],
        "masters": masters,
        "supervisor": supervisor,
    }
