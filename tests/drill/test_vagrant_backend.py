"""sentinel/drill/vagrant.py: the Vagrant backend's commands, with a fake runner (no VMs here).

What is checked is the command construction: the ssh wrapping and quoting, the configs it writes
(loaded with the project's real parsers), the order of `up`, the kill patterns (also run for
real, locally, against a process of this test), cuts, netem, power off/on. Whether the commands
work on the VMs can only be seen with `hasentinel drill --lab vagrant` on a machine with Vagrant.
"""

from __future__ import annotations

import base64
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sentinel.core.config import parse_config
from sentinel.drill.backend import CLIENT, LabBackend, LabProfile, Netem
from sentinel.drill.cli import make_backend
from sentinel.drill.vagrant import _KILL, _PATTERNS, VagrantLab, VagrantLabError
from sentinel.supervisor.config import parse_host_config
from server.config import Config

NET = "192.168.56"


@dataclass
class FakeRunner:
    """Records (argv, cwd); answers like the VMs would."""

    calls: list[tuple[list[str], str | None]] = field(default_factory=list)
    healthy: bool = True

    def __call__(self, argv: list[str], timeout: float, cwd: str | None) -> subprocess.CompletedProcess[str]:
        self.calls.append((argv, cwd))
        out = ""
        if argv[:2] == ["vagrant", "ssh-config"]:
            out = "".join(
                f"Host {n}\n  HostName 192.168.121.{i}\n  User vagrant\n" for i, n in enumerate(argv[2:])
            )
        elif argv[0] == "ssh" and "-O" not in argv:
            remote = self.remote(argv)
            if remote[:6] == ["ip", "-o", "-4", "addr", "show", "to"]:
                out = f"3: eth1    inet {remote[6].split('/')[0]}/24 brd {NET}.255 scope global eth1\n"
            elif remote[:1] == ["redis-cli"] and "SET" in remote:
                out = "OK\n" if self.healthy else ""
            elif remote[:1] == ["redis-cli"] and "MASTER" in remote:
                out = "name\nmymaster\nnum-slaves\n2\nnum-other-sentinels\n2\n"
            elif remote[:2] == ["sh", "-c"] and remote[2] == _KILL:
                out = "4242 4243\n"
        return subprocess.CompletedProcess(argv, 0, out, "")

    @staticmethod
    def remote(argv: list[str]) -> list[str]:
        """The argv run on the VM (after `sudo -n --`)."""
        words = shlex.split(argv[-1])
        assert words[:3] == ["sudo", "-n", "--"], words
        return words[3:]

    def on(self, node: str) -> list[list[str]]:
        return [self.remote(a) for a, _ in self.calls if a[0] == "ssh" and "-O" not in a and a[-2] == node]


def _lab(tmp_path: Path, **kw: object) -> tuple[VagrantLab, FakeRunner]:
    fake = FakeRunner()
    lab = VagrantLab(vagrant_dir=tmp_path / "vagrant", net=NET, runner=fake, ctl_dir=tmp_path / "ctl", **kw)  # type: ignore[arg-type]
    return lab, fake


def test_registered_and_a_lab_backend(tmp_path: Path) -> None:
    lab, _ = _lab(tmp_path)
    assert isinstance(lab, LabBackend)
    assert isinstance(make_backend("vagrant"), VagrantLab)  # `hasentinel drill --lab vagrant`
    assert (lab.vip, lab.address("host1"), lab.address("host3"), lab.client_address()) == (
        f"{NET}.100",
        f"{NET}.11",
        f"{NET}.13",
        f"{NET}.10",
    )
    assert lab.shared_clock is False and lab.python == "/opt/hasentinel/.venv/bin/python"


def test_ssh_wrapping_and_quoting(tmp_path: Path) -> None:
    lab, fake = _lab(tmp_path)
    argv = ["redis-cli", "-h", "x y", "SET", "k", "it's $HOME; rm -rf /"]
    lab.run("client", argv)
    lab.run("host2", ["true"])
    ssh_config = [c for c in fake.calls if c[0][0] == "vagrant"]
    assert ssh_config == [
        (["vagrant", "ssh-config", "host1", "host2", "host3", "client"], str(tmp_path / "vagrant"))
    ]
    assert (tmp_path / "ctl" / "ssh_config").read_text().startswith("Host host1\n")
    ssh = fake.calls[1][0]
    assert ssh[:3] == ["ssh", "-F", str(tmp_path / "ctl" / "ssh_config")]
    assert "BatchMode=yes" in ssh and f"ControlPath={tmp_path / 'ctl'}/%C" in ssh
    assert ssh[-2] == "client"
    assert fake.remote(ssh) == argv  # the remote shell gets exactly these words back
    with pytest.raises(ValueError):
        lab.run("host4", ["true"])


