"""What the supervisor needs from the server's and the sentinel's own config files.

Both files are parsed with the children's own parsers, with the overrides the supervisor passes
on their command lines (`--port`, `--dir`, the host config's extra `args`), so a config the
children would refuse is refused here first (`hasentinel supervise --check`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sentinel.supervisor.config import HostConfig, HostConfigError
from sentinel.supervisor.dataset import DataFiles
from sentinel.supervisor.policy import AsConfigured, AsMaster, ReplicaOf, Role


@dataclass(frozen=True, slots=True)
class ServerFacts:
    files: DataFiles
    replicaof: tuple[str, int] | None
    """The config file's `replicaof` (None: the config makes it a master)."""
    auth: str | None = None
    """The password to ask the other servers with (`masterauth`, else `requirepass`)."""


@dataclass(frozen=True, slots=True)
class SentinelFacts:
    state_path: Path
    requirepass: str | None
    """To query the local sentinel."""
    peer_user: str | None
    peer_pass: str | None
    """To query the other sentinels (`sentinel sentinel-user/-pass`, else `requirepass`)."""
    config_peers: tuple[tuple[str, int], ...]
    """`sentinel known-sentinel` lines of the config for our master (stock state lines)."""
    vips: tuple[tuple[str, str, str], ...] = ()
    """(master, interface, address) of its `sentinel vip` lines: removed when the sentinel dies."""


def server_argv(hc: HostConfig, role: Role | None) -> list[str]:
    """The server's command line: its config, our port and data dir, extra args, the role."""
    s = hc.server
    argv = [*s.command, str(s.config), "--port", str(s.port), "--dir", str(s.data_dir), *s.args]
    if isinstance(role, AsMaster):
        argv += ["--replicaof", "no", "one"]
    elif isinstance(role, ReplicaOf):
        argv += ["--replicaof", role.host, str(role.port)]
    elif role is None or isinstance(role, AsConfigured):
        pass
    return argv


def sentinel_argv(hc: HostConfig) -> list[str]:
    s = hc.sentinel
    return [*s.command, str(s.config), "--port", str(s.port), "--dir", str(s.state_dir), *s.args]


def server_facts(hc: HostConfig) -> ServerFacts:
    """Parse the server config (plus our overrides) exactly as the server will."""
    import server.commands  # noqa: F401  (rename-command needs the command table)
    from server.commands.registry import TABLE
    from server.config import Config, ConfigError

    s = hc.server
    if not s.data_dir.is_dir():
        raise HostConfigError(f"[server].data_dir {s.data_dir} is not a directory")
    argv = [str(s.config), "--port", str(s.port), "--dir", str(s.data_dir), *s.args]
    saved = dict(TABLE)  # rename-command edits the process-wide table: keep ours intact
    try:
        cfg = Config.from_argv(argv)
    except (ConfigError, OSError) as e:
        raise HostConfigError(f"server config {s.config}: {e}") from None
    finally:
        TABLE.clear()
        TABLE.update(saved)
    files = DataFiles(
        dir=cfg.dir or str(s.data_dir),
        dbfilename=cfg.dbfilename,
        appendonly=bool(cfg.appendonly),
        appenddirname=cfg.appenddirname,
        appendfilename=cfg.appendfilename,
    )
    return ServerFacts(files=files, replicaof=cfg.replicaof, auth=cfg.masterauth or cfg.requirepass or None)


def sentinel_facts(hc: HostConfig) -> SentinelFacts:
    """Parse sentinel.conf (plus our overrides) exactly as the sentinel will."""
    from sentinel.core.config import ConfigError, parse_config
    from sentinel.runtime.main import config_text
    from sentinel.runtime.statefile import state_path
    from sentinel.vip.release import configured_vips

    s = hc.sentinel
    if not s.state_dir.is_dir():
        raise HostConfigError(f"[sentinel].state_dir {s.state_dir} is not a directory")
    overrides = ["--port", str(s.port), "--dir", str(s.state_dir), *s.args]
    try:
        cfg = parse_config(config_text(s.config, overrides))
    except OSError as e:
        raise HostConfigError(f"cannot read the sentinel config {s.config}: {e.strerror}") from None
    except ConfigError as e:
        raise HostConfigError(f"sentinel config {s.config}: {e}") from None
    if cfg.master(hc.master_name) is None:
        names = ", ".join(m.name for m in cfg.masters) or "none"
        raise HostConfigError(
            f"sentinel config {s.config} does not monitor master_name {hc.master_name!r} (it monitors: {names})"
        )
    peers = tuple((h, p) for n, h, p, _ in cfg.legacy.known_sentinels if n == hc.master_name)
    return SentinelFacts(
        state_path=state_path(s.config, cfg),
        requirepass=cfg.requirepass,
        peer_user=cfg.sentinel_user,
        peer_pass=cfg.sentinel_pass if cfg.sentinel_pass is not None else cfg.requirepass,
        config_peers=peers,
        vips=tuple(configured_vips(cfg)),
    )
