"""The virtual IP: address management (netlink), gratuitous ARP, announcement policy, settings.

These are the building blocks the sentinel's ownership rule calls; `scripts/vip-reconfig` uses
them for stock redis-sentinel. See docs/vip.md.
"""

from sentinel.vip.announce import Announcer, GarpAnnouncer, GarpTiming
from sentinel.vip.config import VipConfig, VipConfigError, load_vip_config, vip_configured
from sentinel.vip.errors import CapabilityMissing, InterfaceMissing, VipError
from sentinel.vip.garp import GarpResult, build_garp, parse_arp, send_garp_burst
from sentinel.vip.netlink import AddressManager, Holder, LinkInfo

__all__ = [
    "AddressManager",
    "Announcer",
    "CapabilityMissing",
    "GarpAnnouncer",
    "GarpResult",
    "GarpTiming",
    "Holder",
    "InterfaceMissing",
    "LinkInfo",
    "VipConfig",
    "VipConfigError",
    "VipError",
    "build_garp",
    "load_vip_config",
    "parse_arp",
    "send_garp_burst",
    "vip_configured",
]
