"""Read-only views of core state for events and the SENTINEL API (pure functions of the model).

* `details(inst, master)`: the `%@` prefix of event payloads.
* `instance_map(...)`: SENTINEL MASTER(S)/REPLICAS/SENTINELS entries, stock field order, every
  value a string (RESP2 flat pairs, RESP3 map: the API layer decides).
* `is_master_down_reply`, `ckquorum`, `master_addr`, `info_cache`, `pending_scripts`,
  `info_section`, `debug_map`, `config_get`.
"""

from __future__ import annotations

from sentinel.core.glob import glob_match
from sentinel.core.info import Role
from sentinel.core.model import FailoverState, Instance, Master, Peer, Reconf, Replica, World, format_addr
from sentinel.core.replies import ErrorReply, Reply, Status
from sentinel.core.scripts import ScriptQueue
from sentinel.core.timers import Timers, debug_items


def instance_name(inst: Instance) -> str:
    """Master name, `ip:port` for a replica, runid for a sentinel."""
    if isinstance(inst, (Master, Replica, Peer)):
        return inst.name
    return ""


def details(inst: Instance, master: Master) -> str:
    """`<type> <name> <ip> <port>` plus ` @ <master-name> <master-ip> <master-port>` if not a master."""
    text = f"{inst.kind.value} {instance_name(inst)} {inst.host} {inst.port}"
    if inst is not master:
        text += f" @ {master.name} {master.host} {master.port}"
    return text


def flags(inst: Instance) -> list[str]:
    """Stock flag names, in stock order."""
    out: list[str] = []
    if inst.sdown:
        out.append("s_down")
    if isinstance(inst, Master) and inst.odown:
        out.append("o_down")
    out.append(inst.kind.value)
    if inst.disconnected:
        out.append("disconnected")
    if isinstance(inst, Peer) and inst.master_down:
        out.append("master_down")
    if isinstance(inst, Master) and inst.in_failover:
        out.append("failover_in_progress")
    if isinstance(inst, Replica):
        if inst.promoted:
            out.append("promoted")
        if inst.reconf is Reconf.SENT:
            out.append("reconf_sent")
        elif inst.reconf is Reconf.INPROG:
            out.append("reconf_inprog")
        elif inst.reconf is Reconf.DONE:
            out.append("reconf_done")
    if isinstance(inst, Master) and inst.forced and inst.in_failover:
        out.append("force_failover")
    if inst.script_kill_sent:
        out.append("script_kill_sent")
    if isinstance(inst, Master) and inst.reboot:
        out.append("master_reboot")
    if isinstance(inst, Master) and inst.maintenance:
        out.append("maintenance")  # ours: SENTINEL MAINTENANCE (hasentinel pause)
    return out


def _ago(now: int, t: int | None) -> str:
    return str(now - t) if t else "0"


