"""Every timer of the sentinel core, in one place (milliseconds).

The stock values come from `sentinel.c` (see docs/sentinel-core.md for the table and the bound of
every wait). All of them can be changed at runtime with `SENTINEL DEBUG <name> <value>`; the names
are the stock ones (upper case in the `SENTINEL DEBUG` listing) followed by ours.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

# Stock constants that are not tunable through SENTINEL DEBUG.
INFO_FAST_PERIOD = 1_000
"""INFO cadence to a replica whose master is SDOWN/ODOWN or failing over, whose master link is
down, or which claims to be a master (stock: ODOWN, failover or link down only)."""
MAX_PENDING_COMMANDS = 100
"""PING/INFO/PUBLISH are skipped while a link has this many commands without a reply."""
DEFAULT_PARALLEL_SYNCS = 1
DEFAULT_DOWN_AFTER = 30_000
DEFAULT_FAILOVER_TIMEOUT = 180_000
DEFAULT_REPLICA_PRIORITY = 100
SCRIPT_MAX_QUEUE = 256
SCRIPT_MAX_RUNNING = 16
SCRIPT_MAX_RETRY = 10
HELLO_CHANNEL = "__sentinel__:hello"


@dataclass(slots=True)
class Timers:
    """Tunable periods and timeouts. Field order is the `SENTINEL DEBUG` listing order."""

    info_period: int = 10_000
    ping_period: int = 1_000
    ask_period: int = 1_000
    publish_period: int = 2_000
    default_down_after: int = DEFAULT_DOWN_AFTER
    default_failover_timeout: int = DEFAULT_FAILOVER_TIMEOUT
    tilt_trigger: int = 2_000
    tilt_period: int = 30_000
    slave_reconf_timeout: int = 10_000
    min_link_reconnect_period: int = 15_000
    election_timeout: int = 10_000
    script_max_runtime: int = 60_000
    script_retry_delay: int = 30_000
    # --- ours (not in stock) ---
    promotion_poll_period: int = 50
    """INFO cadence to the replica being promoted while in wait_promotion (stock: 1 000)."""
    max_desync: int = 1_000
    """Random 0..max_desync-1 added to failover start times (stock SENTINEL_MAX_DESYNC)."""
    replica_info_wait: int = 1_000
    """select_slave waits up to this long for an INFO from every reachable replica sent after
    the election, so the choice (and the offset rule) uses offsets read after the master died."""
    split_vote_retry: int = 100
    """Base delay before retrying after a provable split vote, plus 0..split_vote_jitter-1; both
    double with every consecutive split vote (election.py `after_not_elected`)."""
    tick_interval: int = 100
    candidacy_delay: int = 150
    """Random 0..candidacy_delay-1 ms between ODOWN and our candidacy (`+try-failover`), during
    which a peer that asks first gets our vote (1: no delay)."""
    split_vote_jitter: int = 300
    """Random part of the split-vote retry (see split_vote_retry)."""
    """The tick cadence the core asks for (`SentinelCore.next_tick_in`); stock runs at 10-19 Hz."""

    @property
    def ask_validity(self) -> int:
        """A peer's is-master-down reply (down flag and vote) expires after 5 ask periods."""
        return self.ask_period * 5

    @property
    def convert_wait(self) -> int:
        """Wait before converting a replica that claims to be master (4 publish periods)."""
        return self.publish_period * 4

    @property
    def info_validity(self) -> int:
        """Freshness required of a replica's last ping reply / INFO while the master is SDOWN."""
        return self.ping_period * 5


DEBUG_NAMES: tuple[str, ...] = tuple(f.name.replace("_", "-") for f in fields(Timers))
"""`SENTINEL DEBUG` parameter names, lower case, in listing order."""


def debug_items(timers: Timers) -> list[tuple[str, int]]:
    """The `SENTINEL DEBUG` (no argument) map: upper-case names in the fixed order, int values."""
    return [(name.upper(), int(getattr(timers, name.replace("-", "_")))) for name in DEBUG_NAMES]


def set_debug(timers: Timers, name: str, value: int) -> None:
    """Set one timer by its `SENTINEL DEBUG` name (case-insensitive). Raises KeyError/ValueError."""
    key = name.lower()
    if key not in DEBUG_NAMES:
        raise KeyError(name)
    if value <= 0:
        raise ValueError(value)
    setattr(timers, key.replace("-", "_"), value)
