"""The hub side of the front door: each web tool's login check is a hub-managed service, every user
and every user server's token may use it, and nothing more is granted."""

from __future__ import annotations

import sys
from pathlib import Path

from traitlets.config import Config

from mlops_hub.hub.edge import EDGE_CHECK_PORT, SERVICE_START_TIMEOUT, configure_edge
from mlops_hub.hub.edge_check import model_in_uri, model_scope
from mlops_hub.hub.setup import SERVER_TOKEN_SCOPES, configure_models
from mlops_hub.names import MODELS_SCOPE

TOOL_SCOPES = [f"access:services!service={tool}" for tool in ("mlflow", "airflow", "prometheus", "grafana")]


def test_the_login_check_is_a_managed_service_with_its_oauth_callback_under_the_tool():
    c = Config()
    c.JupyterHub.services = [{"name": "mlops-cli", "api_token": "x"}]
    configure_edge(c, {"MLOPS_HUB_HOST": "hub", "MLOPS_GRAFANA": "1"})
    cli, mlflow, airflow, prometheus, grafana = c.JupyterHub.services
    assert cli["name"] == "mlops-cli"
    assert mlflow == {
        "timeout": SERVICE_START_TIMEOUT, "name": "mlflow", "display": True,
        "url": f"http://hub:{EDGE_CHECK_PORT}",
        "command": [sys.executable, "-m", "mlops_hub.hub.edge_check", "mlflow"],
        "oauth_redirect_uri": "/mlflow/_edge/oauth_callback", "oauth_no_confirm": True,
    }
    assert "api_token" not in mlflow  # the hub makes one and gives it to the process only
    # a check that starts slowly on a loaded node does not stop the hub (JupyterHub 6 waits 30 s by default)
    assert SERVICE_START_TIMEOUT >= 120
    # each tool's check listens on its own port (the edge's configuration names the same ones)
    assert airflow == {
        "timeout": SERVICE_START_TIMEOUT, "name": "airflow", "display": True,
        "url": f"http://hub:{EDGE_CHECK_PORT + 1}",
        "command": [sys.executable, "-m", "mlops_hub.hub.edge_check", "airflow"],
        "oauth_redirect_uri": "/airflow/_edge/oauth_callback", "oauth_no_confirm": True,
    }
    # the monitoring tools: admins only (the edge asks their checks for an admin), not in the menu
    assert (prometheus["url"], prometheus["display"]) == (f"http://hub:{EDGE_CHECK_PORT + 2}", False)
    assert (grafana["url"], grafana["display"]) == (f"http://hub:{EDGE_CHECK_PORT + 3}", False)
    assert grafana["oauth_redirect_uri"] == "/grafana/_edge/oauth_callback"


def test_grafanas_check_runs_only_with_the_grafana_overlay():
    c = Config()
    configure_edge(c, {})
    assert [s["name"] for s in c.JupyterHub.services] == ["mlflow", "airflow", "prometheus"]
    import yaml

    overlay = yaml.safe_load((Path(__file__).resolve().parents[2] / "swarm-stack.grafana.yml").read_text())
    assert overlay["services"]["hub"]["environment"] == {"MLOPS_GRAFANA": "1"}


def test_the_edge_asks_each_tools_check_on_that_tools_port():
    script = (Path(__file__).resolve().parents[2] / "images" / "edge" / "mlops-hub-edge").read_text()
    assert f"MLOPS_EDGE_CHECK:-hub:{EDGE_CHECK_PORT}" in script
    assert f"MLOPS_EDGE_AIRFLOW_CHECK:-hub:{EDGE_CHECK_PORT + 1}" in script
    assert f"MLOPS_EDGE_PROMETHEUS_CHECK:-hub:{EDGE_CHECK_PORT + 2}" in script
    assert f"MLOPS_EDGE_GRAFANA_CHECK:-hub:{EDGE_CHECK_PORT + 3}" in script


def test_users_and_server_tokens_get_the_tools_access_scope_only():
    c = Config()
    c.JupyterHub.load_roles = [{"name": "admin", "services": ["mlops-cli"]}]
    configure_edge(c, {"MLOPS_GRAFANA": "1"})
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["admin"] == {"name": "admin", "services": ["mlops-cli"]}
    assert roles["user"]["scopes"] == ["self", *TOOL_SCOPES]
    # JupyterHub's `server` role, plus MLflow and pushing metrics: a server's token may not do more than
    # before (notebooks schedule through the hub's API, not Airflow's)
    assert c.Spawner.server_token_scopes == [*SERVER_TOKEN_SCOPES, "access:services!service=mlflow",
                                             "access:services!service=prometheus"]
    assert SERVER_TOKEN_SCOPES == ["users:activity!user", "access:servers!server"]


def test_an_existing_user_role_keeps_its_scopes():
    c = Config()
    c.JupyterHub.load_roles = [{"name": "user", "scopes": ["self", "read:groups"]}]
    c.Spawner.server_token_scopes = ["users:activity!user"]
    configure_edge(c, {"MLOPS_GRAFANA": "1"})
    assert c.JupyterHub.load_roles == [{"name": "user", "scopes": ["self", "read:groups", *TOOL_SCOPES]}]
    assert c.Spawner.server_token_scopes == ["users:activity!user", "access:services!service=mlflow",
                                             "access:services!service=prometheus"]


def test_users_may_make_tokens_for_served_models_and_servers_tokens_may_not_call_them():
    c = Config()
    configure_models(c)
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["user"]["scopes"] == ["self", MODELS_SCOPE, "access:services"]
    assert c.Spawner.server_token_scopes == [*SERVER_TOKEN_SCOPES, MODELS_SCOPE]
    assert MODELS_SCOPE in c.JupyterHub.custom_scopes


def test_the_models_check_reads_the_model_from_the_uri_nginx_asks_about():
    assert model_in_uri("/models/churn/invocations") == "churn"
    assert model_in_uri("/models/churn-2/ping?x=1") == "churn-2"
    assert model_scope("churn") == "access:services!service=model-churn"
    for uri in ("/models/", "/models/Churn/invocations", "/models/-x/invocations", "/mlflow/churn/x", "models/a/b",
                "/models/a_b/invocations", ""):
        assert model_in_uri(uri) is None, uri
