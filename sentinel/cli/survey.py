"""Asking every sentinel we can reach what it believes (the raw material of `status`, `check`,
`switchover`, `pause`): one probe per sentinel, in parallel, discovering more sentinels from
each one's `SENTINEL SENTINELS` until no new one appears."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from sentinel.cli.client import (
    MAX_SENTINELS,
    CliError,
    Endpoint,
    Sources,
    explain,
    info_of,
    pairs_to_dict,
    parallel,
    raw_command,
    sentinel_client,
)


@dataclass
class MasterView:
    """What one sentinel says about one master."""

    name: str
    fields: dict[str, str]
    replicas: list[dict[str, str]] = field(default_factory=list)
    sentinels: list[dict[str, str]] = field(default_factory=list)
    quorum_ok: bool | None = None
    quorum_text: str = ""
    error: str | None = None
    vip: dict[str, str] | None = None
    """Its `SENTINEL VIP-STATUS` (ours, with a VIP configured for this master)."""
    vip_error: str | None = None
    """Why there is no VIP-STATUS: none configured there, or a stock sentinel."""

    @property
    def address(self) -> Endpoint | None:
        """The master address this sentinel believes in."""
        ip, port = self.fields.get("ip"), self.fields.get("port")
        if not ip or not port or not port.isdigit():
            return None
        return Endpoint(ip, int(port))

    @property
    def config_epoch(self) -> int | None:
        """Its config epoch for the master."""
        v = self.fields.get("config-epoch", "")
        return int(v) if v.lstrip("-").isdigit() else None

    @property
    def flags(self) -> list[str]:
        """SENTINEL MASTER flags."""
        return [f for f in self.fields.get("flags", "").split(",") if f]


@dataclass
class SentinelView:
    """One sentinel as probed: reachable or why not, and its view of every master."""

    ep: Endpoint
    sources: set[str]
    reachable: bool = False
    error: str | None = None
    myid: str | None = None
    tilt: bool | None = None
    flavour: str | None = None
    """`hasentinel` (ours: SWITCHOVER, MAINTENANCE) or `stock`."""
    version: str | None = None
    masters: dict[str, MasterView] = field(default_factory=dict)
    aliases: list[Endpoint] = field(default_factory=list)
    """Other addresses that reached the same sentinel (same myid)."""


@dataclass
class Survey:
    """Every sentinel known, probed."""

    sentinels: list[SentinelView]
    notes: list[str] = field(default_factory=list)

    @property
    def reachable(self) -> list[SentinelView]:
        """The sentinels that answered."""
        return [s for s in self.sentinels if s.reachable]

    def master_names(self) -> list[str]:
        """Every master name any reachable sentinel monitors, in first-seen order."""
        out: list[str] = []
        for s in self.reachable:
            for name in s.masters:
                if name not in out:
                    out.append(name)
        return out

    def pick_master(self, name: str | None) -> str:
        """`name` if some sentinel monitors it, or the only master; else an actionable error."""
        names = self.master_names()
        if not self.reachable:
            raise CliError(no_sentinel_message(self))
        if name is None:
            if len(names) == 1:
                return names[0]
            if not names:
                raise CliError("the reachable sentinels monitor no master (SENTINEL MONITOR, or check their config)")
            raise CliError(f"several masters are monitored: pass --master NAME (one of {', '.join(names)})")
        if name not in names:
            asked = ", ".join(str(s.ep) for s in self.reachable)
            known = ", ".join(names) or "none"
            raise CliError(f"no master named '{name}' on the sentinels asked ({asked}); they monitor: {known}")
        return name


def no_sentinel_message(sv: Survey) -> str:
    """Why no sentinel could be asked, one line per sentinel."""
    lines = ["no sentinel could be reached:"]
    lines += [f"  {s.error}" for s in sv.sentinels]
    return "\n".join(lines)


def _raw(c: redis.Redis, *args: Any) -> Any:
    reply = raw_command(c, *args)
    if isinstance(reply, redis.ResponseError):
        raise reply
    return reply


def probe(src: Sources, ep: Endpoint) -> SentinelView:
    """Ask one sentinel everything `status` needs. Never raises: failures become `error`."""
    v = SentinelView(ep, set(src.sentinels.get(ep, set())))
    c = sentinel_client(src, ep)
    try:
        c.ping()
        info = info_of(c)
        if info.get("redis_mode") not in (None, "sentinel"):
            v.error = f"{ep} is not a sentinel (redis_mode:{info.get('redis_mode')}): check the port"
            return v
        v.reachable = True
        v.tilt = info.get("sentinel_tilt") == "1"
        v.version = info.get("redis_version")
        v.myid = str(_raw(c, "SENTINEL", "MYID"))
        helptext = raw_command(c, "SENTINEL", "HELP")
        v.flavour = "hasentinel" if isinstance(helptext, list) and any("SWITCHOVER" in str(x) for x in helptext) else "stock"
        for entry in _raw(c, "SENTINEL", "MASTERS") or []:
            fields = pairs_to_dict(entry)
            name = fields.get("name", "")
            mv = MasterView(name, fields)
            try:
                mv.replicas = [pairs_to_dict(x) for x in _raw(c, "SENTINEL", "REPLICAS", name) or []]
                mv.sentinels = [pairs_to_dict(x) for x in _raw(c, "SENTINEL", "SENTINELS", name) or []]
                q = raw_command(c, "SENTINEL", "CKQUORUM", name)
                mv.quorum_ok = not isinstance(q, Exception)
                mv.quorum_text = str(q)
                vs = raw_command(c, "SENTINEL", "VIP-STATUS", name)
                if isinstance(vs, Exception):
                    text = str(vs)
                    mv.vip_error = "stock sentinel (no VIP-STATUS)" if "unknown subcommand" in text.lower() else text
                else:
                    mv.vip = pairs_to_dict(vs)
            except (redis.ResponseError, redis.ConnectionError, redis.TimeoutError) as e:
                mv.error = explain(e, "sentinel", ep, src.timeout)
            v.masters[name] = mv
    except (redis.RedisError, OSError) as e:
        v.reachable = False
        v.error = explain(e, "sentinel", ep, src.timeout)
    finally:
        c.close()
    return v


def survey(src: Sources) -> Survey:
    """Probe every known sentinel, then the ones they know, until nothing new appears."""
    seen: dict[Endpoint, SentinelView] = {}
    frontier = sorted(src.sentinels)
    while frontier and len(seen) < MAX_SENTINELS:
        views = parallel(lambda ep: probe(src, ep), frontier[: MAX_SENTINELS - len(seen)])
        frontier = []
        for v in views:
            seen[v.ep] = v
            for mv in v.masters.values():
                for s in mv.sentinels:
                    ip, port = s.get("ip", ""), s.get("port", "")
                    if not ip or not port.isdigit():
                        continue
                    ep = Endpoint(ip, int(port))
                    src.add(ep, "discovered")
                    if ep not in seen and ep not in frontier:
                        frontier.append(ep)
    # The same sentinel reached at two addresses (config's 127.0.0.1 and its announced IP): one.
    by_id: dict[str, SentinelView] = {}
    out: list[SentinelView] = []
    for v in sorted(seen.values(), key=lambda x: (not x.reachable, "option" not in x.sources, x.ep)):
        if v.myid is not None and v.myid in by_id:
            first = by_id[v.myid]
            first.aliases.append(v.ep)
            first.sources |= v.sources
            continue
        if v.myid is not None:
            by_id[v.myid] = v
        out.append(v)
    # An unreachable address that its peers know under a runid we reached elsewhere is an alias.
    runid_at: dict[Endpoint, str] = {}
    for v in out:
        for mv in v.masters.values():
            for s in mv.sentinels:
                if s.get("ip") and s.get("port", "").isdigit():
                    runid_at[Endpoint(s["ip"], int(s["port"]))] = s.get("runid", "")
    final = []
    for v in out:
        rid = runid_at.get(v.ep)
        if not v.reachable and rid and rid in by_id:
            by_id[rid].aliases.append(v.ep)
            continue
        final.append(v)
    final.sort(key=lambda x: x.ep)
    return Survey(final, list(src.notes))
