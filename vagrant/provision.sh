#!/usr/bin/env bash
# Provision one hasentinel host of the Vagrant cluster (run as root by vagrant/Vagrantfile; also
# usable by hand on any Debian 12 machine holding a copy of this repository):
#
#   provision.sh INDEX [NET]      INDEX 1..3; NET the /24 prefix (default 192.168.56)
#   provision.sh client [NET]     the drills' client VM (NET.10): step 1 only, no service
#
# host INDEX gets NET.(10+INDEX) (host1 = NET.11), the VIP is NET.100/24, the master starts on
# host1. Steps, each idempotent (`vagrant provision` may run it again):
#   1. copy the repository (HASENTINEL_SRC, default /vagrant) to /opt/hasentinel and install it
#      there with scripts/install.sh (apt packages, /opt/hasentinel/.venv);
#   2. sysusers.d, tmpfiles.d and sysctl.d snippets from systemd/ into /usr/lib, applied;
#   3. systemd/examples/hostINDEX/{host,server,sentinel}.conf and vip.conf into /etc/hasentinel,
#      the examples' 10.0.0.1-3 / 10.0.0.100 replaced by this cluster's addresses and the VIP's
#      interface (vip.conf and `sentinel vip`) by the one that carries this host's address;
#      `supervise --check` on them;
#   4. the units into /etc/systemd/system (hasentinel@.service too: `hasentinel drill --lab
#      vagrant` runs its own cluster as hasentinel@drill), hasentinel.service enabled and started
#      (host1's sentinel adds the VIP itself once it holds the lease).
# DESTDIR (default empty: /) installs under another root instead; tests/vagrant runs it that way,
# with the commands that act on the running system (apt-get, systemctl, sysctl, ip) stubbed.
set -euo pipefail

usage() { echo "usage: $0 INDEX(1-3)|client [NET, default 192.168.56]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
index=$1
net=${2:-192.168.56}
case "$index" in 1|2|3|client) ;; *) usage ;; esac
[[ "$net" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || { echo "NET must look like 192.168.56" >&2; exit 2; }

src=${HASENTINEL_SRC:-/vagrant}
root=${DESTDIR:-}
opt="$root/opt/hasentinel"
etc="$root/etc/hasentinel"
if [ "$index" = client ]; then addr="$net.10"; name=client; else addr="$net.$((10 + index))"; name="host$index"; fi
vip="$net.100/24"
say() { echo "provision $name ($addr): $*"; }

if [ ! -f "$src/pyproject.toml" ] || [ ! -d "$src/systemd/examples" ]; then
  echo "$src is not a hasentinel checkout (set HASENTINEL_SRC)" >&2
  exit 2
fi

# 1. The project in /opt/hasentinel, its venv in /opt/hasentinel/.venv.
say "copying $src to /opt/hasentinel"
mkdir -p "$opt"
if [ "$(cd "$src" && pwd -P)" != "$(cd "$opt" && pwd -P)" ]; then
  # a fresh copy (files deleted upstream must not linger), keeping the venv
  find "$opt" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
  tar -C "$src" --exclude=./.git --exclude=./.venv --exclude=./vagrant/.vagrant \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache --exclude=.mypy_cache \
    --exclude=.ruff_cache -cf - . | tar -C "$opt" --no-same-owner -xf -
fi
say "installing (scripts/install.sh)"
bash "$opt/scripts/install.sh"
if [ "$index" = client ]; then
  say "client: installed, no service"
  exit 0
fi

# 2. The user, the directories, ip_nonlocal_bind (the servers bind the VIP).
install -d -m 0755 "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d" "$root/usr/lib/sysctl.d" \
  "$root/etc/systemd/system"
for kind in sysusers.d tmpfiles.d sysctl.d; do
  install -m 0644 "$opt/systemd/$kind/hasentinel.conf" "$root/usr/lib/$kind/hasentinel.conf"
done
root_opt=()
[ -n "$root" ] && root_opt=(--root="$root")
systemd-sysusers "${root_opt[@]}"
systemd-tmpfiles "${root_opt[@]}" --create
if ! command -v sysctl >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends procps >/dev/null
fi
sysctl -q -p "$root/usr/lib/sysctl.d/hasentinel.conf"

# 3. Configs: the example set with this cluster's addresses.
iface=$(ip -o -4 addr show to "$addr/32" | awk '{print $2; exit}')
[ -n "$iface" ] || { echo "no interface carries $addr (is the private network up?)" >&2; exit 1; }
render() {  # 10.0.0.100 -> NET.100, 10.0.0.N -> NET.1N (N = 1..3); the VIP's interface <iface>
  sed -E -e "s/\b10\.0\.0\.100\b/$net.100/g" -e "s/\b10\.0\.0\.([1-3])\b/$net.1\1/g" \
    -e "s/^interface = .*/interface = $iface/" \
    -e "s/^(sentinel vip [^ ]+ [^ ]+) [^ ]+\$/\1 $iface/" "$1"
}
gid=$(awk -F: '$1 == "hasentinel" {print $3}' "$root/etc/group")
[ -n "$gid" ] || { echo "group hasentinel missing after systemd-sysusers" >&2; exit 1; }
install -d -m 0750 -o 0 -g "$gid" "$etc"
for f in host.toml server.conf sentinel.conf; do
  render "$opt/systemd/examples/host$index/$f" > "$etc/$f.new"
done
render "$opt/systemd/examples/vip.conf" > "$etc/vip.conf.new"
for f in host.toml server.conf sentinel.conf vip.conf; do
  chown "0:$gid" "$etc/$f.new"
  chmod 0640 "$etc/$f.new"
  mv -f "$etc/$f.new" "$etc/$f"
done
say "configs in /etc/hasentinel (VIP $vip on $iface)"
"$opt/.venv/bin/hasentinel" supervise --check "$etc/host.toml"

# 4. The unit.
for unit in hasentinel.service hasentinel@.service; do
  install -m 0644 "$opt/systemd/$unit" "$root/etc/systemd/system/$unit"
done
systemctl daemon-reload
systemctl enable --now hasentinel.service
say "hasentinel.service enabled and started"
