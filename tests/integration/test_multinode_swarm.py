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
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from docker.types import ContainerSpec, TaskTemplate

from mlops_hub.deploy.doctor import docker as doctor_docker
from mlops_hub.deploy.doctor import node_probe_finding
from mlops_hub.deploy.images import RELEASE, build_test_image
from mlops_hub.deploy.node_probe import NODE_PROBE_LABEL, probe_nodes
from mlops_hub.names import LABEL_NODE_POOL, LABEL_PREFIX_KEY, LABEL_USER
from mlops_hub.policy.home_node import home_constraint
from mlops_hub.policy.placement import constraints
from mlops_hub.policy.platform import check_spawner_settings
from mlops_hub.policy.storage import storage_from_config
from mlops_hub.provision import provision
from mlops_hub.swarm.home_node import recorded_home_node
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
    trust_ca_for_registry,
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


def home_server(cluster: Cluster, prefix: str, user: str, name: str, command: str) -> tuple[str, dict]:
    """A server the way the spawner makes one with storage backend local: provision() makes or finds the home (and
    its node), and the service is constrained to that node."""
    storage = storage_from_config({"backend": "local"})
    provisioned = provision(cluster.client.api, prefix=prefix, username=user, roles=[], image=cluster.lab,
                            owner=(1000, 100), index=None, storage=storage, system_roots_file=None)
    spec = ServerSpec(name=name, image=cluster.lab, args=[], env={}, user="1000:100",
                      labels={"mlops-test-run": RUN, LABEL_PREFIX_KEY: prefix, LABEL_USER: user},
                      mounts=[dict(m) for m in provisioned.mounts],
                      extra_container_spec={"command": ["sh", "-c", command]},
                      constraints=[home_constraint(provisioned.home_node)])
    service = cluster.client.api.create_service(**build_service_kwargs(spec))["ID"]
    return service, running_task(cluster.client, service)


def home_move(stack: str, user: str, to: str, platform: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlops_hub.cli", "home", "move", user, "--to", to, "--stack", stack,
                           "--platform-config", str(platform)], capture_output=True, text=True, cwd=REPO)


def test_a_local_home_keeps_its_users_servers_on_its_node_and_moves_with_its_files(cluster, tmp_path):
    """The first spawn records the hub's node as the home's; `mlops-hub home move` copies it to a worker; the next
    spawn lands there, with the file the first wrote (owner kept); a move while a server runs is refused."""
    stack, user = f"mlops-test-home-{RUN}", "alice"
    prefix, api = f"{stack}-lab", cluster.client.api
    manager, worker = cluster.client.info()["Swarm"]["NodeID"], cluster.workers[0]
    platform = tmp_path / "platform.yaml"
    platform.write_text("spawner:\n  storage:\n    backend: local\n")
    # `home move` copies with the stack's hub image: a stand-in hub service that is only read
    api.create_service(TaskTemplate(ContainerSpec(cluster.lab, ["sleep", "3600"])), name=f"{stack}_hub",
                       labels={"mlops-test-run": RUN})
    try:
        first, task = home_server(cluster, prefix, user, f"{prefix}-{user}-1",
                                  "echo 'written on the first node' > /home/jovyan/notes.txt; sleep 3600")
        assert task["NodeID"] == manager == recorded_home_node(api, prefix, user)
        refused = home_move(stack, user, worker.name, platform)
        assert refused.returncode == 1 and f"{user} has running servers or jobs ({prefix}-{user}-1)" in refused.stderr
        api.remove_service(first)
        moved = home_move(stack, user, worker.name, platform)
        assert moved.returncode == 0, moved.stderr
        assert f"{user}'s home is now on node {worker.name}" in moved.stdout and "received" in moved.stdout
        assert recorded_home_node(api, prefix, user) == worker.node_id
        assert not api.services(filters={"label": f"{LABEL_PREFIX_KEY}={prefix}"})  # the copy's services are gone
        second, task = home_server(cluster, prefix, user, f"{prefix}-{user}-2", "sleep 3600")
        assert task["NodeID"] == worker.node_id
        container = task["Status"]["ContainerStatus"]["ContainerID"]
        assert worker.docker("exec", container, "cat", "/home/jovyan/notes.txt") == "written on the first node\n"
        assert worker.docker("exec", container, "stat", "-c", "%u:%g", "/home/jovyan/notes.txt").strip() == "1000:100"
        api.remove_service(second)
        again = home_move(stack, user, worker.name, platform)
        assert again.returncode == 1 and f"{user}'s home is already on that node" in again.stderr
    finally:
        for service in api.services(filters={"label": f"{LABEL_PREFIX_KEY}={prefix}"}):
            api.remove_service(service["ID"])
        for config in api.configs(filters={"label": f"{LABEL_PREFIX_KEY}={prefix}"}):
            api.remove_config(config["ID"])
        for volume in api.volumes(filters={"label": f"{LABEL_PREFIX_KEY}={prefix}"})["Volumes"] or []:
            subprocess.run(["docker", "volume", "rm", "-f", volume["Name"]], capture_output=True)


