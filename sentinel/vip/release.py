"""`python -m sentinel.vip.release <sentinel.conf>`: remove the VIPs a sentinel config manages.

For whoever restarts a sentinel that died without cleaning up (SIGKILL, OOM, a crash): the
ownership rule lets another host take the VIP once this host's sentinel has been silent for
T_lease + margin, which is only safe if a silent host no longer carries it. A sentinel stopped
with SIGTERM or SHUTDOWN removes its VIPs itself; a killed one cannot, so its supervisor runs
this when the sentinel exits (systemd: `ExecStopPost=`), before starting it again.

Exit status: 0 removed (or absent already), 1 a removal failed (the error is printed), 2 bad
arguments or config. Needs CAP_NET_ADMIN, like the sentinel.
"""

from __future__ import annotations

import sys
from ipaddress import IPv4Interface
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentinel.core.config import SentinelConfig


def configured_vips(config: SentinelConfig) -> list[tuple[str, str, str]]:
    """(master name, interface, address/prefix) of every `sentinel vip` line."""
    return [(m.name, m.vip.iface, m.vip.address) for m in config.masters if m.vip is not None]


def release_vips(vips: list[tuple[str, str, str]]) -> list[tuple[str, bool | str]]:
    """Remove each address; per master: removed (True), absent already (False) or the error."""
    from sentinel.vip.errors import VipError
    from sentinel.vip.netlink import AddressManager

    out: list[tuple[str, bool | str]] = []
    if not vips:
        return out
    mgr = AddressManager()
    for name, iface, address in vips:
        try:
            out.append((name, mgr.ensure_absent(iface, IPv4Interface(address))))
        except VipError as e:
            out.append((name, str(e)))
    return out


def main(argv: list[str] | None = None) -> int:
    """Remove every `sentinel vip` address of the config from its interface."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    from sentinel.core.config import ConfigError, parse_config

    try:
        config = parse_config(Path(args[0]).read_text(encoding="utf-8", errors="surrogateescape"))
    except (OSError, ConfigError) as e:
        print(f"vip-release: cannot read {args[0]}: {e}", file=sys.stderr)
        return 2
    vips = configured_vips(config)
    where = {name: (iface, address) for name, iface, address in vips}
    code = 0
    for name, result in release_vips(vips):
        iface, address = where[name]
        if isinstance(result, str):
            print(f"vip-release: {name}: {result}", file=sys.stderr)
            code = 1
        else:
            print(f"vip-release: {name}: {address} on {iface} {'removed' if result else 'absent'}")
    return code

if __name__ == "__main__":
    sys.exit(main())
