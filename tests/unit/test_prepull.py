"""The pre-puller: which images, and the create / update / remove decisions against the services there."""

from __future__ import annotations

import pytest

from mlops_hub.policy.image_pins import from_a_registry
from mlops_hub.swarm.prepull import LABEL_PREPULL, ensure_prepull_services, prepull_service_spec


@pytest.mark.parametrize("image, pullable", [
    ("10.231.0.1:5000/mlops-hub/lab-base@sha256:" + "a" * 64, True),
    ("artifactory.example.com/ml/env-r:1.2", True),
    ("localhost/env:1", True),
    ("mlops-hub/lab-base:0937eadccf30", False),  # built here: no other node has it
    ("debian:bookworm-slim", False),  # Docker Hub: never asked from these machines
])
def test_only_images_a_registry_serves_are_pre_pulled(image, pullable):
    assert from_a_registry(image) is pullable


def test_the_pre_pull_service_runs_once_on_every_node_and_reserves_nothing():
    spec = prepull_service_spec("hub-lab", "r", "reg.example:5000/env-r:1")
    assert spec["name"] == "hub-lab-prepull-r"
    assert dict(spec["mode"]) == {"global": {}}
    template = spec["task_template"]
    assert template["ContainerSpec"]["Image"] == "reg.example:5000/env-r:1"
    assert template["ContainerSpec"]["Command"] == ["true"]
    assert template["RestartPolicy"]["Condition"] == "none"
    assert not template.get("Resources")  # no reservation: it must not take room a server needs
    assert spec["labels"] == {"mlops-hub.prefix": "hub-lab", LABEL_PREPULL: "r"}


class Services:
    """docker.APIClient's service calls, recorded."""

    def __init__(self, existing: dict[str, str]):
        self.existing = [{"ID": f"id-{slug}", "Version": {"Index": 7}, "Spec": {
            "Labels": {LABEL_PREPULL: slug}, "TaskTemplate": {"ContainerSpec": {"Image": image}}}}
            for slug, image in existing.items()]
        self.calls: list[tuple] = []

    def services(self, filters):
        self.calls.append(("services", filters))
        return self.existing

    def create_service(self, **spec):
        self.calls.append(("create", spec["name"]))

    def update_service(self, service, version, **spec):
        self.calls.append(("update", service, version, spec["task_template"]["ContainerSpec"]["Image"]))

    def remove_service(self, service):
        self.calls.append(("remove", service))


def test_services_are_created_updated_and_removed_to_match_the_environments():
    client = Services({"same": "reg.io/a:1", "changed": "reg.io/b:1", "gone": "reg.io/c:1"})
    done = ensure_prepull_services(client, "p", {
        "same": "reg.io/a:1", "changed": "reg.io/b:2", "new": "reg.io/d:1", "local": "mlops-hub/lab-base:1"})
    assert client.calls[1:] == [("update", "id-changed", 7, "reg.io/b:2"), ("create", "p-prepull-new"),
                                ("remove", "id-gone")]
    assert done == ["pre-pulling the new reg.io/b:2 on every node (changed)",
                    "pre-pulling reg.io/d:1 on every node (new)",
                    "stopped pre-pulling for gone (no longer an environment)"]
    assert client.calls[0][1] == {"label": ["mlops-hub.prefix=p", LABEL_PREPULL]}


def test_an_environment_that_needs_node_labels_is_pre_pulled_only_on_such_nodes_and_moves_with_them():
    spec = prepull_service_spec("p", "gpu", "reg.io/gpu:1", ["node.labels.gpu == true"])
    assert spec["task_template"]["Placement"] == {"Constraints": ["node.labels.gpu == true"]}
    client = Services({"gpu": "reg.io/gpu:1"})  # deployed without constraints
    ensure_prepull_services(client, "p", {"gpu": "reg.io/gpu:1"}, {"gpu": ["node.labels.gpu == true"]})
    assert client.calls[1:] == [("update", "id-gpu", 7, "reg.io/gpu:1")]
    client = Services({"gpu": "reg.io/gpu:1"})
    ensure_prepull_services(client, "p", {"gpu": "reg.io/gpu:1"})
    assert client.calls[1:] == []  # unchanged: nothing to do
