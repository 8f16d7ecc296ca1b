"""`hasentinel-server [config-file] [--directive value ...]`, started like `redis-server`."""

from __future__ import annotations

import os
import signal
import sys

import structlog
import trio

from server import REDIS_VERSION, __version__
from server.config import Config, ConfigError
from server.engine import Engine
from server.log import configure_logging
from server.network import Server
from server.persistence.manager import Persistence
from server.replication.master import Replication

log = structlog.get_logger("server")

USAGE = """Usage: hasentinel-server [/path/to/redis.conf] [options] [-]
       hasentinel-server -v or --version
       hasentinel-server -h or --help

Examples:
       hasentinel-server (run the server with default config)
       hasentinel-server /etc/redis/6379.conf
       hasentinel-server --port 7777
       hasentinel-server --port 7777 --replicaof 127.0.0.1 8888
       hasentinel-server /etc/myredis.conf --loglevel verbose -
       hasentinel-server --save "" --appendonly yes --dir /var/lib/x
"""


async def serve(
    engine: Engine,
    persistence: Persistence,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the server until SHUTDOWN or SIGTERM/SIGINT; then the final save and exit."""
    server = Server(engine)
    server.bind()
    cfg = engine.config
    if cfg.pidfile:
        with open(cfg.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    stop = server.shutdown_event

    def request_shutdown() -> None:
        stop.set()

    engine.hooks["request_shutdown"] = request_shutdown
    try:
        async with trio.open_nursery() as nursery:
            await persistence.start(nursery)
            await engine.repl.start(nursery)
            await nursery.start(server.serve)
            nursery.start_soon(_signals, engine, persistence, stop)
            log.info("ready to accept connections", port=server.bound_port, pid=os.getpid(), version=__version__)
            task_status.started(server)
            await stop.wait()
            nursery.cancel_scope.cancel()
    finally:
        if cfg.pidfile:
            try:
                os.unlink(cfg.pidfile)
            except OSError:
                pass


async def _signals(engine: Engine, persistence: Persistence, stop: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for sig in signals:
            log.warning("received signal, scheduling shutdown", signal=signal.Signals(sig).name)
            if persistence.shutdown(save=None, force=False):
                stop.set()
                return
            log.warning("errors trying to shut down the server, check the logs for more information")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-v", "--version"):
        print(f"hasentinel-server v={__version__} redis_version={REDIS_VERSION} bits=64")
        return
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return
    if args and args[-1] == "-" and len(args) > 1:
        args = args[:-1]
        args.insert(1 if args and not args[0].startswith("--") else 0, "-")
    try:
        cfg = Config.from_argv(args)
    except (ConfigError, OSError) as e:
        print(f"\n*** FATAL CONFIG FILE ERROR (hasentinel-server {__version__}) ***\n{e}", file=sys.stderr)
        sys.exit(1)
    configure_logging(cfg.loglevel, cfg.logfile, service="server")
    engine = Engine(cfg)
    Replication(engine)
    persistence = Persistence(engine)
    try:
        persistence.load()
    except Exception as e:
        log.error("fatal error loading the dataset, exiting", error=str(e))
        sys.exit(1)
    try:
        trio.run(serve, engine, persistence)
    except OSError as e:
        log.error("could not start", error=str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
