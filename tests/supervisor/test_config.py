"""The host config (TOML), the facts taken from the server/sentinel configs, the example configs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sentinel.core.config import parse_config
from sentinel.supervisor.config import HostConfigError, parse_host_config
from sentinel.supervisor.facts import sentinel_argv, sentinel_facts, server_argv, server_facts
from sentinel.supervisor.policy import AsConfigured, AsMaster, ReplicaOf, RestartSettings
from sentinel.supervisor.runner import main as supervise_main
from server.config import Config

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "systemd" / "examples"

MINIMAL = """
master_name = "mymaster"
address = "127.0.0.1"
[server]
config = "server.conf"
data_dir = "data"
port = 7001
[sentinel]
config = "sentinel.conf"
state_dir = "state"
port = 7002
"""


def test_minimal_config_and_defaults(tmp_path: Path) -> None:
    hc = parse_host_config(MINIMAL, tmp_path / "host.toml")
    assert hc.master_name == "mymaster"
    assert hc.server_addr == ("127.0.0.1", 7001)
    assert hc.sentinel_addr == ("127.0.0.1", 7002)
    assert hc.server.config == tmp_path.resolve() / "server.conf"  # relative to the host config
    assert hc.sentinel.state_dir == tmp_path.resolve() / "state"
    assert hc.server.command == (sys.executable, "-m", "server")
    assert hc.sentinel.command == (sys.executable, "-m", "sentinel")
    assert hc.restart == RestartSettings()
    assert hc.restart.master_restart == "unless-empty"
    assert hc.sentinel.peers == ()
    assert (hc.stop.sentinel, hc.stop.server) == (10.0, 60.0)
    assert hc.log_level == "notice"
    assert hc.status_file == tmp_path.resolve() / "state" / "supervisor.status.json"
    assert parse_host_config('status_file = ""\n' + MINIMAL, tmp_path / "h.toml").status_file is None
    assert parse_host_config(
        'status_file = "/run/x.json"\n' + MINIMAL, tmp_path / "h.toml"
    ).status_file == Path("/run/x.json")


def test_every_knob(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace(
            "port = 7002", 'port = 7002\npeers = ["10.0.0.2:26379", "[::1]:26380"]\nstop_timeout = 3'
        )
        + """
