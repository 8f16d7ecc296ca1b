"""`python -m sentinel <sentinel.conf> [--directive value ...]`, started like `redis-sentinel`.

Loads the (read-only) config and the state file next to it, checks the scripts, configures
logging, and runs the runtime until SIGTERM/SIGINT/SHUTDOWN (exit 0). Exit codes: 1 for a bad
config, unreadable/corrupt state, a port that cannot be bound or a state write that failed;
SIMULATE-FAILURE exits with the core's code (99).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import structlog
import trio

from sentinel import __version__
from sentinel.core.config import ConfigError, SentinelConfig, parse_config
from sentinel.core.core import SentinelCore
from sentinel.runtime.metrics import metrics_address
from sentinel.runtime.runtime import FatalError, Runtime
from sentinel.runtime.statefile import load_state, state_path
from server.log import configure_logging

log = structlog.get_logger("sentinel")

USAGE = """Usage: python -m sentinel /path/to/sentinel.conf [--directive value ...]
       hasentinel sentinel /path/to/sentinel.conf [--directive value ...]

The configuration file is never rewritten: the sentinel's state (myid, epochs, votes, known
replicas and sentinels, runtime changes) is kept in <dir>/<config-file-name>.state.json.
"""


def config_text(path: Path, overrides: list[str]) -> str:
    """The file's text plus `--name value ...` overrides as extra lines (as redis-sentinel)."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    lines: list[list[str]] = []
    for arg in overrides:
        if arg.startswith("--") and len(arg) > 2:
            lines.append([arg[2:]])
        elif lines:
            lines[-1].append(arg)
        else:
            raise ConfigError(0, f"Invalid argument '{arg}'")
    extra = []
    for words in lines:
        if words[0] == "sentinel" and len(words) == 1:
            continue  # `--sentinel` (redis-server's mode switch) means nothing here
        extra.append(" ".join(_quote(w) for w in words))
    return text + ("\n" + "\n".join(extra) + "\n" if extra else "")


def _quote(word: str) -> str:
    if word and not any(ch.isspace() or ch in "\"'" for ch in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _directive(config: SentinelConfig, name: str) -> str | None:
    for words in config.other:
        if words and words[0].lower() == name and len(words) >= 2:
            return words[1]
    return None


def _fatal_config(message: str) -> int:
    print(f"\n*** FATAL CONFIG FILE ERROR (hasentinel {__version__}) ***\n{message}", file=sys.stderr)
    return 1


def check_vip_prerequisites(config: SentinelConfig) -> str | None:
    """With a VIP configured: the capabilities (CAP_NET_ADMIN, CAP_NET_RAW) and the interface.

    Returns what is wrong, or None. Without a VIP nothing is checked (no privilege needed)."""
    vips = [m for m in config.masters if m.vip is not None]
    if not vips:
        return None
    from sentinel.vip.caps import capability_error, missing_capabilities

    missing = missing_capabilities()
    if missing:
        names = ", ".join(f"'{m.name}'" for m in vips)
        return capability_error(missing, f"managing the VIP of {names}")
    from sentinel.vip.errors import VipError
    from sentinel.vip.netlink import AddressManager

    mgr = AddressManager()
    for m in vips:
        assert m.vip is not None
        try:
            mgr.link(m.vip.iface)
        except VipError as e:
            return f"the VIP of '{m.name}' ({m.vip.address}): {e}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run a sentinel; returns the process exit code."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 1
    if args[0] in ("-v", "--version"):
        print(f"hasentinel sentinel v={__version__}")
        return 0
    path = Path(args[0])
    try:
        config = parse_config(config_text(path, args[1:]))
    except OSError as e:
        return _fatal_config(f"Can't open config file '{path}': {e.strerror}")
    except ConfigError as e:
        return _fatal_config(f"Reading the configuration file, at {e}")
    for script in config.script_paths():
        if not (os.path.isfile(script) and os.access(script, os.X_OK)):
            return _fatal_config(f"Script '{script}' seems non existing or non executable")
    loglevel = (_directive(config, "loglevel") or "notice").lower()
    if loglevel not in ("debug", "verbose", "notice", "warning", "nothing"):
        return _fatal_config(f"Invalid loglevel '{loglevel}'")
    try:
        metrics_address(config)
    except ValueError as e:
        return _fatal_config(str(e))
    logfile = _directive(config, "logfile") or ""
    configure_logging(loglevel, logfile, service="sentinel")
    if (_directive(config, "daemonize") or "no").lower() == "yes":
        log.warning("daemonize is not supported: running in the foreground (use a supervisor)")
    problem = check_vip_prerequisites(config)
    if problem is not None:
        print(f"*** FATAL: {problem}", file=sys.stderr)
        log.critical("cannot manage the VIP, refusing to start", error=problem)
        return 1
    spath = state_path(path, config)
    try:
        state = load_state(spath)
    except (OSError, ValueError) as e:
        log.critical("cannot load the state file, refusing to start", state_file=str(spath), error=str(e))
        return 1
    if not os.access(spath.parent, os.W_OK):
        log.critical("the state directory is not writable", state_dir=str(spath.parent))
        return 1
    core = SentinelCore(config, state, random.Random(int.from_bytes(os.urandom(16), "big")))
    core.world.settings.loglevel = loglevel  # what SENTINEL CONFIG GET loglevel shows until changed
    pidfile = _directive(config, "pidfile")
    if pidfile:
        Path(pidfile).write_text(f"{os.getpid()}\n")
    log.warning(
        "sentinel starting",
        version=__version__,
        pid=os.getpid(),
        config=str(path.resolve()),
        state_file=str(spath),
        myid=core.myid,
        port=config.port,
    )
    runtime = Runtime(
        core,
        config,
        config_path=path,
        state_file=spath,
        on_loglevel=lambda level: configure_logging(level, logfile, service="sentinel"),
    )
    try:
        code = _run(runtime)
    finally:
        if pidfile:
            try:
                os.unlink(pidfile)
            except OSError:
                pass
    if code == 0:
        log.warning("sentinel stopped")
    return code


def _run(runtime: Runtime) -> int:
    code = 0
    try:
        trio.run(runtime.run)
    except* FatalError:
        code = 1
    except* OSError as eg:
        log.critical("could not start", error="; ".join(str(e) for e in eg.exceptions))
        code = 1
    return code
