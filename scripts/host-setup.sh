#!/usr/bin/env bash
# Prepares this machine for mlops-hub: Docker Engine in swarm mode, a Python venv with the
# package, and the base image. Idempotent: every step checks before it acts.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '[mlops-hub setup] %s\n' "$*"; }

apt_packages=(docker.io iptables debootstrap python3-venv git curl ca-certificates)
# tests also run a PostgreSQL server and drive Debian's Chromium
[ "${MLOPS_HUB_WITH_TEST_DEPS:-0}" = 1 ] && apt_packages+=(postgresql chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (log: /var/log/mlops-hub-dockerd.log)"
  # no systemd on these machines: run the daemon in its own session so it outlives this shell
  setsid nohup dockerd >/var/log/mlops-hub-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { say "dockerd did not start; see /var/log/mlops-hub-dockerd.log"; exit 1; }
fi

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
  say "initialising a single-node swarm"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi

venv="$repo/.venv"
if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  python3 -m venv "$venv"
fi
# build: the Node.js that builds the JupyterLab frontend on this machine (mlops-hub build)
extras="hub,lab,build"
[ "${MLOPS_HUB_WITH_TEST_DEPS:-0}" = 1 ] && extras="hub,lab,build,test"
stamp="$venv/.mlops-hub-installed"
want="$extras $(sha256sum "$repo/pyproject.toml" | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing mlops-hub[$extras] into $venv"
  # the editable install skips the frontend: `mlops-hub build` builds it when its sources change
  SKIP_JUPYTER_BUILDER=1 "$venv/bin/pip" install -q --disable-pip-version-check -e "$repo[$extras]"
  echo "$want" > "$stamp"
fi
