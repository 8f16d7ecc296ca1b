"""VIP settings, from the environment or a small `key = value` file.

The file is named by `HASENTINEL_VIP_CONF`; each `HASENTINEL_VIP*` variable overrides the file's
key, so a unit file or a stock Sentinel's environment can set everything without a file:

    # /etc/hasentinel/vip.conf
    vip = 10.0.0.100/24          # HASENTINEL_VIP (no /N means /32)
    interface = eth0             # HASENTINEL_VIP_IFACE
    garp_burst_count = 5         # HASENTINEL_VIP_GARP_BURST_COUNT
    garp_burst_interval = 200ms  # HASENTINEL_VIP_GARP_BURST_INTERVAL (seconds, or Nms)
    garp_repeat_delay = 5s       # HASENTINEL_VIP_GARP_REPEAT_DELAY
    garp_repeat_count = 5        # HASENTINEL_VIP_GARP_REPEAT_COUNT
    garp_refresh_interval = 30s  # HASENTINEL_VIP_GARP_REFRESH_INTERVAL (0: off)
    garp_refresh_count = 1       # HASENTINEL_VIP_GARP_REFRESH_COUNT
    lock_file = /run/hasentinel-vip.lock   # HASENTINEL_VIP_LOCK
    lock_wait = 30s              # HASENTINEL_VIP_LOCK_WAIT (then vip-reconfig exits 1: retry)

Blank lines and `#` comments are ignored; an unknown or repeated key is an error (a typo must
not silently fall back to a default).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import AddressValueError, IPv4Address, IPv4Interface, NetmaskValueError
from pathlib import Path

CONF_ENV = "HASENTINEL_VIP_CONF"
DEFAULT_LOCK = "/run/hasentinel-vip.lock"
DEFAULT_LOCK_WAIT = 30.0

KEYS: dict[str, str] = {
    "vip": "HASENTINEL_VIP",
    "interface": "HASENTINEL_VIP_IFACE",
    "garp_burst_count": "HASENTINEL_VIP_GARP_BURST_COUNT",
    "garp_burst_interval": "HASENTINEL_VIP_GARP_BURST_INTERVAL",
    "garp_repeat_delay": "HASENTINEL_VIP_GARP_REPEAT_DELAY",
    "garp_repeat_count": "HASENTINEL_VIP_GARP_REPEAT_COUNT",
    "garp_refresh_interval": "HASENTINEL_VIP_GARP_REFRESH_INTERVAL",
    "garp_refresh_count": "HASENTINEL_VIP_GARP_REFRESH_COUNT",
    "lock_file": "HASENTINEL_VIP_LOCK",
    "lock_wait": "HASENTINEL_VIP_LOCK_WAIT",
}
"""File key -> environment variable."""


@dataclass(frozen=True, slots=True)
class GarpTiming:
    """Counts and intervals of gratuitous ARPs (seconds). A count of 0 turns that part off."""

    burst_count: int = 5
    burst_interval: float = 0.2
    repeat_delay: float = 5.0
    """From the start of the first burst to the start of the repeat burst."""
    repeat_count: int = 5
    refresh_interval: float = 30.0
    """Between refreshes while held; 0 disables refreshing."""
    refresh_count: int = 1

    def __post_init__(self) -> None:
        for name in ("burst_count", "repeat_count", "refresh_count"):
            v = getattr(self, name)
            if not 0 <= v <= 100:
                raise ValueError(f"{name} must be between 0 and 100, got {v}")
        for name in ("burst_interval", "repeat_delay", "refresh_interval"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 <= v <= 86400):
                raise ValueError(f"{name} must be between 0 and 86400 seconds, got {v}")


class VipConfigError(ValueError):
    """The VIP settings are missing or invalid (a final error: retrying will not fix it)."""


@dataclass(frozen=True, slots=True)
class VipConfig:
    """Which address, on which interface, announced how."""

    vip: IPv4Interface
    iface: str
    garp: GarpTiming = field(default_factory=GarpTiming)
    lock_file: str = DEFAULT_LOCK
    lock_wait: float = DEFAULT_LOCK_WAIT
    """How long vip-reconfig waits for another invocation on this host before asking for a retry."""

    @property
    def address(self) -> IPv4Address:
        """The VIP without its prefix length."""
        return self.vip.ip


def parse_vip(text: str) -> IPv4Interface:
    """'10.0.0.100/24' -> IPv4Interface; a bare address means /32 (as keepalived)."""
    text = text.strip()
    try:
        vip = IPv4Interface(text if "/" in text else f"{text}/32")
    except (AddressValueError, NetmaskValueError, ValueError) as e:
        raise VipConfigError(f"VIP {text!r} is not an IPv4 address with an optional /prefix: {e}") from e
    edge = vip.network.prefixlen < 31 and vip.ip in (
        vip.network.network_address,
        vip.network.broadcast_address,
    )
    if vip.ip.is_unspecified or vip.ip.is_multicast or vip.ip.is_loopback or edge:
        raise VipConfigError(f"VIP {text!r} cannot be a host address")
    return vip


def parse_iface(text: str) -> str:
    """A Linux interface name: 1-15 characters, no '/', ':' or whitespace."""
    name = text.strip()
    if not name or len(name) > 15 or any(c in name for c in "/: \t") or name in (".", ".."):
        raise VipConfigError(f"{text!r} is not a valid interface name")
    return name


def parse_seconds(key: str, text: str) -> float:
    """'0.2', '200ms' or '5s' -> seconds."""
    t = text.strip().lower()
    scale = 1.0
    if t.endswith("ms"):
        t, scale = t[:-2], 0.001
    elif t.endswith("s"):
        t = t[:-1]
    try:
        return float(t) * scale
    except ValueError as e:
        raise VipConfigError(f"{key}: {text!r} is not a duration (seconds, or Nms)") from e


def parse_count(key: str, text: str) -> int:
    """A non-negative integer."""
    try:
        n = int(text.strip())
    except ValueError as e:
        raise VipConfigError(f"{key}: {text!r} is not an integer") from e
    if n < 0:
        raise VipConfigError(f"{key}: must not be negative")
    return n


def read_conf_file(path: str | Path) -> dict[str, str]:
    """The file's `key = value` pairs (validated keys, raw values)."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise VipConfigError(f"cannot read VIP config file {path}: {e.strerror or e}") from e
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key = key.strip().lower()
        if not sep:
            raise VipConfigError(f"{path}:{n}: expected 'key = value', got {raw.strip()!r}")
        if key not in KEYS:
            raise VipConfigError(f"{path}:{n}: unknown key {key!r} (known: {', '.join(KEYS)})")
        if key in out:
            raise VipConfigError(f"{path}:{n}: {key!r} given twice")
        out[key] = value.strip()
    return out


