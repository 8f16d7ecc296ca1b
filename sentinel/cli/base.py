"""What every operator command needs before talking to anything: the defaults, the options
(`Settings`) and the error type. Kept free of heavy imports (redis, rich, the core) so that
`hasentinel sentinel`, `supervise` and `version` start without loading them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CONFIG = Path("/etc/hasentinel/sentinel.conf")
DEFAULT_TIMEOUT = 2.0


class CliError(Exception):
    """A problem the operator can act on; `code` is the process exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class Settings:
    """What the operator told the CLI (options), before anything is contacted."""

    config: Path | None = None
    """--config; None means the default path, used only if it exists."""
    sentinels: list[str] = field(default_factory=list)
    password: str | None = None
    username: str | None = None
    auth_pass: str | None = None
    timeout: float = DEFAULT_TIMEOUT
