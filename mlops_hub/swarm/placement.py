"""Why Swarm cannot place a server, in words that name what is missing. Pure: the spawner reads the
nodes and tasks once, when a spawn is refused, and passes them in.

Swarm says only "no suitable node (insufficient resources on 1 node)"; the user needs to know whether
CPU or memory (or a placement constraint) is short, and by how much.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..policy.units import format_cpu, format_memory

NANO = 1e9
# task states that hold their reservation on a node (Swarm's scheduler counts these)
_HOLDING = {"assigned", "accepted", "preparing", "ready", "starting", "running"}


@dataclass(frozen=True)
class NodeRoom:
    """A node's unreserved CPU (cores) and memory (bytes)."""

    node_id: str
    cpu: float
    mem: int


def reservations_of(task: dict) -> tuple[float, int]:
    reserved = (((task.get("Spec") or {}).get("Resources") or {}).get("Reservations") or {})
    return (reserved.get("NanoCPUs") or 0) / NANO, reserved.get("MemoryBytes") or 0


def free_room(nodes: list[dict], tasks: list[dict]) -> list[NodeRoom]:
    """Each ready node's capacity less the reservations of the tasks that hold room on it."""
    rooms = []
    for node in nodes:
        if ((node.get("Status") or {}).get("State") or "") != "ready":
            continue
        if ((node.get("Spec") or {}).get("Availability") or "active") != "active":
            continue
        resources = ((node.get("Description") or {}).get("Resources") or {})
        cpu, mem = (resources.get("NanoCPUs") or 0) / NANO, resources.get("MemoryBytes") or 0
        for task in tasks:
            state = str((task.get("Status") or {}).get("State", "")).lower()
            if task.get("NodeID") == node.get("ID") and state in _HOLDING:
                task_cpu, task_mem = reservations_of(task)
                cpu, mem = cpu - task_cpu, mem - task_mem
        rooms.append(NodeRoom(node.get("ID", ""), max(0.0, cpu), max(0, mem)))
    return rooms


def _cpus(value: float) -> str:
    return format_cpu(value) or "0"  # format_cpu(0) is ''


def is_resource_shortage(swarm_reason: str) -> bool:
    return bool(re.search(r"insufficient resources", swarm_reason, re.IGNORECASE))


def fits_on_some_node(cpu_needed: float, mem_needed: int, rooms: list[NodeRoom]) -> bool:
    """Whether one node has both the CPU and the memory free (CPUs compared to a nano-CPU, Swarm's unit)."""
    return any(r.cpu + 1 / NANO >= cpu_needed and r.mem >= mem_needed for r in rooms)


def no_room_reason(rooms: list[NodeRoom]) -> str:
    """Our words for a server refused before Swarm was asked, in the shape of Swarm's own."""
    count = len(rooms)
    return f"no node has room for it now (insufficient resources on {count} node{'' if count == 1 else 's'})"


def missing_resources(cpu_needed: float, mem_needed: int, rooms: list[NodeRoom]) -> str:
    """One sentence: what the server reserves, the most any node has free, and which of the two is short."""
    if not rooms:
        return "No node can take servers now."
    most_cpu = max(r.cpu for r in rooms)
    most_mem = max(r.mem for r in rooms)
    short = []
    if cpu_needed > 0 and not any(r.cpu >= cpu_needed for r in rooms):
        short.append("CPU")
    if mem_needed > 0 and not any(r.mem >= mem_needed for r in rooms):
        short.append("memory")
    if not short:  # each fits somewhere, but on no one node together
        short.append("CPU and memory on one node")
    return (f"It reserves {_cpus(cpu_needed)} CPUs and {format_memory(mem_needed)}; the most free on any node"
            f" is {_cpus(most_cpu)} CPUs and {format_memory(most_mem)}: not enough {' or '.join(short)}.")
