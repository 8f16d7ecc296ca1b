"""Reading the supervisor's status file (docs/operations.md, "The status file").

`hasentinel supervise` replaces `<state_dir>/supervisor.status.json` atomically on every change
and every 10 s, and passes its path to its children as `HASENTINEL_SUPERVISOR_STATUS`. `status`
shows this host's supervisor from it; the sentinel's metrics endpoint reads the same file (the
sentinel is one of those children), so each host's restarts are scraped from its sentinel.

No imports beyond the standard library: the sentinel runtime uses this module too.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STATUS_ENV = "HASENTINEL_SUPERVISOR_STATUS"
DEFAULT_STATUS = Path("/var/lib/hasentinel/sentinel/supervisor.status.json")
STALE_AFTER = 30.0
"""Seconds after which a status file that is not updated means the supervisor is gone."""


def status_path(option: str | None, state_dir: str | None, env: Mapping[str, str] | None = None) -> Path:
    """`--supervisor-status`, else `HASENTINEL_SUPERVISOR_STATUS`, else `<sentinel dir>/...`, else
    the packaged layout's default."""
    env = os.environ if env is None else env
    if option:
        return Path(option)
    if env.get(STATUS_ENV):
        return Path(env[STATUS_ENV])
    if state_dir:
        return Path(state_dir) / "supervisor.status.json"
    return DEFAULT_STATUS


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status(path: Path, now: float | None = None) -> dict[str, Any]:
    """The `supervisor` object of `status --json`: available or the reason, and the children."""
    doc: dict[str, Any] = {
        "available": False,
        "reason": None,
        "source": str(path),
        "status": None,
        "updated_seconds_ago": None,
        "running": None,
        "crash_loop": None,
        "children": [],
    }
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        doc["reason"] = (
            f"no supervisor status file at {path} (not supervised here, or pass --supervisor-status PATH)"
        )
        return doc
    except PermissionError:
        doc["reason"] = f"{path} is not readable by this user (run as root or as hasentinel)"
        return doc
    except (OSError, ValueError) as e:
        doc["reason"] = f"{path} unusable: {e}"
        return doc
    if not isinstance(raw, dict) or raw.get("version") != 1:
        doc["reason"] = f"{path}: unknown status file format"
        return doc
    t = time.time() if now is None else now
    updated = raw.get("updated_at")
    age = round(t - updated, 3) if isinstance(updated, (int, float)) else None
    running = _alive(raw.get("pid")) and raw.get("exit_code") is None
    doc.update(
        available=True,
        status=str(raw.get("status") or ""),
        updated_seconds_ago=age,
        running=running and (age is None or age < STALE_AFTER),
        crash_loop=str(raw["crash_loop"]) if raw.get("crash_loop") else None,
    )
    if not doc["running"]:
        if raw.get("exit_code") is not None:
            doc["reason"] = f"the supervisor exited with code {raw.get('exit_code')}"
        else:
            doc["reason"] = f"the supervisor is gone (pid {raw.get('pid')} not running or file {age} s old)"
    for c in raw.get("children", []):
        if not isinstance(c, dict):
            continue
        uptime = c.get("uptime_seconds") if isinstance(c.get("uptime_seconds"), (int, float)) else None
        if uptime is not None and age is not None and doc["running"]:
            uptime = round(uptime + age, 3)  # the file is up to 10 s old
        doc["children"].append(
            {
                "name": str(c.get("name", "?")),
                "state": str(c.get("state", "?")),
                "pid": c.get("pid") if isinstance(c.get("pid"), int) else None,
                "role": c.get("role") if isinstance(c.get("role"), str) else None,
                "restarts": int(c.get("restarts") or 0),
                "uptime_seconds": uptime,
                "held": c.get("held") if isinstance(c.get("held"), str) else None,
            }
        )
    return doc
