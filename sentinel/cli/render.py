"""Drawing `status` for a person (rich), within 80 columns: every sentinel's belief side by side
(disagreement in red), the replicas, the VIP, the last failover, the problems."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

HEALTH_STYLE = {"healthy": "bold green", "degraded": "bold yellow", "down": "bold red"}


def _table(*columns: str) -> Table:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1), header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    return t


def _yes(v: bool | None, good: bool = True) -> Text:
    if v is None:
        return Text("?", style="dim")
    ok = v == good
    return Text("yes" if v else "no", style="green" if ok else "red")


def _bytes(n: int | None) -> str:
    if n is None:
        return "?"
    if abs(n) < 1024:
        return f"{n} B"
    v = float(n)
    unit = "KiB"
    for unit in ("KiB", "MiB", "GiB"):  # noqa: B007 (the last unit tried is the one shown)
        v /= 1024
        if abs(v) < 1024:
            break
    return f"{v:.1f} {unit}"


def _at(iso: str | None) -> str:
    return iso.replace("T", " ")[:19] + " UTC" if iso else "?"


def render_status(doc: dict[str, Any], console: Console) -> None:
    """Print the status document."""
    health = doc["health"]
    head = Text()
    head.append("hasentinel status  ", style="bold")
    head.append(_at(doc["time"]) + "  ")
    head.append(f"{health.upper()} (exit {doc['exit_code']})", style=HEALTH_STYLE[health])
    console.print(head)
    st = _table("sentinel", "up", "id", "flavour", "tilt", "learned from")
    for s in doc["sentinels"]:
        st.add_row(
            s["address"] + "".join(f"\n={a}" for a in s["aliases"]),
            _yes(s["reachable"]),
            (s["myid"] or "")[:8],
            s["flavour"] or "",
            _yes(s["tilt"], good=False) if s["reachable"] else Text("-", style="dim"),
            ",".join(s["sources"]),
        )
    console.print(st)
    for m in doc["masters"]:
        _render_master(m, console)
    _render_supervisor(doc["supervisor"], console)
    for note in doc.get("notes", []):
        console.print(Text(f"note: {note}", style="dim"))
    if doc["problems"]:
        console.print(Text("problems", style="bold"))
        for p in doc["problems"]:
            sev = p["severity"]
            line = Text(f"  {sev:<8} ", style=HEALTH_STYLE["down" if sev == "down" else "degraded"])
            line.append((f"[{p['master']}] " if p["master"] else "") + p["message"])
            console.print(line)


def _duration(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(s)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def _render_supervisor(sup: dict[str, Any], console: Console) -> None:
    head = Text("\nsupervisor (this host)  ", style="bold")
    if not sup["available"]:
        console.print(head + Text(f"omitted: {sup['reason']}", style="dim"))
        return
    if sup["running"]:
        head.append(sup["status"] or "running", style="green" if not sup["crash_loop"] else "red")
    else:
        head.append(sup["reason"] or "not running", style="bold red")
    console.print(head)
    t = _table("child", "state", "pid", "role", "restarts", "uptime")
    for c in sup["children"]:
        state = c["state"] + (f" ({c['held']})" if c["held"] else "")
        t.add_row(
            c["name"],
            Text(state, style="green" if c["state"] == "up" else "red"),
            "-" if c["pid"] is None else str(c["pid"]),
            c["role"] or "-",
            str(c["restarts"]),
            _duration(c["uptime_seconds"]),
        )
    console.print(t)


def _render_master(m: dict[str, Any], console: Console) -> None:
    head = Text("\n")
    head.append(m["name"], style="bold cyan")
    head.append(f"  master {m['address'] or '?'}  epoch {m['config_epoch'] if m['config_epoch'] is not None else '?'}")
    status_style = "green" if m["status"] == "ok" else "red"
    head.append("  " + m["status"], style=status_style)
    head.append(f"  quorum {m['quorum'] if m['quorum'] is not None else '?'}")
    if not m["agreed"]:
        head.append("  SENTINELS DISAGREE", style="bold red")
    if m["maintenance"]:
        head.append("  MAINTENANCE", style="bold yellow")
    console.print(head)
    vt = _table("sentinel", "believes master", "epoch", "quorum", "flags", "last vote")
    for v in m["views"]:
        style = "" if v["agrees"] else "bold red"
        flags = [f for f in v["flags"] if f != "master"]
        if v["failover_state"]:
            flags.append(v["failover_state"])
        vote = v["last_vote"]
        vt.add_row(
            Text(v["sentinel"], style=style),
            Text((v["address"] or "?") + ("" if v["agrees"] else " !"), style=style),
            Text(str(v["config_epoch"]), style=style),
            Text("OK" if v["quorum_ok"] else "NO", style="green" if v["quorum_ok"] else "red"),
            ",".join(flags) or "-",
            (f"{vote['leader'][:8]}@{vote['epoch']}" if vote["leader"] != "?" else f"epoch {vote['epoch']}")
            if vote
            else "-",
        )
    for g in m["sentinels"]:
        if not g["reachable"]:
            down = f"down for {len(g['seen_down_by'])}" if g["seen_down_by"] else "peers see it up"
            vt.add_row(Text(g["address"], style="red"), Text("unreachable", style="red"), "", "", down, "")
    console.print(vt)
    rt = _table("replica", "role", "link", "offset", "lag", "prio", "flags")
    for r in m["replicas"]:
        lag = "?" if r["lag_bytes"] is None else _bytes(r["lag_bytes"])
        if r["lag_seconds"] is not None:
            lag += f" / {r['lag_seconds']} s"
        link_ok = r["link"] == "up"
        rt.add_row(
            Text(r["address"], style="" if r["reachable"] else "red"),
            r["role"] or "?",
            Text(r["link"], style="green" if link_ok else "red"),
            "?" if r["offset"] is None else str(r["offset"]),
            lag,
            "?" if r["priority"] is None else str(r["priority"]),
            ",".join(f for f in r["flags"] if f != "slave") or "-",
        )
    if m["replicas"]:
        console.print(rt)
    vip = m["vip"]
    line = Text("  VIP       ", style="bold")
    if vip["address"] is None:
        line.append(f"unknown: {vip['reason']}", style="dim")
    else:
        style = {"master": "green", "local": "green", "wrong": "bold red", "unreachable": "bold red"}.get(vip["state"], "")
        line.append(f"{vip['address']}: {vip['state']}", style=style)
        if vip["holder"]:
            line.append(f" (held by {vip['holder']})")
        for o in vip["observations"]:
            line.append(f"\n            {o['method']}: {o['result']}", style="dim")
    for c in vip.get("claims", []):
        lease = "lease" if c["lease"] else "NO lease"
        if c["lease_remaining_ms"] is not None and c["lease_remaining_ms"] >= 0 and c["lease"]:
            lease += f" {c['lease_remaining_ms'] / 1000:.1f} s"
        held = Text("held" if c["held"] else (c["state"] or "?"), style="green" if c["held"] else "")
        line.append(f"\n            {c['sentinel']} says its host ({c['local_server']}): ")
        line.append(held)
        line.append(f", {lease}" + (", FENCING" if c["fence"] == "on" else ""))
        if c["error"]:
            line.append(f", {c['error']}", style="red")
    console.print(line)
    last = m["last_failover"]
    line = Text("  failover  ", style="bold")
    if last is None:
        line.append("none seen since the sentinels started", style="dim")
    else:
        took = f", took {last['duration_ms'] / 1000:.2f} s" if last["duration_ms"] is not None else ""
        line.append(
            f"epoch {last['epoch']} ({last['kind']}) at {_at(last['at'])}{took}\n"
            f"            {last['from']} -> {last['to']} (seen by {last['reported_by']})"
        )
    console.print(line)
