#!/usr/bin/env bash
# Prepare a Debian 12 machine for nova-docker development and tests: the
# Docker engine, Open vSwitch and busybox-static from apt, and a virtualenv
# (.venv) with nova 34 and this package installed from the constraints file;
# the real cloud's virtualenv in its state directory (/var/lib/novadocker-
# cloud/venv) as well. Needs root. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(docker.io busybox-static openvswitch-switch iproute2 ethtool
              ovn-central ovn-host iptables)
# The real cloud (python -m novadocker_cloud): its daemons, sudo for
# nova-compute's privsep helper, and the distribution's Python for the
# services' virtualenv.
APT_PACKAGES+=(mariadb-server rabbitmq-server sudo python3-venv python3-dev)
# tests/unit/test_devstack.py checks every shell script with shellcheck.
APT_PACKAGES+=(shellcheck)
# The SSH test image for Tempest's validation (novadocker_cloud/ssh_image.py)
# copies dropbear into it; its functional test logs in with ssh.
APT_PACKAGES+=(dropbear-bin openssh-client curl)
# LXCFS: per-instance /proc/cpuinfo, meminfo, uptime ([docker] lxcfs_path),
# run by the cloud and by tests/functional/test_lxcfs.py on a mount point of
# their own.
APT_PACKAGES+=(lxcfs)
# The test engines' data roots: loop-mounted XFS (overlay2 limits root
# disks with its project quotas) and btrfs (the btrfs storage driver's).
APT_PACKAGES+=(xfsprogs btrfs-progs)
# Tempest's scenario tests ping the instances from the host.
APT_PACKAGES+=(iputils-ping)
# The cloud's metadata service: neutron-ovn-agent runs haproxy per network.
APT_PACKAGES+=(haproxy)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi

# The real cloud's own virtualenv (README command 1, tests/cloud) takes as
# long to install as .venv, and pip uses one core: both are installed at
# once. Its log is shown if it fails.
echo "==> installing the cloud's virtualenv (python -m novadocker_cloud)"
cloud_venv_log=$(mktemp)
/usr/bin/python3 -m novadocker_cloud.services.venv > "$cloud_venv_log" 2>&1 &
cloud_venv=$!

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PYTHON" -m venv .venv
fi
echo "==> installing Python dependencies (constraints: upper-constraints.txt)"
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -c upper-constraints.txt \
    -r requirements.txt -r test-requirements.txt
# The cloud's install builds this package in the tree as well: one at a
# time.
if ! wait "$cloud_venv"; then
    cat "$cloud_venv_log"
    exit 1
fi
cat "$cloud_venv_log"
rm -f "$cloud_venv_log"
.venv/bin/pip install -q --no-deps -e .
echo "==> environment ready: .venv"
