"""Logging for every hasentinel process, configured in one place.

structlog renders for a person on a terminal and as one JSON object per line otherwise
(journald, files, log shippers). Redis's loglevel names map onto the standard levels.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

import structlog

LEVELS = {
    "debug": logging.DEBUG,
    "verbose": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "nothing": logging.CRITICAL + 10,
    "info": logging.INFO,
    "error": logging.ERROR,
}

_log_file: IO[str] | None = None


def configure_logging(level: str = "notice", logfile: str = "", service: str = "", json: bool | None = None) -> None:
    """Set up structlog (and the stdlib root logger, for libraries) for this process."""
    global _log_file
    lvl = LEVELS.get(level.lower(), logging.INFO)
    stream: IO[str]
    if logfile:
        if _log_file is not None:
            _log_file.close()
        _log_file = open(logfile, "a", buffering=1)  # noqa: SIM115  (lives as long as the process)
        stream = _log_file
    else:
        stream = sys.stderr
    if json is None:
        json = not stream.isatty()
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if service:
        processors.insert(0, _add_service(service))
    if json:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(lvl, logging.WARNING), stream=stream, force=True)


def _add_service(service: str) -> Any:
    def processor(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("service", service)
        return event

    return processor
