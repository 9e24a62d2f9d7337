"""Wire the web tools behind the front door into the hub: `configure_edge(c)` in jupyterhub_config.py.

Each tool (MLflow today) is a JupyterHub service whose process is the login check nginx asks
(mlops_hub/hub/edge_check.py). Every user may use it (scope `access:services!service=<tool>` in the
`user` role), and a user server's own hub token may too, so notebooks and the lab extension reach
the tool with the token the server already has.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from .setup import _get, grant_users_and_servers

EDGE_CHECK_PORT = 8082
TOOLS = ("mlflow",)


def tool_scope(tool: str) -> str:
    return f"access:services!service={tool}"


def tool_service(tool: str, hub_host: str) -> dict:
    prefix = f"/{tool}/"
    return {
        "name": tool,
        "display": True,  # in the hub's Services menu; /services/<tool>/ redirects to /<tool>/
        "url": f"http://{hub_host}:{EDGE_CHECK_PORT}",
        "command": [sys.executable, "-m", "mlops_hub.hub.edge_check", tool],
        "oauth_redirect_uri": f"{prefix}_edge/oauth_callback",
        "oauth_no_confirm": True,  # the platform's own tool: no "authorize access" page
    }


def configure_edge(c, environ: Mapping[str, str], tools: tuple[str, ...] = TOOLS) -> None:
    """The tools' login checks as hub-managed services; users and their servers' tokens may use them."""
    hub_host = environ.get("MLOPS_HUB_HOST", "hub")
    c.JupyterHub.services = [*_get(c.JupyterHub, "services", []), *(tool_service(t, hub_host) for t in tools)]
    grant_users_and_servers(c, [tool_scope(t) for t in tools])
