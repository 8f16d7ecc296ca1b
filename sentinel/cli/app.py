"""`hasentinel`: the operator's entry point."""

from __future__ import annotations

import typer

from sentinel import __version__
from sentinel.cli.commands import register as register_operator_commands
from sentinel.drill.cli import drill
from sentinel.lab.cli import lab_app
from server import REDIS_VERSION

app = typer.Typer(no_args_is_help=True, add_completion=False, help="High availability for a Redis-protocol service.")


@app.command()
def version() -> None:
    """Print the hasentinel version and the Redis version the server speaks."""
    typer.echo(f"hasentinel {__version__} (redis protocol {REDIS_VERSION})")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sentinel(
    ctx: typer.Context,
    config: str = typer.Argument(..., help="sentinel.conf (read-only; state goes to <dir>/<name>.state.json)"),
) -> None:
    """Run a sentinel, like `redis-sentinel <config> [--directive value ...]`."""
    from sentinel.runtime.main import main as sentinel_main

    raise typer.Exit(sentinel_main([config, *ctx.args]))


@app.command()
def supervise(
    config: str = typer.Argument(..., help="the host config (TOML), e.g. /etc/hasentinel/host.toml"),
    check: bool = typer.Option(False, "--check", help="check the configs, print the commands, exit"),
) -> None:
    """Run this host's server and sentinel; restart them; never restart an empty master as master."""
    from sentinel.supervisor.runner import main as supervise_main

    raise typer.Exit(supervise_main([config, *(["--check"] if check else [])]))


register_operator_commands(app)  # status, switchover, failover, pause, resume, events, check
app.add_typer(lab_app, name="lab")  # lab up | down | status | exec (sentinel/lab/, docs/lab.md)
app.command()(drill)  # drill SCENARIO... (sentinel/drill/, docs/drills.md)


@app.callback()
def _root() -> None:
    """hasentinel: server, sentinel, VIP and supervisor for a three-host Redis service."""


def main() -> None:
    app()
