"""`mlops-hub status`'s tables, from what mlops_hub.deploy.swarmread observed: pure, unit-tested.

Services with their health and restarts, the swarm's nodes, the running user servers (from their
labels) and each role's pool use; the role limits, when the hub's quota API answered, beside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..policy.units import format_cpu, format_memory
from .health import ServiceState
from .swarmread import NodeView, ServerView


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart, as `docker service ls` prints them."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows])
    return "\n".join(lines)


def age(created: dt.datetime | None, now: dt.datetime) -> str:
    """`45s`, `12m`, `3h05m`, `2d04h`."""
    if created is None:
        return "?"
    seconds = max(int((now - created).total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def services_table(states: Sequence[ServiceState]) -> str:
    if not states:
        return "no services (is the stack deployed? mlops-hub up)"
    return table(("SERVICE", "STATE", "RESTARTS", "DETAIL"),
                 [(s.name, s.state.value, str(s.restarts), s.detail) for s in states])


def _role(node: NodeView) -> str:
    return f"{node.role} (leader)" if node.leader else node.role


def _free(value, fmt) -> str:
    return "-" if value is None else fmt(max(value, 0)) or "0"


def nodes_table(nodes: Sequence[NodeView]) -> str:
    """One row per node: role (the leader marked), availability, state, CPUs and memory (total and free: less what
    the tasks running there reserve, `-` when not read) and labels (key=value)."""
    if not nodes:
        return "no nodes (is this a swarm manager?)"
    return table(("NODE", "ROLE", "AVAILABILITY", "STATE", "CPUS", "CPUS FREE", "MEMORY", "MEMORY FREE", "LABELS"),
                 [(n.hostname, _role(n), n.availability, n.state, format_cpu(n.cpus), _free(n.free_cpus, format_cpu),
                   format_memory(n.memory), _free(n.free_memory, format_memory),
                   ",".join(f"{k}={v}" for k, v in n.labels) or "-")
                  for n in nodes])


def servers_table(servers: Sequence[ServerView], now: dt.datetime) -> str:
    running = [s for s in servers if s.running]
    if not running:
        return "no user servers running"
    return table(("USER", "SERVER", "ROLE", "ENVIRONMENT", "CPUS", "MEMORY", "AGE", "SERVICE"),
                 [(s.labels.user, s.labels.server or "(default)", s.labels.role or "-", s.labels.environment or "-",
                   "-" if s.labels.cpu is None else format_cpu(s.labels.cpu),
                   "-" if s.labels.mem is None else format_memory(s.labels.mem), age(s.created, now), s.service)
                  for s in running])


@dataclass(frozen=True)
class PoolUse:
    role: str
    servers: int = 0
    cpu: float = 0.0
    mem: int = 0


def pool_use(servers: Sequence[ServerView]) -> dict[str, PoolUse]:
    """What the running servers hold per role (the labels the spawner wrote when it sized them)."""
    use: dict[str, PoolUse] = {}
    for s in servers:
        if not s.running or not s.labels.role:
            continue
        u = use.get(s.labels.role, PoolUse(s.labels.role))
        use[s.labels.role] = PoolUse(u.role, u.servers + 1, u.cpu + (s.labels.cpu or 0), u.mem + (s.labels.mem or 0))
    return use


def _of(used: str, limit) -> str:
    return used if limit is None else f"{used} of {limit}"


def pools_table(use: Mapping[str, PoolUse], limits: Mapping[str, Mapping] | None, why_no_limits: str = "") -> str:
    """Per role: servers, CPUs and memory in use, `of` the role's pool when it has one.

    `limits`: role -> its quota document (the hub's live quotas); None when they could not be read."""
    roles = sorted(set(use) | set(limits or {}))
    no_limits = f"\nlimits: see the quota page, /hub/mlops/quotas{f' ({why_no_limits})' if why_no_limits else ''}"
    if not roles:
        return "no role has a server running" + (no_limits if limits is None else "")
    rows = []
    for role in roles:
        u, doc = use.get(role, PoolUse(role)), (limits or {}).get(role) or {}
        pool_mem = doc.get("pool_mem")
        rows.append((role, _of(str(u.servers), doc.get("pool_servers")),
                     _of(format_cpu(u.cpu), None if doc.get("pool_cpu") is None else format_cpu(doc["pool_cpu"])),
                     _of(format_memory(u.mem) if u.mem else "0", None if pool_mem is None else format_memory(pool_mem)),
                     "-" if not doc else str(doc.get("max_servers", "-"))))
    text = table(("ROLE", "SERVERS", "CPUS", "MEMORY", "PER USER"), rows)
    if limits is None:
        text += no_limits
    else:
        text += "\n(`of`: the role's pool; no `of`: the role has no pool; PER USER: max_servers)"
    return text
