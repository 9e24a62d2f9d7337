"""A proposed role document against the servers running now: who would no longer fit (the dry run)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .pools import Charge, Usage, usage_by_role
from .roles import RolePolicy
from .units import format_cpu, format_memory


@dataclass(frozen=True)
class Excess:
    """A running server, or a whole pool, that a proposed policy would no longer allow."""

    user: str
    server: str
    reasons: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"user": self.user, "server": self.server, "reasons": list(self.reasons)}


def servers_exceeding(
    charges: Iterable[Charge], policy: RolePolicy
) -> tuple[list[Excess], list[str]]:
    """Running servers of `policy.name` over the proposed limits, and pool dimensions over its pool."""
    mine = [c for c in charges if c.role == policy.name]
    found: list[Excess] = []
    per_user: dict[str, int] = {}
    for c in mine:
        per_user[c.user] = per_user.get(c.user, 0) + 1
    for c in mine:
        reasons = []
        if c.cpu > policy.max_cpu + 1e-9:
            reasons.append(f"cpu {format_cpu(c.cpu)} > max_cpu {format_cpu(policy.max_cpu)}")
        if c.mem > policy.max_mem:
            reasons.append(f"mem {format_memory(c.mem)} > max_mem {format_memory(policy.max_mem)}")
        if policy.environments is not None and c.environment and c.environment not in policy.environments:
            reasons.append(f"environment {c.environment!r} no longer allowed")
        if per_user[c.user] > policy.max_servers:
            reasons.append(f"user runs {per_user[c.user]} servers > max_servers {policy.max_servers}")
        if reasons:
            found.append(Excess(c.user, c.server, tuple(reasons)))
    pool = policy.pool
    total = usage_by_role(mine).get(policy.name, Usage())
    over = []
    if pool.servers is not None and total.servers > pool.servers:
        over.append(f"team runs {total.servers} servers > pool_servers {pool.servers}")
    if pool.cpu is not None and total.cpu > pool.cpu + 1e-9:
        over.append(f"team uses {format_cpu(total.cpu)} CPUs > pool_cpu {format_cpu(pool.cpu)}")
    if pool.mem is not None and total.mem > pool.mem:
        over.append(f"team uses {format_memory(total.mem)} > pool_mem {format_memory(pool.mem)}")
    return found, over
