"""`mlops-hub logs SERVICE|USER`: which Swarm services a name means (pure), and showing their logs."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from .shell import DeployError
from .swarmread import service_logs


class UnknownName(DeployError):
    """The name is neither a service of the stack nor a user with a server (a user's mistake: exit 2)."""

    exit_code = 2


def log_targets(name: str, stack: str, services: Sequence[str], servers: Sequence[tuple[str, str]]) -> list[str]:
    """The Swarm services to show: the stack's service `name` (short: hub, edge, ...), else the servers of
    the user `name`. `services`: the stack's short names; `servers`: (user, Swarm service name)."""
    if name in services:
        return [f"{stack}_{name}"]
    mine = [service for user, service in servers if user == name]
    if mine:
        return sorted(mine)
    if not services:
        raise UnknownName(f"logs: stack {stack} has no services (is it deployed? mlops-hub status --stack {stack})")
    users = sorted({user for user, _ in servers})
    raise UnknownName(f"logs: {name!r} is neither a service of stack {stack} nor a user with a server;"
                      f" services: {', '.join(sorted(services))}"
                      + (f"; users with a server: {', '.join(users)}" if users else "; no user has a server"))


def show_logs(targets: Sequence[str], tail: int, follow: bool) -> int:
    """Each target's last lines (and, with follow, new ones: all targets at once, until Ctrl-C)."""
    procs = []
    for service in targets:
        if len(targets) > 1 and not follow:
            print(f"==> {service} <==", flush=True)
        proc = subprocess.Popen(service_logs(service, tail, follow))
        if not follow:
            proc.wait()
        procs.append(proc)
    try:
        return max(p.wait() for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
