"""INFO: Redis 7.0's sections, field names and order, `# Section` headers, CRLF line ends.

Stock Redis Sentinel, redis-py and monitoring tools parse this text, so every field a Redis
7.0.15 master prints is printed here, in its place, with a value this server can stand behind.
Layers above the engine extend it through hooks that return ordered `(field, value)` lists:
`info_persistence` and `info_replication` replace those sections, `info_stats` overrides or adds
Stats fields (e.g. sync_full, total_forks), and `info_clients` overrides Clients fields.
"""

from __future__ import annotations

import os
import resource
import sys
import time
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from server import REDIS_VERSION, __version__
from server.commands.registry import all_commands
from server.config import format_percentile
from server.instrument import state
from server.keyspace import now_ms
from server.memory import STARTUP_BYTES, glibc_used, total_system_memory

if TYPE_CHECKING:
    from server.engine import Engine

DEFAULT_SECTIONS = (
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
)
ALL_SECTIONS = (
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
)
_TITLES = {
    "server": "Server",
    "clients": "Clients",
    "memory": "Memory",
    "persistence": "Persistence",
    "stats": "Stats",
    "replication": "Replication",
    "cpu": "CPU",
    "modules": "Modules",
    "commandstats": "Commandstats",
    "errorstats": "Errorstats",
    "latencystats": "Latencystats",
    "cluster": "Cluster",
    "keyspace": "Keyspace",
}
NULL_REPLID = "0" * 40
_BUILD_ID = (
    f"{zlib.crc32(f'hasentinel-{__version__}'.encode()):08x}{zlib.adler32(REDIS_VERSION.encode()):08x}"
)

Fields = list[tuple[str, Any]]


def wanted_sections(args: Iterable[bytes]) -> list[str]:
    """The sections INFO [section ...] prints, in Redis's order (arguments are case-insensitive;
    "all", "everything" and "default" are groups; unknown names print nothing)."""
    names = [a.decode("latin-1").lower() for a in args]
    if not names:
        return list(DEFAULT_SECTIONS)
    chosen: set[str] = set()
    for n in names:
        if n in ("all", "everything"):
            chosen.update(ALL_SECTIONS)
        elif n == "default":
            chosen.update(DEFAULT_SECTIONS)
        elif n in _TITLES:
            chosen.add(n)
    return [s for s in ALL_SECTIONS if s in chosen]


def info_text(engine: Engine, args: Iterable[bytes] = ()) -> str:
    """The whole INFO reply text for `INFO <args>`."""
    parts = []
    for name in wanted_sections(args):
        fields = SECTION_BUILDERS[name](engine)
        body = "".join(f"{k}:{_fmt(v)}\r\n" for k, v in fields)
        parts.append(f"# {_TITLES[name]}\r\n{body}")
    return "\r\n".join(parts)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def human_bytes(n: float) -> str:
    """Redis's bytesToHuman: B, K, M, G, T, P with two decimals."""
    if n < 1024:
        return f"{int(n)}B"
    for unit in "KMGTP":
        n /= 1024
        if n < 1024 or unit == "P":
            return f"{n:.2f}{unit}"
    return f"{n:.2f}P"


def _override(fields: Fields, extra: Iterable[tuple[str, Any]]) -> Fields:
    """Replace same-named fields in place; append the others."""
    index = {k: i for i, (k, _) in enumerate(fields)}
    out = list(fields)
    for k, v in extra:
        if k in index:
            out[index[k]] = (k, v)
        else:
            index[k] = len(out)
            out.append((k, v))
    return out


# --- sections ------------------------------------------------------------------------------------


