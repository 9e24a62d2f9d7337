"""`up`'s wait for every service of the stack to be healthy, with a live per-service display.

On a terminal one line per service is redrawn in place; otherwise (CI logs) a plain line is printed
each time a service's state changes. The states and the verdict come from mlops_hub.deploy.health.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from .health import ServiceObs, ServiceState, State, assess, changed, verdict
from .shell import DeployError

WAIT_SECONDS = 600.0  # the hub alone may take 150 s (its wait on PostgreSQL), images start slowly on 2 cores
LOG_LINES = 20
_MARK = {State.HEALTHY: "ok", State.STARTING: "..", State.UNHEALTHY: "!!", State.RESTARTING: "!!",
         State.FAILED: "XX"}


def service_line(state: ServiceState, width: int) -> str:
    return f"  {_MARK[state.state]} {state.name:<{width}}  {state.summary}"


def table_lines(states: Sequence[ServiceState], elapsed: float, budget: float) -> list[str]:
    width = max((len(s.name) for s in states), default=0)
    healthy = sum(s.state is State.HEALTHY for s in states)
    return [f"services: {healthy} of {len(states)} healthy ({elapsed:.0f}s of {budget:.0f}s)",
            *(service_line(s, width) for s in states)]


class LiveDisplay:
    """The table, redrawn in place on a terminal."""

    def __init__(self, out: TextIO):
        self.out, self.drawn = out, 0

    def show(self, states: Sequence[ServiceState], elapsed: float, budget: float) -> None:
        columns = shutil.get_terminal_size((100, 24)).columns
        lines = [line[: columns - 1] for line in table_lines(states, elapsed, budget)]
        up = f"\x1b[{self.drawn}F" if self.drawn else ""  # to the first line drawn last time
        self.out.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
        self.out.flush()
        self.drawn = len(lines)


class ChangeLines:
    """A line per change of a service's state, for logs that are not a terminal."""

    def __init__(self, out: TextIO):
        self.out, self.seen = out, {}

    def show(self, states: Sequence[ServiceState], elapsed: float, budget: float) -> None:
        for s in changed(self.seen, states):
            self.out.write(f"[mlops-hub] {elapsed:4.0f}s {s.name}: {s.summary}\n")
        self.out.flush()


def display_for(out: TextIO):
    return LiveDisplay(out) if out.isatty() else ChangeLines(out)


def failure_message(stack: str, failed: Sequence[ServiceState], logs: Callable[[str], str], why: str) -> str:
    """What `up` says when it stops: each service with its state, and its last log lines."""
    parts = [why]
    for s in failed:
        lines = logs(f"{stack}_{s.name}") or "(no log lines)"
        indented = "\n".join(f"    {line}" for line in lines.splitlines())
        parts.append(f"  {s.name}: {s.summary}\n  last log lines of {stack}_{s.name}:\n{indented}")
    parts.append(f"  (more: mlops-hub logs SERVICE --stack {stack}; docker service ps --no-trunc {stack}_SERVICE)")
    return "\n".join(parts)


def wait_for_services(stack: str, observe: Callable[[], list[ServiceObs]], logs: Callable[[str], str],
                      budget: float = WAIT_SECONDS, out: TextIO | None = None, poll: float = 2.0,
                      clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
                      ) -> list[ServiceState]:
    """Until every service is healthy; DeployError naming the services that keep restarting, or that
    are not healthy when the budget is spent, with their last log lines."""
    display = display_for(out or sys.stderr)
    start = clock()
    while True:
        states = [assess(o) for o in observe()]
        elapsed = clock() - start
        display.show(states, elapsed, budget)
        result = verdict(states)
        if result.done:
            return states
        if result.failed:
            names = ", ".join(s.name for s in result.failed)
            raise DeployError(failure_message(stack, result.failed, logs, f"stack {stack}: {names} keeps failing"
                                              " (Swarm restarts it, it does not become healthy):"))
        if elapsed >= budget:
            names = ", ".join(s.name for s in result.waiting) or "no service found"
            raise DeployError(failure_message(stack, result.waiting, logs,
                                              f"stack {stack}: not healthy after {budget:.0f}s: {names}"))
        sleep(poll)


def since_now() -> dt.datetime:
    """Tasks created from now on are this deploy's: older failures are not its restarts."""
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
