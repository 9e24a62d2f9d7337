"""The job spec files the hub writes for Airflow: data only, one spec and one fixed stub per job."""

from __future__ import annotations

import json

import pytest

from mlops_hub.airflow.job_spec import (
    STUB,
    JobContainer,
    JobSpec,
    SpecError,
    list_jobs,
    read_owner,
    remove_job,
    spec_path,
    write_job,
)
from mlops_hub.job_container import RUNNER_COMMAND, job_environment, runner_args
from mlops_hub.lab.run_notebook import merged_parameters, output_path
from mlops_hub.policy.environments import Environment
from mlops_hub.policy.jobs import JobSchedule, job_id
from mlops_hub.policy.request import SpawnRequest


def make_spec(owner="alice", notebook="p/train.ipynb", **changes) -> JobSpec:
    container = JobContainer(image="sha256:1", command=RUNNER_COMMAND, args=["--notebook", "/home/jovyan/" + notebook],
                             env={"A": "1"}, user="1000:100", network="net", cpu_limit=0.5, mem_limit=2**29,
                             cpu_reservation=0.25, mem_reservation=2**27, labels={"k": "v"},
                             mounts=[{"Target": "/home/jovyan", "Source": "v", "Type": "volume"}])
    fields = dict(dag_id=job_id(owner, notebook), owner=owner, notebook=notebook, home="/home/jovyan",
                  schedule="@daily", start_date="2026-12-01T00:00:00+00:00", retries=1, parameters={"n": 1},
                  environment="python", role="default", container=container)
    fields.update(changes)
    return JobSpec(**fields)


def test_a_spec_reads_back_as_written(tmp_path):
    spec = make_spec()
    path = write_job(tmp_path, spec)
    assert path == spec_path(tmp_path, spec.dag_id) and path.name == f"{spec.dag_id}.json"
    assert JobSpec.from_json(path.read_text()) == spec
    assert read_owner(tmp_path, spec.dag_id) == "alice"
    assert [s.dag_id for s in list_jobs(tmp_path)] == [spec.dag_id]


def test_the_stub_is_the_same_fixed_text_for_every_job_and_holds_no_user_data(tmp_path):
    evil = make_spec(owner='x"; import os #', notebook='{{ conn.db.password }}/a"""b.ipynb')
    write_job(tmp_path, evil)
    write_job(tmp_path, make_spec())
    stubs = sorted((tmp_path / "jobs").glob("*.py"))
    assert len(stubs) == 2 and all(s.read_text() == STUB for s in stubs)
    assert "conn" not in STUB and "import os" not in STUB


def test_rescheduling_replaces_the_spec_in_place(tmp_path):
    write_job(tmp_path, make_spec())
    write_job(tmp_path, make_spec(schedule="0 3 * * *"))
    files = sorted(p.name for p in (tmp_path / "jobs").iterdir())
    assert len(files) == 2  # one .json, one .py: no temporary files left
    assert list_jobs(tmp_path)[0].schedule == "0 3 * * *"


def test_remove_job_removes_both_files_and_says_whether_it_existed(tmp_path):
    spec = make_spec()
    write_job(tmp_path, spec)
    assert remove_job(tmp_path, spec.dag_id) is True
    assert list((tmp_path / "jobs").iterdir()) == []
    assert remove_job(tmp_path, spec.dag_id) is False
    assert read_owner(tmp_path, spec.dag_id) is None


@pytest.mark.parametrize("dag_id", ["../etc/passwd", "nb__a/b", "other", "nb__" + "x" * 300, "nb__a b"])
def test_only_job_ids_name_files(tmp_path, dag_id):
    with pytest.raises(SpecError):
        spec_path(tmp_path, dag_id)
    assert read_owner(tmp_path, dag_id) is None


def test_damaged_specs_are_errors_naming_the_problem():
    good = json.loads(make_spec().to_json())
    for raw, why in [("{", "not JSON"), (json.dumps({**good, "version": 2}), "version"),
                     (json.dumps({**good, "extra": 1}), "unknown key"),
                     (json.dumps({**good, "dag_id": "evil"}), "dag_id")]:
        with pytest.raises(SpecError, match=why):
            JobSpec.from_json(raw)


def test_a_job_gets_the_servers_environment_without_its_hub_variables_and_with_the_notebook():
    env = Environment(slug="python", display_name="Python", image="img")
    request = SpawnRequest(environment=env, cpu_limit=0.5, mem_limit=2**30, role="analysts")
    schedule = JobSchedule(notebook="p/train.ipynb", schedule=None, start_date=None, retries=0,
                           parameters={"alpha": 1})
    server_env = {"JUPYTERHUB_API_TOKEN": "secret", "JPY_API_TOKEN": "secret", "JUPYTERHUB_OAUTH_SCOPES": "[]",
                  "MLFLOW_TRACKING_URI": "http://edge:8080/mlflow", "NONE": None}
    out = job_environment(server_env, request, "sha256:1", "/home/jovyan", schedule, "nb__x", "alice")
    assert "secret" not in json.dumps(out) and "NONE" not in out
    assert out["MLFLOW_TRACKING_URI"] == "http://edge:8080/mlflow"
    assert out["JPY_SESSION_NAME"] == "/home/jovyan/p/train.ipynb"
    assert (out["JUPYTERHUB_USER"], out["MLOPS_JOB_ID"], out["MLOPS_ROLE"]) == ("alice", "nb__x", "analysts")
    args = runner_args("/home/jovyan", schedule)
    assert args == ["--notebook", "/home/jovyan/p/train.ipynb", "--output-dir", "/home/jovyan/p/runs",
                    "--parameters", '{"alpha": 1}']
    # only the runner command is a template: it holds no user data
    assert "{{" in " ".join(RUNNER_COMMAND) and "alpha" not in " ".join(RUNNER_COMMAND)


def test_the_runs_conf_overrides_the_schedules_parameters():
    assert merged_parameters('{"a": 1, "b": 2}', '{"b": 3}') == {"a": 1, "b": 3}
    assert merged_parameters('{"a": 1}', "") == {"a": 1}
    assert merged_parameters('{"a": 1}', "null") == {"a": 1}
    with pytest.raises(SystemExit, match="JSON object"):
        merged_parameters("{}", "[1]")
    with pytest.raises(SystemExit, match="not JSON"):
        merged_parameters("{}", "{x")


def test_executed_notebooks_are_named_after_the_notebook_and_a_file_safe_run_id(tmp_path):
    out = output_path(tmp_path / "train.ipynb", tmp_path / "runs", "manual__2026-12-02T14:00:00+00:00")
    assert out == tmp_path / "runs" / "train-manual__2026-12-02T14_00_00_00_00.ipynb"
    assert output_path(tmp_path / "t.ipynb", tmp_path, "../../x") == tmp_path / "t-x.ipynb"
