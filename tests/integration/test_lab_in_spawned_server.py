"""The lab extension inside a server spawned on the swarm, talking to the stack's MLflow."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

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


async def _run_code(ws_url: str, token: str, code: str) -> str:
    """Execute code in a kernel over its websocket, as JupyterLab does; return its output."""
    ws = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {token}"}))
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    output = []
    while True:
        raw = await ws.read_message()
        assert raw is not None, "kernel websocket closed: " + "".join(output)
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            output.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            output.append("\n".join(msg["content"]["traceback"]))
        elif msg["msg_type"] == "execute_reply":
            ws.close()
            assert msg["content"]["status"] == "ok", "".join(output)
            return "".join(output)


async def test_notebook_run_in_spawned_lab_records_notebook_commit_and_environment(hub, user_name):
    hub.create_user(user_name, ["analysts"])
    assert hub.spawn(user_name, {"environment": "python", "cpu_limit": 1}).status_code in (201, 202)
    model = hub.wait_ready(user_name)
    base = f"{hub.url}{model['url']}"
    headers = {"Authorization": f"token {hub.token}"}

    # a notebook in a git repository, committed, in the user's home (a new folder each run)
    project = f"project-{uuid.uuid4().hex[:8]}"
    assert requests.put(f"{base}api/contents/{project}", json={"type": "directory"},
                        headers=headers, timeout=10).status_code in (200, 201)
    notebook = {"type": "notebook", "content": {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"cell_type": "code", "id": "train", "metadata": {}, "execution_count": None,
                   "outputs": [], "source": TRAIN}]}}
    r = requests.put(f"{base}api/contents/{project}/train.ipynb", json=notebook, headers=headers, timeout=10)
    assert r.status_code in (200, 201), r.text
    commit = _exec_in_server(hub, user_name, (
        f"cd ~/{project} && git init -q -b main && git add train.ipynb"
        " && git -c user.name=Test -c user.email=test@example.org commit -qm 'train' && git rev-parse HEAD"))

    # a kernel for the notebook, started the way JupyterLab starts it
    r = requests.post(f"{base}api/sessions", headers=headers, timeout=60, json={
        "path": f"{project}/train.ipynb", "name": "train.ipynb", "type": "notebook",
        "kernel": {"name": "python3"}})
    assert r.status_code == 201, r.text
    kernel_id = r.json()["kernel"]["id"]
    ws_url = base.replace("http://", "ws://") + f"api/kernels/{kernel_id}/channels"
    output = await _run_code(ws_url, hub.token, TRAIN)
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
