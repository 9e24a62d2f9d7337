"""Models to production from a user's server: the hub's release API, called with this server's own token
(docs/models.md). Used by the panel's "Serve a model" section and by notebook code (lab/api.py)."""

from __future__ import annotations

import os
from typing import Any

from ..release.hub_client import HubConnection, ReleaseRefused, release
from .errors import InvalidInput, LabError
from .jobs_backend import server_token

RELEASE_FIELDS = ("model", "replicas", "cpu", "mem")


def hub_connection() -> HubConnection:
    """The hub as this server reaches it (JUPYTERHUB_API_URL ends in /hub/api), with the server's token."""
    api_url = os.environ.get("JUPYTERHUB_API_URL", "").rstrip("/")
    if not api_url.endswith("/hub/api"):
        raise LabError("this server has no hub (JUPYTERHUB_API_URL is not set): releasing needs one",
                       status=503, reason="no-hub")
    return HubConnection(api_url.removesuffix("/hub/api"), server_token())


def release_model(body: Any) -> dict[str, Any]:
    """Release `body` ({model, replicas, cpu, mem}) as this server's owner; the hub's answer and the front door's
    path of the model. LabError with the hub's status: 400 naming the field, 409 rolled back, 403 refused."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise InvalidInput("model: the model to serve, as NAME@ALIAS or NAME/VERSION (e.g. churn@champion)")
    unknown = sorted(k for k in body if k not in RELEASE_FIELDS)
    if unknown:
        raise InvalidInput(f"{unknown[0]}: not a release setting; allowed: {', '.join(RELEASE_FIELDS)}")
    try:
        done = release(hub_connection(), {k: v for k, v in body.items() if v is not None})
    except ReleaseRefused as e:
        if e.status == 400:
            raise InvalidInput(str(e)) from None
        if e.status == 409:
            raise LabError(str(e), status=409, reason="rolled-back") from None
        raise LabError(str(e), status=e.status or 502, reason="release-refused" if e.status else "hub-unreachable") \
            from None
    return {**done, "url": f"/models/{done['service'].removeprefix('model-')}/invocations"}
