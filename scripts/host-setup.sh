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

# Without systemd, dockerd puts every container in one cgroup, `docker`, which by default weighs on the CPU as
# much as ONE host process. In a storm of server starts dockerd's, containerd's and the shims' own threads
# (host processes) then squeeze the hub, its database and the starting servers all together. Eight processes'
# worth lets the containers share the CPU as the hub's per-container weights mean (docs/operations.md).
# With systemd, each container is a scope of its own beside docker.service: nothing to do. Only cgroup v1's cpu
# controller (these machines) is handled.
docker_weight="${MLOPS_HUB_DOCKER_CGROUP_CPU_SHARES:-8192}"
if [ -f /sys/fs/cgroup/cpu/cpu.shares ] && [ ! -d /run/systemd/system ] && [ "$docker_weight" != 0 ]; then
  mkdir -p /sys/fs/cgroup/cpu/docker 2>/dev/null || true
  if [ -w /sys/fs/cgroup/cpu/docker/cpu.shares ] && [ "$(cat /sys/fs/cgroup/cpu/docker/cpu.shares)" != "$docker_weight" ]; then
    say "containers' CPU weight (cgroup docker): $docker_weight shares"
    echo "$docker_weight" > /sys/fs/cgroup/cpu/docker/cpu.shares
  fi
fi

# The swarm's manager address. A single machine: loopback. The tests join worker nodes that run as
# containers (tests/integration/worker_nodes.py): they reach the manager on a bridge of its own, so the
# manager advertises that bridge's gateway. A site's real nodes: MLOPS_SWARM_ADVERTISE_ADDR=<this host's IP>.
advertise="${MLOPS_SWARM_ADVERTISE_ADDR:-127.0.0.1}"
if [ "${MLOPS_HUB_WITH_TEST_DEPS:-0}" = 1 ]; then
  nodes_net=mlops-nodes nodes_gateway=10.231.0.1  # tests/integration/worker_nodes.py names the same
  if ! docker network inspect "$nodes_net" >/dev/null 2>&1; then
    docker network create --driver bridge --subnet 10.231.0.0/24 --gateway "$nodes_gateway" \
      --label mlops-hub.test-nodes=1 "$nodes_net" >/dev/null
  fi
  advertise="$nodes_gateway"
fi
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
  say "initialising a single-node swarm (manager address $advertise)"
  docker swarm init --advertise-addr "$advertise" >/dev/null
elif [ "$(docker info --format '{{.Swarm.NodeAddr}}')" != "$advertise" ]; then
  # `swarm init --force-new-cluster --advertise-addr` keeps the old address as the manager's Raft address, which
  # joining nodes are told: only a swarm made anew advertises the new one. Leaving removes every service, so
  # only an empty one-node swarm is made anew here (volumes stay; `mlops-hub up` makes secrets and configs again)
  if [ "$(docker info --format '{{.Swarm.Nodes}}')" = 1 ] && [ -z "$(docker service ls -q)" ]; then
    say "making the swarm anew with the manager address $advertise (was $(docker info --format '{{.Swarm.NodeAddr}}'))"
    docker swarm leave --force >/dev/null
    docker swarm init --advertise-addr "$advertise" >/dev/null
  else
    # not stopped here: the tests of several nodes fail with this same advice, the others run
    say "WARNING: the swarm advertises $(docker info --format '{{.Swarm.NodeAddr}}'), not $advertise: worker nodes"
    say "cannot join it. Stop its services (mlops-hub down), then run this again; or: docker swarm leave --force"
  fi
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
