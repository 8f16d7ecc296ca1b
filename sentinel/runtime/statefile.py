"""Where the persisted sentinel state lives and how it is written (atomically, durably).

The user's sentinel.conf is never rewritten: everything stock would rewrite into it (myid,
epochs, votes, known replicas and sentinels, runtime changes) goes to a JSON state file next to
it, `<dir>/<config-file-name>.state.json`, where `dir` is the config's `dir` directive (relative
to the working directory at start, as stock's chdir) or, without one, the config file's directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from sentinel.core.config import SentinelConfig
from sentinel.core.state import SentinelState


class StateWriteError(Exception):
    """The state could not be made durable: the sentinel must stop (persist-before-act)."""


def state_path(config_path: Path, config: SentinelConfig) -> Path:
    """`<dir>/<config-file-name>.state.json`."""
    directory = Path(config.dir) if config.dir else config_path.resolve().parent
    return directory.resolve() / f"{config_path.name}.state.json"


def load_state(path: Path) -> SentinelState | None:
    """The stored state, None when there is no file yet; ValueError on a corrupt file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return SentinelState.from_json(text)


def write_state(path: Path, text: str) -> None:
    """Write `text` so that after a crash the file holds either the old or the new content.

    Temp file in the same directory, fsync, rename over the target, fsync the directory.
    Raises StateWriteError on any failure (the temp file is removed).
    """
    directory = path.parent
    tmp = directory / f".{path.name}.tmp-{os.getpid()}"
    data = text.encode("utf-8")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise StateWriteError(f"cannot write state file {path}: {e.strerror or e}") from e
