"""Outgoing connections to masters, replicas and other sentinels (the core's `OpenLink`s).

One task per link: connect (hostname resolved at every connect, bounded timeout), report
`LinkUp`, then a writer and a reader. Commands are pipelined: `send` queues the encoded request
and its tag; replies are matched to tags in order and fed back as `CommandReply`. On a pub/sub
link, `message` pushes become `PubSubMessage` and everything else answers the next tag (the
SUBSCRIBE confirmation included). When the connection fails or is lost, exactly one `LinkDown`
is fed, unless the core closed the link first (`CloseLink`: then nothing more is reported).
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Callable

import structlog
import trio

from sentinel.core.actions import Channel, OpenLink
from sentinel.core.events import CommandReply, Event, LinkDown, LinkUp, PubSubMessage
from sentinel.runtime.resp import ReplyParser, ReplyProtocolError, encode_command

log = structlog.get_logger("sentinel.links")

READ_SIZE = 65536


class Link:
    """One connection asked for by the core."""

    def __init__(self, action: OpenLink, feed: Callable[[Event], None], connect_timeout: float) -> None:
        self.id = action.link
        self.host = action.host
        self.port = action.port
        self.channel = action.channel
        self.peer = action.peer
        self.label = action.label
        self._feed = feed
        self._connect_timeout = connect_timeout
        self._scope = trio.CancelScope()
        self._pending: deque[int] = deque()
        self._out: list[bytes] = []
        self._wake = trio.Event()
        self.closed = False
        self.up = False

    def send(self, tag: int, argv: tuple[str, ...]) -> None:
        """Queue a command; its reply will be fed as CommandReply(tag)."""
        if self.closed:
            return
        self._pending.append(tag)
        self._out.append(encode_command(argv))
        self._wake.set()

    def close(self) -> None:
        """CloseLink: stop now; no event is reported for this link any more."""
        self.closed = True
        self._scope.cancel()

    def _emit(self, ev: Event) -> None:
        if not self.closed:
            self._feed(ev)

    async def run(self) -> None:
        """Connect, serve, and report the end (unless closed by the core)."""
        reason = "closed"
        with self._scope:
            reason = await self._run()
        if not self.closed:
            self.closed = True
            self._feed(LinkDown(self.id, reason))

    async def _run(self) -> str:
        try:
            with trio.fail_after(self._connect_timeout):
                stream = await trio.open_tcp_stream(self.host, self.port)
        except trio.TooSlowError:
            return "connect timeout"
        except OSError as e:
            return f"connect: {e.strerror or e}"
        try:
            sock = stream.socket
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                local_ip = str(sock.getsockname()[0])
            except OSError as e:
                return f"socket: {e.strerror or e}"
            self.up = True
            self._emit(LinkUp(self.id, local_ip))
            reason = "connection lost"
            async with trio.open_nursery() as nursery:

                async def writer() -> None:
                    nonlocal reason
                    try:
                        await self._writer(stream)
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
                        reason = f"write: {e}"
                    nursery.cancel_scope.cancel()

                nursery.start_soon(writer)
                try:
                    reason = await self._reader(stream)
                finally:
                    nursery.cancel_scope.cancel()
            return reason
        finally:
            stream.socket.close()

    async def _writer(self, stream: trio.SocketStream) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            while self._out:
                data = b"".join(self._out)
                self._out.clear()
                await stream.send_all(data)

    async def _reader(self, stream: trio.SocketStream) -> str:
        parser = ReplyParser()
        pubsub = self.channel is Channel.PUBSUB
        while True:
            try:
                data = await stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
                return f"read: {e}"
            if not data:
                return "connection closed by peer"
            parser.feed(data)
            while True:
                try:
                    ok, reply = parser.gets()
                except ReplyProtocolError as e:
                    return f"protocol error: {e}"
                if not ok:
                    break
                if (
                    pubsub
                    and isinstance(reply, list)
                    and len(reply) == 3
                    and reply[0] == "message"
                    and isinstance(reply[1], str)
                    and isinstance(reply[2], str)
                ):
                    self._emit(PubSubMessage(self.id, reply[1], reply[2]))
                elif self._pending:
                    self._emit(CommandReply(self._pending.popleft(), reply))
                else:
                    log.debug("unexpected reply ignored", link=self.id, label=self.label, reply=repr(reply)[:200])
