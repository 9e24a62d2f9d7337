#!/usr/bin/env bash
# Runs the platform on this machine: Docker Engine, a single-node swarm, the images, the stack.
# Arguments are passed to `mlops-hub up` (e.g. --port 8080, --platform-config my.yaml).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/host-setup.sh"
cd "$repo"
exec .venv/bin/mlops-hub up "$@"
