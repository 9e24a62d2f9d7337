"""Scheduled notebooks against the real stack: Airflow 3.3 runs them with DockerSwarmOperator on the swarm.

One user's server writes the notebooks; the hub schedules them (lab endpoint, hub API); Airflow starts
each run as a Swarm service in the notebook's own image and limits; the user follows it and opens the
executed notebook. Nothing here is a double.
"""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import quote

import pytest
import requests

from mlops_hub.swarm.spec import fit_service_name
from tests.support.lab_session import kernel_channels_url, run_cell

pytestmark = pytest.mark.swarm

TRAIN = [
    ({"tags": ["parameters"]}, "alpha = 0.1\nnote = 'default'"),
    ({}, "import mlflow\nwith mlflow.start_run() as run:\n    mlflow.log_param('alpha', alpha)\n"
         "print('MLFLOW_RUN', run.info.run_id)"),
    ({}, "print('RESULT', alpha * 2, note)"),
]
FAILS = [({}, "print('before the error')"), ({}, "1 / 0")]
DONE = ("success", "failed")


def notebook(cells) -> dict:
    return {"type": "notebook", "content": {"nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "metadata": meta, "execution_count": None, "outputs": [], "source": src,
                   "id": f"c{i}"} for i, (meta, src) in enumerate(cells)]}}


