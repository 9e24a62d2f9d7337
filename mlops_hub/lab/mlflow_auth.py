"""`MLFLOW_TRACKING_AUTH=mlops-hub`: MLflow's client sends the user's JupyterHub token to the
platform's MLflow, and nowhere else.

Registered under MLflow's `mlflow.request_auth_provider` entry point. MLflow's REST transport
(`http_request`, used by the fluent API, `MlflowClient`, artifact uploads to `mlflow-artifacts:`
and this extension's server side) asks the provider for a `requests` auth object on every call.
That object adds `Authorization: token <hub token>` only when the request goes to the
platform's MLflow: same scheme, host and port as MLOPS_MLFLOW_TRACKING_URI (the spawner sets
it to the same URL as MLFLOW_TRACKING_URI, which `mlflow.set_tracking_uri()` overwrites and so
cannot say where the token may go). The edge (nginx) checks the token with the hub and tells
MLflow who is calling (docs/mlflow-auth.md).

The token is read when a request is made from the file named by JUPYTERHUB_API_TOKEN_FILE (the
server's token, a 0400 secret), else from JUPYTERHUB_API_TOKEN; without one no header is sent
and the edge answers 401. The token is never logged.

Must not import mlflow (like `context`): MLflow loads this module while importing its
provider registry, and MLflow only needs `get_name()` and `get_auth()`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

from requests.auth import AuthBase

from ..names import ENV_HUB_TOKEN_FILE, ENV_MLFLOW_PLATFORM_URI, MLFLOW_AUTH_PROVIDER

log = logging.getLogger(__name__)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_warned_no_token = False


def origin(url: str | None) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, default ports filled in; None for anything else."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def hub_token(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    path = env.get(ENV_HUB_TOKEN_FILE)
    if path:
        try:
            token = Path(path).read_text().strip()
        except OSError:
            token = ""
        if token:
            return token
    return env.get("JUPYTERHUB_API_TOKEN", "").strip()


def platform_origin(environ: dict[str, str] | None = None) -> tuple[str, str, int] | None:
    env = os.environ if environ is None else environ
    return origin(env.get(ENV_MLFLOW_PLATFORM_URI) or None)


class HubTokenAuth(AuthBase):
    """Adds the hub token to requests for the platform's MLflow only."""

    def __call__(self, r):
        platform = platform_origin()
        if platform is None or origin(r.url) != platform:
            return r
        token = hub_token()
        if token:
            r.headers["Authorization"] = f"token {token}"
        else:
            _warn_no_token()
        return r


def _warn_no_token() -> None:
    global _warned_no_token
    if not _warned_no_token:
        _warned_no_token = True
        log.warning("no JupyterHub API token (%s or JUPYTERHUB_API_TOKEN): MLflow will answer 401",
                    ENV_HUB_TOKEN_FILE)


class HubTokenAuthProvider:
    """MLflow's RequestAuthProvider interface, without its base class (see the module doc)."""

    def get_name(self) -> str:
        return MLFLOW_AUTH_PROVIDER

    def get_auth(self) -> HubTokenAuth:
        return HubTokenAuth()