def test_configs_are_the_examples_with_the_drill_profile(tmp_path: Path) -> None:
    lab, _ = _lab(tmp_path, profile=LabProfile(down_after_ms=1500, failover_timeout_ms=6000), iface="eth1")
    c = lab.configs("host2")
    assert sorted(c) == ["host.toml", "sentinel.conf", "server.conf", "vip.conf"]
    assert not [n for n, text in c.items() if "10.0.0." in text]
    hc = parse_host_config(c["host.toml"], Path("/etc/hasentinel/drill/host.toml"))
    assert hc.address == f"{NET}.12"
    assert sorted(hc.sentinel.peers) == [(f"{NET}.11", 26379), (f"{NET}.13", 26379)]
    assert hc.server.config == Path("/etc/hasentinel/drill/server.conf")
    assert hc.server.data_dir == Path("/var/lib/hasentinel/drill/data")
    assert hc.sentinel.state_dir == Path("/var/lib/hasentinel/drill/sentinel")
    assert hc.restart.master_restart == "never"
    server_conf = tmp_path / "server.conf"
    server_conf.write_text(c["server.conf"])
    cfg = Config.from_argv([str(server_conf), "--dir", str(tmp_path)])
    assert cfg.bind == [f"{NET}.12", f"{NET}.100", "127.0.0.1"]
    assert cfg.replicaof == (f"{NET}.11", 6379)
    sc = parse_config(c["sentinel.conf"])
    m = sc.master("mymaster")
    assert m is not None and (m.host, m.port, m.quorum) == (f"{NET}.11", 6379, 2)
    assert "client-reconfig-script" not in c["sentinel.conf"]
    assert "sentinel down-after-milliseconds mymaster 1500\n" in c["sentinel.conf"]
    assert "sentinel failover-timeout mymaster 6000\n" in c["sentinel.conf"]
    assert f"sentinel vip mymaster {NET}.100/24 eth1\n" in c["sentinel.conf"]
    assert f"sentinel vip-local-server mymaster {NET}.12 6379\n" in c["sentinel.conf"]
    assert len(re.findall(r"^sentinel known-sentinel mymaster ", c["sentinel.conf"], re.M)) == 2
    assert f"vip = {NET}.100/24" in c["vip.conf"] and "interface = eth1" in c["vip.conf"]


def test_up_builds_a_fresh_cluster_in_order(tmp_path: Path) -> None:
    lab, fake = _lab(tmp_path)
    lab.up(timeout=5)
    assert lab.iface == "eth1"
    for h in lab.hosts:
        cmds = fake.on(h)
        stop = cmds.index(["systemctl", "disable", "--now", "hasentinel.service", "hasentinel@drill.service"])
        wipe = cmds.index(["rm", "-rf", "/var/lib/hasentinel/drill"])
        writes = {
            c[5]: c[4] for c in cmds if c[:2] == ["sh", "-c"] and c[5].startswith("/etc/hasentinel/drill/")
        }
        assert writes == {f"/etc/hasentinel/drill/{n}": text for n, text in lab.configs(h).items()}
        start = cmds.index(["systemctl", "start", "hasentinel@drill.service"])
        assert stop < wipe < start and ["tc", "qdisc", "add", "dev", "eth1", "ingress"] in cmds
        vip_add = ["ip", "addr", "add", f"{NET}.100/24", "dev", "eth1"]
        assert (vip_add in cmds) == (h == "host1")
        seeded = [
            c for c in cmds if c[:2] == ["sh", "-c"] and c[5] == "/var/lib/hasentinel/drill/data/dump.rdb"
        ]
        assert len(seeded) == (h == "host1")
        if seeded:
            assert base64.b64decode(seeded[0][4]).startswith(b"REDIS")
    starts = [
        a[-2]
        for a, _ in fake.calls
        if a[0] == "ssh"
        and "hasentinel@drill.service" in a[-1]
        and "start" in a[-1]
        and "disable" not in a[-1]
    ]
    assert starts == ["host1", "host2", "host3"]
    # healthy: a write through the VIP from the client, every sentinel's view
    assert ["redis-cli", "-h", f"{NET}.100", "-p", "6379", "SET", "drill:probe", "1"] in fake.on(CLIENT)


def test_up_fails_clearly_when_not_healthy(tmp_path: Path) -> None:
    lab, fake = _lab(tmp_path)
    fake.healthy = False
    t0 = time.monotonic()
    with pytest.raises(VagrantLabError, match="did not become healthy within 1 s: write through the VIP"):
        lab.up(timeout=1)
    assert time.monotonic() - t0 < 10


def test_kill_command_and_pids(tmp_path: Path) -> None:
    lab, fake = _lab(tmp_path, iface="eth1")
    assert lab.kill("host2", "server", 9) == [4242, 4243]
    remote = fake.on("host2")[-1]
    assert remote == ["sh", "-c", _KILL, "sh", "bin/hasentinel-serve[r] /etc/hasentinel/drill/", "9"]


