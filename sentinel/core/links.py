"""Outgoing plumbing: links, commands with correlation tags, events and the scripts they trigger.

Every function here only records state and appends actions to the step context.
"""

from __future__ import annotations

from sentinel.core.actions import Channel, CloseLink, Level, OpenLink, Publish, SendCommand
from sentinel.core.hello import format_hello
from sentinel.core.instances import current_master_addr, details, instance_name
from sentinel.core.model import Ctx, Instance, Link, LinkRef, Master, Peer, Pending, Purpose, World
from sentinel.core.timers import HELLO_CHANNEL


def open_link(w: World, ctx: Ctx, inst: Instance, channel: Channel) -> None:
    """Ask the runtime for a new connection; LinkUp/LinkDown will follow."""
    link = inst.cc if channel is Channel.CMD else inst.pc
    assert link is not None
    link_id = w.next_link_id
    w.next_link_id += 1
    link.id, link.up, link.pending = link_id, False, 0
    w.links[link_id] = LinkRef(inst, channel)
    ctx.emit(OpenLink(link_id, inst.host, inst.port, channel, inst.kind.value, instance_name(inst)))


def close_link(w: World, ctx: Ctx, link: Link) -> None:
    """Close one connection and forget its pending commands (their replies will be ignored)."""
    if link.id is None:
        return
    ctx.emit(CloseLink(link.id))
    ref = w.links.get(link.id)
    if ref is not None and link.up and ref.channel is Channel.CMD:
        ref.instance.link_lost_time = ctx.now
    forget_link(w, link)


def forget_link(w: World, link: Link) -> None:
    """Drop a link's bookkeeping (after LinkDown or CloseLink)."""
    if link.id is not None:
        w.links.pop(link.id, None)
        for tag in [t for t, p in w.pending.items() if p.link == link.id]:
            del w.pending[tag]
    link.id, link.up, link.pending, link.since = None, False, 0, 0


def close_instance(w: World, ctx: Ctx, inst: Instance) -> None:
    """Close every connection of an instance; it reconnects on a later tick if still tracked."""
    close_link(w, ctx, inst.cc)
    if inst.pc is not None:
        close_link(w, ctx, inst.pc)
    inst.info_in_flight = None
    inst.hello_sent = None


def map_command(inst: Instance, master: Master, name: str) -> str:
    """Apply the master's rename-command table (masters and replicas only, as stock)."""
    if isinstance(inst, Peer):
        return name
    for old, new in master.settings.renamed_commands:
        if old.lower() == name.lower():
            return new
    return name


def send(
    w: World,
    ctx: Ctx,
    inst: Instance,
    purpose: Purpose,
    argv: tuple[str, ...],
    channel: Channel = Channel.CMD,
    master: str = "",
    generation: int = 0,
) -> int | None:
    """Send a command on an established link; returns its tag (None when the link is not up)."""
    link = inst.cc if channel is Channel.CMD else inst.pc
    if link is None or not link.up or link.id is None:
        return None
    tag = w.next_tag
    w.next_tag += 1
    w.pending[tag] = Pending(link=link.id, purpose=purpose, generation=generation, master=master)
    link.pending += 1
    ctx.emit(SendCommand(link.id, tag, argv))
    return tag


def send_cmd(w: World, ctx: Ctx, inst: Instance, master: Master, purpose: Purpose, *argv: str) -> int | None:
    """`send` on the cc with the command name mapped through rename-command."""
    return send(w, ctx, inst, purpose, (map_command(inst, master, argv[0]), *argv[1:]))


def send_slaveof(w: World, ctx: Ctx, inst: Instance, master: Master, target: tuple[str, int] | None) -> bool:
    """The stock reconfiguration transaction (MULTI, SLAVEOF, CONFIG REWRITE, 2 x CLIENT KILL, EXEC).

    `target` None means SLAVEOF NO ONE. Replies are discarded: the effect is read from INFO.
    """
    if inst.cc.id is None or not inst.cc.up:
        return False
    host, port = ("NO", "ONE") if target is None else (target[0], str(target[1]))
    for argv in (
        ("MULTI",),
        ("SLAVEOF", host, port),
        ("CONFIG", "REWRITE"),
        ("CLIENT", "KILL", "TYPE", "normal"),
        ("CLIENT", "KILL", "TYPE", "pubsub"),
        ("EXEC",),
    ):
        send_cmd(w, ctx, inst, master, Purpose.DISCARD, *argv)
    return True


def auth_argv(w: World, inst: Instance, master: Master) -> tuple[str, ...] | None:
    """The AUTH to send on a new link, if credentials apply (stock sentinelSendAuthIfNeeded)."""
    user: str | None
    password: str | None
    if isinstance(inst, Peer):
        if w.settings.sentinel_pass:
            user, password = w.settings.sentinel_user, w.settings.sentinel_pass
        else:
            user, password = None, w.settings.requirepass
    else:
        user, password = master.settings.auth_user, master.settings.auth_pass
    if not password:
        return None
    return ("AUTH", password) if not user else ("AUTH", user, password)


