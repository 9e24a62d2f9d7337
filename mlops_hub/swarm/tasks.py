"""Read Swarm task states and wait for a user server's task to run, or fail fast with the reason."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from docker.errors import NotFound

from ..policy.units import format_memory
from .placement import is_unschedulable


class Phase(Enum):
    WAITING = "waiting for the scheduler"
    SCHEDULED = "task scheduled on a node"
    STARTING = "container starting"
    RUNNING = "container running"
    UNSCHEDULABLE = "cannot be scheduled"
    FAILED = "failed"


_ENDED = {"complete", "shutdown", "failed", "rejected", "orphaned", "remove"}
_STARTING = {"preparing", "ready", "starting"}
_SCHEDULED = {"assigned", "accepted"}


class ServerStartFailed(Exception):
    """The server's task cannot run; the message is Swarm's reason, written for the user."""


class ServerUnschedulable(ServerStartFailed):
    """No node can take the server's task; `reason` is Swarm's words, `with_detail` adds what is missing and the
    advice that fits it (by default: smaller, or later)."""

    ADVICE = "Ask for fewer CPUs or less memory, or try again when others stop."

    def __init__(self, reason: str, detail: str = "", advice: str | None = None) -> None:
        self.reason = reason
        super().__init__(
            f"Docker Swarm cannot place your server: {reason}. {detail + ' ' if detail else ''}"
            f"{advice or self.ADVICE}"
        )

    def with_detail(self, detail: str, advice: str | None = None) -> ServerUnschedulable:
        return ServerUnschedulable(self.reason, detail, advice)


@dataclass(frozen=True)
class TaskView:
    state: str
    phase: Phase
    reason: str
    node_id: str = ""
    container_id: str = ""
    # network name -> this task's IP on it; unique to the task, unlike the service's DNS name
    addresses: tuple[tuple[str, str], ...] = ()

    def address_on(self, network: str) -> str | None:
        return dict(self.addresses).get(network)


def classify_task(task: dict) -> TaskView:
    status = task.get("Status") or {}
    state = str(status.get("State", "new")).lower()
    err = status.get("Err") or ""
    message = status.get("Message") or ""
    reason = err or message
    container = (status.get("ContainerStatus") or {}).get("ContainerID", "")
    if state == "running":
        phase = Phase.RUNNING
    elif state in _ENDED:
        phase = Phase.FAILED
        exit_code = (status.get("ContainerStatus") or {}).get("ExitCode")
        if exit_code not in (None, 0) and "exit" not in reason:
            reason = f"{reason} (exit code {exit_code})".strip()
        reason = reason or f"task {state}"
    elif state == "pending" and is_unschedulable(err):
        phase = Phase.UNSCHEDULABLE
    elif state in _STARTING:
        phase = Phase.STARTING
    elif state in _SCHEDULED:
        phase = Phase.SCHEDULED
    else:
        phase = Phase.WAITING
    return TaskView(state, phase, reason, task.get("NodeID", ""), container, _addresses(task))


def _addresses(task: dict) -> tuple[tuple[str, str], ...]:
    found = []
    for attachment in task.get("NetworksAttachments") or []:
        name = ((attachment.get("Network") or {}).get("Spec") or {}).get("Name", "")
        for cidr in attachment.get("Addresses") or []:
            found.append((name, cidr.split("/")[0]))
    return tuple(found)


def newest_task(tasks: list[dict]) -> dict | None:
    if not tasks:
        return None
    return max(tasks, key=lambda t: (t.get("Version", {}).get("Index", 0), t.get("CreatedAt", "")))


async def wait_for_task_running(
    list_tasks: Callable[[], Awaitable[list[dict]]],
    on_phase: Callable[[TaskView], None],
    unschedulable_grace: float = 3.0,
    poll_interval: float | Callable[[], float] = 0.05,
) -> TaskView:
    """Poll the service's tasks until one runs; raise ServerStartFailed with Swarm's reason.

    An unschedulable task gets `unschedulable_grace` seconds (resources may be freeing up).
    `poll_interval` is seconds, or a function asked before each wait (it grows with the spawns in flight).
    """
    interval = poll_interval if callable(poll_interval) else (lambda: poll_interval)
    last_phase = None
    unschedulable_since = None
    while True:
        task = newest_task(await list_tasks())
        view = classify_task(task) if task else TaskView("new", Phase.WAITING, "")
        if view.phase != last_phase:
            on_phase(view)
            last_phase = view.phase
        if view.phase is Phase.RUNNING:
            return view
        if view.phase is Phase.FAILED:
            raise ServerStartFailed(f"Your server's container {view.state}: {view.reason}")
        if view.phase is Phase.UNSCHEDULABLE:
            unschedulable_since = unschedulable_since or time.monotonic()
            if time.monotonic() - unschedulable_since >= unschedulable_grace:
                raise ServerUnschedulable(view.reason)
        else:
            unschedulable_since = None
        await asyncio.sleep(interval())


# ---- why a task ended: out of memory or not --------------------------------------------

# 128 + SIGKILL: how a container ends when the kernel's OOM killer (or anyone) kills its process
EXIT_KILLED = 137


class MemoryVerdict(Enum):
    OUT_OF_MEMORY = "out of memory"
    NOT_OUT_OF_MEMORY = "not out of memory"
    # killed (137), but the container is gone, so OOM cannot be told from another SIGKILL
    UNKNOWN = "killed; cannot tell whether it ran out of memory"


@dataclass(frozen=True)
class TaskEnd:
    """How a task's container ended, as far as Swarm and the container's own record tell."""

    verdict: MemoryVerdict
    exit_code: int | None
    mem_limit: int | None
    container_id: str


def task_exit_code(task: dict) -> int | None:
    return ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ExitCode")


def task_mem_limit(task: dict) -> int | None:
    """The memory limit the task ran with (its own spec: right after a hub restart too)."""
    limits = (((task.get("Spec") or {}).get("Resources") or {}).get("Limits") or {})
    return limits.get("MemoryBytes") or None


def memory_verdict(task: dict, container: dict | None) -> TaskEnd:
    """Out of memory = exit code 137 AND the container's State.OOMKilled.

    Swarm's task status alone cannot tell the OOM killer from any other SIGKILL, and Docker
    marks OOMKilled after an OOM kill of *any* process in the container (a kernel, say) even
    when the server itself lived on and exited otherwise - so both are needed.
    `container` is `docker inspect` of the task's container, or None when it is gone.
    """
    exit_code = task_exit_code(task)
    container_id = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID", "")
    if exit_code != EXIT_KILLED:
        verdict = MemoryVerdict.NOT_OUT_OF_MEMORY
    elif container is None:
        verdict = MemoryVerdict.UNKNOWN
    elif (container.get("State") or {}).get("OOMKilled"):
        verdict = MemoryVerdict.OUT_OF_MEMORY
    else:
        verdict = MemoryVerdict.NOT_OUT_OF_MEMORY
    return TaskEnd(verdict, exit_code, task_mem_limit(task), container_id)


def suggested_memory(mem_limit: int, min_mem: int) -> int:
    """What to ask for after an OOM kill: the environment's minimum, or twice a limit already at it."""
    return min_mem if mem_limit < min_mem else 2 * mem_limit


