"""VIP building blocks against real kernels: addresses in a host namespace, GARP on the wire, and
a client's ARP cache following a VIP move (all inside the lab's namespaces)."""

from __future__ import annotations

import itertools
import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from ipaddress import IPv4Interface

import pytest

from sentinel.vip.errors import InterfaceMissing
from sentinel.vip.garp import ARPOP_REQUEST, build_garp
from sentinel.vip.netlink import AddressManager
from tests.netns.conftest import Captured, Host, Lab

pytestmark = pytest.mark.netns


def garp_from(host: Host, vip: IPv4Interface) -> Callable[[Captured], bool]:
    """Incoming gratuitous ARPs for `vip` sent by `host`."""
    return lambda f: (
        not f.outgoing
        and f.arp is not None
        and f.arp.gratuitous
        and f.arp.sender_ip == vip.ip
        and f.arp.eth_src == host.mac
    )


def send_garp(host: Host, vip: IPv4Interface, count: int = 3, interval: float = 0.1) -> str:
    """`python -m sentinel.vip.garp` inside the host's namespace; its stdout."""
    r = host.python(
        "-m",
        "sentinel.vip.garp",
        "--iface",
        "eth0",
        "--ip",
        str(vip.ip),
        "--count",
        str(count),
        "--interval",
        str(interval),
    )
    return r.stdout


def test_addresses_idempotent_and_verified(netns_lab: Callable[..., Lab]) -> None:
    lab = netns_lab(1)
    h = lab.hosts[0]
    vip = lab.vip()
    mgr = AddressManager(netns=h.name)
    assert mgr.link("eth0").mac == h.mac and mgr.link("eth0").up and not mgr.link("eth0").noarp

    assert mgr.ensure_present("eth0", vip) is True
    assert mgr.ensure_present("eth0", vip) is False
    assert vip in h.addresses() and h.address in h.addresses()
    assert [(x.ifname, x.prefixlen) for x in mgr.holders(vip.ip)] == [("eth0", 24)]
    assert mgr.has("eth0", vip) and vip.ip in mgr.local_addresses()

    # Same address, other prefix: replaced, so the connected route matches the configuration.
    as32 = IPv4Interface(f"{vip.ip}/32")
    assert mgr.ensure_present("eth0", as32) is True
    assert [a for a in h.addresses() if a.ip == vip.ip] == [as32]

    assert mgr.ensure_absent("eth0", vip) is True
    assert mgr.ensure_absent("eth0", vip) is False
    assert all(a.ip != vip.ip for a in h.addresses()) and h.address in h.addresses()
    assert mgr.holders(vip.ip) == []

    with pytest.raises(InterfaceMissing, match=r"interface 'nope0' does not exist in network namespace"):
        mgr.ensure_present("nope0", vip)
    assert mgr.ensure_absent("nope0", vip) is False
    with pytest.raises(InterfaceMissing):
        mgr.ensure_absent("nope0", vip, missing_ok=False)


def test_address_lifetime_is_set_renewed_and_enforced_by_the_kernel(netns_lab: Callable[..., Lab]) -> None:
    lab = netns_lab(1)
    h = lab.hosts[0]
    vip = lab.vip()
    mgr = AddressManager(netns=h.name)
    assert mgr.ensure_present("eth0", vip, lifetime=30) is True
    assert 29 <= (mgr.lifetime("eth0", vip) or 0) <= 30
    assert mgr.ensure_present("eth0", vip) is False  # present: made permanent, not re-added
    assert mgr.lifetime("eth0", vip) is None
    assert mgr.renew("eth0", vip, 1) is True
    assert mgr.lifetime("eth0", vip) == 1
    t0 = time.monotonic()
    for _ in range(300):  # bounded: 3 s
        if vip not in h.addresses():
            break
        time.sleep(0.01)
    gone = time.monotonic() - t0
    assert vip not in h.addresses(), "the kernel did not drop the address at the end of its lifetime"
    assert 0.8 <= gone <= 1.5, gone
    # a renewal never brings back an address that is gone
    assert mgr.renew("eth0", vip, 5) is False
    assert vip not in h.addresses()
    with pytest.raises(KeyError):
        mgr.lifetime("eth0", vip)
    with pytest.raises(ValueError, match="at least one second"):
        mgr.ensure_present("eth0", vip, lifetime=0)
    with pytest.raises(ValueError, match="at least one second"):
        mgr.renew("eth0", vip, 0)
    assert h.address in h.addresses()


async def test_async_wrappers_from_trio(netns_lab: Callable[..., Lab]) -> None:
    lab = netns_lab(1)
    h = lab.hosts[0]
    vip = lab.vip()
    mgr = AddressManager(netns=h.name)
    assert await mgr.ensure_present_async("eth0", vip) is True
    assert [x.ifname for x in await mgr.holders_async(vip)] == ["eth0"]
    assert (await mgr.link_async("eth0")).mac == h.mac
    assert await mgr.ensure_absent_async("eth0", vip) is True
    assert vip not in h.addresses()


