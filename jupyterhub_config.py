"""The hub configuration the Swarm stack deploys.

Everything site-specific comes from the environment (set in swarm-stack.yml), from Swarm
secrets under /run/secrets, and from the platform settings file (environments and role
limits) mounted as a Swarm config at /etc/mlops-hub/platform.yaml.
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

SECRETS = Path(os.environ.get("MLOPS_SECRETS_DIR", "/run/secrets"))
PLATFORM = Path(os.environ.get("MLOPS_PLATFORM_CONFIG", "/etc/mlops-hub/platform.yaml"))


def secret(name: str) -> str | None:
    path = SECRETS / name
    return path.read_text().strip() if path.exists() else None


# ---- hub and proxy: the proxy is its own service, so user traffic survives a hub restart
c.JupyterHub.bind_url = "http://:8000"
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = f"http://{os.environ.get('MLOPS_HUB_HOST', 'hub')}:8081"
c.JupyterHub.proxy_class = "configurable-http-proxy"
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = f"http://{os.environ.get('MLOPS_PROXY_HOST', 'proxy')}:8001"
c.ConfigurableHTTPProxy.auth_token = secret("proxy_token") or ""
# the proxy's address changes when it restarts: resolve it afresh (see mlops_hub.hub.dns)
from mlops_hub.hub.dns import resolve_names_afresh  # noqa: E402

resolve_names_afresh()
c.JupyterHub.db_url = os.environ.get("MLOPS_HUB_DB_URL", "sqlite:////srv/jupyterhub/jupyterhub.sqlite")
if c.JupyterHub.db_url.startswith("postgresql") and secret("jupyterhub_db_password"):
    # libpq reads it from this process's environment: JupyterHub's engine and its schema
    # migrations (alembic, which only gets the URL) both connect, and no URL or spec carries it
    os.environ["PGPASSWORD"] = secret("jupyterhub_db_password")
from mlops_hub.hub.dbwait import wait_for_database  # noqa: E402

wait_for_database(c.JupyterHub.db_url)  # the stack starts the hub and PostgreSQL together
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/jupyterhub_cookie_secret"
c.JupyterHub.cleanup_servers = False  # user servers outlive a hub restart
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 0  # role policies set the limit
c.JupyterHub.log_level = os.environ.get("MLOPS_HUB_LOG_LEVEL", "INFO")

# ---- login: one account per person (sign-up an admin approves; the first admin `admin` is created
# with the admin_password secret), or one shared password only when `up --shared-password` set
# MLOPS_HUB_LOGIN=shared-password (docs/accounts.md)
from mlops_hub.hub.accounts import configure_login  # noqa: E402

configure_login(c, SECRETS)
# OpenID Connect (Keycloak, GitLab, ADFS) replaces that login when MLOPS_OIDC_ISSUER is set;
# the provider's groups become the user's JupyterHub groups, i.e. the quota roles (docs/quotas.md)
from mlops_hub.hub.identity import configure_oidc  # noqa: E402

configure_oidc(c)

# ---- the stack's containers on the hub's node weigh 8 servers each on the CPU (Swarm's reservations steer
# placement only): in a storm of server starts the hub's API still answers (mlops_hub.swarm.cpu_weight;
# MLOPS_HUB_CPU_SHARES=0 leaves Docker's 1024)
from mlops_hub.swarm.cpu_weight import raise_platform_cpu_weight  # noqa: E402

raise_platform_cpu_weight(int(os.environ.get("MLOPS_HUB_CPU_SHARES", "8192")))

# ---- the CLI and tests talk to the hub API with a token from a Swarm secret
if secret("api_token"):
    c.JupyterHub.services = [{"name": "mlops-cli", "api_token": secret("api_token")}]
    c.JupyterHub.load_roles = [{"name": "admin", "services": ["mlops-cli"]}]

# ---- Prometheus scrapes /hub/metrics (JupyterHub's and the platform's metrics) as the service
# `mlops-metrics`, whose token (the metrics_token secret) may read metrics and nothing else
from mlops_hub.hub.monitoring import configure_metrics  # noqa: E402

configure_metrics(c, secret("metrics_token"))

# ---- web tools behind the front door (nginx): MLflow at /mlflow/ with the hub's login; each tool's
# login check runs as a hub-managed service, and every user and server token may use it
from mlops_hub.hub.edge import configure_edge  # noqa: E402

configure_edge(c, os.environ)

# ---- scheduled notebooks: the hub writes Airflow's DAG files and holds its credentials; users schedule
# and follow their own jobs through /hub/api/mlops/jobs (docs/scheduling.md). Only with our spawner:
# a job gets what a server of the user gets (image, limits, volumes, index files)
if os.environ.get("MLOPS_HUB_SPAWNER", "mlops") != "swarm" and os.environ.get("MLOPS_AIRFLOW_URL"):
    from mlops_hub.hub.setup import configure_jobs

    configure_jobs(c)

# ---- models to production: users release model versions as services through /hub/api/mlops/models/releases
# (docs/models.md); the hub reads MLflow as the releasing user and deploys with its Docker socket
if os.environ.get("MLOPS_HUB_SPAWNER", "mlops") != "swarm" and os.environ.get("MLOPS_RELEASE_NETWORK"):
    from mlops_hub.hub.setup import configure_models

    configure_models(c)

# ---- idle servers stop: jupyterhub-idle-culler as a hub-managed service with only the scopes it needs,
# set by platform.yaml's `culler:` (checked here: a bad value stops the hub with the file and key named).
# Also with MLOPS_HUB_SPAWNER=swarm: it is the hub's, not the spawner's, and benchmarks compare spawners
# on the hub as deployed
from mlops_hub.hub.culler import configure_culler  # noqa: E402

configure_culler(c, PLATFORM)

# ---- user servers
spawner_kind = os.environ.get("MLOPS_HUB_SPAWNER", "mlops")
if spawner_kind == "swarm":
    # plain dockerspawner SwarmSpawner, for benchmarks side by side with ours
    c.JupyterHub.spawner_class = "dockerspawner.SwarmSpawner"
    spawner = c.SwarmSpawner
    c.SwarmSpawner.extra_endpoint_spec = {"mode": "dnsrr"}
else:
    c.JupyterHub.spawner_class = "mlops_hub.spawner.MLOpsSwarmSpawner"
    spawner = c.MLOpsSwarmSpawner
spawner.image = os.environ.get("MLOPS_LAB_IMAGE", "mlops-hub/lab-base:latest")
if spawner_kind != "swarm":
    from mlops_hub.policy.image_pins import PINS_VARIABLE, parse_pins  # noqa: E402

    # the environments' images as `up` pushed them to the platform's registry, by digest
    spawner.image_pins = parse_pins(os.environ.get(PINS_VARIABLE, ""))
spawner.network_name = os.environ.get("MLOPS_HUB_NETWORK", "mlops-hub")
spawner.use_internal_ip = True
spawner.prefix = os.environ.get("MLOPS_HUB_PREFIX", "mlops-lab")
spawner.extra_placement_spec = {"constraints": ["node.platform.os == linux"]}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 60
c.Spawner.default_url = "/lab"
# what the lab extension links notebooks to (see docs/lab-extension.md); MLflow is reached with the
# user's own hub token, sent to that URL only, and runs go to an experiment of the user's own
# unless a notebook sets another (docs/mlflow-auth.md)
from mlops_hub.names import (  # noqa: E402
    ENV_MLFLOW_PLATFORM_URI,
    MLFLOW_AUTH_PROVIDER,
    mlflow_user_experiment,
)

mlflow_url = os.environ.get("MLOPS_MLFLOW_URL", "http://edge:8080/mlflow")
c.Spawner.environment = {
    # MLflow through the front door's internal listener; the server's own hub token authenticates
    # (MLFLOW_TRACKING_AUTH names our request auth plugin; the token never enters the environment)
    "MLFLOW_TRACKING_URI": mlflow_url,
    ENV_MLFLOW_PLATFORM_URI: mlflow_url,
    "MLFLOW_TRACKING_AUTH": MLFLOW_AUTH_PROVIDER,
    "MLFLOW_EXPERIMENT_NAME": lambda spawner: mlflow_user_experiment(spawner.user.name),
    "MLOPS_MLFLOW_UI_URL": os.environ.get("MLOPS_MLFLOW_UI_URL", ""),
    "MLOPS_GITLAB_URL": os.environ.get("MLOPS_GITLAB_URL", ""),
    # push_metrics() sends model metrics here, with the server's own hub token (the edge names the user)
    "MLOPS_PUSHGATEWAY_URL": os.environ.get("MLOPS_PUSHGATEWAY_URL", ""),
}

# ---- role quotas and team pools in the hub's database, edited at /hub/mlops/quotas (docs/quotas.md)
if spawner_kind != "swarm":
    from mlops_hub.hub.setup import configure_quotas

    configure_quotas(c)

# ---- environments and role limits from platform.yaml; every setting is checked here, at start-up:
# a bad value stops the hub with the file and key named (`swarm_spawner` is plain SwarmSpawner's section)
from mlops_hub.hub.config import configure_platform  # noqa: E402

configure_platform(c, PLATFORM, "swarm_spawner" if spawner_kind == "swarm" else "spawner")

# ---- spawns that arrive together take turns at JupyterHub's synchronous spawn work, 50 ms apart, so the hub
# answers other requests in a spawn storm (mlops_hub/hub/spawn_pacing.py; MLOPS_HUB_SPAWN_SPACING=0 turns it off)
if spawner_kind != "swarm":
    from mlops_hub.hub.spawn_pacing import SPACING_VARIABLE, pace_spawns, spacing_from

    pace_spawns(c, spacing_from(os.environ.get(SPACING_VARIABLE)))
