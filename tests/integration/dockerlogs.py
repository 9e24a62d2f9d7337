"""Logs of a service read from its tasks' containers on this node.

`docker service logs` was seen to hang for minutes on this engine (20.10.24); the containers'
own logs answer at once, and on a single-node swarm every task's container is here.
"""

from __future__ import annotations

import docker
from docker.errors import NotFound


def service_container_logs(client: docker.APIClient, service: str, since: float | None = None,
                           timestamps: bool = False) -> str:
    """Every task's container log, oldest task first (a restarted hub has several); only the lines since `since`
    (wall clock, whole seconds) when given, each led by its time with `timestamps`."""
    # docker's `since` takes whole seconds and reads 0 as "from the start"
    window = {} if since is None else {"since": max(1, int(since))}
    tasks = sorted(client.tasks(filters={"service": service}), key=lambda t: t["CreatedAt"])
    chunks = []
    for task in tasks:
        container = task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
        if not container:
            continue
        try:
            chunks.append(client.logs(container, stdout=True, stderr=True, timestamps=timestamps, **window))
        except NotFound:
            continue  # a removed task's container
    return b"".join(chunks).decode("utf8", "replace")
