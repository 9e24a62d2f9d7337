"""Names shared by the hub, user servers, the stack and the CLI: label keys, MLOPS_* variables, scopes.

Imports nothing, so any side (the lab in user containers included) can use it.
"""

from __future__ import annotations

# ---- Docker labels on the services, secrets, configs and volumes the platform creates
LABEL_PREFIX = "mlops-hub"


def label(name: str) -> str:
    """A label key of ours: `mlops-hub.<name>`."""
    return f"{LABEL_PREFIX}.{name}"


LABEL_MANAGED = label("managed")
LABEL_PREFIX_KEY = label("prefix")  # the hub's spawner prefix: one hub's objects, never another's
LABEL_USER = label("user")
LABEL_SERVER_NAME = label("server-name")
LABEL_ENVIRONMENT = label("environment")
LABEL_ROLE = label("role")
LABEL_CPU = label("cpu")
LABEL_MEM = label("mem")
LABEL_SERVICE = label("service")
LABEL_KIND = label("kind")
# a served model's service (docs/models.md)
LABEL_MODEL = label("model")
LABEL_MODEL_VERSION = label("model-version")
LABEL_MODEL_RUN = label("model-run")
# when MLflow created the registered model: a model deleted and registered again under its name is another model
LABEL_MODEL_CREATED = label("model-created")
LABEL_RELEASED_BY = label("released-by")
MODEL_KIND = "model"  # LABEL_KIND of a served model's service: not a user server
IMAGE_REPO = "mlops-hub"  # the repository of the platform's images, and of the serving images
LABEL_FILE = label("file")
# a node label (docker node update --label-add): the node pool a node is in (platform.yaml role `node_pool`)
LABEL_NODE_POOL = label("pool")

# ---- environment variables a user server gets from the hub (the lab extension reads them)
ENV_ENVIRONMENT = "MLOPS_ENVIRONMENT"
ENV_ROLE = "MLOPS_ROLE"
ENV_IMAGE_DIGEST = "MLOPS_IMAGE_DIGEST"
ENV_GITLAB_URL = "MLOPS_GITLAB_URL"
ENV_MLFLOW_UI_URL = "MLOPS_MLFLOW_UI_URL"
ENV_GIT_USERNAME = "MLOPS_HUB_GIT_USERNAME"
ENV_GIT_PASSWORD = "MLOPS_HUB_GIT_PASSWORD"

# ---- MLflow behind the edge (docs/mlflow-auth.md): the edge (nginx) overwrites these request headers
# after checking the caller's JupyterHub token; MLflow's basic-auth app trusts them (mlops_hub/mlflow_server)
HEADER_MLFLOW_USER = "X-Mlops-User"  # the JupyterHub user name, percent-encoded UTF-8 (quote(name, safe=""))
HEADER_MLFLOW_ADMIN = "X-Mlops-Admin"  # "true" or "false": the user is a JupyterHub admin
# MLFLOW_TRACKING_AUTH value: sends the user's hub token (mlops_hub/lab/mlflow_auth.py)
MLFLOW_AUTH_PROVIDER = "mlops-hub"
# the platform's MLflow URL again, where the token may go: mlflow.set_tracking_uri() rewrites
# MLFLOW_TRACKING_URI in the process, so that one cannot say where the token may be sent
ENV_MLFLOW_PLATFORM_URI = "MLOPS_MLFLOW_TRACKING_URI"
ENV_HUB_TOKEN_FILE = "JUPYTERHUB_API_TOKEN_FILE"  # the user server's hub token, a 0400 secret file


# run tags every run from a platform server or job carries (lab/context.py); a model release reads them
TAG_ENVIRONMENT = "mlops_hub.environment"
TAG_IMAGE_DIGEST = "mlops_hub.image_digest"  # the image ID of the environment the run ran in


def mlflow_user_experiment(user: str) -> str:
    """The experiment a user's `mlflow.start_run()` goes to without `set_experiment`
    (MLFLOW_EXPERIMENT_NAME in their server; MLflow's client creates it, owned by them)."""
    return f"users/{user}"


# ---- JupyterHub custom scopes
QUOTAS_WRITE_SCOPE = "custom:mlops-quotas:write"
QUOTAS_READ_SCOPE = "custom:mlops-quotas:read"


# ---- the stack: every name derives from the stack name
def user_server_prefix(stack: str) -> str:
    """The spawner prefix of a stack's hub: its user servers, volumes and configs carry it."""
    return f"{stack}-lab"

# ---- the hub's login without an identity provider (mlops_hub/hub/accounts.py; set by `mlops-hub up`)
ENV_HUB_LOGIN = "MLOPS_HUB_LOGIN"
LOGIN_ACCOUNTS = "accounts"  # one account per person, sign-up approved by an admin (the default)
LOGIN_SHARED_PASSWORD = "shared-password"  # one password for every non-admin name: only when asked for
LOGIN_MODES = (LOGIN_ACCOUNTS, LOGIN_SHARED_PASSWORD)

# ---- the front door (nginx) and the web tools behind it (mlops_hub/hub/edge_check.py)
# who the hub says the user is: set by nginx from the login check, overwriting anything a client sent
EDGE_USER_HEADER = "X-Mlops-User"  # the hub user name, percent-encoded UTF-8
EDGE_ADMIN_HEADER = "X-Mlops-Admin"  # "true" or "false"
# set by nginx (never by a client) on the login check of an admins-only tool (/prometheus/, /grafana/)
EDGE_REQUIRE_ADMIN_HEADER = "X-Mlops-Require-Admin"

# ---- scheduled notebooks (docs/scheduling.md): a job's container gets these besides a server's
ENV_JOB_ID = "MLOPS_JOB_ID"  # the job's DAG id
ENV_JOB_RUN_ID = "MLOPS_JOB_RUN_ID"  # Airflow's run id, set by the runner for the kernel
MODELS_SCOPE = "custom:mlops-models"  # release one's models as services (docs/models.md)
JOBS_SCOPE = "custom:mlops-jobs"  # schedule, follow and remove one's own notebook jobs


def job_output_name(notebook_stem: str, run_id: str) -> str:
    """The executed copy of a scheduled notebook: `<stem>-<run id made file-safe>.ipynb` in its runs/ folder.
    Written by the runner (lab/run_notebook.py) and named to the user by the hub's jobs API."""
    run = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in run_id).strip("._") or "run"
    return f"{notebook_stem}-{run[:120]}.ipynb"
