"""Unit tests of the VIP building blocks that need no privilege: the GARP frame, the announcement
policy (fake clock) and its Trio task (MockClock), settings, and vip-reconfig's decisions (fake
address manager). Nothing here changes the machine's network."""

from __future__ import annotations

import os
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import pytest
import trio
import trio.testing

from sentinel.vip import reconfig
from sentinel.vip.announce import Announcer, GarpAnnouncer
from sentinel.vip.config import (
    GarpTiming,
    VipConfig,
    VipConfigError,
    load_vip_config,
    parse_vip,
    vip_configured,
)
from sentinel.vip.errors import CapabilityMissing, InterfaceMissing, VipError
from sentinel.vip.garp import GarpResult, build_garp, interface_flags, mac_bytes, parse_arp
from sentinel.vip.netlink import AddressManager

VIP = IPv4Address("10.250.1.100")
MAC = "02:00:0a:fa:01:0c"

# -- frame ------------------------------------------------------------------------------------------


def test_garp_frame_exact_bytes() -> None:
    expected = bytes.fromhex(
        "ffffffffffff"  # Ethernet dst: broadcast
        "02000afa010c"  # Ethernet src: our MAC
        "0806"  # ETH_P_ARP
        "0001"  # htype Ethernet
        "0800"  # ptype IPv4
        "06"  # hlen
        "04"  # plen
        "0001"  # op: request
        "02000afa010c"  # sender MAC
        "0afa0164"  # sender IP = VIP
        "ffffffffffff"  # target MAC: broadcast (as keepalived)
        "0afa0164"  # target IP = VIP
    )
    assert build_garp(MAC, VIP) == expected
    assert build_garp(mac_bytes(MAC), VIP) == expected
    assert len(expected) == 42


def test_parse_arp_roundtrip_and_rejects() -> None:
    f = parse_arp(build_garp(MAC, VIP) + b"\0" * 18)
    assert (f.eth_dst, f.eth_src, f.ethertype) == ("ff:ff:ff:ff:ff:ff", MAC, 0x0806)
    assert (f.htype, f.ptype, f.hlen, f.plen, f.op) == (1, 0x0800, 6, 4, 1)
    assert (f.sender_mac, f.sender_ip, f.target_mac, f.target_ip) == (MAC, VIP, "ff:ff:ff:ff:ff:ff", VIP)
    assert f.gratuitous
    with pytest.raises(ValueError, match="too short"):
        parse_arp(b"\xff" * 20)
    ip_frame = bytearray(build_garp(MAC, VIP))
    ip_frame[12:14] = b"\x08\x00"
    with pytest.raises(ValueError, match="not an ARP frame"):
        parse_arp(bytes(ip_frame))
    for bad in ("02:00:0a:fa:01", "zz:00:00:00:00:00"):
        with pytest.raises(ValueError):
            mac_bytes(bad)
    with pytest.raises(ValueError):
        mac_bytes(b"\x01\x02")


def test_interface_flags_without_privilege() -> None:
    assert interface_flags("lo") & 0x1  # IFF_UP
    for name in ("nope0", "", "x" * 16, "a/b"):
        with pytest.raises(InterfaceMissing):
            interface_flags(name)


def test_address_manager_reads_without_changing_anything() -> None:
    mgr = AddressManager()
    assert IPv4Interface("127.0.0.1/8") in mgr.addresses("lo")
    assert IPv4Address("127.0.0.1") in mgr.local_addresses()
    assert [h.ifname for h in mgr.holders(IPv4Address("127.0.0.1"))] == ["lo"]
    with pytest.raises(InterfaceMissing, match="'nope0' does not exist"):
        mgr.addresses("nope0")
    missing = f"hsvip-{os.getpid()}-no-such-ns"
    with pytest.raises(VipError, match="does not exist"):
        AddressManager(netns=missing).addresses("lo")
    assert not os.path.exists(f"/var/run/netns/{missing}")  # not created as a side effect


def test_capability_message_names_the_capability() -> None:
    e = CapabilityMissing("CAP_NET_RAW", "sending gratuitous ARP on eth0")
    assert str(e).startswith(
        "sending gratuitous ARP on eth0 needs CAP_NET_RAW: run as root or grant CAP_NET_RAW"
    )
    assert e.capability == "CAP_NET_RAW"


# -- policy -----------------------------------------------------------------------------------------


def drive(a: Announcer, until: float, now: float) -> list[float]:
    """Jump from deadline to deadline (bounded), collecting send times."""
    times: list[float] = []
    for _ in range(10000):
        d = a.next_deadline()
        if d is None or d > until:
            break
        now = max(now, d)
        times += [now] * a.due(now)
    return times


