"""`vip-reconfig`: a client-reconfig-script that moves the VIP to the new master's host.

Works with stock redis-sentinel (and ours), which runs it on every sentinel host after a
failover as `<master-name> <role> <state> <from-ip> <from-port> <to-ip> <to-port>`. The host that
has `<to-ip>` on one of its interfaces adds the VIP and announces it; every other host removes
it. Exit status follows Sentinel's script rules: 0 done, 1 retry later (transient: netlink or
send failure, lock busy, name lookup failed), 2 final error (bad arguments or configuration,
missing interface or capability), which Sentinel does not retry.

The script cannot stay resident, so the owner sends the first GARP burst itself and hands the
repeat burst to a detached helper (`--announce-repeat`, its own session, stdio on /dev/null)
that sleeps until the repeat is due, re-checks before every frame that the VIP is still here,
and exits. Periodic refreshes need a resident process: our sentinel does that, stock does not.

Invocations on one host are serialized by an flock (`lock_file`), so two failovers' scripts
never interleave their add/remove steps.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface

from sentinel.vip.config import VipConfig, VipConfigError, load_vip_config, parse_iface, parse_vip
from sentinel.vip.errors import CapabilityMissing, InterfaceMissing, VipError
from sentinel.vip.garp import send_garp_burst
from sentinel.vip.netlink import AddressManager

USAGE = "usage: vip-reconfig <master-name> <role> <state> <from-ip> <from-port> <to-ip> <to-port>"
EXIT_OK = 0
EXIT_RETRY = 1
EXIT_FINAL = 2
LOCK_WAIT = 30.0
LOCK_STEP = 0.05


class UsageError(ValueError):
    """Bad command-line arguments (final)."""


class LockBusy(VipError):
    """Another vip-reconfig on this host held the lock for too long (retry)."""


@dataclass(frozen=True, slots=True)
class ReconfigArgs:
    """Sentinel's seven client-reconfig-script arguments."""

    master: str
    role: str
    state: str
    from_ip: str
    from_port: int
    to_ip: str
    to_port: int


def _port(name: str, text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise UsageError(f"{name} {text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"{name} {text!r} is not a port number")
    return port


def parse_args(argv: list[str]) -> ReconfigArgs:
    """Validate the seven arguments."""
    if len(argv) != 7:
        raise UsageError(f"expected 7 arguments, got {len(argv)}")
    master, role, state, from_ip, from_port, to_ip, to_port = argv
    if not to_ip:
        raise UsageError("to-ip is empty")
    return ReconfigArgs(
        master, role, state, from_ip, _port("from-port", from_port), to_ip, _port("to-port", to_port)
    )


def resolve_ipv4(host: str) -> set[IPv4Address]:
    """`host`'s IPv4 addresses: a literal as is, a name (resolve-hostnames) looked up now."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if not isinstance(ip, IPv4Address):
            raise UsageError(f"to-ip {host} is IPv6; the VIP mover supports IPv4 masters only")
        return {ip}
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError as e:
        raise VipError(f"cannot resolve to-ip {host!r}: {e}") from e
    return {IPv4Address(str(info[4][0])) for info in infos}


@contextmanager
def host_lock(path: str, timeout: float = LOCK_WAIT) -> Iterator[None]:
    """An exclusive flock on `path`, waited for at most `timeout` seconds."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise VipConfigError(f"cannot open lock file {path}: {e.strerror or e}") from e
    try:
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / LOCK_STEP) + 2):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(f"another vip-reconfig held {path} for over {timeout:g} s") from None
                time.sleep(LOCK_STEP)
        else:
            raise LockBusy(f"another vip-reconfig held {path} for over {timeout:g} s")
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def say(msg: str) -> None:
    """One line on stderr (Sentinel passes it on to its own log or /dev/null)."""
    print(f"vip-reconfig: {msg}", file=sys.stderr, flush=True)


def spawn_repeat(cfg: VipConfig, started: float) -> int:
    """Start the detached repeat-burst helper; its pid."""
    t = cfg.garp
    argv = [
        sys.executable,
        "-m",
        "sentinel.vip.reconfig",
        "--announce-repeat",
        cfg.iface,
        str(cfg.vip),
        repr(started + t.repeat_delay),
        str(t.repeat_count),
        repr(t.burst_interval),
    ]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        cwd="/",
    )
    return proc.pid


def announce_repeat(iface: str, vip: IPv4Interface, at: float, count: int, interval: float) -> int:
    """The detached helper: at monotonic time `at`, a burst, as long as the VIP is still ours."""
    mgr = AddressManager()
    delay = at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    try:
        send_garp_burst(iface, vip.ip, count, interval, still_held=lambda: mgr.has(iface, vip))
    except VipError:
        return EXIT_RETRY
    return EXIT_OK


def reconfigure(
    args: ReconfigArgs, cfg: VipConfig, mgr: AddressManager | None = None, spawn: bool = True
) -> int:
    """Owner: VIP present + first burst (+ repeat helper). Others: VIP absent. The exit status."""
    mgr = mgr or AddressManager()
    targets = resolve_ipv4(args.to_ip)
    if cfg.address in targets:
        raise VipConfigError(
            f"to-ip {args.to_ip} is the VIP itself: Sentinel must monitor the hosts' own addresses"
        )
    with host_lock(cfg.lock_file, cfg.lock_wait):
        local = mgr.local_addresses()
        local.discard(cfg.address)
        if not targets & local:
            if mgr.ensure_absent(cfg.iface, cfg.vip, missing_ok=True):
                say(
                    f"{args.master}: new master {args.to_ip} is elsewhere; removed {cfg.vip} from {cfg.iface}"
                )
            else:
                say(f"{args.master}: new master {args.to_ip} is elsewhere; {cfg.vip} not on {cfg.iface}")
            return EXIT_OK
        changed = mgr.ensure_present(cfg.iface, cfg.vip)
        started = time.monotonic()
        t = cfg.garp
        res = send_garp_burst(cfg.iface, cfg.address, t.burst_count, t.burst_interval)
        what = "added" if changed else "already had"
        garp = res.skipped or f"sent {res.sent} gratuitous ARPs"
        say(f"{args.master}: new master {args.to_ip} is this host; {what} {cfg.vip} on {cfg.iface}; {garp}")
        if spawn and not res.skipped and t.repeat_count > 0:
            pid = spawn_repeat(cfg, started)
            say(f"repeat announcer pid {pid}: {t.repeat_count} more in {t.repeat_delay:g} s")
        return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point (`hasentinel-vip-reconfig`, `scripts/vip-reconfig`)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--announce-repeat"]:
        try:
            _, iface, vip, at, count, interval = argv
            return announce_repeat(parse_iface(iface), parse_vip(vip), float(at), int(count), float(interval))
        except ValueError:
            return EXIT_FINAL
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        print(__doc__)
        return EXIT_OK
    try:
        args = parse_args(argv)
        cfg = load_vip_config()
        return reconfigure(args, cfg)
    except UsageError as e:
        say(f"{e}\n{USAGE}")
        return EXIT_FINAL
    except (VipConfigError, CapabilityMissing, InterfaceMissing) as e:
        say(str(e))
        return EXIT_FINAL
    except VipError as e:
        say(f"{e} (exit 1: Sentinel will retry)")
        return EXIT_RETRY
    except OSError as e:
        say(f"{e} (exit 1: Sentinel will retry)")
        return EXIT_RETRY


if __name__ == "__main__":
    sys.exit(main())
