"""Pub/Sub as Redis 7.0: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB.

Subscriptions are kept twice, in step: on the client (`c.channels`, `c.patterns`,
`c.shard_channels`) for its own replies and cleanup, and in the engine's indexes
(`engine.channels`, `engine.patterns`, `engine.shard_channels`: name -> ordered set of clients)
for fan-out. Subscription confirmations are out-of-band output in Redis (CLIENT_PUSHING): they
reach the client even under CLIENT REPLY OFF, so outside EXEC they go through `Client.push`
(which keeps them in order with the replies of the same read) and the command's own reply is
empty. Inside EXEC they are the command's reply, as Redis nests them in the EXEC array.

Shard channels (SSUBSCRIBE/SPUBLISH) behave as in a non-cluster Redis 7.0: a separate namespace
with its own `smessage` messages and subscription count.
"""

from __future__ import annotations

from server.client import Client
from server.commands.clientcmd import shown
from server.commands.registry import command, container
from server.errors import CommandError
from server.glob import match as glob_match
from server.protocol import resp

container("pubsub", -2, "", group="pubsub")

_PUBSUB_FLAGS = "pubsub noscript loading stale"

_HELP = [
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
]


def _confirm(c: Client, kind: bytes, name: bytes | None, count: int) -> bytes:
    """One (un)subscribe confirmation: [kind, name or null, count] as an array or a push."""
    return (
        resp.push_header(3, c.resp)
        + resp.bulk(kind)
        + (resp.bulk(name) if name is not None else resp.null(c.resp))
        + resp.integer(count)
    )


def _emit(c: Client, parts: list[bytes]) -> bytes:
    """Deliver confirmations: pushed (immune to CLIENT REPLY OFF), or as the reply inside EXEC."""
    if c.in_exec:
        return b"".join(parts)
    for p in parts:
        c.push(p)
    return b""


def _count(c: Client) -> int:
    """The count SUBSCRIBE/PSUBSCRIBE and their inverses report: channels plus patterns."""
    return len(c.channels) + len(c.patterns)


# --- subscription bookkeeping (also used by RESET and when a connection ends) -------------------


def _add(index: dict[bytes, dict[Client, None]], name: bytes, c: Client) -> None:
    subs = index.get(name)
    if subs is None:
        subs = index[name] = {}
    subs[c] = None


def _remove(index: dict[bytes, dict[Client, None]], name: bytes, c: Client) -> None:
    subs = index.get(name)
    if subs is not None:
        subs.pop(c, None)
        if not subs:
            del index[name]


def drop_subscriptions(c: Client) -> None:
    """Forget every subscription of `c` without replying (RESET, connection end)."""
    eng = c.engine
    for ch in c.channels:
        _remove(eng.channels, ch, c)
    for p in c.patterns:
        _remove(eng.patterns, p, c)
    for ch in c.shard_channels:
        _remove(eng.shard_channels, ch, c)
    c.channels = set()
    c.patterns = {}
    c.shard_channels = set()


# --- SUBSCRIBE family ---------------------------------------------------------------------------


@command("subscribe", -2, _PUBSUB_FLAGS, group="pubsub")
def subscribe(c: Client, argv: list[bytes]) -> bytes:
    index = c.engine.channels
    out = []
    for ch in argv[1:]:
        if ch not in c.channels:
            c.channels.add(ch)
            _add(index, ch, c)
        out.append(_confirm(c, b"subscribe", ch, _count(c)))
    return _emit(c, out)


@command("psubscribe", -2, _PUBSUB_FLAGS, group="pubsub")
def psubscribe(c: Client, argv: list[bytes]) -> bytes:
    index = c.engine.patterns
    out = []
    for pat in argv[1:]:
        if pat not in c.patterns:
            c.patterns[pat] = None
            _add(index, pat, c)
        out.append(_confirm(c, b"psubscribe", pat, _count(c)))
    return _emit(c, out)


@command("ssubscribe", -2, _PUBSUB_FLAGS, 1, -1, 1, group="pubsub")
def ssubscribe(c: Client, argv: list[bytes]) -> bytes:
    index = c.engine.shard_channels
    out = []
    for ch in argv[1:]:
        if ch not in c.shard_channels:
            c.shard_channels.add(ch)
            _add(index, ch, c)
        out.append(_confirm(c, b"ssubscribe", ch, len(c.shard_channels)))
    return _emit(c, out)


@command("unsubscribe", -1, _PUBSUB_FLAGS, group="pubsub")
def unsubscribe(c: Client, argv: list[bytes]) -> bytes:
    names = argv[1:] or list(c.channels)
    if not names:
        return _emit(c, [_confirm(c, b"unsubscribe", None, _count(c))])
    index = c.engine.channels
    out = []
    for ch in names:
        if ch in c.channels:
            c.channels.discard(ch)
            _remove(index, ch, c)
        out.append(_confirm(c, b"unsubscribe", ch, _count(c)))
    return _emit(c, out)


