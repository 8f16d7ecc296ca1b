"""`hasentinel lab`: config generation and state (no privilege), and the real lab (marker netns).

The netns tests build the real lab (namespaces hslab-*, state in /run/hasentinel-lab/), so they
skip when a lab is already up rather than tearing down someone's lab. Every test that builds one
removes it at the end (`lab down`, then the module's cleanup as a fallback).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinel.lab import lab
from sentinel.lab.netns import list_netns, netns_pids

HASENTINEL = str(Path(sys.executable).parent / "hasentinel")


# -- no privilege -------------------------------------------------------------------------------


def test_configs_are_the_examples_with_lab_addresses(tmp_path: Path) -> None:
    configs = lab.write_configs(tmp_path)
    assert set(configs) == {"host1", "host2", "host3"}
    host2 = configs["host2"].read_text()
    assert 'address = "10.251.0.2"' in host2
    assert '"10.251.0.1:26379", "10.251.0.3:26379"' in host2
    assert f'config = "{tmp_path}/host2/etc/server.conf"' in host2
    assert f'data_dir = "{tmp_path}/host2/data"' in host2
    for h in ("host1", "host2", "host3"):
        text = "".join(p.read_text() for p in (tmp_path / h / "etc").iterdir())
        assert "10.0.0." not in text and "/etc/hasentinel" not in text and "/opt/hasentinel" not in text
    server = (tmp_path / "host2" / "etc" / "server.conf").read_text()
    assert "bind 10.251.0.2 10.251.0.100 127.0.0.1" in server  # the example's own bind line
    assert "replicaof 10.251.0.1 6379" in server
    sentinel = (tmp_path / "host3" / "etc" / "sentinel.conf").read_text()
    assert "sentinel monitor mymaster 10.251.0.1 6379 2" in sentinel
    assert "client-reconfig-script" not in sentinel  # the sentinels own the VIP
    assert "sentinel vip mymaster 10.251.0.100/24 eth0" in sentinel
    assert "sentinel vip-local-server mymaster 10.251.0.3 6379" in sentinel
    vip = (tmp_path / "host1" / "etc" / "vip.conf").read_text()
    assert "vip = 10.251.0.100/24" in vip and "interface = eth0" in vip


def test_configs_are_byte_for_byte_the_examples_but_addresses_and_paths(tmp_path: Path) -> None:
    """No lab-only edits: each generated file is its example with only the documented substitutions."""
    lab.write_configs(tmp_path)
    for h in ("host1", "host2", "host3"):
        for name in ("host.toml", "server.conf", "sentinel.conf"):
            example = (lab.EXAMPLES / h / name).read_text()
            got = (tmp_path / h / "etc" / name).read_text()
            assert got == lab.render_example(example, tmp_path / h)
            assert len(got.splitlines()) == len(example.splitlines())


def test_sysctl_settings_are_the_shipped_snippet() -> None:
    assert lab.sysctl_settings() == {"net.ipv4.ip_nonlocal_bind": "1"}


def test_state_file_round_trip_and_pid_matching(tmp_path: Path) -> None:
    me = lab.Proc("host1", os.getpid(), lab.proc_start(os.getpid()) or -1)
    assert me.matches()
    assert not lab.Proc("host1", os.getpid(), me.start + 1).matches()  # a reused PID does not match
    st = lab.State(["hslab-br", "hslab-host1"], [me])
    st.save(tmp_path / "state.json")
    back = lab.State.load(tmp_path / "state.json")
    assert back == st
    assert lab.State.load(tmp_path / "missing.json") is None


def test_without_root_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(lab.LabError) as e:
        lab.require_root()
    assert e.value.code == 2 and "needs root" in str(e.value) and "ip netns" in str(e.value)


def test_cli_without_root_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from sentinel.cli.app import app

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for cmd in (["up"], ["down"], ["status"], ["exec", "client", "true"]):
        r = CliRunner().invoke(app, ["lab", *cmd])
        assert r.exit_code == 2, (cmd, r.output)
        assert "needs root" in r.output


# -- the real lab -------------------------------------------------------------------------------


def _unavailable() -> str | None:
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "the lab needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if shutil.which("redis-cli") is None:
        return "redis-cli is not installed"
    probe = "hslab-probe"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=15)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, text=True, timeout=15)
    if r.returncode != 0:
        return f"`ip netns add` does not work here: {r.stderr.strip()}"
    if (lab.STATE_DIR / "state.json").exists() or any(n.startswith(lab.PREFIX) for n in list_netns()):
        return "a hasentinel lab is already up here; not touching it"
    return None


@pytest.fixture
def real_lab() -> Iterator[None]:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    try:
        yield
    finally:
        subprocess.run([HASENTINEL, "lab", "down"], capture_output=True, text=True, timeout=60)
        if (lab.STATE_DIR / "state.json").exists():
            lab.cleanup(say=lambda m: None)


def _cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HASENTINEL, "lab", *args], capture_output=True, text=True, timeout=timeout)


def _lab_pids() -> list[int]:
    """Processes inside the lab's namespaces, or whose command line names the lab's directory."""
    pids = {p for ns in list_netns() if ns.startswith(lab.PREFIX) for p in netns_pids(ns)}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if str(lab.STATE_DIR).encode() in (d / "cmdline").read_bytes():
                    pids.add(int(d.name))
            except OSError:
                pass
    return sorted(pids)


def _assert_gone() -> None:
    assert not [n for n in list_netns() if n.startswith(lab.PREFIX)]
    assert _lab_pids() == []
    assert not (lab.STATE_DIR / "state.json").exists()


def _write_via_vip(value: str, timeout: float = 10) -> str:
    """One SET through the VIP; a connect that hangs is a failed attempt, as for any client.

    While no host holds the VIP (between the old holder's release and the new one's GARP), the
    client's SYNs go to the old host's MAC and vanish; redis-cli (7.0 has no connect timeout) then
    sits in TCP's SYN backoff (1, 3, 7, 15 s), so callers retry with a short bound instead.
    """
    try:
        r = subprocess.run(
            ["ip", "netns", "exec", "hslab-client", "redis-cli", "-h", str(lab.VIP.ip), "SET", "k", value],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return f"no answer within {timeout} s"
    return r.stdout.strip() or r.stderr.strip()


def _proc_pids(host: str, needle: str) -> list[int]:
    out = []
    for pid in netns_pids(lab.ns_name(host)):
        try:
            if needle.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                out.append(pid)
        except OSError:
            pass
    return out


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.netns
def test_lab_up_write_failover_down(real_lab: None) -> None:
    t0 = time.monotonic()
    r = _cli("up", "--timeout", "45")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"redis-cli -h {lab.VIP.ip}" in r.stdout
    assert lab.vip_holders() == ["host1"]
    assert _write_via_vip("one") == "OK"
    for _ in range(10):  # healthy at `up`; allow a moment's DEGRADED (bounded)
        r = _cli("status", timeout=60)
        if r.returncode == 0:
            break
        time.sleep(1)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "VIP 10.251.0.100: host1" in r.stdout

    # The master's host loses its supervisor and server at once (kill -9 inside the namespace;
    # the sentinel follows by PDEATHSIG): the other two sentinels fail over, the VIP moves.
    st = lab.State.load(lab.STATE_DIR / "state.json")
    assert st is not None
    sup = [p.pid for p in st.procs if p.host == "host1" and p.matches()]
    srv = _proc_pids("host1", "hasentinel-server")
    assert sup and srv
    _kill(sup + srv)
    killed = time.monotonic()
    got = ""
    for _ in range(60):
        got = _write_via_vip("two", timeout=3)
        if got == "OK" or time.monotonic() - killed > 40:
            break
        time.sleep(0.5)
    assert got == "OK", f"no write through the VIP within 40 s of the kill: {got}"
    holders: list[str] = []
    for _ in range(20):  # the reconfig scripts may still be running (bounded)
        holders = [h for h in lab.vip_holders() if h != "host1"]
        if len(holders) == 1:
            break
        time.sleep(0.5)
    assert len(holders) == 1, holders
    r = subprocess.run(
        ["ip", "netns", "exec", "hslab-client", "redis-cli", "-h", str(lab.VIP.ip), "ROLE"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert r.stdout.splitlines()[:1] == ["master"], r.stdout + r.stderr

    r = _cli("down", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    _assert_gone()
    assert time.monotonic() - t0 < 120


@pytest.mark.netns
def test_crashed_lab_is_cleaned_by_up_and_down(real_lab: None) -> None:
    r = _cli("up", "--timeout", "45")
    assert r.returncode == 0, r.stdout + r.stderr
    # A crash: every lab process dies abruptly, the namespaces and the state file stay.
    _kill(_lab_pids())
    time.sleep(0.5)
    assert [n for n in list_netns() if n.startswith(lab.PREFIX)]
    r = _cli("up", "--timeout", "45")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "cleaned a previous lab" in r.stdout
    assert _write_via_vip("after-crash") == "OK"
    # Again, only the supervisors this time (their children stay inside the namespaces for a moment).
    st = lab.State.load(lab.STATE_DIR / "state.json")
    assert st is not None
    _kill([p.pid for p in st.procs])
    r = _cli("down", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    _assert_gone()


# -- the stock flavour ---------------------------------------------------------------------------


def test_stock_configs_are_the_examples_plus_port_and_dir(tmp_path: Path) -> None:
    configs = lab.write_stock_configs(tmp_path)
    assert set(configs) == {"host1", "host2", "host3"}
    server, sentinel = configs["host2"]
    example = lab.render_example((lab.EXAMPLES / "host2" / "server.conf").read_text(), tmp_path / "host2")
    assert server.read_text().startswith(example)
    assert server.read_text().endswith(f"port 6379\ndir {tmp_path}/host2/data\n")
    text = sentinel.read_text()
    assert "sentinel monitor mymaster 10.251.0.1 6379 2" in text
    assert f"client-reconfig-script mymaster {lab.reconfig_script()}" in text
    assert "sentinel vip" not in text  # stock does not know the ownership rule
    assert "known-sentinel" not in text and "sentinel myid" not in text  # stock discovers its peers
    assert text.endswith(f"port 26379\ndir {tmp_path}/host2/sentinel\n")
    assert "vip = 10.251.0.100/24" in (tmp_path / "host2" / "etc" / "vip.conf").read_text()


def test_unknown_flavour_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from sentinel.cli.app import app

    monkeypatch.setattr(lab, "require_root", lambda: None)
    r = CliRunner().invoke(app, ["lab", "up", "--flavour", "valkey"])
    assert r.exit_code == 2 and "unknown flavour 'valkey'" in r.output


def _stock_pids(host: str, program: str) -> list[int]:
    out = []
    for pid in netns_pids(lab.ns_name(host)):
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        # stock Redis rewrites its title: "/usr/bin/redis-server 10.251.0.1:6379"
        if argv0 and os.path.basename(argv0.decode().split()[0]) == program:
            out.append(pid)
    return out


@pytest.mark.netns
def test_stock_lab_kill_master_moves_the_vip(real_lab: None) -> None:
    """Stock redis-server + redis-sentinel in the same namespaces: kill -9 of host1's server,
    the stock sentinels fail over (down-after 5 s) and vip-reconfig moves the VIP."""
    if shutil.which("redis-server") is None or shutil.which("redis-sentinel") is None:
        pytest.skip("stock redis-server / redis-sentinel are not installed (scripts/install.sh --test)")
    r = _cli("up", "--flavour", "stock", "--timeout", "45")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "lab up (stock" in r.stdout
    st = lab.State.load(lab.STATE_DIR / "state.json")
    assert st is not None and st.flavour == "stock" and len(st.procs) == 6
    assert lab.vip_holders() == ["host1"]
    assert _write_via_vip("one") == "OK"
    assert not _proc_pids("host1", "hasentinel")  # nothing of ours runs on the hosts

    srv = _stock_pids("host1", "redis-server")
    assert len(srv) == 1
    _kill(srv)
    killed = time.monotonic()
    got = ""
    for _ in range(80):
        got = _write_via_vip("two", timeout=3)
        if got == "OK" or time.monotonic() - killed > 40:
            break
        time.sleep(0.5)
    assert got == "OK", f"no write through the VIP within 40 s of the kill: {got}"
    holders: list[str] = []
    for _ in range(20):
        holders = lab.vip_holders()
        if len(holders) == 1 and holders != ["host1"]:
            break
        time.sleep(0.5)
    assert len(holders) == 1 and holders != ["host1"], holders
    r = subprocess.run(
        ["ip", "netns", "exec", "hslab-client", "redis-cli", "-h", str(lab.VIP.ip), "ROLE"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert r.stdout.splitlines()[:1] == ["master"], r.stdout + r.stderr
    r = _cli("status", timeout=60)
    assert "flavour: stock" in r.stdout and f"VIP 10.251.0.100: {holders[0]}" in r.stdout

    r = _cli("down", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stock processes stopped" in r.stdout
    _assert_gone()
