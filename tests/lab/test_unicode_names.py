"""Russian names end to end in the lab extension: a notebook `проекты/Анализ оттока.ipynb` run by a
real kernel logs to a real MLflow (PostgreSQL backend) under a Russian experiment, run and param
name; the runs endpoint finds it; saving it to GitLab commits "Обновил модель" to branch `ветка-1`
over real git HTTP (GitLab's API answered by the double)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat
import pytest
from mlflow import MlflowClient
from nbclient import NotebookClient

from tests.support.git_http import GitHttpServer
from tests.support.gitlab_double import GitLabApiDouble
from tests.support.mlflow_server import MlflowServer

from .conftest import git, notebook_json

FOLDER = "проекты"
NOTEBOOK = "Анализ оттока.ipynb"
EXPERIMENT = "Отток клиентов"
RUN_NAME = "базовая модель"
PARAM = "скорость_обучения"
METRIC = "точность"
BRANCH = "ветка-1"
MESSAGE = "Обновил модель"


def _stdout(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.fixture
def russian_notebook(clone: Path) -> Path:
    """The notebook committed in a Russian-named folder of the clone."""
    folder = clone / FOLDER
    folder.mkdir()
    path = folder / NOTEBOOK
    cells = (
        f"import mlflow\nmlflow.set_experiment({EXPERIMENT!r})",
        (f"with mlflow.start_run(run_name={RUN_NAME!r}) as run:\n"
         f"    mlflow.log_param({PARAM!r}, 0.1)\n"
         f"    mlflow.log_metric({METRIC!r}, 0.9)\n"
         "print(run.info.run_id)"),
    )
    path.write_text(notebook_json(*cells), encoding="utf8")
    git("add", "--", f"{FOLDER}/{NOTEBOOK}", cwd=clone)
    git("-c", "user.name=Иван", "-c", "user.email=ivan@example.org", "commit", "-q", "-m",
        "Первый анализ", cwd=clone)
    return path


async def test_notebook_run_in_russian_folder_is_tagged_and_found(
        russian_notebook: Path, clone: Path, kernel_env: dict[str, str],
        mlflow_server: MlflowServer, fetch_json: Any, lab_app: Any) -> None:
    lab_app.owner = "ada"  # the hub user the kernel ran as (JUPYTERHUB_USER)
    nb = nbformat.read(russian_notebook, as_version=4)
    env = dict(kernel_env, JPY_SESSION_NAME=str(russian_notebook))  # what jupyter-server sets
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(russian_notebook.parent)}}).execute(env=env)
    run_id = _stdout(nb.cells[1]).strip().splitlines()[-1]

    client = MlflowClient(mlflow_server.url)
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.info.run_name == RUN_NAME
    assert run.data.params == {PARAM: "0.1"}
    assert run.data.metrics == {METRIC: 0.9}
    tags = run.data.tags
    assert tags["mlflow.source.name"] == str(russian_notebook)
    assert tags["mlops_hub.git.path"] == f"{FOLDER}/{NOTEBOOK}"
    assert tags["mlops_hub.git.uncommitted_changes"] == "false"
    assert tags["mlflow.source.git.commit"] == git("rev-parse", "HEAD", cwd=clone)

    # the path as the file browser sends it, percent-encoded in the query string
    status, body = await fetch_json("mlops-hub/mlflow/runs",
                                    params={"path": f"analysis/{FOLDER}/{NOTEBOOK}"})
    assert status == 200, body
    (found,) = body["runs"]
    assert found["run_id"] == run_id
    assert found["params"] == {PARAM: "0.1"} and found["metrics"] == {METRIC: 0.9}


async def test_save_to_a_russian_branch_with_a_russian_message_and_merge_request(
        russian_notebook: Path, clone: Path, fetch_json: Any, git_server: GitHttpServer,
        gitlab_api: GitLabApiDouble) -> None:
    russian_notebook.write_text(notebook_json("x = 'новое значение'", outputs=True), encoding="utf8")
    status, body = await fetch_json("mlops-hub/gitlab/save", method="POST", body=json.dumps({
        "path": f"analysis/{FOLDER}/{NOTEBOOK}", "message": MESSAGE, "branch": BRANCH,
        "strip_outputs": True, "merge_request": True, "description": "Подробности в ноутбуке"}))
    assert status == 200, body
    assert body["branch"] == BRANCH and body["committed"] is True

    url = git("remote", "get-url", "origin", cwd=clone)
    project_path = url.split("/", 3)[3].removesuffix(".git")
    remote = git_server.bare_repo(project_path + ".git")
    assert git("--git-dir", str(remote), "rev-parse", BRANCH, cwd=clone) == body["commit"]
    assert git("--git-dir", str(remote), "log", "-1", "--format=%s", BRANCH, cwd=clone) == MESSAGE
    pushed = json.loads(git("--git-dir", str(remote), "show", f"{BRANCH}:{FOLDER}/{NOTEBOOK}", cwd=clone))
    assert "".join(pushed["cells"][0]["source"]) == "x = 'новое значение'"
    assert pushed["cells"][0]["outputs"] == []

    project = gitlab_api.projects[project_path]
    assert body["branch_url"] == f"{project['web_url']}/-/tree/{quote(BRANCH)}"
    assert body["file_url"] == f"{project['web_url']}/-/blob/{body['commit']}/{quote(f'{FOLDER}/{NOTEBOOK}')}"
    (mr,) = [m for m in gitlab_api.merge_requests if m["project_id"] == project["id"]]
    assert (mr["source_branch"], mr["target_branch"]) == (BRANCH, "main")
    assert (mr["title"], mr["description"]) == (MESSAGE, "Подробности в ноутбуке")
    assert body["merge_request"]["created"] is True
