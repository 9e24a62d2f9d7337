"""Fixtures for the lab extension tests: a real MLflow (PostgreSQL backend), a real git
server over HTTP with a GitLab API double on the same origin, and a jupyter server with
the extension loaded (pytest-jupyter)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403 - registers the jp_* fixtures here
from traitlets.config import Config

from mlops_hub.lab.app import MlopsLabApp
from mlops_hub.lab.askpass import git_auth_env
from mlops_hub.lab.tokens import StaticTokenSource
from tests.support.git_http import GitHttpServer
from tests.support.gitlab_double import GitLabApiDouble
from tests.support.mlflow_server import MlflowServer
from tests.support.postgres import PostgresCluster

TOKEN = "glpat-Tok3n-n0t-f0r-l0gs-4242"
PROJECT = "team/analysis"


@pytest.fixture
def jp_asyncio_loop(request: pytest.FixtureRequest) -> Any:
    """Serve the jupyter server on the loop pytest-asyncio (asyncio_mode=auto) runs the test
    on; pytest-jupyter's own loop would never run while the test awaits."""
    try:  # pytest-asyncio >= 1.0 runs each test in this runner's loop
        return request.getfixturevalue("_function_scoped_runner").get_loop()
    except pytest.FixtureLookupError:  # older pytest-asyncio: the event_loop fixture
        return request.getfixturevalue("event_loop")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def mlflow_server(postgres: PostgresCluster) -> Iterator[MlflowServer]:
    server = MlflowServer(postgres.create_database("mlflow")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gitlab_api() -> GitLabApiDouble:
    return GitLabApiDouble(token=TOKEN)


@pytest.fixture(scope="session")
def git_server(gitlab_api: GitLabApiDouble) -> Iterator[GitHttpServer]:
    server = GitHttpServer(TOKEN, api=gitlab_api).start()
    gitlab_api.base_url = server.url
    yield server
    server.stop()


@pytest.fixture
def project(git_server: GitHttpServer, gitlab_api: GitLabApiDouble, request: pytest.FixtureRequest
            ) -> str:
    """A fresh GitLab project (bare repo + API entry) per test; returns its clone URL."""
    path = f"{PROJECT}-{abs(hash(request.node.nodeid)) % 10**8}"
    url = git_server.create_repo(f"{path}.git", seed_files={"README.md": "# analysis\n"})
    gitlab_api.add_project(path)
    return url


def notebook_json(*sources: str, outputs: bool = False) -> str:
    cells = []
    for i, src in enumerate(sources):
        cell: dict[str, Any] = {"cell_type": "code", "id": f"c{i}", "metadata": {},
                                "source": src, "outputs": [], "execution_count": None}
        if outputs:
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "42\n"}]
            cell["execution_count"] = i + 1
        cells.append(cell)
    return json.dumps({"cells": cells, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}, indent=1)


def git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


@pytest.fixture
def clone(jp_root_dir: Path, project: str) -> Path:
    """The project cloned into the server's root folder, as a user would have it."""
    dest = jp_root_dir / "analysis"
    git("clone", "-q", project, str(dest), cwd=jp_root_dir, env=git_auth_env(TOKEN))
    return dest


@pytest.fixture
def lab_env() -> dict[str, str]:
    """What the spawner puts in a lab server's environment."""
    return {
        "MLOPS_ENVIRONMENT": "py311-cpu",
        "MLOPS_IMAGE_DIGEST": "sha256:" + "ab" * 32,
        "CPU_LIMIT": "2.0",
        "MEM_LIMIT": "4294967296",
        "JUPYTERHUB_USER": "ada",
    }


@pytest.fixture
def jp_server_config(mlflow_server: MlflowServer, git_server: GitHttpServer) -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"mlops_hub.lab": True}},
        "MlopsLabApp": {
            "mlflow_tracking_uri": mlflow_server.url,
            "mlflow_ui_url": "https://mlflow.example.org",
            "gitlab_url": git_server.url,
            "mlflow_max_retries": 0,
        },
    })


@pytest.fixture
def lab_app(jp_serverapp: Any) -> MlopsLabApp:
    (app,) = jp_serverapp.extension_manager.extension_apps["mlops_hub.lab"]
    app.token_source = StaticTokenSource(TOKEN)
    return app


@pytest.fixture
def fetch_json(jp_fetch: Any, lab_app: MlopsLabApp) -> Any:
    """jp_fetch answering (status, json) and never raising on HTTP errors."""
    from tornado.httpclient import HTTPClientError

    async def call(*parts: str, **kwargs: Any) -> tuple[int, Any]:
        try:
            resp = await jp_fetch(*parts, **kwargs)
        except HTTPClientError as exc:
            assert exc.response is not None
            return exc.code, json.loads(exc.response.body or b"null")
        return resp.code, json.loads(resp.body) if resp.body else None

    return call


@pytest.fixture
def kernel_env(lab_env: dict[str, str], mlflow_server: MlflowServer) -> dict[str, str]:
    env = dict(os.environ, **lab_env, MLFLOW_TRACKING_URI=mlflow_server.url)
    env.pop("JPY_SESSION_NAME", None)
    return env
