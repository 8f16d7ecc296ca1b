"""The runtime half of the VIP rule without privileges: VipManager with a fake address manager,
the capability check, and the API's VIP-STATUS / SCRIPT-HISTORY on a real sentinel process."""

from __future__ import annotations

import time
from ipaddress import IPv4Interface
from pathlib import Path

import pytest
import redis
import trio
import trio.testing

from sentinel.core.actions import VipAcquire, VipAnnounce, VipRelease, VipRenew
from sentinel.core.config import parse_config
from sentinel.core.events import Event, VipDone, VipObserved
from sentinel.runtime.main import check_vip_prerequisites
from sentinel.runtime.vip import VipManager
from sentinel.vip.caps import capability_error, missing_capabilities
from sentinel.vip.errors import VipError
from tests.conftest import free_port
from tests.sentinel.test_sentinel_e2e_basic import SentinelProcess

CONF = """sentinel monitor m 10.0.0.1 6379 2
sentinel vip m 10.0.0.100/24 eth0
sentinel vip-local-server m 10.0.0.1 6379
"""
VIP = IPv4Interface("10.0.0.100/24")


class FakeAddresses:
    def __init__(self) -> None:
        self.have: set[IPv4Interface] = set()
        self.fail = False
        self.calls: list[str] = []
        self.lifetimes: list[int | None] = []

    def ensure_present(self, iface: str, vip: IPv4Interface, lifetime: int | None = None) -> bool:
        self.calls.append(f"add {vip} {iface}")
        if self.fail:
            raise VipError("netlink said no")
        changed = vip not in self.have
        self.have.add(vip)
        self.lifetimes.append(lifetime)
        return changed

    def renew(self, iface: str, vip: IPv4Interface, lifetime: int) -> bool:
        self.calls.append(f"renew {vip} {iface} {lifetime}")
        if vip not in self.have:
            return False
        self.lifetimes.append(lifetime)
        return True

    def ensure_absent(self, iface: str, vip: IPv4Interface) -> bool:
        self.calls.append(f"del {vip} {iface}")
        if self.fail:
            raise VipError("netlink said no")
        changed = vip in self.have
        self.have.discard(vip)
        return changed

    def addresses(self, iface: str) -> list[IPv4Interface]:
        return sorted(self.have)


