"""Redis's error texts, kept in one place so every command says exactly what Redis says."""

from __future__ import annotations


class CommandError(Exception):
    """A command failed with a Redis error reply; the text starts with the error code."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg

    @property
    def reply(self) -> bytes:
        try:  # user bytes decoded with "surrogateescape" go back exactly as sent, as in Redis
            raw = self.msg.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = self.msg.encode("utf-8", "replace")
        # Redis's addReplyErrorFormat: newlines at the end are trimmed, the others become spaces.
        return b"-" + raw.rstrip(b"\r\n").replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = "ERR syntax error"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
NO_SUCH_KEY = "ERR no such key"
INDEX_OUT_OF_RANGE = "ERR index out of range"
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
OOM = "OOM command not allowed when used memory > 'maxmemory'."
MASTERDOWN = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
DB_INDEX_OUT_OF_RANGE = "ERR DB index is out of range"
INCR_OVERFLOW = "ERR increment or decrement would overflow"
NAN_OR_INF = "ERR increment would produce NaN or Infinity"
MULTI_NESTED = "ERR MULTI calls can not be nested"
EXEC_WITHOUT_MULTI = "ERR EXEC without MULTI"
DISCARD_WITHOUT_MULTI = "ERR DISCARD without MULTI"
WATCH_IN_MULTI = "ERR WATCH inside MULTI is not allowed"
EXECABORT = "EXECABORT Transaction discarded because of previous errors."
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
EXPIRE_INVALID = "ERR invalid expire time in '{}' command"
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
PUBSUB_CONTEXT = (
    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
    "are allowed in this context"
)


def unknown_command(name: bytes, args: list[bytes]) -> CommandError:
    """Redis's processCommand: the arguments are listed while the list is under 128 bytes, each
    cut to what is left of those 128; everything is copied raw, up to a NUL (`%.*s`)."""
    listed = b""
    for a in args:
        if len(listed) >= 128:
            break
        listed += b"'" + _c_str(a, 128 - len(listed)) + b"' "
    return CommandError(
        "ERR unknown command '"
        + _c_str(name, 128).decode("utf-8", "surrogateescape")
        + "', with args beginning with: "
        + listed.decode("utf-8", "surrogateescape")
    )


def unknown_subcommand(cmd: bytes, sub: bytes) -> CommandError:
    return CommandError(
        f"ERR unknown subcommand '{quoted(sub, 128)}'. Try {cmd.decode('latin-1').upper()} HELP."
    )


def wrong_arity(name: bytes) -> CommandError:
    return CommandError(f"ERR wrong number of arguments for '{name.decode('latin-1').lower()}' command")


def _c_str(b: bytes, limit: int) -> bytes:
    """`b` as C's `%.<limit>s` copies it: up to the first NUL, at most `limit` bytes."""
    nul = b.find(0)
    return (b if nul < 0 else b[:nul])[:limit]


def quoted(b: bytes, limit: int | None = None) -> str:
    """User bytes as Redis quotes them in an error (`%s`, or `%.<limit>s`): raw, up to the first
    NUL. Decoded with "surrogateescape", so that `CommandError.reply` sends them back exactly."""
    nul = b.find(0)
    if nul >= 0:
        b = b[:nul]
    if limit is not None:
        b = b[:limit]
    return b.decode("utf-8", "surrogateescape")
