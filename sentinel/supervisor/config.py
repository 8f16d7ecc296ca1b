"""The host config: one small TOML file per host for `hasentinel supervise`.

```toml
master_name = "mymaster"        # the name in `sentinel monitor <name> ...`
address = "10.0.0.1"            # this host's address, as the sentinels and the other hosts know it

[server]
config = "/etc/hasentinel/server.conf"
data_dir = "/var/lib/hasentinel/data"
port = 6379

[sentinel]
config = "/etc/hasentinel/sentinel.conf"
state_dir = "/var/lib/hasentinel/sentinel"
port = 26379
peers = ["10.0.0.2:26379", "10.0.0.3:26379"]
```

Every other key has a default (docs/operations.md lists them all). Unknown keys are errors, so
a typo never falls back to a default silently. Relative paths are relative to the host config's
directory. Durations are seconds (int or float).
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sentinel.supervisor.policy import HealthSettings, MasterRestart, RestartSettings, StopSettings


class HostConfigError(Exception):
    """The host config is missing, unreadable or invalid (the message says where)."""


@dataclass(frozen=True, slots=True)
class ServerSpec:
    config: Path
    data_dir: Path
    port: int
    command: tuple[str, ...]
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SentinelSpec:
    config: Path
    state_dir: Path
    port: int
    peers: tuple[tuple[str, int], ...] = ()
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HostConfig:
    path: Path
    master_name: str
    address: str
    server: ServerSpec
    sentinel: SentinelSpec
    restart: RestartSettings
    health: HealthSettings
    stop: StopSettings
    log_level: str = "notice"
    log_file: str = ""
    status_file: Path | None = None
    """Where the supervisor publishes its state as JSON (default: <state_dir>/supervisor.status.json)."""

    @property
    def server_addr(self) -> tuple[str, int]:
        return (self.address, self.server.port)

    @property
    def sentinel_addr(self) -> tuple[str, int]:
        return (self.address, self.sentinel.port)


def default_server_command() -> tuple[str, ...]:
    """`<this python> -m server` (in an installed venv: the same as `hasentinel-server`)."""
    return (sys.executable, "-m", "server")


def default_sentinel_command() -> tuple[str, ...]:
    """`<this python> -m sentinel` (the same as `hasentinel sentinel`)."""
    return (sys.executable, "-m", "sentinel")


_TOP = {"master_name", "address", "status_file", "server", "sentinel", "restart", "health", "log"}
_SERVER = {"config", "data_dir", "port", "command", "args", "stop_timeout"}
_SENTINEL = {"config", "state_dir", "port", "peers", "command", "args", "stop_timeout"}
_RESTART = {
    "initial_delay",
    "max_delay",
    "multiplier",
    "stable_after",
    "crash_loop_limit",
    "master_restart",
    "hold_retry",
}
_HEALTH = {"interval", "start_timeout", "hang_timeout", "probe_timeout"}
_LOG = {"level", "file"}
LOG_LEVELS = ("debug", "verbose", "notice", "warning", "nothing")
STATUS_FILE = "supervisor.status.json"


class _Section:
    def __init__(self, where: str, data: Any, allowed: set[str]) -> None:
        if not isinstance(data, dict):
            raise HostConfigError(f"{where}: expected a table")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise HostConfigError(
                f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
            )
        self.where = where
        self.data: dict[str, Any] = data

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where != "(top level)" else key

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.data:
            if required:
                raise HostConfigError(f"{self._name(key)} is required")
            return None
        return self.data[key]

    def string(self, key: str, default: str | None = None) -> str:
        v = self._get(key, default is None)
        if v is None:
            return cast(str, default)
        if not isinstance(v, str) or (default is None and not v):
            raise HostConfigError(f"{self._name(key)}: expected a non-empty string, got {v!r}")
        return v

    def port(self, key: str) -> int:
        v = self._get(key, True)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
            raise HostConfigError(f"{self._name(key)}: expected a port number (1-65535), got {v!r}")
        return v

    def number(self, key: str, default: float, minimum: float = 0.0, strict: bool = False) -> float:
        v = self._get(key, False)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise HostConfigError(f"{self._name(key)}: expected a number of seconds, got {v!r}")
        if v < minimum or (strict and v == minimum):
            bound = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
            raise HostConfigError(f"{self._name(key)}: must be {bound}, got {v!r}")
        return float(v)

    def integer(self, key: str, default: int, minimum: int) -> int:
        v = self._get(key, False)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise HostConfigError(f"{self._name(key)}: expected an integer >= {minimum}, got {v!r}")
        return v

    def strings(self, key: str) -> tuple[str, ...] | None:
        v = self._get(key, False)
        if v is None:
            return None
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise HostConfigError(f"{self._name(key)}: expected a list of strings, got {v!r}")
        return tuple(v)

    def path(self, key: str, base: Path) -> Path:
        p = Path(self.string(key))
        return p if p.is_absolute() else (base / p)

    def sub(self, key: str, allowed: set[str]) -> _Section:
        return _Section(f"[{key}]", self.data.get(key, {}), allowed)


def parse_hostport(text: str, where: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port`."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise HostConfigError(f"{where}: expected host:port, got {text!r}")
    return host, int(port)


def parse_host_config(text: str, path: Path) -> HostConfig:
    """Parse and validate the TOML text of a host config stored at `path`."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise HostConfigError(f"{path}: not valid TOML: {e}") from None
    base = path.resolve().parent
    top = _Section("(top level)", doc, _TOP)
    srv = top.sub("server", _SERVER)
    sen = top.sub("sentinel", _SENTINEL)
    rst = top.sub("restart", _RESTART)
    hlt = top.sub("health", _HEALTH)
    lg = top.sub("log", _LOG)
    if "server" not in doc or "sentinel" not in doc:
        raise HostConfigError(f"{path}: the [server] and [sentinel] tables are required")

    peers = []
    for i, p in enumerate(sen.strings("peers") or ()):
        peers.append(parse_hostport(p, f"[sentinel].peers[{i}]"))

    master_restart = rst.string("master_restart", "unless-empty")
    if master_restart not in ("unless-empty", "never"):
        raise HostConfigError(
            f"[restart].master_restart: expected 'unless-empty' or 'never', got {master_restart!r}"
        )
    d = RestartSettings()
    initial = rst.number("initial_delay", d.initial_delay)
    restart = RestartSettings(
        initial_delay=initial,
        max_delay=rst.number("max_delay", max(d.max_delay, initial), minimum=initial),
        multiplier=rst.number("multiplier", d.multiplier, minimum=1.0),
        stable_after=rst.number("stable_after", d.stable_after),
        crash_loop_limit=rst.integer("crash_loop_limit", d.crash_loop_limit, 1),
        master_restart=cast(MasterRestart, master_restart),
        hold_retry=rst.number("hold_retry", d.hold_retry, minimum=0.0, strict=True),
    )
    h = HealthSettings()
    health = HealthSettings(
        interval=hlt.number("interval", h.interval, minimum=0.0, strict=True),
        start_timeout=hlt.number("start_timeout", h.start_timeout, minimum=0.0, strict=True),
        hang_timeout=hlt.number("hang_timeout", h.hang_timeout, minimum=0.0, strict=True),
        probe_timeout=hlt.number("probe_timeout", h.probe_timeout, minimum=0.0, strict=True),
    )
    s = StopSettings()
    stop = StopSettings(
        sentinel=sen.number("stop_timeout", s.sentinel, minimum=0.0, strict=True),
        server=srv.number("stop_timeout", s.server, minimum=0.0, strict=True),
    )
    level = lg.string("level", "notice")
    if level not in LOG_LEVELS:
        raise HostConfigError(f"[log].level: expected one of {', '.join(LOG_LEVELS)}, got {level!r}")
    log_file = lg.string("file", "")
    if log_file and not os.path.isabs(log_file):
        log_file = str(base / log_file)

    status_file: Path | None = sen.path("state_dir", base) / STATUS_FILE
    if "status_file" in doc:
        sf = top.string("status_file", "")
        status_file = None if sf == "" else top.path("status_file", base)

    server_cmd = srv.strings("command")
    sentinel_cmd = sen.strings("command")
    if server_cmd == () or sentinel_cmd == ():
        raise HostConfigError(f"{path}: a command must name at least the program")
    return HostConfig(
        path=path,
        master_name=top.string("master_name"),
        address=top.string("address"),
        server=ServerSpec(
            config=srv.path("config", base),
            data_dir=srv.path("data_dir", base),
            port=srv.port("port"),
            command=server_cmd or default_server_command(),
            args=srv.strings("args") or (),
        ),
        sentinel=SentinelSpec(
            config=sen.path("config", base),
            state_dir=sen.path("state_dir", base),
            port=sen.port("port"),
            peers=tuple(peers),
            command=sentinel_cmd or default_sentinel_command(),
            args=sen.strings("args") or (),
        ),
        restart=restart,
        health=health,
        stop=stop,
        log_level=level,
        log_file=log_file,
        status_file=status_file,
    )


def load_host_config(path: str | Path) -> HostConfig:
    """Read and parse a host config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise HostConfigError(f"cannot read the host config {p}: {e.strerror}") from None
    return parse_host_config(text, p)
