"""Lab side of mlops-hub: a jupyter-server extension and a notebook API linking notebooks
to MLflow runs and GitLab. Runs in user containers; never imports hub-side modules."""

from __future__ import annotations

from typing import Any

__all__ = ["delete_job", "experiment", "job_log", "job_runs", "notebook_context", "notebook_jobs", "notebook_runs",
           "push_metrics", "release_model", "run_job_now", "save_notebook", "schedule_notebook"]


def __getattr__(name: str) -> Any:
    # the notebook API pulls in mlflow; import it only when notebook code asks for it
    if name == "push_metrics":
        from .pushgateway import push_metrics

        return push_metrics
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(name)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import MlopsLabApp

    return [{"module": "mlops_hub.lab", "app": MlopsLabApp}]