def vip_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether any VIP setting is present (the sentinel runs without a VIP otherwise)."""
    env = os.environ if env is None else env
    return bool(env.get(CONF_ENV) or env.get(KEYS["vip"]))


def load_vip_config(env: Mapping[str, str] | None = None) -> VipConfig:
    """Settings from `HASENTINEL_VIP_CONF`'s file, overridden by `HASENTINEL_VIP*` variables."""
    env = os.environ if env is None else env
    values: dict[str, str] = {}
    conf = env.get(CONF_ENV, "").strip()
    if conf:
        values = read_conf_file(conf)
    for key, var in KEYS.items():
        if env.get(var, "").strip():
            values[key] = env[var].strip()
    if "vip" not in values:
        raise VipConfigError(f"no VIP configured: set {KEYS['vip']} (e.g. 10.0.0.100/24) or {CONF_ENV}")
    if "interface" not in values:
        raise VipConfigError(
            f"no VIP interface configured: set {KEYS['interface']} (e.g. eth0) or {CONF_ENV}"
        )
    d = GarpTiming()
    try:
        timing = GarpTiming(
            burst_count=parse_count("garp_burst_count", values.get("garp_burst_count", str(d.burst_count))),
            burst_interval=parse_seconds(
                "garp_burst_interval", values.get("garp_burst_interval", str(d.burst_interval))
            ),
            repeat_delay=parse_seconds(
                "garp_repeat_delay", values.get("garp_repeat_delay", str(d.repeat_delay))
            ),
            repeat_count=parse_count(
                "garp_repeat_count", values.get("garp_repeat_count", str(d.repeat_count))
            ),
            refresh_interval=parse_seconds(
                "garp_refresh_interval", values.get("garp_refresh_interval", str(d.refresh_interval))
            ),
            refresh_count=parse_count(
                "garp_refresh_count", values.get("garp_refresh_count", str(d.refresh_count))
            ),
        )
    except ValueError as e:
        if isinstance(e, VipConfigError):
            raise
        raise VipConfigError(str(e)) from e
    return VipConfig(
        vip=parse_vip(values["vip"]),
        iface=parse_iface(values["interface"]),
        garp=timing,
        lock_file=values.get("lock_file", DEFAULT_LOCK),
        lock_wait=min(
            3600.0, max(0.0, parse_seconds("lock_wait", values.get("lock_wait", str(DEFAULT_LOCK_WAIT))))
        ),
    )
