"""The sentinel's RESP API: what clients, redis-cli, redis-py and peer sentinels talk to."""
