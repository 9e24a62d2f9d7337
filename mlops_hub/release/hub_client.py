"""`mlops-hub model release`: ask the hub to release a model version, from a laptop, a notebook's terminal or a CI
job (Jenkins, GitLab CI: templates/model-repo/). Talks to the hub's REST API only, with a user's token.

The token is read from a file (`--token-file`) or from MLOPS_HUB_TOKEN, never from the command line, where any
user of the machine could read it in the process list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import requests

RELEASES = "/hub/api/mlops/models/releases"
TOKEN_VARIABLE = "MLOPS_HUB_TOKEN"


class ReleaseRefused(RuntimeError):
    """The hub refused or could not do the release; `exit_code` 2 for a bad request, 1 otherwise."""

    def __init__(self, message: str, exit_code: int, status: int = 0):
        super().__init__(message)
        self.exit_code = exit_code
        self.status = status  # the hub's HTTP status; 0 when it did not answer


@dataclass(frozen=True)
class HubConnection:
    url: str
    token: str
    verify: str | bool = True  # a CA bundle's path, or True for the system's


def read_token(token_file: str | None, environ=os.environ) -> str:
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf8").strip()
        except OSError as e:
            raise ReleaseRefused(f"--token-file: cannot read {token_file} ({e.strerror})", 2) from None
        if not token:
            raise ReleaseRefused(f"--token-file: {token_file} is empty", 2)
        return token
    token = environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise ReleaseRefused(f"no token: give --token-file FILE or set {TOKEN_VARIABLE} (a hub token of the"
                             " releasing user, from the hub's Token page)", 2)
    return token


def release(hub: HubConnection, body: dict, timeout: float = 900.0) -> dict:
    """The hub's answer for a release that served (201); ReleaseRefused with its message otherwise."""
    try:
        r = requests.post(f"{hub.url.rstrip('/')}{RELEASES}", json=body, timeout=timeout, verify=hub.verify,
                          headers={"Authorization": f"token {hub.token}"})
    except requests.RequestException as e:
        raise ReleaseRefused(f"cannot reach the hub at {hub.url}: {e}", 1) from None
    try:
        answer = r.json()
    except ValueError:
        answer = {"message": r.text[:300]}
    if r.status_code == 201:
        return answer
    message = answer.get("message") or f"HTTP {r.status_code}"
    if r.status_code == 409:
        raise ReleaseRefused(f"{answer.get('service', 'the service')}: {message}", 1, 409)
    if r.status_code in (401, 403):
        raise ReleaseRefused(f"the hub refused ({r.status_code}): {message}", 1, r.status_code)
    raise ReleaseRefused(message, 2 if r.status_code == 400 else 1, r.status_code)
