"""The JSON Schema of `hasentinel status --json` (documented in docs/cli.md), and a small
validator for the subset of JSON Schema it uses (type, enum, properties, required,
additionalProperties, items, minimum), so tests and scripts need no extra dependency."""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_OSTR = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_OINT = {"type": ["integer", "null"]}
_BOOL = {"type": "boolean"}
_OBOOL = {"type": ["boolean", "null"]}
_STRS = {"type": "array", "items": _STR}


def _obj(props: dict[str, Any], nullable: bool = False) -> dict[str, Any]:
    return {
        "type": ["object", "null"] if nullable else "object",
        "properties": props,
        "required": sorted(props),
        "additionalProperties": False,
    }


FAILOVER = _obj(
    {
        "epoch": _OINT,
        "kind": {"enum": ["failover", "forced", "switchover", "observed", None]},
        "at": _OSTR,
        "duration_ms": _OINT,
        "from": _OSTR,
        "to": _OSTR,
    },
    nullable=True,
)

STATUS_SCHEMA: dict[str, Any] = _obj(
    {
        "schema": {"enum": ["hasentinel-status/1"]},
        "time": _STR,
        "health": {"enum": ["healthy", "degraded", "down"]},
        "exit_code": {"enum": [0, 1, 2]},
        "problems": {
            "type": "array",
            "items": _obj({"severity": {"enum": ["degraded", "down"]}, "master": _OSTR, "message": _STR}),
        },
        "notes": _STRS,
        "sentinels": {
            "type": "array",
            "items": _obj(
                {
                    "address": _STR,
                    "aliases": _STRS,
                    "sources": _STRS,
                    "reachable": _BOOL,
                    "error": _OSTR,
                    "myid": _OSTR,
                    "flavour": {"enum": ["hasentinel", "stock", None]},
                    "version": _OSTR,
                    "tilt": _OBOOL,
                }
            ),
        },
        "masters": {
            "type": "array",
            "items": _obj(
                {
                    "name": _STR,
                    "address": _OSTR,
                    "config_epoch": _OINT,
                    "agreed": _BOOL,
                    "status": {"enum": ["ok", "sdown", "odown", "unreachable", "not-master"]},
                    "quorum": _OINT,
                    "sentinels_ok_quorum": {"type": "integer", "minimum": 0},
                    "maintenance": _BOOL,
                    "views": {
                        "type": "array",
                        "items": _obj(
                            {
                                "sentinel": _STR,
                                "address": _OSTR,
                                "config_epoch": _OINT,
                                "agrees": _BOOL,
                                "flags": _STRS,
                                "failover_state": _OSTR,
                                "maintenance": _OBOOL,
                                "quorum_ok": _OBOOL,
                                "quorum_text": _STR,
                                "last_vote": _obj({"leader": _STR, "epoch": _OINT}, nullable=True),
                                "num_sentinels": _INT,
                                "last_failover": FAILOVER,
                                "error": _OSTR,
                            }
                        ),
                    },
                    "sentinels": {
                        "type": "array",
                        "items": _obj(
                            {
                                "runid": _STR,
                                "address": _STR,
                                "reachable": _BOOL,
                                "seen_down_by": _STRS,
                                "last_vote": _obj({"leader": _STR, "epoch": _OINT}, nullable=True),
                            }
                        ),
                    },
                    "replicas": {
                        "type": "array",
                        "items": _obj(
                            {
                                "address": _STR,
                                "reachable": _BOOL,
                                "error": _OSTR,
                                "role": _OSTR,
                                "master": _OSTR,
                                "offset": _OINT,
                                "lag_bytes": _OINT,
                                "lag_seconds": _OINT,
                                "link": {"enum": ["up", "down", "unknown"]},
                                "priority": _OINT,
                                "flags": _STRS,
                            }
                        ),
                    },
                    "last_failover": {
                        **FAILOVER,
                        "properties": {**FAILOVER["properties"], "reported_by": _STR},
                        "required": sorted([*FAILOVER["required"], "reported_by"]),
                    },
                    "vip": _obj(
                        {
                            "address": _OSTR,
                            "state": {"enum": ["master", "local", "wrong", "unreachable", "unknown"]},
                            "holder": _OSTR,
                            "reason": _OSTR,
                            "source": _OSTR,
                            "claims": {
                                "type": "array",
                                "items": _obj(
                                    {
                                        "sentinel": _STR,
                                        "local_server": _OSTR,
                                        "held": _BOOL,
                                        "state": _OSTR,
                                        "lease": _BOOL,
                                        "lease_remaining_ms": _OINT,
                                        "fence": _OSTR,
                                        "error": _OSTR,
                                    }
                                ),
                            },
                            "observations": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "method": {"enum": ["local", "service", "arp"]},
                                        "result": _STR,
                                        "role": _STR,
                                        "mac": _STR,
                                        "hosts": _STRS,
                                    },
                                    "required": ["method", "result"],
                                    "additionalProperties": False,
                                },
                            },
                        }
                    ),
                }
            ),
        },
        "supervisor": _obj(
            {
                "available": _BOOL,
                "reason": _OSTR,
                "source": _STR,
                "status": _OSTR,
                "updated_seconds_ago": {"type": ["number", "null"]},
                "running": _OBOOL,
                "crash_loop": _OSTR,
                "children": {
                    "type": "array",
                    "items": _obj(
                        {
                            "name": _STR,
                            "state": _STR,
                            "pid": _OINT,
                            "role": _OSTR,
                            "restarts": _INT,
                            "uptime_seconds": {"type": ["number", "null"]},
                            "held": _OSTR,
                        }
                    ),
                },
            }
        ),
    }
)
"""JSON Schema (draft 2020-12 subset) of `hasentinel status --json`, one document per line."""

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind])


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every violation of `schema` by `value`, as `path: message` (empty: valid)."""
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not one of {schema['enum']!r}")
        return errors
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, k) for k in kinds):
            errors.append(f"{path}: {type(value).__name__} is not {'/'.join(kinds)}")
            return errors
    if "minimum" in schema and _is(value, "number") and value < schema["minimum"]:
        errors.append(f"{path}: {value} < {schema['minimum']}")
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing '{key}'")
        for key, v in value.items():
            if key in props:
                errors += validate(v, props[key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected '{key}'")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += validate(item, schema["items"], f"{path}[{i}]")
    return errors
