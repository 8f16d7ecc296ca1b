"""Monitoring: links, periodic PING/INFO/hello, and what their replies tell us.

Stock sentinelReconnectInstance, sentinelSendPeriodicCommands, sentinelPingReplyCallback and
sentinelRefreshInstanceInfo (both the tracking half and, outside TILT, the acting half:
promotion confirmed, convert-to-slave, fix-slave-config, reconf progress).
"""

from __future__ import annotations

from sentinel.core.actions import Channel, Level
from sentinel.core.detect import no_down_for
from sentinel.core.failover import promotion_confirmed, run_state_machine
from sentinel.core.info import Role, parse_info
from sentinel.core.links import (
    close_link,
    event,
    forget_link,
    handshake,
    open_link,
    send_cmd,
    send_hello,
    send_info,
    send_ping,
    send_slaveof,
)
from sentinel.core.model import (
    Ctx,
    FailoverState,
    Instance,
    Master,
    Peer,
    Purpose,
    Reconf,
    Replica,
    World,
    new_replica,
)
from sentinel.core.replies import ErrorReply, Reply, Status
from sentinel.core.timers import INFO_FAST_PERIOD, MAX_PENDING_COMMANDS


def master_of(w: World, inst: Instance) -> Master | None:
    """The master an instance belongs to (itself for a master)."""
    if isinstance(inst, Master):
        return inst
    m = w.masters.get(inst.master_name)
    if m is None:
        return None
    if isinstance(inst, Replica) and m.replicas.get(inst.name) is not inst:
        return None
    if isinstance(inst, Peer) and m.peers.get(inst.name) is not inst:
        return None
    return m


def host_eq(a: str | None, b: str | None) -> bool:
    """Addresses compare as case-insensitive strings (hostnames are resolved by the runtime)."""
    return a is not None and b is not None and a.lower() == b.lower()


def reconnect(w: World, ctx: Ctx, inst: Instance) -> None:
    """Open missing links, at most one attempt per link per ping period (stock: per instance,
    so a pub/sub link killed just after the command link reconnected waited a whole period);
    port 0 is never dialled."""
    if inst.port == 0:
        return
    for link, channel in ((inst.cc, Channel.CMD), (inst.pc, Channel.PUBSUB)):
        if link is None or link.id is not None:
            continue
        if link.last_attempt is not None and ctx.now - link.last_attempt < w.timers.ping_period:
            continue
        link.last_attempt = ctx.now
        open_link(w, ctx, inst, channel)


def info_period(w: World, inst: Instance, master: Master) -> int:
    """INFO cadence: 10 s; 1 s for replicas of a failing master or with their link down (ours:
    also from SDOWN on, stock from ODOWN on, and for a replica claiming to be master, so it is
    converted as soon as the wait allows); promotion-poll-period for the replica being promoted."""
    if isinstance(inst, Replica):
        if inst is master.promoted and master.failover_state is FailoverState.WAIT_PROMOTION:
            return w.timers.promotion_poll_period
        if (
            master.sdown
            or master.odown
            or master.in_failover
            or inst.master_link_down_ms != 0
            or inst.role_reported is Role.MASTER
        ):
            return INFO_FAST_PERIOD
    return w.timers.info_period


def periodic(w: World, ctx: Ctx, inst: Instance, master: Master) -> None:
    """INFO, PING and hello when due, on the command link (skipped under backpressure).

    Ours: only the command link must be up; stock also waits for the pub/sub link, so a stuck
    pub/sub reconnect silenced PINGs too."""
    if not inst.cc.up or inst.cc.pending >= MAX_PENDING_COMMANDS:
        return
    now = ctx.now
    if not isinstance(inst, Peer):
        period = info_period(w, inst, master)
        due = inst.info_refresh is None or now - inst.info_refresh >= period
        if due and (inst.info_in_flight is None or now - inst.info_in_flight >= period):
            send_info(w, ctx, inst, master)
    ping_period = min(master.down_after, w.timers.ping_period)
    if now - inst.last_pong_time > ping_period and (
        inst.last_ping_time is None or now - inst.last_ping_time > ping_period // 2
    ):
        send_ping(w, ctx, inst, master)
    publish = w.timers.publish_period
    if (inst.last_pub_time is None or now - inst.last_pub_time > publish) and (
        inst.hello_sent is None or now - inst.hello_sent > publish
    ):
        send_hello(w, ctx, inst, master)


