"""End to end: the real `mlflow` client with MLFLOW_TRACKING_AUTH=mlops-hub, through a double
of the edge (token -> X-Mlops-* headers), to the MLflow server as deployed under /mlflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mlops_hub.names import (
    ENV_HUB_TOKEN_FILE,
    ENV_MLFLOW_PLATFORM_URI,
    HEADER_MLFLOW_ADMIN,
    HEADER_MLFLOW_USER,
    MLFLOW_AUTH_PROVIDER,
)
from tests.support.edge_double import EdgeDouble, RecordingServer
from tests.support.entry_points import write_dist_info
from tests.support.mlflow_server import MlflowServer

from .conftest import PUBLIC_HOST, PUBLIC_ORIGIN

TOKENS = {"alice-t0ken": ("alice-e2e", False), "root-t0ken": ("root-e2e", True)}
SCRIPT = Path(__file__).with_name("client_script.py")


@pytest.fixture(scope="module")
def edge(edge_mlflow: MlflowServer) -> Iterator[EdgeDouble]:
    double = EdgeDouble(edge_mlflow.port, TOKENS, upstream_host_header=PUBLIC_HOST).start()
    double.mlflow = edge_mlflow
    yield double
    double.stop()


def _client(edge: EdgeDouble, tmp_path: Path, token: str | None, *args: str) -> subprocess.CompletedProcess:
    uri = f"{edge.url}/mlflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "JUPYTERHUB_"))}
    env.update(MLFLOW_TRACKING_URI=uri, MLFLOW_TRACKING_AUTH=MLFLOW_AUTH_PROVIDER,
               MLFLOW_EXPERIMENT_NAME="users/alice-e2e", MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
               PYTHONPATH=write_dist_info(tmp_path / "site"), HOME=str(tmp_path))
    env[ENV_MLFLOW_PLATFORM_URI] = uri
    if token is not None:
        token_file = tmp_path / "jupyterhub_api_token"
        token_file.write_text(token)
        token_file.chmod(0o400)
        env[ENV_HUB_TOKEN_FILE] = str(token_file)
    return subprocess.run([sys.executable, *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)


def test_mlflow_client_through_an_edge_double_with_the_users_hub_token(edge: EdgeDouble, tmp_path: Path) -> None:
    recorder = RecordingServer().start()
    try:
        proc = _client(edge, tmp_path, "alice-t0ken", str(SCRIPT), recorder.url)
    finally:
        recorder.stop()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert out["experiment"] == "users/alice-e2e"
    assert (out["user_id"], out["user_tag"]) == ("alice-e2e", "alice-e2e")  # not the OS login
    assert out["metrics"] == {"m": 0.5}
    assert out["artifacts"] == ["note.txt"] and out["artifact_text"] == "hello through the edge"
    assert "cannot be changed" in out["relabel"]
    assert out["backend_experiment"] == "users/alice-e2e"
    # every request the client made reached the edge with the token; none went elsewhere with it
    assert len(edge.seen) >= 8 and all(ok for _, _, ok in edge.seen), edge.seen
    assert any(m == "PUT" and "mlflow-artifacts" in p for m, p, _ in edge.seen), edge.seen
    assert recorder.authorizations and set(recorder.authorizations) == {None}
    assert "t0ken" not in proc.stderr and "t0ken" not in proc.stdout


def test_without_a_token_the_client_gets_401(edge: EdgeDouble, tmp_path: Path) -> None:
    code = "import mlflow; mlflow.search_experiments()"
    proc = _client(edge, tmp_path, None, "-c", code)
    assert proc.returncode != 0 and "401" in proc.stderr, proc.stderr[-3000:]
    proc = _client(edge, tmp_path, "not-a-known-t0ken", "-c", code)
    assert proc.returncode != 0 and "401" in proc.stderr, proc.stderr[-3000:]


def test_ui_and_ajax_api_under_the_prefix_and_the_host_check(edge: EdgeDouble) -> None:
    auth = {"Authorization": "token root-t0ken"}
    page = requests.get(f"{edge.url}/mlflow/", headers=auth, timeout=60)
    assert page.status_code == 200 and "<html" in page.text.lower(), page.text[:500]
    # the UI's own POSTs carry the public Origin
    listing = requests.post(f"{edge.url}/mlflow/ajax-api/2.0/mlflow/experiments/search",
                            json={"max_results": 100}, headers=dict(auth, Origin=PUBLIC_ORIGIN), timeout=60)
    assert listing.status_code == 200, listing.text
    foreign = requests.post(f"{edge.url}/mlflow/ajax-api/2.0/mlflow/experiments/search",
                            json={"max_results": 100}, headers=dict(auth, Origin="http://evil.example"),
                            timeout=60)
    assert foreign.status_code == 403, foreign.text
    me = requests.get(f"{edge.url}/mlflow/ajax-api/2.0/mlflow/users/current", headers=auth, timeout=60)
    assert me.status_code == 200 and me.json()["user"]["username"] == "root-e2e", me.text
    # client-sent identity headers never pass the edge
    forged = dict(auth, **{HEADER_MLFLOW_USER: "alice-e2e", HEADER_MLFLOW_ADMIN: "false"})
    me = requests.get(f"{edge.url}/mlflow/ajax-api/2.0/mlflow/users/current", headers=forged, timeout=60)
    assert me.json()["user"]["username"] == "root-e2e", me.text
    # MLflow itself refuses a Host it was not told about
    direct = f"http://127.0.0.1:{edge.mlflow.port}/mlflow/ajax-api/2.0/mlflow/experiments/search"
    headers = {HEADER_MLFLOW_USER: "root-e2e", HEADER_MLFLOW_ADMIN: "true"}
    assert requests.post(direct, json={}, headers=dict(headers, Host="evil.example"), timeout=60).status_code == 403
    resp = requests.post(direct, json={"max_results": 10}, headers=dict(headers, Host="mlflow:5000"), timeout=60)
    assert resp.status_code == 200, resp.text
