"""The hub gives the platform's containers on its node a higher CPU weight (Docker's --cpu-shares).

Swarm's CPU reservations only steer placement; on the CPU every container weighs the same (1024).
In a storm of server starts the hub then gets 1/(servers+1) of the CPU while it must do every
spawn's synchronous work (tokens, database) on one event loop, and a probe of its API also waits
for the edge, the proxy and the database: the API stalled for seconds. With a higher weight the
platform's services win the CPU they ask for (little, except in a storm) and user servers still
share the rest as equals. A compose file deployed to Swarm cannot set cpu_shares, so the hub does,
through the Docker socket it already drives the swarm with: for every container of its own stack on
its node, at start-up and again every `every` seconds (a restarted proxy is a new container).
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
STACK_LABEL = "com.docker.stack.namespace"
_HOSTNAME_MOUNT = re.compile(r"/containers/([0-9a-f]{64})/hostname$")
log = logging.getLogger("mlops_hub.cpu_weight")


def own_container_id(mountinfo: str) -> str | None:
    """This container's ID: Docker bind-mounts /var/lib/docker/containers/<id>/hostname on /etc/hostname
    (cgroup paths do not name it under cgroup v2, and the stack sets the hostname to `hub`)."""
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == "/etc/hostname":
            found = _HOSTNAME_MOUNT.search(fields[3])
            if found:
                return found.group(1)
    return None


def needing_weight(containers: list[dict], shares: int) -> list[str]:
    """IDs of running containers (as `docker inspect` shows them) whose weight is not `shares` yet."""
    return [c["Id"] for c in containers
            if (c.get("State") or {}).get("Running") and (c.get("HostConfig") or {}).get("CpuShares") != shares]


def weigh_stack(shares: int, client) -> list[str]:
    """Set `shares` on every running container of the hub's own stack on this node; the IDs changed."""
    own = own_container_id(MOUNTINFO.read_text())
    if own is None:
        raise RuntimeError("not in a Docker container")
    stack = (client.inspect_container(own)["Config"].get("Labels") or {}).get(STACK_LABEL)
    ids = [own] if not stack else [c["Id"] for c in client.containers(filters={"label": f"{STACK_LABEL}={stack}"})]
    changed = needing_weight([client.inspect_container(i) for i in ids], shares)
    for container in changed:
        client.update_container(container, cpu_shares=shares)
    return changed


def raise_platform_cpu_weight(shares: int, docker_client=None, every: float = 30.0) -> bool:
    """Weigh the stack now and then every `every` seconds in a daemon thread; False (a warning) when it
    cannot: the hub runs on without the weight, never stops for it."""
    if shares <= 0:
        return False
    try:
        if docker_client is None:
            import docker

            docker_client = docker.APIClient()
        changed = weigh_stack(shares, docker_client)
    except Exception as e:  # no socket, no permission, not in a container
        log.warning("CPU weight %d not set on the platform's containers: %s", shares, e)
        return False
    log.info("platform containers weigh %d CPU shares (servers: Docker's 1024); set on %d", shares, len(changed))
    if every > 0:
        threading.Thread(target=_keep_weighing, args=(shares, docker_client, every), daemon=True,
                         name="mlops-cpu-weight").start()
    return True


def _keep_weighing(shares: int, client, every: float) -> None:
    stop = threading.Event()
    while not stop.wait(every):
        try:
            weigh_stack(shares, client)
        except Exception as e:  # a container gone between list and update: the next round sees the new one
            log.debug("CPU weight round failed: %s", e)
