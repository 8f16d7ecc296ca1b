"""`hasentinel lab`: three supervised hosts and a client in network namespaces (root only).

    hslab-br       br0 (bridge)
    hslab-host1    eth0 10.251.0.1/24   `hasentinel supervise` (initial master, VIP 10.251.0.100)
    hslab-host2    eth0 10.251.0.2/24   `hasentinel supervise`
    hslab-host3    eth0 10.251.0.3/24   `hasentinel supervise`
    hslab-client   eth0 10.251.0.10/24

Configs are systemd/examples with the lab's addresses and paths (under /run/hasentinel-lab/):
the sentinels own the VIP (`sentinel vip`, docs/vip.md). `--flavour stock` runs Debian's stock
`redis-server` + `redis-sentinel` 7 from the same configs instead of `hasentinel supervise` (no
supervisor: the lab starts both per host), without the `sentinel vip*` lines stock does not know
and with scripts/vip-reconfig as their `client-reconfig-script` to move the VIP: the reference
for side-by-side drills.
The state file /run/hasentinel-lab/state.json records the namespaces (before creating them)
and the supervisors' PIDs with their start times; `down` (and `up`, first) kills only those
PIDs that still match, then whatever runs inside the recorded namespaces, then deletes them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

from sentinel.drill.backend import cluster_health
from sentinel.lab.netns import Segment, delete_netns, ip, list_netns

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "systemd" / "examples"
SYSCTL = REPO / "systemd" / "sysctl.d" / "hasentinel.conf"
STATE_DIR = Path("/run/hasentinel-lab")
PREFIX = "hslab-"
SUBNET = IPv4Network("10.251.0.0/24")
HOSTS = ("host1", "host2", "host3")
CLIENT = "client"
CLIENT_LAST = 10
VIP = IPv4Interface("10.251.0.100/24")
MASTER = "mymaster"
SERVER_PORT = 6379
SENTINEL_PORT = 26379
STOP_WAIT = 20.0
FLAVOURS = ("hasentinel", "stock")
STOCK_SERVER = "redis-server"
STOCK_SENTINEL = "redis-sentinel"


class LabError(Exception):
    """A failure to report to the operator (exit status in `code`)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def bin_dir() -> Path:
    """The venv's bin directory (where `hasentinel` and `hasentinel-vip-reconfig` live)."""
    return Path(sys.executable).parent


def host_addr(host: str) -> str:
    """host1 -> 10.251.0.1."""
    return str(SUBNET.network_address + HOSTS.index(host) + 1)


def ns_name(role: str) -> str:
    """The namespace of `role` (host1..3, client, br)."""
    return f"{PREFIX}{role}"


def require_root() -> None:
    """Raise a clear LabError unless we can build namespaces."""
    if not sys.platform.startswith("linux"):
        raise LabError("hasentinel lab needs Linux network namespaces", 2)
    if os.geteuid() != 0:
        raise LabError(
            "hasentinel lab needs root: it creates network namespaces (`ip netns`), a bridge and "
            "veth pairs, and runs the supervisors inside them (CAP_SYS_ADMIN, CAP_NET_ADMIN, "
            "CAP_NET_RAW). Run it as root, e.g. `sudo hasentinel lab up`.",
            2,
        )
    if shutil.which("ip") is None:
        raise LabError("hasentinel lab needs iproute2's `ip` command", 2)


# -- configs ------------------------------------------------------------------------------------


def render_example(text: str, host_dir: Path) -> str:
    """An example config with the lab's addresses and paths."""
    out = text.replace("10.0.0.", f"{'.'.join(str(SUBNET.network_address).split('.')[:3])}.")
    out = out.replace("/etc/hasentinel/", f"{host_dir}/etc/")
    out = out.replace("/var/lib/hasentinel/", f"{host_dir}/")
    out = out.replace("/opt/hasentinel/.venv/bin/hasentinel-vip-reconfig", str(reconfig_script()))
    return out.replace("/opt/hasentinel/.venv/bin/", f"{bin_dir()}/")


