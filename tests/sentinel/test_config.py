"""sentinel.conf parsing: directives, stock state lines, load order, stock error texts."""

from __future__ import annotations

import pytest

from sentinel.core.config import ConfigError, MasterConfig, atoi, parse_config, parse_int, split_args

STOCK = """
# a sentinel.conf as stock 7.0 rewrites it
port 26380
bind 127.0.0.1 ::1
dir "/var/lib/redis sentinel"
daemonize no
logfile ""
requirepass "s3cr et"
sentinel myid 0123456789abcdef0123456789abcdef01234567
sentinel deny-scripts-reconfig yes
sentinel resolve-hostnames no
sentinel announce-hostnames no
sentinel announce-ip "192.168.1.10"
sentinel announce-port 26390
sentinel sentinel-user sentuser
sentinel sentinel-pass sentpass
sentinel monitor mymaster 10.0.0.1 6379 2
sentinel down-after-milliseconds mymaster 5000
sentinel failover-timeout mymaster 60000
sentinel parallel-syncs mymaster 2
sentinel auth-pass mymaster "pa ss"
sentinel auth-user mymaster admin
sentinel notification-script mymaster /usr/local/bin/notify.sh
sentinel client-reconfig-script mymaster /usr/local/bin/reconfig.sh
sentinel master-reboot-down-after-period mymaster 7000
sentinel rename-command mymaster CONFIG GUESSME
sentinel config-epoch mymaster 7
sentinel leader-epoch mymaster 6
sentinel known-replica mymaster 10.0.0.2 6379
sentinel known-slave mymaster 10.0.0.3 6379
sentinel known-sentinel mymaster 10.0.1.2 26379 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
sentinel known-sentinel mymaster 10.0.1.9 26379
sentinel current-epoch 5
sentinel monitor other 10.0.0.9 6400 1
"""


def test_stock_file_loads() -> None:
    cfg = parse_config(STOCK)
    assert cfg.port == 26380
    assert cfg.bind == ("127.0.0.1", "::1")
    assert cfg.dir == "/var/lib/redis sentinel"
    assert cfg.requirepass == "s3cr et"
    assert cfg.announce_ip == "192.168.1.10"
    assert cfg.announce_port == 26390
    assert (cfg.sentinel_user, cfg.sentinel_pass) == ("sentuser", "sentpass")
    assert cfg.deny_scripts_reconfig is True
    assert [m.name for m in cfg.masters] == ["mymaster", "other"]
    m = cfg.master("mymaster")
    assert m == MasterConfig(
        name="mymaster",
        host="10.0.0.1",
        port=6379,
        quorum=2,
        down_after=5000,
        failover_timeout=60000,
        parallel_syncs=2,
        auth_pass="pa ss",
        auth_user="admin",
        notification_script="/usr/local/bin/notify.sh",
        client_reconfig_script="/usr/local/bin/reconfig.sh",
        reboot_down_after=7000,
        renamed_commands=(("CONFIG", "GUESSME"),),
    )
    other = cfg.master("other")
    assert other is not None and (other.down_after, other.failover_timeout, other.parallel_syncs) == (
        30000,
        180000,
        1,
    )
    legacy = cfg.legacy
    assert legacy.myid == "0123456789abcdef0123456789abcdef01234567"
    assert legacy.current_epoch == 7  # raised by config-epoch, as stock
    assert legacy.config_epochs == (("mymaster", 7),)
    assert legacy.leader_epochs == (("mymaster", 6),)
    assert legacy.known_replicas == (("mymaster", "10.0.0.2", 6379), ("mymaster", "10.0.0.3", 6379))
    # the 3-argument known-sentinel form is silently ignored
    assert legacy.known_sentinels == (("mymaster", "10.0.1.2", 26379, "b" * 40),)
    assert ("daemonize", "no") in cfg.other and ("logfile", "") in cfg.other
    assert cfg.script_paths() == ["/usr/local/bin/notify.sh", "/usr/local/bin/reconfig.sh"]


def test_per_master_lines_may_precede_monitor() -> None:
    cfg = parse_config("sentinel down-after-milliseconds m 1234\nsentinel monitor m 10.0.0.1 6379 1\n")
    assert cfg.masters[0].down_after == 1234


