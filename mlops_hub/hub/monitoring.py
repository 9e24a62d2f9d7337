"""Wire the hub's metrics for Prometheus: `configure_metrics(c, token)` in jupyterhub_config.py.

Prometheus scrapes /hub/metrics (JupyterHub's metrics and the platform's own, mlops_hub.metrics) as
the service `mlops-metrics`, whose token (the metrics_token secret) holds `read:metrics` and nothing
else: whoever reads that token can read metrics, not act on the hub.
"""

from __future__ import annotations

from .setup import _get

METRICS_SERVICE = "mlops-metrics"
METRICS_SCOPES = ["read:metrics"]


def configure_metrics(c, token: str | None) -> None:
    """The scrape identity; without a token (no secret) the metrics stay closed to everyone but admins."""
    if not token:
        return
    c.JupyterHub.services = [*_get(c.JupyterHub, "services", []), {"name": METRICS_SERVICE, "api_token": token}]
    c.JupyterHub.load_roles = [
        *_get(c.JupyterHub, "load_roles", []),
        {"name": METRICS_SERVICE, "description": "Prometheus: reads the hub's metrics, nothing else",
         "scopes": METRICS_SCOPES, "services": [METRICS_SERVICE]},
    ]
    # the default: /hub/metrics answers only tokens with read:metrics
    c.JupyterHub.authenticate_prometheus = True
