"""The sentinel's command table (what COMMAND reports) and the HELP texts, as stock 7.0 sentinel.

Only commands flagged for sentinel mode exist; `CLIENT SETINFO` is 7.2's (redis-py 8 sends it).
ACL is not implemented (no users besides `default`), so it is not listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One COMMAND INFO entry (no keys: every sentinel command has first/last/step 0)."""

    name: str
    arity: int
    flags: tuple[str, ...]
    acl: tuple[str, ...]
    tips: tuple[str, ...] = ()
    summary: str = ""
    since: str = "1.0.0"
    group: str = "server"
    subcommands: dict[str, CommandSpec] = field(default_factory=dict)


_ADMIN = ("admin",)
_ADMIN_ACL = ("@admin", "@slow", "@dangerous")
_CLIENT_FLAGS = ("noscript", "loading", "stale")
_CLIENT_ADMIN = ("admin", "noscript", "loading", "stale")
_CONN_ACL = ("@slow", "@connection")
_CONN_ADMIN_ACL = ("@admin", "@slow", "@dangerous", "@connection")
_CMD_FLAGS = ("loading", "stale")


def _subs(parent: str, group: str, specs: list[tuple[str, int, tuple[str, ...], tuple[str, ...], str]]) -> dict[str, CommandSpec]:
    return {
        name: CommandSpec(f"{parent}|{name}", arity, flags, acl, summary=summary, group=group)
        for name, arity, flags, acl, summary in specs
    }


_SENTINEL_SUBS = _subs(
    "sentinel",
    "sentinel",
    [
        ("ckquorum", 3, _ADMIN, _ADMIN_ACL, "Checks for a Redis Sentinel quorum."),
        ("config", -3, _ADMIN, _ADMIN_ACL, "Configures Redis Sentinel."),
        ("debug", -2, _ADMIN, _ADMIN_ACL, "Lists or updates the current configurable parameters of Redis Sentinel."),
        ("failover", 3, _ADMIN, _ADMIN_ACL, "Forces a Redis Sentinel failover."),
        ("flushconfig", 2, _ADMIN, _ADMIN_ACL, "Rewrites the Redis Sentinel configuration file."),
        ("get-master-addr-by-name", 3, _ADMIN, _ADMIN_ACL, "Returns the port and address of a master Redis instance."),
        ("help", 2, ("loading", "stale"), ("@slow",), "Returns helpful text about the different subcommands."),
        ("info-cache", -3, _ADMIN, _ADMIN_ACL, "Returns the cached INFO replies from the deployment's instances."),
        ("is-master-down-by-addr", 6, _ADMIN, _ADMIN_ACL, "Determines whether a master Redis instance is down."),
        ("is-master-down-hint", -5, _ADMIN, _ADMIN_ACL, "Tells the Sentinel that a master's process is gone; checked before it counts (hasentinel)."),
        ("maintenance", -3, _ADMIN, _ADMIN_ACL, "Shows or sets maintenance mode: no automatic failover, no votes (hasentinel)."),
        ("master", 3, _ADMIN, _ADMIN_ACL, "Returns the state of a master Redis instance."),
        ("masters", 2, _ADMIN, _ADMIN_ACL, "Returns a list of monitored Redis masters."),
        ("monitor", 6, _ADMIN, _ADMIN_ACL, "Starts monitoring."),
        ("myid", 2, _ADMIN, _ADMIN_ACL, "Returns the Redis Sentinel instance ID."),
        ("pending-scripts", 2, _ADMIN, _ADMIN_ACL, "Returns information about pending scripts for Redis Sentinel."),
        ("remove", 3, _ADMIN, _ADMIN_ACL, "Stops monitoring."),
        ("replicas", 3, _ADMIN, _ADMIN_ACL, "Returns a list of the monitored Redis replicas."),
        ("script-history", -2, _ADMIN, _ADMIN_ACL, "Returns the results of the latest script runs (hasentinel)."),
        ("reset", 3, _ADMIN, _ADMIN_ACL, "Resets Redis masters by name matching a pattern."),
        ("sentinels", 3, _ADMIN, _ADMIN_ACL, "Returns a list of Sentinel instances."),
        ("set", -5, _ADMIN, _ADMIN_ACL, "Changes the configuration of a monitored Redis master."),
        ("simulate-failure", -3, _ADMIN, _ADMIN_ACL, "Simulates failover scenarios."),
        ("slaves", 3, _ADMIN, _ADMIN_ACL, "Returns a list of the monitored replicas."),
        ("switchover", -3, _ADMIN, _ADMIN_ACL, "Moves the master to a replica without losing acknowledged writes (hasentinel)."),
        ("vip-status", 3, _ADMIN, _ADMIN_ACL, "Shows the VIP ownership of a master: holder, lease, fence (hasentinel)."),
    ],
)

