"""A run's user is the authenticated user, whatever the client sends.

MLflow's client names the run's user itself (`mlflow.user` tag and CreateRun's `user_id`, by
default the OS login: `jovyan` in every lab container), and MLflow's server stores what it is
sent. Called from `edge_auth` while MLflow's auth app authenticates a request (before its
permission checks and before the handler parses the body):

- CreateRun (and the UI's create-promptlab-run): `user_id` and the `mlflow.user` tag are
  replaced by the authenticated user, in the parsed JSON body the handler then reads;
- SetTag / LogBatch may write `mlflow.user` only with the run's stored user (so nobody
  relabels a run, admins included); DeleteTag of `mlflow.user` is refused;
- CreateRun in the Default experiment (id 0) by a user who may not write there gets a 403
  that says what to do instead of MLflow's bare "Permission denied";
- experiment names `users/<name>` are reserved for <name> (their MLFLOW_EXPERIMENT_NAME).

Returns None to go on, or (status, error_code, message) to refuse.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import request

from ..names import mlflow_user_experiment

USER_TAG = "mlflow.user"
DEFAULT_EXPERIMENT_ID = "0"
_USERS_PREFIX = mlflow_user_experiment("")

Refusal = tuple[int, str, str]


@functools.cache
def _routes() -> dict[tuple[str, str], str]:
    """(path, method) -> request kind, from MLflow's own endpoint table (static prefix included)."""
    from mlflow.protos.service_pb2 import CreateExperiment, CreateRun, DeleteTag, LogBatch, SetTag
    from mlflow.server.handlers import _add_static_prefix, get_endpoints

    kinds = {CreateRun: "create-run", SetTag: "set-tag", LogBatch: "log-batch",
             DeleteTag: "delete-tag", CreateExperiment: "create-experiment"}
    routes = {(path, method): kinds[cls]
              for path, cls, methods in get_endpoints(lambda cls: cls) if cls in kinds
              for method in methods}
    routes[(_add_static_prefix("/ajax-api/2.0/mlflow/runs/create-promptlab-run"), "POST")] = "create-run"
    return routes


def _body() -> dict[str, Any] | None:
    body = request.get_json(force=True, silent=True)
    return body if isinstance(body, dict) else None


def _refuse_unparsed(kind: str) -> Refusal:
    return (400, "INVALID_PARAMETER_VALUE", f"{kind}: the request body must be a JSON object")


def _run_user(run_id: Any) -> str | None:
    from mlflow.exceptions import MlflowException
    from mlflow.server.handlers import _get_tracking_store

    if not isinstance(run_id, str) or not run_id:
        return None
    try:
        return _get_tracking_store().get_run(run_id).info.user_id
    except MlflowException:
        return None  # no such run: MLflow answers that itself


def _relabel_refusal(run_id: Any, values: list[Any]) -> Refusal | None:
    if not values:
        return None
    owner = _run_user(run_id)
    if owner is not None and any(v != owner for v in values):
        return (403, "PERMISSION_DENIED",
                f"the {USER_TAG} tag of a run is the user who created it ({owner}) and cannot be changed")
    return None


def _pin_create_run(body: dict[str, Any], user: str) -> Refusal | None:
    body["user_id"] = user
    tags = body.get("tags") or []
    if not isinstance(tags, list):
        return _refuse_unparsed("CreateRun tags")
    body["tags"] = [t for t in tags if not (isinstance(t, dict) and t.get("key") == USER_TAG)]
    body["tags"].append({"key": USER_TAG, "value": user})
    # the handler parses the body again: it must get this very (cached) object
    if request.get_json(force=True, silent=True) is not body:
        return (500, "INTERNAL_ERROR", "could not set the run's user; the run was not created")
    return None


def _default_experiment_refusal(body: dict[str, Any], user: str, is_admin: bool) -> Refusal | None:
    if is_admin or str(body.get("experiment_id", DEFAULT_EXPERIMENT_ID)) != DEFAULT_EXPERIMENT_ID:
        return None
    try:  # MLflow's own answer; only the message is ours (MLflow refuses anyway)
        from mlflow.server.auth import _get_experiment_permission

        if _get_experiment_permission(DEFAULT_EXPERIMENT_ID, user).can_update:
            return None
    except (ImportError, AttributeError):
        return None
    return (403, "PERMISSION_DENIED",
            "the Default experiment is read-only: choose an experiment of your own with "
            f"mlflow.set_experiment(...) (your servers start with MLFLOW_EXPERIMENT_NAME="
            f"{mlflow_user_experiment(user)})")


def enforce(user: str, is_admin: bool) -> Refusal | None:
    kind = _routes().get((request.path, request.method))
    if kind is None:
        return None
    body = _body()
    if body is None:
        return _refuse_unparsed(kind)
    if kind == "create-run":
        return _default_experiment_refusal(body, user, is_admin) or _pin_create_run(body, user)
    if kind == "set-tag":
        values = [body.get("value")] if body.get("key") == USER_TAG else []
        return _relabel_refusal(body.get("run_id") or body.get("run_uuid"), values)
    if kind == "log-batch":
        tags = body.get("tags") or []
        values = [t.get("value") for t in tags if isinstance(t, dict) and t.get("key") == USER_TAG]
        return _relabel_refusal(body.get("run_id"), values)
    if kind == "delete-tag":
        if body.get("key") == USER_TAG:
            return (403, "PERMISSION_DENIED", f"the {USER_TAG} tag of a run cannot be deleted")
        return None
    # create-experiment
    name = body.get("name")
    if (not is_admin and isinstance(name, str) and name.startswith(_USERS_PREFIX)
            and name != mlflow_user_experiment(user)):
        return (403, "PERMISSION_DENIED",
                f"experiment names under {_USERS_PREFIX!r} are reserved for their users; yours is "
                f"{mlflow_user_experiment(user)!r}")
    return None
