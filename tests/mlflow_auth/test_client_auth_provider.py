"""MLFLOW_TRACKING_AUTH=mlops-hub (mlops_hub.lab.mlflow_auth): the hub token goes to the
platform's MLflow only, read from the server's token file."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import pytest
import requests
import tomllib

from mlops_hub.lab import mlflow_auth
from mlops_hub.names import ENV_HUB_TOKEN_FILE, ENV_MLFLOW_PLATFORM_URI, MLFLOW_AUTH_PROVIDER

REPO = Path(__file__).resolve().parents[2]
FILE_TOKEN = "file-t0ken-not-for-logs"
ENV_TOKEN = "env-t0ken-not-for-logs"


def _sent(url: str) -> str | None:
    prepared = requests.Request("POST", url, json={}).prepare()
    return mlflow_auth.HubTokenAuthProvider().get_auth()(prepared).headers.get("Authorization")


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    token_file = tmp_path / "jupyterhub_api_token"
    token_file.write_text(FILE_TOKEN + "\n")
    monkeypatch.setenv(ENV_MLFLOW_PLATFORM_URI, "http://Edge.example:8080/mlflow")
    monkeypatch.setenv(ENV_HUB_TOKEN_FILE, str(token_file))
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", ENV_TOKEN)
    return token_file


def test_the_token_goes_to_the_platforms_origin_only(platform: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert _sent("http://edge.example:8080/mlflow/api/2.0/mlflow/runs/create") == f"token {FILE_TOKEN}"
    assert _sent("http://EDGE.example:8080/other/path") == f"token {FILE_TOKEN}"
    for elsewhere in ("http://edge.example/mlflow/api/2.0/mlflow/runs/create",        # port 80
                      "https://edge.example:8080/mlflow/api/2.0/mlflow/runs/create",  # scheme
                      "http://edge.example.evil:8080/mlflow/api",                     # host
                      "http://127.0.0.1:8080/mlflow/api"):
        assert _sent(elsewhere) is None, elsewhere
    # the variable MLflow rewrites on mlflow.set_tracking_uri() says nothing about it
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://elsewhere.example")
    assert _sent("http://elsewhere.example/api/2.0/mlflow/runs/create") is None
    # default ports count as given
    monkeypatch.setenv(ENV_MLFLOW_PLATFORM_URI, "https://edge.example/mlflow")
    assert _sent("https://edge.example:443/mlflow/api") == f"token {FILE_TOKEN}"


def test_the_token_comes_from_the_file_else_the_environment(platform: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://edge.example:8080/mlflow/api/2.0/mlflow/experiments/search"
    assert _sent(url) == f"token {FILE_TOKEN}"
    platform.write_text("")
    assert _sent(url) == f"token {ENV_TOKEN}"
    monkeypatch.setenv(ENV_HUB_TOKEN_FILE, str(platform.with_name("missing")))
    assert _sent(url) == f"token {ENV_TOKEN}"


def test_no_token_no_header_and_a_warning_without_secrets(platform: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    url = "http://edge.example:8080/mlflow/api/2.0/mlflow/experiments/search"
    platform.write_text("")
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN")
    monkeypatch.setattr(mlflow_auth, "_warned_no_token", False)
    with caplog.at_level(logging.DEBUG):
        assert _sent(url) is None
    assert "401" in caplog.text and ENV_HUB_TOKEN_FILE in caplog.text
    monkeypatch.delenv(ENV_MLFLOW_PLATFORM_URI)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", ENV_TOKEN)
    assert _sent(url) is None  # no platform URL: nowhere is the platform


def test_the_token_is_never_logged(platform: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        _sent("http://edge.example:8080/mlflow/api/2.0/mlflow/experiments/search")
        _sent("http://elsewhere.example/api")
    assert FILE_TOKEN not in caplog.text and ENV_TOKEN not in caplog.text


def test_pyproject_registers_the_provider_under_its_name() -> None:
    eps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    module, _, attr = eps["mlflow.request_auth_provider"][MLFLOW_AUTH_PROVIDER].partition(":")
    provider = getattr(importlib.import_module(module), attr)()
    assert provider.get_name() == MLFLOW_AUTH_PROVIDER
    assert isinstance(provider.get_auth(), requests.auth.AuthBase)
