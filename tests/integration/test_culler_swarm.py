"""Idle servers stop on the real swarm: jupyterhub-idle-culler, run by the hub as platform.yaml's `culler:` says.

The session's stack, its hub redeployed for this module with a platform.yaml whose culler stops servers
idle for TIMEOUT seconds and looks every EVERY seconds (the hub reads `culler:` when it starts, so a change
needs a hub restart, not a new stack). The module runs after every other test (the `redeploys_hub` marker,
tests/integration/conftest.py): no other test's servers are culled, and the stack needs no restoring.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from mlops_hub.deploy import swarmread
from mlops_hub.deploy.progress import wait_for_services
from mlops_hub.deploy.stack import StackSettings, deploy, wait_for_hub

from .own_stack import hub_logs, run_in, server_container

pytestmark = [pytest.mark.swarm, pytest.mark.redeploys_hub]

TIMEOUT = 30
EVERY = 5
SERVICE = "idle-culler"
# the culler README's four scopes, as the hub expands them (read:servers and list:users include read:users:name)
CULLER_SCOPES = {"list:users", "read:users:activity", "read:servers", "delete:servers", "read:users:name"}


def redeploy_hub(settings: StackSettings, platform: Path) -> None:
    """Deploy the stack with another platform.yaml: only the hub's config changes, so only the hub restarts."""
    changed = dataclasses.replace(settings, platform_config=platform)
    deploy(changed)
    def observe_hub():  # `up`'s reader: the earlier hub task no longer counts once the spec names the new config
        hub = [s for s in swarmread.stack_services(settings.stack) if s["Spec"]["Name"] == f"{settings.stack}_hub"]
        return swarmread.observe_services(hub, lambda s: "hub")

    wait_for_services(settings.stack, observe_hub, swarmread.last_log_lines, budget=300, out=sys.stderr)
    wait_for_hub(changed)


@pytest.fixture(scope="module")
def hub(hub, stack_settings, tmp_path_factory):
    """The session's hub, with a culler of TIMEOUT/EVERY seconds while this module runs."""
    platform = yaml.safe_load(stack_settings.platform_config.read_text())
    culling = tmp_path_factory.mktemp("cull") / "platform.yaml"
    culling.write_text(yaml.safe_dump({**platform, "culler": {"timeout": f"{TIMEOUT}s", "every": f"{EVERY}s"}}))
    redeploy_hub(stack_settings, culling)
    return hub


def start(hub, user: str) -> dict:
    hub.create_user(user, ["analysts"])  # a role of the session's platform.yaml (one server, 0.5 CPU)
    r = hub.spawn(user)
    assert r.status_code in (201, 202), r.text
    return hub.wait_ready(user)


def report_activity(hub, user: str, headers: dict[str, str]) -> None:
    """What jupyterhub-singleuser sends the hub when its user works: now, for the user and the server."""
    now = datetime.now(timezone.utc).isoformat()
    r = hub.api("POST", f"/users/{user}/activity", headers=headers,
                json={"last_activity": now, "servers": {"": {"last_activity": now}}})
    assert r.status_code == 200, r.text  # JupyterHub answers with no body


def test_an_idle_server_stops_and_an_active_one_keeps_running(hub, user_name):
    active, idle = f"{user_name}-a", f"{user_name}-i"
    # the active server starts first: without its activity it would be the first one stopped
    started_active = start(hub, active)["started"]
    started_idle = start(hub, idle)["started"]
    assert started_active <= started_idle
    headers = hub.user_headers(active, "activity, as the user's server reports it")

    deadline = time.monotonic() + 10 * TIMEOUT  # generous: stopping takes the culler's pass plus the stop
    while hub.server_model(idle) is not None and time.monotonic() < deadline:
        report_activity(hub, active, headers)
        time.sleep(1)
    assert hub.server_model(idle) is None, f"the idle server still runs: {hub.server_model(idle)}"
    assert hub.user_services(idle) == []  # its Swarm service is gone, as after the user's own Stop

    # two more of the culler's passes with the active user working
    for _ in range(2 * EVERY):
        report_activity(hub, active, headers)
        time.sleep(1)
    model = hub.server_model(active)
    assert model is not None and model["ready"] and not model["pending"], model
    assert len(hub.user_services(active)) == 1

    logs = hub_logs(hub.stack)
    assert f"Culling server {idle} (inactive for" in logs  # stopped by the culler, not by a crash
    assert f"Culling server {active} " not in logs
    hub.stop(active)


def test_the_culler_is_a_service_with_only_its_scopes(hub):
    r = hub.api("GET", f"/services/{SERVICE}")
    assert r.status_code == 200, r.text
    model = r.json()
    assert model["roles"] == [SERVICE] and model["admin"] is False
    assert model["command"][1:] == ["-m", "jupyterhub_idle_culler", f"--timeout={TIMEOUT}", f"--cull-every={EVERY}",
                                    "--max-age=0"]
    assert model["pid"] > 0  # running: the hub started it

    # the token the running culler holds, from its process's environment, as the hub handed it over
    docker = hub.docker
    container = server_container(docker, f"{hub.stack}_hub")
    code, environ = run_in(docker, container, ["cat", f"/proc/{model['pid']}/environ"])
    assert code == 0, environ
    token = dict(v.split("=", 1) for v in environ.split("\0") if "=" in v)["JUPYTERHUB_API_TOKEN"]
    whoami = hub.api("GET", "/user", headers={"Authorization": f"token {token}"})
    assert whoami.status_code == 200, whoami.text
    assert whoami.json()["kind"] == "service" and whoami.json()["name"] == SERVICE
    assert set(whoami.json()["scopes"]) == CULLER_SCOPES
    # no admin: it may not create a user
    refused = hub.api("POST", "/users/culler-made-me", headers={"Authorization": f"token {token}"})
    assert refused.status_code == 403, refused.text
    assert hub.api("GET", "/users/culler-made-me").status_code == 404
