"""Swarm worker nodes as containers, and the registry they pull images from (tests and benchmarks only).

A worker is a container running its own dockerd (images/node), on the bridge `mlops-nodes` whose
gateway the host's swarm advertises (scripts/host-setup.sh), joined with the swarm's worker token.
`--privileged` is refused on these machines ("unable to apply caps"); all capabilities but
SYS_RESOURCE, unconfined seccomp/AppArmor/system paths and the host's cgroups work instead.

The registry is the platform's own (swarm-stack.registry.yml), deployed by the code `up` runs as a stack of its
own, on a host-mode port of the bridge's gateway with a certificate from the tests' CA; every daemon trusts that
CA for it through /etc/docker/certs.d/<registry>/ca.crt, as `mlops-hub nodes join-command` tells an operator.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker

from mlops_hub.deploy.images import IMAGE_REPO
from mlops_hub.deploy.registry import deploy_own_registry, publish
from mlops_hub.deploy.stack import StackSettings
from mlops_hub.policy.image_pins import split_reference
from tests.support.edge_ca import CA_DIR

REPO = Path(__file__).resolve().parents[2]

NODES_NETWORK = "mlops-nodes"  # scripts/host-setup.sh creates it and advertises its gateway
NODES_GATEWAY = "10.231.0.1"
REGISTRY_PORT = 5000
REGISTRY = f"{NODES_GATEWAY}:{REGISTRY_PORT}"
REGISTRY_STACK_PREFIX = "mlops-test-registry-"  # the registry stacks tests and benchmarks deploy
NODE_LABEL = "mlops-hub.test-node"  # on the worker containers: a killed run's leftovers are found by it
CERTS_D = Path("/etc/docker/certs.d")
# the CLI's flags: `systempaths=unconfined` is a CLI option (no masked or read-only /proc paths), not an API one
WORKER_FLAGS = ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
                "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined",
                "--tmpfs", "/var/lib/docker:exec", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"]


class NodesUnavailable(AssertionError):
    """The swarm cannot take worker containers (it advertises an address they cannot reach)."""


@dataclass
class Worker:
    name: str  # the container's name, also the node's hostname
    node_id: str

    def docker(self, *args: str, input: bytes | None = None) -> str:
        """Run the docker CLI inside the worker (against its own daemon)."""
        done = subprocess.run(["docker", "exec", "-i", self.name, "docker", *args], input=input,
                              capture_output=True)
        if done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} on {self.name}: {done.stderr.decode()[-500:]}")
        return done.stdout.decode()

    def images(self) -> list[str]:
        return self.docker("image", "ls", "--digests", "--format", "{{.Repository}}@{{.Digest}}").split()

    def has(self, pinned: str) -> bool:
        """Whether the node holds the image a reference by digest (repository:tag@sha256:...) names."""
        repository, _ = split_reference(pinned)
        return f"{repository}@{pinned.split('@', 1)[1]}" in self.images()


def manager_address(client: docker.DockerClient) -> str:
    """The address joining nodes are told to reach the manager at: its Raft address (`swarm init
    --force-new-cluster` changes NodeAddr but keeps this one)."""
    node = client.nodes.get(client.info()["Swarm"]["NodeID"])
    return node.attrs["ManagerStatus"]["Addr"].rpartition(":")[0]


def check_swarm_takes_workers(client: docker.DockerClient) -> None:
    address = manager_address(client)
    if address != NODES_GATEWAY:
        raise NodesUnavailable(f"the swarm's manager advertises {address}, not {NODES_GATEWAY} ({NODES_NETWORK}'s"
                               " gateway), so worker nodes cannot join it: stop its services (mlops-hub down), then"
                               " run MLOPS_HUB_WITH_TEST_DEPS=1 scripts/host-setup.sh, which makes it anew")


def trust_ca_for_registry(ca_cert: Path, worker: str, registry: str) -> None:
    """A worker's daemon trusts the CA for the registry (certs.d, read at each pull), as `nodes join-command` says."""
    subprocess.run(["docker", "exec", worker, "mkdir", "-p", f"{CERTS_D / registry}"], check=True)
    subprocess.run(["docker", "cp", str(ca_cert), f"{worker}:{CERTS_D / registry / 'ca.crt'}"], check=True)


def start_registry(stack: str, state_dir: Path, tag: str) -> str:
    """The platform's registry (swarm-stack.registry.yml) as a stack of its own, deployed as `up` deploys it,
    on REGISTRY_PORT of the manager's swarm address; its address once it answers."""
    settings = StackSettings(repo=REPO, stack=stack, state_dir=state_dir, ca_dir=CA_DIR, tag=tag,
                             registry_port=REGISTRY_PORT)
    return deploy_own_registry(settings, dict(os.environ))