def test_garp_frames_on_the_wire_are_keepaliveds(netns_lab: Callable[..., Lab]) -> None:
    lab = netns_lab(1)
    h = lab.hosts[0]
    vip = lab.vip()
    AddressManager(netns=h.name).ensure_present("eth0", vip)
    with lab.capture() as cap:
        assert "sent 3 on eth0" in send_garp(h, vip, count=3, interval=0.1)
        frames = cap.wait_for(garp_from(h, vip), count=3, timeout=5)
    assert len(frames) == 3
    expected = build_garp(h.mac, vip.ip)
    for f in frames:
        assert f.raw[:42] == expected and f.raw[42:] == b"\0" * (len(f.raw) - 42)
        a = f.arp
        assert a is not None
        assert (a.eth_dst, a.eth_src, a.ethertype) == ("ff:ff:ff:ff:ff:ff", h.mac, 0x0806)
        assert (a.htype, a.ptype, a.hlen, a.plen, a.op) == (1, 0x0800, 6, 4, ARPOP_REQUEST)
        assert (a.sender_mac, a.sender_ip) == (h.mac, vip.ip)
        assert (a.target_mac, a.target_ip) == ("ff:ff:ff:ff:ff:ff", vip.ip)
    gaps = [b.t - a.t for a, b in itertools.pairwise(frames)]
    assert all(0.08 <= g <= 1.0 for g in gaps), gaps


def test_noarp_interface_is_skipped(netns_lab: Callable[..., Lab]) -> None:
    lab = netns_lab(1)
    h = lab.hosts[0]
    vip = lab.vip()
    h.ip("link", "set", "eth0", "arp", "off")
    with lab.capture() as cap:
        assert "eth0 is NOARP, nothing sent" in send_garp(h, vip)
        assert cap.wait_for(garp_from(h, vip), count=1, timeout=0.7) == []
    assert AddressManager(netns=h.name).link("eth0").noarp


def test_vip_move_with_garp_repoints_the_clients_arp_cache(netns_lab: Callable[..., Lab]) -> None:
    lab = netns_lab(2)
    a, b = lab.hosts
    vip = lab.vip()
    ma, mb = AddressManager(netns=a.name), AddressManager(netns=b.name)
    ma.ensure_present("eth0", vip)
    assert lab.ping(vip, count=2)
    entry = lab.neigh(vip)
    assert entry is not None and entry.lladdr == a.mac, entry

    ma.ensure_absent("eth0", vip)
    mb.ensure_present("eth0", vip)
    # Without an announcement the client still believes A: this is what GARP is for.
    entry = lab.neigh(vip)
    assert entry is not None and entry.lladdr == a.mac, entry

    send_garp(b, vip, count=3, interval=0.1)
    entry = lab.wait_neigh_mac(vip, b.mac, timeout=5.0)
    assert entry is not None and entry.lladdr == b.mac, entry
    assert lab.ping(vip)
    entry = lab.neigh(vip)
    assert entry is not None and entry.lladdr == b.mac, entry


def test_announcer_task_timing_on_the_wire(netns_lab: Callable[..., Lab]) -> None:
    """GarpAnnouncer (Trio, real sender) in a host namespace: burst, repeat, refresh, then quiet."""
    lab = netns_lab(1)
    h = lab.hosts[0]
    vip = lab.vip()
    AddressManager(netns=h.name).ensure_present("eth0", vip)
    code = textwrap.dedent(
        f"""
        import trio
        from ipaddress import IPv4Address
        from sentinel.vip.announce import GarpAnnouncer, GarpTiming

        async def main():
            t = GarpTiming(burst_count=3, burst_interval=0.1, repeat_delay=0.6, repeat_count=2,
                           refresh_interval=0.5, refresh_count=1)
            a = GarpAnnouncer("eth0", IPv4Address("{vip.ip}"), t)
            async with trio.open_nursery() as n:
                await n.start(a.run)
                a.acquire()
                await trio.sleep(1.5)
                a.release()
                await trio.sleep(0.6)
                print(a.frames_sent, a.last_error)
                n.cancel_scope.cancel()

        trio.run(main)
        """
    )
    with lab.capture() as cap:
        r = h.python("-c", code, timeout=30)
        frames = cap.wait_for(garp_from(h, vip), count=6, timeout=3)
    assert r.stdout.split() == ["6", "None"], r.stdout + r.stderr
    # Expected offsets: 0, 0.1, 0.2 (burst); 0.6, 0.7 (repeat); 1.2 (refresh); nothing after release.
    t0 = frames[0].t
    offsets = [f.t - t0 for f in frames]
    assert len(offsets) == 6, offsets
    for got, want in zip(offsets, [0, 0.1, 0.2, 0.6, 0.7, 1.2], strict=True):
        assert abs(got - want) < 0.2, offsets


def test_missing_capabilities_name_the_capability(netns_lab: Callable[..., Lab]) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot drop capabilities")
    lab = netns_lab(1)
    h = lab.hosts[0]
    vip = lab.vip()
    add = f"from sentinel.vip.netlink import AddressManager as M; from ipaddress import IPv4Interface as I; M().ensure_present('eth0', I('{vip}'))"
    r = h.run(setpriv, "--inh-caps=-all", "--bounding-set=-net_admin", sys.executable, "-c", add, check=False)
    assert r.returncode != 0 and "needs CAP_NET_ADMIN" in r.stderr, r.stderr
    assert vip not in h.addresses()

    r = h.run(
        setpriv, "--inh-caps=-all", "--bounding-set=-net_raw", sys.executable, "-m", "sentinel.vip.garp",
        "--iface", "eth0", "--ip", str(vip.ip), check=False,
    )  # fmt: skip
    assert r.returncode == 2 and "needs CAP_NET_RAW" in r.stderr, r.stderr
