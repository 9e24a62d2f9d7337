"""The jupyter-server extension: configuration (traits, spawner-set environment) and wiring."""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Any as AnyTrait
from traitlets import Float, Int, Unicode, default

from ..names import ENV_ENVIRONMENT, ENV_GITLAB_URL, ENV_IMAGE_DIGEST, ENV_MLFLOW_UI_URL
from .tokens import ChainTokenSource, HubAuthStateTokenSource, SavedTokenSource


def _env(name: str) -> str:
    return os.environ.get(name, "")


class MlopsLabApp(ExtensionApp):
    """Links notebooks to MLflow runs and GitLab, inside each user's server."""

    name = "mlops_hub"
    load_other_extensions = True

    mlflow_tracking_uri = Unicode(
        help="URL of the MLflow tracking server as this server reaches it "
             "(default: $MLFLOW_TRACKING_URI).",
    ).tag(config=True)
    mlflow_ui_url = Unicode(
        help="URL of the MLflow UI as the user's browser reaches it, for links "
             "(default: $MLOPS_MLFLOW_UI_URL, else the tracking URI).",
    ).tag(config=True)
    mlflow_timeout = Float(10, help="Seconds before one MLflow request is abandoned.").tag(
        config=True)
    mlflow_max_retries = Int(
        1, help="Retries of a failed MLflow request from a handler (kept low: a person waits)."
    ).tag(config=True)
    gitlab_url = Unicode(
        help="Base URL of GitLab (default: $MLOPS_GITLAB_URL). Pushes and API calls go only "
             "to this host.",
    ).tag(config=True)
    gitlab_timeout = Float(20, help="Seconds before one GitLab API request is abandoned.").tag(
        config=True)
    git_push_timeout = Float(120, help="Seconds before a git push is abandoned.").tag(
        config=True)
    owner = Unicode(
        help="The server's owner (default: $JUPYTERHUB_USER). Only the owner may push with "
             "their GitLab identity; empty allows any authenticated user (no hub).",
    ).tag(config=True)
    environment = Unicode(help="Environment slug (default: $MLOPS_ENVIRONMENT).").tag(
        config=True)
    image_digest = Unicode(help="Image digest (default: $MLOPS_IMAGE_DIGEST).").tag(
        config=True)

    # replaceable at runtime (tests, custom deployments); not from config files
    token_source = AnyTrait(help="TokenSource giving the user's GitLab token.")
    saved_tokens = AnyTrait(help="SavedTokenSource behind PUT /mlops-hub/gitlab/token.")
    runs_backend = AnyTrait(help="RunsBackend answering MLflow questions.")
    gitlab_backend = AnyTrait(help="GitLabBackend for GitLab's REST API.")
    jobs_backend = AnyTrait(help="HubJobsBackend: scheduled notebooks through the hub's jobs API.")

    @default("mlflow_tracking_uri")
    def _default_tracking_uri(self) -> str:
        return _env("MLFLOW_TRACKING_URI")

    @default("mlflow_ui_url")
    def _default_ui_url(self) -> str:
        return _env(ENV_MLFLOW_UI_URL) or self.mlflow_tracking_uri

    @default("gitlab_url")
    def _default_gitlab_url(self) -> str:
        return _env(ENV_GITLAB_URL)

    @default("owner")
    def _default_owner(self) -> str:
        return _env("JUPYTERHUB_USER")

    @default("environment")
    def _default_environment(self) -> str:
        return _env(ENV_ENVIRONMENT)

    @default("image_digest")
    def _default_image_digest(self) -> str:
        return _env(ENV_IMAGE_DIGEST)

    @default("saved_tokens")
    def _default_saved_tokens(self) -> SavedTokenSource:
        return SavedTokenSource()

    @default("token_source")
    def _default_token_source(self) -> Any:
        # a token the user saved wins over the hub's OAuth token
        return ChainTokenSource(self.saved_tokens, HubAuthStateTokenSource())

    @default("runs_backend")
    def _default_runs_backend(self) -> Any:
        from .mlflow_backend import MlflowRunsBackend

        if not self.mlflow_tracking_uri:
            return None
        return MlflowRunsBackend(self.mlflow_tracking_uri, ui_url=self.mlflow_ui_url,
                                 timeout=self.mlflow_timeout,
                                 max_retries=self.mlflow_max_retries)

    @default("gitlab_backend")
    def _default_gitlab_backend(self) -> Any:
        from .gitlab_backend import PythonGitLabBackend

        if not self.gitlab_url:
            return None
        return PythonGitLabBackend(self.gitlab_url, timeout=self.gitlab_timeout)

    @default("jobs_backend")
    def _default_jobs_backend(self) -> Any:
        from .jobs_backend import HubJobsBackend

        return HubJobsBackend() if _env("JUPYTERHUB_API_URL") else None

    def server_facts(self) -> dict[str, Any]:
        """What this server is, as the spawner described it (no secrets)."""
        return {
            "user": self.owner or None,
            "environment": self.environment or None,
            "image_digest": self.image_digest or None,
            "cpu_limit": _env("CPU_LIMIT") or None,
            "mem_limit": _env("MEM_LIMIT") or None,
            "mlflow_ui_url": self.mlflow_ui_url or None,
            "gitlab_url": self.gitlab_url or None,
        }

    def initialize_handlers(self) -> None:
        from .handlers import handlers

        self.handlers.extend(handlers(self))
