"""swarm-stack.yml: every platform service reserves what it needs and is limited, and updates and rolls
back one task at a time in the order that is safe for it (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlops_hub.policy.units import parse_cpu, parse_memory

STACK = yaml.safe_load((Path(__file__).resolve().parents[2] / "swarm-stack.yml").read_text())
SERVICES = STACK["services"]
# two copies at once would corrupt or split state, or cannot bind the same host port
STOP_FIRST = {"hub", "db", "airflow-api-server", "edge", "proxy", "prometheus"}
# the new version may migrate data the old one cannot read: an operator decides, no automatic rollback
NO_AUTOMATIC_ROLLBACK = {"db", "airflow-api-server", "mlflow"}


def resources(name: str) -> dict:
    return SERVICES[name]["deploy"]["resources"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_reserves_and_is_limited_in_cpu_and_memory(name):
    res = resources(name)
    for kind in ("reservations", "limits"):
        assert parse_cpu(res[kind]["cpus"]) > 0, (name, kind)
        assert parse_memory(res[kind]["memory"]) > 0, (name, kind)
    assert parse_cpu(res["reservations"]["cpus"]) <= parse_cpu(res["limits"]["cpus"]), name
    assert parse_memory(res["reservations"]["memory"]) <= parse_memory(res["limits"]["memory"]), name


def test_the_platform_leaves_most_of_a_two_core_node_to_user_servers():
    cpus = sum(parse_cpu(resources(name)["reservations"]["cpus"]) for name in SERVICES)
    memory = sum(parse_memory(resources(name)["reservations"]["memory"]) for name in SERVICES)
    assert cpus <= 1.0, cpus
    assert memory <= 4 * 1024**3, memory


def test_the_hub_reserves_the_most_cpu():
    hub = parse_cpu(resources("hub")["reservations"]["cpus"])
    assert all(parse_cpu(resources(name)["reservations"]["cpus"]) <= hub for name in SERVICES)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_updates_and_rolls_back_one_task_at_a_time_under_watch(name):
    deploy = SERVICES[name]["deploy"]
    update, rollback = deploy["update_config"], deploy["rollback_config"]
    assert update["parallelism"] == 1 and rollback["parallelism"] == 1, name
    assert update["monitor"] and rollback["monitor"], name
    assert update["max_failure_ratio"] == 0, name
    assert rollback["order"] == update["order"], name
    assert rollback["failure_action"] == "pause", name  # a failed rollback waits for the operator


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_two_copies_never_run_where_that_is_unsafe(name):
    expected = "stop-first" if name in STOP_FIRST else "start-first"
    assert SERVICES[name]["deploy"]["update_config"]["order"] == expected


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_failed_updates_roll_back_only_where_the_old_version_still_works(name):
    expected = "pause" if name in NO_AUTOMATIC_ROLLBACK else "rollback"
    assert SERVICES[name]["deploy"]["update_config"]["failure_action"] == expected
