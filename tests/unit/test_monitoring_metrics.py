"""The platform's metrics in the hub: outcomes and failure reasons from a fixed set, refusals by what ran
out, pool use and limits per role; and the hub's scrape identity (read:metrics only)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from tornado import web
from traitlets.config import Config

from mlops_hub.hub.monitoring import METRICS_SERVICE, configure_metrics
from mlops_hub.metrics import REASONS, PoolCollector, SpawnMetrics, failure_reason, pool_series, spawn_outcome
from mlops_hub.policy.pools import TeamPool, Usage


@pytest.mark.parametrize(("error", "outcome", "reason"), [
    (None, "success", ""),
    (web.HTTPError(403, "Team one-slot runs 1 of 1 servers"), "refused", "quota"),
    (web.HTTPError(400, "Invalid cpu_limit"), "failure", "invalid"),
    (web.HTTPError(500, "Your server ran out of memory at 256 MiB; choose at least 1 GiB."), "failure",
     "out_of_memory"),
    (web.HTTPError(500, "image not found"), "failure", "start_failed"),
    (asyncio.TimeoutError(), "failure", "timeout"),
    (asyncio.CancelledError(), "failure", "cancelled"),
    (RuntimeError("docker went away"), "failure", "error"),
])
def test_a_spawns_outcome_and_reason(error, outcome, reason):
    assert spawn_outcome(error) == (outcome, reason)
    assert reason == "" or reason in REASONS


def test_a_failure_message_never_becomes_a_label():
    # whatever the text, the reason is one of a few words: users cannot grow the number of series
    assert failure_reason(web.HTTPError(500, "x" * 500 + " {user=evil}")) == "start_failed"


def test_spawns_and_refusals_are_counted_with_role_and_environment():
    registry = CollectorRegistry()
    metrics = SpawnMetrics(registry)
    metrics.spawn_ended("python", "analysts", None)
    metrics.spawn_ended("python", "analysts", None)
    metrics.spawn_ended("python", "one-slot", web.HTTPError(403, "pool full"))
    metrics.refused("one-slot", "servers")
    metrics.refused("analysts", None, kind="job")
    value = registry.get_sample_value
    assert value("mlops_spawns_total", {"outcome": "success", "environment": "python", "role": "analysts",
                                        "reason": ""}) == 2
    assert value("mlops_spawns_total", {"outcome": "refused", "environment": "python", "role": "one-slot",
                                        "reason": "quota"}) == 1
    assert value("mlops_quota_refusals_total", {"role": "one-slot", "resource": "servers", "kind": "server"}) == 1
    # a refusal by the role itself (not a pool's) names no pool resource
    assert value("mlops_quota_refusals_total", {"role": "analysts", "resource": "role", "kind": "job"}) == 1


def test_pool_series_cover_the_limited_dimensions_of_pooled_roles_only():
    pools = [TeamPool("one-slot", cpu=1.0, mem=2**30, servers=1), TeamPool("analysts"),
             TeamPool("team", servers=3)]
    used, limits = pool_series(pools, {"one-slot": Usage(0.5, 2**29, 1)})
    assert used == [("one-slot", "cpu", 0.5), ("one-slot", "mem", 2.0**29), ("one-slot", "servers", 1.0),
                    ("team", "servers", 0.0)]
    assert limits == [("one-slot", "cpu", 1.0), ("one-slot", "mem", 2.0**30), ("one-slot", "servers", 1.0),
                      ("team", "servers", 3.0)]


def test_the_pool_collector_reads_usage_at_each_scrape():
    usage = {"team": Usage(0, 0, 0)}
    collector = PoolCollector(lambda: usage)
    registry = CollectorRegistry()
    registry.register(collector)
    assert registry.get_sample_value("mlops_pool_used", {"role": "team", "resource": "servers"}) is None
    collector.observe_pools([TeamPool("team", servers=2)])
    assert registry.get_sample_value("mlops_pool_limit", {"role": "team", "resource": "servers"}) == 2
    usage["team"] = Usage(1.0, 2**30, 2)
    assert registry.get_sample_value("mlops_pool_used", {"role": "team", "resource": "servers"}) == 2
    assert b"# TYPE mlops_pool_used gauge" in generate_latest(registry)


def test_the_hub_registers_its_metrics_where_jupyterhub_serves_them():
    from prometheus_client import REGISTRY

    import mlops_hub.metrics  # noqa: F401 - registering is importing

    names = {m.name for m in REGISTRY.collect()}
    assert {"mlops_spawns", "mlops_quota_refusals", "mlops_pool_used", "mlops_pool_limit"} <= names


def test_the_scrape_identity_may_read_metrics_and_nothing_else():
    c = Config()
    c.JupyterHub.services = [{"name": "mlops-cli", "api_token": "cli"}]
    c.JupyterHub.load_roles = [{"name": "admin", "services": ["mlops-cli"]}]
    configure_metrics(c, "t" * 64)
    assert c.JupyterHub.services[-1] == {"name": METRICS_SERVICE, "api_token": "t" * 64}
    role = c.JupyterHub.load_roles[-1]
    assert role["scopes"] == ["read:metrics"] and role["services"] == [METRICS_SERVICE]
    assert c.JupyterHub.load_roles[0] == {"name": "admin", "services": ["mlops-cli"]}
    assert c.JupyterHub.authenticate_prometheus is True


def test_no_token_no_scrape_identity():
    c = Config()
    configure_metrics(c, None)
    assert "services" not in c.JupyterHub and "load_roles" not in c.JupyterHub
