"""Placement on the real swarm, without the stack: services made from the spec the spawner builds (ServerSpec,
build_service_kwargs) with the constraints platform.yaml's `node_labels` give. A label no node has keeps the task
pending with Swarm's "no suitable node", and the pure function names that label from the real nodes' data; once
this node has the label, the task runs.

The test adds labels of its own (`mlops-test-<random>`) to this node and removes them, and its services, at the end.
"""

from __future__ import annotations

import secrets
import subprocess
import time

import docker
import pytest

from mlops_hub.policy.placement import constraints, missing_labels, placeable_nodes_labels
from mlops_hub.policy.platform import check_spawner_settings
from mlops_hub.swarm.spec import ServerSpec, build_service_kwargs

WAIT = 90.0  # an upper bound for Swarm to (re)consider a task on a shared, busy machine, not a speed check


def node_update(*argv: str) -> None:
    subprocess.run(["docker", "node", "update", *argv], check=True, capture_output=True, text=True, timeout=60)


def newest_task(client: docker.APIClient, service: str) -> dict:
    tasks = client.tasks(filters={"service": service})
    return max(tasks, key=lambda t: t["Version"]["Index"]) if tasks else {}


def wait_for(client: docker.APIClient, service: str, done) -> dict:
    deadline = time.monotonic() + WAIT
    task = {}
    while time.monotonic() < deadline:
        task = newest_task(client, service)
        if task and done(task["Status"]):
            return task
        time.sleep(0.5)
    pytest.fail(f"{service}: task did not get there within {WAIT:.0f}s: {task.get('Status')}")


def unschedulable(status: dict) -> bool:
    return status["State"] == "pending" and "no suitable node" in (status.get("Err") or "")


def test_a_label_no_node_has_keeps_the_server_pending_and_is_named_then_it_runs_once_labelled(images):
    client = docker.APIClient()
    image = images["base"]  # built by the session's images fixture
    run = secrets.token_hex(4)
    valued, bare = f"mlops-test-{run}", f"mlops-test-{run}-bare"
    policy = check_spawner_settings({
        "environments": [{"slug": "valued", "display_name": "Valued", "image": image, "node_labels": {valued: "yes"}},
                         {"slug": "bare", "display_name": "Bare", "image": image, "node_labels": [bare]}],
        "role_policies": {"r": {"max_cpu": 1, "max_mem": "1G"}}})
    node_id = client.info()["Swarm"]["NodeID"]  # the API takes no "self" for a node
    services, needs = {}, {}
    try:
        # the bare name means `true`: a node labelled with the name alone (an empty value) does not qualify
        node_update("--label-add", bare, node_id)
        for env in policy.catalogue:
            needs[env.slug] = policy.node_requirements(env, "r")
            name = f"mlops-test-placement-{env.slug}-{run}"
            spec = ServerSpec(name=name, image=image, args=["sleep", "30"], env={}, labels={"mlops-test": run},
                              constraints=constraints(needs[env.slug]),
                              extra_placement_spec={"constraints": ["node.role == manager"]})
            services[env.slug] = client.create_service(**build_service_kwargs(spec))["ID"]
            inspected = client.inspect_service(services[env.slug])["Spec"]
            assert inspected["EndpointSpec"]["Mode"] == "dnsrr"
            assert inspected["TaskTemplate"]["RestartPolicy"]["Condition"] == "none"
            assert inspected["TaskTemplate"]["Placement"]["Constraints"] == [
                "node.role == manager", *constraints(needs[env.slug])]
        for slug in services:
            task = wait_for(client, services[slug], unschedulable)
            assert "no suitable node" in task["Status"]["Err"]
        labels = placeable_nodes_labels(client.nodes())
        assert missing_labels(needs["valued"], labels) == (
            f"No node has the label {valued}=yes, which environment 'Valued' requires.")
        assert missing_labels(needs["bare"], labels) == (
            f"No node has the label {bare}=true, which environment 'Bare' requires.")

        node_update("--label-add", f"{valued}=yes", "--label-add", f"{bare}=true", node_id)
        for slug in services:
            wait_for(client, services[slug], lambda status: status["State"] == "running")
        labels = placeable_nodes_labels(client.nodes())
        assert missing_labels(needs["valued"], labels) == "" and missing_labels(needs["bare"], labels) == ""
    finally:
        for service in services.values():
            client.remove_service(service)
        present = client.inspect_node(node_id)["Spec"].get("Labels") or {}
        removable = [arg for key in (valued, bare) if key in present for arg in ("--label-rm", key)]
        if removable:
            node_update(*removable, node_id)
    assert not {valued, bare} & set(client.inspect_node(node_id)["Spec"].get("Labels") or {})
