"""How the stack's services are doing, from what Swarm reports: pure, unit-tested without Docker.

`assess` turns one service's observed tasks into a ServiceState (starting, healthy, unhealthy,
restarting N times, failed with Swarm's message); `verdict` decides whether `up` is done, has
failed, or waits. mlops_hub.deploy.swarmread gathers the observations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from ..swarm.placement import is_unschedulable

# a service without a healthcheck counts as up once its task has run this long without a restart
SETTLE_SECONDS = 5.0
# this many ended tasks with none healthy now: the service keeps restarting, `up` stops waiting for it
RESTART_LIMIT = 3
# Swarm's task states of a task that has ended; `shutdown` is a task an update or scale-down replaced
_ENDED_BADLY = {"failed", "rejected", "complete", "orphaned"}
_GIVEN_UP = {"shutdown", "remove", "complete"}  # desired states of a task Swarm will not run again
_UPDATE_FAILED = {"paused", "rollback_started", "rollback_paused", "rollback_completed"}


class State(Enum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    RESTARTING = "restarting"
    FAILED = "failed"


@dataclass(frozen=True)
class TaskObs:
    """One Swarm task of a service, as `docker inspect` of the task (and its container) says."""

    state: str  # Swarm's current state: running, starting, failed, ...
    desired: str = "running"  # running, or shutdown for a task Swarm gave up on or replaced
    message: str = ""  # Swarm's Err, else its Message
    exit_code: int | None = None
    health: str | None = None  # the container's State.Health.Status when it could be inspected
    running_for: float = 0.0  # seconds since the task's last state change (while running: its uptime)
    outdated: bool = False  # runs an earlier spec of the service: an update has yet to replace it


@dataclass(frozen=True)
class ServiceObs:
    name: str  # the stack's short name: hub, edge, db, ...
    replicas: int | None = 1  # None: global mode (one task per node)
    has_healthcheck: bool = False
    tasks: Sequence[TaskObs] = field(default_factory=tuple)
    update: str = ""  # Swarm's UpdateStatus.State: updating, paused, rollback_completed, ...
    update_message: str = ""
    restart_condition: str = "any"  # the restart policy: any, on-failure, none
    max_attempts: int = 0  # 0: Swarm restarts without a limit

    def swarm_gave_up(self, restarts: int) -> bool:
        """Swarm will start no new task (between an ended task and its replacement there is none either)."""
        return self.restart_condition == "none" or 0 < self.max_attempts <= restarts


@dataclass(frozen=True)
class ServiceState:
    name: str
    state: State
    restarts: int = 0
    detail: str = ""  # why: Swarm's message, the health, what it waits for

    @property
    def summary(self) -> str:
        """`healthy`, `starting (health: starting)`, `restarting (3 restarts): exit code 1`, ..."""
        text = self.state.value
        if self.restarts:
            text += f" ({self.restarts} restart{'s' if self.restarts != 1 else ''})"
        return f"{text}: {self.detail}" if self.detail else text


def _ended_reason(task: TaskObs) -> str:
    reason = task.message or f"task {task.state}"
    if task.exit_code not in (None, 0) and "exit" not in reason:
        reason = f"{reason} (exit code {task.exit_code})"
    return reason


def _task_healthy(task: TaskObs, has_healthcheck: bool, settle: float) -> bool:
    if task.state != "running":
        return False
    if has_healthcheck:
        # Swarm reports a task with a healthcheck as running only once healthy; the container says so first hand
        return task.health in (None, "healthy")
    return task.running_for >= settle


def assess(service: ServiceObs, settle: float = SETTLE_SECONDS, restart_limit: int = RESTART_LIMIT) -> ServiceState:
    """The service's state from its tasks (the current ones and Swarm's history of ended ones)."""
    ended = [t for t in service.tasks if t.state in _ENDED_BADLY and not t.outdated]
    current = [t for t in service.tasks if t.desired not in _GIVEN_UP and t.state not in _ENDED_BADLY]
    restarts = len(ended)
    if service.update in _UPDATE_FAILED:  # Swarm gave up on this deploy's update (and may have rolled back)
        return ServiceState(service.name, State.FAILED, restarts,
                            f"update {service.update.replace('_', ' ')}: {service.update_message}".rstrip(": "))
    outdated = [t for t in current if t.outdated]
    current = [t for t in current if not t.outdated]
    wanted = len(current) if service.replicas is None else service.replicas
    if service.replicas == 0:
        return ServiceState(service.name, State.HEALTHY, restarts, "scaled to 0")
    healthy = [t for t in current if _task_healthy(t, service.has_healthcheck, settle)]
    if healthy and len(healthy) >= wanted:
        return ServiceState(service.name, State.HEALTHY, restarts)
    last_error = _ended_reason(ended[-1]) if ended else ""
    unschedulable = next((t.message for t in current if t.state == "pending"
                          and is_unschedulable(t.message)), "")
    if unschedulable:
        return ServiceState(service.name, State.STARTING, restarts, f"cannot be scheduled: {unschedulable}")
    if not current and ended and service.swarm_gave_up(restarts):
        return ServiceState(service.name, State.FAILED, restarts, last_error)
    if restarts >= restart_limit:
        return ServiceState(service.name, State.RESTARTING, restarts, last_error)
    if any(t.health == "unhealthy" for t in current):
        return ServiceState(service.name, State.UNHEALTHY, restarts, "health check failing")
    if outdated and not current:
        return ServiceState(service.name, State.STARTING, restarts, "updating: the earlier version still runs")
    return ServiceState(service.name, State.STARTING, restarts, _waiting_for(current, service, settle, last_error))


def _waiting_for(current: Sequence[TaskObs], service: ServiceObs, settle: float, last_error: str) -> str:
    running = [t for t in current if t.state == "running"]
    checked = [t for t in current if t.health]
    if checked:  # Swarm says `starting` until the container's first healthy check
        return f"health: {checked[0].health}"
    if running and service.has_healthcheck:
        return "health: starting"
    if running:
        return f"running, counted after {settle:.0f}s without a restart"
    state = current[0].state if current else ("restarting" if last_error else "no task yet")
    return f"{state}; last: {last_error}" if last_error else state


@dataclass(frozen=True)
class Verdict:
    done: bool  # every service healthy
    failed: tuple[ServiceState, ...]  # keep restarting or failed for good: `up` stops
    waiting: tuple[ServiceState, ...]  # not healthy yet

    @property
    def finished(self) -> bool:
        return self.done or bool(self.failed)


def verdict(states: Iterable[ServiceState]) -> Verdict:
    states = list(states)
    failed = tuple(s for s in states if s.state in (State.RESTARTING, State.FAILED))
    waiting = tuple(s for s in states if s.state is not State.HEALTHY)
    return Verdict(done=bool(states) and not waiting, failed=failed, waiting=waiting)


def changed(before: dict[str, str], states: Iterable[ServiceState]) -> list[ServiceState]:
    """The states whose summary differs from `before` (name -> summary), which it updates."""
    out = []
    for s in states:
        if before.get(s.name) != s.summary:
            before[s.name] = s.summary
            out.append(s)
    return out
