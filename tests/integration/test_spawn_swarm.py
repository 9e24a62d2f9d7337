"""MLOpsSwarmSpawner on the real swarm, with the hub deployed as a Swarm service."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
import requests

from .dockerlogs import service_container_logs

pytestmark = pytest.mark.swarm

GiB = 1024**3


def test_rest_spawn_runs_with_requested_limits_and_reservations(hub, user_name):
    hub.create_user(user_name, ["scientists"])
    r = hub.spawn(user_name, {"environment": "python", "cpu_limit": 1.5, "mem_limit": "3G"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user_name)

    service = hub.only_service(user_name)
    spec = service["Spec"]
    resources = spec["TaskTemplate"]["Resources"]
    assert resources["Limits"] == {"NanoCPUs": 1_500_000_000, "MemoryBytes": 3 * GiB}
    # the test platform reserves a fifth of the CPU and a quarter of the memory
    assert resources["Reservations"] == {"NanoCPUs": 300_000_000, "MemoryBytes": 3 * GiB // 4}
    assert spec["TaskTemplate"]["RestartPolicy"]["Condition"] == "none"
    assert spec["EndpointSpec"]["Mode"] == "dnsrr"
    labels = spec["Labels"]
    assert labels["mlops-hub.user"] == user_name
    assert labels["mlops-hub.environment"] == "python"
    assert labels["mlops-hub.role"] == "scientists"
    assert labels["mlops-hub.server-name"] == ""
    env = dict(e.split("=", 1) for e in spec["TaskTemplate"]["ContainerSpec"]["Env"])
    assert env["MEM_LIMIT"] == str(3 * GiB)
    assert float(env["CPU_LIMIT"]) == 1.5
    assert env["MLOPS_ENVIRONMENT"] == "python"

    # the container runs as a non-root user, and the server answers through the proxy
    task = hub.docker.tasks(filters={"service": spec["Name"], "desired-state": "running"})[0]
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    uid = hub.docker.exec_start(hub.docker.exec_create(container, ["id", "-u"])).decode().strip()
    assert uid != "0"

    # the hub API token is a Swarm secret for that user only, in no spec, env or hub log
    token_file = "/run/secrets/jupyterhub_api_token"
    token = hub.docker.exec_start(hub.docker.exec_create(container, ["cat", token_file])).decode().strip()
    assert len(token) >= 32
    mode = hub.docker.exec_start(hub.docker.exec_create(container, ["stat", "-c", "%a %u", token_file]))
    assert mode.decode().split() == ["400", uid]
    assert "JUPYTERHUB_API_TOKEN_FILE" in env and "JUPYTERHUB_API_TOKEN" not in env
    assert token not in json.dumps(hub.docker.inspect_service(spec["Name"]))
    assert token not in service_container_logs(hub.docker, f"{hub.stack}_hub")
    status = hub.api("GET", "/users/" + user_name).json()["servers"][""]
    lab = requests.get(f"{hub.url}{status['url']}api/status",
                       headers={"Authorization": f"token {hub.token}"}, timeout=10)
    assert lab.status_code == 200, lab.text

    hub.stop(user_name)
    assert hub.user_services(user_name) == []


def test_token_file_is_the_servers_users_only_when_the_image_names_its_user(hub, user_name):
    """An image with `USER jovyan` (a name): the token is still 0400 for uid 1000, not 0444."""
    hub.create_user(user_name, ["scientists"])
    r = hub.spawn(user_name, {"environment": "named-user", "cpu_limit": 1, "mem_limit": "1G"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user_name)
    spec = hub.only_service(user_name)["Spec"]
    assert spec["TaskTemplate"]["ContainerSpec"].get("User") is None  # the image's own USER, as before
    (secret,) = spec["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert (secret["File"]["UID"], secret["File"]["GID"], secret["File"]["Mode"]) == ("1000", "100", 0o400)
    task = hub.docker.tasks(filters={"service": spec["Name"], "desired-state": "running"})[0]
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    token_file = "/run/secrets/jupyterhub_api_token"
    mode = hub.docker.exec_start(hub.docker.exec_create(container, ["stat", "-c", "%a %u %U", token_file]))
    assert mode.decode().split() == ["400", "1000", "jovyan"]
    # another uid in the same container cannot read it
    other = hub.docker.exec_create(container, ["cat", token_file], user="4242")
    assert b"Permission denied" in hub.docker.exec_start(other)
    hub.stop(user_name)




def _spawn_form(session: requests.Session, hub) -> tuple[str, str]:
    """The spawn page, and the URL its form posts to (it carries the XSRF token)."""
    page = session.get(f"{hub.url}/hub/spawn", timeout=10)
    assert page.status_code == 200, page.text[:500]
    action = re.search(r'id="spawn_form"\s+action="([^"]+)"', page.text).group(1)
    return page.text, hub.url + action.replace("&amp;", "&")


def test_form_offers_only_allowed_environments_and_spawns_with_chosen_size(hub, user_name):
    password = hub.account(user_name, ["analysts"])
    session = hub.login(user_name, password)
    form, action = _spawn_form(session, hub)
    assert 'value="python"' in form
    assert "python-restricted" not in form and 'value="broken"' not in form
    assert 'max="1"' in form and "up to <strong>1 CPUs</strong>" in form
    assert "<script" not in form.split('id="spawn_form"')[-1].split("</form>")[0]

    r = session.post(action, data={"environment": "python", "cpu_limit": "0.75", "mem_limit": "1.5"},
                     timeout=60)
    assert r.status_code == 200, r.text[:500]
    hub.wait_ready(user_name)
    limits = hub.only_service(user_name)["Spec"]["TaskTemplate"]["Resources"]["Limits"]
    assert limits == {"NanoCPUs": 750_000_000, "MemoryBytes": int(1.5 * GiB)}
    hub.stop(user_name)


def test_form_rejects_bad_input_with_the_field_named_and_creates_nothing(hub, user_name):
    password = hub.account(user_name, ["analysts"])
    session = hub.login(user_name, password)
    _, action = _spawn_form(session, hub)
    r = session.post(action, data={"environment": "python", "cpu_limit": "3", "mem_limit": "1"}, timeout=60)
    assert r.status_code == 400
    assert "cpu_limit" in r.text and "0.1 to 1 CPUs" in r.text
    assert 'name="environment"' in r.text  # the form is shown again
    assert hub.user_services(user_name) == []


BAD_OPTIONS = [
    ({"environment": "nope"}, "environment"),
    ({"environment": "mlops-hub/lab-base:latest"}, "environment"),
    ({"environment": "python-restricted"}, "environment"),  # exists, but not for analysts
    ({"environment": 3}, "environment"),
    ({"cpu_limit": 2}, "cpu_limit"),  # over the analysts' limit of 1
    ({"cpu_limit": 0}, "cpu_limit"),
    ({"cpu_limit": -1}, "cpu_limit"),
    ({"cpu_limit": "NaN"}, "cpu_limit"),
    ({"cpu_limit": "inf"}, "cpu_limit"),
    ({"cpu_limit": "lots"}, "cpu_limit"),
    ({"cpu_limit": True}, "cpu_limit"),
    ({"cpu_limit": [1]}, "cpu_limit"),
    ({"mem_limit": "1e30"}, "mem_limit"),
    ({"mem_limit": "3G"}, "mem_limit"),
    ({"mem_limit": 0}, "mem_limit"),
    ({"mem_limit": "-1G"}, "mem_limit"),
    ({"mem_limit": {"G": 1}}, "mem_limit"),
    ({"image": "debian:bookworm-slim"}, "image"),
    ({"environment": "python", "cmd": "rm -rf /"}, "cmd"),
]


@pytest.mark.parametrize("options,field", BAD_OPTIONS, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_OPTIONS)])
def test_bad_user_options_get_400_naming_the_field_and_leave_no_service(hub, options, field):
    user = "bad-input"
    hub.create_user(user, ["analysts"])
    r = hub.spawn(user, options)
    assert r.status_code == 400, r.text
    assert field in r.json()["message"]
    assert hub.user_services(user) == []
    assert hub.server_model(user) is None or not hub.server_model(user)["ready"]


def test_saved_options_are_validated_again_against_todays_policy(hub, user_name):
    hub.create_user(user_name, ["analysts"])
    # options saved by an earlier spawn, now over the limit
    r = hub.api("PATCH", f"/users/{user_name}/server", json={"user_options": {"cpu_limit": 8}})
    if r.status_code == 405:  # older hubs: set them through a (refused) spawn instead
        pytest.fail("hub does not support PATCH of user_options")
    assert r.status_code == 200, r.text
    r = hub.spawn(user_name, None)
    assert r.status_code == 400, r.text
    assert "cpu_limit" in r.json()["message"]
    assert hub.user_services(user_name) == []


def test_user_in_no_role_is_refused_and_told_whom_to_ask(hub, user_name):
    hub.create_user(user_name, [])
    r = hub.spawn(user_name, {})
    assert r.status_code == 403, r.text
    assert "the test admins (#mlops-test)" in r.json()["message"]
    assert hub.user_services(user_name) == []


def test_unschedulable_request_fails_in_seconds_with_swarm_reason(hub, user_name):
    """No node has the room: refused before any service is created, in Swarm's shape of words."""
    hub.create_user(user_name, ["big"])
    events: list[dict] = []
    # 16 CPUs is within the role's limit; its reservation (3.2 CPUs) fits no node here
    result: dict = {}

    def post():
        result["response"] = hub.spawn(user_name, {"environment": "python", "cpu_limit": 16})

    poster = threading.Thread(target=post)
    poster.start()
    for _ in range(100):
        model = hub.server_model(user_name)
        if model and model["pending"] == "spawn":
            events = hub.progress_events(user_name)
            break
        time.sleep(0.05)
    poster.join()
    response = result["response"]
    assert response.status_code >= 400, response.text
    assert "insufficient resources" in response.json()["message"]
    # what is missing, named: the reservation against the most any node has free
    assert re.search(r"It reserves 3\.2 CPUs and [\d.]+[MG]; the most free on any node is [\d.]+ CPUs and [\d.]+[MG]:"
                     r" not enough CPU\.", response.json()["message"]), response.json()["message"]
    # the refusal may come before the stream is open (then the POST's answer carries it, above): when open, it too
    if events:
        messages = " | ".join(e.get("message", "") for e in events)
        assert "no node has room for it now (insufficient resources" in messages, messages
        assert any(e.get("failed") for e in events), events
    assert hub.user_services(user_name) == []


