"""hasentinel-server: a Redis 7 compatible server, built for failover without lost writes."""

__version__ = "0.1.0"
REDIS_VERSION = "7.0.15"
