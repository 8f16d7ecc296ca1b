"""hasentinel's sentinel: quorum failure detection, failover and VIP ownership."""

__version__ = "0.1.0"
