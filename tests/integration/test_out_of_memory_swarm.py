"""Out of memory on the real swarm: a spawn that OOMs while starting, and a server OOM-killed later.

A stack of its own (`<MLOPS_TEST_STACK>-oom`) whose hub polls servers every 2 s, so a server that
dies is noticed while the test watches the hub's log. Its `hungry` environment is the lab image
with a start that first needs HUNGRY_START of memory (as a heavier image would): validation
accepts nothing smaller than 128M, and JupyterLab itself starts in less than 104M
(bench/min_memory.py), so only a start that needs more OOMs reliably while starting.
"""

from __future__ import annotations

import asyncio
import io
import json
import time

import docker
import pytest
import requests

from mlops_hub.policy.units import DEFAULT_ENV_MIN_MEM as DEFAULT_MIN_MEM
from mlops_hub.policy.units import MIN_MEM, format_memory
from mlops_hub.swarm.tasks import suggested_memory
from tests.support.lab_session import run_cell, start_kernel

from .conftest import STACK
from .own_stack import deploy_stack, hub_logs, remove_stack, run_in, server_container, stack_settings

pytestmark = pytest.mark.swarm

OOM_STACK = f"{STACK}-oom"
ROLE = "oom-users"
HUNGRY_START = 400 * 1024**2
# the admin's min_mem for `hungry` (too low: its start needs HUNGRY_START), so validation accepts it
TOO_SMALL = 256 * 1024**2
# touches HUNGRY_START bytes, then becomes the usual server with the spawner's arguments
HUNGRY_CMD = ["python3", "-c", f"import os, sys; ballast = b'x' * {HUNGRY_START};"
              " os.execvp('jupyterhub-singleuser', ['jupyterhub-singleuser', *sys.argv[1:]])"]


@pytest.fixture(scope="module")
def hungry_image(images):
    """The lab image whose start needs HUNGRY_START first; removed afterwards."""
    client = docker.APIClient()
    tag = f"{OOM_STACK}-hungry-lab:latest"
    dockerfile = f"FROM {images['lab-base']}\nCMD {json.dumps(HUNGRY_CMD)}\n"
    for step in client.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, decode=True):
        assert "error" not in step, step
    yield tag
    client.remove_image(tag, force=True)


@pytest.fixture(scope="module")
def hub(images, hungry_image, tmp_path_factory):
    spawner = {
        "environments": [{"slug": "python", "display_name": "Python", "image": images["lab-base"],
                          "default": True},
                         {"slug": "hungry", "display_name": "Hungry", "image": hungry_image,
                          "min_mem": str(TOO_SMALL)}],
        "role_policies": {ROLE: {"max_cpu": 1, "max_mem": "2G", "max_servers": 1}},
        "poll_interval": 2,  # notice a dead server within seconds (JupyterHub's default: 30 s)
        "log_tail_timeout": 2,
    }
    settings = stack_settings(OOM_STACK, images, spawner, tmp_path_factory.mktemp("oom-state"))
    client = deploy_stack(settings)
    yield client
    remove_stack(settings)


def spawn_until_failed(hub, user: str, options: dict) -> requests.Response:
    """POST the spawn; when JupyterHub answers 202 (slower than its 10 s slow_spawn_timeout), wait
    for the spawn to end in the background."""
    response = hub.spawn(user, options)
    deadline = time.monotonic() + 180
    while response.status_code == 202 and time.monotonic() < deadline:
        model = hub.server_model(user)
        if model is None or not model["pending"]:
            break
        time.sleep(0.2)
    return response


def test_spawn_that_runs_out_of_memory_while_starting_says_so(hub, user_name):
    hub.create_user(user_name, [ROLE])
    assert MIN_MEM <= TOO_SMALL < min(HUNGRY_START, DEFAULT_MIN_MEM)
    # the environment's minimum did not suffice: the message asks for more than the limit that failed
    suggestion = suggested_memory(TOO_SMALL, TOO_SMALL)
    assert suggestion > TOO_SMALL
    expected = (f"Your server ran out of memory at {format_memory(TOO_SMALL)};"
                f" choose at least {format_memory(suggestion)}.")
    # a loaded machine can make JupyterHub answer 202 before the failure: the progress stream
    # then carries it, and the spawn is tried again for the REST answer
    for _ in range(3):
        response = spawn_until_failed(hub, user_name, {"environment": "hungry", "mem_limit": str(TOO_SMALL)})
        events = hub.progress_events(user_name)  # after a failure: JupyterHub's final event
        assert events and events[-1].get("failed"), events
        assert expected in events[-1]["message"], events  # JupyterHub wraps it: "Spawn failed: HTTP 500: ..."
        assert hub.user_services(user_name) == []
        if response.status_code != 202:
            break
    assert response.status_code == 500, response.text
    assert response.json()["message"] == expected


