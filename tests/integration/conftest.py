"""Integration fixtures: the real images, and the platform deployed as a Swarm stack."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import docker
import pytest
import yaml

from mlops_hub.cli import default_ca_bundle
from mlops_hub.deploy.environments import build_environments, environment_builds
from mlops_hub.deploy.images import RELEASE, build_all
from mlops_hub.deploy.stack import StackSettings, deploy, remove, wait_for_hub
from mlops_hub.deploy.swarmread import STACK_LABEL
from tests.support.edge_ca import CA_DIR
from tests.support.ports import free_port

from . import browser, run_claims
from .hubclient import HubClient
from .own_stack import remove_stack

REPO = Path(__file__).resolve().parents[2]
SHIPPED_PLATFORM = REPO / "config" / "platform.yaml"
ENVIRONMENTS = "environments"  # the images fixture's key for the catalogue's images, by slug
STACK = os.environ.get("MLOPS_TEST_STACK", "mlopstest")  # a second checkout runs beside this one


def pytest_configure(config):
    # here, not in pyproject.toml: pyproject is an input of the images, a change there rebuilds them
    config.addinivalue_line("markers", "redeploys_hub: redeploys the session's hub with other settings;"
                                       " runs after every other test")


def pytest_collection_modifyitems(items):
    """Tests that redeploy the session's hub with other settings (marker `redeploys_hub`) run after all others:
    no later test sees those settings, and the stack needs no second redeploy to restore them."""
    items.sort(key=lambda item: item.get_closest_marker("redeploys_hub") is not None)  # stable: order kept


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """The platform's images, rebuilt only when their inputs changed, and a lab image whose USER is
    a name (`jovyan`), not a uid: the spawner looks its uid up in the image."""
    built = build_all(REPO, default_ca_bundle())
    # the catalogue config/platform.yaml ships (images/env-*), by slug under ENVIRONMENTS
    catalogue = build_environments(environment_builds(SHIPPED_PLATFORM), built["lab-base"])
    return {**built, "lab-named-user": named_user_image(built["lab-base"]), ENVIRONMENTS: catalogue}


def shipped_catalogue(images: dict) -> list[dict]:
    """config/platform.yaml's environments with a build folder, each as the images fixture built it."""
    shipped = yaml.safe_load(SHIPPED_PLATFORM.read_text())["spawner"]["environments"]
    return [{**{k: v for k, v in env.items() if k != "build"}, "image": images[ENVIRONMENTS][env["slug"]]}
            for env in shipped if "build" in env]


def named_user_image(lab_base: str) -> str:
    client = docker.from_env()
    tag = f"mlops-hub/lab-named-user:{client.images.get(lab_base).id.split(':')[1][:12]}"
    dockerfile = f"FROM {lab_base}\nUSER jovyan\n".encode()
    client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
    return tag


# the storage tests' roles are too small for the catalogue's environments (the hub refuses a role whose
# max_mem is below an environment's min_mem)
ST_ENVIRONMENTS = ["python", "python-alt"]


def platform_settings(images: dict[str, str]) -> dict:
    lab = images["lab-base"]
    return {"spawner": {
        "admin_contact": "the test admins (#mlops-test)",
        "environments": [
            {"slug": "python", "display_name": "Python", "description": "JupyterLab for everyone",
             "image": lab, "default": True},
            {"slug": "python-restricted", "display_name": "Restricted Python",
             "description": "only for scientists", "image": lab, "roles": ["scientists"]},
            # the hub image cannot run as a user server: a server that crashes on start
            {"slug": "broken", "display_name": "Broken", "image": images["hub"], "roles": ["scientists"]},
            {"slug": "named-user", "display_name": "Named user", "image": images["lab-named-user"],
             "roles": ["scientists"]},
            # test_storage_swarm.py: a home follows its user into another environment
            {"slug": "python-alt", "display_name": "Python (another environment)", "image": lab,
             "roles": ["st-team", "st-other"]},
            # test_environments_swarm.py: the shipped catalogue, its roles as shipped
            *shipped_catalogue(images),
        ],
        "role_policies": {
            "analysts": {"max_cpu": 1, "max_mem": "2G", "default_cpu": 0.5, "default_mem": "1G",
                         "environments": ["python"], "max_servers": 1},
            "scientists": {"max_cpu": 2, "max_mem": "4G", "max_servers": 2},
            "big": {"max_cpu": 64, "max_mem": "8G", "environments": ["python"], "max_servers": 1},
            # a team pool with room for one server: a notebook job of the team is refused while it runs
            "one-slot": {"max_cpu": 1, "max_mem": "1G", "environments": ["python"], "max_servers": 1,
                         "pool_servers": 1},
            # test_storage_swarm.py: a team with a shared folder, and someone outside it; small, so its three
            # servers at once fit beside the platform's reservations on a 2-core node
            "st-team": {"max_cpu": 0.25, "max_mem": "512M", "max_servers": 1, "environments": ST_ENVIRONMENTS},
            "st-other": {"max_cpu": 0.25, "max_mem": "512M", "max_servers": 1, "environments": ST_ENVIRONMENTS},
            # test_environments_swarm.py: the roles config/platform.yaml names, sized for a 2-core node
            "data-scientists": {"max_cpu": 1, "max_mem": "2G", "max_servers": 1},
            "data-engineers": {"max_cpu": 1, "max_mem": "2G", "max_servers": 1,
                               "environments": ["python", "pyspark", "data-engineering"]},
        },
        # homes on (local) volumes: a scheduled notebook's job finds the notebook where the server saved it;
        # owned by the lab image's uid:gid, which the `named-user` image names (jovyan) instead of numbering
        "storage": {"backend": "local", "owner": "1000:100", "roles": {"st-team": {"team": True}}},
        # a fifth of each server's CPU: beside the platform's own reservations (0.81 CPU) a 2-core node still
        # places the several servers the tests run at once
        "cpu_guarantee_fraction": 0.2,
        "mem_guarantee_fraction": 0.25,
        "unschedulable_grace": 2,
    }}


