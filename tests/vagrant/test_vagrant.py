"""vagrant/: `vagrant validate` on the Vagrantfile, and vagrant/provision.sh run for real into a
temporary root.

CI cannot boot VMs. What runs here instead:
* `vagrant validate --ignore-provider` (the providers, libvirt and VirtualBox, are not installed
  in CI; their config blocks are skipped, everything else is checked), on an exact copy of
  vagrant/ inside a copy-shaped tree so no `.vagrant/` state lands in the checkout; and the same
  on a broken copy, so the check is not vacuous;
* `bash -n` and shellcheck on provision.sh;
* provision.sh itself with DESTDIR=<tmp> and HASENTINEL_SRC=<this repository>: the copy, the
  real scripts/install.sh, the real systemd-sysusers / systemd-tmpfiles (with --root), the
  config rendering and the file modes all run for real. Only the commands that would act on
  this machine or the network are PATH shims that record their arguments: apt-get and dpkg
  (package installs), python3 (`-m venv`: makes a venv whose pip and hasentinel record their
  arguments), systemctl, sysctl, ip (answers that eth1 carries the host's address). The rendered
  configs are then loaded with the project's real parsers and pass the real `supervise --check`
  with their paths moved into the temporary root.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from sentinel.core.config import parse_config
from sentinel.supervisor.config import parse_host_config
from sentinel.supervisor.runner import main as supervise_main
from server.config import Config

REPO = Path(__file__).resolve().parents[2]
VAGRANT = REPO / "vagrant"
PROVISION = VAGRANT / "provision.sh"
NET = "192.168.56"


# -- vagrant validate ---------------------------------------------------------------------------


def _vagrant() -> str:
    path = shutil.which("vagrant")
    if path is None:
        pytest.skip("vagrant is not installed (scripts/install.sh --test installs Debian's `vagrant`)")
    return path


def _validate(tmp_path: Path, vagrantfile: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`vagrant validate -p` on `vagrantfile` placed as <tmp>/repo/vagrant/Vagrantfile beside a
    copy of provision.sh (the Vagrantfile syncs its parent directory and names provision.sh)."""
    d = tmp_path / "repo" / "vagrant"
    d.mkdir(parents=True)
    (d / "Vagrantfile").write_text(vagrantfile)
    shutil.copy2(PROVISION, d / "provision.sh")
    home = tmp_path / "vagrant-home"
    home.mkdir(exist_ok=True)
    full_env = {
        **os.environ,
        "VAGRANT_HOME": str(home),
        "VAGRANT_CHECKPOINT_DISABLE": "1",  # no version check over the network
        "VAGRANT_NO_COLOR": "1",
        **env,
    }
    return subprocess.run(
        [_vagrant(), "validate", "--ignore-provider"],
        cwd=d,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_vagrant_validate(tmp_path: Path) -> None:
    r = _validate(tmp_path, (VAGRANT / "Vagrantfile").read_text())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Vagrantfile validated successfully" in r.stdout
    for host in ("client", "host1", "host2", "host3"):
        assert f"{host}:" in r.stdout  # every machine was validated


def test_vagrant_validate_is_not_vacuous(tmp_path: Path) -> None:
    text = (VAGRANT / "Vagrantfile").read_text()
    assert 'path: "provision.sh"' in text
    r = _validate(tmp_path / "a", text.replace('path: "provision.sh"', 'path: "missing.sh"'))
    assert r.returncode != 0 and "missing.sh" in r.stdout + r.stderr
    r = _validate(tmp_path / "b", text, HASENTINEL_VAGRANT_NET="10.0.0.0/24")
    assert r.returncode != 0 and "HASENTINEL_VAGRANT_NET" in r.stdout + r.stderr


# -- provision.sh: static checks ----------------------------------------------------------------


def test_provision_parses() -> None:
    r = subprocess.run(["bash", "-n", str(PROVISION)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert os.access(PROVISION, os.X_OK)


def test_provision_shellcheck_clean() -> None:
    sc = shutil.which("shellcheck")
    if sc is None:
        pytest.skip("shellcheck is not installed (scripts/install.sh --test installs it)")
    r = subprocess.run([sc, str(PROVISION)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_provision_refuses_bad_arguments(tmp_path: Path) -> None:
    for args in ([], ["4"], ["host1"], ["1", "10.0.0.0/24"], ["1", "192.168.56", "x"]):
        r = subprocess.run(
            ["bash", str(PROVISION), *args],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "DESTDIR": str(tmp_path), "HASENTINEL_SRC": str(REPO)},
        )
        assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert list(tmp_path.iterdir()) == []  # nothing written


# -- provision.sh: a real run into a temporary root ---------------------------------------------

LOGGER = '#!/bin/sh\necho "$(basename "$0") $*" >> "$SHIM_LOG"\n'

SHIMS = {
    "apt-get": LOGGER + "exit 0\n",
    "dpkg": LOGGER + "exit 0\n",  # `dpkg -s PKG`: every package counts as installed
    "sysctl": LOGGER + "exit 0\n",
    # stateful: inactive until `enable --now`
    "systemctl": LOGGER
    + 'case "$1" in\n'
    + '  is-active) [ -e "$SHIM_STATE/active" ] && exit 0; exit 3 ;;\n'
    + '  enable) [ "$2" = --now ] && touch "$SHIM_STATE/active" ;;\n'
    + "esac\nexit 0\n",
    # `ip -o -4 addr show to A/32`: eth1 carries A; `ip -o -4 addr show dev eth1`: the host's
    # address only (no VIP); `ip addr add ...`: recorded
    "ip": LOGGER
    + 'if [ "$1 $2 $3 $4 $5" = "-o -4 addr show to" ]; then\n'
    + '  echo "3: eth1    inet ${6%/*}/24 brd 192.168.56.255 scope global eth1"\n'
    + "fi\nexit 0\n",
    # `python3 -c ...` (install.sh's venv probe): fine; `python3 -m venv DIR`: a venv whose
    # programs record their arguments
    "python3": LOGGER
    + 'case "$1" in\n'
    + "  -c) exit 0 ;;\n"
    + '  -m) [ "$2" = venv ] || exit 1\n'
    + '      mkdir -p "$3/bin"\n'
    + "      for p in python pip hasentinel; do\n"
    + '        printf \'#!/bin/sh\\necho "$(basename "$0") $*" >> "$SHIM_LOG"\\n\' > "$3/bin/$p"\n'
    + '        chmod +x "$3/bin/$p"\n'
    + "      done ;;\n"
    + "  *) exit 1 ;;\n"
    + "esac\n",
}


def _provision(tmp_path: Path, index: int | str) -> tuple[Path, list[str], subprocess.CompletedProcess[str]]:
    root = tmp_path / "root"
    shims = tmp_path / "shims"
    state = tmp_path / "state"
    for d in (root, shims, state):
        d.mkdir(exist_ok=True)
    for name, text in SHIMS.items():
        (shims / name).write_text(text)
        (shims / name).chmod(0o755)
    log = tmp_path / "commands.log"
    env = {
        **os.environ,
        "PATH": f"{shims}:{os.environ['PATH']}",
        "DESTDIR": str(root),
        "HASENTINEL_SRC": str(REPO),
        "SHIM_LOG": str(log),
        "SHIM_STATE": str(state),
    }
    r = subprocess.run(
        ["bash", str(PROVISION), str(index), NET], capture_output=True, text=True, timeout=300, env=env
    )
    return root, log.read_text().splitlines() if log.exists() else [], r


def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("provision.sh chowns to the hasentinel group and systemd-tmpfiles sets owners: root")
    for tool in ("systemd-sysusers", "systemd-tmpfiles"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install -y systemd)")


def _gid(root: Path) -> int:
    line = next(x for x in (root / "etc" / "group").read_text().splitlines() if x.startswith("hasentinel:"))
    return int(line.split(":")[2])


@pytest.mark.parametrize("index", [1, 2])
def test_provision_into_a_temp_root(tmp_path: Path, index: int) -> None:
    _needs_root()
    root, log, r = _provision(tmp_path, index)
    assert r.returncode == 0, r.stdout + r.stderr
    me, vip = f"{NET}.{10 + index}", f"{NET}.100"

    # 1. the project copied to /opt/hasentinel (no VCS or venv of the source), installed there
    opt = root / "opt" / "hasentinel"
    assert (opt / "pyproject.toml").read_bytes() == (REPO / "pyproject.toml").read_bytes()
    assert (opt / "sentinel" / "supervisor" / "runner.py").is_file()
    assert not (opt / ".git").exists()
    assert (opt / "scripts" / "vip-reconfig").stat().st_uid == 0
    assert "python3 -m venv .venv" in log
    assert "pip install -q -e ." in log  # scripts/install.sh, run in /opt/hasentinel
    assert not [x for x in log if x.startswith("apt-get")]  # the dpkg shim says all are present

    # 2. snippets installed and applied
    for kind in ("sysusers.d", "tmpfiles.d", "sysctl.d"):
        dest = root / "usr" / "lib" / kind / "hasentinel.conf"
        assert dest.read_bytes() == (REPO / "systemd" / kind / "hasentinel.conf").read_bytes()
        assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    gid = _gid(root)
    for d in ("var/lib/hasentinel/data", "var/lib/hasentinel/sentinel"):
        assert (root / d).is_dir()
    assert f"sysctl -q -p {root}/usr/lib/sysctl.d/hasentinel.conf" in log

    # 3. configs: the host's example with this cluster's addresses, root:hasentinel 0640
    etc = root / "etc" / "hasentinel"
    assert (stat.S_IMODE(etc.stat().st_mode), etc.stat().st_gid) == (0o750, gid)
    for name in ("host.toml", "server.conf", "sentinel.conf", "vip.conf"):
        st = (etc / name).stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, gid), name
        text = (etc / name).read_text()
        assert "10.0.0." not in text, name
    assert sorted(p.name for p in etc.iterdir()) == ["host.toml", "sentinel.conf", "server.conf", "vip.conf"]

    hc = parse_host_config((etc / "host.toml").read_text(), Path("/etc/hasentinel/host.toml"))
    assert hc.address == me
    assert sorted(hc.sentinel.peers) == [(f"{NET}.{10 + i}", 26379) for i in (1, 2, 3) if i != index]
    cfg = Config.from_argv([str(etc / "server.conf"), "--dir", str(tmp_path)])
    assert cfg.bind == [me, vip, "127.0.0.1"]
    assert cfg.replicaof == (None if index == 1 else (f"{NET}.11", 6379))
    m = parse_config((etc / "sentinel.conf").read_text()).master("mymaster")
    assert m is not None and (m.host, m.port, m.quorum) == (f"{NET}.11", 6379, 2)
    assert m.vip is not None and (m.vip.address, m.vip.iface) == (f"{vip}/24", "eth1")
    assert (m.vip.local_host, m.vip.local_port) == (me, 6379)
    from sentinel.vip.config import load_vip_config

    vc = load_vip_config({"HASENTINEL_VIP_CONF": str(etc / "vip.conf")})
    assert (str(vc.vip), vc.iface) == (f"{vip}/24", "eth1")
    assert f"hasentinel supervise --check {etc}/host.toml" in log

    # the real --check passes on them, paths moved into the temp root
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("host.toml", "server.conf", "sentinel.conf"):
        text = (etc / name).read_text()
        text = text.replace("/etc/hasentinel/", f"{moved}/").replace(
            "/var/lib/hasentinel/", f"{root}/var/lib/hasentinel/"
        )
        (moved / name).write_text(text)
    assert supervise_main([str(moved / "host.toml"), "--check"]) == 0

    # 4. the unit, enabled and started; no address added by hand (host1's sentinel adds the VIP)
    for name in ("hasentinel.service", "hasentinel@.service"):  # the template: the drills' instance
        unit = root / "etc" / "systemd" / "system" / name
        assert unit.read_bytes() == (REPO / "systemd" / name).read_bytes()
    assert log.index("systemctl daemon-reload") < log.index("systemctl enable --now hasentinel.service")
    adds = [x for x in log if x.startswith("ip addr add")]
    assert adds == []

    # again (`vagrant provision`): same files, the service is running now;
    # a file that is no longer in the source does not linger in /opt/hasentinel
    before = {p: p.read_bytes() for p in etc.iterdir()}
    (opt / "sentinel" / "stale_module.py").write_text("raise ImportError\n")
    _, log2, r = _provision(tmp_path, index)
    assert r.returncode == 0, r.stdout + r.stderr
    assert {p: p.read_bytes() for p in etc.iterdir()} == before
    assert [x for x in log2 if x.startswith("ip addr add")] == adds  # the log accumulates
    assert log2.count("python3 -m venv .venv") == 1  # the venv is kept
    assert (opt / ".venv" / "bin" / "pip").exists()
    assert not (opt / "sentinel" / "stale_module.py").exists()


def test_provision_client(tmp_path: Path) -> None:
    """The drills' client VM: the project installed, no configs, no service, no VIP."""
    _needs_root()
    root, log, r = _provision(tmp_path, "client")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "provision client (192.168.56.10)" in r.stdout
    assert (root / "opt" / "hasentinel" / "pyproject.toml").is_file()
    assert "pip install -q -e ." in log
    assert not (root / "etc" / "hasentinel").exists()
    assert not [x for x in log if x.startswith(("systemctl", "ip ", "sysctl"))]
