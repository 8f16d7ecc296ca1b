"""`build_status` on made-up sentinel answers (no sentinel process; the data nodes are at
addresses nothing listens on): disagreement, VIP claims, and the verdict they lead to."""

from __future__ import annotations

from sentinel.cli.client import Endpoint, Sources
from sentinel.cli.schema import STATUS_SCHEMA, validate
from sentinel.cli.status import build_status
from sentinel.cli.survey import MasterView, SentinelView, Survey
from tests.conftest import free_port


def _src() -> Sources:
    return Sources(sentinels={}, password=None, username=None, auth_pass={}, default_auth_pass=None, timeout=0.5)


def _view(port: int, master_port: int, epoch: int, vip: dict[str, str] | None = None, myid: str = "") -> SentinelView:
    fields = {
        "name": "m",
        "ip": "127.0.0.1",
        "port": str(master_port),
        "flags": "master",
        "config-epoch": str(epoch),
        "quorum": "2",
        "num-other-sentinels": "2",
    }
    mv = MasterView("m", fields, quorum_ok=True, quorum_text="OK 3 usable Sentinels.", vip=vip)
    return SentinelView(
        Endpoint("127.0.0.1", port), {"option"}, reachable=True, myid=myid or str(port) * 4, tilt=False,
        flavour="hasentinel", version="7.0.15", masters={"m": mv},
    )


def _vip(held: bool, server: str) -> dict[str, str]:
    return {
        "vip": "10.99.0.100/24",
        "held": "1" if held else "0",
        "state": "held" if held else "absent",
        "local-server": server,
        "lease": "1",
        "lease-remaining-ms": "1500",
        "fence": "off",
        "last-error": "",
    }


def test_disagreement_is_degraded_and_marked() -> None:
    mport, other = free_port(), free_port()
    sv = Survey([_view(1, mport, 3), _view(2, mport, 3), _view(3, other, 2)])
    doc = build_status(sv, _src(), vip_option=None)
    assert validate(doc, STATUS_SCHEMA) == []
    (m,) = doc["masters"]
    assert m["address"] == f"127.0.0.1:{mport}" and m["config_epoch"] == 3 and not m["agreed"]
    assert [v["agrees"] for v in m["views"]] == [True, True, False]
    assert any("sentinels disagree" in p["message"] for p in doc["problems"])
    assert doc["health"] in ("degraded", "down")


def test_sentinels_knowing_different_replicas_is_degraded() -> None:
    mport = free_port()
    views = [_view(1, mport, 3), _view(2, mport, 3), _view(3, mport, 3)]
    both = [{"ip": "127.0.0.1", "port": "7001"}, {"ip": "127.0.0.1", "port": "7002"}]
    for v in views:
        v.masters["m"].replicas = list(both)
    doc = build_status(Survey(views), _src(), vip_option=None)
    assert not any("disagree on the replicas" in p["message"] for p in doc["problems"])
    views[2].masters["m"].replicas = both[:1]  # one sentinel has not discovered a replica
    doc = build_status(Survey(views), _src(), vip_option=None)
    assert validate(doc, STATUS_SCHEMA) == []
    [p] = [p for p in doc["problems"] if "disagree on the replicas" in p["message"]]
    assert p["severity"] == "degraded" and "127.0.0.1:3: 1 (127.0.0.1:7001)" in p["message"]
    assert doc["health"] in ("degraded", "down")


def test_vip_claims() -> None:
    mport = free_port()
    master = f"127.0.0.1:{mport}"
    # Two hosts claim the VIP: degraded, and the address comes from the sentinels.
    sv = Survey([_view(1, mport, 1, _vip(True, master)), _view(2, mport, 1, _vip(True, "10.0.0.2:6379")),
                 _view(3, mport, 1, None)])
    sv.sentinels[2].masters["m"].vip_error = "stock sentinel (no VIP-STATUS)"
    doc = build_status(sv, _src(), vip_option=None)
    assert validate(doc, STATUS_SCHEMA) == []
    vip = doc["masters"][0]["vip"]
    assert vip["address"] == "10.99.0.100" and vip["source"].startswith("the sentinels")
    assert [c["held"] for c in vip["claims"]] == [True, True]
    assert any("held on several hosts" in p["message"] for p in doc["problems"])
    # Nobody holds it.
    sv = Survey([_view(1, mport, 1, _vip(False, master)), _view(2, mport, 1, _vip(False, "10.0.0.2:6379"))])
    doc = build_status(sv, _src(), vip_option=None)
    assert any("no sentinel's host holds the VIP" in p["message"] for p in doc["problems"])
    # Held by the host of a replica.
    sv = Survey([_view(1, mport, 1, _vip(False, master)), _view(2, mport, 1, _vip(True, "10.0.0.2:6379"))])
    doc = build_status(sv, _src(), vip_option=None)
    assert any("held by the host of 10.0.0.2:6379, not the master" in p["message"] for p in doc["problems"])


def test_nothing_reachable_is_down() -> None:
    sv = Survey([SentinelView(Endpoint("127.0.0.1", 1), {"option"}, error="sentinel 127.0.0.1:1 refused")])
    doc = build_status(sv, _src())
    assert validate(doc, STATUS_SCHEMA) == []
    assert doc["health"] == "down" and doc["exit_code"] == 2 and doc["masters"] == []
