"""The lab extension inside a server spawned on the swarm, talking to the stack's MLflow."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from tests.support.lab_session import kernel_channels_url, run_cell

pytestmark = pytest.mark.swarm

TRAIN = """
import mlflow
mlflow.set_experiment("e2e-notebooks")
with mlflow.start_run() as run:
    mlflow.log_metric("accuracy", 0.91)
print("RUN", run.info.run_id)
"""


def _exec_in_server(hub, user: str, cmd: str) -> str:
    service = hub.only_service(user)["Spec"]["Name"]
    task = hub.docker.tasks(filters={"service": service, "desired-state": "running"})[0]
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    exec_id = hub.docker.exec_create(container, ["bash", "-c", cmd], user="1000:100")
    out = hub.docker.exec_start(exec_id).decode()
    assert hub.docker.exec_inspect(exec_id)["ExitCode"] == 0, out
    return out.strip()


def _put_notebook(base: str, headers: dict, folder: str, name: str, cell: dict) -> None:
    """A new folder in the user's home holding a one-cell notebook, through the contents API."""
    r = requests.put(f"{base}api/contents/{folder}", json={"type": "directory"}, headers=headers, timeout=10)
    assert r.status_code in (200, 201), r.text
    notebook = {"type": "notebook", "content": {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                                "cells": [{"cell_type": "code", "metadata": {}, **cell}]}}
    r = requests.put(f"{base}api/contents/{folder}/{name}", json=notebook, headers=headers, timeout=10)
    assert r.status_code in (200, 201), r.text


async def test_notebook_run_in_spawned_lab_records_notebook_commit_and_environment(hub, user_name):
    hub.create_user(user_name, ["analysts"])
    assert hub.spawn(user_name, {"environment": "python", "cpu_limit": 1}).status_code in (201, 202)
    model = hub.wait_ready(user_name)
    base = f"{hub.url}{model['url']}"
    headers = {"Authorization": f"token {hub.token}"}

    # a notebook in a git repository, committed, in the user's home (a new folder each run)
    project = f"project-{uuid.uuid4().hex[:8]}"
    _put_notebook(base, headers, project, "train.ipynb",
                  {"id": "train", "execution_count": None, "outputs": [], "source": TRAIN})
    commit = _exec_in_server(hub, user_name, (
        f"cd ~/{project} && git init -q -b main && git add train.ipynb"
        " && git -c user.name=Test -c user.email=test@example.org commit -qm 'train' && git rev-parse HEAD"))

    # a kernel for the notebook, started the way JupyterLab starts it
    r = requests.post(f"{base}api/sessions", headers=headers, timeout=60, json={
        "path": f"{project}/train.ipynb", "name": "train.ipynb", "type": "notebook",
        "kernel": {"name": "python3"}})
    assert r.status_code == 201, r.text
    kernel_id = r.json()["kernel"]["id"]
    ws_url = kernel_channels_url(base, kernel_id)
    output = await run_cell(ws_url, headers, TRAIN)
    run_id = output.split("RUN", 1)[1].split()[0]

    # the lab's runs endpoint finds the run by its notebook, with commit and environment
    r = requests.get(f"{base}mlops-hub/mlflow/runs", params={"path": f"{project}/train.ipynb"},
                     headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    runs = r.json()["runs"]
    assert [run["run_id"] for run in runs] == [run_id]
    run = runs[0]
    assert run["notebook"].endswith(f"/{project}/train.ipynb")
    assert run["git_commit"] == commit
    assert run["environment"] == "python"
    assert run["metrics"] == {"accuracy": 0.91}
    hub.stop(user_name)


def test_notebook_saved_to_git_with_one_request_from_spawned_lab(hub, user_name, git_service):
    """Real git over HTTP (git http-backend) with askpass; GitLab's REST API is a double."""
    hub.create_user(user_name, ["analysts"])
    assert hub.spawn(user_name, {"environment": "python"}).status_code in (201, 202)
    model = hub.wait_ready(user_name)
    base = f"{hub.url}{model['url']}"
    # the user's own API token: GitLab may be used only by the server's owner
    headers = hub.user_headers(user_name, "e2e")

    project = f"analysis-{uuid.uuid4().hex[:8]}"
    _put_notebook(base, headers, project, "model.ipynb", {
        "id": "c1", "execution_count": 1, "source": "print('result', 42)",
        "outputs": [{"output_type": "stream", "name": "stdout", "text": "result 42\n"}]})
    remote = f"{git_service.url}/team/analysis.git"
    _exec_in_server(hub, user_name, (
        f"cd ~/{project} && git init -q -b main && git remote add origin {remote}"))

    # the user's GitLab token, saved in the server's memory (never on disk)
    r = requests.put(f"{base}mlops-hub/gitlab/token", json={"token": git_service.token},
                     headers=headers, timeout=10)
    assert r.status_code in (200, 204), r.text
    branch = f"notebook-{project}"
    r = requests.post(f"{base}mlops-hub/gitlab/save", headers=headers, timeout=120, json={
        "path": f"{project}/model.ipynb", "message": "Train the model", "branch": branch,
        "strip_outputs": True, "merge_request": True, "target_branch": "main"})
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["branch"] == branch and saved["project"] == "team/analysis"
    assert saved["merge_request"]["url"].startswith(git_service.url)

    # the commit arrived in the real repository, authored as the GitLab user, without outputs
    log = git_service.git("--git-dir", "/tmp/git/team/analysis.git", "log", "-1",
                          "--format=%an|%ae|%s|%H", branch)
    assert log.strip() == f"Ada Lovelace|ada@example.org|Train the model|{saved['commit']}"
    pushed = json.loads(git_service.git("--git-dir", "/tmp/git/team/analysis.git", "show",
                                        f"{branch}:model.ipynb"))
    assert pushed["cells"][0]["outputs"] == []
    # the token is in no file of the user's repository
    assert git_service.token not in _exec_in_server(hub, user_name, f"cat ~/{project}/.git/config")
    assert _exec_in_server(hub, user_name, f"grep -rl {git_service.token} ~/{project}/.git || true") == ""
    hub.stop(user_name)
