#!/usr/bin/env bash
# Runs every test: installs and starts what they need (Docker Engine in swarm mode, the base
# and platform images, PostgreSQL, the Python packages), then pytest. Arguments go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MLOPS_HUB_WITH_TEST_DEPS=1 "$repo/scripts/host-setup.sh"
cd "$repo"
.venv/bin/mlops-hub build
exec .venv/bin/pytest -ra --durations=40 "$@"  # the slowest steps: where CI time goes
