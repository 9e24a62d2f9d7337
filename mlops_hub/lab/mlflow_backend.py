"""Questions about MLflow runs, answered by the tracking server's REST API.

Requests go through MLflow's own client transport (`mlflow.utils.rest_utils`), which applies
the MLFLOW_TRACKING_* credentials. The retry policy is passed per call: the server side
must fail fast when MLflow is down (MLflow's default retries for minutes), while notebook
code keeps MLflow's defaults; an environment variable would leak into every kernel.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from .context import (
    ENVIRONMENT,
    GIT_BRANCH,
    GIT_COMMIT,
    GIT_PATH,
    GIT_UNCOMMITTED,
    IMAGE_DIGEST,
    SOURCE_NAME,
    USER,
)
from .errors import InvalidInput, LabError, MlflowNotFound, MlflowUnavailable

MAX_PAGE_SIZE = 1000


@dataclasses.dataclass
class RunsPage:
    runs: list[dict[str, Any]]
    next_page_token: str | None


class RunsBackend(Protocol):
    """What the handlers and the notebook API need from MLflow."""

    def notebook_runs(
        self,
        notebook: str,
        *,
        experiment_ids: list[str] | None = None,
        user: str | None = None,
        max_results: int = 50,
        page_token: str | None = None,
    ) -> RunsPage: ...

    def experiment(self, *, name: str | None = None, experiment_id: str | None = None
                   ) -> dict[str, Any]: ...


def _quote(field: str, value: str) -> str:
    """A string literal for MLflow's filter grammar (it has no escape characters)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise InvalidInput(f"{field} may not contain both ' and \" characters; rename the file")


def runs_user(user: str | None, all_users: bool, owner: str | None) -> str | None:
    """Whose runs to list (None: everyone's). By default the owner's: every home is /home/jovyan,
    so two people's `analysis.ipynb` have the same path and their runs would mix."""
    if all_users:
        if user:
            raise InvalidInput("give either 'user' or 'all_users', not both")
        return None
    if user:
        return user
    if not owner:
        raise InvalidInput("cannot tell whose runs to list: set JUPYTERHUB_USER, or pass 'user' "
                           "or 'all_users'")
    return owner


def _tags(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in run.get("data", {}).get("tags", [])}


