"""Command implementations, one module per family; importing this package registers them all."""

from server.commands import (  # noqa: F401
    admin,
    bitmaps,
    clientcmd,
    connection,
    hashes,
    keys,
    lists,
    persistcmd,
    pubsub,
    replcmd,
    sets,
    sort,
    strings,
    transactions,
    zsets,
)
