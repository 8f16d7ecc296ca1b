"""Blocked clients: BLPOP and friends, WAIT, and writes held by CLIENT PAUSE.

A handler that cannot answer yet returns a `Block`. The network layer then stops reading from
that client and awaits `Block.done` (or the deadline); the engine serves blocked clients
synchronously, in the order they blocked, when one of their keys is written (`Engine.
handle_ready_keys`), so a wake-up is atomic with the write that caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import trio


@dataclass(eq=False)
class Block:
    keys: list[bytes]
    # Called when a key is ready: the reply if the client can be served now, else None.
    retry: Callable[[], bytes | None]
    # Reply when the deadline passes (None deadline: wait forever).
    on_timeout: bytes
    deadline: float | None = None  # trio.current_time() based
    done: trio.Event = field(default_factory=trio.Event)
    reply: bytes | None = None
    # For blocks not tied to keys (WAIT, pause): the engine's predicate, checked on events.
    kind: str = "keys"
    # A reply computed when the deadline passes (WAIT answers with the count at that moment).
    timeout_reply: Callable[[], bytes] | None = None
    # The key being served while `retry` runs (set by Engine.handle_ready_keys): Redis 7.0
    # serves a client blocked on several keys from the key that became ready, not its first key.
    ready_key: bytes | None = None