def test_an_unplaceable_spawn_is_refused_naming_cpu_while_another_starts(hub, user_name):
    fits, too_big = f"{user_name}-a", f"{user_name}-b"
    hub.create_user(fits, ["analysts"])
    hub.create_user(too_big, ["big"])
    responses: dict = {}

    def post(user, options):
        responses[user] = hub.spawn(user, options)

    threads = [threading.Thread(target=post, args=(fits, {"environment": "python"})),
               threading.Thread(target=post, args=(too_big, {"environment": "python", "cpu_limit": 16}))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = responses[too_big]
    assert refused.status_code >= 400, refused.text
    message = refused.json()["message"]
    assert message.startswith("Docker Swarm cannot place your server: no node has room for it now (insufficient"), \
        message
    assert "not enough CPU." in message and "Ask for fewer CPUs" in message, message
    assert hub.user_services(too_big) == []
    assert responses[fits].status_code in (201, 202), responses[fits].text
    hub.wait_ready(fits)
    hub.stop(fits)


def test_the_hub_weighs_more_than_a_server_on_the_cpu(hub, user_name):
    hub.create_user(user_name, ["analysts"])
    r = hub.spawn(user_name, {"environment": "python"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user_name)
    name = hub.only_service(user_name)["Spec"]["Name"]
    task = hub.docker.tasks(filters={"service": name, "desired-state": "running"})[0]
    server = hub.docker.inspect_container(task["Status"]["ContainerStatus"]["ContainerID"])
    assert server["HostConfig"]["CpuShares"] in (0, 1024)  # Docker's default (0 means 1024)
    hub_task = hub.docker.tasks(filters={"service": f"{hub.stack}_hub", "desired-state": "running"})[0]
    hub_container = hub.docker.inspect_container(hub_task["Status"]["ContainerStatus"]["ContainerID"])
    # jupyterhub_config.py raises the weight of its stack's containers on its node (mlops_hub.swarm.cpu_weight)
    assert hub_container["HostConfig"]["CpuShares"] == 8192
    proxy_task = hub.docker.tasks(filters={"service": f"{hub.stack}_proxy", "desired-state": "running"})[0]
    proxy = hub.docker.inspect_container(proxy_task["Status"]["ContainerStatus"]["ContainerID"])
    assert proxy["HostConfig"]["CpuShares"] == 8192
    hub.stop(user_name)


def test_the_containers_together_weigh_more_on_the_cpu_than_one_host_process(hub):
    """Without systemd, dockerd's containers share one cgroup, which weighs as one host process unless host-setup
    raised it (scripts/host-setup.sh): else dockerd's own threads squeeze the hub in a storm."""
    hub_task = hub.docker.tasks(filters={"service": f"{hub.stack}_hub", "desired-state": "running"})[0]
    pid = hub.docker.inspect_container(hub_task["Status"]["ContainerStatus"]["ContainerID"])["State"]["Pid"]
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    cpu_path = next(re.match(r"\d+:[^:]*\bcpu\b[^:]*:(.*)", line) for line in lines
                    if re.match(r"\d+:[^:]*\bcpu\b[^:]*:", line)).group(1)
    if Path("/run/systemd/system").is_dir():
        assert "/system.slice/docker-" in cpu_path, cpu_path  # a scope of its own beside docker.service
    else:
        group = Path("/sys/fs/cgroup/cpu") / cpu_path.strip("/").rsplit("/", 1)[0]
        assert group.name == "docker", cpu_path
        assert (group / "cpu.shares").read_text().strip() == "8192"


def test_crashing_server_is_reported_not_restarted(hub, user_name):
    hub.create_user(user_name, ["scientists"])
    r = hub.spawn(user_name, {"environment": "broken", "cpu_limit": 0.5, "mem_limit": "512M"})
    if r.status_code == 202:
        # slower than the hub's slow_spawn_timeout (a loaded machine): the failure arrives as progress
        events = hub.progress_events(user_name)
        failed = [e for e in events if e.get("failed")]
        assert failed, events
        message = failed[-1]["message"]
    else:
        assert r.status_code >= 400, r.text
        message = r.json()["message"]
    assert "exit code" in message or "failed" in message, message
    assert hub.user_services(user_name) == []


def test_server_survives_hub_restart(hub, user_name, stack_settings):
    hub.create_user(user_name, ["analysts"])
    assert hub.spawn(user_name, {}).status_code in (201, 202)
    hub.wait_ready(user_name)
    before = hub.only_service(user_name)["ID"]
    hub.restart_hub(stack_settings)

    model = hub.wait_ready(user_name)
    assert hub.only_service(user_name)["ID"] == before
    # the server checks a token it has not seen with the new hub at once (mlops_hub.hub.dns)
    lab = hub.lab_status_with_a_new_token(user_name, model)
    assert lab.status_code == 200, lab.text
    hub.stop(user_name)
    assert hub.user_services(user_name) == []
