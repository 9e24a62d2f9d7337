"""Non-ASCII names against the deployed stack: a user `иван` in groups `аналитики` and `fz-é`, quota
roles named after those groups, a spawned server for him, the rows in the stack's PostgreSQL, an
MLflow experiment "Отток клиентов" in the stack's MLflow, and his home volume on the real engine."""

from __future__ import annotations

import re
from urllib.parse import quote

import docker
import pytest
import requests

from mlops_hub.policy.storage import storage_from_config
from mlops_hub.provision import provision

from .conftest import STACK
from .test_stack_postgres import _sql

pytestmark = pytest.mark.swarm

USER = "иван"
GROUPS = ["аналитики", "fz-é"]
REQUEST = {"environment": "python", "cpu_limit": 0.1, "mem_limit": "512M"}
DOC = {"max_cpu": 0.5, "max_mem": "1G", "environments": ["python"], "max_servers": 1, "pool_servers": 3}


def test_the_stacks_databases_are_utf8(hub, stack_settings):
    rows = _sql(hub, stack_settings.stack, "postgres",
                "select datname || ' ' || pg_encoding_to_char(encoding) || ' ' || datctype from pg_database"
                " where datname in ('jupyterhub', 'mlflow', 'template1') order by 1").split("\n")
    assert [r for r in rows if r] == ["jupyterhub UTF8 C.UTF-8", "mlflow UTF8 C.UTF-8", "template1 UTF8 C.UTF-8"]


def test_russian_user_and_groups_with_quota_roles_spawn_a_server(hub, stack_settings):
    hub.create_user(USER, GROUPS)
    assert sorted(hub.api("GET", f"/users/{quote(USER)}").json()["groups"]) == sorted(GROUPS)
    users = _sql(hub, stack_settings.stack, "jupyterhub", "select name from users").split()
    assert USER in users
    try:
        for group in GROUPS:
            path = f"/mlops/quotas/{quote(group)}"
            r = hub.api("POST", path, json=DOC)
            assert r.status_code == 201, r.text
            r = hub.api("PUT", path, json={**DOC, "max_cpu": 0.25, "version": 1})
            assert r.status_code == 200 and r.json()["version"] == 2, r.text
            entries = hub.api("GET", f"/mlops/quotas/audit?role={quote(group)}").json()["entries"]
            assert [(e["role"], e["action"]) for e in entries] == [(group, "update"), (group, "create")]
        stored = _sql(hub, stack_settings.stack, "jupyterhub", "select name from mlops_quota_roles").split()
        assert set(GROUPS) <= set(stored)

        # the spawn form names his roles
        # his own account, signed up and approved through the hub's pages
        password = hub.account(USER)
        form = hub.login(USER, password).get(f"{hub.url}/hub/spawn", timeout=10)
        # the page declares UTF-8 in its <meta charset>, as browsers read it (requests would guess Latin-1)
        page = form.content.decode("utf8")
        start = page.find("mlops-hub-options")
        assert form.status_code == 200 and "аналитики" in page and "fz-é" in page, page[start:start + 1500]

        r = hub.spawn(USER, REQUEST)
        assert r.status_code in (201, 202), r.text
        hub.wait_ready(USER)
        service = hub.only_service(USER)
        name = service["Spec"]["Name"]
        assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9-]*", name) and name.startswith(hub.prefix), name
        labels = service["Spec"]["Labels"]
        assert labels["mlops-hub.user"] == USER
        assert labels["mlops-hub.role"] in GROUPS
        # the server answers through the proxy at his (percent-encoded) URL
        r = requests.get(f"{hub.url}/user/{quote(USER)}/api/status",
                         headers={"Authorization": f"token {hub.token}"}, timeout=30)
        assert r.status_code == 200, r.text[:300]
        assert hub.api("GET", f"/mlops/quotas/{quote(labels['mlops-hub.role'])}").json()["usage"]["servers"] == 1
    finally:
        hub.remove_team(GROUPS[0], [USER])
        hub.remove_team(GROUPS[1], [])
    assert hub.user_services(USER) == []


def test_mlflow_experiment_and_run_with_russian_names(hub, stack_settings):
    hub.create_user(USER)
    mlflow = hub.mlflow_session(USER)  # through the front door, as иван (a non-ASCII name in the edge's header)
    api = hub.mlflow_api
    r = mlflow.post(f"{api}/experiments/create", json={"name": "Отток клиентов"}, timeout=30)
    assert r.status_code == 200, r.text
    experiment = r.json()["experiment_id"]
    r = mlflow.post(f"{api}/runs/create", json={"experiment_id": experiment, "run_name": "базовая модель",
                                                  "tags": [{"key": "mlflow.source.name",
                                                            "value": "/home/jovyan/проекты/Анализ оттока.ipynb"}]},
                      timeout=30)
    assert r.status_code == 200, r.text
    run = r.json()["run"]["info"]["run_id"]
    r = mlflow.post(f"{api}/runs/log-parameter", json={"run_id": run, "key": "скорость", "value": "0.1"},
                      timeout=30)
    assert r.status_code == 200, r.text
    r = mlflow.post(f"{api}/runs/search", json={
        "experiment_ids": [experiment],
        "filter": "tags.\"mlflow.source.name\" = '/home/jovyan/проекты/Анализ оттока.ipynb'"}, timeout=30)
    assert r.status_code == 200, r.text
    (found,) = r.json()["runs"]
    assert found["info"]["run_name"] == "базовая модель"
    assert found["data"]["params"] == [{"key": "скорость", "value": "0.1"}]
    assert found["info"]["user_id"] == USER  # the authenticated user, whatever the client claims
    names = _sql(hub, stack_settings.stack, "mlflow", "select name from experiments").split("\n")
    assert "Отток клиентов" in names


def test_home_and_team_volumes_of_a_russian_user_on_the_engine(images):
    client = docker.APIClient()
    storage = storage_from_config({"backend": "local", "roles": {"аналитики": {"team": True}}})
    prefix = f"{STACK}-vol"
    try:
        out = provision(client, prefix=prefix, username=USER, roles=["аналитики"], image=images["lab-base"],
                        owner=(1000, 100), index=None, storage=storage, system_roots_file=None)
        sources = {m["Target"]: m["Source"] for m in out.mounts}
        assert len(sources) == 2
        for source in sources.values():
            assert client.inspect_volume(source)["Name"] == source
            assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", source), source
    finally:
        for volume in client.volumes(filters={"label": f"mlops-hub.prefix={prefix}"}).get("Volumes") or []:
            client.remove_volume(volume["Name"])