def test_resolve_hostnames_applies_before_monitor_lines() -> None:
    cfg = parse_config("sentinel monitor m redis.example 6379 1\nsentinel resolve-hostnames yes\n")
    assert cfg.masters[0].host == "redis.example" and cfg.resolve_hostnames


def test_rename_command_to_itself_undoes() -> None:
    cfg = parse_config(
        "sentinel monitor m 10.0.0.1 6379 1\nsentinel rename-command m PING PONG\nsentinel rename-command m ping ping\n"
    )
    assert cfg.masters[0].renamed_commands == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sentinel monitor m 10.0.0.1 6379 0", "Quorum must be 1 or greater."),
        ("sentinel monitor m 10.0.0.1 6379 x", "Quorum must be 1 or greater."),
        ("sentinel monitor m 10.0.0.1 6379 1\nsentinel monitor m 10.0.0.2 6379 1", "Duplicate master name."),
        ("sentinel monitor m 10.0.0.1 70000 1", "Invalid port number"),
        ("sentinel monitor m redis.example 6379 1", "Can't resolve instance hostname."),
        ("sentinel down-after-milliseconds nope 10", "No such master with specified name."),
        (
            "sentinel monitor m 10.0.0.1 6379 1\nsentinel down-after-milliseconds m 0",
            "negative or zero time parameter.",
        ),
        (
            "sentinel monitor m 10.0.0.1 6379 1\nsentinel failover-timeout m -5",
            "negative or zero time parameter.",
        ),
        (
            "sentinel monitor m 10.0.0.1 6379 1\nsentinel master-reboot-down-after-period m -1",
            "negative time parameter.",
        ),
        ("sentinel myid abc", "Malformed Sentinel id in myid option."),
        ("sentinel resolve-hostnames maybe", "Please specify yes or no for the resolve-hostnames option."),
        (
            "sentinel deny-scripts-reconfig 1",
            "Please specify yes or no for the deny-scripts-reconfig options.",
        ),
        ("sentinel frobnicate m 1", "Unrecognized sentinel configuration statement."),
        ("sentinel monitor m 10.0.0.1 6379", "Unrecognized sentinel configuration statement."),
        ("sentinel", "Unrecognized sentinel configuration statement."),
        ('sentinel announce-ip "unterminated', "Unbalanced quotes in configuration line"),
        ("port 99999", "Invalid port"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_config(text)
    assert ei.value.message == message
    assert ei.value.line >= 1


def test_error_line_number() -> None:
    with pytest.raises(ConfigError) as ei:
        parse_config("# comment\n\nsentinel monitor m 10.0.0.1 6379 1\nsentinel parallel-syncs x 1\n")
    assert ei.value.line == 4


@pytest.mark.parametrize(
    ("line", "args"),
    [
        ("a b  c", ["a", "b", "c"]),
        ('a "b c" d', ["a", "b c", "d"]),
        ("a 'b c'", ["a", "b c"]),
        (r'a "x\n\x41\"y"', ["a", 'x\nA"y']),
        (r"a 'it\'s'", ["a", "it's"]),
        ('a ""', ["a", ""]),
        ("", []),
        ('a "b"c', None),
        ("a 'b", None),
    ],
)
def test_split_args(line: str, args: list[str] | None) -> None:
    assert split_args(line) == args


@pytest.mark.parametrize(("s", "v"), [("12", 12), ("-3x", -3), ("x", 0), (" 7", 7), ("+4", 4), ("", 0)])
def test_atoi(s: str, v: int) -> None:
    assert atoi(s) == v


@pytest.mark.parametrize(
    ("s", "v"),
    [("12", 12), ("-3", -3), ("0", 0), ("012", None), ("+1", None), (" 1", None), ("1.5", None), ("", None)],
)
def test_parse_int_is_strict(s: str, v: int | None) -> None:
    assert parse_int(s) == v


def test_master_config_fields_roundtrip() -> None:
    m = parse_config(STOCK).masters[0]
    assert MasterConfig.from_fields(m.name, m.to_fields()) == m
