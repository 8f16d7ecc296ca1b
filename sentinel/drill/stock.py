"""`StockNetnsLab`: the drills' namespace lab running stock Redis, for side-by-side runs.

The same as NetnsLab (sentinel/drill/netns.py: namespaces, tc cuts, netem, power off/on, the
drill's profile) but each host runs Debian's stock `redis-server` and `redis-sentinel` 7 instead
of `hasentinel supervise`, like `hasentinel lab up --flavour stock` (docs/lab.md): the example
configs with the lab's addresses plus port and dir, down-after / failover-timeout from the
profile, and the VIP moved by the same hook, `hasentinel-vip-reconfig` (scripts/vip-reconfig),
as the sentinels' `client-reconfig-script`. That is the stock deployment the VIP docs describe
(docs/vip.md, "What hooks cannot fix").

The process manager is what Debian's units give stock Redis: `Restart=always`, each of
redis-server and redis-sentinel restarted `restart_delay` seconds after it exits (systemd's
RestartSec, 100 ms by default there). Here it is a shell loop per process (`sh -c 'while :; do
...; sleep D; done' hsstock-restart ...`), and those loops are the "supervisor" service of the
drills (`kill(host, "supervisor")`, power off). With 100 ms a killed master is back before the
sentinels' down-after and no failover happens; scripts/side_by_side.py uses a longer delay to
compare failovers (its --help). Its own prefix, subnet and state directory, so it never touches
NetnsLab's namespaces.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

from sentinel.drill.backend import Service
from sentinel.drill.netns import EXAMPLES, REPO, DrillLabError, NetnsLab, _cmdline
from sentinel.lab.lab import for_stock_sentinel
from sentinel.lab.netns import netns_pids

PROGRAMS: dict[str, str] = {"server": "redis-server", "sentinel": "redis-sentinel"}
RESTART_TAG = "hsstock-restart"
RESTART_LOOP = 'd=$1; shift; while :; do "$@"; sleep "$d"; done'
STOCK_SUBNET = IPv4Network("10.253.0.0/24")


def stock_program(argv: list[str]) -> str | None:
    """`redis-server` / `redis-sentinel` for a stock process's command line (stock Redis rewrites
    its title to e.g. "/usr/bin/redis-server 10.253.0.1:6379"), else None."""
    if not argv:
        return None
    name = os.path.basename(argv[0].split()[0]) if argv[0].split() else ""
    return name if name in PROGRAMS.values() else None


def is_restart_loop(argv: list[str]) -> bool:
    """The command line of one of our restart loops."""
    return argv[:4] == ["sh", "-c", RESTART_LOOP, RESTART_TAG]


@dataclass
class StockNetnsLab(NetnsLab):
    """A LabBackend in network namespaces running stock redis-server + redis-sentinel."""

    prefix: str = "hsstock-"
    subnet: IPv4Network = STOCK_SUBNET
    state_dir: Path = Path("/run/hasentinel-drill-stock")
    name: str = "netns-stock"
    restart_delay: float = 0.1  # systemd's RestartSec for Debian's Restart=always units

    def reconfig_script(self) -> Path:
        """The VIP hook: the venv's `hasentinel-vip-reconfig`, else scripts/vip-reconfig."""
        installed = self.bin_dir() / "hasentinel-vip-reconfig"
        return installed if installed.exists() else REPO / "scripts" / "vip-reconfig"

    def write_configs(self, root: Path) -> dict[str, Path]:
        """server.conf, sentinel.conf and vip.conf per host; returns host -> server.conf."""
        p, m = self.profile, self.master_name
        out: dict[str, Path] = {}
        for host in self.hosts:
            d = root / host
            for sub in ("etc", "data", "sentinel"):
                (d / sub).mkdir(parents=True, exist_ok=True)
            server = self._render((EXAMPLES / host / "server.conf").read_text(), d)
            server += f"\n# stock (drill)\nport {self.server_port}\ndir {d}/data\n"
            sentinel = []
            text = for_stock_sentinel(
                self._render((EXAMPLES / host / "sentinel.conf").read_text(), d), m, self.reconfig_script()
            )
            for line in text.splitlines():
                if line.startswith(f"sentinel down-after-milliseconds {m} "):
                    line = f"sentinel down-after-milliseconds {m} {p.down_after_ms}"
                elif line.startswith(f"sentinel failover-timeout {m} "):
                    line = f"sentinel failover-timeout {m} {p.failover_timeout_ms}"
                sentinel.append(line)
            sentinel += ["# stock (drill)", f"port {self.sentinel_port}", f"dir {d}/sentinel"]
            (d / "etc" / "server.conf").write_text(server)
            (d / "etc" / "sentinel.conf").write_text("\n".join(sentinel) + "\n")
            (d / "etc" / "vip.conf").write_text(f"vip = {self.vip_iface}\ninterface = eth0\n")
            out[host] = d / "etc" / "server.conf"
        return out

    def _spawn_stock(self, host: str, program: str, conf: Path) -> None:
        assert self._state is not None
        exe = shutil.which(program)
        if exe is None:
            raise DrillLabError(f"{program} is not installed (apt-get install redis-server redis-sentinel)")
        d = self.state_dir / host
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        env.update(
            HASENTINEL_PYTHON=self.python,
            HASENTINEL_VIP_CONF=str(d / "etc" / "vip.conf"),
            HASENTINEL_VIP_LOCK=str(d / "vip.lock"),
        )
        log_path = d / f"{program}.log"
        loop = ["sh", "-c", RESTART_LOOP, RESTART_TAG, str(self.restart_delay), exe, str(conf)]
        self._spawn(host, loop, env, log_path, program)

    def _start_supervisor(self, host: str) -> None:
        """The restart loops (the units) of the sentinel, then of the server."""
        etc = self.state_dir / host / "etc"
        self._spawn_stock(host, "redis-sentinel", etc / "sentinel.conf")
        self._spawn_stock(host, "redis-server", etc / "server.conf")

    def service_pids(self, host: str, service: Service) -> list[int]:
        pids = netns_pids(self.ns(host))
        if service == "supervisor":
            return [pid for pid in pids if is_restart_loop(_cmdline(pid))]
        return [pid for pid in pids if stock_program(_cmdline(pid)) == PROGRAMS[service]]
