#!/usr/bin/env bash
# Prepare a Debian 12 machine for nova-docker development and tests: the
# Docker engine, Open vSwitch and busybox-static from apt, and a virtualenv
# (.venv) with nova 34 and this package installed from the constraints file.
# Needs root. Idempotent.
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

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PYTHON" -m venv .venv
fi
echo "==> installing Python dependencies (constraints: upper-constraints.txt)"
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -c upper-constraints.txt \
    -r requirements.txt -r test-requirements.txt
.venv/bin/pip install -q --no-deps -e .
echo "==> environment ready: .venv"