def instance_map(inst: Instance, master: Master, now: int) -> list[tuple[str, str]]:
    """One SENTINEL MASTER/REPLICAS/SENTINELS entry (stock addReplySentinelRedisInstance order).

    Ours, appended after the stock fields of a master (so stock indexes stay valid):
    `next-failover-in` / `next-failover-reason` while a failover may not start yet,
    `failover-epoch` (and `switchover-target` for a switchover) while one runs, and the last
    address switch we saw: `last-failover-epoch`, `-kind`, `-ago` (ms), `-duration` (ms, only
    when we led it), `-from` and `-to` (`ip:port`); our last vote (`leader`, `leader-epoch`)
    once we cast one.
    """
    m: list[tuple[str, str]] = [
        ("name", instance_name(inst)),
        ("ip", inst.host),
        ("port", str(inst.port)),
        ("runid", inst.runid or ""),
        ("flags", ",".join(flags(inst))),
        ("link-pending-commands", str(inst.cc.pending)),
        ("link-refcount", "1"),
    ]
    if isinstance(inst, Master) and inst.in_failover:
        m.append(("failover-state", inst.failover_state.label))
    m += [
        ("last-ping-sent", str(now - inst.act_ping_time) if inst.act_ping_time is not None else "0"),
        ("last-ok-ping-reply", str(now - inst.last_avail_time)),
        ("last-ping-reply", str(now - inst.last_pong_time)),
    ]
    if inst.sdown and inst.sdown_since is not None:
        m.append(("s-down-time", str(now - inst.sdown_since)))
    if isinstance(inst, Master) and inst.odown and inst.odown_since is not None:
        m.append(("o-down-time", str(now - inst.odown_since)))
    m.append(("down-after-milliseconds", str(master.down_after)))
    if isinstance(inst, (Master, Replica)):
        m += [
            ("info-refresh", _ago(now, inst.info_refresh) if inst.info_refresh is not None else "0"),
            ("role-reported", "slave" if inst.role_reported is Role.SLAVE else "master"),
            ("role-reported-time", str(now - inst.role_reported_time)),
        ]
    if isinstance(inst, Master):
        s = inst.settings
        m += [
            ("config-epoch", str(inst.config_epoch)),
            ("num-slaves", str(len(inst.replicas))),
            ("num-other-sentinels", str(len(inst.peers))),
            ("quorum", str(s.quorum)),
            ("failover-timeout", str(s.failover_timeout)),
            ("parallel-syncs", str(s.parallel_syncs)),
        ]
        if s.notification_script:
            m.append(("notification-script", s.notification_script))
        if s.client_reconfig_script:
            m.append(("client-reconfig-script", s.client_reconfig_script))
        if inst.in_failover:
            m.append(("failover-epoch", str(inst.failover_epoch)))
        if inst.next_failover_at > now:
            m.append(("next-failover-in", str(inst.next_failover_at - now)))
            m.append(("next-failover-reason", inst.next_failover_reason))
        if inst.in_failover and inst.switchover is not None:
            m.append(("switchover-target", inst.switchover.target))
        if inst.leader_epoch > 0:
            m += [("leader", inst.leader or "?"), ("leader-epoch", str(inst.leader_epoch))]
        last = inst.last_failover
        if last is not None:
            m += [
                ("last-failover-epoch", str(last.epoch)),
                ("last-failover-kind", last.kind),
                ("last-failover-ago", str(now - last.switched_at)),
            ]
            if last.duration is not None:
                m.append(("last-failover-duration", str(last.duration)))
            m += [("last-failover-from", format_addr(*last.old)), ("last-failover-to", format_addr(*last.new))]
    if isinstance(inst, Replica):
        m += [
            ("master-link-down-time", str(inst.master_link_down_ms)),
            ("master-link-status", "ok" if inst.master_link_up else "err"),
            ("master-host", inst.slave_master_host if inst.slave_master_host is not None else "?"),
            ("master-port", str(inst.slave_master_port)),
            ("slave-priority", str(inst.slave_priority)),
            ("slave-repl-offset", str(inst.repl_offset)),
            ("replica-announced", "1" if inst.replica_announced else "0"),
        ]
    if isinstance(inst, Peer):
        m += [
            (
                "last-hello-message",
                _ago(now, inst.last_hello_time) if inst.last_hello_time is not None else "0",
            ),
            ("voted-leader", inst.leader or "?"),
            ("voted-leader-epoch", str(inst.leader_epoch)),
        ]
    return m


def masters_maps(w: World, now: int) -> list[list[tuple[str, str]]]:
    """SENTINEL MASTERS."""
    return [instance_map(m, m, now) for m in w.masters.values()]


def replicas_maps(master: Master, now: int) -> list[list[tuple[str, str]]]:
    """SENTINEL REPLICAS/SLAVES: replicas with replica-announced 0 are left out."""
    return [instance_map(r, master, now) for r in master.replicas.values() if r.replica_announced]


def sentinels_maps(master: Master, now: int) -> list[list[tuple[str, str]]]:
    """SENTINEL SENTINELS: the other sentinels."""
    return [instance_map(p, master, now) for p in master.peers.values()]


def current_master_addr(master: Master) -> tuple[str, int]:
    """The address clients should use: the promoted replica's from RECONF_SLAVES on."""
    if master.failover_state >= FailoverState.RECONF_SLAVES and master.promoted is not None:
        return master.promoted.addr
    return master.addr


def master_addr(w: World, name: str) -> list[Reply] | None:
    """SENTINEL GET-MASTER-ADDR-BY-NAME: [ip, port] as bulk strings, None (null) if unknown."""
    m = w.masters.get(name)
    if m is None:
        return None
    host, port = current_master_addr(m)
    return [host, str(port)]


def is_master_down_reply(down: bool, leader: str | None, leader_epoch: int) -> list[Reply]:
    """The is-master-down-by-addr triple: integer, bulk runid or `*`, integer epoch."""
    return [1 if down else 0, leader if leader else "*", leader_epoch]


def usable_sentinels(master: Master) -> int:
    """1 (us) + peers that are neither SDOWN nor ODOWN."""
    return 1 + sum(1 for p in master.peers.values() if not p.sdown)


def ckquorum(master: Master) -> Reply:
    """SENTINEL CKQUORUM reply text (stock wording)."""
    usable = usable_sentinels(master)
    voters = len(master.peers) + 1
    noquorum = usable < master.quorum
    noauth = usable < voters // 2 + 1
    if not noquorum and not noauth:
        return Status(f"OK {usable} usable Sentinels. Quorum and failover authorization can be reached")
    text = f"NOQUORUM {usable} usable Sentinels. "
    if noquorum:
        text += "Not enough available Sentinels to reach the specified quorum for this master"
    if noauth:
        if noquorum:
            text += ". "
        text += "Not enough available Sentinels to reach the majority and authorize a failover"
    return ErrorReply(text)


