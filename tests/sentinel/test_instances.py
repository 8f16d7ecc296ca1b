"""Views for events and the SENTINEL API: details text, instance maps, CKQUORUM, replies."""

from __future__ import annotations

from sentinel.core.events import DebugRequest, FailoverRequest
from sentinel.core.instances import (
    ckquorum,
    config_get,
    debug_map,
    details,
    flags,
    info_cache,
    info_section,
    instance_map,
    is_master_down_reply,
    master_addr,
    masters_maps,
    pending_scripts,
    replicas_maps,
    sentinels_maps,
)
from sentinel.core.model import format_addr, new_peer, new_replica
from sentinel.core.replies import ErrorReply, Status
from tests.sentinel.driver import PEER1, R1N, R2N, Driver, healthy, replica_info

STOCK_MASTER_KEYS = [
    "name",
    "ip",
    "port",
    "runid",
    "flags",
    "link-pending-commands",
    "link-refcount",
    "last-ping-sent",
    "last-ok-ping-reply",
    "last-ping-reply",
    "down-after-milliseconds",
    "info-refresh",
    "role-reported",
    "role-reported-time",
    "config-epoch",
    "num-slaves",
    "num-other-sentinels",
    "quorum",
    "failover-timeout",
    "parallel-syncs",
]


def test_details_text() -> None:
    d = healthy(Driver.create())
    m = d.master
    assert details(m, m) == "master mymaster 10.0.0.1 6379"
    assert details(m.replicas[R1N], m) == "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379"
    assert details(m.peers[PEER1], m) == f"sentinel {PEER1} 10.0.1.2 26379 @ mymaster 10.0.0.1 6379"
    assert format_addr("::1", 6379) == "[::1]:6379"
    assert new_replica(m, "::1", 6380, 0).name == "[::1]:6380"


def test_master_map_order_and_types() -> None:
    d = healthy(Driver.create())
    mm = instance_map(d.master, d.master, d.now)
    assert [k for k, _ in mm] == STOCK_MASTER_KEYS
    assert all(isinstance(v, str) for _, v in mm)
    flat = [x for kv in mm for x in kv]
    assert flat[32] == "num-other-sentinels" and flat[33] == "2"  # stock test 11 reads index 33
    values = dict(mm)
    assert values["flags"] == "master"
    assert values["num-slaves"] == "2" and values["quorum"] == "2"
    assert values["role-reported"] == "master" and values["runid"] == "m" * 40
    assert masters_maps(d.world, d.now) == [mm]


def test_master_map_optional_fields() -> None:
    text = "sentinel notification-script mymaster /n.sh\nsentinel client-reconfig-script mymaster /r.sh\n"
    from tests.sentinel.driver import conf

    d = healthy(Driver.create(conf(extra=text)))
    keys = [k for k, _ in instance_map(d.master, d.master, d.now)]
    assert keys[-2:] == ["notification-script", "client-reconfig-script"]
    d.step(FailoverRequest(1, "mymaster"))
    mm = dict(instance_map(d.master, d.master, d.now))
    assert "failover-state" in mm and mm["flags"] == "master,failover_in_progress,force_failover"
    keys = [k for k, _ in instance_map(d.master, d.master, d.now)]
    assert keys.index("failover-state") == keys.index("link-refcount") + 1
    assert mm["failover-epoch"] == "1"
    assert int(mm["next-failover-in"]) > 0 and "epoch 1" in mm["next-failover-reason"]


def test_sdown_fields_appear_only_when_down() -> None:
    d = healthy(Driver.create())
    d.dead.add("mymaster")
    d.advance(6500)
    mm = dict(instance_map(d.master, d.master, d.now))
    assert mm["flags"].startswith("s_down,master")
    assert int(mm["s-down-time"]) > 0 and "o-down-time" not in mm
    assert int(mm["last-ping-sent"]) > 5000


