#!/usr/bin/env bash
# Run every test: flake8; unit tests, functional tests against a private
# dockerd and private OVS that the tests start and stop themselves, nova's
# own generic driver suite and servers through nova's functional framework;
# a subset again on engines that remap user namespaces; then, in a session
# of their own (the cloud runs its OVS in the host's namespace), the
# end-to-end tests through the real cloud
# (python -m novadocker_cloud). Needs root (tools/setup-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m flake8 novadocker nova tests benchmarks tools \
    novadocker_cloud
.venv/bin/python -m pytest -p no:cacheprovider "$@" --ignore=tests/cloud tests
# Again on engines that remap their containers' root to an unprivileged
# host uid (dockerd --userns-remap): the proof that root inside is not root
# outside, and what the driver gives an instance or reads back from the
# engine (files, keys, config drive, passwords, images and snapshots,
# rescue, LXCFS, ports in the container's namespace, a server through Nova).
# The real cloud's engine remaps too, so every test of tests/cloud runs on
# one.
NOVADOCKER_TEST_USERNS=1 .venv/bin/python -m pytest -p no:cacheprovider \
    "$@" tests/functional/test_userns.py tests/functional/test_config_drive.py \
    tests/functional/test_file_injection.py tests/functional/test_passwords.py \
    tests/functional/test_images.py tests/functional/test_rescue.py \
    tests/functional/test_lxcfs.py tests/functional/test_driver_network.py \
    tests/e2e/test_servers.py
exec .venv/bin/python -m pytest -p no:cacheprovider "$@" tests/cloud
