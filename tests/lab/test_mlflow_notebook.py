"""A notebook executed by a real kernel logs to a real MLflow server (PostgreSQL backend):
a plain `mlflow.start_run()` records the notebook, its commit and its environment, and the
extension's runs endpoint and notebook API find the run."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from mlflow import MlflowClient
from nbclient import NotebookClient

from mlops_hub.lab.context import notebook_tags
from tests.support.mlflow_server import MlflowServer

from .conftest import git, notebook_json

CELLS = (
    "import json, mlflow\nmlflow.set_experiment('churn')",
    ("with mlflow.start_run() as run:\n"
    "    mlflow.log_param('lr', 0.1)\n"
    "    mlflow.log_metric('loss', 0.25)\n"
    "print(run.info.run_id)"),
    ("from mlops_hub.lab import notebook_runs\n"
    "rows = notebook_runs()\n"
    "print(json.dumps([(r['run_id'], r['metrics.loss'], r['git_commit']) for r in rows]))"),
)


def _stdout(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.fixture
def executed(clone: Path, kernel_env: dict[str, str], project: str) -> dict[str, Any]:
    """train.ipynb committed in the clone, run top to bottom by a real ipykernel."""
    nb_path = clone / "train.ipynb"
    nb_path.write_text(notebook_json(*CELLS))
    # a remote URL with credentials in it: they must not reach MLflow
    host_path = project.split("://", 1)[1]
    git("remote", "set-url", "origin", f"http://ada:url-secret@{host_path}", cwd=clone)
    git("add", "train.ipynb", cwd=clone)
    git("-c", "user.name=Ada", "-c", "user.email=ada@example.org", "commit", "-q", "-m",
        "add training notebook", cwd=clone)
    nb = nbformat.read(nb_path, as_version=4)
    env = dict(kernel_env, JPY_SESSION_NAME=str(nb_path))  # what jupyter-server sets
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(clone)}}).execute(env=env)
    return {
        "path": nb_path,
        "run_id": _stdout(nb.cells[1]).strip().splitlines()[-1],  # MLflow prints links first
        "api_rows": json.loads(_stdout(nb.cells[2])),
        "commit": git("rev-parse", "HEAD", cwd=clone),
        "remote": project,
    }


async def test_notebook_run_is_tagged_and_found(executed: dict[str, Any],
                                                mlflow_server: MlflowServer,
                                                fetch_json: Any, lab_app: Any) -> None:
    lab_app.owner = "ada"  # the hub user the kernel ran as (JUPYTERHUB_USER)
    run = MlflowClient(mlflow_server.url).get_run(executed["run_id"])
    tags = run.data.tags
    assert tags["mlflow.source.name"] == str(executed["path"])
    assert tags["mlflow.source.type"] == "NOTEBOOK"
    assert tags["mlflow.source.git.commit"] == executed["commit"]
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["mlflow.source.git.repoURL"] == executed["remote"]  # userinfo stripped
    assert "url-secret" not in json.dumps(tags)
    assert tags["mlops_hub.git.path"] == "train.ipynb"
    assert tags["mlops_hub.git.uncommitted_changes"] == "false"
    assert tags["mlops_hub.environment"] == "py311-cpu"
    assert tags["mlops_hub.image_digest"] == "sha256:" + "ab" * 32
    assert tags["mlops_hub.cpu_limit"] == "2.0"
    assert tags["mlops_hub.mem_limit"] == "4294967296"
    assert tags["mlflow.user"] == "ada"
    assert len(tags["mlops_hub.packages.sha256"]) == 64
    assert int(tags["mlops_hub.packages.count"]) > 50
    assert tags["mlops_hub.python_version"] == platform.python_version()

    # the notebook API, called from the notebook itself, saw its own run
    assert executed["api_rows"] == [[executed["run_id"], 0.25, executed["commit"]]]

    # the endpoint finds it by the path the file browser uses
    status, body = await fetch_json("mlops-hub/mlflow/runs",
                                    params={"path": "analysis/train.ipynb"})
    assert status == 200, body
    (found,) = body["runs"]
    assert found["run_id"] == executed["run_id"]
    assert found["metrics"] == {"loss": 0.25}
    assert found["params"] == {"lr": "0.1"}
    assert found["git_commit"] == executed["commit"]
    assert found["uncommitted_changes"] is False
    assert found["environment"] == "py311-cpu"
    assert found["url"] == (f"https://mlflow.example.org/#/experiments/"
                            f"{run.info.experiment_id}/runs/{executed['run_id']}")
    assert body["next_page_token"] is None


async def test_runs_endpoint_pages_newest_first(mlflow_server: MlflowServer, fetch_json: Any,
                                                jp_root_dir: Path, lab_app: Any) -> None:
    lab_app.owner = "ada"
    client = MlflowClient(mlflow_server.url)
    exp = client.create_experiment(f"paging-{time.time_ns()}")
    path = str(jp_root_dir / "nb" / "paged.ipynb")
    now = int(time.time() * 1000)
    ids = []
    for i in range(5):
        r = client.create_run(exp, start_time=now + i * 1000, run_name=f"r{i}",
                              tags={"mlflow.source.name": path, "mlflow.user": "ada"})
        client.log_metric(r.info.run_id, "acc", i / 10)
        ids.append(r.info.run_id)
    client.create_run(exp, tags={"mlflow.source.name": str(jp_root_dir / "other.ipynb"),
                                 "mlflow.user": "ada"})

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params = {"path": "nb/paged.ipynb", "experiment_id": exp, "max_results": "2"}
        if token:
            params["page_token"] = token
        status, body = await fetch_json("mlops-hub/mlflow/runs", params=params)
        assert status == 200, body
        assert len(body["runs"]) <= 2
        seen += [r["run_id"] for r in body["runs"]]
        pages += 1
        token = body["next_page_token"]
        if not token:
            break
    assert seen == list(reversed(ids))  # newest first, nothing from other.ipynb
    assert pages == 3


async def test_experiment_lookup(mlflow_server: MlflowServer, fetch_json: Any) -> None:
    name = f"lookup-{time.time_ns()}"
    exp_id = MlflowClient(mlflow_server.url).create_experiment(name)
    status, body = await fetch_json("mlops-hub/mlflow/experiment", params={"name": name})
    assert status == 200
    assert body["experiment_id"] == exp_id
    assert body["url"] == f"https://mlflow.example.org/#/experiments/{exp_id}"
    status, body = await fetch_json("mlops-hub/mlflow/runs",
                                    params={"path": "x.ipynb", "experiment": name})
    assert status == 200 and body["runs"] == []
    status, body = await fetch_json("mlops-hub/mlflow/experiment",
                                    params={"name": "no-such-experiment"})
    assert status == 404
    assert body["reason"] == "mlflow-not-found"
    status, body = await fetch_json("mlops-hub/mlflow/experiment")
    assert status == 400 and "'name'" in body["message"]


def test_uncommitted_and_relative_session_name(clone: Path, monkeypatch: Any) -> None:
    """The API-path form of JPY_SESSION_NAME resolves against the kernel's folder, and a
    notebook not yet committed says so."""
    sub = clone / "exp"
    sub.mkdir()
    (sub / "scratch.ipynb").write_text(notebook_json("1"))
    monkeypatch.chdir(sub)  # the kernel's cwd is the notebook's folder
    monkeypatch.setenv("JPY_SESSION_NAME", "analysis/exp/scratch.ipynb")
    tags = notebook_tags()
    assert tags["mlflow.source.name"] == str(sub / "scratch.ipynb")
    assert tags["mlops_hub.git.uncommitted_changes"] == "true"
    assert tags["mlops_hub.git.tracked"] == "false"
    assert tags["mlops_hub.git.path"] == "exp/scratch.ipynb"


def test_notebook_outside_git_still_gets_source_tags(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "loose.ipynb").write_text(notebook_json("1"))
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "loose.ipynb"))
    monkeypatch.setenv("MLOPS_ENVIRONMENT", "py311-cpu")
    tags = notebook_tags()
    assert tags["mlflow.source.name"] == str(tmp_path / "loose.ipynb")
    assert tags["mlflow.source.type"] == "NOTEBOOK"
    assert tags["mlops_hub.environment"] == "py311-cpu"
    assert not any(k.startswith("mlflow.source.git") for k in tags)


@pytest.mark.parametrize("first", [
    "import mlops_hub.lab.context",
    "from mlops_hub.lab import notebook_runs",
    "import mlflow",
])
def test_provider_registers_whatever_is_imported_first(first: str) -> None:
    """`import mlflow` loads providers; starting that import from our own module must not
    leave MLflow with a half-initialised one (it would drop it with only a warning)."""
    code = (f"{first}\n"
            "import mlflow.tracking.context.registry as r\n"
            "names = [type(p).__name__ for p in r._run_context_provider_registry]\n"
            "assert names[-1] == 'NotebookRunContext', names\n")
    proc = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_package_fingerprint_changes_when_a_package_is_installed(tmp_path: Path,
                                                                 monkeypatch: Any) -> None:
    before = notebook_tags()
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "extra_tool-1.2.dist-info").mkdir()
    after = notebook_tags()
    assert int(after["mlops_hub.packages.count"]) == int(before["mlops_hub.packages.count"]) + 1
    assert after["mlops_hub.packages.sha256"] != before["mlops_hub.packages.sha256"]


@pytest.fixture
def two_users_one_path(mlflow_server: MlflowServer, jp_root_dir: Path) -> dict[str, Any]:
    """ada's and bob's runs of the same notebook path: every home is /home/jovyan."""
    client = MlflowClient(mlflow_server.url)
    exp = client.create_experiment(f"two-users-{time.time_ns()}")
    path = str(jp_root_dir / "analysis.ipynb")
    runs = {user: [client.create_run(exp, tags={"mlflow.source.name": path, "mlflow.user": user}
                                     ).info.run_id for _ in range(2)]
            for user in ("ada", "bob")}
    return {"experiment_id": exp, "path": path, "runs": runs}


async def test_runs_endpoint_lists_the_owners_runs_unless_asked_for_everyones(
        two_users_one_path: dict[str, Any], fetch_json: Any, lab_app: Any) -> None:
    lab_app.owner = "ada"
    runs = two_users_one_path["runs"]
    base = {"path": "analysis.ipynb", "experiment_id": two_users_one_path["experiment_id"]}

    async def listed(**extra: str) -> tuple[set[str], str | None]:
        status, body = await fetch_json("mlops-hub/mlflow/runs", params={**base, **extra})
        assert status == 200, body
        return {r["run_id"] for r in body["runs"]}, body["user"]

    assert await listed() == (set(runs["ada"]), "ada")
    assert await listed(user="bob") == (set(runs["bob"]), "bob")
    assert await listed(all_users="true") == (set(runs["ada"]) | set(runs["bob"]), None)

    status, body = await fetch_json("mlops-hub/mlflow/runs",
                                    params={**base, "all_users": "true", "user": "bob"})
    assert status == 400 and "'user' or 'all_users'" in body["message"]
    status, body = await fetch_json("mlops-hub/mlflow/runs", params={**base, "all_users": "yes"})
    assert status == 400 and "'all_users' must be true or false" in body["message"]


def test_notebook_api_lists_the_kernel_users_runs_unless_asked_for_everyones(
        two_users_one_path: dict[str, Any], mlflow_server: MlflowServer, monkeypatch: Any) -> None:
    from mlops_hub.lab import notebook_runs
    from mlops_hub.lab.errors import InvalidInput

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("JUPYTERHUB_USER", "bob")
    runs, path = two_users_one_path["runs"], two_users_one_path["path"]

    def listed(**kwargs: Any) -> set[str]:
        return {r["run_id"] for r in notebook_runs(path, **kwargs)}

    assert listed() == set(runs["bob"])
    assert listed(user="ada") == set(runs["ada"])
    assert listed(all_users=True) == set(runs["ada"]) | set(runs["bob"])
    with pytest.raises(InvalidInput, match="'user' or 'all_users'"):
        notebook_runs(path, user="ada", all_users=True)