def test_server_at_the_default_minimum_runs_a_session(hub, user_name):
    """The measured default, with the hub's real command (jupyterhub-singleuser): a kernel runs a cell."""
    hub.create_user(user_name, [ROLE])
    r = hub.spawn(user_name, {"environment": "python", "mem_limit": str(DEFAULT_MIN_MEM)})
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready(user_name)
    base = f"{hub.url}{model['url']}"
    headers = {"Authorization": f"token {hub.token}"}
    assert requests.get(f"{base}lab", headers=headers, timeout=30).status_code == 200
    output = asyncio.run(run_cell(start_kernel(base, headers), headers, "print(sum(range(10**6)))"))
    assert output.strip() == str(sum(range(10**6)))
    assert hub.server_model(user_name)["ready"]
    hub.stop(user_name)


def test_server_oom_killed_later_is_named_in_the_hub_log(hub, user_name):
    hub.create_user(user_name, [ROLE])
    limit = DEFAULT_MIN_MEM
    r = hub.spawn(user_name, {"environment": "python", "mem_limit": str(limit)})
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready(user_name)
    # an upload of 3/4 of the limit: the server process itself buffers it (then joins the chunks:
    # twice) and is the one OOM-killed; a kernel allocating would be killed alone, the server living
    # on. Below Jupyter's max_body_size (512 MiB), which would refuse it unread.
    content = b"A" * min(limit * 3 // 4, 480 * 1024**2)
    body = b'{"type": "file", "format": "base64", "content": "' + content + b'"}'
    try:
        requests.put(f"{hub.url}{model['url']}api/contents/big.bin", data=body, timeout=120,
                     headers={"Authorization": f"token {hub.token}", "Content-Type": "application/json"})
    except requests.RequestException:
        pass  # the server died mid-request: that is the point
    line = (f"server of user {user_name} ran out of memory (OOM-killed) at {format_memory(limit)};"
            f" the environment's minimum is {format_memory(DEFAULT_MIN_MEM)}")
    deadline = time.monotonic() + 120
    while line not in hub_logs(OOM_STACK) and time.monotonic() < deadline:
        time.sleep(1)
    assert line in hub_logs(OOM_STACK)
    assert hub_logs(OOM_STACK).count(line) == 1
    while hub.server_model(user_name) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert hub.server_model(user_name) is None  # the hub saw the server stop
    # JupyterHub does not call stop() for a server its poll found dead: the spawner's poll removed it
    assert hub.user_services(user_name) == []


def test_process_oom_killed_inside_a_running_server_is_not_reported_as_the_servers(hub, user_name):
    """A process that outgrows the limit (as a kernel can) is killed alone; the server lives on."""
    hub.create_user(user_name, [ROLE])
    r = hub.spawn(user_name, {"environment": "python", "mem_limit": str(DEFAULT_MIN_MEM)})
    assert r.status_code in (201, 202), r.text
    model = hub.wait_ready(user_name)
    service = hub.only_service(user_name)
    client = docker.APIClient()
    container = server_container(client, service["Spec"]["Name"])
    exit_code, output = run_in(client, container, ["python3", "-c", f"ballast = b'x' * {DEFAULT_MIN_MEM}"])
    assert exit_code == 137, output  # the OOM killer took the allocating process
    status = requests.get(f"{hub.url}{model['url']}api/status", timeout=30,
                          headers={"Authorization": f"token {hub.token}"})
    assert status.status_code == 200, status.text
    # the hub's own poll (every 2 s, logged at DEBUG) sees the server running twice more
    polled = f"Service {service['ID'][:7]} status"
    seen = hub_logs(OOM_STACK).count(polled)
    deadline = time.monotonic() + 120
    while hub_logs(OOM_STACK).count(polled) < seen + 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    logs = hub_logs(OOM_STACK)
    assert logs.count(polled) >= seen + 2
    assert f"server of user {user_name} " not in logs
    assert hub.server_model(user_name)["ready"]
    hub.stop(user_name)
