"""The hub gives its own container a higher CPU weight (Docker's --cpu-shares) at start-up.

Swarm's CPU reservations only steer placement; on the CPU every container weighs the same (1024).
In a storm of server starts the hub then gets 1/(servers+1) of the CPU while it must do every
spawn's synchronous work (tokens, database) on one event loop: its API stalled for seconds. With a
higher weight the hub wins the CPU it asks for (it uses at most about one core) and user servers
still share the rest as equals. The stack file cannot set it (compose in swarm mode has no
cpu_shares), so the hub does, through the Docker socket it already drives the swarm with.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
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


def raise_own_cpu_weight(shares: int, docker_client=None) -> bool:
    """Set this container's cpu-shares; False (and a warning) when it cannot: never stops the hub."""
    if shares <= 0:
        return False
    try:
        container = own_container_id(MOUNTINFO.read_text())
        if container is None:
            log.warning("CPU weight not set: not in a Docker container")
            return False
        if docker_client is None:
            import docker

            docker_client = docker.APIClient()
        docker_client.update_container(container, cpu_shares=shares)
    except Exception as e:  # no socket, no permission: the hub runs, only without the weight
        log.warning("CPU weight %d not set on the hub's container: %s", shares, e)
        return False
    log.info("hub container %s weighs %d CPU shares (servers: Docker's 1024)", container[:12], shares)
    return True
