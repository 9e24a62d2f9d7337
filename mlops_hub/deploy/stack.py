"""Deploy and remove the platform's Swarm stack, with generated secrets kept across upgrades."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import docker

from ..names import LOGIN_ACCOUNTS, LOGIN_SHARED_PASSWORD
from ..policy.environments import Environment, EnvironmentCatalogue
from ..policy.image_pins import pin
from ..policy.placement import constraints, requirements
from ..policy.platform import load_platform_file
from ..swarm.home_node import LABEL_HOME_USER
from ..swarm.prepull import ensure_prepull_services
from .hashes import directory_hash, file_hash
from .images import IMAGE_REPO
from .registry import REGISTRY_FILE, Published, deploy_own_registry, publish
from .shell import DeployError, run, say
from .tls import TlsFiles, certificate_expiry, ensure_local_certificate, expiry_text, given_certificate, host_names

SECRET_NAMES = ("proxy_token", "api_token", "admin_password", "jupyterhub_db_password", "mlflow_db_password",
                # Airflow (docs/scheduling.md): its database role, the hub's Airflow identity, the key of
                # its tokens, its api-server's key and the key that encrypts what it stores
                "airflow_db_password", "airflow_hub_password", "airflow_jwt_secret", "airflow_secret_key",
                "airflow_fernet_key",
                # the hub's metrics: the token of its `mlops-metrics` service (read:metrics only),
                # which Prometheus sends
                "metrics_token")
# the one password of every non-admin name: generated and deployed only for `up --shared-password`
SHARED_PASSWORD_SECRET = "user_password"
SHARED_PASSWORD_WARNING = (
    "warning: --shared-password: anyone who has the one user password can log in under any non-admin"
    " name - another user's, or a quota manager's - and open that user's server and files. Without the"
    " flag every person has an account an admin approves (docs/accounts.md).")


@dataclass
class StackSettings:
    repo: Path
    stack: str = "mlops-hub"
    # the front door's published ports: every web tool at https://<host>:<https_port>/
    https_port: int = 443
    http_port: int = 80  # redirects to https
    state_dir: Path = Path("/var/lib/mlops-hub")
    platform_config: Path | None = None
    # the platform's images are <registry>/<name>:<tag> (swarm-stack.yml: ${MLOPS_REGISTRY}/hub:${MLOPS_TAG}):
    # `up` builds them here and tags them with one release tag; a site's Artifactory path works the same way
    registry: str = IMAGE_REPO
    tag: str = "latest"
    # with `registry` left as IMAGE_REPO: deploy the platform's own registry (swarm-stack.registry.yml) on this
    # port and push every image there; False keeps the images on this node only (one-node platforms)
    own_registry: bool = True
    registry_port: int = 5000
    # pre-pull the environments' images on every node that may run them (swarm/prepull.py)
    prepull: bool = True
    # what deploy() pushed (registry.Published): the stack then names every image by digest
    published: Published | None = None
    # the default environment's image (a user server), when it is not <registry>/lab-base:<tag>
    lab_image: str | None = None
    # a site's own Grafana image (none can be built here): deploys swarm-stack.grafana.yml on top
    grafana_image: str | None = None
    spawner: str = "mlops"
    log_level: str = "INFO"
    extra_env: dict[str, str] = field(default_factory=dict)
    # OIDC login: the client secret's file on this host, deployed as a Swarm secret (never env)
    oidc_client_secret_file: Path | None = None
    # OIDC without MLOPS_OIDC_ALLOWED_GROUPS lets every account of the provider in: only when asked for
    oidc_allow_everyone: bool = False
    # one password for everyone instead of per-person accounts: only when asked for (`--shared-password`)
    shared_password: bool = False
    # the operator's TLS certificate (chain) and key; without them a local CA signs one for this host
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_hosts: tuple[str, ...] = ()  # more names the local certificate is valid for
    ca_dir: Path | None = None  # the local CA (default <state_dir>/ca): trusted once, kept across stacks
    # more compose files deployed on top, for benchmarks only (bench/swarm-stack.direct.yml publishes the
    # proxy's port next to the edge, to measure with and without it); not an operator's option
    extra_compose_files: tuple[Path, ...] = ()

    @property
    def registry_mode(self) -> str:
        """own, site (a registry path given: the site's Artifactory) or none (registry.py)."""
        if self.registry != IMAGE_REPO:
            return "site"
        return "own" if self.own_registry else "none"

    def image(self, name: str) -> str:
        """The reference the stack deploys for a platform image (hub, mlflow, airflow, postgres, edge...)."""
        if self.published and name in self.published.digests:
            return f"{self.published.registry}/{name}:{self.tag}@{self.published.digests[name]}"
        return f"{self.registry}/{name}:{self.tag}"

    @property
    def hub_image(self) -> str:
        return self.image("hub")

    @property
    def default_lab_image(self) -> str:
        return self.lab_image or self.image("lab-base")

    @property
    def network(self) -> str:
        return f"{self.stack}-net"

    @property
    def prefix(self) -> str:
        return f"{self.stack}-lab"

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / self.stack / "secrets"

    @property
    def tls_dir(self) -> Path:
        return self.state_dir / self.stack / "tls"

    @property
    def local_ca_dir(self) -> Path:
        return self.ca_dir or self.state_dir / "ca"

    @property
    def url(self) -> str:
        return public_url("127.0.0.1", self.https_port)

    def tls_files(self) -> TlsFiles:
        """The certificate the edge serves: the operator's, else one from the local CA (made when needed)."""
        if self.tls_cert or self.tls_key:
            if not (self.tls_cert and self.tls_key):
                raise DeployError("--tls-cert and --tls-key: give both, or neither for a local certificate")
            return given_certificate(self.tls_cert, self.tls_key)
        return ensure_local_certificate(self.local_ca_dir, self.tls_dir, host_names(self.tls_hosts))


def public_url(host: str, https_port: int) -> str:
    return f"https://{host}" if https_port == 443 else f"https://{host}:{https_port}"


def ensure_secrets(directory: Path, names: tuple[str, ...] = SECRET_NAMES) -> dict[str, Path]:
    """Generate each secret once (0600, root-only) and keep it for later deploys."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    paths = {}
    for name in names:
        path = directory / name
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(24 if "password" in name else 32))
        paths[name] = path
    return paths


def stack_env(settings: StackSettings) -> dict[str, str]:
    platform = settings.platform_config or settings.repo / "config" / "platform.yaml"
    env = dict(os.environ)
    env.update(
        MLOPS_STACK=settings.stack,
        MLOPS_HTTPS_PORT=str(settings.https_port),
        MLOPS_HTTP_PORT=str(settings.http_port),
        MLOPS_HUB_NETWORK=settings.network,
        MLOPS_HUB_PREFIX=settings.prefix,
        MLOPS_REGISTRY=settings.registry,
        MLOPS_TAG=settings.tag,
        MLOPS_LAB_IMAGE=settings.default_lab_image,
        MLOPS_HUB_SPAWNER=settings.spawner,
        MLOPS_HUB_LOG_LEVEL=settings.log_level,
        MLOPS_SECRETS_DIR=str(settings.secrets_dir),
        MLOPS_PLATFORM_CONFIG=str(platform),
        MLOPS_PLATFORM_HASH=file_hash(platform),
        MLOPS_HUB_LOGIN=LOGIN_SHARED_PASSWORD if settings.shared_password else LOGIN_ACCOUNTS,
    )
    names = SECRET_NAMES + ((SHARED_PASSWORD_SECRET,) if settings.shared_password else ())
    for name, path in ensure_secrets(settings.secrets_dir, names).items():
        env[f"MLOPS_SECRET_HASH_{name}"] = file_hash(path)
    tls = settings.tls_files()
    env.update(MLOPS_TLS_CERT_FILE=str(tls.cert.resolve()), MLOPS_TLS_KEY_FILE=str(tls.key.resolve()),
               MLOPS_SECRET_HASH_tls_cert=file_hash(tls.cert), MLOPS_SECRET_HASH_tls_key=file_hash(tls.key),
               MLOPS_TLS_NOT_AFTER=certificate_expiry(tls.cert).strftime(EXPIRY_FORMAT))
    env.update(settings.extra_env)
    return env


# what the hub's configure_oidc() needs besides the issuer; checked before anything is deployed
OIDC_REQUIRED = ("MLOPS_OIDC_CLIENT_ID", "MLOPS_OIDC_CALLBACK_URL")


def oidc_access_error(env: Mapping[str, str], allow_everyone: bool) -> str | None:
    """Why OIDC login may not be deployed as asked (who may log in); None when it may."""
    if not env.get("MLOPS_OIDC_ISSUER"):
        return "--oidc-allow-everyone: given, but MLOPS_OIDC_ISSUER is not set" if allow_everyone else None
    allowed = env.get("MLOPS_OIDC_ALLOWED_GROUPS", "").strip(" ,")
    if allowed and allow_everyone:
        return "--oidc-allow-everyone: MLOPS_OIDC_ALLOWED_GROUPS is set too; choose one"
    if not allowed and not allow_everyone:
        return ("MLOPS_OIDC_ALLOWED_GROUPS: required with MLOPS_OIDC_ISSUER (comma-separated provider groups"
                " that may log in); pass --oidc-allow-everyone to let every account of the provider in")
    return None


def oidc_enabled(settings: StackSettings, env: Mapping[str, str]) -> bool:
    """Whether the hub logs in through OIDC; raises naming what is missing (before any deploy)."""
    secret_file = settings.oidc_client_secret_file
    refusal = oidc_access_error(env, settings.oidc_allow_everyone)
    if refusal:
        raise DeployError(refusal)
    if not env.get("MLOPS_OIDC_ISSUER"):
        if secret_file:
            raise DeployError("--oidc-client-secret-file: given, but MLOPS_OIDC_ISSUER is not set")
        return False
    missing = [name for name in OIDC_REQUIRED if not env.get(name)]
    if missing:
        raise DeployError(f"{', '.join(missing)}: required when MLOPS_OIDC_ISSUER is set (docs/quotas.md)")
    if not secret_file:
        raise DeployError("--oidc-client-secret-file: required when MLOPS_OIDC_ISSUER is set"
                          " (a file holding the client secret; it becomes a Swarm secret)")
    if not secret_file.is_file() or not secret_file.read_text().strip():
        raise DeployError(f"--oidc-client-secret-file: {secret_file} is missing or empty")
    return True


def oidc_overlay(settings: StackSettings, env: dict[str, str]) -> list[str]:
    """Compose files to add for OIDC login (none without MLOPS_OIDC_ISSUER); sets their variables."""
    if not oidc_enabled(settings, env):
        return []
    secret_file = settings.oidc_client_secret_file
    if secret_file.stat().st_mode & 0o077:
        say(f"warning: {secret_file} is readable by other users of this host (chmod 600 it)")
    env["MLOPS_OIDC_CLIENT_SECRET_FILE"] = str(secret_file.resolve())
    env["MLOPS_SECRET_HASH_oidc_client_secret"] = file_hash(secret_file)
    # from the flag alone: a value left in the deploying shell does not open the hub
    env["MLOPS_OIDC_ALLOW_EVERYONE"] = "1" if settings.oidc_allow_everyone else ""
    return [str(settings.repo / "swarm-stack.oidc.yml")]


def check_db_url(env: Mapping[str, str]) -> None:
    """A database URL is service env (shown by `docker service inspect`): no password in it, neither in
    its user part nor as a libpq/SQLAlchemy query parameter (`?password=`)."""
    url = env.get("MLOPS_HUB_DB_URL", "")
    parts = urllib.parse.urlsplit(url)
    in_query = any(key.lower() == "password" for key, _ in urllib.parse.parse_qsl(parts.query))
    if url and (parts.password is not None or in_query):
        raise DeployError("MLOPS_HUB_DB_URL: must not carry a password (it would show in `docker service"
                          " inspect`); put it into the jupyterhub_db_password secret file instead")


def check_login(settings: StackSettings, env: Mapping[str, str]) -> None:
    if settings.shared_password and env.get("MLOPS_OIDC_ISSUER"):
        raise DeployError("--shared-password: not with OIDC login (MLOPS_OIDC_ISSUER is set); the provider"
                          " logs people in")


def login_overlay(settings: StackSettings, env: dict[str, str]) -> tuple[list[str], str]:
    """Compose files to add for the login, and its name for the progress line."""
    check_login(settings, env)
    oidc = oidc_overlay(settings, env)
    if oidc:
        return oidc, "OIDC login"
    if settings.shared_password:
        return [str(settings.repo / "swarm-stack.shared-password.yml")], "SHARED-PASSWORD login"
    return [], "per-person accounts"


GRAFANA_CONFIG = Path("config/grafana")  # its data source and dashboards (swarm-stack.grafana.yml)


def grafana_overlay(settings: StackSettings, env: dict[str, str]) -> list[str]:
    """swarm-stack.grafana.yml when the site names its Grafana image (MLOPS_GRAFANA_IMAGE); sets its variables."""
    image = settings.grafana_image or env.get("MLOPS_GRAFANA_IMAGE", "").strip()
    if not image:
        return []
    env["MLOPS_GRAFANA_IMAGE"] = image
    env["MLOPS_GRAFANA_HASH"] = directory_hash(settings.repo / GRAFANA_CONFIG)
    return [str(settings.repo / "swarm-stack.grafana.yml")]


def deploy(settings: StackSettings) -> None:
    env = stack_env(settings)
    check_db_url(env)
    overlays, login = login_overlay(settings, env)
    overlays += grafana_overlay(settings, env)
    environments = deployed_environments(env)
    overlays += publish_images(settings, env, environments)
    files = [str(settings.repo / "swarm-stack.yml"), *overlays, *map(str, settings.extra_compose_files)]
    say(f"deploying stack {settings.stack} (hub image {settings.hub_image}, {login})")
    compose = [arg for path in files for arg in ("-c", path)]
    run(["docker", "stack", "deploy", "--resolve-image", "never", "--prune", *compose, settings.stack],
        env=env, quiet=True)
    pins = settings.published.pins if settings.published else {}
    images = {e.slug: pin(e.image, pins) for e in environments} if settings.prepull else {}
    for step in ensure_prepull_services(docker.APIClient(), settings.prefix, images,
                                        {e.slug: prepull_constraints(e) for e in environments}):
        say(step)


def publish_images(settings: StackSettings, env: dict[str, str], environments: list[Environment]) -> list[str]:
    """Push every image to the platform's registry (deploying ours first) and set the stack's variables to
    their digests; the compose files this adds. Nothing for --no-registry: images stay on this node."""
    mode = settings.registry_mode
    if mode == "none":
        return []
    registry = settings.registry
    if mode == "own":
        registry = f"{deploy_own_registry(settings, env)}/{IMAGE_REPO}"
    lab = env["MLOPS_LAB_IMAGE"]
    settings.published = publish(registry, settings.tag, [lab, *(e.image for e in environments)])
    env.update(settings.published.variables())
    env["MLOPS_LAB_IMAGE"] = pin(lab, settings.published.pins)
    return [str(settings.repo / REGISTRY_FILE)] if mode == "own" else []


def prepull_constraints(environment: Environment) -> list[str]:
    """The nodes that may run an environment: those with the labels it requires."""
    return constraints(requirements(environment.slug, environment.node_labels, None, None))


def deployed_environments(env: Mapping[str, str]) -> list[Environment]:
    """The deployed platform.yaml's environments."""
    document = load_platform_file(Path(env["MLOPS_PLATFORM_CONFIG"]), check=False)
    raw = (document.get("spawner") or {}).get("environments") or []
    return list(EnvironmentCatalogue.from_config(raw))


def _edge_tls_context(settings: StackSettings) -> ssl.SSLContext:
    """Trust the local CA; an operator's certificate names the public host, not 127.0.0.1, and this
    only asks our own edge on loopback whether the hub is up, so it is not checked then."""
    if settings.tls_cert:
        return ssl._create_unverified_context()  # noqa: S323 - a liveness probe of our own loopback port
    return ssl.create_default_context(cafile=str(settings.tls_files().ca))


def _hub_task_runs(settings: StackSettings) -> bool:
    """Whether the hub service's running task is the deployed image (not the one it replaces)."""
    out = run(["docker", "service", "ps", f"{settings.stack}_hub", "--no-trunc", "--filter", "desired-state=running",
               "--format", "{{.Image}}|{{.CurrentState}}"], quiet=True)
    return any(line.split("|")[0] == settings.hub_image and line.split("|")[1].startswith("Running")
               for line in out.splitlines() if "|" in line)


def wait_for_hub(settings: StackSettings, timeout: float = 180) -> None:
    """Wait until the hub answers through the front door (nginx, then the proxy)."""
    say(f"waiting for the hub at {settings.url}")
    context = _edge_tls_context(settings)
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            # on an upgrade the old hub answers until Swarm replaces it: wait for the deployed one
            if not _hub_task_runs(settings):
                last = f"the hub's task does not run {settings.hub_image} yet"
            else:
                with urllib.request.urlopen(f"{settings.url}/hub/api/", timeout=3, context=context) as resp:
                    if resp.status == 200 and "version" in json.loads(resp.read()):
                        return
        except (urllib.error.URLError, OSError, ValueError) as e:
            last = str(e)
        time.sleep(0.5)
    raise DeployError(f"the hub did not answer at {settings.url} within {timeout:.0f}s ({last});"
                      f" see `docker service logs {settings.stack}_hub`")


EXPIRY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TLS_EXPIRY_LABEL = "mlops-hub.tls-not-after"  # on the edge service: what `status` reports


def deployed_certificate_line(stack: str) -> str:
    """The deployed certificate's expiry, from the edge service's label."""
    try:
        value = run(["docker", "service", "inspect", f"{stack}_edge", "--format",
                     f'{{{{index .Spec.Labels "{TLS_EXPIRY_LABEL}"}}}}'], quiet=True).strip()
    except DeployError:
        return f"no front door deployed (service {stack}_edge not found)"
    try:
        expires = dt.datetime.strptime(value, EXPIRY_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return f"unknown (service {stack}_edge has no {TLS_EXPIRY_LABEL} label; run `mlops-hub up`)"
    return expiry_text(expires)


def _ids(cmd: list[str]) -> list[str]:
    return [line for line in run(cmd, quiet=True).split() if line]


def remove_user_servers(prefix: str) -> int:
    """The user servers a hub started, and the secrets and configs it made for them."""
    selector = f"label=mlops-hub.prefix={prefix}"
    ids = _ids(["docker", "service", "ls", "-q", "--filter", selector])
    if ids:
        run(["docker", "service", "rm", *ids], quiet=True)
    for kind in ("secret", "config"):
        # where each user's local home is (swarm/home_node.py) outlives the servers, as the homes do
        homes = ["docker", kind, "ls", "-q", "--filter", f"label={LABEL_HOME_USER}"]
        kept = set(_ids(homes) if kind == "config" else [])
        for object_id in set(_ids(["docker", kind, "ls", "-q", "--filter", selector])) - kept:
            try:
                run(["docker", kind, "rm", object_id], quiet=True)
            except DeployError:
                pass  # still attached to a stopping container; the next `down` removes it
    return len(ids)


def remove(settings: StackSettings, timeout: float = 60, volumes: bool = False) -> None:
    """Remove the stack, the user servers it spawned, its secrets and configs (and volumes)."""
    removed = remove_user_servers(settings.prefix)
    if removed:
        say(f"removed {removed} user server(s)")
    run(["docker", "stack", "rm", settings.stack], quiet=True)
    deadline = time.monotonic() + timeout
    label = f"label=com.docker.stack.namespace={settings.stack}"
    while time.monotonic() < deadline:
        left = (_ids(["docker", "service", "ls", "-q", "--filter", label])
                + _ids(["docker", "network", "ls", "-q", "--filter", label]))
        if not left:
            break
        time.sleep(0.5)
    for kind in ("secret", "config"):
        ids = _ids(["docker", kind, "ls", "-q", "--filter", f"name={settings.stack}_"])
        if ids:
            try:
                run(["docker", kind, "rm", *ids], quiet=True)
            except DeployError:
                pass  # still attached to a container that is shutting down; next down removes it
    if volumes:
        _remove_volumes(label, deadline)


def _remove_volumes(label: str, deadline: float) -> None:
    """The stack's volumes, once their containers are gone (removal fails while one is in use)."""
    while True:
        ids = _ids(["docker", "volume", "ls", "-q", "--filter", label])
        if not ids:
            return
        try:
            run(["docker", "volume", "rm", *ids], quiet=True)
            return
        except DeployError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
