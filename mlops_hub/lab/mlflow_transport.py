"""MLflow's own REST transport, imported on the first MLflow request.

Importing mlflow takes 1.5-2 s (its GenAI modules load at import); the lab extension used to
pay that on every server start, before JupyterLab could answer, although most sessions never
ask MLflow anything from the server side.
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException, RestException
from mlflow.utils.rest_utils import http_request, verify_rest_response

try:
    from mlflow.utils.credentials import get_default_host_creds
except ImportError:  # older mlflow-skinny 2.x kept it with the tracking service
    from mlflow.tracking._tracking_service.utils import (
        _get_default_host_creds as get_default_host_creds,
    )

__all__ = ["MlflowException", "RestException", "get_default_host_creds", "http_request", "verify_rest_response"]