_CLIENT_SUBS = _subs(
    "client",
    "connection",
    [
        ("getname", 2, _CLIENT_FLAGS, _CONN_ACL, "Returns the name of the connection."),
        ("help", 2, ("loading", "stale"), _CONN_ACL, "Returns helpful text about the different subcommands."),
        ("id", 2, _CLIENT_FLAGS, _CONN_ACL, "Returns the unique client ID of the connection."),
        ("info", 2, _CLIENT_FLAGS, _CONN_ACL, "Returns information about the connection."),
        ("kill", -3, _CLIENT_ADMIN, _CONN_ADMIN_ACL, "Terminates open connections."),
        ("list", -2, _CLIENT_ADMIN, _CONN_ADMIN_ACL, "Lists open connections."),
        ("setinfo", 4, _CLIENT_FLAGS, _CONN_ACL, "Sets information specific to the client or connection."),
        ("setname", 3, _CLIENT_FLAGS, _CONN_ACL, "Sets the connection name."),
    ],
)

_COMMAND_SUBS = _subs(
    "command",
    "server",
    [
        ("count", 2, _CMD_FLAGS, _CONN_ACL, "Returns a count of commands."),
        ("docs", -2, _CMD_FLAGS, _CONN_ACL, "Returns documentary information about one, multiple or all commands."),
        ("getkeys", -4, _CMD_FLAGS, _CONN_ACL, "Extracts the key names from an arbitrary command."),
        ("getkeysandflags", -4, _CMD_FLAGS, _CONN_ACL, "Extracts the key names and access flags for an arbitrary command."),
        ("help", 2, _CMD_FLAGS, _CONN_ACL, "Returns helpful text about the different subcommands."),
        ("info", -2, _CMD_FLAGS, _CONN_ACL, "Returns information about one, multiple or all commands."),
        ("list", -2, _CMD_FLAGS, _CONN_ACL, "Returns a list of command names."),
    ],
)

_PUBSUB_FLAGS = ("pubsub", "noscript", "loading", "stale")

COMMANDS: dict[str, CommandSpec] = {
    c.name: c
    for c in (
        CommandSpec("auth", -2, ("noscript", "loading", "stale", "fast", "no_auth", "allow_busy"), ("@fast", "@connection"), summary="Authenticates the connection.", group="connection"),
        CommandSpec("client", -2, (), ("@slow",), summary="A container for client connection commands.", group="connection", subcommands=_CLIENT_SUBS),
        CommandSpec("command", -1, _CMD_FLAGS, _CONN_ACL, ("nondeterministic_output_order",), summary="Returns detailed information about all commands.", subcommands=_COMMAND_SUBS),
        CommandSpec("hello", -1, ("noscript", "loading", "stale", "fast", "no_auth", "allow_busy"), ("@fast", "@connection"), summary="Handshakes with the Redis server.", group="connection"),
        CommandSpec("info", -1, ("loading", "stale"), ("@slow", "@dangerous"), ("nondeterministic_output",), summary="Returns information and statistics about the server."),
        CommandSpec("ping", -1, ("fast",), ("@fast", "@connection"), summary="Returns the server's liveliness response.", group="connection"),
        CommandSpec("psubscribe", -2, _PUBSUB_FLAGS, ("@pubsub", "@slow"), summary="Listens for messages published to channels that match one or more patterns.", group="pubsub"),
        CommandSpec("publish", 3, ("pubsub", "loading", "stale", "fast"), ("@pubsub", "@fast"), summary="Posts a message to a channel.", group="pubsub"),
        CommandSpec("punsubscribe", -1, _PUBSUB_FLAGS, ("@pubsub", "@slow"), summary="Stops listening to messages published to channels that match one or more patterns.", group="pubsub"),
        CommandSpec("role", 1, ("noscript", "loading", "stale", "fast"), ("@admin", "@fast", "@dangerous"), summary="Returns the replication role."),
        CommandSpec("sentinel", -2, _ADMIN, _ADMIN_ACL, summary="A container for Redis Sentinel commands.", group="sentinel", subcommands=_SENTINEL_SUBS),
        CommandSpec("shutdown", -1, ("admin", "noscript", "loading", "stale", "no_multi", "allow_busy"), _ADMIN_ACL, summary="Synchronously saves the database(s) to disk and shuts down the Redis server."),
        CommandSpec("subscribe", -2, _PUBSUB_FLAGS, ("@pubsub", "@slow"), summary="Listens for messages published to channels.", group="pubsub"),
        CommandSpec("unsubscribe", -1, _PUBSUB_FLAGS, ("@pubsub", "@slow"), summary="Stops listening to messages posted to channels.", group="pubsub"),
    )
}