def test_replica_and_sentinel_maps() -> None:
    d = healthy(Driver.create())
    rm = dict(instance_map(d.master.replicas[R1N], d.master, d.now))
    assert rm["name"] == R1N and rm["flags"] == "slave"
    assert [k for k, _ in instance_map(d.master.replicas[R1N], d.master, d.now)][-7:] == [
        "master-link-down-time",
        "master-link-status",
        "master-host",
        "master-port",
        "slave-priority",
        "slave-repl-offset",
        "replica-announced",
    ]
    assert (rm["master-link-status"], rm["master-host"], rm["master-port"]) == ("ok", "10.0.0.1", "6379")
    assert rm["slave-repl-offset"] == "100" and rm["replica-announced"] == "1"
    sm = instance_map(d.master.peers[PEER1], d.master, d.now)
    assert [k for k, _ in sm][-3:] == ["last-hello-message", "voted-leader", "voted-leader-epoch"]
    assert dict(sm)["voted-leader"] == "?" and dict(sm)["flags"] == "sentinel"
    assert len(sentinels_maps(d.master, d.now)) == 2
    fresh = new_peer(d.master, "10.0.1.9", 26379, "z" * 40, d.now)
    assert "disconnected" in flags(fresh)


def test_replicas_hides_unannounced() -> None:
    d = healthy(Driver.create())
    d.infos[R2N] = replica_info(announced=False)
    d.advance(10_100)
    names = [dict(m)["name"] for m in replicas_maps(d.master, d.now)]
    assert names == [R1N]
    assert dict(instance_map(d.master, d.master, d.now))["num-slaves"] == "2"


def test_ckquorum_texts() -> None:
    d = healthy(Driver.create())
    m = d.master
    assert ckquorum(m) == Status("OK 3 usable Sentinels. Quorum and failover authorization can be reached")
    for p in m.peers.values():
        p.sdown = True
    assert ckquorum(m) == ErrorReply(
        "NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this "
        "master. Not enough available Sentinels to reach the majority and authorize a failover"
    )
    m.settings = type(m.settings).from_fields("mymaster", m.settings.to_fields() | {"quorum": 1})
    assert ckquorum(m) == ErrorReply(
        "NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the majority and authorize a failover"
    )
    m.settings = type(m.settings).from_fields("mymaster", m.settings.to_fields() | {"quorum": 5})
    for p in m.peers.values():
        p.sdown = False
    assert ckquorum(m) == ErrorReply(
        "NOQUORUM 3 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master"
    )


def test_is_master_down_triple_and_addr() -> None:
    assert is_master_down_reply(True, "r" * 40, 3) == [1, "r" * 40, 3]
    assert is_master_down_reply(False, None, 0) == [0, "*", 0]
    d = healthy(Driver.create())
    assert master_addr(d.world, "mymaster") == ["10.0.0.1", "6379"]
    assert master_addr(d.world, "nope") is None


def test_info_cache_section_and_debug() -> None:
    d = healthy(Driver.create())
    cache = info_cache(d.world, ["mymaster", "nope"], d.now)
    assert cache[0] == "mymaster" and len(cache[1]) == 3  # type: ignore[arg-type]
    section = info_section(d.world, d.now)
    assert "sentinel_tilt:0\r\n" in section and "sentinel_tilt_since_seconds:-1" in section
    assert "master0:name=mymaster,status=ok,address=10.0.0.1:6379,slaves=2,sentinels=3" in section
    dm = debug_map(d.world.timers)
    assert dm[0] == ("INFO-PERIOD", "10000") and [k for k, _ in dm][:13] == [
        "INFO-PERIOD",
        "PING-PERIOD",
        "ASK-PERIOD",
        "PUBLISH-PERIOD",
        "DEFAULT-DOWN-AFTER",
        "DEFAULT-FAILOVER-TIMEOUT",
        "TILT-TRIGGER",
        "TILT-PERIOD",
        "SLAVE-RECONF-TIMEOUT",
        "MIN-LINK-RECONNECT-PERIOD",
        "ELECTION-TIMEOUT",
        "SCRIPT-MAX-RUNTIME",
        "SCRIPT-RETRY-DELAY",
    ]
    d.step(DebugRequest(1, ("info-period", "500")))
    assert debug_map(d.world.timers)[0] == ("INFO-PERIOD", "500")
    assert config_get(d.world, ["announce-*"]) == [
        ("announce-hostnames", "no"),
        ("announce-ip", ""),
        ("announce-port", "0"),
    ]
    assert config_get(d.world, ["LOGLEVEL", "loglevel"]) == [("loglevel", "notice")]
    assert pending_scripts(d.world.scripts, d.now) == []
