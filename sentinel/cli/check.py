"""`hasentinel check`: lint a sentinel.conf and, unless `--offline`, check that every instance it
leads to answers and that the quorum can be reached. For use before going live.

Findings are `ok`, `warn` or `error`; exit 0 when there is no warning or error, 1 with warnings
only, 2 with an error.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from sentinel.cli.client import (
    CliError,
    Endpoint,
    Sources,
    config_endpoint,
    data_client,
    explain,
    info_of,
    load_config,
    state_file_of,
)
from sentinel.cli.survey import survey
from sentinel.core.config import SentinelConfig
from sentinel.core.state import SentinelState

LEVELS = {"ok": 0, "warn": 1, "error": 2}


@dataclass(frozen=True)
class Finding:
    """One check result."""

    level: str
    topic: str
    message: str

    def to_json(self) -> dict[str, str]:
        """JSON form."""
        return {"level": self.level, "topic": self.topic, "message": self.message}


def _directive(config: SentinelConfig, name: str) -> list[str] | None:
    for words in config.other:
        if words and words[0].lower() == name:
            return list(words[1:])
    return None


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def lint(path: Path) -> tuple[SentinelConfig | None, list[Finding]]:
    """Static checks of the file (and of its state file and directory)."""
    out: list[Finding] = []
    try:
        config = load_config(path)
    except CliError as e:
        return None, [Finding("error", "config", e.message)]
    out.append(Finding("ok", "config", f"{path} parses ({len(config.masters)} master(s))"))
    if not config.masters:
        out.append(Finding("error", "config", "no `sentinel monitor` line: nothing to watch"))
    binds = [b.lstrip("-") for b in config.bind]
    only_loopback = bool(binds) and all(_loopback(b) for b in binds)
    for m in config.masters:
        t = f"master {m.name}"
        if m.down_after < 1000:
            out.append(Finding("warn", t, f"down-after-milliseconds {m.down_after} < 1000: GC pauses or a busy host will look like failures"))
        elif m.down_after > 60000:
            out.append(Finding("warn", t, f"down-after-milliseconds {m.down_after}: a dead master stays undetected for over a minute"))
        if m.failover_timeout < 2 * m.down_after:
            out.append(Finding("warn", t, f"failover-timeout {m.failover_timeout} is short next to down-after {m.down_after}"))
        if m.parallel_syncs > 1:
            out.append(Finding("warn", t, f"parallel-syncs {m.parallel_syncs}: several replicas resync at once after a failover"))
        if m.quorum == 1:
            out.append(Finding("warn", t, "quorum 1: a single sentinel's opinion marks the master down"))
        if only_loopback and not _loopback(m.host):
            out.append(Finding("warn", "bind", f"bound to loopback only while {m.name} is at {m.host}: other hosts' sentinels cannot reach this one"))
        for script in (m.notification_script, m.client_reconfig_script):
            if script and not (os.path.isfile(script) and os.access(script, os.X_OK)):
                out.append(Finding("error", t, f"script {script} is missing or not executable (the sentinel will refuse to start)"))
    if not config.requirepass and not only_loopback:
        out.append(Finding("warn", "security", "no requirepass: anyone reaching the port can run SENTINEL FAILOVER / REMOVE"))
    spath = state_file_of(path, config)
    directory = spath.parent
    if not directory.is_dir():
        out.append(Finding("error", "state", f"state directory {directory} does not exist (the `dir` directive)"))
    elif not os.access(directory, os.W_OK):
        out.append(Finding("error" if os.geteuid() == 0 else "warn", "state", f"state directory {directory} is not writable (by this user)"))
    try:
        state = SentinelState.from_json(spath.read_text())
        out.append(Finding("ok", "state", f"state file {spath}: myid {state.myid[:8]}, epoch {state.current_epoch}"))
        for name, ms in state.masters.items():
            sentinels = len(ms.known_sentinels) + 1
            cfg = config.master(name)
            quorum = cfg.quorum if cfg else ms.settings.quorum
            if quorum > sentinels:
                out.append(Finding("error", f"master {name}", f"quorum {quorum} but only {sentinels} sentinel(s) known: ODOWN can never be reached"))
            elif sentinels < 3:
                out.append(Finding("warn", f"master {name}", f"only {sentinels} sentinel(s) known: a failover needs a majority of 3 or more"))
            if ms.maintenance:
                out.append(Finding("warn", f"master {name}", "maintenance mode is on (hasentinel resume)"))
    except FileNotFoundError:
        out.append(Finding("ok", "state", f"no state file yet ({spath}): first start"))
    except PermissionError:
        out.append(Finding("warn", "state", f"state file {spath} not readable by this user"))
    except (OSError, ValueError) as e:
        out.append(Finding("error", "state", f"state file {spath} is corrupt ({e}): the sentinel will refuse to start"))
    try:
        from sentinel.runtime.metrics import metrics_address

        addr = metrics_address(config)
        if addr is not None:
            out.append(Finding("ok", "metrics", f"metrics endpoint on {addr[0]}:{addr[1]}"))
    except ValueError as e:
        out.append(Finding("error", "metrics", str(e)))
    level = (_directive(config, "loglevel") or ["notice"])[0].lower()
    if level not in ("debug", "verbose", "notice", "warning", "nothing"):
        out.append(Finding("error", "config", f"invalid loglevel '{level}'"))
    return config, out


def _ping(src: Sources, ep: Endpoint, master: str | None, what: str) -> tuple[Finding, dict[str, str]]:
    c = data_client(src, ep, master)
    try:
        c.ping()
        info = info_of(c, "replication")
        return Finding("ok", what, f"{ep} answers (role {info.get('role')})"), info
    except (redis.RedisError, OSError) as e:
        return Finding("error", what, explain(e, "server", ep, src.timeout)), {}
    finally:
        c.close()


def live(src: Sources, config: SentinelConfig | None) -> list[Finding]:
    """Reachability of every instance and sentinel, and CKQUORUM on each sentinel."""
    out: list[Finding] = []
    sv = survey(src)
    for s in sv.sentinels:
        if s.reachable:
            out.append(Finding("ok", "sentinel", f"{s.ep} answers ({s.flavour}, id {(s.myid or '')[:8]})"))
            if s.tilt:
                out.append(Finding("warn", "sentinel", f"{s.ep} is in TILT mode"))
        else:
            out.append(Finding("error", "sentinel", s.error or f"{s.ep} unreachable"))
    if config is not None:
        local = config_endpoint(config)
        if not any(s.reachable and (s.ep == local or local in s.aliases) for s in sv.sentinels):
            out.append(Finding("warn", "sentinel", f"the sentinel of this config ({local}) does not answer"))
    configured = [m.name for m in config.masters] if config else []
    names = list(dict.fromkeys([*configured, *sv.master_names()]))
    for name in names:
        views = [s.masters[name] for s in sv.reachable if name in s.masters]
        cfg = config.master(name) if config else None
        addr = views[0].address if views else (Endpoint(cfg.host, cfg.port) if cfg else None)
        t = f"master {name}"
        if not views and sv.reachable:
            out.append(Finding("error", t, "no reachable sentinel monitors it"))
        for s in sv.reachable:
            mv = s.masters.get(name)
            if mv is None:
                continue
            if mv.quorum_ok:
                out.append(Finding("ok", t, f"CKQUORUM on {s.ep}: {mv.quorum_text}"))
            else:
                out.append(Finding("error", t, f"CKQUORUM on {s.ep}: {mv.quorum_text}"))
        if addr is None:
            continue
        f, info = _ping(src, addr, name, t)
        out.append(f)
        if info and info.get("role") != "master":
            out.append(Finding("warn", t, f"{addr} reports role {info.get('role')} (a failover since the config was written?)"))
        replicas: list[Endpoint] = []
        for k, v in info.items():
            if k.startswith("slave") and k[5:].isdigit():
                kv = dict(x.split("=", 1) for x in v.split(",") if "=" in x)
                if kv.get("port", "").isdigit():
                    replicas.append(Endpoint(kv.get("ip", "?"), int(kv["port"])))
        for mv in views:
            for r in mv.replicas:
                ep = Endpoint(r.get("ip", "?"), int(r.get("port", "0") or 0))
                if ep not in replicas:
                    replicas.append(ep)
        if not replicas:
            out.append(Finding("warn", t, "no replica: nothing to fail over to"))
        for ep in replicas:
            rf, rinfo = _ping(src, ep, name, f"replica of {name}")
            out.append(rf)
            if rinfo and rinfo.get("master_link_status") not in (None, "up"):
                out.append(Finding("warn", f"replica of {name}", f"{ep} master link {rinfo.get('master_link_status')}"))
    return out


def exit_code(findings: list[Finding]) -> int:
    """0 clean, 1 warnings, 2 errors."""
    return max((LEVELS[f.level] for f in findings), default=0)


def as_json(findings: list[Finding]) -> dict[str, Any]:
    """`check --json` document."""
    return {"exit_code": exit_code(findings), "findings": [f.to_json() for f in findings]}