def handshake(w: World, ctx: Ctx, inst: Instance, master: Master, channel: Channel) -> None:
    """Pipelined link setup: AUTH if needed, CLIENT SETNAME, then PING (cc) or SUBSCRIBE (pc)."""
    auth = auth_argv(w, inst, master)
    if auth is not None:
        send(w, ctx, inst, Purpose.DISCARD, (map_command(inst, master, "AUTH"), *auth[1:]), channel)
    name = f"sentinel-{w.myid[:8]}-{'cmd' if channel is Channel.CMD else 'pubsub'}"
    send(w, ctx, inst, Purpose.DISCARD, (map_command(inst, master, "CLIENT"), "SETNAME", name), channel)
    if channel is Channel.CMD:
        send_ping(w, ctx, inst, master)
    else:
        send(
            w, ctx, inst, Purpose.SUBSCRIBE, (map_command(inst, master, "SUBSCRIBE"), HELLO_CHANNEL), channel
        )


def send_ping(w: World, ctx: Ctx, inst: Instance, master: Master) -> bool:
    """PING; the oldest unanswered one starts the SDOWN clock."""
    if send_cmd(w, ctx, inst, master, Purpose.PING, "PING") is None:
        return False
    inst.last_ping_time = ctx.now
    if inst.act_ping_time is None:
        inst.act_ping_time = ctx.now
    return True


def hello_payload(w: World, inst: Instance, master: Master) -> str:
    """Our hello for `master`, as sent to `inst` (announce-ip or the link's local address)."""
    ip = w.settings.announce_ip or inst.cc.local_ip
    port = w.settings.announce_port or w.settings.port
    mhost, mport = current_master_addr(master)
    return format_hello(ip, port, w.myid, w.current_epoch, master.name, mhost, mport, master.config_epoch)


def may_be_write_paused(w: World, inst: Instance, master: Master) -> bool:
    """Ours: whether `inst` is our local server (`sentinel vip-local-server`) while a fence's
    `CLIENT PAUSE ... WRITE` may be in effect on it (not known to be lifted: ownership.py).

    By address, not by a flag on the Instance: after a switch the same server is a new Instance
    (a replica of the new master, or the master object itself) whose link opens before the fence
    logic has run for it, and the pause on the server outlives the old Instance."""
    cfg = master.settings.vip
    if cfg is None:
        return False
    o = w.ownership.get(master.name)
    if o is None or o.fence_want is False:
        return False
    return cfg.is_local(inst.host, inst.port)


def send_hello(w: World, ctx: Ctx, inst: Instance, master: Master) -> bool:
    """PUBLISH our hello on the instance's cc (masters, replicas and sentinels alike).

    Ours: never to our local server while it may be write-paused by our fence: Redis holds a
    paused PUBLISH, and every later command of the link behind it, the fence's own CLIENT
    UNPAUSE included, until the pause ends by itself."""
    if may_be_write_paused(w, inst, master):
        return False
    payload = hello_payload(w, inst, master)
    if send_cmd(w, ctx, inst, master, Purpose.HELLO, "PUBLISH", HELLO_CHANNEL, payload) is None:
        return False
    inst.hello_sent = ctx.now
    return True


def send_info(w: World, ctx: Ctx, inst: Instance, master: Master) -> bool:
    """INFO (no section argument, as stock) to a master or replica."""
    if send_cmd(w, ctx, inst, master, Purpose.INFO, "INFO") is None:
        return False
    inst.info_in_flight = ctx.now
    return True


def force_hello(w: World, ctx: Ctx, master: Master) -> None:
    """Send our hello to the master, its replicas and peers right now (after a promotion)."""
    for inst in (master, *master.replicas.values(), *master.peers.values()):
        send_hello(w, ctx, inst, master)


def event(
    w: World,
    ctx: Ctx,
    level: Level,
    etype: str,
    inst: Instance | None,
    master: Master | None,
    extra: str = "",
    *,
    raw: str | None = None,
) -> None:
    """Emit a sentinel event: payload = `%@` details + extra (or `raw`).

    WARNING events tied to an instance also queue the master's notification script.
    """
    if raw is not None:
        payload = raw
    else:
        assert inst is not None and master is not None
        payload = details(inst, master) + extra
    ctx.emit(Publish(etype, payload, level))
    if level is Level.WARNING and inst is not None and master is not None:
        script = master.settings.notification_script
        if script:
            w.scripts.schedule(ctx.now, (script, etype, payload), master=master.name, kind="notify")
