"""Finding the sentinels and talking to them (and to the data nodes) for the operator commands.

Where the CLI learns the sentinels, in this order (see docs/cli.md):

1. `--sentinel HOST:PORT` (repeatable);
2. the sentinel.conf given by `--config` (default /etc/hasentinel/sentinel.conf, skipped
   silently when that default does not exist): the local sentinel itself (its `bind`/`port`,
   or `announce-ip`/`announce-port`), the `known-sentinel` lines, and the sentinels recorded in
   its state file (`<dir>/<name>.state.json`, readable by root only: skipped if not readable);
3. every sentinel a reachable one lists in `SENTINEL SENTINELS <master>`, transitively.

Passwords: `--password` (or `HASENTINEL_PASSWORD`) for the sentinels, else the config's
`requirepass`; `--auth-pass` (or `HASENTINEL_AUTH_PASS`) for the data nodes, else the config's
`sentinel auth-pass <master>`.

Errors are `CliError`s whose text says what to do.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sentinel.cli.base import DEFAULT_CONFIG, DEFAULT_TIMEOUT, CliError, Settings
from sentinel.core.config import ConfigError, SentinelConfig, parse_config

__all__ = ["DEFAULT_CONFIG", "DEFAULT_TIMEOUT", "CliError", "Endpoint", "Settings", "Sources"]
MAX_SENTINELS = 64
T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True, order=True)
class Endpoint:
    """host:port of a sentinel or a server."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str, default_port: int = 26379) -> Endpoint:
        """`host:port`, `[v6]:port`, or a bare host (default port)."""
        t = text.strip()
        if t.startswith("["):
            host, _, rest = t[1:].partition("]")
            port_s = rest[1:] if rest.startswith(":") else ""
        elif t.count(":") == 1:
            host, _, port_s = t.partition(":")
        else:
            host, port_s = t, ""
        if not host:
            raise CliError(f"'{text}' is not HOST:PORT")
        if not port_s:
            return cls(host, default_port)
        if not port_s.isdigit() or not 0 < int(port_s) < 65536:
            raise CliError(f"'{text}': the port must be a number from 1 to 65535")
        return cls(host, int(port_s))


@dataclass
class Sources:
    """The sentinels to ask and the credentials, from the options and the config."""

    sentinels: dict[Endpoint, set[str]]
    """Endpoint -> where we learned it (`option`, `config`, `state`, `discovered`)."""
    password: str | None
    username: str | None
    auth_pass: dict[str, str | None]
    """Per master name, the password of the data nodes (None: none)."""
    default_auth_pass: str | None
    timeout: float
    config: SentinelConfig | None = None
    config_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, ep: Endpoint, source: str) -> bool:
        """Record `ep`; True if it is new."""
        new = ep not in self.sentinels
        self.sentinels.setdefault(ep, set()).add(source)
        return new

    def data_password(self, master: str | None) -> str | None:
        """The password for a master's data nodes."""
        if self.default_auth_pass is not None:
            return self.default_auth_pass
        return self.auth_pass.get(master or "")


