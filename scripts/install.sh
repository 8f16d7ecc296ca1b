#!/usr/bin/env bash
# Install hasentinel into ./.venv on Debian 12 (run as root, or with sudo available).
#   bash scripts/install.sh          the runtime: Python venv + the project
#   bash scripts/install.sh --test   also the test tools and the stock Redis peers the tests use
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

apt_pkgs=(iproute2 redis-tools)  # redis-tools: redis-cli, used by the lab and by operators
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_pkgs+=(python3-venv)
[ "$want_test" = 1 ] && apt_pkgs+=(redis-server redis-sentinel systemd tcpdump iputils-ping)
# vagrant: `vagrant validate` of vagrant/Vagrantfile; shellcheck: vagrant/provision.sh (tests/vagrant)
[ "$want_test" = 1 ] && apt_pkgs+=(vagrant shellcheck)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's redis-server package starts a system instance on 6379; the tests start their own.
if [ "$want_test" = 1 ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now redis-server redis-sentinel >/dev/null 2>&1 || true
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
if [ "$want_test" = 1 ]; then
  .venv/bin/pip install -q -e '.[test]'
else
  .venv/bin/pip install -q -e .
fi