@pytest.fixture(scope="session")
def stack_settings(images, tmp_path_factory) -> StackSettings:
    state = tmp_path_factory.mktemp("state")
    platform = state / "platform.yaml"
    platform.write_text(yaml.safe_dump(platform_settings(images)))
    return StackSettings(repo=REPO, stack=STACK, https_port=free_port(), http_port=free_port(), state_dir=state,
                         ca_dir=CA_DIR, platform_config=platform, tag=images[RELEASE], lab_image=images["lab-base"],
                         # its own registry as `up` deploys it, on a port of its own (another run's stack may
                         # hold 5000); no pre-pulling: test_multinode_swarm.py's workers (RAM disks) would get
                         # every environment image of this stack, and the pre-puller is tested there
                         registry_port=free_port(), prepull=False,
                         # scraped every 5 s: the monitoring test sees new series without a long wait
                         extra_env={"MLOPS_GITLAB_URL": f"http://{STACK}-git:8080",
                                    "MLOPS_PROMETHEUS_SCRAPE_INTERVAL": "5s"})


@pytest.fixture(scope="session")
def hub(stack_settings) -> HubClient:
    """The platform deployed as a stack, as `mlops-hub up` does; removed afterwards."""
    for gone in run_claims.claim(STACK):
        remove_stacks_of_a_gone_run(stack_settings, gone)
        run_claims.release(gone)
    remove(stack_settings, volumes=True)  # leftovers of a killed run: our stack name and label only
    deploy(stack_settings)
    wait_for_hub(stack_settings)
    token = (stack_settings.secrets_dir / "api_token").read_text().strip()
    admin_password = (stack_settings.secrets_dir / "admin_password").read_text().strip()
    yield HubClient(stack_settings.url, token, stack_settings.prefix, STACK, admin_password)
    if not os.environ.get("MLOPS_TEST_KEEP_STACK"):  # set it to read the hub's logs after a failure
        remove(stack_settings, volumes=True)
    run_claims.release(STACK)  # removed, or kept on purpose: not a leftover for the next run to remove


def remove_stacks_of_a_gone_run(settings: StackSettings, gone: str) -> None:
    """Stack `gone` and its own stacks (`<gone>-<suffix>`, own_stack.py), with their servers and volumes, and the
    services its hub started on its networks (served models): those would keep the networks, and their room."""
    client = docker.APIClient()
    services = client.services()
    stacks = {service["Spec"].get("Labels", {}).get(STACK_LABEL) for service in services}
    removed: set[str] = set()
    for name in sorted(n for n in stacks if n and (n == gone or n.startswith(f"{gone}-"))):
        print(f"\n[tests] removing stack {name}, left running by a test run that is gone")
        networks = {net["Id"] for net in client.networks(filters={"label": f"{STACK_LABEL}={name}"})}
        for service in services:
            attached = {net.get("Target") for net in service["Spec"]["TaskTemplate"].get("Networks") or []}
            if attached & networks and service["Spec"].get("Labels", {}).get(STACK_LABEL) != name \
                    and service["ID"] not in removed:
                client.remove_service(service["ID"])
                removed.add(service["ID"])
        remove_stack(dataclasses.replace(settings, stack=name))


@pytest.fixture(scope="session")
def git_service(hub, stack_settings):
    """The stack's stand-in GitLab (real git over HTTP + API double), one per session: its
    service name is the MLOPS_GITLAB_URL host the hub gives every server."""
    from .gitservice import start_git_service

    return start_git_service(stack_settings.stack, stack_settings.network, stack_settings.lab_image,
                             stack_settings.prefix)


@pytest.fixture
def user_name(request) -> str:
    """A fresh user name per test, so tests do not share servers."""
    base = request.node.name.split("[")[0].removeprefix("test_").replace("_", "-")[:20]
    return f"{base}-{free_port() % 10000}"


@pytest.fixture(scope="module")
def chromium():
    """Headless Debian Chromium for one test module (each login opens its own context); closed
    after the module, so no Playwright event loop is left beside the async tests that follow."""
    playwright, instance = browser.launch()
    yield instance
    instance.close()
    playwright.stop()


AIRFLOW_SERVICES = ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


@pytest.fixture(scope="session")
def airflow_ready(hub, stack_settings) -> None:
    """Airflow starts after the hub (it migrates its database first): wait until its four services report
    healthy. Not a time limit on anything measured: a stack that never gets there fails here, named."""
    import time

    client = hub.docker
    states: dict[str, str | None] = {}
    for _ in range(900):
        for service in AIRFLOW_SERVICES:
            tasks = client.tasks(filters={"service": f"{stack_settings.stack}_{service}", "desired-state": "running"})
            running = [t for t in tasks if t["Status"]["State"] == "running"]
            container = running[0]["Status"]["ContainerStatus"]["ContainerID"] if running else None
            states[service] = (client.inspect_container(container)["State"].get("Health") or {}).get("Status") \
                if container else "no running task"
        if all(s == "healthy" for s in states.values()):
            return
        time.sleep(1)
    raise AssertionError(f"Airflow's services did not become healthy: {states}")
