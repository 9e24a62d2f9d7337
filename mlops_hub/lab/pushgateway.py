"""`push_metrics({...})`: a notebook's or batch job's model metrics to the platform's Pushgateway.

The push goes through the front door's internal listener with this server's (or job's) own hub
token; the edge asks the hub whose token it is and puts the pushed group under `user=<that user>`,
so one user's push never replaces another's (docs/operations.md, Monitoring).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from .errors import InvalidInput
from .mlflow_auth import hub_token

ENV_PUSHGATEWAY_URL = "MLOPS_PUSHGATEWAY_URL"
# Prometheus's rules for names; a group (`job`) is one path segment
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
JOB_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def checked_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    if not metrics:
        raise InvalidInput("push_metrics: give at least one metric, e.g. {'accuracy': 0.93}")
    checked = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not METRIC_NAME.match(name):
            raise InvalidInput(f"push_metrics: {name!r} is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
        try:
            checked[name] = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"push_metrics: the value of {name!r} is not a number: {value!r}") from None
    return checked


def push_metrics(metrics: Mapping[str, float], job: str = "notebook", *, gateway: str | None = None,
                 timeout: float = 30) -> None:
    """Push `metrics` (name -> number, e.g. {"model_accuracy": 0.93}) as gauges of group `job`.

    Each push replaces the group's earlier push (yours only). Prometheus keeps them as
    `<name>{pushed_job="<job>", user="<you>"}`; the model metrics dashboard shows them.
    """
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
    from prometheus_client.exposition import default_handler

    if not JOB_NAME.match(job):
        raise InvalidInput(f"push_metrics: job {job!r}: use letters, digits, '.', '_' or '-' (at most 100)")
    url = gateway or os.environ.get(ENV_PUSHGATEWAY_URL, "")
    if not url:
        raise InvalidInput(f"push_metrics: {ENV_PUSHGATEWAY_URL} is not set in this kernel's environment")
    token = hub_token()
    if not token:
        raise InvalidInput("push_metrics: this server has no hub token (JUPYTERHUB_API_TOKEN_FILE)")
    registry = CollectorRegistry()
    for name, value in checked_metrics(metrics).items():
        Gauge(name, f"{name}, pushed by a notebook", registry=registry).set(value)

    def with_token(url, method, timeout, headers, data):
        return default_handler(url, method, timeout, [*headers, ("Authorization", f"token {token}")], data)

    push_to_gateway(url, job=job, registry=registry, timeout=timeout, handler=with_token)
