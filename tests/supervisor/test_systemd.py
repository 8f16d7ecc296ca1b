"""The systemd files: `systemd-analyze verify` on the units, sysusers.d and tmpfiles.d in a temp root.

The units name the installed console script (/opt/hasentinel/.venv/bin/hasentinel); verify
insists that ExecStart's binary exists, so the test verifies a copy whose paths point at this
venv's script. systemd older than 254 does not know RestartSteps=/RestartMaxDelaySec= and says
so; those two warnings are the only output tolerated.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "systemd"
INSTALLED = "/opt/hasentinel/.venv/bin/hasentinel"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install -y systemd)")
    return path


def _systemd_version() -> int:
    out = subprocess.run(
        [_tool("systemd-analyze"), "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    m = re.search(r"systemd (\d+)", out)
    return int(m.group(1)) if m else 0


def _verify(unit_file: Path) -> None:
    r = subprocess.run(
        [_tool("systemd-analyze"), "verify", str(unit_file)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=unit_file.parent,
    )
    lines = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    tolerated = []
    if _systemd_version() < 254:
        tolerated = [
            r"Unknown key( name)? '(RestartSteps|RestartMaxDelaySec)' in section \[Service\], ignoring"
        ]
    unexpected = [line for line in lines if not any(re.search(p, line) for p in tolerated)]
    assert r.returncode == 0 and not unexpected, "\n".join(lines)


def _local_copy(src: Path, dest: Path) -> Path:
    exe = Path(sys.executable).parent / "hasentinel"
    if not exe.exists():
        pytest.skip("the hasentinel console script is not installed in this venv")
    text = src.read_text()
    assert INSTALLED in text
    # every program the unit names from the venv (hasentinel, and python for ExecStopPost=)
    dest.write_text(text.replace(str(Path(INSTALLED).parent) + "/", str(exe.parent) + "/"))
    return dest


def test_verify_main_unit(tmp_path: Path) -> None:
    _verify(_local_copy(SYSTEMD / "hasentinel.service", tmp_path / "hasentinel.service"))


def test_verify_template_unit(tmp_path: Path) -> None:
    _verify(_local_copy(SYSTEMD / "hasentinel@.service", tmp_path / "hasentinel@lab1.service"))


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check is not vacuous: a typo in a directive's value fails it."""
    unit = _local_copy(SYSTEMD / "hasentinel.service", tmp_path / "hasentinel.service")
    unit.write_text(unit.read_text().replace("Type=notify", "Type=notfy"))
    with pytest.raises(AssertionError):
        _verify(unit)


def _directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, _, v = line.partition("=")
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_unit_hardening_and_timeouts_match_the_host_config() -> None:
    d = _directives((SYSTEMD / "hasentinel.service").read_text())
    assert d["Type"] == ["notify"] and d["KillMode"] == ["mixed"] and d["Restart"] == ["on-failure"]
    assert (
        d["User"] == ["hasentinel"] and d["NoNewPrivileges"] == ["yes"] and d["ProtectSystem"] == ["strict"]
    )
    assert d["AmbientCapabilities"] == ["CAP_NET_ADMIN CAP_NET_RAW"] == d["CapabilityBoundingSet"]
    assert d["RestartPreventExitStatus"] == ["2"]  # a config error is not retried
    assert "/var/lib/hasentinel" in d["ReadWritePaths"]
    host = tomllib.loads((SYSTEMD / "examples" / "host1" / "host.toml").read_text())
    stop = host["sentinel"]["stop_timeout"] + host["server"]["stop_timeout"]
    assert int(d["TimeoutStopSec"][0]) > stop  # the ordered stop fits before systemd's SIGKILL
    assert int(d["TimeoutStartSec"][0]) > host["health"]["start_timeout"]
    # the data and state dirs of the examples are the writable ones
    assert host["server"]["data_dir"].startswith("/var/lib/hasentinel/")
    assert host["sentinel"]["state_dir"].startswith("/var/lib/hasentinel/")


def test_sysusers_and_tmpfiles_in_a_temp_root(tmp_path: Path) -> None:
    sysusers, tmpfiles = _tool("systemd-sysusers"), _tool("systemd-tmpfiles")
    if os.geteuid() != 0:
        pytest.skip("creating the directories with their owners needs root")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for kind in ("sysusers.d", "tmpfiles.d"):
        (root / "usr" / "lib" / kind).mkdir(parents=True)
        shutil.copy(SYSTEMD / kind / "hasentinel.conf", root / "usr" / "lib" / kind / "hasentinel.conf")
    r = subprocess.run([sysusers, f"--root={root}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    passwd = (root / "etc" / "passwd").read_text()
    entry = next(line for line in passwd.splitlines() if line.startswith("hasentinel:"))
    _, _, uid, gid, _, home, shell = entry.split(":")
    assert home == "/var/lib/hasentinel" and shell == "/usr/sbin/nologin"
    r = subprocess.run([tmpfiles, f"--root={root}", "--create"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for path, mode, owner in [
        ("etc/hasentinel", 0o750, 0),
        ("var/lib/hasentinel", 0o750, int(uid)),
        ("var/lib/hasentinel/data", 0o750, int(uid)),
        ("var/lib/hasentinel/sentinel", 0o750, int(uid)),
    ]:
        st = (root / path).stat()
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (mode, owner, int(gid)), path
