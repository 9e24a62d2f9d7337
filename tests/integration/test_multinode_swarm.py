"""Several nodes for real: the host's swarm (the manager) and two worker nodes that are containers running their
own dockerd (worker_nodes.py), which pull the lab image from the registry by digest. Servers are made from the
spec the spawner builds (ServerSpec, build_service_kwargs) with the constraints platform.yaml's placement settings
give; JupyterLab on a worker answers the manager over an overlay network.

Not through the hub: the stack's hub, its form and its messages on one node are covered by the other modules;
here the question is what another node does with the same service spec.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from dataclasses import dataclass

import docker
import pytest

from mlops_hub.deploy.images import RELEASE, build_test_image
from mlops_hub.names import LABEL_NODE_POOL
from mlops_hub.policy.placement import constraints
from mlops_hub.policy.platform import check_spawner_settings
from mlops_hub.swarm.prepull import ensure_prepull_services
from mlops_hub.swarm.spec import ServerSpec, build_service_kwargs
from tests.support.edge_ca import ca_cert

from .conftest import REPO
from .worker_nodes import (
    REGISTRY_STACK_PREFIX,
    Worker,
    push,
    remove_leftovers,
    remove_registry,
    remove_worker,
    start_registry,
    start_worker,
)

pytestmark = pytest.mark.swarm

RUN = secrets.token_hex(3)
NETWORK = f"mlops-test-nodes-{RUN}"
POOL = LABEL_NODE_POOL  # the role's node_pool "workers": the workers carry mlops-hub.pool=workers
REGISTRY_STACK = f"{REGISTRY_STACK_PREFIX}{RUN}"
WHICH = f"mlops-test-node-{RUN}"  # w1 / w2: a server pinned to one worker
WAIT = 180.0  # an upper bound for a pull and a start on a shared, busy machine, not a speed check


@dataclass
class Cluster:
    client: docker.DockerClient
    workers: list[Worker]
    lab: str  # the lab image, by digest in the registry
    node_image: str


@pytest.fixture(scope="module")
def cluster(images, tmp_path_factory):
    client = docker.from_env()
    remove_leftovers(client)
    node_image = build_test_image(REPO, "node")
    workers: list[Worker] = []
    try:
        registry = start_registry(REGISTRY_STACK, tmp_path_factory.mktemp("registry"), images[RELEASE])
        lab = push(images["lab-base"], registry)
        # w1 is a general worker; w2 also has the "GPU" the label-constrained environment needs
        workers.append(start_worker(client, node_image, f"mlops-test-w1-{RUN}", {POOL: "workers", WHICH: "w1"},
                                    ca_cert()))
        workers.append(start_worker(client, node_image, f"mlops-test-w2-{RUN}",
                                    {POOL: "workers", WHICH: "w2", f"mlops-test-gpu-{RUN}": "true"}, ca_cert()))
        client.api.create_network(NETWORK, driver="overlay", attachable=True, labels={"mlops-hub.test-node": "1"})
        yield Cluster(client, workers, lab, node_image)
    finally:
        for service in client.services.list(filters={"label": f"mlops-test-run={RUN}"}):
            service.remove()
        for worker in workers:
            remove_worker(client, worker)
        remove_registry(REGISTRY_STACK)
        remove_leftovers(client)
        subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True)


def start_server(cluster: Cluster, name: str, needs_env: dict, cpu: float, mem: int) -> str:
    """A JupyterLab server (plain `jupyter lab`: no hub here) with the constraints the environment gives."""
    policy = check_spawner_settings({
        "environments": [{"slug": "e", "display_name": "E", "image": cluster.lab, **needs_env}],
        "role_policies": {"r": {"max_cpu": 2, "max_mem": "2G", "node_pool": "workers"}}})
    env = policy.catalogue.get("e")
    spec = ServerSpec(
        name=name, image=cluster.lab, network=NETWORK, env={},
        args=["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", f"--IdentityProvider.token={RUN}", "--no-browser"],
        user="1000:100", cpu_limit=cpu, mem_limit=mem, labels={"mlops-test-run": RUN},
        constraints=constraints(policy.node_requirements(env, "r")))
    service = cluster.client.api.create_service(**build_service_kwargs(spec))
    return service["ID"]


def running_task(client: docker.DockerClient, service: str) -> dict:
    deadline = time.monotonic() + WAIT
    task: dict = {}
    while time.monotonic() < deadline:
        tasks = client.api.tasks(filters={"service": service})
        task = max(tasks, key=lambda t: t["Version"]["Index"]) if tasks else {}
        if task.get("Status", {}).get("State") == "running":
            return task
        time.sleep(0.5)
    pytest.fail(f"{service}: no running task within {WAIT:.0f}s: {task.get('Status')}")


def answers_over_overlay(client: docker.DockerClient, name: str, lab_image: str) -> str:
    """JupyterLab's /api/status, asked from a container on the manager over the overlay network."""
    probe = ("import time, urllib.request\n"
             "for _ in range(600):\n"
             "    try:\n"
             f"        print(urllib.request.urlopen('http://{name}:8888/api/status?token={RUN}', timeout=5).read()"
             ".decode()); break\n"
             "    except OSError:\n"
             "        time.sleep(0.3)\n")
    return client.containers.run(lab_image, ["python", "-c", probe], network=NETWORK, remove=True).decode()