def link_up(w: World, ctx: Ctx, inst: Instance, master: Master, channel: Channel, local_ip: str) -> None:
    """A link is established: handshake, and (cc) whatever is due right now."""
    link = inst.cc if channel is Channel.CMD else inst.pc
    assert link is not None
    link.up, link.since, link.local_ip = True, ctx.now, local_ip
    if channel is Channel.PUBSUB:
        inst.pc_last_activity = ctx.now
    handshake(w, ctx, inst, master, channel)
    periodic(w, ctx, inst, master)


def link_down(w: World, ctx: Ctx, inst: Instance, channel: Channel) -> None:
    """A link is gone with its pending commands; reopen it now if the throttle allows (ours:
    stock waits for the next timer tick)."""
    link = inst.cc if channel is Channel.CMD else inst.pc
    assert link is not None
    if link.up and channel is Channel.CMD:
        inst.link_lost_time = ctx.now
    forget_link(w, link)
    if channel is Channel.CMD:
        inst.info_in_flight = None
        inst.hello_sent = None
    reconnect(w, ctx, inst)


def on_ping_reply(w: World, ctx: Ctx, inst: Instance, master: Master, reply: Reply) -> None:
    """Only a status/error reply starting PONG, LOADING or MASTERDOWN proves the instance alive."""
    if isinstance(reply, (Status, ErrorReply)):
        text = reply.text
        if text.startswith(("PONG", "LOADING", "MASTERDOWN")):
            inst.last_avail_time = ctx.now
            inst.act_ping_time = None
            if text.startswith("PONG") and isinstance(inst, Master):
                inst.reboot = False
        elif (
            text.startswith("BUSY")
            and inst.sdown
            and not inst.script_kill_sent
            and send_cmd(w, ctx, inst, master, Purpose.DISCARD, "SCRIPT", "KILL") is not None
        ):
            inst.script_kill_sent = True
    inst.last_pong_time = ctx.now


def on_hello_published(inst: Instance, ctx: Ctx, reply: Reply) -> None:
    """The hello PUBLISH was answered: the next one is due a publish period later (not on error)."""
    inst.hello_sent = None
    if not isinstance(reply, ErrorReply):
        inst.last_pub_time = ctx.now


def on_subscribe_reply(w: World, ctx: Ctx, inst: Instance, reply: Reply) -> None:
    """An error to SUBSCRIBE kills the pub/sub link (as hiredis does), e.g. -NOAUTH."""
    inst.pc_last_activity = ctx.now
    if isinstance(reply, ErrorReply) and inst.pc is not None:
        close_link(w, ctx, inst.pc)


def follows_a_down_replica(master: Master, r: Replica) -> bool:
    """Ours: `r` replicates, link down, from an address that is one of the master's own replicas
    and that one is down: a replica the failover's leader did not know about (it had not read it
    in the old master's INFO yet) left on the dead old master. Stock waits failover-timeout before
    repointing it (`+fix-slave-config`), meanwhile `min-replicas-to-write` refuses every write on
    the new master; there is nothing to wait for (its link is down, the address it follows is a
    replica of the current master now, and down), so it is repointed at once. A replica following
    a live address (a switchover whose news has not reached us) keeps the stock wait."""
    if r.master_link_up or r.slave_master_host is None:
        return False
    followed = master.replica_at(r.slave_master_host, r.slave_master_port)
    return followed is not None and followed is not r and followed.sdown


def master_looks_sane(w: World, master: Master, now: int) -> bool:
    """Configured master, reports master, not down, INFO younger than 2 info periods."""
    return (
        master.role_reported is Role.MASTER
        and not master.sdown
        and not master.odown
        and master.info_refresh is not None
        and now - master.info_refresh < 2 * w.timers.info_period
    )