@command("punsubscribe", -1, _PUBSUB_FLAGS, group="pubsub")
def punsubscribe(c: Client, argv: list[bytes]) -> bytes:
    names = argv[1:] or list(c.patterns)  # Redis 7.0 keeps patterns in a list: in order
    if not names:
        return _emit(c, [_confirm(c, b"punsubscribe", None, _count(c))])
    index = c.engine.patterns
    out = []
    for pat in names:
        if pat in c.patterns:
            del c.patterns[pat]
            _remove(index, pat, c)
        out.append(_confirm(c, b"punsubscribe", pat, _count(c)))
    return _emit(c, out)


@command("sunsubscribe", -1, _PUBSUB_FLAGS, 1, -1, 1, group="pubsub")
def sunsubscribe(c: Client, argv: list[bytes]) -> bytes:
    names = argv[1:] or list(c.shard_channels)
    if not names:
        return _emit(c, [_confirm(c, b"sunsubscribe", None, 0)])
    index = c.engine.shard_channels
    out = []
    for ch in names:
        if ch in c.shard_channels:
            c.shard_channels.discard(ch)
            _remove(index, ch, c)
        out.append(_confirm(c, b"sunsubscribe", ch, len(c.shard_channels)))
    return _emit(c, out)


# --- publishing ---------------------------------------------------------------------------------


def _propagate_to_replicas(c: Client, argv: list[bytes]) -> None:
    """PUBLISH reaches replicas (Redis forces PROPAGATE_REPL) but never the AOF."""
    repl = c.engine.repl
    if repl is not None:
        repl.feed(c.db.id, resp.bulk_array(argv))


@command("publish", 3, "pubsub loading stale fast", group="pubsub")
def publish(c: Client, argv: list[bytes]) -> bytes:
    n = c.engine.publish(argv[1], argv[2])
    _propagate_to_replicas(c, argv)
    return resp.integer(n)


@command("spublish", 3, "pubsub loading stale fast", 1, 1, 1, group="pubsub")
def spublish(c: Client, argv: list[bytes]) -> bytes:
    channel, message = argv[1], argv[2]
    subs = c.engine.shard_channels.get(channel)
    n = 0
    if subs:
        body = b"$8\r\nsmessage\r\n" + resp.bulk(channel) + resp.bulk(message)
        for sub in list(subs):
            sub.push(resp.push_header(3, sub.resp) + body)
            n += 1
    _propagate_to_replicas(c, argv)
    return resp.integer(n)


# --- PUBSUB introspection -----------------------------------------------------------------------


def _syntax_error(argv: list[bytes]) -> CommandError:
    """Redis's addReplySubcommandSyntaxError for a known subcommand with bad arguments."""
    return CommandError(
        f"ERR unknown subcommand or wrong number of arguments for '{shown(argv[1], 128)}'. Try PUBSUB HELP."
    )


def _matching(index: dict[bytes, dict[Client, None]], argv: list[bytes]) -> bytes:
    if len(argv) > 3:
        raise _syntax_error(argv)
    if len(argv) == 2:
        return resp.bulk_array(list(index))
    pat = argv[2]
    return resp.bulk_array([ch for ch in index if glob_match(pat, ch)])


def _numsub(index: dict[bytes, dict[Client, None]], argv: list[bytes]) -> bytes:
    parts = []
    for ch in argv[2:]:
        parts.append(resp.bulk(ch))
        parts.append(resp.integer(len(index.get(ch, ()))))
    return resp.array_header(len(parts)) + b"".join(parts)


@command("channels", -2, "pubsub loading stale", parent="pubsub")
def pubsub_channels(c: Client, argv: list[bytes]) -> bytes:
    return _matching(c.engine.channels, argv)


@command("shardchannels", -2, "pubsub loading stale", parent="pubsub")
def pubsub_shardchannels(c: Client, argv: list[bytes]) -> bytes:
    return _matching(c.engine.shard_channels, argv)


@command("numsub", -2, "pubsub loading stale", parent="pubsub")
def pubsub_numsub(c: Client, argv: list[bytes]) -> bytes:
    return _numsub(c.engine.channels, argv)


@command("shardnumsub", -2, "pubsub loading stale", parent="pubsub")
def pubsub_shardnumsub(c: Client, argv: list[bytes]) -> bytes:
    return _numsub(c.engine.shard_channels, argv)


@command("numpat", 2, "pubsub loading stale", parent="pubsub")
def pubsub_numpat(c: Client, argv: list[bytes]) -> bytes:
    return resp.integer(len(c.engine.patterns))


@command("help", 2, "loading stale", parent="pubsub")
def pubsub_help(c: Client, argv: list[bytes]) -> bytes:
    return resp.array([resp.simple(line) for line in _HELP])
