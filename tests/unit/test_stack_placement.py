"""swarm-stack.yml: which services may run where once a swarm has workers (docs/operations.md, "Which services run
where"). A service that drives the swarm (the docker socket), keeps its data on a local volume, or publishes the
platform's host-mode ports stays on a manager; the exporters run on every node; the rest may run anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

STACK = yaml.safe_load((Path(__file__).resolve().parents[2] / "swarm-stack.yml").read_text())
SERVICES = STACK["services"]
MANAGER = "node.role == manager"


def named_volumes(service: dict) -> list[str]:
    mounts = [v.split(":")[0] if isinstance(v, str) else v.get("source", "") for v in service.get("volumes") or []]
    return [m for m in mounts if m in (STACK.get("volumes") or {})]


def drives_docker(service: dict) -> bool:
    return any("/var/run/docker.sock" in str(v) for v in service.get("volumes") or [])


def publishes_host_ports(service: dict) -> bool:
    return any(isinstance(p, dict) and p.get("mode") == "host" for p in service.get("ports") or [])


def constraints(service: dict) -> list[str]:
    return ((service.get("deploy") or {}).get("placement") or {}).get("constraints") or []


def is_global(service: dict) -> bool:
    return (service.get("deploy") or {}).get("mode") == "global"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_service_with_node_bound_state_or_the_swarm_s_socket_stays_on_a_manager(name):
    service = SERVICES[name]
    if is_global(service):  # one task per node: reads that node only (the server exporter's socket is read-only)
        assert constraints(service) == [], name
        return
    bound = named_volumes(service) or drives_docker(service) or publishes_host_ports(service)
    assert (MANAGER in constraints(service)) == bool(bound), (name, named_volumes(service))


def test_the_split_is_the_one_docs_operations_md_describes():
    on_managers = sorted(n for n, s in SERVICES.items() if MANAGER in constraints(s))
    assert on_managers == ["airflow-api-server", "airflow-dag-processor", "airflow-scheduler", "airflow-triggerer",
                           "db", "edge", "hub", "mlflow", "prometheus", "pushgateway"]
    assert sorted(n for n, s in SERVICES.items() if is_global(s)) == ["node-exporter", "server-exporter"]
    assert sorted(n for n, s in SERVICES.items() if not constraints(s) and not is_global(s)) == ["proxy"]