class Lab:
    """One user with a running server and a folder of notebooks in their home."""

    def __init__(self, hub, name: str, groups=("analysts",)) -> None:
        self.hub, self.name = hub, name
        hub.create_user(name, list(groups))
        assert hub.spawn(name, {"environment": "python", "cpu_limit": 0.5}).status_code in (201, 202)
        self.base = f"{hub.url}{hub.wait_ready(name)['url']}"
        self.headers = hub.user_headers(name, "jobs test")
        self.folder = f"jobs-{uuid.uuid4().hex[:6]}"
        r = requests.put(f"{self.base}api/contents/{self.folder}", json={"type": "directory"},
                         headers=self.headers, timeout=30)
        assert r.status_code in (200, 201), r.text

    def put(self, name: str, cells) -> str:
        path = f"{self.folder}/{name}"
        r = requests.put(f"{self.base}api/contents/{path}", json=notebook(cells), headers=self.headers, timeout=30)
        assert r.status_code in (200, 201), r.text
        return path

    def read(self, path: str) -> dict:
        r = requests.get(f"{self.base}api/contents/{quote(path)}", headers=self.headers, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["content"]

    def jobs_api(self, method: str, path: str = "", **kwargs) -> requests.Response:
        return self.hub.api(method, f"/mlops/jobs{path}", headers=self.headers, **kwargs)


def wait_for_run(lab: Lab, job: str, run_id: str) -> tuple[dict, list[str], dict]:
    """Follow the run's log with continuation tokens until it ends; also catch its service while it runs."""
    lines: list[str] = []
    token = None
    service = {}
    for _ in range(900):
        found = [s for s in lab.hub.user_services(lab.name) if s["Spec"]["Labels"].get("mlops-hub.kind") == "job"]
        if found and not service:
            service = found[0]
        r = lab.jobs_api("GET", f"/{job}/runs/{quote(run_id, safe='')}")
        assert r.status_code == 200, r.text
        run = r.json()["run"]
        if run["tasks"]:
            r = lab.jobs_api("GET", f"/{job}/runs/{quote(run_id, safe='')}/log", params={"token": token} if token
                             else {})
            assert r.status_code == 200, r.text
            part = r.json()
            lines += part["lines"]
            token = part["continuation_token"] or token
        if run["state"] in DONE:
            r = lab.jobs_api("GET", f"/{job}/runs/{quote(run_id, safe='')}/log")
            return run, lines + ["--- full log ---"] + r.json()["lines"], service
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not end: {run}")


@pytest.fixture(scope="module")
def alice(hub, airflow_ready):
    lab = Lab(hub, f"alice-jobs-{uuid.uuid4().hex[:4]}")
    yield lab
    hub.stop(lab.name)


def test_a_notebook_scheduled_from_its_server_runs_on_the_swarm_in_its_environment(hub, alice, stack_settings, images):
    path = alice.put("train.ipynb", TRAIN)
    # one call from the server: the lab endpoint, with the notebook's Contents-API path
    r = requests.post(f"{alice.base}mlops-hub/jobs", headers=alice.headers, timeout=180, json={
        "path": path, "schedule": "0 3 * * *", "parameters": {"alpha": 0.5}, "cpu_limit": 0.5, "mem_limit": "1G"})
    assert r.status_code == 201, r.text
    job = r.json()["job"]
    assert (job["owner"], job["notebook"], job["schedule"], job["paused"]) == (alice.name, path, "0 3 * * *", False)
    assert job["in_airflow"] and job["next_run"] and job["airflow_url"] == f"/airflow/dags/{job['id']}"

    # run now: the run's parameters override the schedule's; a Jinja-looking value stays text
    r = alice.jobs_api("POST", f"/{job['id']}/runs", json={"parameters": {"alpha": 2, "note": "{{ 7 * 7 }}"}})
    assert r.status_code == 201, r.text
    run_id = r.json()["run"]["run_id"]
    run, log, service = wait_for_run(alice, job["id"], run_id)
    text = "\n".join(log)
    assert run["state"] == "success", text[-3000:]
    assert "RESULT 4 {{ 7 * 7 }}" in text  # the cell's output, followed in the task log

    # it ran as a Swarm service with the requested limits, the environment's image and the team labels
    assert service, "the job's Swarm service was never seen"
    spec = service["Spec"]
    limits = spec["TaskTemplate"]["Resources"]["Limits"]
    assert (limits["NanoCPUs"], limits["MemoryBytes"]) == (500_000_000, 1024**3)
    labels = spec["Labels"]
    assert (labels["mlops-hub.user"], labels["mlops-hub.role"], labels["mlops-hub.environment"]) == \
        (alice.name, "analysts", "python")
    container = spec["TaskTemplate"]["ContainerSpec"]
    # the environment's image by digest in the stack's registry: any node can pull it, and it is the same bits
    assert container["Image"] == stack_settings.published.pins[images["lab-base"]]
    image_id = hub.docker.inspect_image(images["lab-base"])["Id"]
    env = dict(e.split("=", 1) for e in container.get("Env", []))
    assert env["JPY_SESSION_NAME"].endswith(f"/{path}") and "JUPYTERHUB_API_TOKEN" not in env
    assert any(s["File"]["Name"] == "jupyterhub_api_token" and s["File"]["Mode"] == 0o400
               for s in container.get("Secrets", []))
    assert not [s for s in hub.user_services(alice.name) if s["Spec"]["Labels"].get("mlops-hub.kind") == "job"]

    # the executed notebook, next to the source, with outputs and the injected parameters
    assert run["output_notebook"].startswith(f"{alice.folder}/runs/train-")
    executed = alice.read(run["output_notebook"])
    sources = [c["source"] for c in executed["cells"]]
    assert any("alpha = 2" in s for s in sources)
    outputs = json.dumps([c.get("outputs") for c in executed["cells"]])
    assert "RESULT 4" in outputs

    # the MLflow run it logged is one of "the runs of this notebook", tagged with the job and the image
    mlflow_run = text.split("MLFLOW_RUN", 1)[1].split()[0]
    r = requests.get(f"{alice.base}mlops-hub/mlflow/runs", params={"path": path}, headers=alice.headers, timeout=60)
    assert r.status_code == 200, r.text
    found = [x for x in r.json()["runs"] if x["run_id"] == mlflow_run]
    assert found and found[0]["environment"] == "python"
    r = hub.mlflow_session(alice.name).get(f"{hub.mlflow_api}/runs/get", params={"run_id": mlflow_run}, timeout=30)
    tags = {t["key"]: t["value"] for t in r.json()["run"]["data"]["tags"]}
    assert tags["mlops_hub.job"] == job["id"] and tags["mlops_hub.job_run"] == run_id
    assert tags["mlops_hub.image_digest"] == image_id and tags["mlflow.user"] == alice.name


async def test_one_call_in_the_notebook_schedules_the_notebook_itself(alice):
    path = alice.put("itself.ipynb", TRAIN)
    r = requests.post(f"{alice.base}api/sessions", headers=alice.headers, timeout=60, json={
        "path": path, "name": "itself.ipynb", "type": "notebook", "kernel": {"name": "python3"}})
    assert r.status_code == 201, r.text
    ws_url = kernel_channels_url(alice.base, r.json()["kernel"]["id"])
    output = await run_cell(ws_url, alice.headers, (
        "from mlops_hub.lab import schedule_notebook, notebook_jobs\n"
        "job = schedule_notebook('@daily', parameters={'alpha': 3})\n"
        "print('JOB', job['id'], job['notebook'], job['schedule'], job['cpu_limit'], job['environment'])\n"
        "print('LISTED', [j['id'] for j in notebook_jobs()].count(job['id']))"))
    job_id = output.split("JOB", 1)[1].split()[0]
    # the kernel's own notebook, this server's environment and size, with the user's own token
    assert f"JOB {job_id} {path} @daily 0.5 python" in output, output
    assert "LISTED 1" in output
    assert alice.jobs_api("GET", f"/{job_id}").json()["job"]["parameters"] == {"alpha": 3}


def test_a_failing_notebook_ends_failed_with_its_traceback_in_the_log(alice):
    path = alice.put("fails.ipynb", FAILS)
    r = alice.jobs_api("POST", json={"notebook": path})
    assert r.status_code == 201, r.text
    job = r.json()["job"]
    assert job["schedule"] is None  # trigger-only
    r = alice.jobs_api("POST", f"/{job['id']}/runs")
    assert r.status_code == 201, r.text
    run, log, _ = wait_for_run(alice, job["id"], r.json()["run"]["run_id"])
    text = "\n".join(log)
    assert run["state"] == "failed"
    assert "ZeroDivisionError" in text and "before the error" in text


def test_rescheduling_keeps_one_dag_and_one_spec(hub, alice):
    path = alice.put("again.ipynb", TRAIN)
    first = alice.jobs_api("POST", json={"notebook": path, "schedule": "@daily"})
    assert first.status_code == 201, first.text
    again = alice.jobs_api("POST", json={"notebook": path, "schedule": "30 4 * * 1-5", "paused": True})
    assert again.status_code == 200, again.text
    job = again.json()["job"]
    assert job["id"] == first.json()["job"]["id"] and (job["schedule"], job["paused"]) == ("30 4 * * 1-5", True)
    mine = [j for j in alice.jobs_api("GET").json()["jobs"] if j["notebook"] == path]
    assert len(mine) == 1
    files = hub_exec(hub, f"ls /srv/airflow-dags/jobs | grep -c '^{job['id']}\\.' || true")
    assert files.strip() == "2"  # its .json and its .py stub, nothing else
    note = f"mlops-hub notebook job {job['id']}"
    tokens = hub.api("GET", f"/users/{quote(alice.name)}/tokens").json()["api_tokens"]
    job_tokens = [t for t in tokens if t["note"] == note]
    assert len(job_tokens) == 1  # the old job token was revoked
    # MLflow, pushing metrics, and what every token has: its owner's name and groups (identify scopes)
    assert sorted(job_tokens[0]["scopes"]) == ["access:services!service=mlflow",
                                               "access:services!service=prometheus",
                                               f"read:users:groups!user={alice.name}",
                                               f"read:users:name!user={alice.name}"]
    assert job_tokens[0]["expires_at"] is None


def test_another_user_can_neither_see_nor_run_nor_remove_a_job(hub, alice):
    path = alice.put("private.ipynb", TRAIN)
    r = alice.jobs_api("POST", json={"notebook": path})
    assert r.status_code == 201, r.text
    job = r.json()["job"]["id"]
    bob = f"bob-jobs-{uuid.uuid4().hex[:4]}"
    hub.create_user(bob, ["analysts"])
    as_bob = hub.user_headers(bob, "jobs test")
    for method, sub in [("GET", ""), ("POST", "/runs"), ("GET", "/runs"), ("DELETE", ""), ("PATCH", "")]:
        body = {"paused": True} if method == "PATCH" else {}
        r = hub.api(method, f"/mlops/jobs/{job}{sub}", headers=as_bob, json=body)
        assert r.status_code == 403, (method, sub, r.text)
        assert "belongs to another user" in r.json()["message"]
    assert job not in [j["id"] for j in hub.api("GET", "/mlops/jobs", headers=as_bob).json()["jobs"]]
    # bob's notebook of the same path is bob's own job, never alice's
    r = hub.api("POST", "/mlops/jobs", headers=as_bob, json={"notebook": path})
    assert r.status_code in (201, 409, 504), r.text
    if r.status_code == 201:
        assert r.json()["job"]["id"] != job and r.json()["job"]["owner"] == bob
        assert hub.api("DELETE", f"/mlops/jobs/{r.json()['job']['id']}", headers=as_bob).status_code == 204
    assert alice.jobs_api("GET", f"/{job}").status_code == 200
    # a hub admin sees every user's jobs, and acts on them as their owner's
    as_admin = hub.user_headers("admin", "jobs test")
    assert job in [j["id"] for j in hub.api("GET", "/mlops/jobs", headers=as_admin, params={"all": "1"}).json()["jobs"]]
    r = hub.api("PATCH", f"/mlops/jobs/{job}", headers=as_admin, json={"paused": True})
    assert r.status_code == 200 and r.json()["job"]["paused"] is True and r.json()["job"]["owner"] == alice.name
    assert hub.api("DELETE", f"/mlops/jobs/{job}", headers=as_admin).status_code == 204
    assert alice.jobs_api("GET", f"/{job}").status_code == 404


def test_a_full_team_pool_refuses_the_run_with_the_pools_message(hub, airflow_ready):
    lab = Lab(hub, f"carol-jobs-{uuid.uuid4().hex[:4]}", groups=("one-slot",))
    try:
        path = lab.put("batch.ipynb", TRAIN)
        r = lab.jobs_api("POST", json={"notebook": path, "cpu_limit": 0.5})
        assert r.status_code == 201, r.text
        job = r.json()["job"]["id"]
        # the team's one server slot is taken by carol's own server
        r = lab.jobs_api("POST", f"/{job}/runs")
        assert r.status_code == 403, r.text
        assert r.json()["message"].startswith("Team one-slot runs 1 of 1 servers; you asked for 1 more.")
        assert lab.jobs_api("GET", f"/{job}/runs").json()["runs"] == []
    finally:
        hub.stop(lab.name)


@pytest.mark.parametrize(("body", "field"), [
    ({"schedule": "61 * * * *"}, "Invalid schedule: minute field"),
    ({"environment": "nope"}, "Invalid environment: 'nope' is not available to you"),
    ({"notebook": "../../etc/x.ipynb"}, "Invalid notebook: must stay inside your home folder"),
    ({"parameters": "{not json"}, "Invalid parameters: is not JSON"),
    ({"cpu_limit": 64}, "Invalid cpu_limit: 64 is outside the allowed range"),
    ({"image": "evil/image"}, "Invalid image: unknown field"),
])
def test_bad_requests_name_the_field_and_leave_nothing_behind(hub, alice, body, field):
    before = (hub_exec(hub, "ls /srv/airflow-dags/jobs 2>/dev/null || true"), _job_secrets(hub),
              _token_notes(hub, alice.name))
    r = alice.jobs_api("POST", json={"notebook": f"{alice.folder}/train.ipynb", **body})
    assert r.status_code == 400, r.text
    assert r.json()["message"].startswith(field), r.json()["message"]
    assert (hub_exec(hub, "ls /srv/airflow-dags/jobs 2>/dev/null || true"), _job_secrets(hub),
            _token_notes(hub, alice.name)) == before


def test_deleting_a_job_removes_its_dag_files_token_and_secret(hub, alice):
    path = alice.put("removed.ipynb", TRAIN)
    r = alice.jobs_api("POST", json={"notebook": path})
    assert r.status_code == 201, r.text
    job = r.json()["job"]["id"]
    assert len(_secrets_of_job(hub, job)) == 1
    secrets_before = _job_secrets(hub)
    assert alice.jobs_api("DELETE", f"/{job}").status_code == 204
    assert alice.jobs_api("GET", f"/{job}").status_code == 404
    assert hub_exec(hub, f"ls /srv/airflow-dags/jobs | grep -c '^{job}\\.' || true").strip() == "0"
    assert f"mlops-hub notebook job {job}" not in _token_notes(hub, alice.name)
    assert _secrets_of_job(hub, job) == []
    assert len(_job_secrets(hub)) == len(secrets_before) - 1


def hub_exec(hub, command: str) -> str:
    """A shell command in the hub's container (the DAG folder is a volume only the hub writes)."""
    task = hub.docker.tasks(filters={"service": f"{hub.stack}_hub", "desired-state": "running"})[0]
    exec_id = hub.docker.exec_create(task["Status"]["ContainerStatus"]["ContainerID"], ["sh", "-c", command])
    return hub.docker.exec_start(exec_id).decode()


def _job_secrets(hub) -> list[str]:
    return sorted(s["Spec"]["Name"] for s in hub.docker.secrets(filters={"label": [f"mlops-hub.prefix={hub.prefix}"]})
                  if "-job-" in s["Spec"]["Name"])


def _secrets_of_job(hub, job: str) -> list[str]:
    key = fit_service_name(f"{hub.prefix}-job-{job}")
    return [s["Spec"]["Name"] for s in hub.docker.secrets(filters={"label": [f"mlops-hub.service={key}"]})]


def _token_notes(hub, user: str) -> list[str]:
    return sorted(t["note"] or "" for t in hub.api("GET", f"/users/{quote(user)}/tokens").json()["api_tokens"])
