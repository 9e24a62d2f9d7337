"""A second platform stack with its own spawner settings, and helpers to look inside user servers.

The session's `hub` fixture deploys one stack with shared settings; tests of settings that apply
to every server (package index, storage) deploy their own stack, named `<MLOPS_TEST_STACK>-<suffix>`.
"""

from __future__ import annotations

import time
from pathlib import Path

import docker
import yaml
from docker.errors import APIError, NotFound

from mlops_hub.deploy.images import RELEASE
from mlops_hub.deploy.stack import StackSettings, deploy, remove, wait_for_hub
from tests.support.edge_ca import CA_DIR
from tests.support.ports import free_port

from .dockerlogs import service_container_logs
from .hubclient import HubClient

REPO = Path(__file__).resolve().parents[2]


def stack_settings(stack: str, images: dict[str, str], spawner: dict, state: Path,
                   sections: dict | None = None) -> StackSettings:
    """`spawner` is platform.yaml's `spawner:` section; `sections` adds others (e.g. {"culler": {...}})."""
    platform = state / "platform.yaml"
    platform.write_text(yaml.safe_dump({"spawner": spawner, **(sections or {})}))
    kwargs = dict(repo=REPO, stack=stack, https_port=free_port(), http_port=free_port(), state_dir=state,
                  ca_dir=CA_DIR, platform_config=platform, tag=images[RELEASE], lab_image=images["lab-base"],
                  log_level="DEBUG",
                  # Airflow is checked on the shared stack (test_airflow_stack.py): not started here, so
                  # these stacks do not migrate its database or run its four services for nothing
                  extra_env={"MLOPS_AIRFLOW_REPLICAS": "0"},
                  # the shared stack deploys and checks the registry (test_registry_swarm.py): a registry of
                  # their own would push every image again, for settings that do not concern it
                  own_registry=False)
    return StackSettings(**kwargs)


def deploy_stack(settings: StackSettings) -> HubClient:
    remove_stack(settings)  # leftovers of a killed run: this stack's name and labels only
    deploy(settings)
    wait_for_hub(settings)
    token = (settings.secrets_dir / "api_token").read_text().strip()
    admin_password = (settings.secrets_dir / "admin_password").read_text().strip()
    return HubClient(settings.url, token, settings.prefix, settings.stack, admin_password)


def remove_stack(settings: StackSettings) -> None:
    """The stack, its user servers, and its volumes (a rerun starts with an empty hub database)."""
    remove(settings)
    remove_volumes(docker.APIClient(), settings.prefix)
    remove_volumes(docker.APIClient(), settings.stack, label="com.docker.stack.namespace")


def remove_volumes(client: docker.APIClient, value: str, timeout: float = 60, label: str = "mlops-hub.prefix") -> None:
    """Volumes labelled `label=value`; in use until their containers are gone."""
    deadline = time.monotonic() + timeout
    while True:
        left = client.volumes(filters={"label": f"{label}={value}"}).get("Volumes") or []
        busy = []
        for vol in left:
            try:
                client.remove_volume(vol["Name"])
            except NotFound:
                pass
            except APIError:
                busy.append(vol["Name"])
        if not busy or time.monotonic() > deadline:
            return
        time.sleep(0.5)


def server_container(client: docker.APIClient, service: str, timeout: float = 60) -> str:
    """The running container of a user server's service."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.containers(filters={"label": f"com.docker.swarm.service.name={service}",
                                           "status": "running"})
        if found:
            return found[0]["Id"]
        time.sleep(0.2)
    raise AssertionError(f"no running container for {service}")


def run_in(client: docker.APIClient, container: str, cmd: list[str] | str,
           env: dict[str, str] | None = None) -> tuple[int, str]:
    """docker exec as the container's own user; returns (exit code, combined output)."""
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    exec_id = client.exec_create(container, cmd, environment=env)["Id"]
    output = client.exec_start(exec_id).decode("utf8", "replace")
    return client.exec_inspect(exec_id)["ExitCode"], output


def service_of(hub: HubClient, user: str) -> dict:
    services = hub.user_services(user)
    assert len(services) == 1, services
    return services[0]


def hub_logs(stack: str) -> str:
    return service_container_logs(docker.APIClient(), f"{stack}_hub")
