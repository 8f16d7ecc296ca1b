"""Persistence: RDB snapshots in Redis's format, the append-only file, save points."""
