"""The operator commands of `hasentinel`: status, switchover, failover, pause, resume, events,
check. `register(app)` adds them to the typer app (sentinel/cli/app.py). docs/cli.md is the
reference: where the sentinels are learned, exit codes, the JSON documents."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sentinel.cli.base import DEFAULT_CONFIG, DEFAULT_TIMEOUT, CliError, Settings

if TYPE_CHECKING:
    from rich.console import Console

    from sentinel.cli.client import Sources

CONFIG_HELP = f"sentinel.conf to learn the sentinels and passwords from (default {DEFAULT_CONFIG}, if present)"
SENTINEL_HELP = "a sentinel to ask, HOST:PORT (repeatable); the others are discovered from it"

ConfigOpt = typer.Option(None, "--config", "-c", help=CONFIG_HELP)
SentinelOpt = typer.Option([], "--sentinel", "-s", help=SENTINEL_HELP)
PasswordOpt = typer.Option(None, "--password", help="the sentinels' password (default: requirepass of the config; env HASENTINEL_PASSWORD)")
AuthPassOpt = typer.Option(None, "--auth-pass", help="the data nodes' password (default: the config's auth-pass; env HASENTINEL_AUTH_PASS)")
TimeoutOpt = typer.Option(DEFAULT_TIMEOUT, "--timeout", help="seconds to wait for any one connection or reply")
MasterOpt = typer.Option(None, "--master", "-m", help="master name (default: the only one monitored)")
JsonOpt = typer.Option(False, "--json", help="machine-readable output (see docs/cli.md)")


def _settings(config: Path | None, sentinel: list[str], password: str | None, auth_pass: str | None, timeout: float) -> Settings:
    return Settings(config=config, sentinels=list(sentinel), password=password, auth_pass=auth_pass, timeout=timeout)


def _fail(e: CliError) -> typer.Exit:
    typer.echo(f"hasentinel: {e.message}", err=True)
    return typer.Exit(e.code)


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def resolve_sources(settings: Settings) -> Sources:
    """sentinel.cli.client.resolve_sources, imported when a command runs (redis, the core)."""
    from sentinel.cli.client import resolve_sources as resolve

    return resolve(settings)


def status(
    config: Path | None = ConfigOpt,
    sentinel: list[str] = SentinelOpt,
    master: str | None = MasterOpt,
    as_json: bool = JsonOpt,
    watch: bool = typer.Option(False, "--watch", "-w", help="refresh until Ctrl-C (with --json: one document per line)"),
    interval: float = typer.Option(2.0, "--interval", help="seconds between refreshes with --watch"),
    vip: str | None = typer.Option(None, "--vip", help="the VIP to look for (default: HASENTINEL_VIP or the VIP config)"),
    supervisor_status: str | None = typer.Option(
        None, "--supervisor-status", help="this host's supervisor status file (default: see docs/cli.md)"
    ),
    password: str | None = PasswordOpt,
    auth_pass: str | None = AuthPassOpt,
    timeout: float = TimeoutOpt,
) -> None:
    """Every sentinel's view side by side, replicas, quorum, VIP, last failover.

    Exit code: 0 healthy, 1 degraded, 2 down (for monitoring).
    """
    from sentinel.cli.render import render_status
    from sentinel.cli.status import build_status
    from sentinel.cli.survey import survey

    code = 2
    try:
        while True:
            src = resolve_sources(_settings(config, sentinel, password, auth_pass, timeout))
            doc = build_status(survey(src), src, master, vip, supervisor_status)
            code = doc["exit_code"]
            if as_json:
                typer.echo(json.dumps(doc, separators=(",", ":") if watch else None, indent=None if watch else 2))
            else:
                console = _console()
                if watch:
                    console.clear()
                render_status(doc, console)
            if not watch:
                break
            sys.stdout.flush()
            time.sleep(interval)
    except CliError as e:
        raise _fail(e) from None
    except KeyboardInterrupt:
        pass
    raise typer.Exit(code)


def _report(rep: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rep.to_json(), indent=2))
    else:
        for line in rep.lines():
            typer.echo(line)


def switchover(
    to: str | None = typer.Option(None, "--to", help="the replica to promote, HOST or HOST:PORT (default: the best one)"),
    master: str | None = MasterOpt,
    pause_timeout: int = typer.Option(5000, "--pause-timeout", help="ms the master may hold writes waiting for the target's offset"),
    wait: float = typer.Option(60.0, "--wait", help="seconds to wait for the failover to end"),
    vip: str | None = typer.Option(None, "--vip", help="the VIP to check afterwards (default: as `status`)"),
    as_json: bool = JsonOpt,
    config: Path | None = ConfigOpt,
    sentinel: list[str] = SentinelOpt,
    password: str | None = PasswordOpt,
    auth_pass: str | None = AuthPassOpt,
    timeout: float = TimeoutOpt,
) -> None:
    """Planned move of the master to a replica, losing no acknowledged write.

    The master pauses writes, waits until the target has its offset, hands over, and the
    sentinels announce the new master with a new epoch (docs/cli.md). Exit 0 done, 1 failed,
    2 not attempted.
    """
    from sentinel.cli.ops import run_failover

    try:
        src = resolve_sources(_settings(config, sentinel, password, auth_pass, timeout))
        rep = run_failover(src, master, "switchover", to=to, timeout_ms=pause_timeout, wait=wait, vip=vip)
    except CliError as e:
        raise _fail(e) from None
    _report(rep, as_json)
    raise typer.Exit(0 if rep.ok else 1)


def failover(
    master: str | None = MasterOpt,
    wait: float = typer.Option(60.0, "--wait", help="seconds to wait for the failover to end"),
    vip: str | None = typer.Option(None, "--vip", help="the VIP to check afterwards (default: as `status`)"),
    as_json: bool = JsonOpt,
    config: Path | None = ConfigOpt,
    sentinel: list[str] = SentinelOpt,
    password: str | None = PasswordOpt,
    auth_pass: str | None = AuthPassOpt,
    timeout: float = TimeoutOpt,
) -> None:
    """Forced failover (SENTINEL FAILOVER): promote the best replica now, no agreement asked.

    Unlike `switchover`, writes the old master acknowledges during the switch can be lost:
    use it when the master is unhealthy. Exit 0 done, 1 failed, 2 not attempted.
    """
    from sentinel.cli.ops import run_failover

    try:
        src = resolve_sources(_settings(config, sentinel, password, auth_pass, timeout))
        rep = run_failover(src, master, "failover", wait=wait, vip=vip)
    except CliError as e:
        raise _fail(e) from None
    _report(rep, as_json)
    raise typer.Exit(0 if rep.ok else 1)


def _maintenance(on: bool, master: str | None, as_json: bool, settings: Settings) -> None:
    from sentinel.cli.ops import set_maintenance

    try:
        res = set_maintenance(resolve_sources(settings), master, on)
    except CliError as e:
        raise _fail(e) from None
    code = res.exit_code()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "master": res.master,
                    "maintenance": on,
                    "sentinels": res.results,
                    "known_sentinels": res.total,
                    "switched": res.done,
                    "majority": res.majority,
                    "exit_code": code,
                },
                indent=2,
            )
        )
        raise typer.Exit(code)
    word = "paused" if on else "resumed"
    for ep, result in sorted(res.results.items()):
        typer.echo(f"{ep:<24} {result}")
    if on:
        if res.majority:
            typer.echo(f"{res.master}: automatic failover {word} on {res.done} of {res.total} sentinels (a majority: no failover can be elected)")
        else:
            typer.echo(f"{res.master}: only {res.done} of {res.total} sentinels paused: the others can still elect a failover")
    else:
        typer.echo(f"{res.master}: automatic failover {word} on {res.done} of {res.total} sentinels")
    raise typer.Exit(code)


def pause(
    master: str | None = MasterOpt,
    as_json: bool = JsonOpt,
    config: Path | None = ConfigOpt,
    sentinel: list[str] = SentinelOpt,
    password: str | None = PasswordOpt,
    timeout: float = TimeoutOpt,
) -> None:
    """Maintenance: no automatic failover (and no votes) on every reachable sentinel; persisted.

    Exit 0 all paused, 1 a majority paused, 2 less than a majority (a failover stays possible).
    """
    _maintenance(True, master, as_json, _settings(config, sentinel, password, None, timeout))


def resume(
    master: str | None = MasterOpt,
    as_json: bool = JsonOpt,
    config: Path | None = ConfigOpt,
    sentinel: list[str] = SentinelOpt,
    password: str | None = PasswordOpt,
    timeout: float = TimeoutOpt,
) -> None:
    """End maintenance: automatic failover again (at once if the master is down)."""
    _maintenance(False, master, as_json, _settings(config, sentinel, password, None, timeout))


def events(
    master: str | None = MasterOpt,
    as_json: bool = JsonOpt,
    count: int | None = typer.Option(None, "--count", help="stop after this many events"),
    duration: float | None = typer.Option(None, "--for", help="stop after this many seconds"),
    config: Path | None = ConfigOpt,
    sentinel: list[str] = SentinelOpt,
    password: str | None = PasswordOpt,
    timeout: float = TimeoutOpt,
) -> None:
    """Follow the events of every reachable sentinel (one line each, or JSON lines)."""
    from sentinel.cli.events import Event, follow

    def emit(ev: Event) -> None:
        typer.echo(json.dumps(ev.to_json()) if as_json else ev.line())
        sys.stdout.flush()

    try:
        follow(resolve_sources(_settings(config, sentinel, password, None, timeout)), emit, master, count, duration)
    except CliError as e:
        raise _fail(e) from None
    except KeyboardInterrupt:
        pass


def check(
    config: Path = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="the sentinel.conf to check"),
    sentinel: list[str] = SentinelOpt,
    offline: bool = typer.Option(False, "--offline", help="only lint the file (no connections)"),
    as_json: bool = JsonOpt,
    password: str | None = PasswordOpt,
    auth_pass: str | None = AuthPassOpt,
    timeout: float = TimeoutOpt,
) -> None:
    """Before going live: lint sentinel.conf, then reach every instance and check the quorum.

    Exit 0 clean, 1 warnings, 2 errors.
    """
    from sentinel.cli.check import Finding, exit_code, lint, live
    from sentinel.cli.check import as_json as check_json

    conf, findings = lint(config)
    if not offline and conf is not None:
        try:
            src = resolve_sources(_settings(config, sentinel, password, auth_pass, timeout))
            findings += live(src, conf)
        except CliError as e:
            findings.append(Finding("error", "sentinel", e.message))
    if as_json:
        typer.echo(json.dumps(check_json(findings), indent=2))
    else:
        marks = {"ok": "ok   ", "warn": "WARN ", "error": "ERROR"}
        for f in findings:
            typer.echo(f"{marks[f.level]} {f.topic}: {f.message}")
        n_err = sum(f.level == "error" for f in findings)
        n_warn = sum(f.level == "warn" for f in findings)
        typer.echo(f"{n_err} error(s), {n_warn} warning(s)")
    raise typer.Exit(exit_code(findings))


def register(app: typer.Typer) -> None:
    """Add the operator commands to the `hasentinel` app."""
    for fn in (status, switchover, failover, pause, resume, events, check):
        app.command()(fn)
