"""Hello messages on `__sentinel__:hello`: the exact 8-field stock payload.

`ip,port,runid,current_epoch,master_name,master_ip,master_port,master_config_epoch`,
comma-separated, no spaces (stock `sentinelSendHello` / `sentinelProcessHelloMessage`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.core.config import atoi


@dataclass(frozen=True, slots=True)
class Hello:
    """A parsed hello."""

    ip: str
    port: int
    runid: str
    current_epoch: int
    master_name: str
    master_ip: str
    master_port: int
    master_config_epoch: int

    def format(self) -> str:
        """The wire payload."""
        return format_hello(
            self.ip,
            self.port,
            self.runid,
            self.current_epoch,
            self.master_name,
            self.master_ip,
            self.master_port,
            self.master_config_epoch,
        )


def format_hello(
    ip: str,
    port: int,
    runid: str,
    current_epoch: int,
    master_name: str,
    master_ip: str,
    master_port: int,
    master_config_epoch: int,
) -> str:
    """Build the payload."""
    return (
        f"{ip},{port},{runid},{current_epoch},{master_name},{master_ip},{master_port},{master_config_epoch}"
    )


def parse_hello(payload: str) -> Hello | None:
    """Parse a payload; None unless it has exactly 8 comma-separated tokens.

    Numbers are read like C's atoi/strtoull (leading digits), as stock does.
    """
    tokens = payload.split(",")
    if len(tokens) != 8:
        return None
    return Hello(
        ip=tokens[0],
        port=atoi(tokens[1]),
        runid=tokens[2],
        current_epoch=max(0, atoi(tokens[3])),
        master_name=tokens[4],
        master_ip=tokens[5],
        master_port=atoi(tokens[6]),
        master_config_epoch=max(0, atoi(tokens[7])),
    )
