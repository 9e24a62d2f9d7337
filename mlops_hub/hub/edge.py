"""Wire the web tools behind the front door into the hub: `configure_edge(c)` in jupyterhub_config.py.

Each tool (MLflow, Airflow) is a JupyterHub service whose process is the login check nginx asks
(mlops_hub/hub/edge_check.py), on its own port. Every user may use it (scope
`access:services!service=<tool>` in the `user` role). A user server's own hub token may use MLflow, so
notebooks and the lab extension reach it with the token the server already has; not Airflow, which
notebooks reach through the hub's jobs API (docs/scheduling.md).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from jupyterhub import version_info as jupyterhub_version

from .setup import _get, grant_users_and_servers

EDGE_CHECK_PORT = 8082  # MLflow's check; each further tool's is the next port (nginx knows them)
# prometheus: /prometheus/ for admins (nginx asks its check for an admin), and pushes of model metrics
# to the Pushgateway by anyone's server or job token; grafana: /grafana/ for admins (overlay stack)
TOOLS = ("mlflow", "airflow", "prometheus", "grafana")
SERVER_TOOLS = ("mlflow", "prometheus")  # the tools a user server's token may use
ADMIN_TOOLS = ("prometheus", "grafana")  # pages for admins only: not in everyone's Services menu


def tool_scope(tool: str) -> str:
    return f"access:services!service={tool}"


def check_port(tool: str, tools: tuple[str, ...] = TOOLS) -> int:
    """The port of a tool's login check in the hub's container (images/edge/mlops-hub-edge: the same)."""
    return EDGE_CHECK_PORT + tools.index(tool)


# JupyterHub 6 stops the hub when a managed service does not answer within its `timeout` (30 s): four
# checks and the culler starting together on a loaded 2-core node took longer
SERVICE_START_TIMEOUT = 180


def tool_service(tool: str, hub_host: str) -> dict:
    prefix = f"/{tool}/"
    timeout = {"timeout": SERVICE_START_TIMEOUT} if jupyterhub_version >= (6,) else {}  # JupyterHub 5 has none
    return {
        **timeout,
        "name": tool,
        # in the hub's Services menu; /services/<tool>/ redirects to /<tool>/
        "display": tool not in ADMIN_TOOLS,
        "url": f"http://{hub_host}:{check_port(tool)}",
        "command": [sys.executable, "-m", "mlops_hub.hub.edge_check", tool],
        "oauth_redirect_uri": f"{prefix}_edge/oauth_callback",
        "oauth_no_confirm": True,  # the platform's own tool: no "authorize access" page
    }


ENV_GRAFANA = "MLOPS_GRAFANA"  # set on the hub by swarm-stack.grafana.yml


def deployed_tools(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Grafana's check runs only where Grafana is deployed: each check is a process the hub starts one
    after another (about 20 s each on a loaded 2-core node)."""
    return tuple(t for t in TOOLS if t != "grafana" or environ.get(ENV_GRAFANA) == "1")


def configure_edge(c, environ: Mapping[str, str], tools: tuple[str, ...] | None = None,
                   server_tools: tuple[str, ...] = SERVER_TOOLS) -> None:
    """The tools' login checks as hub-managed services; users may use them, their servers' tokens
    the `server_tools`."""
    tools = deployed_tools(environ) if tools is None else tools
    hub_host = environ.get("MLOPS_HUB_HOST", "hub")
    c.JupyterHub.services = [*_get(c.JupyterHub, "services", []), *(tool_service(t, hub_host) for t in tools)]
    grant_users_and_servers(c, [tool_scope(t) for t in tools], [tool_scope(t) for t in tools if t in server_tools])
