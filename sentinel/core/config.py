"""sentinel.conf parsing into typed, immutable configuration (pure: no file access).

The user's file is read, never rewritten. Stock state lines (`myid`, `current-epoch`,
`config-epoch`, `leader-epoch`, `known-replica`/`known-slave`, `known-sentinel`) are accepted so a
stock sentinel.conf loads; they seed the runtime state only when no state file exists yet
(see `sentinel.core.state.reconcile`). Error texts are stock's (`sentinelHandleConfiguration`).

Script paths must be executable: the core cannot check that, so `SentinelConfig.script_paths()`
lists them for the runtime to check before starting.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any

from sentinel.core.timers import DEFAULT_DOWN_AFTER, DEFAULT_FAILOVER_TIMEOUT, DEFAULT_PARALLEL_SYNCS, Timers

RUN_ID_SIZE = 40
DEFAULT_PORT = 26379


class ConfigError(ValueError):
    """A configuration line is invalid; `line` is 1-based (0 when not tied to a line)."""

    def __init__(self, line: int, message: str, text: str = "") -> None:
        super().__init__(f"line {line}: {message}" + (f" ({text.strip()})" if text else ""))
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class VipSettings:
    """The virtual IP this sentinel manages for one master (ours; see sentinel/core/ownership.py).

    `sentinel vip <master> <addr[/prefix]> <iface>` and `sentinel vip-local-server <master> <ip>
    <port>` are required together; the other `vip-*` directives tune the lease and the fence.
    """

    address: str
    """`a.b.c.d/N` (a bare address is /32)."""
    iface: str
    local_host: str
    local_port: int
    lease: int = 0
    """T_lease in ms; 0 means the master's down-after-milliseconds."""
    margin: int = 0
    """Extra wait (ms) past T_lease before a silent holder counts as released; 0: the default."""
    fence: int = 0
    """Duration (ms) of each CLIENT PAUSE WRITE of the fence (renewed while fenced); 0: default."""
    sentinels: int = 0
    """Expected number of sentinels (the lease majority is over max(this, known + 1)); 0: known."""

    def is_local(self, host: str, port: int) -> bool:
        """Whether host:port is our local server."""
        return port == self.local_port and host.lower() == self.local_host.lower()

    def to_fields(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "address": self.address,
            "iface": self.iface,
            "local_host": self.local_host,
            "local_port": self.local_port,
            "lease": self.lease,
            "margin": self.margin,
            "fence": self.fence,
            "sentinels": self.sentinels,
        }

    @classmethod
    def from_fields(cls, d: dict[str, Any]) -> VipSettings:
        """Inverse of `to_fields`."""
        return cls(
            address=str(d["address"]),
            iface=str(d["iface"]),
            local_host=str(d["local_host"]),
            local_port=int(d["local_port"]),
            lease=int(d.get("lease", 0)),
            margin=int(d.get("margin", 0)),
            fence=int(d.get("fence", 0)),
            sentinels=int(d.get("sentinels", 0)),
        )


@dataclass(frozen=True, slots=True)
class MasterConfig:
    """One monitored master as configured (file, SENTINEL MONITOR, or SENTINEL SET)."""

    name: str
    host: str
    port: int
    quorum: int
    down_after: int = DEFAULT_DOWN_AFTER
    failover_timeout: int = DEFAULT_FAILOVER_TIMEOUT
    parallel_syncs: int = DEFAULT_PARALLEL_SYNCS
    auth_pass: str | None = None
    auth_user: str | None = None
    notification_script: str | None = None
    client_reconfig_script: str | None = None
    reboot_down_after: int = 0
    renamed_commands: tuple[tuple[str, str], ...] = ()
    vip: VipSettings | None = None
    """Ours: the VIP that follows this master (None: no VIP, nothing changes)."""

    def to_fields(self) -> dict[str, Any]:
        """JSON-able dict of every setting (used for the state file and for change detection)."""
        return {
            "host": self.host,
            "port": self.port,
            "quorum": self.quorum,
            "down_after": self.down_after,
            "failover_timeout": self.failover_timeout,
            "parallel_syncs": self.parallel_syncs,
            "auth_pass": self.auth_pass,
            "auth_user": self.auth_user,
            "notification_script": self.notification_script,
            "client_reconfig_script": self.client_reconfig_script,
            "reboot_down_after": self.reboot_down_after,
            "renamed_commands": [list(p) for p in self.renamed_commands],
            "vip": self.vip.to_fields() if self.vip is not None else None,
        }

    @classmethod
    def from_fields(cls, name: str, d: dict[str, Any]) -> MasterConfig:
        """Inverse of `to_fields`; unknown keys are ignored, missing ones take defaults."""
        return cls(
            name=name,
            host=str(d["host"]),
            port=int(d["port"]),
            quorum=int(d["quorum"]),
            down_after=int(d.get("down_after", DEFAULT_DOWN_AFTER)),
            failover_timeout=int(d.get("failover_timeout", DEFAULT_FAILOVER_TIMEOUT)),
            parallel_syncs=int(d.get("parallel_syncs", DEFAULT_PARALLEL_SYNCS)),
            auth_pass=_opt_str(d.get("auth_pass")),
            auth_user=_opt_str(d.get("auth_user")),
            notification_script=_opt_str(d.get("notification_script")),
            client_reconfig_script=_opt_str(d.get("client_reconfig_script")),
            reboot_down_after=int(d.get("reboot_down_after", 0)),
            renamed_commands=tuple((str(a), str(b)) for a, b in d.get("renamed_commands", [])),
            vip=VipSettings.from_fields(d["vip"]) if d.get("vip") else None,
        )


