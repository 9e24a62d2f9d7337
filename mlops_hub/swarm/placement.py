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


# Swarm's words for a task it cannot place on any node (a pending task's Err / Message)
_UNSCHEDULABLE_MARKERS = ("no suitable node", "insufficient resources", "constraints not satisfied")


def is_unschedulable(swarm_message: str) -> bool:
    return any(marker in swarm_message.lower() for marker in _UNSCHEDULABLE_MARKERS)


def is_resource_shortage(swarm_reason: str) -> bool:
    return bool(re.search(r"insufficient resources", swarm_reason, re.IGNORECASE))


def fits_on_some_node(cpu_needed: float, mem_needed: int, rooms: list[NodeRoom]) -> bool:
    """Whether one node has both the CPU and the memory free (CPUs compared to a nano-CPU, Swarm's unit)."""
    return any(r.cpu + 1 / NANO >= cpu_needed and r.mem >= mem_needed for r in rooms)


@dataclass
class Placing:
    """A server this hub let through to Swarm whose task may not hold its room yet."""

    cpu: float
    mem: int
    service_id: str = ""  # once its service exists: its tasks, when listed as holding room, already count


class PlacementsInFlight:
    """The servers between the room check and their task holding room on a node. In a spawn storm every check
    runs before Swarm has placed anyone, so without these each would see the same free room."""

    def __init__(self) -> None:
        self._placing: dict[tuple[str, str], Placing] = {}

    def add(self, key: tuple[str, str], cpu: float, mem: int) -> None:
        self._placing[key] = Placing(cpu, mem)

    def created(self, key: tuple[str, str], service_id: str) -> None:
        if key in self._placing:
            self._placing[key].service_id = service_id

    def discard(self, key: tuple[str, str]) -> None:
        self._placing.pop(key, None)

    def unplaced(self, holding: list[dict]) -> tuple[float, int]:
        """CPU and memory of those whose tasks are not among `holding` (the tasks read for the free room)."""
        placed = {t.get("ServiceID") for t in holding}
        waiting = [p for p in self._placing.values() if not p.service_id or p.service_id not in placed]
        return sum(p.cpu for p in waiting), sum(p.mem for p in waiting)


def surely_no_room(cpu_needed: float, mem_needed: int, rooms: list[NodeRoom], unplaced: tuple[float, int]) -> bool:
    """True only when Swarm cannot place the server: no node has its room now, or all the nodes' free room less
    what the servers on their way there will take is smaller than it. (Node constraints are not applied, so a
    False is no promise: Swarm still judges.)"""
    if not fits_on_some_node(cpu_needed, mem_needed, rooms):
        return True
    cpu_left = sum(r.cpu for r in rooms) - unplaced[0]
    mem_left = sum(r.mem for r in rooms) - unplaced[1]
    return cpu_left + 1 / NANO < cpu_needed or mem_left < mem_needed


def no_room_reason(rooms: list[NodeRoom]) -> str:
    """Our words for a server refused before Swarm was asked, in the shape of Swarm's own."""
    count = len(rooms)
    return f"no node has room for it now (insufficient resources on {count} node{'' if count == 1 else 's'})"


def no_room_detail(cpu_needed: float, mem_needed: int, rooms: list[NodeRoom], unplaced: tuple[float, int]) -> str:
    """What is short: against the most free on any node, or, when that would fit, against what the servers
    starting now will take of it."""
    if not fits_on_some_node(cpu_needed, mem_needed, rooms):
        return missing_resources(cpu_needed, mem_needed, rooms)
    cpu_free, mem_free = sum(r.cpu for r in rooms), sum(r.mem for r in rooms)
    left = (("CPU", cpu_free - unplaced[0] + 1 / NANO, cpu_needed), ("memory", mem_free - unplaced[1], mem_needed))
    short = [what for what, has, needs in left if has < needs] or ["CPU and memory"]
    return (f"It reserves {_cpus(cpu_needed)} CPUs and {format_memory(mem_needed)}; the nodes have"
            f" {_cpus(cpu_free)} CPUs and {format_memory(mem_free)} free, and servers starting now take"
            f" {_cpus(unplaced[0])} CPUs and {format_memory(unplaced[1])} of it: not enough {' or '.join(short)}.")


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
