#!/usr/bin/env bash
# Run every test: unit tests, functional tests against a private dockerd and
# private OVS that the tests start and stop themselves, and nova's own
# generic driver suite against DockerDriver. Needs root (tools/setup-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -p no:cacheprovider "$@" tests
