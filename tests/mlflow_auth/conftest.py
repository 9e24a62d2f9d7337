"""A real MLflow server run as the platform runs it (basic-auth app + our auth ini), and
requests that carry the headers the edge sets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from mlops_hub.names import HEADER_MLFLOW_ADMIN, HEADER_MLFLOW_USER
from tests.support.mlflow_server import MlflowServer

# the public address the edge double forwards as Host, and the origin of the UI's POSTs (test_edge_e2e.py)
PUBLIC_HOST = "edge.example:8080"
PUBLIC_ORIGIN = f"http://{PUBLIC_HOST}"


@pytest.fixture(scope="session")
def edge_mlflow() -> Iterator[MlflowServer]:
    """One MLflow for every test here but the shared-database one (a start takes 25 s on a loaded machine),
    as the stack runs it: under /mlflow, with the Host headers nginx may forward (the public one, or the
    service's; 127.0.0.1:PORT for the tests that call it directly) and the public origin for the UI's POSTs."""
    server = MlflowServer(edge_auth=True, static_prefix="/mlflow")
    server.extra_args = ["--allowed-hosts", f"{PUBLIC_HOST},mlflow,mlflow:5000,127.0.0.1:{server.port}",
                         "--cors-allowed-origins", PUBLIC_ORIGIN]
    server.start()
    yield server
    server.stop()


class Caller:
    """Requests to MLflow as `name`, with the headers the edge would set."""

    def __init__(self, server: MlflowServer, name: str, admin: bool = False) -> None:
        self.server, self.name, self.admin = server, name, admin

    def headers(self) -> dict[str, str]:
        return {HEADER_MLFLOW_USER: quote(self.name, safe=""),
                HEADER_MLFLOW_ADMIN: "true" if self.admin else "false"}

    def call(self, method: str, endpoint: str, body: dict[str, Any] | None = None) -> requests.Response:
        url = f"{self.server.url}/api/2.0/mlflow/{endpoint}"
        if method == "GET":
            return requests.get(url, params=body, headers=self.headers(), timeout=60)
        return requests.request(method, url, json=body or {}, headers=self.headers(), timeout=60)

    def ok(self, method: str, endpoint: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = self.call(method, endpoint, body)
        assert resp.status_code == 200, (self.name, endpoint, resp.status_code, resp.text)
        return resp.json()

    def experiment(self, name: str) -> str:
        return self.ok("POST", "experiments/create", {"name": name})["experiment_id"]

    def run(self, experiment_id: str, **extra: Any) -> dict[str, Any]:
        return self.ok("POST", "runs/create", {"experiment_id": experiment_id, **extra})["run"]

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self.ok("GET", "runs/get", {"run_id": run_id})["run"]


@pytest.fixture
def caller(edge_mlflow: MlflowServer, request: pytest.FixtureRequest):
    """caller("alice") -> a Caller; names get a per-test suffix so tests never share users."""
    suffix = abs(hash(request.node.nodeid)) % 10**6

    def make(name: str, admin: bool = False, *, exact: bool = False) -> Caller:
        return Caller(edge_mlflow, name if exact else f"{name}-{suffix}", admin)

    return make


def run_user(run: dict[str, Any]) -> tuple[str, list[str]]:
    """(the run's user_id column, every mlflow.user tag value)."""
    tags = [t["value"] for t in run["data"].get("tags", []) if t["key"] == "mlflow.user"]
    return run["info"]["user_id"], tags
