"""Operator actions: `switchover`, `failover`, `pause` / `resume`.

`switchover` and `failover` ask one of our sentinels (SENTINEL SWITCHOVER / FAILOVER), follow
its event channel until the failover ends, then wait until every reachable sentinel believes in
the new master with the new epoch, and report the timeline. Why the sentinel, and not the CLI,
drives a switchover is explained in docs/cli.md ("Switchover design").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis

from sentinel.cli.client import CliError, Endpoint, Sources, explain, raw_command, sentinel_client
from sentinel.cli.status import _consensus, _read_node
from sentinel.cli.survey import SentinelView, Survey, survey

AGREEMENT_WAIT = 15.0
"""Seconds to wait, after the failover ended, for every reachable sentinel to agree."""
VIP_WAIT = 15.0
"""Seconds to wait, after the agreement, for the VIP to lead to the new master."""


@dataclass
class Report:
    """What happened, for a person or as JSON."""

    action: str
    master: str
    sentinel: str = ""
    ok: bool = False
    old: str | None = None
    new: str | None = None
    old_epoch: int | None = None
    new_epoch: int | None = None
    error: str | None = None
    timeline: list[tuple[float, str, str]] = field(default_factory=list)
    """(seconds since the request, event, payload)."""
    agreement: dict[str, str] = field(default_factory=dict)
    """sentinel -> `address epoch N` it believes in at the end."""
    checks: list[str] = field(default_factory=list)
    took: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "action": self.action,
            "master": self.master,
            "sentinel": self.sentinel,
            "ok": self.ok,
            "old_master": self.old,
            "new_master": self.new,
            "old_epoch": self.old_epoch,
            "new_epoch": self.new_epoch,
            "error": self.error,
            "timeline": [{"t": round(t, 4), "event": e, "payload": p} for t, e, p in self.timeline],
            "agreement": self.agreement,
            "checks": self.checks,
            "seconds": round(self.took, 4),
        }

    def lines(self) -> list[str]:
        """Human report."""
        out = [f"{self.action} of {self.master} via sentinel {self.sentinel}: {'done' if self.ok else 'FAILED'}"]
        if self.error:
            out.append(f"  error: {self.error}")
        out.append(f"  master: {self.old} (epoch {self.old_epoch}) -> {self.new or '?'} (epoch {self.new_epoch})")
        for t, e, p in self.timeline:
            out.append(f"  +{t * 1000:7.0f} ms  {e} {p}")
        for s, belief in sorted(self.agreement.items()):
            out.append(f"  sentinel {s} now believes {belief}")
        out += [f"  {c}" for c in self.checks]
        out.append(f"  total {self.took:.2f} s")
        return out


def _driver(sv: Survey, master: str, need_ours: bool) -> SentinelView:
    for s in sv.reachable:
        if master in s.masters and (s.flavour == "hasentinel" or not need_ours):
            return s
    if need_ours:
        raise CliError(
            "no hasentinel sentinel is reachable: a stock sentinel has no SWITCHOVER "
            "(use `hasentinel failover`, which may lose writes acknowledged during the switch)"
        )
    raise CliError(f"no reachable sentinel monitors {master}")


def _preflight(sv: Survey, master: str) -> tuple[Endpoint, int | None]:
    views = [(s, s.masters[master]) for s in sv.reachable if master in s.masters]
    addr, epoch, agreed = _consensus(views)
    if not agreed:
        beliefs = "; ".join(f"{s.ep}: {mv.address} epoch {mv.config_epoch}" for s, mv in views)
        raise CliError(f"the sentinels disagree on the master ({beliefs}): resolve that first (hasentinel status)")
    running = [str(s.ep) for s, mv in views if mv.fields.get("failover-state")]
    if running:
        raise CliError(f"a failover is already in progress on {', '.join(running)}: wait for it to end")
    if addr is None:
        raise CliError(f"no sentinel knows the address of {master}")
    return addr, epoch


def _target(sv: Survey, master: str, to: str | None) -> Endpoint | None:
    if to is None:
        return None
    replicas: list[Endpoint] = []
    for s in sv.reachable:
        mv = s.masters.get(master)
        for r in mv.replicas if mv else []:
            ep = Endpoint(r.get("ip", ""), int(r.get("port", "0") or 0))
            if ep not in replicas:
                replicas.append(ep)
    wanted = Endpoint.parse(to, default_port=0)
    matches = [r for r in replicas if r.host == wanted.host and (wanted.port == 0 or r.port == wanted.port)]
    if not matches:
        known = ", ".join(str(r) for r in replicas) or "none"
        raise CliError(f"{to} is not a known replica of {master} (replicas: {known})")
    if len(matches) > 1:
        raise CliError(f"{to} matches several replicas ({', '.join(map(str, matches))}): give HOST:PORT")
    return matches[0]


def run_failover(
    src: Sources,
    master: str | None,
    kind: str,
    to: str | None = None,
    timeout_ms: int = 5000,
    wait: float = 60.0,
    vip: str | None = None,
) -> Report:
    """`switchover` (planned, no acknowledged-write loss) or `failover` (forced)."""
    sv = survey(src)
    name = sv.pick_master(master)
    old, old_epoch = _preflight(sv, name)
    drv = _driver(sv, name, need_ours=kind == "switchover")
    target = _target(sv, name, to)
    if kind == "failover" and target is not None:
        raise CliError("`failover` promotes the replica the sentinel selects; to choose one use `switchover --to`")
    rep = Report(kind, name, sentinel=str(drv.ep), old=str(old), old_epoch=old_epoch)
    c = sentinel_client(src, drv.ep)
    ps = c.pubsub(ignore_subscribe_messages=True)
    t0 = time.monotonic()
    try:
        ps.psubscribe("*")
        # The subscription is confirmed before the request goes out: no event can be missed.
        deadline = time.monotonic() + src.timeout
        while not ps.subscribed and time.monotonic() < deadline:
            ps.get_message(timeout=0.05)
        if kind == "switchover":
            args: list[Any] = ["SENTINEL", "SWITCHOVER", name]
            if target is not None:
                args += [target.host, target.port]
            args += ["TIMEOUT", timeout_ms]
        else:
            args = ["SENTINEL", "FAILOVER", name]
        t0 = time.monotonic()
        reply = raw_command(c, *args)
        if isinstance(reply, Exception):
            rep.error = _explain_refusal(str(reply), kind)
            return rep
        end = time.monotonic() + wait + timeout_ms / 1000
        finished = False
        while time.monotonic() < end and not finished:
            msg = ps.get_message(timeout=0.2)
            if msg is None or msg.get("type") != "pmessage":
                continue
            event, payload = str(msg["channel"]), str(msg["data"])
            if not _concerns(payload, name, event):
                continue
            rep.timeline.append((time.monotonic() - t0, event, payload))
            if event == "+switch-master":
                parts = payload.split()
                rep.new = str(Endpoint(parts[3], int(parts[4])))
            if event == "+failover-end":
                rep.ok, finished = True, True
            elif event.startswith("-failover-abort"):
                rep.error = f"{event} {payload}"
                finished = True
        if not finished:
            rep.error = f"the failover did not end within {wait:g} s (see `hasentinel events`)"
    except (redis.RedisError, OSError) as e:
        rep.error = explain(e, "sentinel", drv.ep, src.timeout)
    finally:
        ps.close()
        c.close()
    if rep.ok:
        _await_agreement(src, name, rep)
        _check_nodes(src, name, rep)
        _check_vip(src, sv, name, rep, vip)
    rep.took = time.monotonic() - t0
    return rep


def _concerns(payload: str, name: str, event: str) -> bool:
    parts = payload.split()
    if event == "+switch-master" or event in ("+new-epoch", "+vote-for-leader"):
        return event != "+switch-master" or (bool(parts) and parts[0] == name)
    if "@" in parts:
        i = parts.index("@")
        return i + 1 < len(parts) and parts[i + 1] == name
    return len(parts) >= 2 and parts[0] == "master" and parts[1] == name


def _explain_refusal(text: str, kind: str) -> str:
    if text.startswith("INPROG"):
        return f"{text}: wait for the running failover to end"
    if text.startswith("NOGOODSLAVE"):
        return f"{text} (hasentinel status shows each replica's link and priority)"
    if text.startswith("MASTERDOWN"):
        return f"{text}"
    if "unknown subcommand" in text.lower():
        return f"{text}: this sentinel is not a hasentinel sentinel"
    return text


def _await_agreement(src: Sources, name: str, rep: Report) -> None:
    deadline = time.monotonic() + AGREEMENT_WAIT
    while True:
        sv = survey(src)
        views = [(s, s.masters[name]) for s in sv.reachable if name in s.masters]
        rep.agreement = {str(s.ep): f"{mv.address} epoch {mv.config_epoch}" for s, mv in views}
        addr, epoch, agreed = _consensus(views)
        if agreed and addr is not None and str(addr) == rep.new:
            rep.new_epoch = epoch
            rep.checks.append(f"all {len(views)} reachable sentinels agree on {addr} epoch {epoch}")
            return
        if time.monotonic() > deadline:
            rep.ok = False
            rep.error = f"the sentinels did not agree on {rep.new} within {AGREEMENT_WAIT:g} s"
            return
        time.sleep(0.1)


def _check_nodes(src: Sources, name: str, rep: Report) -> None:
    if rep.new is None or rep.old is None:
        return
    new, old = Endpoint.parse(rep.new), Endpoint.parse(rep.old)
    n = _read_node(src, name, new)
    if n.error is None:
        rep.checks.append(f"{new} reports role {n.info.get('role')}")
    o = _read_node(src, name, old)
    if o.error is None:
        role = o.info.get("role")
        follows = f" of {o.info.get('master_host')}:{o.info.get('master_port')}" if role == "slave" else ""
        rep.checks.append(f"old master {old} reports role {role}{follows}")
        if role == "master":
            rep.checks.append(
                "WARNING: the old master is alive and still accepts writes until the sentinels convert it "
                "to a replica (seconds); writes it acknowledges meanwhile will be lost. For a live master "
                "use `hasentinel switchover`."
            )
    else:
        rep.checks.append(f"old master: {o.error}")


def _check_vip(src: Sources, sv: Survey, name: str, rep: Report, option: str | None) -> None:
    """Wait (bounded) until the VIP, if one is known, leads to the new master; report it."""
    from sentinel.cli.vip import Instance, observe, vip_address

    addr, _why = vip_address(option)
    if addr is None:
        claims = [s.masters[name].vip for s in sv.reachable if name in s.masters and s.masters[name].vip]
        addr = claims[0].get("vip", "").split("/")[0] if claims and claims[0] else None
    if addr is None or rep.new is None or rep.old is None:
        return
    new, old = Endpoint.parse(rep.new), Endpoint.parse(rep.old)
    nodes = [_read_node(src, name, ep) for ep in (new, old)]
    instances = [
        Instance(n.ep, n.info.get("run_id", ""), "master" if n.ep == new else "slave") for n in nodes if n.error is None
    ]
    t0 = time.monotonic()
    while True:
        doc = observe(addr, "", src, name, new.port, instances)
        if doc["state"] == "master" and doc["holder"] == str(new):
            rep.checks.append(f"VIP {addr} leads to the new master {new} ({time.monotonic() - t0:.2f} s after the agreement)")
            return
        if time.monotonic() - t0 > VIP_WAIT:
            seen = "; ".join(o["result"] for o in doc["observations"])
            rep.checks.append(f"WARNING: VIP {addr} does not lead to {new} after {VIP_WAIT:g} s ({seen})")
            return
        time.sleep(0.2)


@dataclass
class PauseResult:
    """Per sentinel: `on`/`off` or the error."""

    master: str
    on: bool
    results: dict[str, str]
    total: int
    done: int

    @property
    def majority(self) -> bool:
        """Whether a majority of the known sentinels is in the wanted mode."""
        return self.done * 2 > self.total

    def exit_code(self) -> int:
        """0 every sentinel switched; 1 only a majority; 2 not even a majority (pause) / none."""
        if self.done == self.total:
            return 0
        if self.on:
            return 1 if self.majority else 2
        return 1 if self.done else 2


def set_maintenance(src: Sources, master: str | None, on: bool) -> PauseResult:
    """SENTINEL MAINTENANCE <name> ON|OFF on every sentinel we can reach."""
    sv = survey(src)
    name = sv.pick_master(master)
    results: dict[str, str] = {}
    done = 0
    for s in sv.sentinels:
        if not s.reachable:
            results[str(s.ep)] = s.error or "unreachable"
            continue
        if name not in s.masters:
            results[str(s.ep)] = f"does not monitor {name}"
            continue
        c = sentinel_client(src, s.ep)
        try:
            reply = raw_command(c, "SENTINEL", "MAINTENANCE", name, "ON" if on else "OFF")
            if isinstance(reply, Exception):
                text = str(reply)
                if "unknown subcommand" in text.lower():
                    text = "stock sentinel: no maintenance mode (it can still start failovers)"
                results[str(s.ep)] = f"error: {text}"
            else:
                results[str(s.ep)] = "on" if on else "off"
                done += 1
        except (redis.RedisError, OSError) as e:
            results[str(s.ep)] = explain(e, "sentinel", s.ep, src.timeout)
        finally:
            c.close()
    total = max(
        len(sv.sentinels),
        max((_num_sentinels(s, name) for s in sv.reachable if name in s.masters), default=0),
    )
    return PauseResult(name, on, results, total, done)


def _num_sentinels(s: SentinelView, name: str) -> int:
    try:
        return int(s.masters[name].fields.get("num-other-sentinels", "0")) + 1
    except ValueError:
        return 0