def sysctl_settings(path: Path = SYSCTL) -> dict[str, str]:
    """The `key = value` lines of the shipped sysctl.d snippet (what systemd-sysctl applies at a
    real host's boot). Only net.* keys: those are per network namespace."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.startswith("net."):
            raise LabError(f"{path}: the lab applies only net.* settings per namespace: {line!r}")
        out[key] = value.strip()
    return out


def apply_sysctl(role: str, settings: dict[str, str]) -> None:
    """Write `settings` to /proc/sys from inside the namespace of `role` (its own copy of net.*)."""
    code = "import sys\nfor k, v in zip(sys.argv[1::2], sys.argv[2::2]):\n    open('/proc/sys/' + k.replace('.', '/'), 'w').write(v)\n"
    args = [x for kv in settings.items() for x in kv]
    r = in_ns(role, sys.executable, "-c", code, *args)
    if r.returncode != 0:
        raise LabError(f"sysctl {settings} in {ns_name(role)} failed: {r.stderr.strip()}")


def reconfig_script() -> Path:
    """The installed `hasentinel-vip-reconfig`, else the repository's scripts/vip-reconfig."""
    installed = bin_dir() / "hasentinel-vip-reconfig"
    return installed if installed.exists() else REPO / "scripts" / "vip-reconfig"


def write_configs(root: Path) -> dict[str, Path]:
    """Write host.toml, server.conf, sentinel.conf and vip.conf per host; returns host -> host.toml."""
    out: dict[str, Path] = {}
    vip_text = (EXAMPLES / "vip.conf").read_text()
    for host in HOSTS:
        d = root / host
        for sub in ("etc", "data", "sentinel"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        for name in ("host.toml", "server.conf", "sentinel.conf"):
            (d / "etc" / name).write_text(render_example((EXAMPLES / host / name).read_text(), d))
        (d / "etc" / "vip.conf").write_text(render_example(vip_text, d))
        out[host] = d / "etc" / "host.toml"
    return out


OWNED_VIP_LINES = ("sentinel vip ", "sentinel vip-")
"""The example sentinel.conf lines of our ownership rule (stock Sentinel rejects them)."""
PEER_LINES = ("sentinel myid ", "sentinel known-sentinel ", "sentinel known-replica ")
"""The example's fixed ids and peers (a drill lab writes its own)."""


def is_owned_vip_line(line: str) -> bool:
    """A `sentinel vip*` line of the ownership rule."""
    return line.startswith(OWNED_VIP_LINES)


def is_peer_line(line: str) -> bool:
    """A `sentinel myid` / `known-sentinel` / `known-replica` line."""
    return line.startswith(PEER_LINES)


def for_stock_sentinel(text: str, master: str, script: Path) -> str:
    """An example sentinel.conf for stock redis-sentinel, as a stock deployment has it: without
    the ownership rule's lines, the VIP moved by `script` as its client-reconfig-script instead
    (the hook stock users get), and without the fixed ids and peers (stock discovers its peers
    by hello; they are there for our rule's first start)."""
    lines = [x for x in text.splitlines() if not is_owned_vip_line(x) and not is_peer_line(x)]
    lines += [
        "# stock: the VIP is moved by the hook (docs/vip.md, vip-reconfig)",
        f"sentinel client-reconfig-script {master} {script}",
    ]
    return "\n".join(lines) + "\n"


def write_stock_configs(root: Path) -> dict[str, tuple[Path, Path]]:
    """The stock flavour: per host, the example server.conf and sentinel.conf (lab addresses and
    paths, as above) plus what host.toml passes our children on the command line (port, dir);
    the sentinel's VIP is moved by `client-reconfig-script` (for_stock_sentinel). Returns host -> (server.conf,
    sentinel.conf). Stock Sentinel rewrites its config file: each host gets its own copy."""
    out: dict[str, tuple[Path, Path]] = {}
    vip_text = (EXAMPLES / "vip.conf").read_text()
    for host in HOSTS:
        d = root / host
        for sub in ("etc", "data", "sentinel"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        server = render_example((EXAMPLES / host / "server.conf").read_text(), d)
        server += f"\n# stock flavour (hasentinel lab): what host.toml gives our server\nport {SERVER_PORT}\ndir {d}/data\n"
        sentinel = for_stock_sentinel(
            render_example((EXAMPLES / host / "sentinel.conf").read_text(), d), MASTER, reconfig_script()
        )
        sentinel += f"\n# stock flavour (hasentinel lab): what host.toml gives our sentinel\nport {SENTINEL_PORT}\ndir {d}/sentinel\n"
        (d / "etc" / "server.conf").write_text(server)
        (d / "etc" / "sentinel.conf").write_text(sentinel)
        (d / "etc" / "vip.conf").write_text(render_example(vip_text, d))
        out[host] = (d / "etc" / "server.conf", d / "etc" / "sentinel.conf")
    return out


# -- state file and processes -------------------------------------------------------------------


def proc_start(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, /proc/PID/stat field 22), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19])


