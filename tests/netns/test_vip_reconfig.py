"""scripts/vip-reconfig run as Sentinel runs it, in every host namespace of a lab."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import time
from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from tests.netns.conftest import REPO, Host, Lab

pytestmark = pytest.mark.netns

SCRIPT = str(REPO / "scripts" / "vip-reconfig")
FAST = {  # short GARP timings so the repeat burst lands within the test
    "HASENTINEL_VIP_GARP_BURST_COUNT": "3",
    "HASENTINEL_VIP_GARP_BURST_INTERVAL": "100ms",
    "HASENTINEL_VIP_GARP_REPEAT_DELAY": "1s",
    "HASENTINEL_VIP_GARP_REPEAT_COUNT": "2",
}


class Reconfig:
    """Runs the script in lab hosts with a VIP configuration; reaps the repeat announcers."""

    def __init__(self, lab: Lab, tmp: Path, vip: IPv4Interface, **extra: str) -> None:
        self.lab = lab
        self.env = {"HASENTINEL_VIP": str(vip), "HASENTINEL_VIP_IFACE": "eth0", **FAST, **extra}
        self.tmp = tmp
        self.announcers: list[int] = []

    def run(
        self, host: Host, *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
    ) -> tuple[int, str]:
        """One invocation in `host`'s namespace (its own lock file, as on a separate machine)."""
        e = {**self.env, "HASENTINEL_VIP_LOCK": str(self.tmp / f"{host.name}.lock"), **(env or {})}
        r = host.run(*prefix, SCRIPT, *args, env=e, check=False, timeout=30)
        self.announcers += [int(p) for p in re.findall(r"repeat announcer pid (\d+)", r.stderr)]
        return r.returncode, r.stderr

    def failover(self, old: Host, new: Host) -> dict[str, tuple[int, str]]:
        """What every sentinel host runs after `+switch-master` from `old` to `new`."""
        argv = ("mymaster", "observer", "start", str(old.ip_addr), "6379", str(new.ip_addr), "6379")
        return {h.name: self.run(h, *argv) for h in self.lab.hosts}

    def wait_announcers(self, timeout: float = 10.0) -> None:
        """The detached helpers exit by themselves; wait (bounded), kill by PID if they do not."""
        deadline = time.monotonic() + timeout
        for pid in self.announcers:
            for _ in range(int(timeout / 0.05) + 1):
                if not _alive(pid) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"repeat announcer {pid} did not exit by itself")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped by init) counts as exited.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_failover_moves_the_vip_announces_it_and_releases_it_elsewhere(lab: Lab, tmp_path: Path) -> None:
    a, b, c = lab.hosts
    vip = lab.vip()
    rc = Reconfig(lab, tmp_path, vip)

    res = rc.failover(c, a)
    assert {k: v[0] for k, v in res.items()} == dict.fromkeys(res, 0), res
    assert lab.holders(vip) == [a.name]
    assert "is this host; added" in res[a.name][1]
    assert "is elsewhere" in res[b.name][1]
    assert lab.ping(vip) and (e := lab.neigh(vip)) is not None and e.lladdr == a.mac
    rc.wait_announcers()

    with lab.capture() as cap:
        res = rc.failover(a, b)
        assert {k: v[0] for k, v in res.items()} == dict.fromkeys(res, 0), res
        assert lab.holders(vip) == [b.name]
        assert "removed" in res[a.name][1] and "not on eth0" in res[c.name][1]
        # The client follows without sending anything itself: the GARPs repoint its cache.
        e = lab.wait_neigh_mac(vip, b.mac, timeout=3)
        assert e is not None and e.lladdr == b.mac, e
        frames = cap.wait_for(
            lambda f: not f.outgoing and f.arp is not None and f.arp.gratuitous and f.arp.sender_ip == vip.ip,
            count=5,
            timeout=5,
        )
    rc.wait_announcers()
    assert [f.arp.eth_src for f in frames if f.arp] == [b.mac] * 5
    offsets = [f.t - frames[0].t for f in frames]
    assert offsets[2] < 0.5 and 0.8 < offsets[3] < 2.0, offsets  # burst of 3, repeat of 2 ~1 s later
    assert lab.ping(vip)

    # Sentinel may run it again (retries, observers): nothing changes, still exit 0.
    res = rc.failover(a, b)
    assert {k: v[0] for k, v in res.items()} == dict.fromkeys(res, 0), res
    assert "already had" in res[b.name][1]
    assert lab.holders(vip) == [b.name]
    rc.wait_announcers()


