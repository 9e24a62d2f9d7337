"""A reschedule that fails before its new spec is written leaves the job as it was: the old spec and its
token stay, and the token made for the new spec is revoked (a real JupyterHub; no Airflow is needed,
since the hub fails before it would call Airflow)."""

from __future__ import annotations

import json

import pytest

from mlops_hub.airflow.job_spec import JobContainer, JobSpec, spec_path, write_job
from mlops_hub.hub.jobs_api import TOKEN_NOTE
from mlops_hub.policy.jobs import job_id
from tests.support.ports import free_port

from .hub import HubProcess

NOTEBOOK = "reports/daily.ipynb"
# the jobs API, and the services a job's token may reach (its owner must be allowed to reach them)
JOBS_CONFIG = """
from mlops_hub.hub.jobs_api import JOB_TOKEN_SCOPES
from mlops_hub.hub.setup import configure_jobs, grant_users_and_servers
names = [s.split("service=", 1)[1] for s in JOB_TOKEN_SCOPES]
c.JupyterHub.services = [*c.JupyterHub.services, *({"name": n} for n in names)]
grant_users_and_servers(c, JOB_TOKEN_SCOPES)
configure_jobs(c)
"""


@pytest.fixture(scope="module")
def jobs_hub(tmp_path_factory):
    dags = tmp_path_factory.mktemp("dags")
    password = tmp_path_factory.mktemp("secret") / "airflow_hub_password"
    password.write_text("not-used")
    hub = HubProcess(f"sqlite:///{tmp_path_factory.mktemp('hubdb')}/jupyterhub.sqlite",
                     env={"MLOPS_AIRFLOW_DAGS_DIR": str(dags), "MLOPS_AIRFLOW_PASSWORD_FILE": str(password),
                          "MLOPS_AIRFLOW_URL": f"http://127.0.0.1:{free_port()}/airflow"},
                     extra_config=JOBS_CONFIG).start()
    hub.dags = dags
    yield hub
    hub.remove()


def existing_job(dags, owner: str) -> JobSpec:
    container = JobContainer(image="sha256:old", command=["run"], args=[NOTEBOOK], env={}, user="1000:100",
                             network="net", cpu_limit=1, mem_limit=2**30, cpu_reservation=0, mem_reservation=0,
                             labels={})
    spec = JobSpec(dag_id=job_id(owner, NOTEBOOK), owner=owner, notebook=NOTEBOOK, home="/home/jovyan",
                   schedule="@daily", start_date="2026-01-01T00:00:00+00:00", retries=0, parameters={},
                   environment="python", role="default", container=container)
    write_job(dags, spec)
    return spec


def job_tokens(hub, user: str, dag_id: str) -> list[str]:
    tokens = hub.api("GET", f"/users/{user}/tokens").json()["api_tokens"]
    return sorted(t["id"] for t in tokens if t["note"] == TOKEN_NOTE.format(dag_id))


def test_a_reschedule_that_fails_before_writing_keeps_the_old_spec_and_token_and_revokes_the_new_one(jobs_hub):
    hub = jobs_hub
    assert hub.api("POST", "/users/carol").status_code == 201
    spec = existing_job(hub.dags, "carol")
    old = hub.api("POST", "/users/carol/tokens",
                  json={"note": TOKEN_NOTE.format(spec.dag_id), "expires_in": None}).json()
    user_token = hub.api("POST", "/users/carol/tokens", json={"note": "carol's own"}).json()["token"]
    before = spec_path(hub.dags, spec.dag_id).read_text()

    # this hub keeps homes nowhere (no storage): the spawner refuses the job after the hub made its token
    r = hub.api("POST", "/mlops/jobs", headers={"Authorization": f"token {user_token}"},
                json={"notebook": NOTEBOOK, "schedule": "@hourly"})
    assert r.status_code == 409, r.text
    assert "storage" in r.json()["message"]

    assert job_tokens(hub, "carol", spec.dag_id) == [old["id"]]
    assert spec_path(hub.dags, spec.dag_id).read_text() == before
    assert json.loads(before)["schedule"] == "@daily"