@dataclass
class Proc:
    """A process the lab started."""

    host: str
    pid: int
    start: int

    def matches(self) -> bool:
        """Still the same process (same PID and start time)."""
        return proc_start(self.pid) == self.start


@dataclass
class State:
    """What a lab created; saved after every step so a crashed lab can be cleaned."""

    namespaces: list[str]
    procs: list[Proc]
    flavour: str = "hasentinel"

    @classmethod
    def load(cls, path: Path) -> State | None:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise LabError(f"unreadable lab state {path}: {e}") from e
        return cls(
            [str(n) for n in data.get("namespaces", [])],
            [Proc(str(p["host"]), int(p["pid"]), int(p["start"])) for p in data.get("procs", [])],
            str(data.get("flavour", "hasentinel")),
        )

    def save(self, path: Path) -> None:
        data = {
            "namespaces": self.namespaces,
            "procs": [p.__dict__ for p in self.procs],
            "flavour": self.flavour,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)


@contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """One lab command at a time (flock, bounded wait)."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(state_dir / "lock", "w") as f:
        for _ in range(300):
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.1)
        else:
            raise LabError(f"another `hasentinel lab` command holds {state_dir / 'lock'}")
        yield


def _signal(p: Proc, sig: int) -> None:
    if p.matches():
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass


def cleanup(state_dir: Path = STATE_DIR, say: Any = print) -> bool:
    """Stop and remove what the state file records; True if there was anything."""
    path = state_dir / "state.json"
    st = State.load(path)
    if st is None:
        return False
    live = [p for p in st.procs if p.matches()]
    for p in live:
        _signal(p, signal.SIGTERM)  # a supervisor stops its sentinel, then its server
    deadline = time.monotonic() + STOP_WAIT
    for _ in range(int(STOP_WAIT / 0.1) + 1):
        if not any(p.matches() for p in live) or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    for p in live:
        _signal(p, signal.SIGKILL)
    existing = set(list_netns())
    for ns in reversed(st.namespaces):
        if ns in existing:
            delete_netns(ns, PREFIX)  # kills, by PID, what still runs inside our namespace
    left = [ns for ns in st.namespaces if ns in set(list_netns())]
    if left:
        raise LabError(f"could not delete namespaces: {', '.join(left)}")
    path.unlink()
    for host in HOSTS:
        shutil.rmtree(state_dir / host, ignore_errors=True)
    what = "supervisors" if st.flavour == "hasentinel" else f"{st.flavour} processes"
    say(f"lab removed ({len(st.namespaces)} namespaces, {len(live)} {what} stopped)")
    return True


# -- up -----------------------------------------------------------------------------------------


def in_ns(role: str, *cmd: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run `cmd` in the lab namespace of `role` (bounded)."""
    return subprocess.run(
        ["ip", "netns", "exec", ns_name(role), *cmd], capture_output=True, text=True, timeout=timeout
    )


def sentinel_args() -> list[str]:
    """`--sentinel` options for the lab's three sentinels."""
    out: list[str] = []
    for h in HOSTS:
        out += ["--sentinel", f"{host_addr(h)}:{SENTINEL_PORT}"]
    return out


def status(json_out: bool = False) -> subprocess.CompletedProcess[str]:
    """`hasentinel status` from the client namespace against the lab's sentinels."""
    return in_ns(
        CLIENT, str(bin_dir() / "hasentinel"), "status", *sentinel_args(), *(["--json"] if json_out else [])
    )


def vip_holders() -> list[str]:
    """The lab hosts whose eth0 carries the VIP."""
    out = []
    for h in HOSTS:
        js = json.loads(
            ip("-n", ns_name(h), "-j", "-4", "addr", "show", "dev", "eth0", check=False).stdout or "[]"
        )
        if any(a.get("local") == str(VIP.ip) for link in js for a in link.get("addr_info", [])):
            out.append(h)
    return out


def redis_cli(
    *args: str, host: str = str(VIP.ip), port: int = SERVER_PORT
) -> subprocess.CompletedProcess[str]:
    """redis-cli from the client namespace (bounded)."""
    return in_ns(CLIENT, "redis-cli", "-h", host, "-p", str(port), *args, timeout=10)


