"""A real git server (git http-backend) with a GitLab API double, run as a Swarm service.

It stands in for GitLab on the stack's overlay network, reachable from user servers as
http://<stack>-git:8080 (the hub gives them that as MLOPS_GITLAB_URL). Code and token arrive
as a Swarm config and a Swarm secret.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.types import ConfigReference, EndpointSpec, RestartPolicy, SecretReference

from .dockerlogs import service_container_logs

SUPPORT = Path(__file__).resolve().parents[1] / "support"
# git_http imports its neighbours relatively: in the container they form the package `gitservice`
FILES = ("git_http.py", "loopback_http.py", "ports.py", "gitlab_double.py", "git_service_main.py")


@dataclass
class GitService:
    name: str
    url: str
    token: str
    client: docker.APIClient

    def git(self, *args: str) -> str:
        """Run git in the service's container against the bare repositories."""
        task = self.client.tasks(filters={"service": self.name, "desired-state": "running"})[0]
        container = task["Status"]["ContainerStatus"]["ContainerID"]
        exec_id = self.client.exec_create(container, ["git", *args])
        out = self.client.exec_start(exec_id).decode()
        assert self.client.exec_inspect(exec_id)["ExitCode"] == 0, out
        return out


def start_git_service(stack: str, network: str, image: str, prefix: str) -> GitService:
    client = docker.APIClient()
    name = f"{stack}-git"
    token = secrets.token_hex(20)
    suffix = secrets.token_hex(4)
    configs = []
    for filename in FILES:
        config = client.create_config(f"{stack}_git_{filename.replace('.', '_')}_{suffix}",
                                      (SUPPORT / filename).read_bytes())
        configs.append(ConfigReference(config["ID"], f"{stack}_git_{filename.replace('.', '_')}_{suffix}",
                                       filename=f"/opt/gitservice/{filename}", uid="1000", gid="100", mode=0o444))
    secret = client.create_secret(f"{stack}_git_token_{suffix}", token.encode())
    container = docker.types.ContainerSpec(
        image, ["python3", "/opt/gitservice/git_service_main.py"], user="1000:100",
        env={"GIT_TOKEN_FILE": "/run/secrets/git_token", "PUBLIC_URL": f"http://{name}:8080"},
        configs=configs,
        secrets=[SecretReference(secret["ID"], f"{stack}_git_token_{suffix}", filename="git_token",
                                 uid="1000", gid="100", mode=0o400)])
    task = docker.types.TaskTemplate(container, restart_policy=RestartPolicy("none"), networks=[network])
    client.create_service(task, name=name, endpoint_spec=EndpointSpec(mode="dnsrr"),
                          labels={"mlops-hub.prefix": prefix})
    service = GitService(name, f"http://{name}:8080", token, client)
    for _ in range(600):
        logs = service_container_logs(client, name)
        if "git service ready" in logs:
            return service
        time.sleep(0.1)
    raise AssertionError(f"the git service did not start:\n{logs}")
