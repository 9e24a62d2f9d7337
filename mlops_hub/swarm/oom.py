"""Out-of-memory reports for a user server: the failed spawn's message and the hub's log line.

Given the spawner's `docker(method, ...)` call, the server's service name and its environment's
minimum, it reads how the task ended (`tasks.memory_verdict`) and says what to tell.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..policy.units import format_memory
from .tasks import (
    EXIT_KILLED,
    MemoryVerdict,
    TaskEnd,
    newest_task,
    out_of_memory_message,
    task_end,
    unknown_kill_message,
)

DockerCall = Callable[..., Awaitable]


async def newest_task_end(docker: DockerCall, service_name: str) -> TaskEnd | None:
    """How the service's newest task ended (None when it has no task)."""
    task = newest_task(await docker("tasks", filters={"service": service_name}))
    if task is None:
        return None
    return await task_end(lambda container_id: docker("inspect_container", container_id), task)


def start_failure_message(end: TaskEnd | None, swarm_message: str, min_mem: int) -> str | None:
    """The user's message for a start that failed for memory; None when memory is not the cause."""
    if end is None or end.verdict is MemoryVerdict.NOT_OUT_OF_MEMORY:
        return None
    if end.verdict is MemoryVerdict.OUT_OF_MEMORY and end.mem_limit:
        return out_of_memory_message(end.mem_limit, min_mem)
    return f"{swarm_message}\n{unknown_kill_message(end.mem_limit)}"


def poll_log_line(end: TaskEnd | None, user: str, min_mem: int) -> str | None:
    """The hub's log line for a server that stopped running; None when memory is not the cause."""
    if end is None or end.verdict is MemoryVerdict.NOT_OUT_OF_MEMORY:
        return None
    limit = format_memory(end.mem_limit) if end.mem_limit else "no limit"
    if end.verdict is MemoryVerdict.OUT_OF_MEMORY:
        return (f"server of user {user} ran out of memory (OOM-killed) at {limit};"
                f" the environment's minimum is {format_memory(min_mem)}")
    return (f"server of user {user} was killed (exit code {EXIT_KILLED}) at a limit of {limit};"
            " its container is gone, so whether it ran out of memory cannot be told")
