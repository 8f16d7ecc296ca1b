"""`VagrantLab`: the drills' LabBackend on the VMs of vagrant/ (`--lab vagrant`, vagrant/README.md).

The VMs are the ones `vagrant up` builds from vagrant/Vagrantfile: host1..3 at NET.11-13, the
client at NET.10, VIP NET.100/24 (NET from HASENTINEL_VAGRANT_NET, default 192.168.56), the
project in /opt/hasentinel on each (vagrant/provision.sh). Every operation is one `ssh` command
(`vagrant ssh-config` once, then ssh with a shared control connection: a `vagrant ssh -c` costs a
Ruby start per call) running `sudo -n -- <argv>` on the VM.

The drill's cluster is its own systemd instance, `hasentinel@drill.service`, configs in
/etc/hasentinel/drill/ and data in /var/lib/hasentinel/drill/: systemd/examples with the
cluster's addresses and the drill's profile, the VIP owned by the sentinels (`sentinel vip`).
`up` stops (and disables) the provisioned `hasentinel.service`, which uses the same ports; `down`
stops the drill's instance and leaves the provisioned service stopped (vagrant/README.md).

Faults, on the private network's interface only (ssh uses Vagrant's management interface, so a
cut or a link down never cuts the drill off its VMs): cuts are `tc` ingress u32 drop filters,
netem the interface's root qdisc (as NetnsLab); power off is `ip link set <if> down`, then
`vagrant halt --force` (the VM really stops: nothing restarts, nothing cleans up), power on
`vagrant up --no-provision` and a start of the drill's unit. Under systemd a killed supervisor
is restarted by the unit (Restart=on-failure), unlike in NetnsLab: that is the deployment.
Clocks: separate kernels, so `shared_clock` is false (keep the VMs NTP-synchronised).
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sentinel.drill.backend import CLIENT, LabProfile, Netem, Service, cluster_health, wait_healthy
from sentinel.drill.netns import seed_dataset, sentinel_id
from sentinel.lab.lab import is_owned_vip_line, is_peer_line

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "systemd" / "examples"
VENV_BIN = "/opt/hasentinel/.venv/bin/"

Runner = Callable[[list[str], float, str | None], subprocess.CompletedProcess[str]]
"""(argv, timeout, cwd) -> the finished process; never raises for a non-zero exit or a timeout."""


class VagrantLabError(Exception):
    """The Vagrant lab could not be reached, built, or did not become healthy."""


def run_local(argv: list[str], timeout: float, cwd: str | None) -> subprocess.CompletedProcess[str]:
    """The real Runner: `argv` on this machine, bounded (a timeout is exit status 124)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"timed out after {timeout} s")


# A regex for `pgrep -f` matching the service's command line of the drill's instance; the
# bracket keeps it from matching the `sh -c` / `sudo` running pgrep (their command lines hold
# the pattern's text, which the regex does not match).
_PATTERNS: dict[str, str] = {
    "server": "bin/hasentinel-serve[r] /etc/hasentinel/{instance}/",
    "sentinel": "bin/hasentinel sentine[l] /etc/hasentinel/{instance}/",
    "supervisor": "bin/hasentinel supervis[e] /etc/hasentinel/{instance}/",
}

_KILL = 'pids=$(pgrep -f -- "$1") || true; if [ -n "$pids" ]; then kill -s "$2" $pids || true; fi; echo $pids'
_WRITE = 'umask 027; printf "%s" "$1" > "$2.tmp" && chgrp hasentinel "$2.tmp" && mv -f "$2.tmp" "$2"'
_WRITE_B64 = 'umask 027; printf "%s" "$1" | base64 -d > "$2" && chown hasentinel:hasentinel "$2"'