def test_doctor_looks_at_every_node_and_names_one_that_cannot_pull_from_the_registry(cluster, images):
    """doctor's node probe (a global job) on the manager and the workers: an image none of them has yet, pulled by
    digest; a worker that does not trust the registry's CA is named with Swarm's reason, then passes once it does."""
    registry = cluster.lab.split("/", 1)[0]
    fresh = push(images["lab-named-user"], registry)
    untrusting = cluster.workers[1]
    untrusting.docker("version")  # the node is up
    subprocess.run(["docker", "exec", untrusting.name, "rm", "-rf", f"/etc/docker/certs.d/{registry}"], check=True)
    said: list[str] = []
    try:
        found = node_probe_finding(probe_nodes(doctor_docker, fresh, said.append))
        assert found.status == "fail", found.message
        # Swarm's task error; the pull's own (x509: certificate signed by unknown authority) is in the node's log
        assert f'{untrusting.name} ("No such image: {fresh}' in found.message, found.message
        assert not any(f"{w.name} (" in found.message for w in cluster.workers if w is not untrusting)
    finally:
        trust_ca_for_registry(ca_cert(), untrusting.name, registry)
    found = node_probe_finding(probe_nodes(doctor_docker, fresh, said.append))
    assert found.status == "ok", found.message
    assert found.message.startswith(f"nodes (each): {1 + len(cluster.workers)} node(s) pulled and ran {fresh}")
    assert untrusting.has(fresh)
    assert said[0].startswith("node probe: pulling") and said[-1] == "node probe: removed"
    assert not cluster.client.services.list(filters={"label": NODE_PROBE_LABEL})  # nothing left behind


def test_the_stacks_hub_runs_a_server_on_a_worker_from_its_registry_and_keeps_it_over_a_hub_restart(
        cluster, hub, stack_settings, user_name):
    """Through the deployed stack: an admin places a new user's local home on a worker (`mlops-hub home move`
    before their first server); the hub's spawn lands there, the worker pulls the environment by digest from the
    stack's own registry, the server answers through the front door, and a hub restart keeps it."""
    worker = cluster.workers[0]
    registry = stack_settings.published.registry.split("/", 1)[0]
    trust_ca_for_registry(ca_cert(), worker.name, registry)  # as `mlops-hub nodes join-command` says
    hub.create_user(user_name, ["analysts"])
    placed = home_move(stack_settings.stack, user_name, worker.name, stack_settings.platform_config)
    assert placed.returncode == 0, placed.stderr
    assert f"{user_name} has no home yet: their first server starts on node {worker.name}" in placed.stdout
    assert hub.spawn(user_name, {}).status_code in (201, 202)
    hub.wait_ready(user_name, timeout=WAIT)
    service = hub.only_service(user_name)
    pinned = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert pinned.startswith(f"{registry}/") and "@sha256:" in pinned and worker.has(pinned)
    assert running_task(cluster.client, service["ID"])["NodeID"] == worker.node_id
    hub.restart_hub(stack_settings)
    model = hub.wait_ready(user_name, timeout=WAIT)
    assert hub.only_service(user_name)["ID"] == service["ID"]
    assert running_task(cluster.client, service["ID"])["NodeID"] == worker.node_id  # not moved, not restarted
    lab = hub.lab_status_with_a_new_token(user_name, model)
    # the new hub task has a new address: Swarm's gossip brings it to the worker's DNS within seconds, and until
    # then the server cannot check the token with the hub (seen once in CI on the 2-core machine)
    settled = time.monotonic() + 120
    while lab.status_code == 500 and "Failed to connect to Hub API" in lab.text and time.monotonic() < settled:
        time.sleep(2)
        lab = hub.lab_status_with_a_new_token(user_name, model)
    assert lab.status_code == 200, lab.text
    hub.stop(user_name)
    assert hub.user_services(user_name) == []


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