def test_default_schedule_burst_repeat_refresh() -> None:
    a = Announcer()
    assert a.next_deadline() is None and a.due(50) == 0
    assert a.acquire(100)
    want = [100, 100.2, 100.4, 100.6, 100.8, 105, 105.2, 105.4, 105.6, 105.8, 135.8, 165.8, 195.8]
    assert drive(a, 200, 100) == pytest.approx(want)
    assert a.next_deadline() == pytest.approx(225.8)


def test_acquire_is_idempotent_and_release_stops_everything() -> None:
    a = Announcer()
    a.acquire(0)
    assert a.due(0) == 1
    assert not a.acquire(0.1)  # already held: no new burst
    assert drive(a, 1, 0) == pytest.approx([0.2, 0.4, 0.6, 0.8])
    a.release(2)
    assert a.next_deadline() is None and a.due(1000) == 0 and not a.held


def test_contest_pauses_and_settle_reannounces() -> None:
    a = Announcer()
    a.acquire(0)
    assert a.due(0) == 1
    a.contest(0.1)
    assert a.next_deadline() is None and a.due(10) == 0
    assert a.settle(20)
    assert drive(a, 30, 20) == pytest.approx([20, 20.2, 20.4, 20.6, 20.8, 25, 25.2, 25.4, 25.6, 25.8])
    assert a.next_deadline() == pytest.approx(55.8)
    assert not a.settle(21)  # not contested any more

    b = Announcer()
    b.contest(0)
    assert not b.acquire(1)  # held, but quiet while disputed
    assert b.held and b.next_deadline() is None
    assert b.settle(3) and b.due(3) == 1
    b.release(4)
    b.contest(5)
    assert not b.settle(6) and b.next_deadline() is None


def test_reannounce_coalesces_during_the_first_burst() -> None:
    a = Announcer()
    assert not a.reannounce(0)  # not held
    a.acquire(0)
    assert not a.reannounce(0.5)  # first burst still running
    assert drive(a, 10, 0)[-1] == pytest.approx(5.8)
    assert a.reannounce(12)
    assert drive(a, 20, 12) == pytest.approx([12, 12.2, 12.4, 12.6, 12.8, 17, 17.2, 17.4, 17.6, 17.8])
    assert a.next_deadline() == pytest.approx(47.8)


def test_a_stall_sends_what_was_due_once_and_skips_missed_refreshes() -> None:
    a = Announcer()
    a.acquire(0)
    assert a.due(500) == 11  # 10 burst frames + one refresh, not one per missed refresh
    assert a.next_deadline() == pytest.approx(515.8)


def test_configurable_counts_and_intervals() -> None:
    t = GarpTiming(
        burst_count=2,
        burst_interval=0.5,
        repeat_delay=3,
        repeat_count=1,
        refresh_interval=10,
        refresh_count=2,
    )
    a = Announcer(t)
    a.acquire(0)
    assert drive(a, 30, 0) == pytest.approx([0, 0.5, 3, 13, 13.5, 23, 23.5])
    quiet = Announcer(GarpTiming(repeat_count=0, refresh_interval=0))
    quiet.acquire(0)
    assert drive(quiet, 1000, 0) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])
    assert quiet.next_deadline() is None
    for bad in (
        {"burst_count": -1},
        {"burst_interval": float("nan")},
        {"refresh_interval": -1},
        {"repeat_count": 101},
    ):
        with pytest.raises(ValueError):
            GarpTiming(**bad)


async def test_trio_task_runs_the_policy(autojump_clock: trio.testing.MockClock) -> None:
    sent: list[float] = []
    fail = [False]

    async def fake_send(n: int) -> int:
        if fail[0]:
            raise CapabilityMissing("CAP_NET_RAW", "sending gratuitous ARP on eth0")
        sent.extend([trio.current_time()] * n)
        return n

    a = GarpAnnouncer("eth0", VIP, send=fake_send)
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        t0 = trio.current_time()
        a.acquire()
        await trio.sleep(70)
        a.release()
        await trio.sleep(100)
        assert [t - t0 for t in sent] == pytest.approx(
            [0, 0.2, 0.4, 0.6, 0.8, 5, 5.2, 5.4, 5.6, 5.8, 35.8, 65.8]
        )
        assert a.frames_sent == 12 and a.last_error is None

        # Errors are recorded and the loop keeps going; contest/settle re-announce.
        fail[0] = True
        a.acquire()
        await trio.sleep(1)
        assert a.last_error is not None and "CAP_NET_RAW" in a.last_error
        fail[0] = False
        a.contest()
        await trio.sleep(100)
        n = len(sent)
        t1 = trio.current_time()
        a.settle()
        await trio.sleep(1)
        assert [t - t1 for t in sent[n:]] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])
        assert a.last_error is None
        nursery.cancel_scope.cancel()


