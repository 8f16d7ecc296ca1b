"""Decoded RESP values exchanged between the core and its runtime.

The runtime decodes what instances and peers send (RESP2) into these values before feeding them
to the core, and encodes the values the core asks it to send back to clients. Status and error
replies are distinct types because the core's decisions depend on the difference (a bulk "PONG" is
not a valid PING reply, and an is-master-down reply must be exactly integer, string, integer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Status:
    """A status (simple string) reply, without the leading `+`: `Status("OK")`."""

    text: str


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An error reply without the leading `-`, code included: `ErrorReply("ERR No such master ...")`."""

    text: str


Reply: TypeAlias = "Status | ErrorReply | int | str | list[Reply] | None"
"""Bulk strings are `str` (the runtime decodes them, e.g. utf-8 with surrogateescape); a null
bulk or null array is `None`; arrays (and RESP3 pushes) are lists."""


def is_error(reply: Reply) -> bool:
    """True for an error reply."""
    return isinstance(reply, ErrorReply)