class MlflowRunsBackend:
    """RunsBackend over an MLflow tracking server (http or https URI)."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        ui_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        if urlsplit(tracking_uri).scheme not in ("http", "https"):
            raise InvalidInput(
                f"MLFLOW_TRACKING_URI must be the http(s) URL of the tracking server, "
                f"got {tracking_uri!r}"
            )
        self.tracking_uri = tracking_uri.rstrip("/")
        self.ui_url = (ui_url or tracking_uri).rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries

    # -- transport ---------------------------------------------------------------------
    def _call(self, endpoint: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
        # imported here, not at the top: the extension builds this backend at every server start
        from .mlflow_transport import (
            MlflowException,
            RestException,
            get_default_host_creds,
            http_request,
            verify_rest_response,
        )

        kwargs: dict[str, Any] = {"json": body} if method == "POST" else {"params": body}
        if self.max_retries is not None:
            kwargs.update(max_retries=self.max_retries, backoff_factor=0)
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        try:
            resp = http_request(
                get_default_host_creds(self.tracking_uri), endpoint, method, **kwargs
            )
            return verify_rest_response(resp, endpoint).json()
        except RestException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise MlflowNotFound(exc.message) from None
            if exc.error_code == "INVALID_PARAMETER_VALUE":
                raise InvalidInput(f"MLflow refused the request: {exc.message}") from None
            raise MlflowUnavailable(
                f"MLflow at {self.tracking_uri} answered with an error: {exc.message}"
            ) from None
        except (requests.exceptions.RequestException, MlflowException) as exc:
            detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            if "Invalid Host header" in str(exc):
                detail = ("the server refused our Host header; add this host to the MLflow "
                          "server's --allowed-hosts")
            raise MlflowUnavailable(
                f"MLflow at {self.tracking_uri} is unreachable or failing ({detail}); "
                "check that the MLflow service is running, or ask your platform admin"
            ) from None

    # -- questions ---------------------------------------------------------------------
    def experiment(self, *, name: str | None = None, experiment_id: str | None = None
                   ) -> dict[str, Any]:
        if bool(name) == bool(experiment_id):
            raise InvalidInput("give exactly one of 'name' or 'experiment_id'")
        if name:
            data = self._call("/api/2.0/mlflow/experiments/get-by-name", "GET",
                              {"experiment_name": name})
        else:
            data = self._call("/api/2.0/mlflow/experiments/get", "GET",
                              {"experiment_id": experiment_id})
        exp = data["experiment"]
        return {
            "experiment_id": exp["experiment_id"],
            "name": exp["name"],
            "lifecycle_stage": exp.get("lifecycle_stage"),
            "artifact_location": exp.get("artifact_location"),
            "tags": {t["key"]: t.get("value", "") for t in exp.get("tags", [])},
            "url": f"{self.ui_url}/#/experiments/{exp['experiment_id']}",
        }

    def _all_experiment_ids(self) -> list[str]:
        ids: list[str] = []
        token: str | None = None
        while True:
            body: dict[str, Any] = {"max_results": MAX_PAGE_SIZE, "view_type": "ACTIVE_ONLY"}
            if token:
                body["page_token"] = token
            data = self._call("/api/2.0/mlflow/experiments/search", "POST", body)
            ids += [e["experiment_id"] for e in data.get("experiments", [])]
            token = data.get("next_page_token")
            if not token:
                return ids

    def notebook_runs(
        self,
        notebook: str,
        *,
        experiment_ids: list[str] | None = None,
        user: str | None = None,
        max_results: int = 50,
        page_token: str | None = None,
    ) -> RunsPage:
        if not notebook:
            raise InvalidInput("'notebook' is required: the notebook's path")
        if not 1 <= max_results <= MAX_PAGE_SIZE:
            raise InvalidInput(f"'max_results' must be between 1 and {MAX_PAGE_SIZE}")
        ids = experiment_ids or self._all_experiment_ids()
        if not ids:
            return RunsPage([], None)
        clauses = [f'tags."{SOURCE_NAME}" = {_quote("notebook", notebook)}']
        if user:
            clauses.append(f'tags."{USER}" = {_quote("user", user)}')
        body: dict[str, Any] = {
            "experiment_ids": ids,
            "filter": " and ".join(clauses),
            "max_results": max_results,
            "order_by": ["attributes.start_time DESC"],
        }
        if page_token:
            body["page_token"] = page_token
        data = self._call("/api/2.0/mlflow/runs/search", "POST", body)
        return RunsPage(
            [self.summarize(r) for r in data.get("runs", [])], data.get("next_page_token") or None
        )

    def summarize(self, run: dict[str, Any]) -> dict[str, Any]:
        """A JSON-ready summary of one run from the REST answer."""
        info = run.get("info", {})
        data = run.get("data", {})
        tags = _tags(run)
        uncommitted = tags.get(GIT_UNCOMMITTED)
        return {
            "run_id": info.get("run_id"),
            "run_name": info.get("run_name"),
            "experiment_id": info.get("experiment_id"),
            "status": info.get("status"),
            "start_time": int(info["start_time"]) if info.get("start_time") else None,
            "end_time": int(info["end_time"]) if info.get("end_time") else None,
            "user": tags.get(USER),
            "notebook": tags.get(SOURCE_NAME),
            "git_commit": tags.get(GIT_COMMIT),
            "git_branch": tags.get(GIT_BRANCH),
            "git_path": tags.get(GIT_PATH),
            "uncommitted_changes": None if uncommitted is None else uncommitted == "true",
            "environment": tags.get(ENVIRONMENT),
            "image_digest": tags.get(IMAGE_DIGEST),
            "metrics": {m["key"]: m.get("value") for m in data.get("metrics", [])},
            "params": {p["key"]: p.get("value") for p in data.get("params", [])},
            "url": f"{self.ui_url}/#/experiments/{info.get('experiment_id')}/runs/"
                   f"{info.get('run_id')}",
        }


__all__ = ["LabError", "MlflowRunsBackend", "RunsBackend", "RunsPage"]