def info_cache(w: World, names: list[str], now: int) -> list[Reply]:
    """SENTINEL INFO-CACHE: [name, [[age_ms, info-or-null] master, then replicas], ...]."""
    out: list[Reply] = []
    for name in names:
        m = w.masters.get(name)
        if m is None:
            continue
        entries: list[Reply] = []
        for inst in (m, *m.replicas.values()):
            age = now - inst.info_refresh if inst.info_refresh is not None else 0
            entries.append([age, inst.info_text])
        out += [name, entries]
    return out


def pending_scripts(queue: ScriptQueue, now: int) -> list[list[tuple[str, Reply]]]:
    """SENTINEL PENDING-SCRIPTS entries (argv, flags, pid, run-time|run-delay, retry-num), then
    ours: job id, the master, how long it has been queued and the previous attempt's result."""
    out: list[list[tuple[str, Reply]]] = []
    for j in queue.jobs:
        entry: list[tuple[str, Reply]] = [
            ("argv", list(j.argv)),
            ("flags", "running" if j.running else "scheduled"),
            ("pid", str(j.pid)),
        ]
        if j.running:
            entry.append(("run-time", str(now - j.start_time)))
        else:
            entry.append(("run-delay", str(max(0, j.start_time - now))))
        entry.append(("retry-num", str(j.retry_num)))
        entry += [
            ("job", str(j.job)),
            ("master", j.master),
            ("queued-ms", str(max(0, now - j.queued_at))),
            ("last-result", j.last_result),
        ]
        out.append(entry)
    return out


def script_history(queue: ScriptQueue, now: int, count: int | None = None) -> list[list[tuple[str, Reply]]]:
    """SENTINEL SCRIPT-HISTORY [count]: the latest finished attempts, newest first."""
    items = list(reversed(queue.history))
    if count is not None:
        items = items[:count]
    return [
        [
            ("job", str(r.job)),
            ("argv", list(r.argv)),
            ("master", r.master),
            ("attempt", str(r.attempt)),
            ("outcome", r.outcome),
            ("exit-code", str(r.exit_code)),
            ("signal", str(r.signal)),
            ("ended-ms-ago", str(max(0, now - r.ended))),
            ("duration-ms", str(max(0, r.ended - r.started))),
        ]
        for r in items
    ]


def master_status(m: Master) -> str:
    """`ok`, `sdown` or `odown` (INFO's per-master line)."""
    return "odown" if m.odown else "sdown" if m.sdown else "ok"


def info_section(w: World, now: int) -> str:
    """The `# Sentinel` INFO section (CRLF line ends, no trailing blank line)."""
    lines = [
        "# Sentinel",
        f"sentinel_masters:{len(w.masters)}",
        f"sentinel_tilt:{1 if w.tilt else 0}",
        f"sentinel_tilt_since_seconds:{(now - w.tilt_start) // 1000 if w.tilt else -1}",
        f"sentinel_running_scripts:{w.scripts.running}",
        f"sentinel_scripts_queue_length:{len(w.scripts.jobs)}",
        f"sentinel_simulate_failure_flags:{_simflags(w)}",
    ]
    for i, m in enumerate(w.masters.values()):
        host, port = current_master_addr(m)
        lines.append(
            f"master{i}:name={m.name},status={master_status(m)},address={host}:{port},"
            f"slaves={len(m.replicas)},sentinels={len(m.peers) + 1}"
            + (",maintenance=1" if m.maintenance else "")  # ours, only when on
        )
    return "\r\n".join(lines) + "\r\n"


def _simflags(w: World) -> int:
    return (1 if "crash-after-election" in w.simulate_failure else 0) | (
        2 if "crash-after-promotion" in w.simulate_failure else 0
    )


def debug_map(timers: Timers) -> list[tuple[str, str]]:
    """SENTINEL DEBUG with no argument: fixed-order names, values as strings."""
    return [(k, str(v)) for k, v in debug_items(timers)]


_CONFIG_PARAMS = (
    "resolve-hostnames",
    "announce-hostnames",
    "announce-ip",
    "announce-port",
    "sentinel-user",
    "sentinel-pass",
    "loglevel",
)


def config_get(w: World, patterns: list[str]) -> list[tuple[str, str]]:
    """SENTINEL CONFIG GET: matching params (glob, case-insensitive), each once."""
    s = w.settings
    values = {
        "resolve-hostnames": "yes" if s.resolve_hostnames else "no",
        "announce-hostnames": "yes" if s.announce_hostnames else "no",
        "announce-ip": s.announce_ip or "",
        "announce-port": str(s.announce_port),
        "sentinel-user": s.sentinel_user or "",
        "sentinel-pass": s.sentinel_pass or "",
        "loglevel": s.loglevel,
    }
    out: list[tuple[str, str]] = []
    for name in _CONFIG_PARAMS:
        if any(glob_match(p, name, nocase=True) for p in patterns):
            out.append((name, values[name]))
    return out