@dataclass(frozen=True, slots=True)
class LegacyState:
    """State lines found in a stock sentinel.conf (used to seed a missing state file)."""

    myid: str | None = None
    current_epoch: int = 0
    config_epochs: tuple[tuple[str, int], ...] = ()
    leader_epochs: tuple[tuple[str, int], ...] = ()
    known_replicas: tuple[tuple[str, str, int], ...] = ()
    known_sentinels: tuple[tuple[str, str, int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SentinelConfig:
    """The whole file: sentinel-wide options, masters in file order, legacy state lines."""

    port: int = DEFAULT_PORT
    bind: tuple[str, ...] = ()
    requirepass: str | None = None
    dir: str | None = None
    announce_ip: str | None = None
    announce_port: int = 0
    resolve_hostnames: bool = False
    announce_hostnames: bool = False
    sentinel_user: str | None = None
    sentinel_pass: str | None = None
    deny_scripts_reconfig: bool = True
    masters: tuple[MasterConfig, ...] = ()
    legacy: LegacyState = field(default_factory=LegacyState)
    other: tuple[tuple[str, ...], ...] = ()
    """Directives the sentinel does not interpret (logfile, daemonize, ...), kept for the runtime."""

    def master(self, name: str) -> MasterConfig | None:
        """The master called `name`, if configured."""
        for m in self.masters:
            if m.name == name:
                return m
        return None

    def script_paths(self) -> list[str]:
        """Every script path the runtime must check is executable before starting."""
        out: list[str] = []
        for m in self.masters:
            out.extend(p for p in (m.notification_script, m.client_reconfig_script) if p)
        return out

    def sentinel_fields(self) -> dict[str, Any]:
        """The settings SENTINEL CONFIG SET can change (for the state file's change detection)."""
        return {
            "announce_ip": self.announce_ip,
            "announce_port": self.announce_port,
            "resolve_hostnames": self.resolve_hostnames,
            "announce_hostnames": self.announce_hostnames,
            "sentinel_user": self.sentinel_user,
            "sentinel_pass": self.sentinel_pass,
        }


# ---------------------------------------------------------------------------------------------
# Lexing (Redis's sdssplitargs)


def split_args(line: str) -> list[str] | None:
    """Split a config line like Redis's `sdssplitargs`; None when quotes are unbalanced."""
    out: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return out
        cur: list[str] = []
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    return None
                c = line[i]
                if c == "\\" and i + 3 < n and line[i + 1] == "x" and _ishex(line[i + 2 : i + 4]):
                    cur.append(chr(int(line[i + 2 : i + 4], 16)))
                    i += 3
                elif c == "\\" and i + 1 < n:
                    cur.append(
                        {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}.get(line[i + 1], line[i + 1])
                    )
                    i += 1
                elif c == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        return None
                    i += 1
                    break
                else:
                    cur.append(c)
            elif insq:
                if i >= n:
                    return None
                c = line[i]
                if c == "\\" and i + 1 < n and line[i + 1] == "'":
                    cur.append("'")
                    i += 1
                elif c == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        return None
                    i += 1
                    break
                else:
                    cur.append(c)
            else:
                if i >= n or line[i] in " \n\r\t\0":
                    break
                c = line[i]
                if c == '"':
                    inq = True
                elif c == "'":
                    insq = True
                else:
                    cur.append(c)
            i += 1
        out.append("".join(cur))


def _ishex(s: str) -> bool:
    return len(s) == 2 and all(c in "0123456789abcdefABCDEF" for c in s)


def atoi(s: str) -> int:
    """C `atoi`/`strtoll`: optional sign and leading digits, 0 when there are none."""
    s = s.lstrip()
    j = 1 if s[:1] in ("+", "-") else 0
    k = j
    while k < len(s) and s[k].isdigit():
        k += 1
    if k == j:
        return 0
    return int(s[:k])


def parse_int(s: str) -> int | None:
    """Redis's strict integer parsing (`string2ll`): the whole string, no spaces, no '+'."""
    if not s or len(s) > 20 or s != s.strip() or s.startswith("+"):
        return None
    if s != "0" and (s.startswith("0") or s.startswith("-0")):
        return None
    try:
        v = int(s)
    except ValueError:
        return None
    if not -(2**63) <= v < 2**63:
        return None
    return v


def yes_no(s: str) -> bool | None:
    """Redis's `yesnotoi`."""
    low = s.lower()
    return True if low == "yes" else False if low == "no" else None


def is_ip(host: str) -> bool:
    """True for an IPv4 or IPv6 literal."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_address(host: str, port: int, resolve_hostnames: bool) -> str | None:
    """Stock's createSentinelAddr checks; returns the error text or None."""
    if port < 0 or port > 65535:
        return "Invalid port number"
    if not resolve_hostnames and not is_ip(host):
        return "Can't resolve instance hostname."
    return None


def normalize_vip(text: str) -> ipaddress.IPv4Interface:
    """`a.b.c.d[/N]` as an interface address (a bare address is /32, as keepalived)."""
    return ipaddress.IPv4Interface(text if "/" in text else f"{text}/32")


def check_vip(address: str, iface: str) -> str | None:
    """Errors of `sentinel vip <master> <addr/prefix> <iface>`, or None."""
    try:
        vip = normalize_vip(address)
    except ValueError:
        return "Invalid VIP: an IPv4 address with an optional /prefix is required."
    net = vip.network
    edge = net.prefixlen < 31 and vip.ip in (net.network_address, net.broadcast_address)
    if vip.ip.is_unspecified or vip.ip.is_multicast or vip.ip.is_loopback or edge:
        return "Invalid VIP: it must be a host address."
    if not iface or len(iface) > 15 or any(c in iface for c in "/: \t") or iface in (".", ".."):
        return "Invalid VIP interface name."
    return None


def _opt_str(v: Any) -> str | None:
    return None if v is None or v == "" else str(v)


# ---------------------------------------------------------------------------------------------
# Parsing

_PASS1 = {
    "announce-ip",
    "announce-port",
    "deny-scripts-reconfig",
    "sentinel-user",
    "sentinel-pass",
    "current-epoch",
    "myid",
    "resolve-hostnames",
    "announce-hostnames",
}


def parse_config(text: str, timers: Timers | None = None) -> SentinelConfig:
    """Parse sentinel.conf text. Raises ConfigError with stock's message on the first bad line.

    `sentinel` lines are applied in stock's three passes (globals, then `monitor`, then the rest)
    whatever their order in the file. `timers` supplies the default down-after/failover-timeout.
    """
    t = timers or Timers()
    general: dict[str, Any] = {"bind": (), "other": []}
    pass1: list[tuple[int, str, list[str]]] = []
    pass2: list[tuple[int, str, list[str]]] = []
    pass3: list[tuple[int, str, list[str]]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        argv = split_args(line)
        if argv is None:
            raise ConfigError(lineno, "Unbalanced quotes in configuration line", raw)
        if not argv:
            continue
        directive = argv[0].lower()
        if directive == "sentinel":
            if len(argv) < 2:
                raise ConfigError(lineno, "Unrecognized sentinel configuration statement.", raw)
            sub = argv[1].lower()
            entry = (lineno, raw, [sub, *argv[2:]])
            if sub in _PASS1:
                pass1.append(entry)
            elif sub == "monitor":
                pass2.append(entry)
            else:
                pass3.append(entry)
        else:
            _general_directive(general, lineno, raw, directive, argv)

    st = _Builder(t)
    for entry in (*pass1, *pass2, *pass3):
        lineno, raw, args = entry
        st.lineno = lineno
        err = st.apply(args)
        if err is not None:
            raise ConfigError(lineno, err, raw)
    st.finish_vips()
    return SentinelConfig(
        port=general.get("port", DEFAULT_PORT),
        bind=general["bind"],
        requirepass=general.get("requirepass"),
        dir=general.get("dir"),
        announce_ip=st.announce_ip,
        announce_port=st.announce_port,
        resolve_hostnames=st.resolve_hostnames,
        announce_hostnames=st.announce_hostnames,
        sentinel_user=st.sentinel_user,
        sentinel_pass=st.sentinel_pass,
        deny_scripts_reconfig=st.deny_scripts_reconfig,
        masters=tuple(st.masters.values()),
        legacy=LegacyState(
            myid=st.myid,
            current_epoch=st.current_epoch,
            config_epochs=tuple(st.config_epochs.items()),
            leader_epochs=tuple(st.leader_epochs.items()),
            known_replicas=tuple(st.known_replicas),
            known_sentinels=tuple(st.known_sentinels),
        ),
        other=tuple(tuple(x) for x in general["other"]),
    )


def _general_directive(g: dict[str, Any], lineno: int, raw: str, directive: str, argv: list[str]) -> None:
    if directive == "port" and len(argv) == 2:
        port = parse_int(argv[1])
        if port is None or not 0 <= port <= 65535:
            raise ConfigError(lineno, "Invalid port", raw)
        g["port"] = port
    elif directive == "bind" and len(argv) >= 2:
        g["bind"] = tuple(argv[1:])
    elif directive == "requirepass" and len(argv) == 2:
        g["requirepass"] = argv[1] or None
    elif directive == "dir" and len(argv) == 2:
        g["dir"] = argv[1]
    else:
        g["other"].append(argv)


class _Builder:
    """Applies `sentinel ...` lines in order, mirroring sentinelHandleConfiguration."""

    def __init__(self, timers: Timers) -> None:
        self.timers = timers
        self.announce_ip: str | None = None
        self.announce_port = 0
        self.resolve_hostnames = False
        self.announce_hostnames = False
        self.sentinel_user: str | None = None
        self.sentinel_pass: str | None = None
        self.deny_scripts_reconfig = True
        self.myid: str | None = None
        self.current_epoch = 0
        self.masters: dict[str, MasterConfig] = {}
        self.config_epochs: dict[str, int] = {}
        self.leader_epochs: dict[str, int] = {}
        self.known_replicas: list[tuple[str, str, int]] = []
        self.known_sentinels: list[tuple[str, str, int, str]] = []
        self.lineno = 0
        self.vips: dict[str, tuple[int, dict[str, Any]]] = {}
        """Per master: the line of its first vip directive and the values seen so far."""

    def _vip(self, name: str, **kw: Any) -> str | None:
        if name not in self.masters:
            return "No such master with specified name."
        _, parts = self.vips.setdefault(name, (self.lineno, {}))
        parts.update(kw)
        return None

    def finish_vips(self) -> None:
        """Build each master's VipSettings; `vip` and `vip-local-server` are both required."""
        for name, (line, parts) in self.vips.items():
            if "address" not in parts:
                raise ConfigError(
                    line, f"sentinel vip-* for '{name}' needs 'sentinel vip {name} <addr/prefix> <iface>'"
                )
            if "local_host" not in parts:
                raise ConfigError(
                    line, f"sentinel vip for '{name}' needs 'sentinel vip-local-server {name} <ip> <port>'"
                )
            self.masters[name] = replace(self.masters[name], vip=VipSettings(**parts))

    def _upd(self, name: str, **kw: Any) -> str | None:
        m = self.masters.get(name)
        if m is None:
            return "No such master with specified name."
        self.masters[name] = replace(m, **kw)
        return None

    def apply(self, a: list[str]) -> str | None:
        d, n = a[0], len(a)
        if d == "monitor" and n == 5:
            quorum = atoi(a[4])
            if quorum <= 0:
                return "Quorum must be 1 or greater."
            if a[1] in self.masters:
                return "Duplicate master name."
            port = atoi(a[3])
            err = check_address(a[2], port, self.resolve_hostnames)
            if err:
                return err
            self.masters[a[1]] = MasterConfig(
                name=a[1],
                host=a[2],
                port=port,
                quorum=quorum,
                down_after=self.timers.default_down_after,
                failover_timeout=self.timers.default_failover_timeout,
            )
            return None
        if d in ("down-after-milliseconds", "failover-timeout") and n == 3:
            v = atoi(a[2])
            if a[1] not in self.masters:
                return "No such master with specified name."
            if v <= 0:
                return "negative or zero time parameter."
            key = "down_after" if d == "down-after-milliseconds" else "failover_timeout"
            return self._upd(a[1], **{key: v})
        if d == "parallel-syncs" and n == 3:
            return self._upd(a[1], parallel_syncs=atoi(a[2]))
        if d in ("notification-script", "client-reconfig-script", "auth-pass", "auth-user") and n == 3:
            return self._upd(a[1], **{d.replace("-", "_"): a[2] or None})
        if d == "master-reboot-down-after-period" and n == 3:
            v = atoi(a[2])
            if a[1] not in self.masters:
                return "No such master with specified name."
            if v < 0:
                return "negative time parameter."
            return self._upd(a[1], reboot_down_after=v)
        if d == "rename-command" and n == 4:
            m = self.masters.get(a[1])
            if m is None:
                return "No such master with specified name."
            renames = [p for p in m.renamed_commands if p[0].lower() != a[2].lower()]
            if a[2].lower() != a[3].lower():
                renames.append((a[2], a[3]))
            return self._upd(a[1], renamed_commands=tuple(renames))
        if d == "vip" and n == 4:
            err = check_vip(a[2], a[3])
            if err:
                return err
            return self._vip(a[1], address=str(normalize_vip(a[2])), iface=a[3])
        if d == "vip-local-server" and n == 4:
            local_port = parse_int(a[3])
            if local_port is None or not 0 < local_port <= 65535:
                return "Invalid port number"
            err = check_address(a[2], local_port, self.resolve_hostnames)
            if err:
                return err
            return self._vip(a[1], local_host=a[2], local_port=local_port)
        if d in ("vip-lease-ms", "vip-lease-margin-ms", "vip-fence-ms", "vip-sentinels") and n == 3:
            setting = parse_int(a[2])
            if setting is None or setting < 0:
                return "vip settings must be integers >= 0."
            key = {"vip-lease-ms": "lease", "vip-lease-margin-ms": "margin", "vip-fence-ms": "fence"}.get(
                d, "sentinels"
            )
            return self._vip(a[1], **{key: setting})
        if d == "current-epoch" and n == 2:
            self.current_epoch = max(self.current_epoch, atoi(a[1]))
            return None
        if d == "myid" and n == 2:
            if len(a[1]) != RUN_ID_SIZE:
                return "Malformed Sentinel id in myid option."
            self.myid = a[1]
            return None
        if d == "config-epoch" and n == 3:
            if a[1] not in self.masters:
                return "No such master with specified name."
            v = max(0, atoi(a[2]))
            self.config_epochs[a[1]] = v
            self.current_epoch = max(self.current_epoch, v)
            return None
        if d == "leader-epoch" and n == 3:
            if a[1] not in self.masters:
                return "No such master with specified name."
            self.leader_epochs[a[1]] = max(0, atoi(a[2]))
            return None
        if d in ("known-slave", "known-replica") and n == 4:
            if a[1] not in self.masters:
                return "No such master with specified name."
            port = atoi(a[3])
            err = check_address(a[2], port, self.resolve_hostnames)
            if err:
                return err
            self.known_replicas.append((a[1], a[2], port))
            return None
        if d == "known-sentinel" and n in (4, 5):
            if a[1] not in self.masters:
                return "No such master with specified name."
            if n == 5:  # the 3-argument form (no runid) is silently ignored, as stock
                port = atoi(a[3])
                err = check_address(a[2], port, self.resolve_hostnames)
                if err:
                    return err
                self.known_sentinels.append((a[1], a[2], port, a[4]))
            return None
        if d == "announce-ip" and n == 2:
            self.announce_ip = a[1] or None
            return None
        if d == "announce-port" and n == 2:
            self.announce_port = atoi(a[1])
            return None
        if d in ("deny-scripts-reconfig", "resolve-hostnames", "announce-hostnames") and n == 2:
            yn = yes_no(a[1])
            if yn is None:
                option = "options" if d == "deny-scripts-reconfig" else "option"
                return f"Please specify yes or no for the {d} {option}."
            setattr(self, d.replace("-", "_"), yn)
            return None
        if d in ("sentinel-user", "sentinel-pass") and n == 2:
            setattr(self, d.replace("-", "_"), a[1] or None)
            return None
        return "Unrecognized sentinel configuration statement."
