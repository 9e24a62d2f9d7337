"""Scheduled notebooks from a user's server: the hub's jobs API, called with this server's own token.

The lab never talks to Airflow: the hub holds Airflow's credentials and checks every request
(docs/scheduling.md). Used by the lab extension's handlers and by notebook code (lab/api.py).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import requests

from ..names import ENV_HUB_TOKEN_FILE
from .errors import InvalidInput, LabError


def server_token() -> str:
    """This server's own hub token (a file the spawner wrote, or JupyterHub's variable)."""
    path = os.environ.get(ENV_HUB_TOKEN_FILE)
    if path and Path(path).is_file():
        return Path(path).read_text(encoding="utf8").strip()
    return os.environ.get("JUPYTERHUB_API_TOKEN", "")


class HubJobsBackend:
    def __init__(self, api_url: str | None = None, token: str | None = None, timeout: float = 120) -> None:
        self.api_url = (api_url or os.environ.get("JUPYTERHUB_API_URL", "")).rstrip("/")
        self._token = token
        self.timeout = timeout  # scheduling waits for Airflow to load the job: up to ~90 s on a busy host

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        if not self.api_url:
            raise LabError("this server has no hub (JUPYTERHUB_API_URL is empty): scheduling needs one",
                           status=503, reason="no-hub")
        token = self._token or server_token()
        try:
            answer = requests.request(method, f"{self.api_url}/mlops/jobs{path}", timeout=self.timeout,
                                      headers={"Authorization": f"token {token}"}, **kwargs)
        except requests.RequestException as e:
            raise LabError(f"the hub did not answer: {e}", status=502, reason="hub-unreachable") from None
        if answer.status_code == 204:
            return None
        try:
            data = answer.json()
        except ValueError:
            data = {"message": answer.text[:300]}
        if answer.status_code >= 400:
            # the hub's message names the field or the reason: pass it on as it is
            raise LabError(data.get("message") or f"the hub answered {answer.status_code}",
                           status=answer.status_code, reason="jobs")
        return data

    def schedule(self, notebook: str, **fields: Any) -> dict:
        body = {"notebook": notebook, **{k: v for k, v in fields.items() if v is not None}}
        return self._request("POST", "", json=body)["job"]

    def jobs(self) -> list[dict]:
        return self._request("GET", "")["jobs"]

    def job(self, job_id: str) -> dict:
        return self._request("GET", f"/{quote(job_id, safe='')}")["job"]

    def set_paused(self, job_id: str, paused: bool) -> dict:
        return self._request("PATCH", f"/{quote(job_id, safe='')}", json={"paused": paused})["job"]

    def delete(self, job_id: str) -> None:
        self._request("DELETE", f"/{quote(job_id, safe='')}")

    def trigger(self, job_id: str, parameters: dict | None = None) -> dict:
        body = {"parameters": parameters} if parameters else {}
        return self._request("POST", f"/{quote(job_id, safe='')}/runs", json=body)["run"]

    def runs(self, job_id: str, limit: int = 25, offset: int = 0) -> dict:
        return self._request("GET", f"/{quote(job_id, safe='')}/runs", params={"limit": limit, "offset": offset})

    def run(self, job_id: str, run_id: str) -> dict:
        return self._request("GET", f"/{quote(job_id, safe='')}/runs/{quote(run_id, safe='')}")["run"]

    def log(self, job_id: str, run_id: str, token: str | None = None) -> dict:
        params = {"token": token} if token else {}
        return self._request("GET", f"/{quote(job_id, safe='')}/runs/{quote(run_id, safe='')}/log", params=params)


def home_relative(path: str | os.PathLike[str], home: str | os.PathLike[str]) -> str:
    """A notebook's path relative to the home, which is where jobs find it; InvalidInput outside it."""
    absolute = Path(os.path.normpath(Path(home) / path))
    try:
        return str(PurePosixPath(absolute.relative_to(Path(os.path.normpath(home))).as_posix()))
    except ValueError:
        raise InvalidInput(f"{str(path)!r} is outside your home folder {home}: jobs run notebooks from there") from None
