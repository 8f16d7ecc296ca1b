"""The virtual IP: address management, gratuitous ARP, announcement policy, settings.

Import from the modules (`sentinel.vip.netlink`, `.garp`, `.announce`, `.config`,
`.reconfig`); this package imports nothing itself so that `vip-reconfig` starts fast (it runs
once per failover on every host, inside Sentinel's script timeout). See docs/vip.md.
"""