# -- settings ---------------------------------------------------------------------------------------


def test_env_settings_and_defaults() -> None:
    assert not vip_configured({})
    cfg = load_vip_config({"HASENTINEL_VIP": "10.0.0.100/24", "HASENTINEL_VIP_IFACE": "eth0"})
    assert cfg == VipConfig(IPv4Interface("10.0.0.100/24"), "eth0")
    assert cfg.address == IPv4Address("10.0.0.100") and cfg.garp == GarpTiming()
    assert (cfg.garp.burst_count, cfg.garp.burst_interval, cfg.garp.repeat_delay) == (5, 0.2, 5.0)
    assert (cfg.garp.repeat_count, cfg.garp.refresh_interval, cfg.garp.refresh_count) == (5, 30.0, 1)
    assert parse_vip("10.0.0.100") == IPv4Interface("10.0.0.100/32")
    cfg = load_vip_config(
        {
            "HASENTINEL_VIP": "10.0.0.100/24",
            "HASENTINEL_VIP_IFACE": "bond0.12",
            "HASENTINEL_VIP_GARP_BURST_INTERVAL": "150ms",
            "HASENTINEL_VIP_GARP_REPEAT_DELAY": "2s",
            "HASENTINEL_VIP_GARP_REFRESH_INTERVAL": "0",
            "HASENTINEL_VIP_GARP_BURST_COUNT": "3",
        }
    )
    assert (cfg.iface, cfg.garp.burst_interval, cfg.garp.repeat_delay) == ("bond0.12", 0.15, 2.0)
    assert (cfg.garp.refresh_interval, cfg.garp.burst_count) == (0.0, 3)


def test_file_settings_env_overrides(tmp_path: Path) -> None:
    conf = tmp_path / "vip.conf"
    conf.write_text(
        "# VIP\n\nvip = 10.0.0.100/24   # the service address\ninterface=eth1\ngarp_repeat_count = 0\n"
    )
    env = {"HASENTINEL_VIP_CONF": str(conf)}
    assert vip_configured(env)
    cfg = load_vip_config(env)
    assert (cfg.vip, cfg.iface, cfg.garp.repeat_count) == (IPv4Interface("10.0.0.100/24"), "eth1", 0)
    cfg = load_vip_config({**env, "HASENTINEL_VIP_IFACE": "eth2", "HASENTINEL_VIP_LOCK": "/tmp/x.lock"})
    assert (cfg.iface, cfg.lock_file) == ("eth2", "/tmp/x.lock")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vip = 10.0.0.100/24\n", "no VIP interface configured"),
        ("interface = eth0\n", "no VIP configured"),
        ("vip = 10.0.0.100/24\ninterface = eth0\nburst = 3\n", ":3: unknown key 'burst'"),
        ("vip = 10.0.0.100/24\nvip = 10.0.0.101/24\n", ":2: 'vip' given twice"),
        ("vip 10.0.0.100/24\n", ":1: expected 'key = value'"),
        ("vip = 10.0.0.300/24\ninterface = eth0\n", "is not an IPv4 address"),
        ("vip = fd00::1/64\ninterface = eth0\n", "is not an IPv4 address"),
        ("vip = 10.0.0.0/24\ninterface = eth0\n", "cannot be a host address"),
        ("vip = 10.0.0.100/24\ninterface = eth0/1\n", "not a valid interface name"),
        ("vip = 10.0.0.100/24\ninterface = eth0\ngarp_burst_count = five\n", "is not an integer"),
        ("vip = 10.0.0.100/24\ninterface = eth0\ngarp_burst_interval = soon\n", "is not a duration"),
        ("vip = 10.0.0.100/24\ninterface = eth0\ngarp_repeat_count = 1000\n", "between 0 and 100"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, text: str, message: str) -> None:
    conf = tmp_path / "vip.conf"
    conf.write_text(text)
    with pytest.raises(VipConfigError, match=message.replace("(", r"\(")):
        load_vip_config({"HASENTINEL_VIP_CONF": str(conf)})


def test_unreadable_config_file(tmp_path: Path) -> None:
    with pytest.raises(VipConfigError, match="cannot read VIP config file"):
        load_vip_config({"HASENTINEL_VIP_CONF": str(tmp_path / "missing.conf")})


# -- vip-reconfig's decisions -------------------------------------------------------------------------


