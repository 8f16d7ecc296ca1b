"""Replication: Redis's PSYNC2 protocol, master and replica sides, plus the write fences
(min-replicas-to-write, WAIT) that let a failover lose no acknowledged write."""