[restart]
initial_delay = 0.1
max_delay = 2
multiplier = 3
stable_after = 5
crash_loop_limit = 2
master_restart = "never"
hold_retry = 0.2
[health]
interval = 0.5
start_timeout = 9
hang_timeout = 4
probe_timeout = 0.3
[log]
level = "debug"
file = "sup.log"
"""
    )
    hc = parse_host_config(text, tmp_path / "h.toml")
    assert hc.sentinel.peers == (("10.0.0.2", 26379), ("::1", 26380))
    assert hc.restart == RestartSettings(0.1, 2, 3, 5, 2, "never", 0.2)
    assert (hc.health.interval, hc.health.start_timeout, hc.health.hang_timeout, hc.health.probe_timeout) == (
        0.5,
        9,
        4,
        0.3,
    )
    assert hc.stop.sentinel == 3
    assert hc.log_file == str(tmp_path.resolve() / "sup.log")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('master_name = "mymaster"\n', ""), "master_name is required"),
        (lambda t: t + "\n[restart]\ninital_delay = 1\n", "unknown key(s) inital_delay"),
        (lambda t: "typo = 1\n" + t, "unknown key(s) typo"),
        (lambda t: t.replace("port = 7001", "port = 70001"), "[server].port: expected a port number"),
        (lambda t: t.replace("port = 7001", 'port = "7001"'), "[server].port"),
        (lambda t: t + '\n[restart]\nmaster_restart = "sometimes"\n', "master_restart"),
        (
            lambda t: t + "\n[restart]\ninitial_delay = 5\nmax_delay = 1\n",
            "[restart].max_delay: must be at least 5",
        ),
        (lambda t: t + "\n[restart]\ncrash_loop_limit = 0\n", "crash_loop_limit"),
        (lambda t: t + "\n[health]\ninterval = 0\n", "[health].interval: must be greater than 0"),
        (
            lambda t: t.replace("port = 7002", 'port = 7002\npeers = ["nohost"]'),
            "[sentinel].peers[0]: expected host:port",
        ),
        (lambda t: t.replace("port = 7002", "port = 7002\ncommand = []"), "a command must name"),
        (lambda t: t + "\n[log]\nlevel = 'loud'\n", "[log].level"),
        (lambda t: t.replace("[sentinel]", "[sentinelx]"), "unknown key(s) sentinelx"),
        (lambda t: t + "\n[[oops]]", "unknown key(s) oops"),
        (lambda t: t + "\nbroken = ", "not valid TOML"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, edit: object, message: str) -> None:
    with pytest.raises(HostConfigError) as e:
        parse_host_config(edit(MINIMAL), tmp_path / "host.toml")  # type: ignore[operator]
    assert message in str(e.value)


def make_host(tmp_path: Path, server_conf: str = "", sentinel_extra: str = "") -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "state").mkdir(exist_ok=True)
    (tmp_path / "server.conf").write_text(server_conf)
    (tmp_path / "sentinel.conf").write_text(f"sentinel monitor mymaster 127.0.0.1 7001 2\n{sentinel_extra}")
    p = tmp_path / "host.toml"
    p.write_text(MINIMAL)
    return p


def test_facts_from_the_child_configs(tmp_path: Path) -> None:
    p = make_host(
        tmp_path,
        'appendonly yes\nappenddirname aofdir\ndbfilename x.rdb\nreplicaof 10.0.0.9 6390\nrename-command KEYS ""\n',
        "sentinel known-sentinel mymaster 10.0.0.5 26379 " + "a" * 40 + "\nrequirepass s3cret\n",
    )
    hc = parse_host_config(p.read_text(), p)
    sf = server_facts(hc)
    assert sf.replicaof == ("10.0.0.9", 6390)
    assert sf.files.dir == str(tmp_path.resolve() / "data")
    assert (sf.files.appendonly, sf.files.appenddirname, sf.files.dbfilename) == (True, "aofdir", "x.rdb")
    server_facts(hc)  # twice in one process: rename-command must not break the second parse
    se = sentinel_facts(hc)
    assert se.config_peers == (("10.0.0.5", 26379),)
    assert se.requirepass == "s3cret" and se.peer_pass == "s3cret"
    assert se.state_path == tmp_path.resolve() / "state" / "sentinel.conf.state.json"
    assert server_argv(hc, AsMaster())[-5:] == [
        "--dir",
        str(tmp_path.resolve() / "data"),
        "--replicaof",
        "no",
        "one",
    ]
    assert server_argv(hc, ReplicaOf("h", 1))[-3:] == ["--replicaof", "h", "1"]
    assert server_argv(hc, AsConfigured())[-2:] == ["--dir", str(tmp_path.resolve() / "data")]
    assert sentinel_argv(hc)[-5:] == [
        str(tmp_path.resolve() / "sentinel.conf"),
        "--port",
        "7002",
        "--dir",
        str(tmp_path.resolve() / "state"),
    ]


def test_bad_child_configs_are_refused(tmp_path: Path) -> None:
    p = make_host(tmp_path, "no-such-directive yes\n")
    hc = parse_host_config(p.read_text(), p)
    with pytest.raises(HostConfigError, match="server config"):
        server_facts(hc)
    (tmp_path / "sentinel.conf").write_text("sentinel monitor other 127.0.0.1 7001 2\n")
    with pytest.raises(HostConfigError, match="does not monitor master_name 'mymaster'"):
        sentinel_facts(hc)
    shutil.rmtree(tmp_path / "data")
    with pytest.raises(HostConfigError, match="data_dir"):
        server_facts(hc)


def test_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = make_host(tmp_path)
    assert supervise_main([str(p), "--check"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "-m sentinel" in out and "no file" in out
    (tmp_path / "server.conf").write_text("bogus\n")
    assert supervise_main([str(p), "--check"]) == 2
    assert "server config" in capsys.readouterr().err
    assert supervise_main([str(tmp_path / "missing.toml")]) == 2


def test_cli_supervise_check(tmp_path: Path) -> None:
    """`hasentinel supervise --check` through the installed console script."""
    exe = Path(sys.executable).parent / "hasentinel"
    if not exe.exists():
        pytest.skip("hasentinel console script not installed in this venv")
    p = make_host(tmp_path)
    r = subprocess.run([str(exe), "supervise", "--check", str(p)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "host config" in r.stdout
    r = subprocess.run(
        [str(exe), "supervise", str(tmp_path / "nope.toml")], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "cannot read the host config" in r.stderr


# --- the example configs for three hosts --------------------------------------------------------


@pytest.mark.parametrize("host", [1, 2, 3])
def test_examples_are_consistent(host: int, tmp_path: Path) -> None:
    d = EXAMPLES / f"host{host}"
    hc = parse_host_config((d / "host.toml").read_text(), Path("/etc/hasentinel/host.toml"))
    ip = f"10.0.0.{host}"
    assert hc.address == ip and hc.master_name == "mymaster"
    assert sorted(hc.sentinel.peers) == [(f"10.0.0.{i}", 26379) for i in (1, 2, 3) if i != host]
    assert hc.server.config == Path("/etc/hasentinel/server.conf")
    assert hc.server.data_dir == Path("/var/lib/hasentinel/data")
    assert hc.sentinel.state_dir == Path("/var/lib/hasentinel/sentinel")
    # the server config is valid for our server (dir supplied as the supervisor does)
    cfg = Config.from_argv([str(d / "server.conf"), "--port", str(hc.server.port), "--dir", str(tmp_path)])
    assert cfg.replicaof == (None if host == 1 else ("10.0.0.1", 6379))
    assert cfg.appendonly
    # the sentinel config: quorum 2 on the initial master
    sc = parse_config((d / "sentinel.conf").read_text())
    m = sc.master("mymaster")
    assert m is not None and (m.host, m.port, m.quorum) == ("10.0.0.1", 6379, 2)
    # the sentinels own the VIP, each for its own server, and know each other from the start
    assert m.vip is not None and (m.vip.address, m.vip.iface) == ("10.0.0.100/24", "eth0")
    assert (m.vip.local_host, m.vip.local_port, m.vip.sentinels) == (ip, 6379, 3)
    ids = {i: parse_config((EXAMPLES / f"host{i}" / "sentinel.conf").read_text()).legacy.myid for i in (1, 2, 3)}
    assert len(set(ids.values())) == 3 and all(x is not None and len(x) == 40 for x in ids.values())
    assert ids[host] == sc.legacy.myid
    assert sorted((h, p, r) for n, h, p, r in sc.legacy.known_sentinels if n == "mymaster") == [
        (f"10.0.0.{i}", 26379, ids[i]) for i in (1, 2, 3) if i != host
    ]


def test_examples_pass_check_with_paths_moved(tmp_path: Path) -> None:
    """The whole example set, paths rewritten into a temp root, passes `--check`."""
    for host in (1, 2, 3):
        root = tmp_path / f"host{host}"
        etc = root / "etc"
        (root / "var" / "data").mkdir(parents=True)
        (root / "var" / "sentinel").mkdir(parents=True)
        etc.mkdir()
        for name in ("host.toml", "server.conf", "sentinel.conf"):
            text = (EXAMPLES / f"host{host}" / name).read_text()
            text = text.replace("/etc/hasentinel/", f"{etc}/").replace(
                "/var/lib/hasentinel/", f"{root / 'var'}/"
            )
            (etc / name).write_text(text)
        assert supervise_main([str(etc / "host.toml"), "--check"]) == 0


def test_examples_bind_the_vip_with_the_shipped_sysctl() -> None:
    """Clients use the VIP: each server binds its address, the VIP and loopback, and the shipped
    sysctl.d snippet lets a host that does not hold the VIP bind it too."""
    for host in (1, 2, 3):
        cfg = Config.from_argv([str(EXAMPLES / f"host{host}" / "server.conf"), "--dir", "/tmp"])
        assert cfg.bind == [f"10.0.0.{host}", "10.0.0.100", "127.0.0.1"]
    assert "vip = 10.0.0.100/24" in (EXAMPLES / "vip.conf").read_text()
    snippet = (REPO / "systemd" / "sysctl.d" / "hasentinel.conf").read_text()
    assert "net.ipv4.ip_nonlocal_bind = 1" in snippet.splitlines()


def test_example_vip_conf_loads() -> None:
    from sentinel.vip.config import load_vip_config

    env = {"HASENTINEL_VIP_CONF": str(EXAMPLES / "vip.conf")}
    cfg = load_vip_config(env)
    assert str(cfg.vip).startswith("10.0.0.100")


def test_units_name_the_documented_paths() -> None:
    unit = (REPO / "systemd" / "hasentinel.service").read_text()
    assert "ExecStart=/opt/hasentinel/.venv/bin/hasentinel supervise /etc/hasentinel/host.toml" in unit
    for line in (
        "Type=notify",
        "KillMode=mixed",
        "ReadWritePaths=/var/lib/hasentinel",
        "NoNewPrivileges=yes",
    ):
        assert line in unit
    assert os.path.exists(REPO / "systemd" / "hasentinel@.service")