SENTINEL_HELP = [
    "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CKQUORUM <master-name>",
    "    Check if the current Sentinel configuration is able to reach the quorum",
    "    needed to failover a master and the majority needed to authorize the",
    "    failover.",
    "CONFIG SET <param> <value> [<param> <value> ...]",
    "    Set a global Sentinel configuration parameter.",
    "CONFIG GET <param> [param param param ...]",
    "    Get global Sentinel configuration parameter.",
    "DEBUG [<param> <value> ...]",
    "    Show a list of configurable time parameters and their values (milliseconds).",
    "    Or update current configurable parameters values (one or more).",
    "GET-MASTER-ADDR-BY-NAME <master-name>",
    "    Return the ip and port number of the master with that name.",
    "FAILOVER <master-name>",
    "    Manually failover a master node without asking for agreement from other",
    "    Sentinels",
    "FLUSHCONFIG",
    "    Force Sentinel to rewrite its configuration on disk, including the current",
    "    Sentinel state.",
    "INFO-CACHE <master-name>",
    "    Return last cached INFO output from masters and all its replicas.",
    "IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
    "    Check if the master specified by ip:port is down from current Sentinel's",
    "    point of view.",
    "IS-MASTER-DOWN-HINT <master-name> <ip> <port> [EXITED-MS-AGO <ms>]",
    "    (hasentinel) The master's process is gone (sent by the supervisor): PING it",
    "    now and, if it does not answer, consider it down without waiting",
    "    down-after-milliseconds. EXITED-MS-AGO: when the supervisor saw it exit.",
    "MAINTENANCE <master-name> [ON|OFF]",
    "    (hasentinel) Show or set maintenance mode: while ON this Sentinel starts no",
    "    automatic failover of the master and votes for no other Sentinel.",
    "MASTER <master-name>",
    "    Show the state and info of the specified master.",
    "MASTERS",
    "    Show a list of monitored masters and their state.",
    "MONITOR <name> <ip> <port> <quorum>",
    "    Start monitoring a new master with the specified name, ip, port and quorum.",
    "MYID",
    "    Return the ID of the Sentinel instance.",
    "PENDING-SCRIPTS",
    "    Get pending scripts information.",
    "REMOVE <master-name>",
    "    Remove master from Sentinel's monitor list.",
    "REPLICAS <master-name>",
    "    Show a list of replicas for this master and their state.",
    "RESET <pattern>",
    "    Reset masters for specific master name matching this pattern.",
    "SCRIPT-HISTORY [<count>]",
    "    (hasentinel) Show the results of the latest notification and reconfig",
    "    script runs, newest first.",
    "SENTINELS <master-name>",
    "    Show a list of Sentinel instances for this master and their state.",
    "SET <master-name> <option> <value> [<option> <value> ...]",
    "    Set configuration parameters for certain masters.",
    "SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP]",
    "    Simulate a Sentinel crash.",
    "SWITCHOVER <master-name> [<ip> <port>] [TIMEOUT <ms>]",
    "    (hasentinel) Planned failover: the master pauses writes, waits until the",
    "    replica has its offset, hands over; then a new epoch is announced.",
    "VIP-STATUS <master-name>",
    "    (hasentinel) Show the VIP of this master on this host: held, lease,",
    "    entitlement, the peers it waits for, the write fence.",
    "HELP",
    "    Prints this help.",
]

CLIENT_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID <client-id> [<client-id> ...]",
    "      Return clients of specified IDs only.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "HELP",
    "    Prints this help.",
]

COMMAND_HELP = [
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
]