@pytest.mark.parametrize("service", ["server", "sentinel", "supervisor"])
def test_kill_patterns_match_the_services_only(service: str) -> None:
    pattern = _PATTERNS[service].format(instance="drill")
    cmdlines = {
        "server": "/opt/hasentinel/.venv/bin/python3 /opt/hasentinel/.venv/bin/hasentinel-server /etc/hasentinel/drill/server.conf --port 6379 --dir /var/lib/hasentinel/drill/data",
        "sentinel": "/opt/hasentinel/.venv/bin/python3 /opt/hasentinel/.venv/bin/hasentinel sentinel /etc/hasentinel/drill/sentinel.conf --port 26379",
        "supervisor": "/opt/hasentinel/.venv/bin/python3 /opt/hasentinel/.venv/bin/hasentinel supervise /etc/hasentinel/drill/host.toml",
    }
    for name, line in cmdlines.items():
        assert bool(re.search(pattern, line)) == (name == service), (pattern, line)
    assert not re.search(pattern, f"sudo -n -- sh -c {_KILL} sh {pattern} 9")  # not pgrep's own shell
    assert not re.search(pattern, cmdlines[service].replace("/drill/", "/other/"))  # another instance


def test_kill_script_for_real_here(tmp_path: Path) -> None:
    """The remote script, run locally: it signals exactly the matching process (one of this test,
    in a unique instance directory), not the shell that runs pgrep."""
    instance = f"pytest-{time.monotonic_ns()}"
    victim = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(60)",
            f"bin/hasentinel-server /etc/hasentinel/{instance}/x",
        ]
    )
    try:
        time.sleep(0.2)
        pattern = _PATTERNS["server"].format(instance=instance)
        r = subprocess.run(
            ["sh", "-c", _KILL, "sh", pattern, "15"], capture_output=True, text=True, timeout=10
        )
        assert r.returncode == 0, r.stderr
        assert [int(x) for x in r.stdout.split()] == [victim.pid]
        assert victim.wait(timeout=5) == -15
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


def test_cut_heal_netem(tmp_path: Path) -> None:
    lab, fake = _lab(tmp_path, iface="eth1")
    lab.cut("host1", "host2", port=26379)
    base = [
        "tc",
        "filter",
        "add",
        "dev",
        "eth1",
        "parent",
        "ffff:",
        "protocol",
        "ip",
        "prio",
        "1",
        "u32",
        "match",
        "ip",
        "src",
    ]
    h1 = fake.on("host1")
    assert h1 == [
        [*base, f"{NET}.12/32", "match", "ip", "sport", "26379", "0xffff", "action", "drop"],
        [*base, f"{NET}.12/32", "match", "ip", "dport", "26379", "0xffff", "action", "drop"],
    ]
    lab.cut("host1", "host3")
    assert fake.on("host3")[-1] == [*base, f"{NET}.11/32", "action", "drop"]
    lab.heal()
    for h in lab.hosts:
        assert fake.on(h)[-1] == ["tc", "filter", "del", "dev", "eth1", "parent", "ffff:"]
    lab.netem("host2", Netem(delay_ms=50, jitter_ms=10, loss_pct=1))
    assert fake.on("host2")[-1] == [
        "tc",
        "qdisc",
        "replace",
        "dev",
        "eth1",
        "root",
        "netem",
        "delay",
        "50ms",
        "10ms",
        "loss",
        "1%",
    ]
    lab.clear_netem("host2")
    assert fake.on("host2")[-1] == ["tc", "qdisc", "del", "dev", "eth1", "root"]
    assert not fake.on(CLIENT)  # the client is never touched


def test_power_off_and_on(tmp_path: Path) -> None:
    lab, fake = _lab(tmp_path, iface="eth1")
    lab.power_off("host2")
    assert fake.on("host2")[0] == ["ip", "link", "set", "eth1", "down"]  # off the network first
    assert fake.calls[-1] == (["vagrant", "halt", "--force", "host2"], str(tmp_path / "vagrant"))
    n = len(fake.calls)
    lab.power_on("host2")
    assert fake.calls[n] == (["vagrant", "up", "--no-provision", "host2"], str(tmp_path / "vagrant"))
    assert fake.calls[n + 1][0][:2] == ["vagrant", "ssh-config"]  # re-read: the VM's address may change
    assert fake.on("host2")[-3:] == [
        ["ip", "link", "set", "eth1", "up"],
        ["tc", "qdisc", "replace", "dev", "eth1", "ingress"],
        ["systemctl", "start", "hasentinel@drill.service"],
    ]


def test_vagrant_failure_is_reported(tmp_path: Path) -> None:
    def failing(argv: list[str], timeout: float, cwd: str | None) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", "A Vagrant environment or target machine is required")

    lab = VagrantLab(vagrant_dir=tmp_path, runner=failing, ctl_dir=tmp_path / "ctl")
    with pytest.raises(VagrantLabError, match=r"vagrant ssh-config .*target machine is required"):
        lab.run("host1", ["true"])


def test_spawn_gives_the_sampler_the_private_interface(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab, _ = _lab(tmp_path, iface="eth1")
    started: list[list[str]] = []

    class FakePopen:
        pid = 99999

        def __init__(self, argv: list[str], **kw: object) -> None:
            started.append(argv)

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    lab.spawn("host1", [lab.python, "-m", "sentinel.drill.sampler", "--vip", lab.vip])
    lab.spawn(CLIENT, [lab.python, "-m", "sentinel.drill.workload", "write", "--host", lab.vip])
    assert FakeRunner.remote(started[0])[-2:] == ["--iface", "eth1"]
    assert "--iface" not in FakeRunner.remote(started[1])
