"""Sentinel discovery and configuration propagation through hello messages.

Stock sentinelProcessHelloMessage: learn (or re-address) the sender, adopt a higher current
epoch, and switch the master when the hello carries a strictly higher config epoch with another
address (`+config-update-from`, `+switch-master`, client-reconfig-script as observer). Equal
epochs never switch. Not gated by TILT.
"""

from __future__ import annotations

from sentinel.core.actions import Level
from sentinel.core.config import check_address
from sentinel.core.election import adopt_epoch
from sentinel.core.failover import call_reconfig_script, switch_master
from sentinel.core.hello import parse_hello
from sentinel.core.links import close_instance, event
from sentinel.core.model import Ctx, Master, Peer, World, new_peer
from sentinel.core.monitor import host_eq


def _remove_peer_runid(w: World, ctx: Ctx, master: Master, runid: str) -> int:
    """Remove every peer of `master` with this runid; returns how many."""
    gone = [k for k, p in master.peers.items() if p.runid == runid]
    for k in gone:
        close_instance(w, ctx, master.peers.pop(k))
    return len(gone)


def process_hello(w: World, ctx: Ctx, payload: str) -> None:
    """Handle one hello payload (from a pub/sub link or PUBLISHed to us)."""
    if w.myid in payload:
        return  # our own hello, echoed by an instance
    h = parse_hello(payload)
    if h is None:
        return
    master = w.masters.get(h.master_name)
    if master is None:
        return
    si: Peer | None = next(
        (p for p in master.peers.values() if p.runid == h.runid and p.host == h.ip and p.port == h.port), None
    )
    if si is None and check_address(h.ip, h.port, w.settings.resolve_hostnames) is None:
        removed = _remove_peer_runid(w, ctx, master, h.runid)
        if removed:
            event(
                w,
                ctx,
                Level.NOTICE,
                "+sentinel-address-switch",
                master,
                master,
                f" ip {h.ip} port {h.port} for {h.runid}",
            )
        else:
            other = next((p for p in master.peers.values() if p.host == h.ip and p.port == h.port), None)
            if other is not None and other.runid is not None:
                event(w, ctx, Level.NOTICE, "+sentinel-invalid-addr", other, master)
                for m in w.masters.values():
                    _remove_peer_runid(w, ctx, m, other.runid)
        si = new_peer(master, h.ip, h.port, h.runid, ctx.now)
        master.peers[h.runid] = si
        if not removed:
            event(w, ctx, Level.NOTICE, "+sentinel", si, master)
        else:
            updated = 0
            for m in w.masters.values():
                p = m.peers.get(h.runid)
                if m is master or p is None or (p.host, p.port) == (h.ip, h.port):
                    continue
                close_instance(w, ctx, p)
                p.host, p.port = h.ip, h.port
                updated += 1
            if updated:
                event(
                    w,
                    ctx,
                    Level.NOTICE,
                    "+sentinel-address-update",
                    si,
                    master,
                    f" {updated} additional matching instances",
                )
        ctx.persist()
    adopt_epoch(w, ctx, master, h.current_epoch)
    if si is not None and master.config_epoch < h.master_config_epoch:
        master.config_epoch = h.master_config_epoch
        ctx.persist()
        if h.master_port != master.port or not host_eq(h.master_ip, master.host):
            old = master.addr
            event(w, ctx, Level.WARNING, "+config-update-from", si, master)
            switch_master(w, ctx, master, (h.master_ip, h.master_port), leader=False)
            call_reconfig_script(w, ctx, master, "observer", old, master.addr)
    if si is not None:
        si.last_hello_time = ctx.now
