"""Python API for notebook code: `from mlops_hub.lab import notebook_runs` and friends.

Answers the same questions as the REST endpoints, from inside the kernel, with MLflow's
default retry policy (a notebook can afford to wait; a web request cannot).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..names import ENV_ENVIRONMENT
from .context import notebook_tags, run_owner
from .errors import InvalidInput
from .mlflow_backend import MAX_PAGE_SIZE, MlflowRunsBackend, runs_user
from .notebook_path import current_notebook_path


def _backend() -> MlflowRunsBackend:
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        raise InvalidInput("MLFLOW_TRACKING_URI is not set in this kernel's environment")
    return MlflowRunsBackend(uri, ui_url=os.environ.get("MLOPS_MLFLOW_UI_URL") or None)


def _this_notebook(notebook: str | os.PathLike[str] | None) -> str:
    if notebook is not None:
        return str(Path(notebook).absolute())
    path = current_notebook_path()
    if path is None:
        raise InvalidInput("cannot tell which notebook this is; pass notebook='path.ipynb'")
    return str(path)


def _ms_to_datetime(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc) if ms else None


def flatten_run(run: dict[str, Any]) -> dict[str, Any]:
    """One run summary as a flat row: `metrics.<key>` and `params.<key>` columns."""
    row = {k: v for k, v in run.items() if k not in ("metrics", "params")}
    row["start_time"] = _ms_to_datetime(run.get("start_time"))
    row["end_time"] = _ms_to_datetime(run.get("end_time"))
    row.update({f"metrics.{k}": v for k, v in run.get("metrics", {}).items()})
    row.update({f"params.{k}": v for k, v in run.get("params", {}).items()})
    return row


def notebook_runs(
    notebook: str | os.PathLike[str] | None = None,
    *,
    experiment: str | None = None,
    user: str | None = None,
    all_users: bool = False,
    max_results: int = 100,
) -> list[dict[str, Any]]:
    """Your runs logged from `notebook` (default: this one), newest first, as flat dicts.

    `pandas.DataFrame(notebook_runs())` gives one row per run. `experiment` (a name)
    narrows the search; `user` lists another JupyterHub user's runs of the same path,
    `all_users=True` everyone's.
    """
    if max_results < 1:
        raise InvalidInput("'max_results' must be at least 1")
    user = runs_user(user, all_users, run_owner())
    backend = _backend()
    ids = [backend.experiment(name=experiment)["experiment_id"]] if experiment else None
    path = _this_notebook(notebook)
    rows: list[dict[str, Any]] = []
    token: str | None = None
    while len(rows) < max_results:
        page = backend.notebook_runs(path, experiment_ids=ids, user=user,
                                     max_results=min(MAX_PAGE_SIZE, max_results - len(rows)),
                                     page_token=token)
        rows += [flatten_run(r) for r in page.runs]
        token = page.next_page_token
        if not token:
            break
    return rows


def experiment(name: str | None = None, *, experiment_id: str | None = None) -> dict[str, Any]:
    """An experiment by name or id: id, name, artifact location, tags and UI link."""
    return _backend().experiment(name=name, experiment_id=experiment_id)


def notebook_context() -> dict[str, str]:
    """The tags `mlflow.start_run()` adds here now: notebook, git state, environment."""
    return notebook_tags()


def save_notebook(
    message: str,
    *,
    notebook: str | os.PathLike[str] | None = None,
    branch: str | None = None,
    strip_outputs: bool = True,
    merge_request: bool = False,
    target_branch: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """Commit this notebook as saved on disk (save it first) and push it to GitLab.

    The GitLab token is `token` if given, else the hub's OAuth token for this user.
    Returns the commit, branch and merge request URLs.
    """
    from .gitlab_backend import PythonGitLabBackend
    from .publisher import NotebookPublisher, SaveRequest
    from .tokens import HubAuthStateTokenSource, StaticTokenSource

    gitlab_url = os.environ.get("MLOPS_GITLAB_URL", "")
    if not gitlab_url:
        raise InvalidInput("MLOPS_GITLAB_URL is not set in this kernel's environment")
    source = StaticTokenSource(token) if token else HubAuthStateTokenSource()
    publisher = NotebookPublisher(gitlab_url, PythonGitLabBackend(gitlab_url), source)
    req = SaveRequest(message=message, branch=branch, strip_outputs=strip_outputs,
                      merge_request=merge_request, target_branch=target_branch)
    user = os.environ.get("JUPYTERHUB_USER", "")
    coro = publisher.save(user, Path(_this_notebook(notebook)), req)
    # a kernel already runs an event loop; give the save its own in a worker thread
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# ---- scheduled notebooks (docs/scheduling.md): through the hub, with this server's own token ----------

def _jobs():
    from .jobs_backend import HubJobsBackend

    return HubJobsBackend()


def _home_path(notebook: str | os.PathLike[str] | None) -> str:
    from .jobs_backend import home_relative

    home = os.environ.get("HOME") or str(Path.home())
    return home_relative(_this_notebook(notebook), home)


def schedule_notebook(
    schedule: str | None = None,
    *,
    notebook: str | os.PathLike[str] | None = None,
    parameters: dict[str, Any] | None = None,
    start_date: str | None = None,
    retries: int | None = None,
    environment: str | None = None,
    cpu_limit: float | str | None = None,
    mem_limit: str | int | None = None,
    paused: bool | None = None,
) -> dict[str, Any]:
    """Run this notebook (or `notebook`) on a schedule, as a batch job on the Swarm, in this environment.

    `schedule`: cron ('0 3 * * *') or a preset ('@daily'); None runs only when triggered. `parameters`
    go to the notebook's `parameters` cell (papermill). Environment, CPU and memory default to this
    server's and are checked against your role, as for a server. Calling it again reschedules the same
    job. Returns the job: its `id`, `next_run`, and `airflow_url`.
    """
    return _jobs().schedule(
        _home_path(notebook), schedule=schedule, parameters=parameters, start_date=start_date, retries=retries,
        environment=environment or os.environ.get(ENV_ENVIRONMENT) or None,
        cpu_limit=cpu_limit if cpu_limit is not None else os.environ.get("CPU_LIMIT") or None,
        mem_limit=mem_limit if mem_limit is not None else os.environ.get("MEM_LIMIT") or None,
        paused=paused,
    )


def notebook_jobs() -> list[dict[str, Any]]:
    """Your scheduled notebooks, with their schedules and next runs."""
    return _jobs().jobs()


def run_job_now(job_id: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """Trigger a job now; `parameters` override the schedule's for this run. Returns the run."""
    return _jobs().trigger(job_id, parameters)