class FakeManager:
    """Records what vip-reconfig asks of the kernel."""

    def __init__(self, local: set[IPv4Address]) -> None:
        self.local = set(local)
        self.calls: list[tuple[str, str, IPv4Interface]] = []

    def local_addresses(self) -> set[IPv4Address]:
        return set(self.local)

    def ensure_present(self, iface: str, vip: IPv4Interface) -> bool:
        self.calls.append(("present", iface, vip))
        return True

    def ensure_absent(self, iface: str, vip: IPv4Interface, missing_ok: bool = True) -> bool:
        self.calls.append(("absent", iface, vip))
        return False


@pytest.fixture
def no_garp(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, IPv4Address, int, float]]:
    bursts: list[tuple[str, IPv4Address, int, float]] = []

    def fake(iface: str, ip: IPv4Address, count: int = 5, interval: float = 0.2, **kw: object) -> GarpResult:
        bursts.append((iface, ip, count, interval))
        return GarpResult(count)

    monkeypatch.setattr(reconfig, "send_garp_burst", fake)
    return bursts


def cfg_for(tmp_path: Path) -> VipConfig:
    return VipConfig(IPv4Interface("10.0.0.100/24"), "eth0", lock_file=str(tmp_path / "lock"))


def test_reconfigure_owner_and_others(
    tmp_path: Path, no_garp: list[tuple[str, IPv4Address, int, float]]
) -> None:
    cfg = cfg_for(tmp_path)
    args = reconfig.parse_args(["m", "leader", "start", "10.0.0.1", "6379", "10.0.0.2", "6379"])
    owner = FakeManager({IPv4Address("10.0.0.2"), IPv4Address("127.0.0.1")})
    assert reconfig.reconfigure(args, cfg, owner, spawn=False) == 0  # type: ignore[arg-type]
    assert owner.calls == [("present", "eth0", cfg.vip)]
    assert no_garp == [("eth0", cfg.address, 5, 0.2)]
    # The old master (which may still carry the VIP) and a third host release it.
    for local in ({IPv4Address("10.0.0.1"), cfg.address}, {IPv4Address("10.0.0.3")}):
        other = FakeManager(local)
        assert reconfig.reconfigure(args, cfg, other, spawn=False) == 0  # type: ignore[arg-type]
        assert other.calls == [("absent", "eth0", cfg.vip)]
    assert len(no_garp) == 1
    with pytest.raises(VipConfigError, match="is the VIP itself"):
        bad = reconfig.parse_args(["m", "leader", "start", "10.0.0.1", "6379", "10.0.0.100", "6379"])
        reconfig.reconfigure(bad, cfg, owner, spawn=False)  # type: ignore[arg-type]


def test_parse_args_and_resolution() -> None:
    a = reconfig.parse_args(["mymaster", "observer", "start", "10.0.0.1", "6379", "10.0.0.2", "6380"])
    assert (a.master, a.role, a.state, a.from_port, a.to_ip, a.to_port) == (
        "mymaster",
        "observer",
        "start",
        6379,
        "10.0.0.2",
        6380,
    )
    for argv in (
        [],
        ["m"] * 6,
        ["m"] * 8,
        ["m", "l", "f", "a", "1", "b", "99999"],
        ["m", "l", "f", "a", "1", "", "1"],
    ):
        with pytest.raises(reconfig.UsageError):
            reconfig.parse_args(argv)
    assert reconfig.resolve_ipv4("10.0.0.2") == {IPv4Address("10.0.0.2")}
    assert IPv4Address("127.0.0.1") in reconfig.resolve_ipv4("localhost")
    with pytest.raises(reconfig.UsageError, match="IPv6"):
        reconfig.resolve_ipv4("fd00::2")


def test_host_lock_serializes(tmp_path: Path) -> None:
    path = str(tmp_path / "lock")
    with reconfig.host_lock(path, 1.0), pytest.raises(reconfig.LockBusy), reconfig.host_lock(path, 0.2):
        pass
    with reconfig.host_lock(path, 0.2):
        pass
    with (
        pytest.raises(VipConfigError, match="cannot open lock file"),
        reconfig.host_lock(str(tmp_path / "no" / "x"), 0.1),
    ):
        pass


def test_main_exit_codes_without_touching_the_network(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in list(os.environ):
        if var.startswith("HASENTINEL_VIP"):
            monkeypatch.delenv(var)
    assert reconfig.main(["a", "b"]) == 2
    assert "expected 7 arguments" in capsys.readouterr().err
    assert reconfig.main(["m", "l", "f", "10.0.0.1", "1", "10.0.0.2", "1"]) == 2
    assert "no VIP configured" in capsys.readouterr().err
    assert reconfig.main(["--help"]) == 0
    assert "usage: vip-reconfig" in capsys.readouterr().out
    assert reconfig.main(["--announce-repeat", "eth0"]) == 2
