"""The platform's own metrics in the hub process, beside JupyterHub's on /hub/metrics.

JupyterHub serves prometheus_client's default registry at /hub/metrics (to a token with
`read:metrics`), so what is registered here is scraped with it. Labels come from a fixed set of
values (outcome, failure reason) or from the platform's own configuration (role, environment):
never from what a user types, so no user can grow the number of series.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from tornado import web

from .policy.pools import TeamPool, Usage

SUCCESS, FAILURE, REFUSED = "success", "failure", "refused"
# why a start failed: bounded, so the label never grows with messages
REASONS = ("quota", "invalid", "out_of_memory", "start_failed", "timeout", "cancelled", "error")
POOL_RESOURCES = ("cpu", "mem", "servers")
OOM_PHRASE = "ran out of memory"  # mlops_hub.swarm.tasks.out_of_memory_message says it


def failure_reason(error: BaseException) -> str:
    """One of REASONS for the exception a spawn ended with."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(error, web.HTTPError):
        if error.status_code == 403:
            return "quota"
        if error.status_code == 400:
            return "invalid"
        if OOM_PHRASE in (error.log_message or ""):
            return "out_of_memory"
        return "start_failed"
    return "error"


def spawn_outcome(error: BaseException | None) -> tuple[str, str]:
    """(outcome, reason) of a spawn; a refusal (403: the team pool or the role) is not a failure."""
    if error is None:
        return SUCCESS, ""
    reason = failure_reason(error)
    return (REFUSED if reason == "quota" else FAILURE), reason


class SpawnMetrics:
    """Counters of server starts and pool refusals, in one registry (the default: /hub/metrics)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.spawns = Counter("mlops_spawns", "Server starts by outcome (success, failure, refused),"
                              " environment, role and failure reason",
                              ["outcome", "environment", "role", "reason"], registry=registry)
        self.refusals = Counter("mlops_quota_refusals", "Server starts and job runs refused by a team pool,"
                                " by role, what ran out (cpu, mem, servers) and kind (server, job, model)",
                                ["role", "resource", "kind"], registry=registry)

    def spawn_ended(self, environment: str, role: str, error: BaseException | None) -> None:
        outcome, reason = spawn_outcome(error)
        self.spawns.labels(outcome=outcome, environment=environment, role=role, reason=reason).inc()

    def refused(self, role: str, resource: str | None, kind: str = "server") -> None:
        # a role refusal (not a pool's) names no resource
        self.refusals.labels(role=role, resource=resource if resource in POOL_RESOURCES else "role",
                             kind=kind).inc()


def pool_series(pools: Iterable[TeamPool], usage: Mapping[str, Usage]) -> tuple[list, list]:
    """([(role, resource, used)], [(role, resource, limit)]) for every role with a team pool; memory
    in bytes, CPU in cores. Used is 0 for a role with nothing running."""
    used, limits = [], []
    for pool in sorted(pools, key=lambda p: p.role):
        if pool.unlimited:
            continue
        now = usage.get(pool.role, Usage())
        for resource, limit, value in (("cpu", pool.cpu, now.cpu), ("mem", pool.mem, now.mem),
                                       ("servers", pool.servers, now.servers)):
            if limit is not None:
                used.append((pool.role, resource, float(value)))
                limits.append((pool.role, resource, float(limit)))
    return used, limits


class PoolCollector:
    """mlops_pool_used and mlops_pool_limit, read at each scrape: the usage the hub keeps for admission,
    and the pools of the roles as last read for a spawn (the quota store's, or the configured ones)."""

    def __init__(self, usage: Callable[[], Mapping[str, Usage]]) -> None:
        self._usage = usage
        self._pools: dict[str, TeamPool] = {}

    def observe_pools(self, pools: Iterable[TeamPool]) -> None:
        self._pools = {pool.role: pool for pool in pools}

    def collect(self):
        used, limits = pool_series(self._pools.values(), self._usage())
        used_family = GaugeMetricFamily("mlops_pool_used", "What running servers of a role hold of its team"
                                        " pool (cpu: cores, mem: bytes, servers)", labels=["role", "resource"])
        limit_family = GaugeMetricFamily("mlops_pool_limit", "A role's team pool (cpu: cores, mem: bytes,"
                                         " servers)", labels=["role", "resource"])
        for role, resource, value in used:
            used_family.add_metric([role, resource], value)
        for role, resource, value in limits:
            limit_family.add_metric([role, resource], value)
        yield used_family
        yield limit_family

    def describe(self):
        return []  # read at scrape time only: registering does not call collect()


def _hub_usage() -> Mapping[str, Usage]:
    from .quotas.service import quota_service

    return quota_service().usage()


spawn_metrics = SpawnMetrics()
pool_metrics = PoolCollector(_hub_usage)
REGISTRY.register(pool_metrics)