def load_config(path: Path) -> SentinelConfig:
    """Parse a sentinel.conf for the CLI; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError as e:
        raise CliError(f"config file {path} does not exist (pass --config PATH or --sentinel HOST:PORT)") from e
    except PermissionError as e:
        raise CliError(f"cannot read {path}: permission denied (run as root, or use --sentinel HOST:PORT)") from e
    except OSError as e:
        raise CliError(f"cannot read {path}: {e.strerror or e}") from e
    try:
        return parse_config(text)
    except ConfigError as e:
        raise CliError(f"{path}: {e}") from e


def state_file_of(path: Path, config: SentinelConfig) -> Path:
    """Where the sentinel keeps its state: `<dir>/<config name>.state.json` (runtime rule)."""
    from sentinel.runtime.statefile import state_path

    return state_path(path, config)


def config_endpoint(config: SentinelConfig) -> Endpoint:
    """How to reach the sentinel a config describes (announce address, else its bind address)."""
    if config.announce_ip:
        return Endpoint(config.announce_ip, config.announce_port or config.port)
    host = "127.0.0.1"
    for b in config.bind:
        b = b.lstrip("-")
        if b in ("*", "::*", "0.0.0.0", "::"):
            host = "127.0.0.1"
            break
        host = b
        break
    return Endpoint(host, config.port)


def resolve_sources(s: Settings) -> Sources:
    """Collect the sentinels to ask and the credentials (no network)."""
    out = Sources(
        sentinels={},
        password=s.password or os.environ.get("HASENTINEL_PASSWORD") or None,
        username=s.username,
        auth_pass={},
        default_auth_pass=s.auth_pass or os.environ.get("HASENTINEL_AUTH_PASS") or None,
        timeout=s.timeout,
    )
    for text in s.sentinels:
        out.add(Endpoint.parse(text), "option")
    path = s.config
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    if path is not None:
        config = load_config(path)
        out.config, out.config_path = config, path
        if out.password is None:
            out.password = config.requirepass
        for m in config.masters:
            out.auth_pass[m.name] = m.auth_pass
        out.add(config_endpoint(config), "config")
        for _name, host, port, _runid in config.legacy.known_sentinels:
            out.add(Endpoint(host, port), "config")
        spath = state_file_of(path, config)
        try:
            doc = json.loads(spath.read_text())
            for name, ms in doc.get("masters", {}).items():
                auth = ms.get("settings", {}).get("auth_pass")
                if auth and not out.auth_pass.get(name):
                    out.auth_pass[name] = auth
                for host, port, _runid in ms.get("known_sentinels", []):
                    out.add(Endpoint(str(host), int(port)), "state")
        except FileNotFoundError:
            pass
        except PermissionError:
            out.notes.append(f"state file {spath} not readable (run as root to use the sentinels it knows)")
        except (OSError, ValueError, TypeError, AttributeError) as e:
            out.notes.append(f"state file {spath} unusable: {e}")
    if not out.sentinels:
        raise CliError(
            f"no sentinel to ask: pass --sentinel HOST:PORT (repeatable) or --config PATH "
            f"({DEFAULT_CONFIG} does not exist)"
        )
    return out


def explain(exc: BaseException, what: str, ep: Endpoint, timeout: float) -> str:
    """A sentence an operator can act on, for a failure to talk to `what` at `ep`."""
    text = str(exc)
    low = text.lower()
    if "noauth" in low or "authentication required" in low:
        return f"{what} {ep} requires a password (pass --password or set requirepass in the config)"
    if isinstance(exc, redis.AuthenticationError) or "wrongpass" in low or "invalid password" in low:
        return f"{what} {ep} refused the password (pass the right one with --password / HASENTINEL_PASSWORD)"
    if "without any password configured" in low:
        return f"{what} {ep} has no password set: drop --password"
    if isinstance(exc, redis.TimeoutError) or "timed out" in low:
        return f"{what} {ep} did not answer within {timeout:g} s (host down, or a firewall dropping packets?)"
    if isinstance(exc, redis.ConnectionError):
        inner = exc.__cause__ or exc.__context__
        code = getattr(inner, "errno", None)
        if code == errno.ECONNREFUSED or "connection refused" in low:
            return f"{what} {ep} refused the connection (not running, or another port? check the service)"
        if isinstance(inner, socket.gaierror) or "name or service not known" in low:
            return f"{what} {ep}: unknown host name"
        if code in (errno.EHOSTUNREACH, errno.ENETUNREACH) or "no route" in low:
            return f"{what} {ep} is unreachable (no route to host)"
        return f"{what} {ep}: connection failed ({text})"
    return f"{what} {ep}: {text}"


def connect(ep: Endpoint, password: str | None, username: str | None, timeout: float) -> redis.Redis:
    """A RESP2 client with bounded connect and read times (decoded replies)."""
    return redis.Redis(
        host=ep.host,
        port=ep.port,
        password=password,
        username=username,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        protocol=2,
        retry=Retry(NoBackoff(), 0),  # one attempt: an unreachable node must cost one timeout
    )


def sentinel_client(src: Sources, ep: Endpoint) -> redis.Redis:
    """A client for a sentinel with the sentinel credentials."""
    return connect(ep, src.password, src.username, src.timeout)


def data_client(src: Sources, ep: Endpoint, master: str | None) -> redis.Redis:
    """A client for a data node of `master` with its auth-pass."""
    return connect(ep, src.data_password(master), None, src.timeout)


def parallel(fn: Callable[[T], U], items: Iterable[T], workers: int = 16) -> list[U]:
    """Map `fn` over `items` in threads (order kept). `fn` must not raise."""
    todo = list(items)
    if not todo:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
        return list(pool.map(fn, todo))


def pairs_to_dict(reply: Any) -> dict[str, str]:
    """A RESP2 flat pair array (or an already parsed dict) as a dict of strings."""
    if isinstance(reply, dict):
        return {str(k): str(v) for k, v in reply.items()}
    it = iter(reply or [])
    return {str(k): str(v) for k, v in zip(it, it, strict=False)}


def raw_command(client: redis.Redis, *args: Any) -> Any:
    """Run a command without redis-py's reply post-processing (SENTINEL replies stay raw)."""
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    except redis.ResponseError as e:
        return e
    except BaseException:
        conn.disconnect()
        raise
    finally:
        client.connection_pool.release(conn)


def parse_info(text: str) -> dict[str, str]:
    """INFO text -> flat dict (later sections win on duplicate keys)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out


def info_of(client: redis.Redis, section: str | None = None) -> dict[str, str]:
    """INFO [section] as a flat dict of strings (the raw text is parsed here, not by redis-py)."""
    reply = raw_command(client, "INFO", *([section] if section else []))
    if isinstance(reply, Exception):
        raise reply
    return parse_info(str(reply))
