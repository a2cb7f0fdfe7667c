#!/usr/bin/env bash
# Run every test: flake8; unit tests, functional tests against a private
# dockerd and private OVS that the tests start and stop themselves, nova's
# own generic driver suite and servers through nova's functional framework;
# then, in a session of their own (the cloud runs its OVS in the host's
# namespace), the end-to-end tests through the real cloud
# (python -m novadocker_cloud). Needs root (tools/setup-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m flake8 novadocker nova tests benchmarks tools \
    novadocker_cloud
.venv/bin/python -m pytest -p no:cacheprovider "$@" --ignore=tests/cloud tests
exec .venv/bin/python -m pytest -p no:cacheprovider "$@" tests/cloud
