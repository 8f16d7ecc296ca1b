"""The `hasentinel lab` command group (registered by sentinel/cli/app.py)."""

from __future__ import annotations

import typer

lab_app = typer.Typer(
    no_args_is_help=True,
    help="A three-host lab in network namespaces (root): up, down, status, exec (docs/lab.md).",
)


def _run(fn: object, *args: object, **kw: object) -> None:
    from sentinel.lab.lab import LabError

    try:
        code = fn(*args, **kw)  # type: ignore[operator]
    except LabError as e:
        typer.echo(f"hasentinel lab: {e}", err=True)
        raise typer.Exit(e.code) from None
    raise typer.Exit(int(code))


@lab_app.command()
def up(
    timeout: float = typer.Option(60.0, "--timeout", help="seconds to wait for a healthy cluster"),
    flavour: str = typer.Option(
        "hasentinel",
        "--flavour",
        help="hasentinel (`hasentinel supervise` per host) or stock (Debian's redis-server + "
        "redis-sentinel 7, the same configs, the VIP moved by scripts/vip-reconfig)",
    ),
) -> None:
    """Build the namespaces, start `hasentinel supervise` on three hosts, wait until healthy."""
    from sentinel.lab import lab

    _run(lab.up, timeout=timeout, say=typer.echo, flavour=flavour)


@lab_app.command()
def down() -> None:
    """Stop every lab process and delete every lab namespace (also after a crash)."""
    from sentinel.lab import lab

    _run(lab.down, say=typer.echo)


@lab_app.command()
def status(json_out: bool = typer.Option(False, "--json", help="the status as JSON")) -> None:
    """`hasentinel status` against the lab's sentinels (from the client namespace), and the VIP holder."""
    from sentinel.lab import lab

    _run(lab.lab_status, json_out=json_out, say=typer.echo)


@lab_app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(
    ctx: typer.Context,
    host: str = typer.Argument(..., help="host1, host2, host3 or client"),
) -> None:
    """Run a command inside a lab namespace, e.g. `hasentinel lab exec client redis-cli -h 10.251.0.100`."""
    from sentinel.lab import lab

    _run(lab.lab_exec, host, list(ctx.args))
