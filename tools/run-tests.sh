#!/usr/bin/env bash
# Run every test: unit tests, functional tests against a private dockerd and
# private OVS that the tests start and stop themselves, and nova's own
# generic driver suite against DockerDriver; flake8 first. Needs root
# (tools/setup-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m flake8 novadocker nova tests benchmarks tools
exec .venv/bin/python -m pytest -p no:cacheprovider "$@" tests