def test_config_file_and_error_exits(lab: Lab, tmp_path: Path) -> None:
    a, b, _ = lab.hosts
    vip = lab.vip()
    conf = tmp_path / "vip.conf"
    conf.write_text(
        f"# lab VIP\nvip = {vip}\ninterface = eth0\ngarp_repeat_count = 0\ngarp_burst_interval = 50ms\n"
    )
    rc = Reconfig(lab, tmp_path, vip)
    file_only = {"HASENTINEL_VIP": "", "HASENTINEL_VIP_IFACE": "", "HASENTINEL_VIP_GARP_REPEAT_COUNT": ""}
    code, err = rc.run(
        a,
        "m",
        "leader",
        "start",
        str(b.ip_addr),
        "1",
        str(a.ip_addr),
        "1",
        env={**file_only, "HASENTINEL_VIP_CONF": str(conf)},
    )
    assert code == 0 and "added" in err and "repeat announcer" not in err, err
    assert lab.holders(vip) == [a.name]

    # Installed by symlink (e.g. /usr/local/bin/vip-reconfig): still finds the project's Python.
    link = tmp_path / "bin" / "vip-reconfig"
    link.parent.mkdir()
    link.symlink_to(SCRIPT)
    r = a.run(str(link), "--help", check=False, env={"HASENTINEL_PYTHON": ""})
    assert r.returncode == 0 and "usage: vip-reconfig" in r.stdout, r.stderr

    code, err = rc.run(a, "m", "leader", "start")
    assert code == 2 and "expected 7 arguments" in err and "usage:" in err
    code, err = rc.run(a, "m", "leader", "start", "x", "port", str(a.ip_addr), "1")
    assert code == 2 and "from-port 'port' is not a port number" in err
    code, err = rc.run(a, "m", "l", "f", str(b.ip_addr), "1", str(vip.ip), "1")
    assert code == 2 and "is the VIP itself" in err
    code, err = rc.run(
        a, "m", "l", "f", str(b.ip_addr), "1", str(a.ip_addr), "1", env={"HASENTINEL_VIP_IFACE": "nope0"}
    )
    assert code == 2 and "interface 'nope0' does not exist" in err, err
    # A host that is not the new master has nothing on a missing interface: done.
    code, err = rc.run(
        b, "m", "l", "f", str(b.ip_addr), "1", str(a.ip_addr), "1", env={"HASENTINEL_VIP_IFACE": "nope0"}
    )
    assert code == 0, err
    code, err = rc.run(a, "m", "l", "f", str(b.ip_addr), "1", str(a.ip_addr), "1", env={"HASENTINEL_VIP": ""})
    assert code == 2 and "no VIP configured" in err
    bad = tmp_path / "bad.conf"
    bad.write_text("vip = 10.250.1.100/24\ninterfce = eth0\n")
    code, err = rc.run(
        a,
        "m",
        "l",
        "f",
        str(b.ip_addr),
        "1",
        str(a.ip_addr),
        "1",
        env={**file_only, "HASENTINEL_VIP_CONF": str(bad)},
    )
    assert code == 2 and "bad.conf:2: unknown key 'interfce'" in err
    assert lab.holders(vip) == [a.name]


def test_a_busy_lock_asks_for_a_retry(lab: Lab, tmp_path: Path) -> None:
    a, b, _ = lab.hosts
    vip = lab.vip()
    rc = Reconfig(lab, tmp_path, vip)
    lock = tmp_path / f"{a.name}.lock"
    # This test process holds the host's lock, as a long-running earlier invocation would.
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code, err = rc.run(
            a,
            "m",
            "l",
            "f",
            str(b.ip_addr),
            "1",
            str(a.ip_addr),
            "1",
            env={"HASENTINEL_VIP_LOCK_WAIT": "0.5"},
        )
    assert code == 1 and "Sentinel will retry" in err, err
    assert lab.holders(vip) == []


def _cap_drop(*caps: str) -> tuple[str, ...]:
    """A command prefix that runs the rest without `caps` (root stays root otherwise)."""
    if shutil.which("setpriv"):
        drop = ",".join(f"-{c}" for c in caps)
        return ("setpriv", "--inh-caps=-all", f"--bounding-set={drop}")
    if shutil.which("capsh"):  # bounding set only; bash then execs the command
        return ("capsh", "--drop=" + ",".join(f"cap_{c}" for c in caps), "--", "-c", '"$0" "$@"')
    pytest.skip("neither setpriv nor capsh is installed: cannot drop capabilities")


def test_missing_capabilities_are_final_errors_naming_the_capability(lab: Lab, tmp_path: Path) -> None:
    a, b, _ = lab.hosts
    vip = lab.vip()
    rc = Reconfig(lab, tmp_path, vip)
    argv = ("m", "l", "f", str(b.ip_addr), "1", str(a.ip_addr), "1")
    code, err = rc.run(a, *argv, prefix=_cap_drop("net_admin"))
    assert code == 2 and "needs CAP_NET_ADMIN" in err, err
    assert lab.holders(vip) == []
    code, err = rc.run(a, *argv, prefix=_cap_drop("net_raw"))
    assert code == 2 and "needs CAP_NET_RAW" in err, err
    # With both capabilities it works (and the address added above is kept).
    code, err = rc.run(a, *argv)
    assert code == 0 and "already had" in err, err
    rc.wait_announcers()