def section_server(engine: Engine) -> Fields:
    cfg = engine.config
    uname = os.uname()
    now = time.time_ns() // 1000
    uptime = engine.uptime()
    exe = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else sys.executable
    return [
        ("redis_version", REDIS_VERSION),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", _BUILD_ID),
        ("redis_mode", "standalone"),
        ("os", f"{uname.sysname} {uname.release} {uname.machine}"),
        ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
        ("monotonic_clock", "POSIX clock_gettime"),
        ("multiplexing_api", "epoll"),
        ("atomicvar_api", "c11-builtin"),
        ("gcc_version", "0.0.0"),
        ("process_id", os.getpid()),
        ("process_supervised", "no"),
        ("run_id", engine.run_id),
        ("tcp_port", cfg.port),
        ("server_time_usec", now),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("hz", cfg.hz),
        ("configured_hz", cfg.hz),
        ("lru_clock", (now // 1_000_000) & ((1 << 24) - 1)),
        ("executable", exe),
        ("config_file", cfg.path or ""),
        ("io_threads_active", 0),
    ]


def section_clients(engine: Engine) -> Fields:
    clients = list(engine.clients.values())
    normal = [c for c in clients if c.kind != "replica"]
    blocked = [c for c in clients if c.block is not None]
    fields: Fields = [
        ("connected_clients", len(normal)),
        ("cluster_connections", 0),
        ("maxclients", engine.config.maxclients),
        ("client_recent_max_input_buffer", max((c.qbuf for c in clients), default=0)),
        (
            "client_recent_max_output_buffer",
            max((getattr(c.transport, "pending_bytes", 0) for c in clients), default=0),
        ),
        ("blocked_clients", len(blocked)),
        ("tracking_clients", sum(1 for c in clients if getattr(c, "tracking", False))),
        ("clients_in_timeout_table", sum(1 for c in blocked if c.block is not None and c.block.deadline)),
    ]
    hook = engine.hooks.get("info_clients")
    return _override(fields, hook()) if hook is not None else fields


def section_memory(engine: Engine) -> Fields:
    mem = engine.memory
    used = mem.used_for_report()
    peak = max(mem.peak, used)
    rss = mem.rss()
    over = mem.overhead()
    overhead = over["total"]
    dataset = max(used - overhead, 0)
    in_use, heap = glibc_used()
    allocated = in_use + mem.pymalloc_bytes()
    active = max(heap + mem.pymalloc_arena_bytes(), allocated)
    total_sys = total_system_memory()
    cfg = engine.config
    frag = rss / used if used else 0.0

    def ratio(a: float, b: float) -> str:
        return f"{(a / b if b else 0.0):.2f}"

    return [
        ("used_memory", used),
        ("used_memory_human", human_bytes(used)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", human_bytes(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", human_bytes(peak)),
        ("used_memory_peak_perc", f"{used * 100 / peak:.2f}%" if peak else "0.00%"),
        ("used_memory_overhead", overhead),
        ("used_memory_startup", STARTUP_BYTES),
        ("used_memory_dataset", dataset),
        (
            "used_memory_dataset_perc",
            f"{dataset * 100 / (used - STARTUP_BYTES):.2f}%" if used > STARTUP_BYTES else "0.00%",
        ),
        ("allocator_allocated", allocated),
        ("allocator_active", active),
        ("allocator_resident", rss),
        ("total_system_memory", total_sys),
        ("total_system_memory_human", human_bytes(total_sys)),
        ("used_memory_lua", 0),
        ("used_memory_vm_eval", 0),
        ("used_memory_lua_human", "0B"),
        ("used_memory_scripts_eval", 0),
        ("number_of_cached_scripts", 0),
        ("number_of_functions", 0),
        ("number_of_libraries", 0),
        ("used_memory_vm_functions", 0),
        ("used_memory_vm_total", 0),
        ("used_memory_vm_total_human", "0B"),
        ("used_memory_functions", 0),
        ("used_memory_scripts", 0),
        ("used_memory_scripts_human", "0B"),
        ("maxmemory", cfg.maxmemory),
        ("maxmemory_human", human_bytes(cfg.maxmemory)),
        ("maxmemory_policy", cfg.maxmemory_policy),
        ("allocator_frag_ratio", ratio(active, allocated)),
        ("allocator_frag_bytes", active - allocated),
        ("allocator_rss_ratio", ratio(rss, active)),
        ("allocator_rss_bytes", rss - active),
        ("rss_overhead_ratio", ratio(rss, rss)),
        ("rss_overhead_bytes", 0),
        ("mem_fragmentation_ratio", f"{frag:.2f}"),
        ("mem_fragmentation_bytes", rss - used),
        ("mem_not_counted_for_evict", 0),
        ("mem_replication_backlog", over["backlog"]),
        ("mem_total_replication_buffers", over["backlog"] + over["clients_slaves"]),
        ("mem_clients_slaves", over["clients_slaves"]),
        ("mem_clients_normal", over["clients_normal"]),
        ("mem_cluster_links", 0),
        ("mem_aof_buffer", 0),
        ("mem_allocator", "libc"),
        ("active_defrag_running", 0),
        ("lazyfree_pending_objects", 0),
        ("lazyfreed_objects", 0),
    ]


def section_persistence(engine: Engine) -> Fields:
    hook = engine.hooks.get("info_persistence")
    if hook is not None:
        return list(hook())
    return [
        ("loading", 0),
        ("async_loading", 0),
        ("current_cow_peak", 0),
        ("current_cow_size", 0),
        ("current_cow_size_age", 0),
        ("current_fork_perc", "0.00"),
        ("current_save_keys_processed", 0),
        ("current_save_keys_total", 0),
        ("rdb_changes_since_last_save", engine.dirty),
        ("rdb_bgsave_in_progress", 0),
        ("rdb_last_save_time", engine.lastsave),
        ("rdb_last_bgsave_status", "ok"),
        ("rdb_last_bgsave_time_sec", -1),
        ("rdb_current_bgsave_time_sec", -1),
        ("rdb_saves", 0),
        ("rdb_last_cow_size", 0),
        ("rdb_last_load_keys_expired", 0),
        ("rdb_last_load_keys_loaded", 0),
        ("aof_enabled", 1 if engine.config.appendonly else 0),
        ("aof_rewrite_in_progress", 0),
        ("aof_rewrite_scheduled", 0),
        ("aof_last_rewrite_time_sec", -1),
        ("aof_current_rewrite_time_sec", -1),
        ("aof_last_bgrewrite_status", "ok"),
        ("aof_rewrites", 0),
        ("aof_rewrites_consecutive_failures", 0),
        ("aof_last_write_status", "ok"),
        ("aof_last_cow_size", 0),
        ("module_fork_in_progress", 0),
        ("module_fork_last_cow_size", 0),
    ]


def section_stats(engine: Engine) -> Fields:
    st = state(engine)
    kin, kout = st.kbps()
    fields: Fields = [
        ("total_connections_received", engine.stat_numconnections),
        ("total_commands_processed", engine.stat_numcommands),
        ("instantaneous_ops_per_sec", engine.ops_per_sec()),
        ("total_net_input_bytes", engine.stat_net_input_bytes),
        ("total_net_output_bytes", engine.stat_net_output_bytes),
        ("total_net_repl_input_bytes", 0),
        ("total_net_repl_output_bytes", 0),
        ("instantaneous_input_kbps", kin),
        ("instantaneous_output_kbps", kout),
        ("instantaneous_input_repl_kbps", 0.0),
        ("instantaneous_output_repl_kbps", 0.0),
        ("rejected_connections", engine.stat_rejected_conn),
        ("sync_full", 0),
        ("sync_partial_ok", 0),
        ("sync_partial_err", 0),
        ("expired_keys", engine.stat_expiredkeys),
        ("expired_stale_perc", 0.0),
        ("expired_time_cap_reached_count", 0),
        ("expire_cycle_cpu_milliseconds", 0),
        ("evicted_keys", engine.stat_evictedkeys),
        ("evicted_clients", 0),
        ("total_eviction_exceeded_time", 0),
        ("current_eviction_exceeded_time", 0),
        ("keyspace_hits", engine.stat_keyspace_hits),
        ("keyspace_misses", engine.stat_keyspace_misses),
        ("pubsub_channels", len(engine.channels)),
        ("pubsub_patterns", len(engine.patterns)),
        ("pubsubshard_channels", len(getattr(engine, "shard_channels", ()) or ())),
        ("latest_fork_usec", 0),
        ("total_forks", 0),
        ("migrate_cached_sockets", 0),
        ("slave_expires_tracked_keys", 0),
        ("active_defrag_hits", 0),
        ("active_defrag_misses", 0),
        ("active_defrag_key_hits", 0),
        ("active_defrag_key_misses", 0),
        ("total_active_defrag_time", 0),
        ("current_active_defrag_time", 0),
        ("tracking_total_keys", 0),
        ("tracking_total_items", 0),
        ("tracking_total_prefixes", 0),
        ("unexpected_error_replies", engine.stat_unexpected_error_replies),
        ("total_error_replies", engine.stat_total_error_replies),
        ("dump_payload_sanitizations", 0),
        ("total_reads_processed", getattr(engine, "stat_reads_processed", 0)),
        ("total_writes_processed", getattr(engine, "stat_writes_processed", 0)),
        ("io_threaded_reads_processed", 0),
        ("io_threaded_writes_processed", 0),
        ("reply_buffer_shrinks", 0),
        ("reply_buffer_expands", 0),
    ]
    hook = engine.hooks.get("info_stats")
    return _override(fields, hook()) if hook is not None else fields


def replid(engine: Engine) -> str:
    """The master replication ID: the replication layer's, else one kept on the engine."""
    repl = getattr(engine, "repl", None)
    rid = getattr(repl, "replid", None) if repl is not None else None
    if isinstance(rid, str):
        return rid
    rid = getattr(engine, "replid", None)
    if not isinstance(rid, str):
        rid = os.urandom(20).hex()
        setattr(engine, "replid", rid)  # noqa: B010  (engines without the attribute)
    return rid


def section_replication(engine: Engine) -> Fields:
    hook = engine.hooks.get("info_replication")
    if hook is not None:
        return list(hook())
    return [
        ("role", "master"),
        ("connected_slaves", 0),
        ("master_failover_state", "no-failover"),
        ("master_replid", replid(engine)),
        ("master_replid2", NULL_REPLID),
        ("master_repl_offset", getattr(engine, "repl_offset", 0)),
        ("second_repl_offset", -1),
        ("repl_backlog_active", 0),
        ("repl_backlog_size", engine.config.repl_backlog_size),
        ("repl_backlog_first_byte_offset", 0),
        ("repl_backlog_histlen", 0),
    ]


def section_cpu(engine: Engine) -> Fields:
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        th = resource.getrusage(resource.RUSAGE_THREAD)
    except (AttributeError, ValueError):
        th = me
    return [
        ("used_cpu_sys", f"{me.ru_stime:.6f}"),
        ("used_cpu_user", f"{me.ru_utime:.6f}"),
        ("used_cpu_sys_children", f"{ch.ru_stime:.6f}"),
        ("used_cpu_user_children", f"{ch.ru_utime:.6f}"),
        ("used_cpu_sys_main_thread", f"{th.ru_stime:.6f}"),
        ("used_cpu_user_main_thread", f"{th.ru_utime:.6f}"),
    ]


def section_modules(engine: Engine) -> Fields:
    return []




def section_commandstats(engine: Engine) -> Fields:
    st = state(engine)
    out: Fields = []
    for cmd in all_commands():
        if not (cmd.calls or cmd.failed_calls or cmd.rejected_calls):
            continue
        usec = st.usec(cmd)
        per = usec / cmd.calls if cmd.calls else 0.0
        out.append(
            (
                f"cmdstat_{cmd.full_name}",
                f"calls={cmd.calls},usec={usec},usec_per_call={per:.2f},"
                f"rejected_calls={cmd.rejected_calls},failed_calls={cmd.failed_calls}",
            )
        )
    return out


def section_errorstats(engine: Engine) -> Fields:
    stats: dict[str, int] = getattr(engine, "errorstats", {})
    return [(f"errorstat_{code}", f"count={n}") for code, n in stats.items()]


def section_latencystats(engine: Engine) -> Fields:
    cfg = engine.config
    if not cfg.latency_tracking:
        return []
    st = state(engine)
    ps = list(cfg.latency_tracking_info_percentiles)
    out: Fields = []
    for cmd in all_commands():
        if not cmd.calls:
            continue
        vals = st.percentiles(cmd, ps)
        if vals is None:
            continue
        body = ",".join(f"p{format_percentile(p)}={v:.3f}" for p, v in zip(ps, vals, strict=True))
        out.append((f"latency_percentiles_usec_{cmd.full_name}", body))
    return out


def section_cluster(engine: Engine) -> Fields:
    return [("cluster_enabled", 0)]


def avg_ttl(engine: Engine, expires: dict[bytes, int]) -> int:
    """Average remaining TTL in ms, estimated on up to 1000 keys as Redis estimates it."""
    if not expires:
        return 0
    now = now_ms()
    total = n = 0
    for when in expires.values():
        if when > now:
            total += when - now
            n += 1
        if n >= 1000:
            break
    return total // n if n else 0


def section_keyspace(engine: Engine) -> Fields:
    out: Fields = []
    for db in engine.keyspace.dbs:
        if db.data:
            out.append(
                (
                    f"db{db.id}",
                    f"keys={len(db.data)},expires={len(db.expires)},avg_ttl={avg_ttl(engine, db.expires)}",
                )
            )
    return out


SECTION_BUILDERS = {
    "server": section_server,
    "clients": section_clients,
    "memory": section_memory,
    "persistence": section_persistence,
    "stats": section_stats,
    "replication": section_replication,
    "cpu": section_cpu,
    "modules": section_modules,
    "commandstats": section_commandstats,
    "errorstats": section_errorstats,
    "latencystats": section_latencystats,
    "cluster": section_cluster,
    "keyspace": section_keyspace,
}
