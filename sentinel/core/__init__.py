"""The sans-IO sentinel core: pure, deterministic decisions driven by `step(now, event)`.

`SentinelCore(config, state, rng).step(now_ms, event) -> list[Action]`. Events are in
`sentinel.core.events`, actions in `sentinel.core.actions`; docs/sentinel-core.md describes how a
runtime (or a simulation) must drive it. Nothing in this package does I/O, reads a clock, uses
global randomness or logs.
"""

from sentinel.core.actions import (
    Action,
    Channel,
    CloseLink,
    Crash,
    KillScript,
    Level,
    Log,
    OpenLink,
    PersistState,
    Publish,
    ReplyTo,
    RunScript,
    SendCommand,
)
from sentinel.core.config import ConfigError, MasterConfig, SentinelConfig, parse_config
from sentinel.core.core import CoreError, SentinelCore
from sentinel.core.events import (
    CommandReply,
    ConfigSetRequest,
    DebugRequest,
    Event,
    FailoverRequest,
    FlushConfigRequest,
    HelloReceived,
    IsMasterDownRequest,
    LinkDown,
    LinkUp,
    MonitorRequest,
    PubSubMessage,
    RemoveRequest,
    ResetRequest,
    ScriptExited,
    ScriptStarted,
    SetRequest,
    SimulateFailureRequest,
    Start,
    Tick,
)
from sentinel.core.replies import ErrorReply, Reply, Status
from sentinel.core.state import SentinelState
from sentinel.core.timers import Timers

__all__ = [
    "Action",
    "Channel",
    "CloseLink",
    "CommandReply",
    "ConfigError",
    "ConfigSetRequest",
    "CoreError",
    "Crash",
    "DebugRequest",
    "ErrorReply",
    "Event",
    "FailoverRequest",
    "FlushConfigRequest",
    "HelloReceived",
    "IsMasterDownRequest",
    "KillScript",
    "Level",
    "LinkDown",
    "LinkUp",
    "Log",
    "MasterConfig",
    "MonitorRequest",
    "OpenLink",
    "PersistState",
    "PubSubMessage",
    "Publish",
    "RemoveRequest",
    "Reply",
    "ReplyTo",
    "ResetRequest",
    "RunScript",
    "ScriptExited",
    "ScriptStarted",
    "SendCommand",
    "SentinelConfig",
    "SentinelCore",
    "SentinelState",
    "SetRequest",
    "SimulateFailureRequest",
    "Start",
    "Status",
    "Tick",
    "Timers",
    "parse_config",
]