def test_a_server_on_a_worker_pulls_its_image_from_the_registry_by_digest_and_runs_with_its_limits(cluster, images):
    name = f"mlops-test-srv-{RUN}"
    service = start_server(cluster, name, {}, cpu=0.5, mem=768 * 1024**2)
    task = running_task(cluster.client, service)
    worker = next((w for w in cluster.workers if w.node_id == task["NodeID"]), None)
    assert worker is not None, f"the server runs on {task['NodeID']}, not on a worker of the pool"
    # the worker got the image from the registry, by the digest the service names
    assert worker.has(cluster.lab), worker.images()
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    limits = worker.docker("inspect", "--format", "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}", container)
    assert limits.split() == [str(500_000_000), str(768 * 1024**2)]
    assert '"started"' in answers_over_overlay(cluster.client, name, images["lab-base"])


def test_an_environment_that_needs_a_label_lands_only_on_the_labelled_worker(cluster):
    gpu_worker = cluster.workers[1]
    services = [start_server(cluster, f"mlops-test-gpu{i}-{RUN}", {"node_labels": {f"mlops-test-gpu-{RUN}": "true"}},
                             cpu=0.25, mem=512 * 1024**2) for i in range(2)]
    for service in services:
        assert running_task(cluster.client, service)["NodeID"] == gpu_worker.node_id


def spawner_of(service_id: str, name: str):
    """An MLOpsSwarmSpawner that owns this service, as the hub's would after a restart (its state loaded)."""
    from tests.unit.test_spawner import make_spawner

    spawner = make_spawner()
    spawner.object_id, spawner.object_name = service_id, name
    return spawner


async def server_polled_on(cluster: Cluster, worker: Worker, which: str, name: str):
    """A server pinned to `worker` (its WHICH label), running; the spawner that owns it, whose poll says so."""
    service = start_server(cluster, name, {"node_labels": {WHICH: which}}, cpu=0.25, mem=512 * 1024**2)
    assert running_task(cluster.client, service)["NodeID"] == worker.node_id
    spawner = spawner_of(service, name)
    assert await spawner.poll() is None
    return spawner


async def poll_until_gone(spawner) -> object:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        status = await spawner.poll()
        if status is not None:
            return status
        time.sleep(1)
    pytest.fail(f"the hub's poll still finds {spawner.object_name} running after {WAIT:.0f}s")


async def test_a_drained_worker_stops_its_server_and_the_user_is_told_why(cluster):
    worker = cluster.workers[1]
    name = f"mlops-test-drain-{RUN}"
    spawner = await server_polled_on(cluster, worker, "w2", name)
    node = cluster.client.nodes.get(worker.node_id)
    node.update({**node.attrs["Spec"], "Availability": "drain"})
    try:
        await poll_until_gone(spawner)
        assert spawner.last_stop_reason == (
            f"Your server stopped: node {worker.name} was drained (an admin took it out of service).")
        assert not cluster.client.services.list(filters={"name": name})  # removed: nothing left behind
    finally:
        node.reload()
        node.update({**node.attrs["Spec"], "Availability": "active"})


def test_a_node_that_joins_gets_the_environment_images_before_anyone_spawns_there(cluster):
    """The pre-puller (a global one-shot service per environment image) runs on a node as soon as it joins."""
    prefix = f"mlops-test-{RUN}"
    assert ensure_prepull_services(cluster.client.api, prefix, {"python": cluster.lab}) == [
        f"pre-pulling {cluster.lab} on every node (python)"]
    try:
        joined = start_worker(cluster.client, cluster.node_image, f"mlops-test-w3-{RUN}",
                              {POOL: "workers", WHICH: "w3"}, ca_cert())
        cluster.workers.append(joined)  # removed with the others
        deadline = time.monotonic() + WAIT
        while not joined.has(cluster.lab) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert joined.has(cluster.lab), joined.images()
        tasks = cluster.client.api.tasks(filters={"service": f"{prefix}-prepull-python", "node": joined.node_id})
        assert tasks and tasks[0]["Spec"]["ContainerSpec"]["Image"] == cluster.lab
    finally:
        assert ensure_prepull_services(cluster.client.api, prefix, {}) == [
            "stopped pre-pulling for python (no longer an environment)"]


async def test_a_worker_that_dies_under_a_running_server_is_noticed_and_named(cluster):
    """Runs last: it kills w1."""
    worker = cluster.workers[0]
    name = f"mlops-test-lost-{RUN}"
    spawner = await server_polled_on(cluster, worker, "w1", name)
    subprocess.run(["docker", "kill", worker.name], check=True, capture_output=True)
    status = await poll_until_gone(spawner)
    assert spawner.last_stop_reason == f"Your server stopped: node {worker.name} is down.", status
    assert "last_stop_reason" in spawner.get_state()
    assert not cluster.client.services.list(filters={"name": name})