@dataclass
class VagrantLab:
    """A LabBackend on the Vagrant VMs (run from the machine where `vagrant up` was run)."""

    vagrant_dir: Path = REPO / "vagrant"
    net: str = field(default_factory=lambda: os.environ.get("HASENTINEL_VAGRANT_NET", "192.168.56"))
    profile: LabProfile = field(default_factory=LabProfile)
    name: str = "vagrant"
    hosts: tuple[str, ...] = ("host1", "host2", "host3")
    master_name: str = "mymaster"
    server_port: int = 6379
    sentinel_port: int = 26379
    shared_clock: bool = False
    python: str = VENV_BIN + "python"
    instance: str = "drill"
    iface: str | None = None  # the private network's interface on the hosts; found by up()
    runner: Runner = run_local
    ctl_dir: Path = field(
        default_factory=lambda: Path(tempfile.gettempdir()) / f"hasentinel-vagrant-{os.getuid()}"
    )
    _ssh_config: Path | None = None
    _logs: dict[int, Path] = field(default_factory=dict)

    # -- names and addresses ------------------------------------------------------------------

    @property
    def vip(self) -> str:
        return f"{self.net}.100"

    @property
    def vip_iface(self) -> str:
        return f"{self.vip}/24"

    @property
    def unit(self) -> str:
        return f"hasentinel@{self.instance}.service"

    def address(self, host: str) -> str:
        return f"{self.net}.{11 + self.hosts.index(host)}"

    def client_address(self) -> str:
        return f"{self.net}.10"

    def _if(self) -> str:
        if self.iface is None:
            raise VagrantLabError("the hosts' interface is not known yet: up() first")
        return self.iface

    # -- ssh ----------------------------------------------------------------------------------

    def _vagrant(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        r = self.runner(["vagrant", *args], timeout, str(self.vagrant_dir))
        if r.returncode != 0:
            raise VagrantLabError(
                f"vagrant {' '.join(args)} (in {self.vagrant_dir}): {(r.stderr or r.stdout).strip()}"
            )
        return r

    def ssh_config(self) -> Path:
        """`vagrant ssh-config` of the four VMs, written once to a file ssh reads with -F."""
        if self._ssh_config is None:
            r = self._vagrant("ssh-config", *self.hosts, CLIENT)
            self.ctl_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self.ctl_dir / "ssh_config"
            path.write_text(r.stdout)
            self._ssh_config = path
        return self._ssh_config

    def ssh_argv(self, node: str, argv: list[str]) -> list[str]:
        """ssh to `node` running `sudo -n -- argv` there (quoted for the remote shell)."""
        if node not in (*self.hosts, CLIENT):
            raise ValueError(f"unknown node {node!r}")
        return [
            "ssh", "-F", str(self.ssh_config()),
            "-o", "BatchMode=yes", "-o", "ControlMaster=auto", "-o", f"ControlPath={self.ctl_dir}/%C",
            "-o", "ControlPersist=300", "-o", "ServerAliveInterval=5",
            node, shlex.join(["sudo", "-n", "--", *argv]),
        ]  # fmt: skip

    # -- processes ----------------------------------------------------------------------------

    def run(self, node: str, argv: list[str], timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
        return self.runner(self.ssh_argv(node, argv), timeout, None)

    def _must(self, node: str, argv: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        r = self.run(node, argv, timeout)
        if r.returncode != 0:
            raise VagrantLabError(f"{node}: {shlex.join(argv)}: {(r.stderr or r.stdout).strip()}")
        return r

    def spawn(self, node: str, argv: list[str]) -> subprocess.Popen[str]:
        """The remote program reads the ssh session's stdin: closing it (stop) ends it.

        The drill runner starts the sampler without `--iface` (its default is eth0, the
        namespaces' interface); on the VMs the VIP is on the private network's interface."""
        if "sentinel.drill.sampler" in argv and "--iface" not in argv and node in self.hosts:
            argv = [*argv, "--iface", self._if()]
        self.ctl_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        log = self.ctl_dir / f"{node}-{len(self._logs)}.stderr"
        with open(log, "w") as err:
            p = subprocess.Popen(
                self.ssh_argv(node, argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                text=True, start_new_session=True,
            )  # fmt: skip
        self._logs[p.pid] = log
        return p

    def stderr_of(self, p: subprocess.Popen[str]) -> str:
        """What a spawned process wrote to stderr."""
        try:
            return self._logs[p.pid].read_text()
        except (KeyError, OSError):
            return ""

    def stop(self, p: subprocess.Popen[str], timeout: float = 5.0) -> None:
        try:
            if p.stdin is not None:
                p.stdin.close()
        except OSError:
            pass
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None and p.poll() is None:
                try:
                    os.kill(p.pid, sig)  # our local ssh client, by PID
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                continue

    def kill(self, host: str, service: Service, sig: int = 9) -> list[int]:
        pattern = _PATTERNS[service].format(instance=self.instance)
        r = self.run(host, ["sh", "-c", _KILL, "sh", pattern, str(sig)])
        return [int(x) for x in r.stdout.split() if x.isdigit()]

    # -- configs ------------------------------------------------------------------------------

    def _render(self, text: str) -> str:
        """An example with this cluster's addresses (as vagrant/provision.sh renders them) and the
        instance's paths."""
        out = re.sub(r"\b10\.0\.0\.100\b", self.vip, text)
        out = re.sub(r"\b10\.0\.0\.([1-3])\b", lambda m: self.address(self.hosts[int(m.group(1)) - 1]), out)
        out = out.replace("/etc/hasentinel/", f"/etc/hasentinel/{self.instance}/")
        return out.replace("/var/lib/hasentinel/", f"/var/lib/hasentinel/{self.instance}/")

    def configs(self, host: str) -> dict[str, str]:
        """The drill's config files of `host`: file name -> text."""
        p, m, iface = self.profile, self.master_name, self._if()
        idx = self.hosts.index(host) + 1
        toml = self._render((EXAMPLES / f"host{idx}" / "host.toml").read_text())
        toml = toml.replace('master_restart = "unless-empty"', f'master_restart = "{p.master_restart}"')
        server = self._render((EXAMPLES / f"host{idx}" / "server.conf").read_text())
        sentinel = []
        for line in self._render((EXAMPLES / f"host{idx}" / "sentinel.conf").read_text()).splitlines():
            if "client-reconfig-script" in line or is_owned_vip_line(line) or is_peer_line(line):
                continue  # the drill's own VIP (its interface), ids and peers (below)
            if line.startswith(f"sentinel down-after-milliseconds {m} "):
                line = f"sentinel down-after-milliseconds {m} {p.down_after_ms}"
            if line.startswith(f"sentinel failover-timeout {m} "):
                line = f"sentinel failover-timeout {m} {p.failover_timeout_ms}"
            sentinel.append(line)
        # Known ids, peers and replicas, as NetnsLab writes them (a deployment has them after its
        # first start; docs/drills.md).
        sentinel.append(f"sentinel myid {sentinel_id(host)}")
        sentinel += [
            f"sentinel known-sentinel {m} {self.address(o)} {self.sentinel_port} {sentinel_id(o)}"
            for o in self.hosts
            if o != host
        ]
        sentinel += [
            f"sentinel known-replica {m} {self.address(o)} {self.server_port}" for o in self.hosts[1:]
        ]
        sentinel += [
            f"sentinel vip {m} {self.vip_iface} {iface}",
            f"sentinel vip-local-server {m} {self.address(host)} {self.server_port}",
            f"sentinel vip-sentinels {m} {len(self.hosts)}",
        ]
        vip = self._render((EXAMPLES / "vip.conf").read_text())
        vip = "\n".join(
            f"interface = {iface}" if x.startswith("interface =") else x for x in vip.splitlines()
        )
        return {
            "host.toml": toml,
            "server.conf": server,
            "sentinel.conf": "\n".join(sentinel) + "\n",
            "vip.conf": vip + "\n",
        }

    # -- lifecycle ----------------------------------------------------------------------------

    def _find_iface(self, host: str) -> str:
        r = self._must(host, ["ip", "-o", "-4", "addr", "show", "to", f"{self.address(host)}/32"])
        fields = r.stdout.split()
        if len(fields) < 2:
            raise VagrantLabError(
                f"{host}: no interface carries {self.address(host)} (is the private network up?)"
            )
        return fields[1]

    def _tc(self, host: str, *args: str, check: bool = True) -> None:
        if check:
            self._must(host, ["tc", *args])
        else:
            self.run(host, ["tc", *args])

    def up(self, timeout: float = 120.0) -> None:
        if shutil.which("vagrant") is None and self.runner is run_local:
            raise VagrantLabError(
                "the vagrant lab needs `vagrant` on this machine and the VMs of vagrant/ up"
            )
        self._ssh_config = None
        self.iface = self._find_iface(self.hosts[0])
        data = f"/var/lib/hasentinel/{self.instance}"
        for h in self.hosts:
            if self._find_iface(h) != self.iface:
                raise VagrantLabError(
                    f"{h}: the private network is not on {self.iface} as on {self.hosts[0]}"
                )
            # a fresh cluster: nothing running on the ports, no VIP, no fault, empty data
            self._must(h, ["systemctl", "disable", "--now", "hasentinel.service", self.unit], timeout=120)
            self._clear_faults(h)
            self.run(h, ["ip", "addr", "del", self.vip_iface, "dev", self.iface])
            self._must(h, ["ip", "link", "set", self.iface, "up"])
            self._must(h, ["rm", "-rf", data])
            self._must(h, ["install", "-d", "-o", "hasentinel", "-g", "hasentinel", "-m", "0750",
                           data, f"{data}/data", f"{data}/sentinel"])  # fmt: skip
            self._must(h, ["install", "-d", "-o", "root", "-g", "hasentinel", "-m", "0750",
                           f"/etc/hasentinel/{self.instance}"])  # fmt: skip
            for name, text in self.configs(h).items():
                self._must(h, ["sh", "-c", _WRITE, "sh", text, f"/etc/hasentinel/{self.instance}/{name}"])
            self._tc(h, "qdisc", "add", "dev", self.iface, "ingress")
        self._must(self.hosts[0], ["ip", "addr", "add", self.vip_iface, "dev", self.iface])
        # the initial master starts with a non-empty dataset (NetnsLab's seed)
        with tempfile.TemporaryDirectory() as tmp:
            seed_dataset(Path(tmp) / "dump.rdb")
            rdb = base64.b64encode((Path(tmp) / "dump.rdb").read_bytes()).decode()
        self._must(self.hosts[0], ["sh", "-c", _WRITE_B64, "sh", rdb, f"{data}/data/dump.rdb"])
        for h in self.hosts:
            self._must(h, ["systemctl", "start", self.unit], timeout=200)  # Type=notify: READY=1
        self._wait_healthy(timeout)

    def _wait_healthy(self, timeout: float, sleep: Callable[[float], None] = time.sleep) -> None:
        why = wait_healthy(lambda: cluster_health(self), timeout, 0.5, sleep)
        if why is not None:
            raise VagrantLabError(
                f"the vagrant drill cluster did not become healthy within {timeout:.0f} s: {why}"
            )

    def _clear_faults(self, host: str) -> None:
        iface = self._if()
        self._tc(host, "qdisc", "del", "dev", iface, "ingress", check=False)  # and its filters
        self._tc(host, "qdisc", "del", "dev", iface, "root", check=False)

    def down(self) -> None:
        if self.iface is None:
            self.iface = self._find_iface(self.hosts[0])
        for h in self.hosts:
            self.run(h, ["systemctl", "stop", self.unit], timeout=120)
            self._clear_faults(h)
            self.run(h, ["ip", "addr", "del", self.vip_iface, "dev", self._if()])
            self.run(h, ["ip", "link", "set", self._if(), "up"])
        if self._ssh_config is not None:
            for node in (*self.hosts, CLIENT):  # close the shared ssh connections
                self.runner(["ssh", "-F", str(self._ssh_config), "-o", f"ControlPath={self.ctl_dir}/%C",
                             "-O", "exit", node], 10.0, None)  # fmt: skip

    def power_off(self, host: str) -> None:
        self.run(host, ["ip", "link", "set", self._if(), "down"])  # off the network at once
        self._vagrant("halt", "--force", host, timeout=180)

    def power_on(self, host: str) -> None:
        self._vagrant("up", "--no-provision", host, timeout=600)
        self._ssh_config = None  # the VM's ssh address or port may have changed
        self._must(host, ["ip", "link", "set", self._if(), "up"])
        self._tc(host, "qdisc", "replace", "dev", self._if(), "ingress")
        self._must(host, ["systemctl", "start", self.unit], timeout=200)

    # -- network faults -----------------------------------------------------------------------

    def _drop_from(self, host: str, src: str, port: int | None) -> None:
        base = ["filter", "add", "dev", self._if(), "parent", "ffff:", "protocol", "ip", "prio", "1", "u32",
                "match", "ip", "src", f"{src}/32"]  # fmt: skip
        if port is None:
            self._tc(host, *base, "action", "drop")
        else:
            for field_ in ("sport", "dport"):
                self._tc(host, *base, "match", "ip", field_, str(port), "0xffff", "action", "drop")

    def cut(self, a: str, b: str, port: int | None = None) -> None:
        self._drop_from(a, self.address(b), port)
        self._drop_from(b, self.address(a), port)

    def heal(self) -> None:
        for h in self.hosts:
            self._tc(h, "filter", "del", "dev", self._if(), "parent", "ffff:", check=False)

    def netem(self, host: str, spec: Netem) -> None:
        self._tc(host, "qdisc", "replace", "dev", self._if(), "root", "netem", *spec.args())

    def clear_netem(self, host: str) -> None:
        self._tc(host, "qdisc", "del", "dev", self._if(), "root", check=False)
