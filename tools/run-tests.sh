#!/usr/bin/env bash
# Run every test: flake8; unit tests, functional tests against a private
# dockerd and private OVS that the tests start and stop themselves, nova's
# own generic driver suite and servers through nova's functional framework;
# a few again on an engine that remaps user namespaces; then, in a session
# of their own (the cloud runs its OVS in the host's namespace), the
# end-to-end tests through the real cloud, whose engine remaps
# (python -m novadocker_cloud). Needs root (tools/setup-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m flake8 novadocker nova tests benchmarks tools \
    novadocker_cloud
# The slowest tests are listed, for whoever keeps CI under its 30 minutes.
.venv/bin/python -m pytest -p no:cacheprovider --durations=10 "$@" \
    --ignore=tests/cloud tests
# The real cloud's engine remaps its containers' root to an unprivileged
# host uid (dockerd --userns-remap), so every test of tests/cloud runs on
# one: servers, snapshots, guest data, rescue, consoles, Tempest. Here, on
# a private remapping engine (NOVADOCKER_TEST_USERNS=1), what the cloud
# cannot show: root in an instance is not the host's root (a privileged
# one goes to the host's namespace), and the driver's files from inside, as
# any uid reads them.
NOVADOCKER_TEST_USERNS=1 .venv/bin/python -m pytest -p no:cacheprovider \
    "$@" tests/functional/test_userns.py tests/functional/test_config_drive.py \
    tests/functional/test_file_injection.py tests/functional/test_passwords.py
.venv/bin/python -m pytest -p no:cacheprovider --durations=10 "$@" \
    tests/cloud
# The cloud of two compute nodes: a session of its own, as it brings up its
# own cloud on the same ports once the single-node one has stopped.
NOVADOCKER_TWO_NODES=1 exec .venv/bin/python -m pytest -p no:cacheprovider \
    --durations=5 "$@" tests/cloud/test_two_nodes.py