def job_runs(job_id: str, limit: int = 25) -> list[dict[str, Any]]:
    """A job's runs, newest first: state, times and the executed notebook's path."""
    return _jobs().runs(job_id, limit=limit)["runs"]


def job_log(job_id: str, run_id: str, *, follow: bool = False, interval: float = 2.0) -> list[str]:
    """A run's log lines; with `follow=True` prints them as they come until the run ends."""
    import time

    backend = _jobs()
    lines: list[str] = []
    token = None
    while True:
        part = backend.log(job_id, run_id, token)
        for line in part["lines"]:
            if follow:
                print(line, flush=True)
        lines += part["lines"]
        token = part.get("continuation_token") or token
        if not follow or part.get("state") in ("success", "failed", "upstream_failed", "skipped", "removed"):
            return lines
        time.sleep(interval)


def delete_job(job_id: str) -> None:
    """Remove a scheduled notebook: its schedule, its DAG and its token (executed notebooks stay)."""
    _jobs().delete(job_id)


# ---- models to production (docs/models.md): through the hub, with this server's own token ---------------

def release_model(model: str, *, replicas: int | None = None, cpu: float | str | None = None,
                  mem: str | int | None = None) -> dict[str, Any]:
    """Serve a registered MLflow model version ('churn/3') or alias ('churn@champion') as `model-<name>`, within
    your role's limits and team pool: built on the environment it was trained in, updated without downtime,
    rolled back by Swarm if the new version fails its health check. Waits for the verdict (seconds to a minute).

    Returns the hub's answer: `service`, `version`, `state`, `image`, `progress`, and `url` (the front door's
    path that serves it). Raises InvalidInput naming the field for a bad request, and LabError otherwise: status
    409 when the version was rolled back (the previous one still serves), 403 when refused (the team pool).
    """
    from .models_backend import release_model as release

    return release({"model": model, "replicas": replicas, "cpu": cpu, "mem": mem})