def remove_registry(stack: str) -> None:
    subprocess.run(["docker", "stack", "rm", stack], capture_output=True)
    for _ in range(100):  # its volume can go once its container has
        listed = subprocess.run(["docker", "volume", "ls", "-q", "--filter",
                                 f"label=com.docker.stack.namespace={stack}"], capture_output=True, text=True)
        volumes = listed.stdout.split()
        if not volumes or subprocess.run(["docker", "volume", "rm", *volumes], capture_output=True).returncode == 0:
            return
        time.sleep(0.2)


def push(image: str, registry: str) -> str:
    """Push a local image to the registry as `up` does; its reference by digest (what every node runs)."""
    return publish(f"{registry}/{IMAGE_REPO}", None, [image]).pins[image]


def start_worker(client: docker.DockerClient, image: str, name: str, labels: dict[str, str], ca_cert: Path) -> Worker:
    """A worker container joined to this swarm, labelled; returns once the node is ready."""
    check_swarm_takes_workers(client)
    subprocess.run(["docker", "run", "-d", "--name", name, "--hostname", name, "--network", NODES_NETWORK,
                    "--label", f"{NODE_LABEL}=1", *WORKER_FLAGS, image], check=True, capture_output=True)
    for _ in range(300):
        if subprocess.run(["docker", "exec", name, "docker", "info"], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    trust_ca_for_registry(ca_cert, name, REGISTRY)
    token = client.swarm.attrs["JoinTokens"]["Worker"]
    joined = subprocess.run(["docker", "exec", name, "docker", "swarm", "join", "--token", token,
                             f"{NODES_GATEWAY}:2377"], capture_output=True, text=True)
    if joined.returncode != 0:  # said without the command: the join token lets any machine into the swarm
        raise AssertionError(f"{name} could not join the swarm at {NODES_GATEWAY}:2377: {joined.stderr.strip()}")
    node_id = json.loads(subprocess.run(["docker", "exec", name, "docker", "info", "--format", "{{json .Swarm}}"],
                                        check=True, capture_output=True).stdout)["NodeID"]
    for _ in range(300):
        node = client.nodes.get(node_id)
        if node.attrs["Status"]["State"] == "ready":
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"worker {name} did not become ready: {node.attrs['Status']}")
    node.update({**node.attrs["Spec"], "Labels": {**node.attrs["Spec"].get("Labels", {}), **labels}})
    return Worker(name, node_id)


def remove_worker(client: docker.DockerClient, worker: Worker) -> None:
    subprocess.run(["docker", "rm", "-f", worker.name], capture_output=True)
    for _ in range(100):  # a node must be down before `node rm` (without --force) takes it
        done = subprocess.run(["docker", "node", "rm", "--force", worker.node_id], capture_output=True)
        if done.returncode == 0 or b"not found" in done.stderr:
            return
        time.sleep(0.1)


def remove_leftovers(client: docker.DockerClient) -> None:
    """Worker containers, their nodes and the registry a killed run left behind (by NODE_LABEL and the registry
    stacks' name prefix only)."""
    names = set()
    for container in client.containers.list(all=True, filters={"label": NODE_LABEL}):
        names.add(container.name)
        container.remove(force=True)
    for node in client.nodes.list():
        # a worker container's node (its hostname is the container's name), or any worker already down
        if node.attrs["Spec"].get("Role") == "worker" and (
                node.attrs["Description"].get("Hostname") in names or node.attrs["Status"]["State"] == "down"):
            node.remove(force=True)
    for service in client.services.list(filters={"label": NODE_LABEL}):
        service.remove()
    stacks = {s.attrs["Spec"]["Labels"].get("com.docker.stack.namespace") for s in client.services.list()}
    for stack in sorted(s for s in stacks if s and s.startswith(REGISTRY_STACK_PREFIX)):
        remove_registry(stack)
    api = client.api
    for config in api.configs(filters={"label": NODE_LABEL}):
        _ignore(lambda c=config: api.remove_config(c["ID"]))
    for secret in api.secrets(filters={"label": NODE_LABEL}):
        _ignore(lambda s=secret: api.remove_secret(s["ID"]))


def _ignore(call) -> None:
    try:
        call()
    except docker.errors.APIError:
        pass  # still used by a service being removed: the next run's clean-up takes it
