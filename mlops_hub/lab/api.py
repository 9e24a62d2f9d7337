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
