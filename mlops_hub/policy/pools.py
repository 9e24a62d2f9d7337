"""Team pools: the total CPU, memory and servers all running servers of one role may use.

Pure arithmetic and refusal messages; the hub keeps the usage and the lock (mlops_hub.quotas).
A pool dimension that is None is unlimited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import PolicyRefusal
from .units import format_cpu, format_memory


@dataclass(frozen=True)
class TeamPool:
    role: str
    cpu: float | None = None
    mem: int | None = None
    servers: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.cpu is None and self.mem is None and self.servers is None


@dataclass(frozen=True)
class Usage:
    """What running (and starting) servers of one role hold."""

    cpu: float = 0.0
    mem: int = 0
    servers: int = 0

    def plus(self, cpu: float, mem: int, servers: int = 1) -> Usage:
        return Usage(round(self.cpu + cpu, 3), self.mem + mem, self.servers + servers)


@dataclass(frozen=True)
class Charge:
    """One server's claim on its role's pool."""

    user: str
    server: str
    role: str
    cpu: float
    mem: int
    environment: str = ""


def usage_by_role(charges: Iterable[Charge]) -> dict[str, Usage]:
    totals: dict[str, Usage] = {}
    for c in charges:
        totals[c.role] = totals.get(c.role, Usage()).plus(c.cpu, c.mem)
    return totals


class PoolRefusal(PolicyRefusal):
    """The team pool has no room for this server (HTTP 403); names the limit and the numbers."""

    def __init__(self, message: str, dimension: str, used, limit, asked) -> None:
        super().__init__(message)
        self.dimension = dimension
        self.used = used
        self.limit = limit
        self.asked = asked


def check_pool(
    pool: TeamPool, usage: Usage, cpu: float, mem: int, admin_contact: str = "your platform administrators"
) -> None:
    """Raise PoolRefusal when one more server of this size would not fit the pool."""
    after = "Try again when one of the team's servers stops, or ask " + admin_contact + " for a larger pool."
    team = f"Team {pool.role}"
    if pool.servers is not None and usage.servers + 1 > pool.servers:
        raise PoolRefusal(
            f"{team} runs {usage.servers} of {pool.servers} servers; you asked for 1 more. {after}",
            "servers", usage.servers, pool.servers, 1,
        )
    if pool.cpu is not None and usage.cpu + cpu > pool.cpu + 1e-9:
        raise PoolRefusal(
            f"{team} uses {format_cpu(usage.cpu)} of {format_cpu(pool.cpu)} CPUs;"
            f" you asked for {format_cpu(cpu)}. {after}",
            "cpu", usage.cpu, pool.cpu, cpu,
        )
    if pool.mem is not None and usage.mem + mem > pool.mem:
        raise PoolRefusal(
            f"{team} uses {format_memory(usage.mem)} of {format_memory(pool.mem)} memory;"
            f" you asked for {format_memory(mem)}. {after}",
            "mem", usage.mem, pool.mem, mem,
        )


@dataclass(frozen=True)
class Headroom:
    role: str
    cpu: float | None
    mem: int | None
    servers: int | None

    def describe(self) -> str:
        parts = []
        if self.servers is not None:
            parts.append(f"{self.servers} server(s)")
        if self.cpu is not None:
            parts.append(f"{format_cpu(self.cpu)} CPUs")
        if self.mem is not None:
            parts.append(f"{format_memory(self.mem)} memory")
        return ", ".join(parts) + " free" if parts else "no team limit"


def headroom(pool: TeamPool, usage: Usage) -> Headroom:
    def left(limit, used):
        return None if limit is None else max(limit - used, 0)

    cpu = left(pool.cpu, usage.cpu)
    return Headroom(pool.role, None if cpu is None else round(cpu, 3), left(pool.mem, usage.mem),
                    left(pool.servers, usage.servers))
