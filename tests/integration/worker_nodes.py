"""Swarm worker nodes as containers, and the registry they pull images from (tests and benchmarks only).

A worker is a container running its own dockerd (images/node), on the bridge `mlops-nodes` whose
gateway the host's swarm advertises (scripts/host-setup.sh), joined with the swarm's worker token.
`--privileged` is refused on these machines ("unable to apply caps"); all capabilities but
SYS_RESOURCE, unconfined seccomp/AppArmor/system paths and the host's cgroups work instead.

The registry (images/registry, Debian's docker-registry) runs as a Swarm service on the manager with a
host-mode port on the bridge's gateway and a certificate from the tests' CA; every daemon trusts that CA
for it through /etc/docker/certs.d/<registry>/ca.crt, as a site's nodes trust their Artifactory.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.types import ConfigReference, EndpointSpec, Placement, RestartPolicy, SecretReference, TaskTemplate
from docker.types import ContainerSpec as DockerContainerSpec

from mlops_hub.deploy.tls import ensure_local_certificate

NODES_NETWORK = "mlops-nodes"  # scripts/host-setup.sh creates it and advertises its gateway
NODES_GATEWAY = "10.231.0.1"
REGISTRY_PORT = 5000
REGISTRY = f"{NODES_GATEWAY}:{REGISTRY_PORT}"
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


def trust_ca_for_registry(ca_cert: Path, worker: str | None = None) -> None:
    """This host's daemon (or a worker's) trusts the CA for the registry: certs.d, read at each pull."""
    if worker is None:
        target = CERTS_D / REGISTRY
        target.mkdir(parents=True, exist_ok=True)
        (target / "ca.crt").write_bytes(ca_cert.read_bytes())
        return
    subprocess.run(["docker", "exec", worker, "mkdir", "-p", f"{CERTS_D / REGISTRY}"], check=True)
    subprocess.run(["docker", "cp", str(ca_cert), f"{worker}:{CERTS_D / REGISTRY / 'ca.crt'}"], check=True)


def start_registry(client: docker.APIClient, image: str, ca_dir: Path, work: Path, name: str) -> str:
    """The registry as a Swarm service on the manager; returns its address once it answers."""
    tls = ensure_local_certificate(ca_dir, work, [NODES_GATEWAY])
    suffix = secrets.token_hex(4)
    cert = client.create_config(f"{name}_tls_crt_{suffix}", tls.cert.read_bytes(), labels={NODE_LABEL: "1"})
    key = client.create_secret(f"{name}_tls_key_{suffix}", tls.key.read_bytes(), labels={NODE_LABEL: "1"})
    client.create_service(
        TaskTemplate(
            DockerContainerSpec(
                image, None,
                configs=[ConfigReference(cert["ID"], f"{name}_tls_crt_{suffix}", filename="/etc/mlops-registry/tls.crt",
                                         uid="1000", gid="100", mode=0o444)],
                secrets=[SecretReference(key["ID"], f"{name}_tls_key_{suffix}", filename="/etc/mlops-registry/tls.key",
                                         uid="1000", gid="100", mode=0o400)]),
            restart_policy=RestartPolicy("none"), placement=Placement(constraints=["node.role == manager"])),
        name=name, labels={NODE_LABEL: "1"},
        endpoint_spec=EndpointSpec(mode="dnsrr", ports=[
            {"Protocol": "tcp", "PublishedPort": REGISTRY_PORT, "TargetPort": 5000, "PublishMode": "host"}]))
    trust_ca_for_registry(tls.ca)
    for _ in range(600):
        if subprocess.run(["curl", "-sf", "--cacert", str(tls.ca), f"https://{REGISTRY}/v2/"],
                          capture_output=True).returncode == 0:
            return REGISTRY
        time.sleep(0.1)
    raise AssertionError(f"the registry did not answer at https://{REGISTRY}/v2/")


def push(image: str, repository: str) -> str:
    """Push a local image to the registry; its reference by digest (what every node runs)."""
    target = f"{REGISTRY}/{repository}"
    subprocess.run(["docker", "tag", image, target], check=True)
    out = subprocess.run(["docker", "push", target], check=True, capture_output=True, text=True).stdout
    digest = next(word for line in out.splitlines() if "digest:" in line for word in line.split()
                  if word.startswith("sha256:"))
    return f"{REGISTRY}/{repository.rsplit(':', 1)[0]}@{digest}"


def start_worker(client: docker.DockerClient, image: str, name: str, labels: dict[str, str], ca_cert: Path) -> Worker:
    """A worker container joined to this swarm, labelled; returns once the node is ready."""
    check_swarm_takes_workers(client)
    subprocess.run(["docker", "run", "-d", "--name", name, "--hostname", name, "--network", NODES_NETWORK,
                    "--label", f"{NODE_LABEL}=1", *WORKER_FLAGS, image], check=True, capture_output=True)
    for _ in range(300):
        if subprocess.run(["docker", "exec", name, "docker", "info"], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    trust_ca_for_registry(ca_cert, name)
    token = client.swarm.attrs["JoinTokens"]["Worker"]
    subprocess.run(["docker", "exec", name, "docker", "swarm", "join", "--token", token,
                    f"{NODES_GATEWAY}:2377"], check=True, capture_output=True)
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
    """Worker containers, their nodes and the registry a killed run left behind (by NODE_LABEL only)."""
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
