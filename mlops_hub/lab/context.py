"""MLflow run context provider: every `mlflow.start_run()` in a notebook says where it came from.

Registered under the `mlflow.run_context_provider` entry point; MLflow applies entry-point
providers after its own, so these tags replace `ipykernel_launcher` and the missing commit.

This module must not import mlflow: `import mlflow` loads every registered provider, and
if that import started here, MLflow would find this module half-initialised and drop the
provider. MLflow only needs a class with `in_context()` and `tags()` (its
`RunContextProvider` interface), so the class implements that interface without the base.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import platform
import sys

from ..names import ENV_ENVIRONMENT, ENV_IMAGE_DIGEST, ENV_JOB_ID, ENV_JOB_RUN_ID, TAG_ENVIRONMENT, TAG_IMAGE_DIGEST
from .errors import LabError
from .gitinfo import file_state
from .notebook_path import current_notebook_path

log = logging.getLogger(__name__)

# tag names: MLflow's own where one exists, ours under `mlops_hub.`
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
GIT_COMMIT = "mlflow.source.git.commit"
GIT_BRANCH = "mlflow.source.git.branch"
GIT_REPO_URL = "mlflow.source.git.repoURL"
USER = "mlflow.user"
GIT_PATH = "mlops_hub.git.path"
GIT_UNCOMMITTED = "mlops_hub.git.uncommitted_changes"
GIT_TRACKED = "mlops_hub.git.tracked"
ENVIRONMENT = TAG_ENVIRONMENT
IMAGE_DIGEST = TAG_IMAGE_DIGEST
CPU_LIMIT = "mlops_hub.cpu_limit"
MEM_LIMIT = "mlops_hub.mem_limit"
SERVER_NAME = "mlops_hub.server_name"
PACKAGES_SHA256 = "mlops_hub.packages.sha256"
PACKAGES_COUNT = "mlops_hub.packages.count"
PYTHON_VERSION = "mlops_hub.python_version"
JOB_ID = "mlops_hub.job"  # a scheduled run: the job (DAG id) and its Airflow run
JOB_RUN_ID = "mlops_hub.job_run"

# environment variable the spawner sets -> tag
_ENV_TAGS = {
    ENV_ENVIRONMENT: ENVIRONMENT,
    ENV_IMAGE_DIGEST: IMAGE_DIGEST,
    "CPU_LIMIT": CPU_LIMIT,
    "MEM_LIMIT": MEM_LIMIT,
    "JUPYTERHUB_USER": USER,
    "JUPYTERHUB_SERVER_NAME": SERVER_NAME,
    ENV_JOB_ID: JOB_ID,
    ENV_JOB_RUN_ID: JOB_RUN_ID,
}


def run_owner(environ: dict[str, str] | None = None) -> str:
    """Who runs started here are tagged as: the hub user, else (no hub) MLflow's own default,
    the process's login name."""
    env = os.environ if environ is None else environ
    return env.get("JUPYTERHUB_USER") or getpass.getuser()


def installed_packages() -> list[str]:
    """`name-version.dist-info` entries on sys.path: what is installed right now.

    Users may `pip install` into their server's environment, so the image digest alone
    does not say which packages a run used. Directory names are read (sub-millisecond)
    rather than every package's metadata (about 100 ms).
    """
    found: set[str] = set()
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as it:
                found.update(e.name for e in it if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
    return sorted(found)


def notebook_tags(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The tags describing this kernel's notebook, its git state and its server."""
    env = os.environ if environ is None else environ
    tags = {tag: env[var] for var, tag in _ENV_TAGS.items() if env.get(var)}
    packages = installed_packages()
    tags[PACKAGES_SHA256] = hashlib.sha256("\n".join(packages).encode()).hexdigest()
    tags[PACKAGES_COUNT] = str(len(packages))
    tags[PYTHON_VERSION] = platform.python_version()
    path = current_notebook_path()
    if path is None:
        return tags
    tags[SOURCE_NAME] = str(path)
    tags[SOURCE_TYPE] = "NOTEBOOK"
    try:
        state = file_state(path)
    except LabError as exc:
        # a notebook outside git still gets its run; the missing commit is visible by absence
        log.debug("no git facts for %s: %s", path, exc.message)
        return tags
    if state.commit:
        tags[GIT_COMMIT] = state.commit
    if state.branch:
        tags[GIT_BRANCH] = state.branch
    if state.remote_url:
        tags[GIT_REPO_URL] = state.remote_url
    tags[GIT_PATH] = state.relpath
    tags[GIT_UNCOMMITTED] = "true" if state.uncommitted_changes else "false"
    tags[GIT_TRACKED] = "true" if state.tracked else "false"
    return tags


class NotebookRunContext:
    """Adds notebook, git and environment tags to runs started inside a lab server.

    Implements mlflow.tracking.context.abstract_context.RunContextProvider.
    """

    def in_context(self) -> bool:
        return any(os.environ.get(v) for v in ("JPY_SESSION_NAME", "JUPYTERHUB_USER",
                                                ENV_ENVIRONMENT)) or (
            current_notebook_path() is not None
        )

    def tags(self) -> dict[str, str]:
        return notebook_tags()