class _Probe:
    """The lab as the drills' readiness check reads it (`cluster_health`)."""

    hosts = HOSTS
    vip = str(VIP.ip)
    master_name = MASTER
    server_port = SERVER_PORT
    sentinel_port = SENTINEL_PORT

    def run(self, node: str, argv: list[str], timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
        return in_ns(node, *argv, timeout=timeout)


def wait_healthy(timeout: float, procs: list[Proc] | None = None) -> bool:
    """Bounded: `hasentinel status` exits 0 and the drills' readiness check passes: a write
    through the VIP succeeds and every sentinel counts both replicas and both peers (a failover
    leader repoints only the replicas it knows; sentinels learn them from the master's INFO,
    every 10 s)."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout) * 2 + 1):
        dead = [p.host for p in procs or [] if not p.matches()]
        if dead:
            raise LabError(f"a lab process of {', '.join(dead)} exited; see {STATE_DIR}/<host>/*.log")
        try:
            ok = status().returncode == 0 and cluster_health(_Probe()) is None
        except subprocess.TimeoutExpired:
            ok = False
        if ok:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return False


def _spawn(host: str, argv: list[str], env: dict[str, str], log_path: Path) -> Proc:
    """Start `argv` in the namespace of `host` (own session, output to `log_path`)."""
    proc = spawn_in_netns(host, ns_name(host), argv, env, log_path, log_path.parent, tries=50)
    if proc is None:
        raise LabError(f"{argv[0]} for {host} exited at once; see {log_path}")
    return proc


def spawn_in_netns(
    host: str, ns: str, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path, tries: int = 100
) -> Proc | None:
    """Start `argv` in namespace `ns` in its own session, output appended to `log_path`; its
    Proc (pid + start time, to kill it by PID later), or None when it is gone within
    `tries` x 10 ms."""
    with open(log_path, "ab") as log:
        p = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=cwd,
        )
    for _ in range(tries):
        start = proc_start(p.pid)
        if start is not None:
            return Proc(host, p.pid, start)
        time.sleep(0.01)
    return None


def _host_env(d: Path) -> dict[str, str]:
    """The environment the systemd unit gives a host (the VIP hook's settings)."""
    env = {
        **os.environ,
        "HASENTINEL_VIP_CONF": str(d / "etc" / "vip.conf"),
        "HASENTINEL_VIP_LOCK": str(d / "vip.lock"),
        "HASENTINEL_PYTHON": sys.executable,
    }
    env.pop("NOTIFY_SOCKET", None)
    return env


def stock_programs() -> tuple[str, str]:
    """Paths of stock redis-server and redis-sentinel, or a LabError saying how to get them."""
    server, sentinel = shutil.which(STOCK_SERVER), shutil.which(STOCK_SENTINEL)
    if server is None or sentinel is None:
        raise LabError(
            "--flavour stock needs Debian's redis-server and redis-sentinel 7 "
            "(apt-get install redis-server redis-sentinel; scripts/install.sh --test installs them)",
            2,
        )
    return server, sentinel


def up(
    state_dir: Path = STATE_DIR, timeout: float = 60.0, say: Any = print, flavour: str = "hasentinel"
) -> int:
    """Build the lab, start the supervisors (or stock Redis), wait (bounded) until healthy."""
    require_root()
    if flavour not in FLAVOURS:
        raise LabError(f"unknown flavour {flavour!r}: one of {', '.join(FLAVOURS)}", 2)
    stock = stock_programs() if flavour == "stock" else None
    if shutil.which("redis-cli") is None:
        say("note: redis-cli is not installed; `lab exec client redis-cli ...` needs it")
    with locked(state_dir):
        if cleanup(state_dir, say=lambda m: say(f"cleaned a previous lab: {m}")):
            pass
        stray = [ns for ns in list_netns() if ns.startswith(PREFIX)]
        if stray:
            raise LabError(
                f"namespaces {', '.join(stray)} exist but are not in the lab's state; remove them (`ip netns del`)"
            )
        path = state_dir / "state.json"
        seg = Segment(PREFIX, SUBNET)
        st = State([seg.bridge_ns] + [ns_name(r) for r in (*HOSTS, CLIENT)], [], flavour)
        st.save(path)  # intent first: a crash from here on is cleaned by the next up/down
        seg.build_bridge()
        seg.attach(CLIENT, CLIENT_LAST)
        for i, h in enumerate(HOSTS):
            seg.attach(h, i + 1)
        settings = sysctl_settings()
        for h in HOSTS:
            # As systemd-sysctl would at boot, from systemd/sysctl.d/hasentinel.conf
            # (ip_nonlocal_bind: the servers bind the VIP). /proc/sys/net is per namespace:
            # written from inside, it changes only this host's.
            apply_sysctl(h, settings)
        if stock is not None:
            # Stock's hook moves the VIP at a failover only: the operator adds it at first. Ours:
            # host1's sentinel adds it once its lease and the master role are confirmed.
            ip("-n", ns_name(HOSTS[0]), "addr", "add", str(VIP), "dev", "eth0")
        if stock is None:
            configs = write_configs(state_dir)
            for h in HOSTS:
                d = state_dir / h
                argv = [str(bin_dir() / "hasentinel"), "supervise", str(configs[h])]
                st.procs.append(_spawn(h, argv, _host_env(d), d / "supervise.log"))
                st.save(path)
        else:
            # No supervisor in the stock flavour: the lab starts each host's sentinel, then its
            # server (the supervisor's order), and nothing restarts them.
            stock_configs = write_stock_configs(state_dir)
            for h in HOSTS:
                d = state_dir / h
                server_conf, sentinel_conf = stock_configs[h]
                st.procs.append(_spawn(h, [stock[1], str(sentinel_conf)], _host_env(d), d / "sentinel.log"))
                st.save(path)
                st.procs.append(_spawn(h, [stock[0], str(server_conf)], _host_env(d), d / "server.log"))
                st.save(path)
        if not wait_healthy(timeout, st.procs):
            say(status().stdout)
            raise LabError(
                f"the lab did not become healthy within {timeout:.0f} s; logs in {state_dir}/host*/*.log; "
                "`hasentinel lab down` removes it"
            )
    what = "hasentinel supervise" if stock is None else "stock redis-server + redis-sentinel"
    say(
        f"lab up ({flavour}: {what}): 3 hosts on "
        + ", ".join(f"{h} {host_addr(h)}" for h in HOSTS)
        + f"; client {SUBNET.network_address + CLIENT_LAST}\n"
        f"VIP {VIP.ip} (on {', '.join(vip_holders()) or 'nobody'}); master name {MASTER}; "
        f"sentinels on port {SENTINEL_PORT}\n"
        f"  hasentinel lab exec client redis-cli -h {VIP.ip} SET k v\n"
        "  hasentinel lab status\n"
        "  hasentinel lab exec host1 <cmd>\n"
        "  hasentinel lab down"
    )
    return 0


def down(state_dir: Path = STATE_DIR, say: Any = print) -> int:
    """Remove the lab (also a crashed one)."""
    require_root()
    with locked(state_dir):
        if not cleanup(state_dir, say=say):
            say("no lab to remove")
    return 0


def lab_status(json_out: bool = False, say: Any = print) -> int:
    """`hasentinel status` against the lab's sentinels, plus the VIP holder."""
    require_root()
    if State.load(STATE_DIR / "state.json") is None:
        raise LabError("no lab is running (`hasentinel lab up`)", 2)
    st = State.load(STATE_DIR / "state.json")
    r = status(json_out)
    if not json_out and st is not None and st.flavour != "hasentinel":
        say(f"flavour: {st.flavour}")
    say(r.stdout.rstrip("\n"))
    if r.stderr.strip():
        say(r.stderr.rstrip("\n"))
    if not json_out:
        say(f"VIP {VIP.ip}: {', '.join(vip_holders()) or 'on no host'}")
    return r.returncode


def lab_exec(host: str, cmd: list[str]) -> int:
    """Run `cmd` inside the namespace of `host` (host1..3 or client)."""
    require_root()
    if host not in (*HOSTS, CLIENT):
        raise LabError(f"unknown lab host {host!r}: one of {', '.join((*HOSTS, CLIENT))}", 2)
    if not cmd:
        raise LabError("nothing to run", 2)
    if ns_name(host) not in list_netns():
        raise LabError("no lab is running (`hasentinel lab up`)", 2)
    os.execvp("ip", ["ip", "netns", "exec", ns_name(host), *cmd])