def on_info_reply(w: World, ctx: Ctx, inst: Instance, master: Master, reply: Reply) -> None:
    """Record what INFO says; outside TILT, act on it."""
    inst.info_in_flight = None
    if not isinstance(reply, str):
        return
    now = ctx.now
    report = parse_info(reply, as_master=inst is master)
    inst.info_refresh = now
    inst.info_text = reply
    if report.run_id is not None:
        if inst.runid is None:
            inst.runid = report.run_id
        elif inst.runid != report.run_id:
            event(w, ctx, Level.NOTICE, "+reboot", inst, master)
            inst.runid = report.run_id
            if isinstance(inst, Master) and master.settings.reboot_down_after > 0:
                master.reboot = True
                master.reboot_since = now
    if inst is master:
        for ip, port in report.replicas:
            if (ip, port) != master.addr and master.replica_at(ip, port) is None:
                r = new_replica(master, ip, port, now)
                master.replicas[r.name] = r
                event(w, ctx, Level.NOTICE, "+slave", r, master)
                ctx.persist()
    if isinstance(inst, Replica):
        inst.master_link_down_ms = report.master_link_down_ms
        if report.role is Role.SLAVE:
            if report.master_host is not None and report.master_host != inst.slave_master_host:
                inst.slave_master_host = report.master_host
                inst.slave_conf_change_time = now
            if report.master_port is not None and report.master_port != inst.slave_master_port:
                inst.slave_master_port = report.master_port
                inst.slave_conf_change_time = now
            if report.master_link_up is not None:
                inst.master_link_up = report.master_link_up
            if report.slave_priority is not None:
                inst.slave_priority = report.slave_priority
            if report.slave_repl_offset is not None:
                inst.repl_offset = report.slave_repl_offset
            if report.replica_announced is not None:
                inst.replica_announced = report.replica_announced
    role = report.role
    if role is not inst.role_reported:
        inst.role_reported = role
        inst.role_reported_time = now
        if role is Role.SLAVE and isinstance(inst, Replica):
            inst.slave_conf_change_time = now
        coherent = role.value == inst.kind.value
        shown = "master" if role is Role.MASTER else "slave"
        event(
            w,
            ctx,
            Level.VERBOSE,
            "+role-change" if coherent else "-role-change",
            inst,
            master,
            f" new reported role is {shown}",
        )
    if w.tilt or not isinstance(inst, Replica):
        return
    _act_on_replica_info(w, ctx, inst, master, role)
    if master.failover_state in (FailoverState.SELECT_SLAVE, FailoverState.SEND_SLAVEOF_NOONE):
        run_state_machine(w, ctx, master)  # SEND_SLAVEOF_NOONE: detach.py polls the chosen one


def _act_on_replica_info(w: World, ctx: Ctx, r: Replica, master: Master, role: Role) -> None:
    now = ctx.now
    if role is Role.MASTER:
        if r.promoted and master.failover_state is FailoverState.WAIT_PROMOTION:
            promotion_confirmed(w, ctx, master, r)
            run_state_machine(w, ctx, master)
            return
        wait = w.timers.convert_wait
        if (
            not r.promoted
            and master_looks_sane(w, master, now)
            and no_down_for(r, wait, now)
            and now - r.role_reported_time > wait
            and send_slaveof(w, ctx, r, master, master.addr)
        ):
            event(w, ctx, Level.NOTICE, "+convert-to-slave", r, master)
        return
    if role is not Role.SLAVE:
        return
    if (r.slave_master_port != master.port or not host_eq(r.slave_master_host, master.host)) and r.reconf in (
        Reconf.NONE,
        Reconf.DONE,
    ):
        wait = 0 if follows_a_down_replica(master, r) else master.failover_timeout
        if (
            not master.in_failover
            and master_looks_sane(w, master, now)
            and no_down_for(r, wait, now)
            and now - r.slave_conf_change_time > wait
            and send_slaveof(w, ctx, r, master, master.addr)
        ):
            event(w, ctx, Level.NOTICE, "+fix-slave-config", r, master)
    if (
        r.reconf is Reconf.SENT
        and host_eq(r.slave_master_host, master.host)
        and r.slave_master_port == master.port
    ):
        r.reconf = Reconf.INPROG
        event(w, ctx, Level.NOTICE, "+slave-reconf-inprog", r, master)
    if r.reconf is Reconf.INPROG and r.master_link_up:
        r.reconf = Reconf.DONE
        event(w, ctx, Level.NOTICE, "+slave-reconf-done", r, master)
        if master.failover_state is FailoverState.RECONF_SLAVES:
            run_state_machine(w, ctx, master)
