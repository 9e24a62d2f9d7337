"""Small fakes shared by the unit tests: policies, users and Swarm tasks (no Docker, no hub)."""

from __future__ import annotations

from types import SimpleNamespace

from traitlets.config import Config

from mlops_hub.policy import EnvironmentCatalogue
from mlops_hub.policy.roles import role_policies_from_config

GiB = 1024**3
MiB = 1024**2

ENVIRONMENTS = [
    {
        "slug": "python",
        "display_name": "Python",
        "description": "JupyterLab with git and pip",
        "image": "mlops-hub/lab-base:latest",
        "default": True,
    },
    {
        "slug": "torch",
        "display_name": "PyTorch",
        "image": "mlops-hub/lab-torch:2.4",
        "default_cpu": 2,
        "default_mem": "6G",
    },
    {
        "slug": "gpu",
        "display_name": "GPU (CUDA)",
        "image": "mlops-hub/lab-gpu:12",
        "roles": ["gpu-users"],
    },
]

ROLE_POLICIES = {
    "default": {"max_cpu": 1, "max_mem": "2G", "default_cpu": 0.5, "default_mem": "1G",
                "environments": ["python"], "max_servers": 1},
    "data-scientists": {"max_cpu": 4, "max_mem": "8G", "default_cpu": 1, "default_mem": "2G",
                        "environments": ["python", "torch"], "max_servers": 2},
    "gpu-users": {"max_cpu": 8, "max_mem": "4G", "environments": "*", "max_servers": 1},
}


def catalogue(environments=ENVIRONMENTS) -> EnvironmentCatalogue:
    return EnvironmentCatalogue.from_config(environments)


def policies(role_policies=ROLE_POLICIES):
    return role_policies_from_config(role_policies)


def fake_user(name: str = "alice", groups=(), spawners=None):
    """What MLOpsSwarmSpawner and dockerspawner read from a JupyterHub User."""
    return SimpleNamespace(
        name=name,
        groups=[SimpleNamespace(name=g) for g in groups],
        spawners={} if spawners is None else spawners,
        url=f"/user/{name}/",
    )


def fake_server(active: bool = True):
    """Another spawner of the same user, as seen by the server-count check."""
    return SimpleNamespace(active=active, ready=active)


def spawner_config(**settings) -> Config:
    c = Config()
    for key, value in settings.items():
        setattr(c.MLOpsSwarmSpawner, key, value)
    return c


def task(state: str, err: str = "", message: str = "", exit_code=None, index: int = 1,
         networks=(), node: str = "node-1", container: str = "", reserve_cpu: float = 0,
         reserve_mem: int = 0) -> dict:
    """A Swarm task as `docker.APIClient.tasks()` returns it."""
    status: dict = {"State": state, "Message": message}
    if err:
        status["Err"] = err
    if exit_code is not None or container:
        status["ContainerStatus"] = {"ContainerID": container, "ExitCode": exit_code}
    return {
        "ID": f"task-{index}",
        "NodeID": node,
        "Version": {"Index": index},
        "CreatedAt": f"2026-11-26T10:00:{index:02d}Z",
        "Status": status,
        "NetworksAttachments": [
            {"Network": {"Spec": {"Name": name}}, "Addresses": [cidr]} for name, cidr in networks
        ],
        "Spec": {"Resources": {"Reservations": {"NanoCPUs": int(reserve_cpu * 1e9), "MemoryBytes": reserve_mem}}},
    }


def node(node_id: str = "node-1", cpus: float = 2, mem: int = 4 * 1024**3, state: str = "ready",
         availability: str = "active", labels: dict | None = None, hostname: str = "") -> dict:
    """A Swarm node as `docker.APIClient.nodes()` returns it."""
    return {"ID": node_id, "Status": {"State": state}, "Spec": {"Availability": availability, "Labels": labels or {}},
            "Description": {"Hostname": hostname or node_id,
                            "Resources": {"NanoCPUs": int(cpus * 1e9), "MemoryBytes": mem}}}