def out_of_memory_message(mem_limit: int, min_mem: int) -> str:
    """What the user reads when their server was OOM-killed."""
    return (f"Your server ran out of memory at {format_memory(mem_limit)};"
            f" choose at least {format_memory(suggested_memory(mem_limit, min_mem))}.")


def unknown_kill_message(mem_limit: int | None) -> str:
    """A server killed (137) whose container is gone: say what is and is not known."""
    limit = f" (its memory limit was {format_memory(mem_limit)})" if mem_limit else ""
    return (f"Your server was killed (exit code {EXIT_KILLED}){limit}; its container is gone, so"
            " whether it ran out of memory cannot be told.")


async def container_state(inspect_container: Callable[[str], Awaitable[dict]], task: dict) -> dict | None:
    """`docker inspect` of the task's container; None when it is gone (removed, or on another node)."""
    container_id = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
    if not container_id:
        return None
    try:
        return await inspect_container(container_id)
    except NotFound:
        return None


async def task_end(inspect_container: Callable[[str], Awaitable[dict]], task: dict) -> TaskEnd:
    """The verdict for an ended task, fetching its container's state only when it matters (137)."""
    if task_exit_code(task) != EXIT_KILLED:
        return memory_verdict(task, None)
    return memory_verdict(task, await container_state(inspect_container, task))
