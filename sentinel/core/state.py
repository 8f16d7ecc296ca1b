"""The persisted runtime state, kept apart from the user's (read-only) sentinel.conf.

`SentinelState` holds what stock Sentinel rewrites into its config file: myid, current epoch, and
per master the current address (it moves on failover), config epoch, last vote (leader and
leader epoch), known replicas and known sentinels, plus what SENTINEL MONITOR / REMOVE / SET /
CONFIG SET changed. The runtime writes `to_json()` atomically whenever the core emits
PersistState, and passes `from_json()` of the file back at the next start.

`reconcile(config, state)` merges the two at start. Each master remembers a snapshot of its file
entry; a setting the operator edited in the file since that snapshot wins over the stored value,
an unedited one keeps the stored (runtime) value. So a failover's new address survives a
restart, and an edit to the file is still honoured.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from sentinel.core.config import MasterConfig, SentinelConfig

STATE_VERSION = 1


@dataclass(slots=True)
class MasterState:
    """Persisted per-master state; `settings` are the effective ones (address included)."""

    settings: MasterConfig
    file_snapshot: dict[str, Any] | None = None
    """The master's file entry when last reconciled; None if created by SENTINEL MONITOR."""
    config_epoch: int = 0
    leader: str | None = None
    leader_epoch: int = 0
    known_replicas: list[tuple[str, int]] = field(default_factory=list)
    known_sentinels: list[tuple[str, int, str]] = field(default_factory=list)
    maintenance: bool = False
    """Ours: `hasentinel pause` (SENTINEL MAINTENANCE) is on for this master."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "settings": self.settings.to_fields(),
            "file_snapshot": self.file_snapshot,
            "config_epoch": self.config_epoch,
            "leader": self.leader,
            "leader_epoch": self.leader_epoch,
            "known_replicas": [[h, p] for h, p in self.known_replicas],
            "known_sentinels": [[h, p, r] for h, p, r in self.known_sentinels],
            "maintenance": self.maintenance,
        }

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> MasterState:
        """Inverse of `to_dict`."""
        return cls(
            settings=MasterConfig.from_fields(name, d["settings"]),
            file_snapshot=d.get("file_snapshot"),
            config_epoch=int(d.get("config_epoch", 0)),
            leader=d.get("leader"),
            leader_epoch=int(d.get("leader_epoch", 0)),
            known_replicas=[(str(h), int(p)) for h, p in d.get("known_replicas", [])],
            known_sentinels=[(str(h), int(p), str(r)) for h, p, r in d.get("known_sentinels", [])],
            maintenance=bool(d.get("maintenance", False)),
        )


@dataclass(slots=True)
class SentinelState:
    """Everything the sentinel must remember across restarts."""

    myid: str
    current_epoch: int = 0
    masters: dict[str, MasterState] = field(default_factory=dict)
    removed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Masters of the file removed with SENTINEL REMOVE, with their file entry at removal."""
    sentinel_settings: dict[str, Any] = field(default_factory=dict)
    """Effective SENTINEL CONFIG SET-able settings (announce-ip, ...)."""
    sentinel_snapshot: dict[str, Any] | None = None
    """The file's values of those settings when last reconciled."""

    def to_json(self) -> str:
        """Serialise (stable key order, one line per top-level key for readable diffs)."""
        doc = {
            "version": STATE_VERSION,
            "myid": self.myid,
            "current_epoch": self.current_epoch,
            "masters": {n: m.to_dict() for n, m in self.masters.items()},
            "removed": self.removed,
            "sentinel_settings": self.sentinel_settings,
            "sentinel_snapshot": self.sentinel_snapshot,
        }
        return json.dumps(doc, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SentinelState:
        """Parse `to_json` output. Raises ValueError on a malformed or unknown-version document."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"state file is not JSON: {e}") from e
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            raise ValueError("state file has an unknown format version")
        myid = doc.get("myid")
        if not isinstance(myid, str) or len(myid) != 40:
            raise ValueError("state file has no valid myid")
        try:
            return cls(
                myid=myid,
                current_epoch=int(doc.get("current_epoch", 0)),
                masters={n: MasterState.from_dict(n, d) for n, d in doc.get("masters", {}).items()},
                removed=dict(doc.get("removed", {})),
                sentinel_settings=dict(doc.get("sentinel_settings", {})),
                sentinel_snapshot=doc.get("sentinel_snapshot"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"state file is malformed: {e!r}") from e


def generate_myid(rng: random.Random) -> str:
    """A fresh 40-hex-character sentinel id from the injected generator."""
    return "".join(rng.choice("0123456789abcdef") for _ in range(40))


def _merge(file: dict[str, Any], snapshot: dict[str, Any] | None, stored: dict[str, Any]) -> dict[str, Any]:
    """Per field: the file wins if it changed since `snapshot`, else the stored value stays.

    host and port move together (an address is one setting).
    """
    out = dict(stored)
    for k, v in file.items():
        if k in ("host", "port"):
            continue
        if snapshot is None or snapshot.get(k) != v:
            out[k] = v
    if snapshot is None or (snapshot.get("host"), snapshot.get("port")) != (file["host"], file["port"]):
        out["host"], out["port"] = file["host"], file["port"]
    return out


def reconcile(config: SentinelConfig, state: SentinelState | None, rng: random.Random) -> SentinelState:
    """The effective state at start: the file merged with the stored state (see module doc).

    Without a stored state, the stock state lines of the file seed it (migration from stock).
    Epochs never go backwards: the larger of the file's and the stored value is kept.
    """
    legacy = config.legacy
    if state is None:
        st = SentinelState(myid=legacy.myid or generate_myid(rng), current_epoch=legacy.current_epoch)
        cfg_epochs = dict(legacy.config_epochs)
        leader_epochs = dict(legacy.leader_epochs)
        for m in config.masters:
            st.masters[m.name] = MasterState(
                settings=m,
                file_snapshot=m.to_fields(),
                config_epoch=cfg_epochs.get(m.name, 0),
                leader_epoch=leader_epochs.get(m.name, 0),
                known_replicas=[(h, p) for n, h, p in legacy.known_replicas if n == m.name],
                known_sentinels=[(h, p, r) for n, h, p, r in legacy.known_sentinels if n == m.name],
            )
        st.sentinel_settings = config.sentinel_fields()
        st.sentinel_snapshot = config.sentinel_fields()
        return st

    out = SentinelState(myid=state.myid, current_epoch=max(state.current_epoch, legacy.current_epoch))
    for m in config.masters:
        snap = m.to_fields()
        if m.name in state.removed and state.removed[m.name] == snap:
            out.removed[m.name] = snap
            continue  # still removed: the operator did not touch its file entry
        prev = state.masters.get(m.name)
        if prev is None or prev.file_snapshot is None:
            # New in the file (or it replaces a runtime master of the same name: the file wins).
            legacy_epoch = dict(legacy.config_epochs).get(m.name, 0)
            out.masters[m.name] = MasterState(settings=m, file_snapshot=snap, config_epoch=legacy_epoch)
            if prev is not None:
                out.masters[m.name].config_epoch = max(prev.config_epoch, legacy_epoch)
                out.masters[m.name].leader_epoch = prev.leader_epoch
                out.masters[m.name].maintenance = prev.maintenance
            continue
        merged = _merge(snap, prev.file_snapshot, prev.settings.to_fields())
        moved = (merged["host"], merged["port"]) != (prev.settings.host, prev.settings.port)
        out.masters[m.name] = MasterState(
            settings=MasterConfig.from_fields(m.name, merged),
            file_snapshot=snap,
            config_epoch=prev.config_epoch,
            leader=prev.leader,
            leader_epoch=prev.leader_epoch,
            # The operator moved the master in the file: the replicas we knew belong to the old one.
            known_replicas=[] if moved else list(prev.known_replicas),
            known_sentinels=list(prev.known_sentinels),
            maintenance=prev.maintenance,
        )
    for name, prev in state.masters.items():
        if prev.file_snapshot is None and name not in out.masters:
            out.masters[name] = prev  # created by SENTINEL MONITOR: not in the file, kept
    for name in out.masters:
        out.current_epoch = max(out.current_epoch, out.masters[name].config_epoch)
    out.sentinel_snapshot = config.sentinel_fields()
    out.sentinel_settings = _merge_flat(
        config.sentinel_fields(), state.sentinel_snapshot, state.sentinel_settings
    )
    return out


def _merge_flat(
    file: dict[str, Any], snapshot: dict[str, Any] | None, stored: dict[str, Any]
) -> dict[str, Any]:
    out = dict(file)
    for k, v in file.items():
        if snapshot is not None and snapshot.get(k) == v and k in stored:
            out[k] = stored[k]
    return out