async def test_vip_manager_executes_in_order_and_reports(autojump_clock: trio.testing.MockClock) -> None:
    events: list[Event] = []
    fake = FakeAddresses()
    sent: list[int] = []

    mgr = VipManager(parse_config(CONF), events.append, addresses=fake, check_period=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(mgr.run)
        await trio.sleep(0.01)
        assert events == [VipObserved("m", False)]  # the first observation right away
        ann = mgr.vips["m"].announcer

        async def count_frames(n: int) -> int:
            sent.append(n)
            return n

        ann._send = count_frames
        mgr.execute(VipAcquire("m", str(VIP), "eth0"))
        assert fake.have == {VIP} and events[-1] == VipDone("m", "acquire", True)
        await trio.sleep(1.1)  # the burst (5 x 200 ms) went out
        assert sum(sent) == 5 and ann.policy.held
        assert events[-1] == VipObserved("m", True)  # periodic check
        mgr.execute(VipAnnounce("m", str(VIP), "eth0"))
        mgr.execute(VipRelease("m", str(VIP), "eth0"))
        assert fake.have == set() and events[-1] == VipDone("m", "release", True)
        assert not ann.policy.held
        fake.fail = True
        mgr.execute(VipAcquire("m", str(VIP), "eth0"))
        assert events[-1] == VipDone("m", "acquire", False, "netlink said no")
        assert fake.calls == ["add 10.0.0.100/24 eth0", "del 10.0.0.100/24 eth0", "add 10.0.0.100/24 eth0"]
        nursery.cancel_scope.cancel()


def test_capabilities_are_read_from_the_effective_set() -> None:
    full = "Name:\tx\nCapEff:\t000001ffffffffff\n"
    none = "Name:\tx\nCapEff:\t0000000000000000\n"
    raw_only = f"CapEff:\t{1 << 13:016x}\n"
    assert missing_capabilities(full) == []
    assert missing_capabilities(none) == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
    assert missing_capabilities(raw_only) == ["CAP_NET_ADMIN"]
    assert missing_capabilities("no caps line") == []
    msg = capability_error(["CAP_NET_RAW"], "managing the VIP of 'm'")
    assert "needs CAP_NET_RAW" in msg and "run as root or grant" in msg


def test_prerequisites_only_with_a_vip(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_vip_prerequisites(parse_config("sentinel monitor m 10.0.0.1 6379 2\n")) is None
    monkeypatch.setattr("sentinel.vip.caps.missing_capabilities", lambda: ["CAP_NET_ADMIN"])
    problem = check_vip_prerequisites(parse_config(CONF))
    assert problem is not None and "CAP_NET_ADMIN" in problem and "'m'" in problem


def test_api_vip_status_and_script_history(tmp_path: Path) -> None:
    port = free_port()
    conf = f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\nsentinel monitor m 127.0.0.1 {free_port()} 2\n"
    sp = SentinelProcess(tmp_path / "s", port, conf).start()
    try:
        c = sp.client(protocol=2)
        with pytest.raises(redis.ResponseError, match="No VIP configured"):
            c.execute_command("SENTINEL", "VIP-STATUS", "m")
        with pytest.raises(redis.ResponseError, match="No such master"):
            c.execute_command("SENTINEL", "VIP-STATUS", "x")
        assert c.execute_command("SENTINEL", "SCRIPT-HISTORY") == []
        assert c.execute_command("SENTINEL", "SCRIPT-HISTORY", "5") == []
        with pytest.raises(redis.ResponseError, match="not an integer"):
            c.execute_command("SENTINEL", "SCRIPT-HISTORY", "x")
        helptext = "\n".join(c.execute_command("SENTINEL", "HELP"))
        assert "VIP-STATUS <master-name>" in helptext and "SCRIPT-HISTORY" in helptext
    finally:
        sp.stop()


def test_scripts_run_one_at_a_time_and_every_result_is_recorded(tmp_path: Path) -> None:
    out = tmp_path / "calls.txt"
    script = tmp_path / "notify.sh"
    # exit 1 on the first call (retried), then 0; records start/end so overlaps would show
    script.write_text(
        "#!/bin/sh\n"
        f'echo "start $1" >> {out}\n'
        f'if [ ! -e {tmp_path}/once ]; then touch {tmp_path}/once; sleep 0.2; echo "end $1" >> {out}; exit 1; fi\n'
        "sleep 0.2\n"
        f'echo "end $1" >> {out}\n'
    )
    script.chmod(0o755)
    port = free_port()
    conf = (
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor m 127.0.0.1 {free_port()} 2\nsentinel monitor n 127.0.0.1 {free_port()} 2\n"
        f"sentinel notification-script m {script}\nsentinel notification-script n {script}\n"
    )
    sp = SentinelProcess(tmp_path / "s", port, conf).start()
    try:
        c = sp.client(protocol=2)
        c.execute_command("SENTINEL", "DEBUG", "script-retry-delay", "300")
        deadline = time.monotonic() + 20
        hist: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            raw = c.execute_command("SENTINEL", "SCRIPT-HISTORY")
            hist = [dict(zip(e[::2], e[1::2], strict=True)) for e in raw]
            if len([h for h in hist if h["outcome"] == "ok"]) >= 2:
                break
            time.sleep(0.1)
        outcomes = sorted((str(h["master"]), str(h["outcome"]), str(h["attempt"])) for h in hist)
        assert ("m", "retry", "1") in outcomes or ("n", "retry", "1") in outcomes, outcomes
        assert len([o for o in outcomes if o[1] == "ok"]) == 2, outcomes
        lines = out.read_text().split("\n")[:-1]
        # never two at once: every start is followed by its end
        for i in range(0, len(lines), 2):
            assert lines[i].startswith("start") and lines[i + 1].startswith("end"), lines
        assert "script result" in sp.log()
    finally:
        sp.stop()


async def test_vip_manager_lifetimes_come_from_the_deadline_at_the_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Whole seconds from the clock at the netlink call, rounded down (never past the core's
    deadline); a renewal under a second is skipped and one that finds the address gone does not
    re-add it but reports it absent."""
    events: list[Event] = []
    fake = FakeAddresses()
    mgr = VipManager(parse_config(CONF), events.append, addresses=fake, check_period=100.0)
    now = lambda: int(trio.current_time() * 1000)  # noqa: E731 - the runtime's clock
    async with trio.open_nursery() as nursery:
        await nursery.start(mgr.run)
        mgr.vips["m"].announcer._send = _no_frames
        mgr.execute(VipAcquire("m", str(VIP), "eth0", now() + 3999))
        mgr.execute(VipAcquire("m", str(VIP), "eth0", None))  # permanent (idempotent re-add)
        mgr.execute(VipAcquire("m", str(VIP), "eth0", now() + 200))  # at least one second
        assert fake.lifetimes == [3, None, 1]
        mgr.execute(VipRenew("m", str(VIP), "eth0", now() + 2500))
        mgr.execute(VipRenew("m", str(VIP), "eth0", now() + 999))  # skipped
        assert fake.lifetimes[3:] == [2] and fake.calls[-1] == "renew 10.0.0.100/24 eth0 2"
        assert mgr.vips["m"].renewals == 1
        fake.have.clear()  # the kernel dropped it
        mgr.execute(VipRenew("m", str(VIP), "eth0", now() + 5000))
        assert fake.have == set() and events[-1] == VipObserved("m", False)
        nursery.cancel_scope.cancel()


async def _no_frames(n: int) -> int:
    return n
