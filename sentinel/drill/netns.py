"""`NetnsLab`: the drills' own three-host lab in network namespaces (root only).

Like `hasentinel lab` (docs/lab.md), but private to the drill process so that no two labs
touch each other's namespaces: prefix `hsd<pid>-`, subnet 10.252.0.0/24 (behind its own
bridge), VIP 10.252.0.100, state in /run/hasentinel-drill/<pid>/ (labs of drill processes that
are gone are removed by the next drill: `cleanup_stale`). The configs are systemd/examples with the drill's profile: the VIP owned
by the sentinels (`sentinel vip`, the ownership rule of docs/vip.md) instead of the reconfig
script, down-after / failover-timeout from the profile, `master_restart` from the profile.

Faults: cuts are `ip rule ... blackhole` rules (priority 100) on both hosts, for the peer's
address or only TCP to/from a port: each side drops what it sends to the other (a local send
to a blackholed address fails at once, so a connect() errors instead of timing out), ARP and
the client untouched. netem is the root qdisc of a host's eth0; on a kernel without sch_netem
(like this project's CI VM) the host's bridge port is set to blocking for short random bursts
instead (silent loss in bursts, no added delay; `netem_mode` says which ran).
power off is `link set eth0 down` and SIGKILL of the host's service processes; power on
removes the VIP from eth0 (run-time addresses do not survive a reboot), sets the link up and
starts `hasentinel supervise` again. Every process is found by PID inside our own namespaces.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

from sentinel.drill.backend import CLIENT, LabProfile, Netem, Service, cluster_health, wait_healthy
from sentinel.lab.lab import Proc, State, is_owned_vip_line, is_peer_line, locked, proc_start, spawn_in_netns
from sentinel.lab.netns import Segment, delete_netns, ip, list_netns, netns_pids

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "systemd" / "examples"
SUBNET = IPv4Network("10.252.0.0/24")
CUT_PREF = 100  # `ip rule` priority of the cuts
BASE_DIR = Path("/run/hasentinel-drill")  # one <pid>/ directory per drill process's lab


class DrillLabError(Exception):
    """The drill lab could not be built or did not become healthy."""


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def cleanup_stale(base: Path = BASE_DIR) -> list[str]:
    """Remove the labs of drill processes that are gone (crashed or killed): their recorded
    processes (PID + start time still matching), their namespaces `hsd<pid>-*`, their directory.
    Labs whose owner still runs are not touched. Returns the owners cleaned."""
    cleaned: list[str] = []
    if not base.is_dir():
        return cleaned
    for d in sorted(base.iterdir()):
        owner = d / "owner"
        if not d.name.isdigit() or not owner.exists():
            continue
        pid, _, start = owner.read_text().partition(" ")
        if start.strip() and str(proc_start(int(pid))) == start.strip():
            continue  # its drill is still running
        st = State.load(d / "state.json")
        for p in st.procs if st else []:
            if p.matches():
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        prefix = f"hsd{d.name}-"
        for ns in list_netns():
            if ns.startswith(prefix):
                delete_netns(ns, prefix)
        shutil.rmtree(d, ignore_errors=True)
        cleaned.append(d.name)
    return cleaned


def sentinel_id(host: str) -> str:
    """A fixed 40-hex sentinel id per host name."""
    return hashlib.sha1(f"hasentinel-drill-{host}".encode()).hexdigest()


def seed_dataset(path: Path) -> None:
    """A one-key dump.rdb: the initial master starts with a non-empty dataset, so its supervisor
    never holds it back as an empty master while the sentinels already know its replicas."""
    from types import SimpleNamespace

    from server.persistence.rdb import save_rdb_file

    db = SimpleNamespace(id=0, data={b"drill:seed": b"1"}, expires={})
    save_rdb_file(path, [db])  # type: ignore[list-item]


def service_of(argv: list[str]) -> Service | None:
    """Which service a command line is: `hasentinel-server` / `-m server`, `hasentinel sentinel`,
    `hasentinel supervise` (anything else, e.g. the drill's own sampler, is None)."""
    for i, a in enumerate(argv):
        base = os.path.basename(a)
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if base == "hasentinel-server" or (a == "-m" and nxt == "server"):
            return "server"
        if base == "hasentinel" and nxt == "sentinel":
            return "sentinel"
        if base == "hasentinel" and nxt == "supervise":
            return "supervisor"
    return None


@dataclass
class NetnsLab:
    """A LabBackend in network namespaces on this machine."""

    # Per process: two drills running at once (two users, a test and a benchmark) never share
    # or clean up each other's lab. The subnet can be the same: each lab has its own bridge.
    prefix: str = field(default_factory=lambda: f"hsd{os.getpid()}-")
    subnet: IPv4Network = SUBNET
    state_dir: Path = field(default_factory=lambda: BASE_DIR / str(os.getpid()))
    profile: LabProfile = field(default_factory=LabProfile)
    name: str = "netns"
    hosts: tuple[str, ...] = ("host1", "host2", "host3")
    master_name: str = "mymaster"
    server_port: int = 6379
    sentinel_port: int = 26379
    shared_clock: bool = True
    python: str = sys.executable
    _state: State | None = None
    netem_mode: str = "netem"  # or "flapper" when the kernel has no sch_netem (see netem())
    _logs: dict[int, Path] = field(default_factory=dict)
    _flappers: dict[str, tuple[threading.Event, threading.Thread]] = field(default_factory=dict)

    # -- names and addresses ------------------------------------------------------------------

    @property
    def vip(self) -> str:
        return str(self.subnet.network_address + 100)

    @property
    def vip_iface(self) -> IPv4Interface:
        return IPv4Interface(f"{self.vip}/{self.subnet.prefixlen}")

    def ns(self, node: str) -> str:
        return f"{self.prefix}{node}"

    def address(self, host: str) -> str:
        return str(self.subnet.network_address + self.hosts.index(host) + 1)

    def client_address(self) -> str:
        return str(self.subnet.network_address + 10)

    def bin_dir(self) -> Path:
        return Path(self.python).parent

    # -- configs ------------------------------------------------------------------------------

    def _render(self, text: str, d: Path) -> str:
        net = ".".join(str(self.subnet.network_address).split(".")[:3]) + "."
        out = text.replace("10.0.0.", net)
        out = out.replace("/etc/hasentinel/", f"{d}/etc/").replace("/var/lib/hasentinel/", f"{d}/")
        return out.replace("/opt/hasentinel/.venv/bin/", f"{self.bin_dir()}/")

    def write_configs(self, root: Path) -> dict[str, Path]:
        """host.toml, server.conf, sentinel.conf per host, with the drill's profile."""
        p = self.profile
        out: dict[str, Path] = {}
        for host in self.hosts:
            d = root / host
            for sub in ("etc", "data", "sentinel"):
                (d / sub).mkdir(parents=True, exist_ok=True)
            toml = self._render((EXAMPLES / host / "host.toml").read_text(), d)
            toml = toml.replace('master_restart = "unless-empty"', f'master_restart = "{p.master_restart}"')
            server = self._render((EXAMPLES / host / "server.conf").read_text(), d)
            server = "\n".join(
                f"{line} {self.vip}" if line.startswith("bind ") and self.vip not in line.split() else line
                for line in server.splitlines()
            )
            sentinel = []
            for line in self._render((EXAMPLES / host / "sentinel.conf").read_text(), d).splitlines():
                if "client-reconfig-script" in line or is_owned_vip_line(line) or is_peer_line(line):
                    continue  # the drill's own VIP, ids and peers (below)
                if line.startswith(f"sentinel down-after-milliseconds {self.master_name}"):
                    line = f"sentinel down-after-milliseconds {self.master_name} {p.down_after_ms}"
                if line.startswith(f"sentinel failover-timeout {self.master_name}"):
                    line = f"sentinel failover-timeout {self.master_name} {p.failover_timeout_ms}"
                sentinel.append(line)
            # Known ids and peers, as a deployment has them after its first start: discovery by
            # hello goes through the master, which its own sentinel fences until it has heard
            # a majority, so a cold start without them waits on itself (docs/drills.md).
            sentinel.append(f"sentinel myid {sentinel_id(host)}")
            sentinel += [
                f"sentinel known-sentinel {self.master_name} {self.address(o)} {self.sentinel_port} {sentinel_id(o)}"
                for o in self.hosts
                if o != host
            ]
            sentinel += [
                f"sentinel known-replica {self.master_name} {self.address(o)} {self.server_port}"
                for o in self.hosts[1:]
            ]
            sentinel += [
                f"sentinel vip {self.master_name} {self.vip_iface} eth0",
                f"sentinel vip-local-server {self.master_name} {self.address(host)} {self.server_port}",
                f"sentinel vip-sentinels {self.master_name} {len(self.hosts)}",
            ]
            (d / "etc" / "host.toml").write_text(toml)
            (d / "etc" / "server.conf").write_text(server + "\n")
            (d / "etc" / "sentinel.conf").write_text("\n".join(sentinel) + "\n")
            out[host] = d / "etc" / "host.toml"
        return out

    # -- lifecycle ----------------------------------------------------------------------------

    def _save(self) -> None:
        if self._state is not None:
            self._state.save(self.state_dir / "state.json")

    def _cleanup(self) -> None:
        st = State.load(self.state_dir / "state.json")
        if st is None:
            return
        for p in st.procs:
            if p.matches():
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        existing = set(list_netns())
        for ns in reversed(st.namespaces):
            if ns in existing:
                delete_netns(ns, self.prefix)
        left = [ns for ns in st.namespaces if ns in set(list_netns())]
        if left:
            raise DrillLabError(f"could not delete namespaces: {', '.join(left)}")
        (self.state_dir / "state.json").unlink()

    def up(self, timeout: float = 60.0) -> None:
        if os.geteuid() != 0 or shutil.which("tc") is None or shutil.which("ip") is None:
            raise DrillLabError("the netns drill lab needs root and iproute2 (`ip`, `tc`)")
        if self.state_dir.parent == BASE_DIR:
            cleanup_stale()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "owner").write_text(f"{os.getpid()} {proc_start(os.getpid())}")
        with locked(self.state_dir):
            self._cleanup()
            stray = [ns for ns in list_netns() if ns.startswith(self.prefix)]
            if stray:
                raise DrillLabError(f"namespaces {', '.join(stray)} exist but are not in the drill's state")
            for host in self.hosts:
                shutil.rmtree(self.state_dir / host, ignore_errors=True)
            seg = Segment(self.prefix, self.subnet)
            self._state = State([seg.bridge_ns] + [self.ns(n) for n in (*self.hosts, CLIENT)], [])
            self._save()
            seg.build_bridge()
            seg.attach(CLIENT, 10)
            for i, h in enumerate(self.hosts):
                seg.attach(h, i + 1)
            for h in self.hosts:
                r = self.run(
                    h, [self.python, "-c", "open('/proc/sys/net/ipv4/ip_nonlocal_bind','w').write('1')"]
                )
                if r.returncode != 0:
                    raise DrillLabError(f"ip_nonlocal_bind in {self.ns(h)}: {r.stderr.strip()}")
            ip("-n", self.ns(self.hosts[0]), "addr", "add", str(self.vip_iface), "dev", "eth0")
            self.write_configs(self.state_dir)
            seed_dataset(self.state_dir / self.hosts[0] / "data" / "dump.rdb")
            for h in self.hosts:
                self._start_supervisor(h)
                if h == self.hosts[0]:
                    self._wait_server(h, min(timeout, 20.0))
        self._wait_healthy(timeout)

    def _wait_server(self, host: str, timeout: float) -> None:
        """Until `host`'s server answers PING (bounded; `_wait_healthy` reports a failure).

        The seeded master starts first: its supervisor starts the server only once its own
        sentinel answers, and with the drills' short down-after (1 s) the other hosts' sentinels,
        started meanwhile, counted it down from their own start and failed over before it ever
        ran (a trial then began on another master, still reconfiguring replicas)."""

        def answers() -> str | None:
            r = self.run(host, ["redis-cli", "-p", str(self.server_port), "PING"], timeout=2.0)
            return None if r.stdout.strip() == "PONG" else "no PONG"

        wait_healthy(answers, timeout, 0.1)

    def _start_supervisor(self, host: str) -> None:
        assert self._state is not None
        d = self.state_dir / host
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        env["HASENTINEL_PYTHON"] = self.python
        argv = [str(self.bin_dir() / "hasentinel"), "supervise", str(d / "etc" / "host.toml")]
        self._spawn(host, argv, env, d / "supervise.log", "the supervisor")

    def _spawn(self, host: str, argv: list[str], env: dict[str, str], log_path: Path, what: str) -> None:
        """Start `argv` in the host's namespace and record it (killed by PID at `down`)."""
        assert self._state is not None
        proc = spawn_in_netns(host, self.ns(host), argv, env, log_path, self.state_dir / host)
        if proc is None:
            raise DrillLabError(f"{what} of {host} exited at once; see {log_path}")
        self._state.procs.append(proc)
        self._save()

    def _healthy(self) -> str | None:
        """None when healthy, else what is missing (a hung probe counts as "timeout")."""
        try:
            return cluster_health(self)
        except subprocess.TimeoutExpired:
            return "timeout"

    def _wait_healthy(self, timeout: float) -> None:
        why = wait_healthy(self._healthy, timeout, 0.25)
        if why is not None:
            raise DrillLabError(f"the drill lab did not become healthy within {timeout:.0f} s: {why}")

    def collect_logs(self, dest: Path) -> None:
        """Copy each host's supervise.log (supervisor, sentinel and server records) to `dest`."""
        for h in self.hosts:
            src = self.state_dir / h / "supervise.log"
            if src.exists():
                shutil.copyfile(src, dest / f"{h}-supervise.log")
        for f in self.state_dir.glob("*.stderr"):  # the samplers' and workload's, if any
            if f.stat().st_size:
                shutil.copyfile(f, dest / f.name)

    def down(self) -> None:
        for h in list(self._flappers):
            self.clear_netem(h)
        with locked(self.state_dir):
            self._cleanup()
        self._state = None
        self._logs.clear()
        shutil.rmtree(self.state_dir, ignore_errors=True)  # nothing of this lab stays in /run

    # -- processes ----------------------------------------------------------------------------

    def _argv(self, node: str, argv: list[str]) -> list[str]:
        if node not in (*self.hosts, CLIENT):
            raise ValueError(f"unknown node {node!r}")
        return ["ip", "netns", "exec", self.ns(node), *argv]

    def run(self, node: str, argv: list[str], timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(self._argv(node, argv), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(e.cmd, 124, "", f"timed out after {timeout} s")

    def spawn(self, node: str, argv: list[str]) -> subprocess.Popen[str]:
        assert self._state is not None, "up() first"
        log = self.state_dir / f"{node}-{len(self._logs)}.stderr"
        with open(log, "w") as err:
            p = subprocess.Popen(
                self._argv(node, argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                text=True, start_new_session=True, cwd=REPO,
            )  # fmt: skip
        self._logs[p.pid] = log
        start = proc_start(p.pid)
        if start is not None:
            self._state.procs.append(Proc(node, p.pid, start))
            self._save()
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
                    os.kill(p.pid, sig)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                continue

    def service_pids(self, host: str, service: Service) -> list[int]:
        """PIDs of the host's `service` processes (by command line, inside its namespace)."""
        return [pid for pid in netns_pids(self.ns(host)) if service_of(_cmdline(pid)) == service]

    def kill(self, host: str, service: Service, sig: int = 9) -> list[int]:
        pids = self.service_pids(host, service)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return pids

    def power_off(self, host: str) -> None:
        ip("-n", self.ns(host), "link", "set", "eth0", "down")
        for _ in range(3):
            killed = self.kill(host, "sentinel") + self.kill(host, "server") + self.kill(host, "supervisor")
            if not killed:
                break
            time.sleep(0.05)

    def power_on(self, host: str) -> None:
        ip("-n", self.ns(host), "addr", "del", str(self.vip_iface), "dev", "eth0", check=False)
        ip("-n", self.ns(host), "link", "set", "eth0", "up")
        with locked(self.state_dir):
            self._start_supervisor(host)

    # -- network faults -----------------------------------------------------------------------

    def _tc(self, host: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(["tc", "-n", self.ns(host), *args], capture_output=True, text=True, timeout=15)
        if check and r.returncode != 0:
            raise DrillLabError(f"tc -n {self.ns(host)} {' '.join(args)}: {r.stderr.strip()}")
        return r

    def _rules(self, host: str, dst: str, port: int | None) -> list[list[str]]:
        sel = [["to", f"{dst}/32"]] if port is None else [
            ["to", f"{dst}/32", "ipproto", "tcp", "dport", str(port)],
            ["to", f"{dst}/32", "ipproto", "tcp", "sport", str(port)],
        ]  # fmt: skip
        return [["-n", self.ns(host), "rule", "add", *s, "pref", str(CUT_PREF), "blackhole"] for s in sel]

    def cut(self, a: str, b: str, port: int | None = None) -> None:
        for argv in self._rules(a, self.address(b), port) + self._rules(b, self.address(a), port):
            ip(*argv)

    def heal(self) -> None:
        for h in self.hosts:
            for _ in range(50):  # bounded: at most a few rules per peer
                if ip("-n", self.ns(h), "rule", "del", "pref", str(CUT_PREF), check=False).returncode != 0:
                    break

    def netem(self, host: str, spec: Netem) -> None:
        r = self._tc(host, "qdisc", "replace", "dev", "eth0", "root", "netem", *spec.args(), check=False)
        if r.returncode == 0:
            self.netem_mode = "netem"
            return
        if "unknown" not in r.stderr:
            raise DrillLabError(f"netem on {host}: {r.stderr.strip()}")
        # No sch_netem in this kernel: loss in bursts instead, by blocking the host's bridge port.
        self.netem_mode = "flapper"
        self.clear_netem(host)
        stop = threading.Event()
        th = threading.Thread(target=self._flap, args=(host, spec, stop), daemon=True)
        self._flappers[host] = (stop, th)
        th.start()

    def _port_state(self, host: str, state: int) -> None:
        subprocess.run(
            ["bridge", "-n", f"{self.prefix}br", "link", "set", "dev", f"v{host}"[:15], "state", str(state)],
            capture_output=True, text=True, timeout=5,
        )  # fmt: skip

    def _flap(self, host: str, spec: Netem, stop: threading.Event) -> None:
        """Block the port for random bursts of 50-150 ms, often enough that max(loss_pct, 5) %
        of the time is lost (well below down-after; bounded by `stop`)."""
        rng = random.Random(f"{host}-{time.time()}")
        lost = max(spec.loss_pct, 5.0) / 100
        while not stop.is_set():
            b = rng.uniform(0.05, 0.15)
            if stop.wait(b * (1 / lost - 1) * rng.uniform(0.5, 1.5)):
                break
            self._port_state(host, 4)  # blocking: frames dropped silently, the link stays up
            stop.wait(b)
            self._port_state(host, 3)  # forwarding

    def clear_netem(self, host: str) -> None:
        self._tc(host, "qdisc", "del", "dev", "eth0", "root", check=False)
        stop_th = self._flappers.pop(host, None)
        if stop_th is not None:
            stop_th[0].set()
            stop_th[1].join(timeout=5)
            self._port_state(host, 3)

    # -- inspection (tests, debugging) --------------------------------------------------------

    def vip_holders(self) -> list[str]:
        """Hosts whose eth0 is up and carries the VIP."""
        out = []
        for h in self.hosts:
            js = json.loads(
                ip("-n", self.ns(h), "-j", "-4", "addr", "show", "dev", "eth0", check=False).stdout or "[]"
            )
            for link in js:
                if "UP" in link.get("flags", []) and any(
                    a.get("local") == self.vip for a in link.get("addr_info", [])
                ):
                    out.append(h)
        return out
