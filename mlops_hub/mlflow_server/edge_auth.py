"""MLflow's basic-auth app with the caller named by the edge (nginx), not by a password.

`authorization_function = mlops_hub.mlflow_server.edge_auth:authenticate_from_edge` in the
auth ini (MLFLOW_AUTH_CONFIG_PATH), with `mlflow server --app-name basic-auth`. nginx checks
the caller's JupyterHub token and overwrites two headers before it forwards to MLflow:

- `X-Mlops-User`: the JupyterHub user name, percent-encoded UTF-8 (`quote(name, safe="")`);
- `X-Mlops-Admin`: `true` or `false`.

Only nginx can reach MLflow (a private overlay network), so the headers are trusted here.
MLflow's auth app calls this function for every protected request, on its Flask path and,
through its FastAPI bridge, on the native FastAPI routes (artifacts, gateway, jobs). It
also calls it again from its permission checks and after-request hooks, so the outcome is
kept for the request (`flask.g`).

The user is created in MLflow's user store the first time it is seen (a random password
nobody keeps: no password is ever checked here) and its admin flag follows the header.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
import unicodedata
from urllib.parse import unquote

from flask import Response, g, request
from werkzeug.datastructures import Authorization

from ..names import HEADER_MLFLOW_ADMIN, HEADER_MLFLOW_USER
from . import run_owner

log = logging.getLogger(__name__)

# exactly what urllib.parse.quote(name, safe="") produces: unreserved characters and %XX
_PERCENT_ENCODED = re.compile(r"(?:[A-Za-z0-9_.~-]|%[0-9A-Fa-f]{2})+")
MAX_NAME_LENGTH = 255
# how long a worker trusts its own record of a user's admin flag before reading the store
# again (a change of the header takes effect at once; this only bounds out-of-band edits)
SYNC_SECONDS = 30.0

_synced: dict[str, tuple[bool, float]] = {}
_synced_lock = threading.Lock()


class EdgeHeaderError(ValueError):
    """A header the edge should have set is missing or malformed."""


def error_response(status: int, error_code: str, message: str) -> Response:
    """MLflow's error shape: its client shows `message` in the exception it raises."""
    resp = Response(json.dumps({"error_code": error_code, "message": message}),
                    status=status, mimetype="application/json")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Token realm="mlops-hub"'
    return resp


def decode_user(raw: str | None) -> str:
    if raw is None:
        raise EdgeHeaderError(
            f"no {HEADER_MLFLOW_USER} header: MLflow is reached through the platform's edge, which "
            "sets it after checking your JupyterHub token (in a notebook: "
            "MLFLOW_TRACKING_AUTH=mlops-hub and the server's JupyterHub API token)")
    if len(raw) > 3 * 4 * MAX_NAME_LENGTH or not _PERCENT_ENCODED.fullmatch(raw):
        raise EdgeHeaderError(f"{HEADER_MLFLOW_USER} must be a non-empty percent-encoded UTF-8 name")
    try:
        name = unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise EdgeHeaderError(f"{HEADER_MLFLOW_USER} is not percent-encoded UTF-8") from None
    if not name or len(name) > MAX_NAME_LENGTH:
        raise EdgeHeaderError(f"{HEADER_MLFLOW_USER} must name a user of 1 to {MAX_NAME_LENGTH} characters")
    if name != name.strip() or any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise EdgeHeaderError(f"{HEADER_MLFLOW_USER} contains control characters or surrounding spaces")
    return name


def decode_admin(raw: str | None) -> bool:
    if raw == "true":
        return True
    if raw == "false":
        return False
    if raw is None:
        raise EdgeHeaderError(f"no {HEADER_MLFLOW_ADMIN} header (the edge sets it with {HEADER_MLFLOW_USER})")
    raise EdgeHeaderError(f"{HEADER_MLFLOW_ADMIN} must be 'true' or 'false'")


def sync_user(name: str, is_admin: bool) -> None:
    """The user exists in MLflow's user store with the admin flag the edge says it has."""
    now = time.monotonic()
    with _synced_lock:
        known = _synced.get(name)
    if known is not None and known[0] == is_admin and known[1] > now:
        return
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth import store

    if not store.has_user(name, use_primary=True):
        try:
            # the password is never checked (this module names the caller), so nobody keeps it
            store.create_user(name, secrets.token_urlsafe(32), is_admin=is_admin)
            log.info("created MLflow user %r (admin: %s)", name, is_admin)
        except MlflowException:
            if not store.has_user(name, use_primary=True):  # not another worker's concurrent create
                raise
    if store.get_user(name).is_admin != is_admin:
        store.update_user(name, is_admin=is_admin)
        log.info("MLflow user %r: admin set to %s, as the hub says", name, is_admin)
    with _synced_lock:
        _synced[name] = (is_admin, now + SYNC_SECONDS)


def _reserved_names() -> set[str]:
    # MLflow's own bootstrap admin (admin_username): its password is random and unkept, and
    # no hub user may become it
    from mlflow.server.auth import auth_config

    return {auth_config.admin_username} if auth_config.admin_username else set()


def _authenticate() -> Authorization | Response:
    try:
        name = decode_user(request.headers.get(HEADER_MLFLOW_USER))
        is_admin = decode_admin(request.headers.get(HEADER_MLFLOW_ADMIN))
    except EdgeHeaderError as e:
        return error_response(401, "UNAUTHENTICATED", str(e))
    if name in _reserved_names():
        return error_response(403, "PERMISSION_DENIED",
                              f"the MLflow user name {name!r} is reserved for MLflow's own bootstrap admin")
    sync_user(name, is_admin)
    refusal = run_owner.enforce(name, is_admin)
    if refusal is not None:
        return error_response(*refusal)
    return Authorization("basic", {"username": name, "password": ""})


def authenticate_from_edge() -> Authorization | Response:
    """MLflow's `authorization_function`: the edge's user, or a 401/403 response."""
    outcome = g.get("mlops_edge_auth")
    if outcome is None:
        outcome = g.mlops_edge_auth = _authenticate()
    return outcome
