"""Why a server stopped when its node went away: the node is down, drained, or gone from the swarm.

Swarm keeps reporting a task on a lost node as it last saw it ("running"); what changed is the node (state
`down`, availability `drain`) and the task's desired state (`shutdown`: the orchestrator gave it up). The
spawner asks this after JupyterHub's poll found the server gone, to tell the user in words.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from docker.errors import NotFound

DockerCall = Callable[..., Awaitable]


def node_end_reason(node: dict | None, node_id: str) -> str | None:
    """'node w1 is down' / '... was drained' / '... left the swarm' for a lost node; None for a healthy one."""
    if node is None:
        return f"node {node_id[:12]} left the swarm"
    name = (node.get("Description") or {}).get("Hostname") or node_id[:12]
    state = (node.get("Status") or {}).get("State", "")
    availability = (node.get("Spec") or {}).get("Availability", "")
    if state in ("down", "disconnected", "unknown"):
        return f"node {name} is {state}"
    if availability == "drain":
        return f"node {name} was drained (an admin took it out of service)"
    return None


async def lost_node_reason(docker: DockerCall, task: dict | None) -> str | None:
    """The node reason for the service's newest task (None: its node is fine, or no task)."""
    node_id = (task or {}).get("NodeID")
    if not node_id:
        return None
    try:
        node = await docker("inspect_node", node_id)
    except NotFound:
        node = None
    return node_end_reason(node, node_id)
